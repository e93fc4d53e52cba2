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
from django.db.models import Count, Prefetch, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from baoxue.accounts.actors import Actor, signed_in
from baoxue.accounts.models import Role, RoleAssignment, User
from baoxue.accounts.permissions import can_reveal_id_number
from baoxue.accounts.scope import scope_for
from baoxue.cases import documents, evidence, exports, selectors, services, workflow
from baoxue.cases.models import (
    CATEGORY_LABELS,
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
from baoxue.core import attachments, jobs
from baoxue.core.services import log_action
from baoxue.registry.models import Region, School
from baoxue.registry.selectors import access_child
from baoxue.registry.views import CappedPaginator

PER_PAGE = 50
S = Case.Status
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
    empty = not page.paginator.count
    return render(
        request,
        "cases/caseload.html",
        {
            "page": page,
            "today": timezone.localdate(),
            # Nothing names the user yet: how many open cases the scope holds, with a link.
            "in_scope": selectors.case_list(request.user).count() if empty else 0,
            "unassigned": (
                selectors.case_list(request.user, CaseFilters(unassigned=True)).count()
                if empty
                else 0
            ),
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
            "users": (
                people_choices(request.user) if workflow.can_assign_in_bulk(request.user) else []
            ),
            "moved_away": _moved_away_list(request.user, scope),
        },
    )


def _moved_away_list(user: Any, scope: Any) -> list[Case]:
    """The cases a village or a school gave up lately (their child moved away), which it may
    still open: listed apart, outside the counts, since they are worked elsewhere now."""
    if not (
        any(g.level == "village" for g in scope.regions)
        or any(s.grade is None and not s.class_name for s in scope.schools)
    ):
        return []
    return list(selectors.moved_away_cases(user)[:50])


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


def _assignable_users(actor: Actor, *, active: bool = True) -> Any:
    """Accounts with a role somewhere in the actor's regions or schools (active ones only,
    unless `active` is False: a hand-over also finds accounts already switched off)."""
    scope = scope_for(actor)
    regions = Region.objects.filter(scope.region_q())
    schools = School.objects.filter(scope.school_q())
    users = User.objects.all() if not active else User.objects.filter(is_active=True)
    return (
        users.filter(
            Q(role_assignments__region__in=regions) | Q(role_assignments__school__in=schools)
        )
        .distinct()
        .order_by("display_name", "username")
    )


@login_required
def handover(request: HttpRequest) -> HttpResponse:
    """交接: a departing account's place on every open case goes to another account in one
    step (and the account may be switched off in the same step). The township office only;
    accounts already switched off but still named are listed first."""
    if not workflow.can_assign_in_bulk(request.user):
        raise Http404
    if request.method == "POST":
        people = _assignable_users(request.user, active=False)
        departing = people.filter(pk=_int(request.POST.get("departing"))).first()
        chosen = _int(request.POST.get("user"))
        successor = _assignable_users(request.user).filter(pk=chosen).first()
        if departing is None:
            messages.error(request, _("请选择要交出案件的账号。"))
        else:
            try:
                n = services.hand_over(
                    actor=request.user,
                    departing=departing,
                    successor=successor,
                    deactivate=request.POST.get("deactivate") == "1",
                )
            except (ValidationError, PermissionDenied) as exc:
                messages.error(request, _messages(exc))
            else:
                messages.success(
                    request,
                    _("已把 %(a)s 的 %(n)s 个未结案件交给 %(b)s。")
                    % {"a": departing, "n": n, "b": successor},
                )
                return redirect("cases:handover")
    held = (
        Responsibility.objects.filter(ended_at=None, user__isnull=False)
        .exclude(case__status__in=Case.FINISHED)
        .filter(case__in=Case.objects.visible_to(request.user))
        .order_by()
        .values_list("user_id")
        .annotate(n=Count("case_id", distinct=True))
    )
    counts = dict(held)
    accounts = {u.pk: u for u in User.objects.filter(pk__in=counts)}
    rows = sorted(
        ((accounts[pk], n) for pk, n in counts.items() if pk in accounts),
        key=lambda r: (r[0].is_active, -r[1], r[0].display_name or r[0].username),
    )
    return render(
        request,
        "cases/handover.html",
        {"rows": rows, "users": people_choices(request.user)},
    )


def _int(raw: Any) -> int:
    return int(raw) if str(raw or "").isdigit() else 0


@require_POST
@login_required
def export_create(request: HttpRequest) -> HttpResponse:
    """辍学台账 of the list as filtered: made in the background, with a progress bar."""
    item = exports.export_create(actor=request.user, query=request.POST.get("query", ""))
    return redirect("cases:export_detail", item.public_id)


def _access_export(user: Any, public_id: str) -> LedgerExport:
    uid = _uuid(public_id)
    item = LedgerExport.objects.filter(public_id=uid, requested_by=user).first() if uid else None
    if item is None or not signed_in(user):
        raise Http404
    return item


@login_required
def export_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    item = _access_export(request.user, public_id)
    jobs.give_up_if_stopped(item)  # its worker gone: failed, and the page stops waiting
    context: dict[str, Any] = {"export": item, "progress": item.progress()}
    if item.status == LedgerExport.Status.FAILED:
        context["retry"] = jobs.retry(reverse("cases:export"), _("重新导出"), query=item.query)
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
        # Whether the file holds whole ID numbers (ledger.write gives them to who may reveal).
        data={
            "query": item.query,
            "rows": item.rows,
            "full_ids": can_reveal_id_number(item.requested_by),
        },
        request=request,
    )
    name = _("辍学台账") + timezone.localtime(item.created_at).strftime("%Y%m%d-%H%M") + ".xlsx"
    return FileResponse(
        attachments.open_stored(item.file), as_attachment=True, filename=name, content_type=XLSX
    )


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    figures = selectors.dashboard(request.user)
    base = _reverse("cases:list")

    def bars(items: list[tuple[Any, int, str]]) -> dict[str, list[Any]]:
        # The same query strings as the tables under the charts: a bar opens its list.
        return {
            "labels": [str(label) for label, _n, _q in items],
            "values": [n for _l, n, _q in items],
            "links": [f"{base}?{query}" for _l, _n, query in items],
        }

    weeks = figures["weeks"]
    charts = {
        "states": bars(figures["state_items"]),
        "villages": bars(figures["village_items"]),
        "schools": bars(figures["school_items"]),
        "weeks": {
            "labels": [w["week"].strftime("%m-%d") for w in weeks],
            "opened": [w["opened"] for w in weeks],
            "finished": [w["finished"] for w in weeks],
            "open": [w["open"] for w in weeks],
            # One list per series (新增, 结案, 未结案), each bar or point opening its week's.
            "links": [
                [f"{base}?{w[f'{series}_query']}" for w in weeks]
                for series in ("opened", "finished", "open")
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
    allowed = workflow.moves(case)
    # The plain moves (a button or a short form); leaving the list has its own forms below.
    moves = [
        (to, MOVE_LABELS.get(to, to))
        for to in sorted(allowed, key=_move_order)
        if can_work
        and to in {"verifying", "confirmed", "persuading", "placed", "follow_up"}
        and case.status != S.PENDING_REVIEW
    ]
    if case.status in Case.FINISHED and can_work:
        moves.append(("suspected", MOVE_LABELS["suspected"]))
    dismiss = ""
    if case.status in {S.SUSPECTED, S.VERIFYING} and can_work:
        dismiss = "direct" if workflow.dismisses_directly(user) else "propose"
    review: dict[str, Any] = {}
    if case.status == S.PENDING_REVIEW:
        is_proposer = case.proposed_by_id == user.pk
        may_review = workflow.can_review(user, case)
        problem = (
            evidence.approver_problem(case, user)
            if may_review and case.proposed_to == S.CLOSED
            else None
        )
        review = {
            "to_label": Case.Status(case.proposed_to).label if case.proposed_to else "",
            "from_label": Case.Status(case.proposed_from).label if case.proposed_from else "",
            "can_approve": may_review and problem is None,
            "problem": problem,
            "can_return": may_review or is_proposer,
            "is_proposer": is_proposer,
            "items": evidence.describe(case),
        }
    closing: dict[str, Any] = {}
    if case.status in {S.FOLLOW_UP, S.PENDING_REVIEW} and (
        case.status == S.FOLLOW_UP or case.proposed_to == S.CLOSED
    ):
        found, problems, missing = evidence.closing(case)
        closing = {"evidence": found, "problems": problems, "missing": missing}
    follow_ups = list(case.follow_ups.select_related("recorded_by"))
    due = next((f for f in follow_ups if f.done_on is None), None)
    guardian = documents.primary_guardian(list(case.child.guardians.all()))
    missing_pairs = workflow.missing_levels(case)
    steps: dict[str, str] = {
        S.SUSPECTED: "verify",
        S.VERIFYING: "verify",
        S.PENDING_REVIEW: "review",
        S.CONFIRMED: "people" if missing_pairs else "persuade",
        S.PERSUADING: "persuade",
        S.PLACED: "follow_up",
        S.FOLLOW_UP: "follow_up",
    }
    next_step = steps.get(case.status, "")
    attachments = list(case.attachments.select_related("uploaded_by"))
    events = list(case.events.select_related("actor").order_by("-at", "-id")[:200])
    for e in events:
        e.summary = _event_summary(e)  # type: ignore[attr-defined]
    return {
        "case": case,
        "child": case.child,
        "today": timezone.localdate(),
        "grid": grid,
        "history_people": [p for p in people if p.ended_at is not None],
        "missing": [workflow.level_name(a, b) for a, b in missing_pairs],
        "moves": moves,
        "dismiss": dismiss,
        "review": review,
        "closing": closing,
        "next_step": next_step,
        "due": due,
        "guardian": guardian,
        "category_label": _category_label(case.category),
        "verify_methods": list(evidence.VERIFY_METHODS.items()),
        "can_work": can_work and case.is_open,
        "can_close": workflow.can_close(user),
        "attempts": list(case.attempts.select_related("created_by")),
        "documents": list(case.documents.all()),
        "placements": list(case.placements.select_related("school")),
        "follow_ups": follow_ups,
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
        "users": people_choices(user),
        "review_items": (
            evidence.describe(case) if case.status in {S.DISMISSED, S.PENDING_REVIEW} else []
        ),
        "token": uuid.uuid4(),
        "kinds": [
            (Case.Kind.DROPPED_OUT, Case.Kind.DROPPED_OUT.label),
            (Case.Kind.NEVER_ENROLLED, Case.Kind.NEVER_ENROLLED.label),
        ],
        "posted": request.POST if request.method == "POST" else {},
    }


EVENT_LABELS = {
    "opened": gettext_lazy("立案"),
    "attempt": gettext_lazy("劝返"),
    "document": gettext_lazy("文书"),
    "plan": gettext_lazy("帮扶方案"),
    "follow_up": gettext_lazy("跟踪"),
    "attachment": gettext_lazy("附件"),
    "handover": gettext_lazy("交接"),
    "merged": gettext_lazy("重复记录已合并，本案件排除"),
    "merged_in": gettext_lazy("合并进来的重复记录的案件"),
    "merge_undone": gettext_lazy("撤销合并，案件恢复"),
}


def _event_summary(e: Any) -> str:
    """One line of the case's history in words (never a raw event code)."""
    data = e.data or {}
    if e.kind == "transition":
        return _("状态 %(a)s → %(b)s") % {
            "a": _status_label(e.from_status),
            "b": _status_label(e.to_status),
        }
    if e.kind == "responsibility":
        text = _("落实责任人 %(name)s") % {"name": data.get("name", "")}
        if data.get("auto"):
            text += _("（按账号自动落实）")
        if data.get("replaces"):
            text += _("（替换 %(names)s）") % {"names": "、".join(data["replaces"])}
        return text
    if e.kind == "attempt":
        return _("劝返 %(on)s") % {"on": data.get("on", "")}
    if e.kind == "follow_up":
        return _("跟踪 %(on)s") % {"on": data.get("done", "")}
    if e.kind == "attachment":
        return _("附件 %(name)s") % {"name": data.get("name", "")}
    if e.kind == "moved":
        parts = []
        if data.get("from") or data.get("to"):
            parts.append(
                _("儿童迁居，案件随之转到 %(b)s（原 %(a)s）")
                % {"a": data.get("from", ""), "b": data.get("to", "")}
            )
        if data.get("school_from") or data.get("school_to"):
            parts.append(
                _("学籍转到 %(b)s（原 %(a)s）")
                % {"a": data.get("school_from", ""), "b": data.get("school_to", "")}
            )
        return "；".join(parts)
    if e.kind == "handover":
        return _("交接：%(a)s → %(b)s") % {"a": data.get("from", ""), "b": data.get("to", "")}
    return str(EVENT_LABELS.get(e.kind, _("其他记录")))


def people_choices(actor: Actor, limit: int = 500) -> list[dict[str, Any]]:
    """The accounts the actor may name on a case, each labelled with its roles and places so
    that a 校长 account is told apart from a contact typed as "校长"."""
    users = list(_assignable_users(actor)[:limit])
    grants = RoleAssignment.objects.filter(user__in=users).select_related("region", "school")
    roles: dict[int, list[str]] = {}
    for g in grants.order_by("id"):
        place = g.school.name if g.school else (g.region.name if g.region else "")
        if g.grade:
            place += f"{g.grade}年级{g.class_name}"
        roles.setdefault(g.user_id, []).append(f"{Role(g.role).label} {place}".strip())
    return [
        {
            "pk": u.pk,
            "label": " · ".join([u.display_name or u.username, *roles.get(u.pk, [])]),
        }
        for u in users
    ]


def _category_label(category: str) -> str:
    return str(CATEGORY_LABELS.get(category, category))


def _status_label(value: str) -> str:
    return str(Case.Status(value).label) if value in Case.Status.values else value


_ORDER = ["verifying", "confirmed", "persuading", "placed", "follow_up", "closed", "dismissed"]


def _move_order(to: str) -> int:
    return _ORDER.index(to) if to in _ORDER else len(_ORDER)


@login_required
def case_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    case = selectors.access_case(request.user, public_id)
    log_action(actor=request.user, action="case.viewed", obj=case, request=request)
    return _page(request, case)


def _page(request: HttpRequest, case: Case, *, status: int = 200) -> HttpResponse:
    """The case page; for the place its child moved away from, the read-only page of what
    that place saw before the move."""
    if selectors.moved_away(request.user, case):
        return render(
            request, "cases/case_moved_away.html", _moved_away_context(case), status=status
        )
    return render(request, "cases/case_detail.html", _case_context(request, case), status=status)


def _moved_away_context(case: Case) -> dict[str, Any]:
    """What the place a child moved away from still reads: the records up to the move, the
    people named then, nothing of where the child lives now (issue 22)."""
    moved = case.moved_at
    people = [
        p
        for p in case.responsibilities.select_related("user").order_by("line", "level", "id")
        if moved is None or p.assigned_at <= moved
    ]
    events = list(
        case.events.filter(at__lte=moved).select_related("actor").order_by("-at", "-id")[:200]
    )
    for e in events:
        e.summary = _event_summary(e)  # type: ignore[attr-defined]
    return {
        "case": case,
        "child": case.child,
        "until": case.grace_ends(),
        "people": people,
        "attempts": list(case.attempts.filter(created_at__lte=moved).select_related("created_by")),
        "attachments": list(
            case.attachments.filter(uploaded_at__lte=moved).select_related("uploaded_by")
        ),
        "events": events,
        "level_name": workflow.level_name,
    }


def _refused(request: HttpRequest, case: Case, exc: Exception, *, status: int = 400) -> Any:
    """Show the case again with the message and the user's input kept in the form."""
    messages.error(request, _messages(exc))
    case.refresh_from_db()
    return _page(request, case, status=status)


def _version(request: HttpRequest) -> int:
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else -1


EVIDENCE_FIELDS = (
    "school",
    "student_number",
    "verified_by",
    "verified_how",
    "verified_on",
    "hukou_record",
    "moved_to",
    "wrong_record",
    "correction",
)


def _move_data(post: Any, to: str) -> dict[str, Any]:
    """What the form of each move sends, as the workflow service takes it."""
    note = post.get("note", "")[:200]
    if to in {"dismissed", "pending_review"}:
        return {
            "proposal": post.get("proposal", ""),
            "reason": post.get("reason", ""),
            "evidence": {k: post.get(k, "") for k in EVIDENCE_FIELDS},
            "note": note,
        }
    if to == "confirmed":
        return {
            "kind": post.get("kind", ""),
            "reasons": post.getlist("reasons"),
            "began": post.get("began", ""),
            "note": note,
        }
    if to == "placed":
        fields = (
            "kind",
            "school_id",
            "grade",
            "placed_on",
            "application",
            "conclusion",
            "approver",
            "review_date",
        )
        return {"placement": {k: post.get(k, "") for k in fields}}
    if to == "closed":
        return {"waiver": post.get("waiver", "")[:200], "evidence": post.get("evidence", "")}
    return {"note": note} if note else {}


@require_POST
@login_required
def case_move(request: HttpRequest, public_id: str) -> HttpResponse:
    """One move of the workflow. Proof files (a 就读证明, a 户籍 certificate) come with the
    form and are kept only when the move is: a refused move leaves no file behind."""
    case = selectors.access_case(request.user, public_id)
    to = request.POST.get("to", "")
    if to not in Case.Status.values:
        return _refused(request, case, ValidationError(_("请选择要办理的步骤。")))
    data = _move_data(request.POST, to)
    saved: list[Attachment] = []
    try:
        with transaction.atomic():
            for upload in request.FILES.getlist("proof"):
                saved.append(
                    services.attachment_add(
                        actor=request.user, case=case, upload=upload, purpose="proof"
                    )
                )
            data["attachments"] = [str(a.public_id) for a in saved]
            moved = workflow.transition(
                actor=request.user, case=case, to=to, version=_version(request), data=data
            )
    except workflow.Conflict as exc:
        attachments.forget(saved)
        return _refused(request, case, exc, status=409)
    except PermissionDenied as exc:
        attachments.forget(saved)
        # A refused approval or move is logged: who tried to take which case where.
        log_action(
            actor=request.user,
            action="case.move_refused",
            obj=case,
            data={"to": to, "message": _messages(exc)},
            request=request,
        )
        return _refused(request, case, exc)
    except (ValidationError, ValueError) as exc:
        attachments.forget(saved)
        return _refused(request, case, exc)
    if moved.status == Case.Status.PENDING_REVIEW:
        messages.success(
            request,
            _("已提交审核：乡镇控辍保学办公室审核前，案件仍在名单上。")
            if moved.proposed_to == Case.Status.DISMISSED
            else _("已申请销号：须由没有办理这个案件的乡镇办公室人员或领导批准。"),
        )
    else:
        messages.success(
            request, _("案件已改为“%(status)s”。") % {"status": Case.Status(moved.status).label}
        )
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


@login_required
def case_attachment(request: HttpRequest, public_id: str, attachment_id: str) -> HttpResponseBase:
    """An attachment, through the case's scope check (never a public media URL). Logged."""
    case = selectors.access_case(request.user, public_id)
    uid = _uuid(attachment_id)
    if uid is None:
        raise Http404
    items = Attachment.objects.filter(case=case, public_id=uid)
    if selectors.moved_away(request.user, case):
        items = items.filter(uploaded_at__lte=case.moved_at)  # what it saw before the move
    item = items.first()
    if item is None:
        raise Http404
    log_action(
        actor=request.user,
        action="case.attachment_viewed",
        obj=case,
        data={"attachment": str(item.public_id)},
        request=request,
    )
    return attachments.serve(item)


@login_required
def case_notice(request: HttpRequest, public_id: str, kind: str) -> HttpResponse:
    """A notice as Word, filled with the child's and guardian's details (from the recorded
    document when `document` is given, else a draft dated today). Logged."""
    case = selectors.access_case(request.user, public_id)
    if kind not in documents.NOTICE_KINDS or selectors.moved_away(request.user, case):
        # A notice prints the guardian's address and phone now: not for the place the child
        # moved away from.
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
    content = documents.case_file(case, moved_away=selectors.moved_away(request.user, case))
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
    if case.reported_by_id == request.user.pk and case.source == "person":
        messages.success(
            request,
            _("已立案。您是这个案件的报告人，可以在“我的案件”里随时查看它的办理情况。"),
        )
    else:
        messages.info(request, _("这个孩子已有未结案件，请在这个案件里继续办理。"))
    return redirect("cases:detail", case.public_id)
