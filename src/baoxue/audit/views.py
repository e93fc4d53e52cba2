from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from baoxue.audit import selectors
from baoxue.audit.forms import AuditFilterForm
from baoxue.audit.labels import action_label
from baoxue.core import sheets
from baoxue.core.models import AuditEvent
from baoxue.core.services import log_action
from baoxue.core.times import local

PAGE_SIZE = 50
# An export holds at most this many rows (the newest); the page says to narrow the filters.
EXPORT_LIMIT = 50_000
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _form(request: HttpRequest) -> AuditFilterForm:
    if not selectors.can_view_audit(request.user):
        raise Http404
    form = AuditFilterForm(request.GET or {})
    form.is_valid()
    return form


def _search(request: HttpRequest, form: AuditFilterForm) -> tuple[Any, list[Any]]:
    if form.errors:
        # A filter that does not parse shows nothing rather than everything.
        return AuditEvent.objects.none(), []
    return selectors.event_search(request.user, form.filters())


def _query_without_page(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


@login_required
def event_list(request: HttpRequest) -> HttpResponse:
    """访问记录: who did what and who was refused what, in the viewer's area."""
    form = _form(request)
    events, children = _search(request, form)
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page)
    accounts = selectors.user_names(rows)
    context = {
        "form": form,
        "page": page,
        "rows": [(e, action_label(e.action), accounts.get(e.object_id, "")) for e in rows],
        "children": children,
        "query": _query_without_page(request),
        "export_limit": EXPORT_LIMIT,
    }
    return render(request, "audit/event_list.html", context)


@login_required
def event_export(request: HttpRequest) -> HttpResponse:
    """The events as the page filters them, as xlsx; the export itself is logged."""
    form = _form(request)
    events, _children = _search(request, form)
    response = HttpResponse(content_type=XLSX)
    response["Content-Disposition"] = (
        f'attachment; filename="audit-{timezone.localdate():%Y%m%d}.xlsx"'
    )
    count = sheets.write_xlsx(
        response,
        sheet=_("访问记录"),
        title=_("访问记录（%(date)s 导出）") % {"date": f"{timezone.localdate():%Y-%m-%d}"},
        headers=[
            _("序号"),
            _("时间"),
            _("操作人"),
            _("账号"),
            _("操作"),
            _("操作代码"),
            _("对象类型"),
            _("对象"),
            _("IP 地址"),
            _("详情"),
        ],
        rows=_export_rows(events[:EXPORT_LIMIT]),
        widths={1: 17, 2: 12, 3: 12, 4: 18, 5: 22, 6: 18, 7: 38, 8: 15, 9: 60},
    )
    log_action(
        actor=request.user,
        action="audit.exported",
        data={"rows": count, **(form.filters().as_data() if not form.errors else {})},
        request=request,
    )
    return response


def _export_rows(events: Any) -> Any:
    chunk: list[AuditEvent] = []
    number = 0
    for event in events.iterator(chunk_size=2000):
        chunk.append(event)
        if len(chunk) == 2000:
            yield from _rows(chunk, number)
            number += len(chunk)
            chunk = []
    yield from _rows(chunk, number)


def _rows(events: list[AuditEvent], start: int) -> Any:
    accounts = selectors.user_names(events)
    for number, e in enumerate(events, start=start + 1):
        obj = (
            accounts.get(e.object_id, e.object_id)
            if e.object_type == "accounts.user"
            else e.object_id
        )
        yield (
            number,
            f"{local(e.at):%Y-%m-%d %H:%M:%S}",
            str(e.actor) if e.actor else "",
            e.actor.username if e.actor else "",
            action_label(e.action),
            e.action,
            e.object_type,
            obj,
            e.ip_address or "",
            json.dumps(e.data, ensure_ascii=False) if e.data else "",
        )
