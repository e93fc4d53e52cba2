"""Pages of the home visits: the campaigns (made and assigned by the township office), their
coverage, a visitor's own list on the phone, the visit form, and a visit with its photos."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from baoxue.accounts.models import User
from baoxue.accounts.scope import scope_for
from baoxue.core import attachments
from baoxue.core.services import log_action
from baoxue.core.sheets import write_xlsx
from baoxue.registry.models import Region, School
from baoxue.visits import documents, selectors, services
from baoxue.visits.models import (
    Group,
    HomeVisit,
    VisitCampaign,
    VisitChild,
    VisitPhoto,
    VisitTarget,
)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
VISIT_FIELDS = (
    "method",
    "visited_on",
    "visitors",
    "people_met",
    "guardianship",
    "economy",
    "problems",
    "help_given",
    "follow_up_by",
    "location",
)
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _messages(exc: Exception) -> str:
    return " ".join(getattr(exc, "messages", None) or [str(exc)])


def _organised_townships(user: Any) -> list[Region]:
    """The townships where the user runs campaigns."""
    ids = {g.township_id for g in scope_for(user).regions if g.township_id is not None}
    return [t for t in Region.objects.filter(pk__in=ids) if services.can_organise(user, t)]


def _day(raw: str, label: str) -> date:
    try:
        return date.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationError(_("请填写%(label)s（如 2026-07-15）。") % {"label": label}) from None


@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    townships = _organised_townships(request.user)
    if request.method == "POST":
        if not townships:
            raise PermissionDenied
        township = next((t for t in townships if str(t.pk) == request.POST.get("township")), None)
        try:
            campaign = services.campaign_create(
                actor=request.user,
                township=township or townships[0],
                name=request.POST.get("name", ""),
                starts_on=_day(request.POST.get("starts_on", ""), _("开始日期")),
                ends_on=_day(request.POST.get("ends_on", ""), _("结束日期")),
                groups=request.POST.getlist("groups"),
                kind=request.POST.get("kind", VisitCampaign.Kind.VISITS),
            )
        except (ValidationError, PermissionDenied) as exc:
            messages.error(request, _messages(exc))
            return redirect("visits:campaign_list")
        messages.success(
            request,
            _("已建立家访活动，共 %(n)s 户走访对象。") % {"n": campaign.targets.count()},
        )
        return redirect("visits:campaign_detail", campaign.public_id)
    rows = list(selectors.campaigns(request.user)[:100])
    counts = selectors.by_campaign_counts(rows, request.user)
    today = timezone.localdate()
    return render(
        request,
        "visits/campaign_list.html",
        {
            "campaigns": [(c, *counts.get(c.pk, (0, 0))) for c in rows],
            "townships": townships,
            "groups": Group.choices,
            "kinds": VisitCampaign.Kind.choices,
            "today": today,
            "mine": selectors.my_targets(request.user)
            .filter(status=VisitTarget.Status.OPEN)
            .count(),
        },
    )


@login_required
def campaign_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    campaign = selectors.access_campaign(request.user, public_id)
    found = selectors.targets(request.user, campaign)
    status = request.GET.get("status", "")
    if status in VisitTarget.Status.values:
        found = found.filter(status=status)
    village = request.GET.get("village", "")
    if village.isdigit():
        found = found.filter(village_id=int(village))
    organiser = services.can_organise(request.user, campaign.township)
    coverage = selectors.coverage(request.user, campaign)
    villages = [row for row in coverage.by_village if row.key is not None]
    context: dict[str, Any] = {
        "campaign": campaign,
        "coverage": coverage,
        "chart": {
            "names": [_("已走访"), _("未走访")],
            "labels": [row.name for row in villages],
            "visited": [row.visited for row in villages],
            "open": [row.not_visited for row in villages],
            "links": [f"?village={row.key}" for row in villages],
        },
        "targets": found[:500],
        "status": status,
        "village": village,
        "statuses": VisitTarget.Status.choices,
        "organiser": organiser,
    }
    if organiser:
        context["visitors"] = list(selectors.visitors(campaign))
        context["schools"] = School.objects.filter(township=campaign.township).order_by("name")
        context["villages"] = Region.objects.filter(parent=campaign.township).order_by("name")
    return render(request, "visits/campaign_detail.html", context)


@require_POST
@login_required
def campaign_assign(request: HttpRequest, public_id: str) -> HttpResponse:
    campaign = selectors.access_campaign(request.user, public_id)
    if not services.can_organise(request.user, campaign.township):
        raise Http404
    post = request.POST
    visitor = (
        User.objects.filter(pk=int(post["visitor"])).first()
        if post.get("visitor", "").isdigit()
        else None
    )
    try:
        if visitor is None:
            raise ValidationError(_("请选择走访人。"))
        done = services.targets_assign(
            actor=request.user,
            campaign=campaign,
            visitor=visitor,
            village_id=int(post["village"]) if post.get("village", "").isdigit() else None,
            school_id=int(post["school"]) if post.get("school", "").isdigit() else None,
            grade=int(post["grade"]) if post.get("grade", "").isdigit() else None,
            class_name=post.get("class_name", "").strip(),
            target_ids=[int(i) for i in post.getlist("target") if i.isdigit()],
            replace=post.get("replace") == "1",
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, _messages(exc))
    else:
        messages.success(
            request,
            _("已把 %(n)s 户分配给 %(who)s。") % {"n": done, "who": visitor},
        )
    return redirect("visits:campaign_detail", campaign.public_id)


@login_required
def not_visited_export(request: HttpRequest, public_id: str) -> HttpResponse:
    """The households nobody has visited yet (in the user's places), as xlsx. Logged."""
    campaign = selectors.access_campaign(request.user, public_id)
    rows = [
        [
            t.village.name,
            t.label,
            t.household.address if t.household else "",
            t.school.name if t.school else "",
            f"{t.grade}年级{t.class_name}" if t.grade else "",
            "、".join(t.group_labels),
            str(t.visitor) if t.visitor else _("未分配"),
        ]
        for t in selectors.not_visited(request.user, campaign)
    ]
    header = [_("村"), _("户主或儿童"), _("住址"), _("学校"), _("班级"), _("列入原因"), _("走访人")]
    response = HttpResponse(content_type=XLSX)
    name = f"not-visited-{timezone.localdate():%Y%m%d}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    write_xlsx(
        response,
        sheet=_("未走访"),
        title=_("%(name)s 未走访的户") % {"name": campaign.name},
        headers=header,
        rows=rows,
        widths={0: 12, 1: 12, 2: 24, 3: 18, 4: 10, 5: 24, 6: 12},
    )
    log_action(
        actor=request.user,
        action="visits.not_visited_exported",
        obj=campaign,
        data={"rows": len(rows)},
        request=request,
    )
    return response


@login_required
def campaign_ledger(request: HttpRequest, public_id: str) -> HttpResponse:
    """The campaign's ledger (家访台账) of the households in the user's places, as xlsx. Logged."""
    campaign = selectors.access_campaign(request.user, public_id)
    rows = list(
        selectors.targets(request.user, campaign).exclude(status=VisitTarget.Status.REMOVED)
    )
    response = HttpResponse(content_type=XLSX)
    name = f"visits-{timezone.localdate():%Y%m%d}.xlsx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    count = documents.ledger_xlsx(rows, campaign, response)
    log_action(
        actor=request.user,
        action="visits.ledger_exported",
        obj=campaign,
        data={"rows": count},
        request=request,
    )
    return response


@login_required
def campaign_print(request: HttpRequest, public_id: str) -> HttpResponse:
    """The target list and a blank visit form per household, filled in with the household and
    its children, to print for visitors without a smartphone (one visitor's, one village's, or
    all in the user's places). Logged: it names children."""
    campaign = selectors.access_campaign(request.user, public_id)
    found = selectors.targets(request.user, campaign).filter(status=VisitTarget.Status.OPEN)
    visitor = request.GET.get("visitor", "")
    if visitor.isdigit():
        found = found.filter(visitor_id=int(visitor))
    village = request.GET.get("village", "")
    if village.isdigit():
        found = found.filter(village_id=int(village))
    rows = [(t, services.household_children(t)) for t in found[:300]]
    log_action(
        actor=request.user,
        action="visits.forms_printed",
        obj=campaign,
        data={"targets": len(rows)},
        request=request,
    )
    return render(
        request,
        "visits/print.html",
        {
            "campaign": campaign,
            "rows": rows,
            "statuses": VisitChild.Status.choices,
            "subsidy_items": list(services.SUBSIDY_ITEMS.values()),
            "law_items": list(services.LAW_ITEMS.values()),
        },
    )


# --- the visitor's pages ---------------------------------------------------------------------


@login_required
def my_targets(request: HttpRequest) -> HttpResponse:
    found = selectors.my_targets(request.user)
    status = request.GET.get("status", "")
    if status in {VisitTarget.Status.OPEN, VisitTarget.Status.VISITED}:
        found = found.filter(status=status)
    else:
        status = ""
    return render(
        request,
        "visits/my_targets.html",
        {"targets": list(found[:500]), "status": status},
    )


@login_required
def target_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A household to visit: its school-age children (seen by its visitor, logged) and its
    visits; the visit form for its visitor and the campaign's organisers."""
    target = selectors.access_target(request.user, pk)
    children = services.household_children(target)
    can_record = services.can_record(request.user, target)
    if target.visitor_id == request.user.pk:
        log_action(
            actor=request.user,
            action="visits.target_viewed",
            obj=target.campaign,
            data={"target": target.pk, "children": len(children)},
            request=request,
        )
    return render(
        request,
        "visits/target_detail.html",
        {
            "target": target,
            "children": children,
            "visits": list(target.visits.select_related("recorded_by")),
            "can_record": can_record,
            "client_id": uuid.uuid4().hex,
            "today": timezone.localdate(),
            "statuses": VisitChild.Status.choices,
            "methods": HomeVisit.Method.choices,
            "subsidy_items": list(services.SUBSIDY_ITEMS.items()),
            "law_items": list(services.LAW_ITEMS.items()),
            "organiser": services.can_organise(request.user, target.campaign.township),
        },
    )


def _children_posted(request: HttpRequest) -> list[dict[str, Any]]:
    post = request.POST
    return [
        {
            "child": cid,
            "seen": post.get(f"seen_{cid}") == "1",
            "status": post.get(f"status_{cid}", ""),
            "where": post.get(f"where_{cid}", ""),
            "contact": post.get(f"contact_{cid}", ""),
            "study_mood": post.get(f"study_mood_{cid}", ""),
            "intended_junior": post.get(f"intended_junior_{cid}", ""),
        }
        for cid in post.getlist("child")
    ]


@require_POST
@login_required
def visit_record(request: HttpRequest, pk: int) -> HttpResponse:
    target = selectors.access_target(request.user, pk)
    post = request.POST
    data: dict[str, Any] = {key: post.get(key, "") for key in VISIT_FIELDS}
    data["subsidies"] = post.getlist("subsidies")
    data["explained"] = post.getlist("explained")
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        visit, created = services.visit_record(
            actor=request.user,
            target=target,
            client_id=post.get("client_id", ""),
            data=data,
            children=_children_posted(request),
            photos=request.FILES.getlist("photos"),
            signature=request.FILES.get("signature"),
        )
    except PermissionDenied:
        raise Http404 from None
    except ValidationError as exc:
        if wants_json:  # the phone's outbox: it keeps the visit and shows why
            return JsonResponse({"ok": False, "error": _messages(exc)}, status=400)
        messages.error(request, _messages(exc))
        return redirect("visits:target_detail", target.pk)
    if wants_json:
        return JsonResponse(
            {
                "ok": True,
                "created": created,
                "visit": str(visit.public_id),
                "url": reverse("visits:visit_detail", args=[visit.public_id]),
            }
        )
    if created:
        messages.success(request, _("家访记录已保存。"))
    else:
        messages.info(request, _("这条家访记录已经保存过了。"))
    return redirect("visits:visit_detail", visit.public_id)


@login_required
def visit_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    visit = selectors.access_visit(request.user, public_id)
    log_action(actor=request.user, action="visits.visit_viewed", obj=visit, request=request)
    return render(request, "visits/visit_detail.html", _visit_context(request, visit))


def _visit_context(request: HttpRequest, visit: HomeVisit) -> dict[str, Any]:
    return {
        "visit": visit,
        "subsidies": [str(v) for k, v in services.SUBSIDY_ITEMS.items() if k in visit.subsidies],
        "explained": [str(v) for k, v in services.LAW_ITEMS.items() if k in visit.explained],
        "can_edit": services.can_record(request.user, visit.target),
        "subsidy_items": list(services.SUBSIDY_ITEMS.items()),
        "law_items": list(services.LAW_ITEMS.items()),
        "methods": HomeVisit.Method.choices,
    }


@require_POST
@login_required
def visit_edit(request: HttpRequest, public_id: str) -> HttpResponse:
    """Change a visit against the version the editor read: an edit made elsewhere meanwhile is
    refused (409) and the page shows what is there now beside the editor's own text."""
    visit = selectors.access_visit(request.user, public_id)
    post = request.POST
    raw = post.get("version", "")
    data: dict[str, Any] = {k: post.get(k, "") for k in VISIT_FIELDS}
    data["subsidies"] = post.getlist("subsidies")
    data["explained"] = post.getlist("explained")
    children = [
        {
            "child": row.child_id,
            "seen": row.seen,
            "status": row.status,
            "where": row.where,
            "contact": row.contact,
            "study_mood": row.study_mood,
            "intended_junior": row.intended_junior,
        }
        for row in visit.children.all()
    ]
    try:
        services.visit_update(
            actor=request.user,
            visit=visit,
            version=int(raw) if raw.isdigit() else -1,
            data=data,
            children=children,
        )
    except PermissionDenied:
        raise Http404 from None
    except services.Conflict as exc:
        messages.error(request, _messages(exc))
        visit = selectors.access_visit(request.user, public_id)
        context = {**_visit_context(request, visit), "mine": data, "conflict": True}
        return render(request, "visits/visit_detail.html", context, status=409)
    except ValidationError as exc:
        messages.error(request, _messages(exc))
        return redirect("visits:visit_detail", visit.public_id)
    messages.success(request, _("家访记录已修改。"))
    return redirect("visits:visit_detail", visit.public_id)


@login_required
def visit_docx(request: HttpRequest, public_id: str) -> HttpResponse:
    """The visit as the 家访记录表 (Word, with its photos). Logged."""
    visit = selectors.access_visit(request.user, public_id)
    content = documents.visit_docx(visit)
    log_action(actor=request.user, action="visits.record_exported", obj=visit, request=request)
    response = HttpResponse(content, content_type=DOCX)
    name = f"visit-{visit.visited_on:%Y%m%d}.docx"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@login_required
def visit_photo(request: HttpRequest, public_id: str, photo_id: str) -> HttpResponseBase:
    """A photo of a visit, through the visit's scope check (never a public media URL). Logged."""
    visit = selectors.access_visit(request.user, public_id)
    try:
        uid = uuid.UUID(str(photo_id))
    except ValueError:
        raise Http404 from None
    item = VisitPhoto.objects.filter(visit=visit, public_id=uid).first()
    if item is None:
        raise Http404
    log_action(
        actor=request.user,
        action="visits.photo_viewed",
        obj=visit,
        data={"photo": str(item.public_id)},
        request=request,
    )
    return attachments.serve(item)


@require_POST
@login_required
def target_remove(request: HttpRequest, pk: int) -> HttpResponse:
    target = selectors.access_target(request.user, pk)
    try:
        services.target_remove(actor=request.user, target=target)
    except PermissionDenied:
        raise Http404 from None
    except ValidationError as exc:
        messages.error(request, _messages(exc))
    else:
        messages.success(request, _("已移出本次活动。"))
    return redirect("visits:campaign_detail", target.campaign.public_id)
