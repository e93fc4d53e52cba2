"""The visit form without a network: the app page (a shell with no one's data in it), its
service worker, the visitor's own list as JSON for the phone to keep, and the check a phone
makes to learn that the account it keeps data for has been switched off (then it wipes it).

The phone sends each visit it recorded offline to the same URL as the page's form
(views.visit_record, asking for JSON), with the id it made: a retried upload never makes a
second visit. What it keeps is the visitor's own targets only, and it is wiped on logout, when
another account logs in on the phone, and when this check says the account is off."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core import signing
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache

from baoxue.accounts.models import User
from baoxue.core.services import log_action
from baoxue.visits import selectors, services
from baoxue.visits.models import HomeVisit, VisitChild

DEVICE_SALT = "baoxue.visits.device"
# What the app's script says, in the page's language (static/baoxue/visits-app.js).
WORDS = {
    "online": gettext_lazy("在线"),
    "offline": gettext_lazy("离线"),
    "none": gettext_lazy("本机还没有走访对象：请在有网络时点“同步”。"),
    "queued": gettext_lazy("未发送"),
    "visited": gettext_lazy("已走访"),
    "open": gettext_lazy("未走访"),
    "not_sent": gettext_lazy("尚未发送"),
    "photos": gettext_lazy("张照片"),
    "seen": gettext_lazy("见到本人"),
    "where": gettext_lazy("不在本地时：所在地或学校"),
    "contact": gettext_lazy("联系方式"),
    "mood": gettext_lazy("学习和情绪"),
    "junior": gettext_lazy("六年级：拟就读初中"),
    "photo": gettext_lazy("照片"),
    "required": gettext_lazy("请填写走访日期和走访人员。"),
    "photo_needed": gettext_lazy("请至少拍一张照片。"),
    "saved": gettext_lazy("已保存在本机，有网络时自动发送。"),
    "login": gettext_lazy("重新登录"),
    "session": gettext_lazy("登录已过期，本机的记录都还在。请"),
    "then_sync": gettext_lazy("后同步。"),
    "not_yours": gettext_lazy("这户已不是您的走访对象，请联系乡镇办公室。"),
    "refused": gettext_lazy("服务器没有接收这条记录。"),
    "wiped": gettext_lazy("这个账号已停用，本机保存的走访资料已清除。"),
    "no_network": gettext_lazy("现在连不上服务器，记录保存在本机，稍后再同步。"),
}


@login_required
def app(request: HttpRequest) -> HttpResponse:
    """The phone's visit app: its list and form are drawn from what the phone keeps."""
    return render(request, "visits/app.html", {"words": {k: str(v) for k, v in WORDS.items()}})


@never_cache
def service_worker(request: HttpRequest) -> HttpResponse:
    """The service worker, served under /visits/ so that it controls the visit pages only."""
    response = HttpResponse(
        render_to_string("visits/sw.js", {}, request=request),
        content_type="application/javascript; charset=utf-8",
    )
    response["Service-Worker-Allowed"] = "/visits/"
    return response


@never_cache
@login_required
def mine(request: HttpRequest) -> JsonResponse:
    """The visitor's own targets and their households' school-age children, the form's
    choices, a fresh CSRF token and the device token. Logged: children's data leaves for a
    phone."""
    user: Any = request.user
    targets = selectors.offline_targets(user)
    log_action(
        actor=user,
        action="visits.offline_downloaded",
        data={"targets": len(targets)},
        request=request,
    )
    return JsonResponse(
        {
            "user": user.pk,
            "name": str(user),
            "csrf": get_token(request),
            "device": signing.dumps(user.pk, salt=DEVICE_SALT),
            "targets": targets,
            "choices": {
                "methods": [[k, str(v)] for k, v in HomeVisit.Method.choices],
                "statuses": [[k, str(v)] for k, v in VisitChild.Status.choices],
                "subsidies": [[k, str(v)] for k, v in services.SUBSIDY_ITEMS.items()],
                "explained": [[k, str(v)] for k, v in services.LAW_ITEMS.items()],
            },
        }
    )


@never_cache
def device(request: HttpRequest) -> JsonResponse:
    """Whether the phone must wipe what it keeps: its account is switched off or gone. Asked
    without a session (the account may no longer log in), with the token `mine` gave."""
    try:
        user_id = signing.loads(request.GET.get("t", ""), salt=DEVICE_SALT)
    except signing.BadSignature:
        return JsonResponse({"wipe": False, "known": False})
    active = User.objects.filter(pk=user_id, is_active=True).exists()
    return JsonResponse({"wipe": not active, "known": True})
