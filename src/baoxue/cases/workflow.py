"""The case workflow: explicit states, the allowed transitions in one table, one service per
transition (all through `transition`), optimistic version checks, and a history row for each.

    suspected → verifying → dismissed (a reason and its evidence) | confirmed (kind, month, reasons)
    confirmed → persuading → placed → follow_up → pending_review (销号 proposed) → closed
    suspected / verifying → pending_review (a dismissal proposed) → dismissed
    pending_review → back where it came from (returned with a reason)
    closed / dismissed → suspected (reopened: the child dropped out again; the history stays)

Leaving the list needs evidence (cases.evidence): the township office dismisses with it; a
village, school or teacher proposes a dismissal (待审核) that the office approves or returns;
销号 is proposed by whoever works the case and approved by the office or a leader who neither
proposed it nor is named on the case. 双线四包: a case leaves "confirmed" only with a named
person at every required level of both lines.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from baoxue.accounts.actors import Actor, person, signed_in
from baoxue.accounts.models import Role, RoleAssignment
from baoxue.accounts.scope import scope_for
from baoxue.cases import evidence, signals
from baoxue.cases.models import (
    DISMISS_REASONS,
    DROPOUT_REASONS,
    Case,
    CaseEvent,
    FollowUp,
    Placement,
    Responsibility,
)
from baoxue.core.idnumbers import mask_numbers
from baoxue.core.services import log_action
from baoxue.core.times import add_months
from baoxue.registry.models import Child

WORK_ROLES = (Role.TOWNSHIP_OFFICE, Role.VILLAGE, Role.SCHOOL, Role.TEACHER)
CLOSE_ROLES = (Role.TOWNSHIP_OFFICE, Role.LEADER)
# Who decides a proposal: the township office a dismissal, an approver a closing.
REVIEW_ROLES: dict[str, tuple[Role, ...]] = {
    "dismissed": (Role.TOWNSHIP_OFFICE,),
    "closed": CLOSE_ROLES,
}

S = Case.Status
TRANSITIONS: dict[str, set[str]] = {
    S.SUSPECTED: {S.VERIFYING, S.DISMISSED, S.CONFIRMED, S.PENDING_REVIEW},
    S.VERIFYING: {S.DISMISSED, S.CONFIRMED, S.PENDING_REVIEW},
    # Approved (to what was proposed) or returned (to where it came from): see moves().
    S.PENDING_REVIEW: {S.DISMISSED, S.CLOSED, S.SUSPECTED, S.VERIFYING, S.FOLLOW_UP},
    S.CONFIRMED: {S.PERSUADING, S.PLACED},
    S.PERSUADING: {S.PLACED},
    S.PLACED: {S.FOLLOW_UP, S.PERSUADING},  # back to persuading when a placement fails
    S.FOLLOW_UP: {S.PENDING_REVIEW, S.PERSUADING},
    S.CLOSED: {S.SUSPECTED},
    S.DISMISSED: {S.SUSPECTED},
}


class Conflict(ValidationError):
    """Someone else changed the case since it was read."""


def missing_levels(case: Case) -> list[tuple[str, int]]:
    """The (line, level) pairs the settings require that have no named person now."""
    named = set(case.responsibilities.filter(ended_at=None).values_list("line", "level"))
    return [
        (line, level)
        for line in (Responsibility.Line.GOVERNMENT, Responsibility.Line.EDUCATION)
        for level in sorted(set(settings.BAOXUE_CASE_REQUIRED_LEVELS))
        if (line, level) not in named
    ]


def level_name(line: str, level: int) -> str:
    names = (
        settings.BAOXUE_GOVERNMENT_LEVELS
        if line == Responsibility.Line.GOVERNMENT
        else settings.BAOXUE_EDUCATION_LEVELS
    )
    return names[level - 1] if 0 < level <= len(names) else str(level)


def can_work(user: Any, case: Case) -> bool:
    """Record steps on a case: the office, the village and the school it belongs to, and
    anyone named on it now. Leaders and inspectors read; leaders also approve closing. A case
    not yet saved (opening one) belongs where its child is."""
    if not signed_in(user):
        return False
    if case.pk is None:
        return scope_for(user).has_role(*WORK_ROLES) and _child_visible(user, case.child_id)
    if case.responsibilities.filter(user=user, ended_at=None).exists():
        return True
    return scope_for(user).has_role(*WORK_ROLES) and _case_visible(user, case)


def can_close(user: Any, case: Case | None = None) -> bool:
    """Approve a 销号 (the office or a leader, in scope). Not whether this user may approve
    this proposal: see evidence.approver_problem."""
    if not scope_for(user).has_role(*CLOSE_ROLES):
        return False
    return case is None or _case_visible(user, case)


def can_review(user: Any, case: Case) -> bool:
    """Approve or return the proposal a 待审核 case waits on."""
    roles = REVIEW_ROLES.get(case.proposed_to, ())
    return bool(roles) and scope_for(user).has_role(*roles) and _case_visible(user, case)


def dismisses_directly(user: Any) -> bool:
    """The township office dismisses with evidence; anyone else proposes (待审核)."""
    return scope_for(user).has_role(Role.TOWNSHIP_OFFICE)


def moves(case: Case) -> set[str]:
    """The states the case may move to now: a 待审核 case only to what was proposed or back
    to where it came from."""
    if case.status == S.PENDING_REVIEW:
        return {case.proposed_to, case.proposed_from} & TRANSITIONS[S.PENDING_REVIEW]
    return set(TRANSITIONS.get(case.status, set()))


def _case_visible(user: Any, case: Case) -> bool:
    """In the scope that works the case (not the read-only one of a place its child left)."""
    return Case.objects.visible_to(user).filter(pk=case.pk).exists()


def _child_visible(user: Any, child_id: int) -> bool:

    return Child.objects.visible_to(user).filter(pk=child_id).exists()


def can_assign_in_bulk(user: Any) -> bool:
    return scope_for(user).has_role(Role.TOWNSHIP_OFFICE)


def transition(
    *, actor: Actor, case: Case, to: str, version: int, data: dict[str, Any] | None = None
) -> Case:
    """Move the case to `to`. Refused with a message (and nothing changed) when the move is
    not allowed, the 双线四包 gate is not met, the evidence or the data are incomplete, or the
    case changed since the user read it (`version`)."""
    data = dict(data or {})
    if case.version != version:
        # Checked first: a form sent twice (a double click) finds the case already moved.
        raise Conflict(_("这个案件刚被别人修改过，请刷新页面后再操作。"))
    before = case.status
    if to not in moves(case):
        if to == S.CLOSED and before == S.FOLLOW_UP:
            raise ValidationError(_("销号须先提出申请（待审核），再由没有办理这个案件的人批准。"))
        raise ValidationError(
            _("案件不能从“%(a)s”改为“%(b)s”。")
            % {"a": Case.Status(case.status).label, "b": Case.Status(to).label}
        )
    _allowed(actor, case, to, data)
    changes: dict[str, Any] = {"status": to, "version": F("version") + 1}
    changes |= _leaving(actor, case, to, data)
    if to == S.CONFIRMED:
        reasons = data.get("reasons") or []
        if not reasons or any(r not in DROPOUT_REASONS for r in reasons):
            raise ValidationError(_("确认辍学须选择原因（可多选）。"))
        if data.get("kind") not in {Case.Kind.NEVER_ENROLLED, Case.Kind.DROPPED_OUT}:
            raise ValidationError(_("请选择失学或辍学。"))
        changes |= {"kind": data["kind"], "reasons": list(reasons)}
        if data.get("began"):
            changes["began_on"] = _month(str(data["began"]))
    placement = _placement(data.get("placement")) if to == S.PLACED else None
    if before == S.CONFIRMED:
        missing = missing_levels(case)
        if missing:
            raise ValidationError(
                _("请先落实双线包保责任人，还缺：%(levels)s。")
                % {"levels": "、".join(level_name(line, level) for line, level in missing)}
            )
    with transaction.atomic():
        if to in Case.FINISHED:
            changes["closed_at"] = timezone.now()
        elif before in Case.FINISHED:
            changes["closed_at"] = None
            changes |= {"close_approver": "", "close_evidence": "", "closed_by": None}
            changes |= {"dismiss_reason": "", "exit_evidence": {}}
        if before == S.PENDING_REVIEW:
            changes |= {"proposed_to": "", "proposed_from": "", "proposed_by": None}
            changes["proposed_at"] = None
        try:
            with transaction.atomic():
                updated = Case.objects.filter(pk=case.pk, version=version, status=before).update(
                    **changes
                )
        except IntegrityError:
            # Reopening while the child has another open case (一人一案): that one stands.
            raise ValidationError(_("这个孩子已有未结案件，请在那个案件里继续办理。")) from None
        if not updated:
            raise Conflict(_("这个案件刚被别人修改过，请刷新页面后再操作。"))
        if placement is not None:
            Placement.objects.create(case=case, created_by=_authenticated(actor), **placement)
        if to == S.DISMISSED:
            # The verified fact moves the child's 比对 category now (在外地就读, 死亡或迁出):
            # home, 比对 and the ledgers stop counting the child as 待核实 (the
            # reconciliation, above the cases, listens).
            case.refresh_from_db()
            signals.case_dismissed.send(sender=Case, case=case)
        if to == S.FOLLOW_UP and before != S.PENDING_REVIEW:
            # Back in follow-up after a failed return: the old plan's dates not yet visited
            # give way to a new schedule from today (those visited stay in the history). A
            # closing returned by its approver keeps its schedule.
            case.follow_ups.filter(done_on=None).delete()
            start = timezone.localdate()
            FollowUp.objects.bulk_create(
                FollowUp(case=case, due_on=day) for day in follow_up_schedule(start)
            )
        event = {k: v for k, v in data.items() if k not in {"evidence", "attachments"}}
        if "exit_evidence" in changes:
            event["evidence"] = changes["exit_evidence"]
        CaseEvent.objects.create(
            case=case,
            actor=_authenticated(actor),
            kind="transition",
            from_status=before,
            to_status=to,
            data=event,
        )
        log_action(
            actor=actor,
            action="case.transition",
            obj=case,
            data={"from": before, "to": to, **event},
        )
        refresh_due(case)
    case.refresh_from_db()
    return case


def _authenticated(actor: Actor) -> Any:
    return person(actor)


def _allowed(actor: Actor, case: Case, to: str, data: dict[str, Any]) -> None:
    """Who may make this move, with the message that says so."""
    if case.status == S.PENDING_REVIEW:
        if to == case.proposed_to:
            if not can_review(actor, case):
                raise PermissionDenied(
                    _("排除须由乡镇控辍保学办公室审核。")
                    if to == S.DISMISSED
                    else _("销号须由乡镇控辍保学办公室或领导小组批准。")
                )
            return
        proposer = case.proposed_by_id is not None and case.proposed_by_id == getattr(
            actor, "pk", None
        )
        if not (can_review(actor, case) or proposer):
            raise PermissionDenied(_("只有审核人可以退回，申请人可以撤回。"))
        if not str(data.get("note") or "").strip():
            raise ValidationError(_("退回或撤回须写明理由。"))
        return
    if to == S.DISMISSED and can_work(actor, case) and not dismisses_directly(actor):
        raise PermissionDenied(
            _("村、学校和教师提出的排除须经乡镇控辍保学办公室审核，请提交审核。")
        )
    if not can_work(actor, case):
        raise PermissionDenied(_("您没有办理这个案件的权限。"))


def _leaving(actor: Actor, case: Case, to: str, data: dict[str, Any]) -> dict[str, Any]:
    """The fields a move to or out of 待审核, a dismissal or a closing writes, with their
    evidence checked (cases.evidence). Refuses with what is missing."""
    files = list(data.get("attachments") or [])
    if to == S.PENDING_REVIEW:
        proposal = data.get("proposal")
        now = timezone.now()
        head = {
            "proposed_to": proposal,
            "proposed_from": case.status,
            "proposed_by": _authenticated(actor),
            "proposed_at": now,
        }
        if proposal == S.DISMISSED and case.status in {S.SUSPECTED, S.VERIFYING}:
            reason = str(data.get("reason") or "")
            found = evidence.dismissal(case, reason, data.get("evidence") or {}, files)
            return head | {"dismiss_reason": reason, "exit_evidence": found}
        if proposal == S.CLOSED and case.status == S.FOLLOW_UP:
            found, problems, _missing = evidence.closing(case)
            if problems:
                raise ValidationError(
                    _("还不能申请销号：%(items)s。") % {"items": "；".join(problems)}
                )
            found["note"] = str(data.get("note") or "")[:200]
            found["attachments"] = evidence.proofs(case, files)
            return head | {"exit_evidence": found}
        raise ValidationError(_("请选择要提交审核的事项。"))
    if to == S.DISMISSED:
        if case.status == S.PENDING_REVIEW:
            return {"exit_evidence": case.exit_evidence | {"approved_by": _name(actor)}}
        reason = str(data.get("reason") or "")
        if reason not in DISMISS_REASONS:
            raise ValidationError(_("排除须选择原因。"))
        found = evidence.dismissal(case, reason, data.get("evidence") or {}, files)
        return {"dismiss_reason": reason, "exit_evidence": found}
    if to == S.CLOSED:
        problem = evidence.approver_problem(case, actor)
        if problem:
            raise PermissionDenied(problem)
        found, problems, missing = evidence.closing(case)
        if problems:
            raise ValidationError(_("还不能销号：%(items)s。") % {"items": "；".join(problems)})
        waiver = str(data.get("waiver") or "").strip()
        if missing and not waiver:
            raise ValidationError(
                _("%(items)s。如确实不需要，请批准人写明原因。") % {"items": "；".join(missing)}
            )
        note = str(data.get("evidence") or "").strip()
        found |= {
            "proposal": case.exit_evidence,
            "waiver": waiver[:200],
            "note": note[:200],
            "approved_by": _name(actor),
        }
        summary = "；".join(
            str(v)
            for v in (
                found.get("enrollment") or found.get("placement"),
                found.get("attendance"),
                _("跟踪 %(n)s 次") % {"n": found.get("follow_ups_done", 0)},
                waiver,
                note or case.exit_evidence.get("note"),
            )
            if v
        )
        return {
            "exit_evidence": found,
            "close_approver": _name(actor)[:64],
            "close_evidence": mask_numbers(summary)[:300],
            "closed_by": _authenticated(actor),
        }
    if case.status == S.PENDING_REVIEW and case.proposed_to == S.DISMISSED:
        return {"dismiss_reason": "", "exit_evidence": {}}
    if case.status == S.PENDING_REVIEW:
        return {"exit_evidence": {}}
    return {}


def _name(actor: Actor) -> str:
    return str(getattr(actor, "display_name", "") or getattr(actor, "username", "") or "")


def _month(raw: str) -> date:
    """ "2026-09" or "2026-09-01" → the first of that month."""
    try:
        year, month = (int(p) for p in raw.split("-")[:2])
        return date(year, month, 1)
    except ValueError:
        raise ValidationError(_("辍学开始月份格式不对（例如 2026-09）。")) from None


def follow_up_schedule(start: date) -> list[date]:
    """The follow-up dates after a return: every BAOXUE_FOLLOW_UP_DAYS days for the first
    BAOXUE_FOLLOW_UP_INTENSIVE_MONTHS months, then monthly to the end of the term the
    intensive period ends in."""
    every = timedelta(days=settings.BAOXUE_FOLLOW_UP_DAYS)
    intensive_end = add_months(start, settings.BAOXUE_FOLLOW_UP_INTENSIVE_MONTHS)
    term_end = _term_end(intensive_end)
    days: list[date] = []
    day = start + every
    while day <= intensive_end:
        days.append(day)
        day += every
    day = add_months(days[-1] if days else start, 1)
    while day <= term_end:
        days.append(day)
        day = add_months(day, 1)
    return days or [start + every]


def _term_end(day: date) -> date:
    ends = []
    for item in settings.BAOXUE_TERM_ENDS:
        month, dom = (int(p) for p in item.split("-"))
        for year in (day.year, day.year + 1):
            ends.append(date(year, month, dom))
    return min(e for e in ends if e >= day)


def refresh_due(case: Case) -> None:
    """Recompute the case's earliest due step: the next 劝返 step (from the latest attempt),
    the first follow-up not yet done, the deadline of the last legal document while the case
    is not placed, and an exemption's review date. Call inside the writing transaction."""
    due: list[date] = []
    status = Case.objects.filter(pk=case.pk).values_list("status", flat=True).get()
    if status not in Case.FINISHED:
        if status in {S.CONFIRMED, S.PERSUADING}:
            latest = case.attempts.order_by("-attempted_on", "-id").first()
            if latest is not None and latest.next_date:
                due.append(latest.next_date)
            document = case.documents.exclude(deadline=None).order_by("-issued_on", "-id").first()
            if document is not None and document.deadline:
                due.append(document.deadline)
        if status == S.FOLLOW_UP:
            first = case.follow_ups.filter(done_on=None).order_by("due_on").first()
            if first is not None:
                due.append(first.due_on)
        review = (
            case.placements.filter(kind=Placement.Kind.EXEMPT)
            .exclude(review_date=None)
            .order_by("-placed_on", "-id")
            .values_list("review_date", flat=True)
            .first()
        )
        if review is not None and status in {S.PLACED, S.FOLLOW_UP}:
            due.append(review)
    Case.objects.filter(pk=case.pk).update(next_due=min(due) if due else None)


def _placement(raw: Any) -> dict[str, Any]:
    """The placement a move to "placed" needs, checked: where and when; for an exemption the
    guardian's application, the conclusion, the approver and the review date."""
    if not isinstance(raw, dict) or raw.get("kind") not in Placement.Kind.values:
        raise ValidationError(_("请选择安置方式。"))
    kind = raw["kind"]
    try:
        placed_on = date.fromisoformat(str(raw.get("placed_on", "")))
    except ValueError:
        raise ValidationError(_("请填写安置日期。")) from None
    out: dict[str, Any] = {"kind": kind, "placed_on": placed_on}
    if kind in {Placement.Kind.BACK_IN_SCHOOL, Placement.Kind.WITH_CLASS}:
        if not raw.get("school_id") or not raw.get("grade"):
            raise ValidationError(_("复学或随班就读须填写学校和年级。"))
        out |= {"school_id": int(raw["school_id"]), "grade": int(raw["grade"])}
    elif kind == Placement.Kind.SPECIAL_SCHOOL:
        if not raw.get("school_id"):
            raise ValidationError(_("请选择特殊教育学校。"))
        out["school_id"] = int(raw["school_id"])
    elif kind == Placement.Kind.EXEMPT:
        fields = ("application", "conclusion", "approver", "review_date")
        if not all(raw.get(f) for f in fields):
            raise ValidationError(
                _("延缓或免予入学须有监护人申请、专家或医学结论、批准人和复核日期。")
            )
        try:
            review = date.fromisoformat(str(raw["review_date"]))
        except ValueError:
            raise ValidationError(_("复核日期格式不对。")) from None
        out |= {
            "application": str(raw["application"])[:200],
            "conclusion": str(raw["conclusion"])[:200],
            "approver": str(raw["approver"])[:64],
            "review_date": review,
        }
    return out


def assign(
    *,
    actor: Actor,
    case: Case,
    line: str,
    level: int,
    name: str,
    user: Any = None,
    role: str = "",
    unit: str = "",
    phone: str = "",
) -> Responsibility:
    """Name the person on a line and level; the one there before is ended, not overwritten."""
    if not can_work(actor, case):
        raise PermissionDenied(_("您没有办理这个案件的权限。"))
    if line not in Responsibility.Line.values or not 1 <= level <= 4:
        raise ValidationError(_("请选择线和层级。"))
    if not name.strip():
        raise ValidationError(_("请填写责任人姓名。"))
    with transaction.atomic():
        same = case.responsibilities.filter(
            line=line,
            level=level,
            ended_at=None,
            user=user,
            name=name.strip(),
            role=role,
            unit=unit,
            phone=phone,
        ).first()
        if same is not None:
            return same  # the same form sent twice: nothing to replace
        now = timezone.now()
        ended = list(
            case.responsibilities.filter(line=line, level=level, ended_at=None).values_list(
                "name", flat=True
            )
        )
        case.responsibilities.filter(line=line, level=level, ended_at=None).update(ended_at=now)
        item = Responsibility.objects.create(
            case=case,
            line=line,
            level=level,
            user=user,
            name=name.strip(),
            role=role,
            unit=unit,
            phone=phone,
        )
        both = not missing_levels(case)
        Case.objects.filter(pk=case.pk).update(both_lines_named=both)
        if user is not None and (case.previous_village_id or case.previous_school_id):
            end_grace([case.pk])  # someone of the new place named: the old one stops reading
        case.both_lines_named = both
        CaseEvent.objects.create(
            case=case,
            actor=person(actor),
            kind="responsibility",
            data={"line": line, "level": level, "name": item.name, "replaces": ended},
        )
        log_action(actor=actor, action="case.assigned", obj=case, data={"line": line})
    return item


def end_grace(case_ids: list[int]) -> int:
    """The place a case's child moved away from stops reading it once someone of the new place
    (a village cadre of its village, an account of its school) is named on it. Returns the
    cases whose grace ended."""

    ended = 0
    for start in range(0, len(case_ids), 1000):
        chunk = case_ids[start : start + 1000]
        cases = list(
            Case.objects.filter(pk__in=chunk)
            .filter(Q(previous_village__isnull=False) | Q(previous_school__isnull=False))
            .values_list("pk", "village_id", "school_id")
        )
        if not cases:
            continue
        named: dict[int, set[int]] = {}
        for case_id, user_id in Responsibility.objects.filter(
            case_id__in=[c[0] for c in cases], ended_at=None, user__isnull=False
        ).values_list("case_id", "user_id"):
            named.setdefault(case_id, set()).add(user_id)
        users = set().union(*named.values()) if named else set()
        grants = list(
            RoleAssignment.objects.filter(user_id__in=users, user__is_active=True)
            .filter(role__in=[Role.VILLAGE, Role.SCHOOL, Role.TEACHER])
            .values_list("user_id", "region_id", "school_id")
        )
        village_of = {(u, r) for u, r, _s in grants if r}
        school_of = {(u, sc) for u, _r, sc in grants if sc}
        village_done = [
            pk for pk, v, _s in cases if any((u, v) in village_of for u in named.get(pk, ()))
        ]
        school_done = [
            pk for pk, _v, sc in cases if any((u, sc) in school_of for u in named.get(pk, ()))
        ]
        ended += Case.objects.filter(pk__in=village_done, previous_village__isnull=False).update(
            previous_village=None
        )
        ended += Case.objects.filter(pk__in=school_done, previous_school__isnull=False).update(
            previous_school=None
        )
    return ended
