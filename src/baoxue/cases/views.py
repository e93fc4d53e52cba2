"""Pages: 我的案件, the case list (filters, bulk assignment, the 辍学台账), one case (its steps,
people, 劝返, documents, plan, follow-ups, history, the Word file) and the dashboard."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl, quote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Prefetch, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from baoxue.accounts.models import User
from baoxue.accounts.scope import scope_for
from baoxue.cases import documents, exports, selectors, services, workflow
from baoxue.cases.models import (
    Attachment,
    Case,
    EscalationDocument,
    FollowUp,
    LedgerExport,
    Placement,
    Responsibility,
    ReturnAttempt,
)
from baoxue.cases.selectors import CaseFilters
from baoxue.core.progress import progress_read
from baoxue.core.services import log_action
from baoxue.registry.models import Region, School
from baoxue.registry.selectors import access_child
from baoxue.registry.views import CappedPaginator

PER_PAGE = 50
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What each move is called on its button.
MOVE_LABELS = {
    "verifying": gettext_lazy("开始核实"),
    "dismissed": gettext_lazy("排除（不是辍学）"),
    "confirmed": gettext_lazy("确认失学/辍学"),
    "persuading": gettext_lazy("开始劝返"),
    "placed": gettext_lazy("安置"),
    "follow_up": gettext_lazy("进入跟踪"),
    "closed": gettext_lazy("销号"),
    "suspected": gettext_lazy("重新立案（再次辍学）"),
}


def _messages(exc: Exception) -> str:
    return " ".join(getattr(exc, "messages", None) or [str(exc)])


# -- lists ---------------------------------------------------------------------------------------


def _query(request: HttpRequest) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def _with_people(qs: Any) -> Any:
    current = Responsibility.objects.filter(ended_at=None).order_by("line", "level")
    return qs.select_related("child", "village", "school").prefetch_related(
        Prefetch("responsibilities", queryset=current, to_attr="current_people")
    )


@login_required
def caseload(request: HttpRequest) -> HttpResponse:
    cases = selectors.caseload(request.user)
    page = CappedPaginator(_with_people(cases), PER_PAGE).get_page(request.GET.get("page"))
    in_scope = selectors.case_list(request.user, CaseFilters(unassigned=True))
    return render(
        request,
        "cases/caseload.html",
        {
            "page": page,
            "today": timezone.localdate(),
            "unassigned": in_scope.count() if not page.paginator.count else 0,
        },
    )


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    f = selectors.filters_from(request.GET)
    qs = selectors.case_list(request.user, f).order_by("next_due", "-opened_at", "-id")
    page = CappedPaginator(_with_people(qs), PER_PAGE).get_page(request.GET.get("page"))
    scope = scope_for(request.user)
    return render(
        request,
        "cases/case_list.html",
        {
            "page": page,
            "f": f,
            "query": _query(request),
            "today": timezone.localdate(),
            "statuses": [(s.value, s.label) for s in Case.Status],
            "kinds": Case.Kind.choices,
            # (id, name) pairs, not model instances: a county has hundreds of each.
            "villages": Region.objects.filter(scope.region_q(), level="village")
            .order_by("name")
            .values_list("pk", "name"),
            "schools": School.objects.filter(scope.school_q())
            .order_by("name")
            .values_list("pk", "name"),
            "can_bulk": workflow.can_assign_in_bulk(request.user),
            "bulk_cap": settings.BAOXUE_BULK_ASSIGN_CAP,
            "lines": Responsibility.Line.choices,
            "levels": _level_choices(),
        },
    )


def _level_choices() -> list[tuple[int, str, str]]:
    return [
        (level, workflow.level_name("government", level), workflow.level_name("education", level))
        for level in (1, 2, 3, 4)
    ]


@require_POST
@login_required
def bulk_assign(request: HttpRequest) -> HttpResponse:
    back = request.POST.get("back", "")
    url = f"{_reverse('cases:list')}?{back}"
    if not workflow.can_assign_in_bulk(request.user):
        raise PermissionDenied
    ids = request.POST.getlist("case")
    visible = Case.objects.visible_to(request.user)
    if request.POST.get("all_filtered") == "1":
        # Every case the list's filters match, up to the cap (checked by the service).
        chosen = list(
            selectors.case_list(request.user, selectors.filters_from(_parse(back))).order_by("pk")[
                : settings.BAOXUE_BULK_ASSIGN_CAP + 1
            ]
        )
    else:
        uids = [u for u in (_uuid(i) for i in ids) if u is not None]
        chosen = list(visible.filter(public_id__in=uids).order_by("pk"))
    if not chosen:
        messages.error(request, _("请先勾选案件。"))
        return redirect(url)
    try:
        level = int(request.POST.get("level", "0"))
        user = _pick_user(request)
        counts = services.bulk_assign(
            actor=request.user,
            cases=chosen,
            line=request.POST.get("line", ""),
            level=level,
            name=request.POST.get("name", "").strip() or (user.display_name if user else ""),
            user=user,
            role=request.POST.get("role", ""),
            unit=request.POST.get("unit", ""),
            phone=request.POST.get("phone", ""),
            replace=request.POST.get("replace") == "1",
        )
    except (ValidationError, ValueError) as exc:
        messages.error(request, _messages(exc))
        return redirect(url)
    messages.success(
        request,
        _(
            "已分配 %(assigned)s 个案件；%(kept)s 个已有该层级责任人未改动；"
            "%(finished)s 个已结案跳过。"
        )
        % counts,
    )
    return redirect(url)


def _parse(query: str) -> dict[str, str]:
    return dict(parse_qsl(query))


def _reverse(name: str, *args: Any) -> str:
    return reverse(name, args=args)


def _uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


def _pick_user(request: HttpRequest) -> User | None:
    """A system user chosen as the responsible person: only one the actor can see (a user
    with a role somewhere in the actor's regions or schools)."""
    raw = request.POST.get("user", "")
    if not raw.isdigit():
        return None
    user = _assignable_users(request.user).filter(pk=int(raw)).first()
    if user is None:
        raise ValidationError(_("找不到这个用户。"))
    return user


def _assignable_users(actor: Any) -> Any:
    scope = scope_for(actor)
    regions = Region.objects.filter(scope.region_q())
    schools = School.objects.filter(scope.school_q())
    return (
        User.objects.filter(is_active=True)
        .filter(Q(role_assignments__region__in=regions) | Q(role_assignments__school__in=schools))
        .distinct()
        .order_by("display_name", "username")
    )


@require_POST
@login_required
def export_create(request: HttpRequest) -> HttpResponse:
    """辍学台账 of the list as filtered: made in the background, with a progress bar."""
    item = exports.export_create(actor=request.user, query=request.POST.get("query", ""))
    return redirect("cases:export_detail", item.public_id)


def _access_export(user: Any, public_id: str) -> LedgerExport:
    uid = _uuid(public_id)
    item = LedgerExport.objects.filter(public_id=uid, requested_by=user).first() if uid else None
    if item is None or not getattr(user, "is_authenticated", False):
        raise Http404
    return item


@login_required
def export_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    item = _access_export(request.user, public_id)
    exports.export_given_up(item)  # its worker gone: failed, and the page stops waiting
    context = {"export": item, "progress": progress_read(item.progress_key)}
    if request.htmx and request.htmx.target == "export-status":  # type: ignore[attr-defined]
        return render(request, "cases/export_detail.html#status", context)
    return render(request, "cases/export_detail.html", context)


@login_required
def export_download(request: HttpRequest, public_id: str) -> HttpResponseBase:
    """The finished file, to the user who asked for it. Logged."""
    item = _access_export(request.user, public_id)
    if item.status != LedgerExport.Status.DONE or not item.file:
        raise Http404
    log_action(
        actor=request.user,
        action="case.ledger_exported",
        obj=item,
        data={"query": item.query, "rows": item.rows},
        request=request,
    )
    name = _("辍学台账") + timezone.localtime(item.created_at).strftime("%Y%m%d-%H%M") + ".xlsx"
    return FileResponse(_stored(item.file), as_attachment=True, filename=name, content_type=XLSX)


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    figures = selectors.dashboard(request.user)
    base = _reverse("cases:list")
    charts = {
        "states": {
            "labels": [str(label) for _s, label, _n in figures["states"]],
            "values": [n for _s, _l, n in figures["states"]],
            "links": [f"{base}?status={s}" for s, _l, _n in figures["states"]],
        },
        "villages": {
            "labels": [label for _k, label, _n in figures["by_village"]],
            "values": [n for _k, _l, n in figures["by_village"]],
            "links": [f"{base}?village={k or 'none'}" for k, _l, _n in figures["by_village"]],
        },
        "schools": {
            "labels": [label for _k, label, _n in figures["by_school"]],
            "values": [n for _k, _l, n in figures["by_school"]],
            "links": [f"{base}?school={k or 'none'}" for k, _l, _n in figures["by_school"]],
        },
        "weeks": {
            "labels": [w["week"].strftime("%m-%d") for w in figures["weeks"]],
            "opened": [w["opened"] for w in figures["weeks"]],
            "finished": [w["finished"] for w in figures["weeks"]],
            "open": [w["open"] for w in figures["weeks"]],
            "links": [
                f"{base}?status=all&opened_since={w['week'].isoformat()}" for w in figures["weeks"]
            ],
            "names": [str(_("新增")), str(_("结案")), str(_("未结案"))],
        },
    }
    return render(request, "cases/dashboard.html", {"f": figures, "charts": charts})


# -- one case ------------------------------------------------------------------------------------


def _case_context(request: HttpRequest, case: Case) -> dict[str, Any]:
    user = request.user
    people = list(case.responsibilities.select_related("user").order_by("line", "level", "id"))
    current = {(p.line, p.level): p for p in people if p.ended_at is None}
    required = selectors.required_levels()
    grid = [
        {
            "line": line,
            "label": Responsibility.Line(line).label,
            "levels": [
                {
                    "level": level,
                    "name": workflow.level_name(line, level),
                    "person": current.get((line, level)),
                    "required": level in required,
                }
                for level in (1, 2, 3, 4)
            ],
        }
        for line in Responsibility.Line.values
    ]
    can_work = workflow.can_work(user, case)
    moves = [
        (to, MOVE_LABELS.get(to, to))
        for to in sorted(workflow.TRANSITIONS.get(case.status, set()), key=_move_order)
        if (to == "closed" and workflow.can_close(user)) or (to != "closed" and can_work)
    ]
    attachments = list(case.attachments.select_related("uploaded_by"))
    events = list(case.events.select_related("actor").order_by("-at", "-id")[:200])
    for e in events:
        e.from_label = _status_label(e.from_status)  # type: ignore[attr-defined]
        e.to_label = _status_label(e.to_status)  # type: ignore[attr-defined]
    return {
        "case": case,
        "child": case.child,
        "today": timezone.localdate(),
        "grid": grid,
        "history_people": [p for p in people if p.ended_at is not None],
        "missing": [workflow.level_name(a, b) for a, b in workflow.missing_levels(case)],
        "moves": moves,
        "can_work": can_work and case.is_open,
        "can_close": workflow.can_close(user),
        "attempts": list(case.attempts.select_related("created_by")),
        "documents": list(case.documents.all()),
        "placements": list(case.placements.select_related("school")),
        "follow_ups": list(case.follow_ups.select_related("recorded_by")),
        "attachments": attachments,
        "events": events,
        "dismiss_reasons": list(workflow.DISMISS_REASONS.items()),
        "dropout_reasons": list(workflow.DROPOUT_REASONS.items()),
        "reason_labels": [str(workflow.DROPOUT_REASONS.get(r, r)) for r in case.reasons],
        "measures": list(services.MEASURES.items()),
        "measure_labels": [str(services.MEASURES.get(m, m)) for m in case.measures],
        "placement_kinds": Placement.Kind.choices,
        "schools": School.objects.filter(scope_for(user).school_q()).order_by("name"),
        "methods": ReturnAttempt.Method.choices,
        "results": ReturnAttempt.Result.choices,
        "document_kinds": EscalationDocument.Kind.choices,
        "notice_kinds": [(k, EscalationDocument.Kind(k).label) for k in documents.NOTICE_KINDS],
        "attendance": FollowUp.Attendance.choices,
        "lines": Responsibility.Line.choices,
        "levels": _level_choices(),
        "users": _assignable_users(user)[:200],
        "token": uuid.uuid4(),
        "kinds": [
            (Case.Kind.DROPPED_OUT, Case.Kind.DROPPED_OUT.label),
            (Case.Kind.NEVER_ENROLLED, Case.Kind.NEVER_ENROLLED.label),
        ],
        "posted": request.POST if request.method == "POST" else {},
    }


def _status_label(value: str) -> str:
    return str(Case.Status(value).label) if value in Case.Status.values else value


_ORDER = ["verifying", "confirmed", "persuading", "placed", "follow_up", "closed", "dismissed"]


def _move_order(to: str) -> int:
    return _ORDER.index(to) if to in _ORDER else len(_ORDER)


@login_required
def case_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    case = selectors.access_case(request.user, public_id)
    log_action(actor=request.user, action="case.viewed", obj=case, request=request)
    return render(request, "cases/case_detail.html", _case_context(request, case))


def _refused(request: HttpRequest, case: Case, exc: Exception, *, status: int = 400) -> Any:
    """Show the case again with the message and the user's input kept in the form."""
    messages.error(request, _messages(exc))
    case.refresh_from_db()
    return render(request, "cases/case_detail.html", _case_context(request, case), status=status)


def _version(request: HttpRequest) -> int:
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else -1


@require_POST
@login_required
def case_move(request: HttpRequest, public_id: str) -> HttpResponse:
    case = selectors.access_case(request.user, public_id)
    to = request.POST.get("to", "")
    post = request.POST
    data: dict[str, Any] = {}
    if to == "dismissed":
        data = {"reason": post.get("reason", ""), "note": post.get("note", "")[:200]}
    elif to == "confirmed":
        data = {
            "kind": post.get("kind", ""),
            "reasons": post.getlist("reasons"),
            "began": post.get("began", ""),
            "note": post.get("note", "")[:200],
        }
    elif to == "placed":
        data = {
            "placement": {
                k: post.get(k, "")
                for k in (
                    "kind",
                    "school_id",
                    "grade",
                    "placed_on",
                    "application",
                    "conclusion",
                    "approver",
                    "review_date",
                )
            }
        }
    elif to == "closed":
        data = {"approver": post.get("approver", ""), "evidence": post.get("evidence", "")}
    elif post.get("note"):
        data = {"note": post.get("note", "")[:200]}
    if to not in Case.Status.values:
        return _refused(request, case, ValidationError(_("请选择要办理的步骤。")))
    try:
        workflow.transition(
            actor=request.user, case=case, to=to, version=_version(request), data=data
        )
    except workflow.Conflict as exc:
        return _refused(request, case, exc, status=409)
    except (ValidationError, PermissionDenied, ValueError) as exc:
        return _refused(request, case, exc)
    messages.success(request, _("案件已改为“%(status)s”。") % {"status": Case.Status(to).label})
    return redirect("cases:detail", case.public_id)


@require_POST
@login_required
def case_assign(request: HttpRequest, public_id: str) -> HttpResponse:
    case = selectors.access_case(request.user, public_id)
    post = request.POST
    try:
        user = _pick_user(request)
        level = int(post.get("level", "0") or 0)
        workflow.assign(
            actor=request.user,
            case=case,
            line=post.get("line", ""),
            level=level,
            name=post.get("name", "").strip() or (user.display_name if user else ""),
            user=user,
            role=post.get("role", "")[:64],
            unit=post.get("unit", "")[:100],
            phone=post.get("phone", "")[:32],
        )
    except (ValidationError, PermissionDenied, ValueError) as exc:
        return _refused(request, case, exc)
    messages.success(request, _("已落实包保责任人。"))
    return redirect(f"{_reverse('cases:detail', case.public_id)}#people")


def _record_with_files(
    request: HttpRequest, public_id: str, kind: str, message: str, anchor: str
) -> HttpResponse:
    """A 劝返 attempt or a legal document with its photos or scans, all or nothing: a refused
    file refuses the record too, and the form comes back with what was typed."""
    case = selectors.access_case(request.user, public_id)
    try:
        with transaction.atomic():
            data = request.POST.dict()
            item: ReturnAttempt | EscalationDocument = (
                services.attempt_record(actor=request.user, case=case, data=data)
                if kind == "attempt"
                else services.document_record(actor=request.user, case=case, data=data)
            )
            for upload in request.FILES.getlist("files"):
                # A resent form (same token) gives back the record; its files are not doubled.
                if not item.attachments.filter(name=(upload.name or "")[-200:]).exists():
                    services.attachment_add(
                        actor=request.user,
                        case=case,
                        upload=upload,
                        attempt=item if isinstance(item, ReturnAttempt) else None,
                        document=item if isinstance(item, EscalationDocument) else None,
                    )
    except (ValidationError, PermissionDenied) as exc:
        return _refused(request, case, exc)
    messages.success(request, message)
    return redirect(f"{_reverse('cases:detail', case.public_id)}#{anchor}")


@require_POST
@login_required
def case_attempt(request: HttpRequest, public_id: str) -> HttpResponse:
    return _record_with_files(request, public_id, "attempt", _("已记录劝返情况。"), "attempts")


@require_POST
@login_required
def case_document(request: HttpRequest, public_id: str) -> HttpResponse:
    return _record_with_files(request, public_id, "document", _("已记录法律文书。"), "documents")


@require_POST
@login_required
def case_plan(request: HttpRequest, public_id: str) -> HttpResponse:
    case = selectors.access_case(request.user, public_id)
    try:
        services.plan_update(
            actor=request.user,
            case=case,
            measures=request.POST.getlist("measures"),
            note=request.POST.get("plan_note", ""),
            version=_version(request),
        )
    except workflow.Conflict as exc:
        return _refused(request, case, exc, status=409)
    except (ValidationError, PermissionDenied) as exc:
        return _refused(request, case, exc)
    messages.success(request, _("已保存帮扶方案。"))
    return redirect(f"{_reverse('cases:detail', case.public_id)}#plan")


@require_POST
@login_required
def case_follow_up(request: HttpRequest, public_id: str, pk: int) -> HttpResponse:
    case = selectors.access_case(request.user, public_id)
    item = case.follow_ups.filter(pk=pk).first()
    if item is None:
        raise Http404
    try:
        services.follow_up_record(
            actor=request.user, case=case, follow_up=item, data=request.POST.dict()
        )
    except (ValidationError, PermissionDenied) as exc:
        return _refused(request, case, exc)
    messages.success(request, _("已记录跟踪情况。"))
    return redirect(f"{_reverse('cases:detail', case.public_id)}#follow-ups")


@require_POST
@login_required
def case_attachment_add(request: HttpRequest, public_id: str) -> HttpResponse:
    case = selectors.access_case(request.user, public_id)
    uploads = request.FILES.getlist("files")
    if not uploads:
        return _refused(request, case, ValidationError(_("请选择要上传的文件。")))
    try:
        for upload in uploads:
            services.attachment_add(actor=request.user, case=case, upload=upload)
    except (ValidationError, PermissionDenied) as exc:
        return _refused(request, case, exc)
    messages.success(request, _("已上传附件。"))
    return redirect(f"{_reverse('cases:detail', case.public_id)}#attachments")


def _stored(field: Any) -> Any:
    """The stored file open for reading; 404 (not a server error) when storage has lost it,
    e.g. a data directory restored without its media folder."""
    try:
        return field.open("rb")
    except (FileNotFoundError, OSError):
        raise Http404 from None


@login_required
def case_attachment(request: HttpRequest, public_id: str, attachment_id: str) -> HttpResponseBase:
    """An attachment, through the case's scope check (never a public media URL). Logged."""
    case = selectors.access_case(request.user, public_id)
    uid = _uuid(attachment_id)
    item = Attachment.objects.filter(case=case, public_id=uid).first() if uid else None
    if item is None:
        raise Http404
    log_action(
        actor=request.user,
        action="case.attachment_viewed",
        obj=case,
        data={"attachment": str(item.public_id)},
        request=request,
    )
    return FileResponse(
        _stored(item.file),
        filename=item.name,
        content_type=item.content_type,
        as_attachment=item.content_type == "application/pdf",
    )


@login_required
def case_notice(request: HttpRequest, public_id: str, kind: str) -> HttpResponse:
    """A notice as Word, filled with the child's and guardian's details (from the recorded
    document when `document` is given, else a draft dated today). Logged."""
    case = selectors.access_case(request.user, public_id)
    if kind not in documents.NOTICE_KINDS:
        raise Http404
    document = None
    raw = request.GET.get("document", "")
    if raw.isdigit():
        document = case.documents.filter(pk=int(raw), kind=kind).first()
        if document is None:
            raise Http404
    try:
        content = documents.render_notice(case, kind, document)
    except ValidationError as exc:
        messages.error(request, _messages(exc))
        return redirect(f"{_reverse('cases:detail', case.public_id)}#documents")
    log_action(actor=request.user, action="case.notice_exported", obj=case, data={"kind": kind})
    label = str(EscalationDocument.Kind(kind).label)
    response = HttpResponse(content, content_type=DOCX)
    response["Content-Disposition"] = _disposition(f"{label}-{case.child.name}.docx")
    return response


@login_required
def case_file(request: HttpRequest, public_id: str) -> HttpResponse:
    """The whole 一人一案 file as one Word document, for the county inspection. Logged."""
    case = selectors.access_case(request.user, public_id)
    content = documents.case_file(case)
    log_action(actor=request.user, action="case.file_exported", obj=case, request=request)
    response = HttpResponse(content, content_type=DOCX)
    response["Content-Disposition"] = _disposition(
        _("一人一案") + f"-{case.child.name}-{timezone.localdate():%Y%m%d}.docx"
    )
    return response


def _disposition(name: str) -> str:
    return f"attachment; filename=\"case.docx\"; filename*=UTF-8''{quote(name)}"


@require_POST
@login_required
def case_open(request: HttpRequest, child_id: str) -> HttpResponse:
    child = access_child(request.user, child_id)
    try:
        case = services.case_open(
            actor=request.user, child=child, note=request.POST.get("note", "")
        )
    except PermissionDenied as exc:
        messages.error(request, _messages(exc))
        return redirect("registry:child_detail", child.public_id)
    return redirect("cases:detail", case.public_id)
