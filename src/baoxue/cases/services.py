"""Writes on a case besides its transitions (those are in `workflow`): 劝返 attempts, legal
documents, attachments, the plan, follow-ups, opening a case by hand and bulk assignment.

Every service takes the acting user, runs in one transaction, writes the case's history
(`CaseEvent`) and the audit row, and keeps `Case.next_due` current.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baoxue.accounts.actors import Actor, person
from baoxue.accounts.models import Role, RoleAssignment
from baoxue.accounts.scope import scope_for
from baoxue.cases.models import (
    Attachment,
    Case,
    CaseEvent,
    EscalationDocument,
    FollowUp,
    Responsibility,
    ReturnAttempt,
)
from baoxue.cases.workflow import (
    Conflict,
    assign,
    can_assign_in_bulk,
    can_work,
    end_grace,
    refresh_due,
)
from baoxue.core import attachments
from baoxue.core.idnumbers import mask_numbers
from baoxue.core.services import log_action
from baoxue.registry.models import Child, Enrollment, Region, School

MEASURES = {
    "subsidy": gettext_lazy("落实资助"),
    "fees": gettext_lazy("减免或帮助缴费"),
    "class_placement": gettext_lazy("编班安置"),
    "psychological": gettext_lazy("心理辅导"),
    "home_teaching": gettext_lazy("送教上门"),
    "boarding": gettext_lazy("安排寄宿"),
    "tutoring": gettext_lazy("学业帮扶"),
}


def _user(actor: Actor) -> Any:
    return person(actor)


def _event(actor: Actor, case: Case, kind: str, data: dict[str, Any]) -> None:
    CaseEvent.objects.create(case=case, actor=_user(actor), kind=kind, data=data)


def _check(actor: Actor, case: Case) -> None:
    if not can_work(actor, case):
        raise PermissionDenied(_("您没有办理这个案件的权限。"))
    if not case.is_open:
        raise ValidationError(_("案件已结束，不能再记录。如孩子再次辍学，请先重新立案。"))


def _token(raw: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(raw)) if raw else None
    except ValueError:
        return None


def _required_date(raw: Any, label: str) -> date:
    day = _date(raw, label)
    assert day is not None
    return day


def _date(raw: Any, label: str, *, required: bool = True) -> date | None:
    if isinstance(raw, date):
        return raw
    if not raw:
        if required:
            raise ValidationError(_("请填写%(label)s。") % {"label": label})
        return None
    try:
        return date.fromisoformat(str(raw))
    except ValueError:
        raise ValidationError(
            _("%(label)s格式不对（例如 2026-10-08）。") % {"label": label}
        ) from None


def attempt_record(*, actor: Actor, case: Case, data: dict[str, Any]) -> ReturnAttempt:
    """劝返: one attempt. A form posted twice (same token) gives back the first record."""
    _check(actor, case)
    token = _token(data.get("token"))
    existing = ReturnAttempt.objects.filter(token=token).first() if token else None
    if existing is not None:
        if existing.case_id == case.pk:
            return existing
        token = None  # a form copied from another case's page: a new record, not that one
    if data.get("method") not in ReturnAttempt.Method.values:
        raise ValidationError(_("请选择劝返方式。"))
    if data.get("result") not in ReturnAttempt.Result.values:
        raise ValidationError(_("请选择劝返结果。"))
    people = str(data.get("people") or "").strip()
    if not people:
        raise ValidationError(_("请填写参与劝返的人员及电话。"))
    attempted_on = _required_date(data.get("attempted_on"), _("劝返日期"))
    next_date = _date(data.get("next_date"), _("下一步日期"), required=False)
    if attempted_on > timezone.localdate():
        raise ValidationError(_("劝返日期不能晚于今天。"))
    try:
        with transaction.atomic():
            attempt = ReturnAttempt.objects.create(
                case=case,
                attempted_on=attempted_on,
                method=data["method"],
                people=people[:300],
                met=str(data.get("met") or "")[:100],
                said=str(data.get("said") or ""),
                offered=str(data.get("offered") or ""),
                result=data["result"],
                next_step=str(data.get("next_step") or "")[:200],
                next_date=next_date,
                token=token,
                created_by=_user(actor),
            )
            _event(
                actor,
                case,
                "attempt",
                {"on": str(attempted_on), "method": attempt.method, "result": attempt.result},
            )
            log_action(actor=actor, action="case.attempt_recorded", obj=case)
            refresh_due(case)
    except IntegrityError:
        # The same token from a second request that raced the first one: it is there now.
        return ReturnAttempt.objects.get(token=token, case=case)
    return attempt


def document_record(*, actor: Actor, case: Case, data: dict[str, Any]) -> EscalationDocument:
    """A legal step. Steps go in the legal order: a document may not skip ahead of one that
    has not been issued, except that either notice (限期复学 / 责令送) serves as the second."""
    _check(actor, case)
    token = _token(data.get("token"))
    existing = EscalationDocument.objects.filter(token=token).first() if token else None
    if existing is not None:
        if existing.case_id == case.pk:
            return existing
        token = None
    kind = data.get("kind")
    if kind not in EscalationDocument.Kind.values:
        raise ValidationError(_("请选择文书类型。"))
    _check_order(case, str(kind))
    issuer = str(data.get("issuer") or "").strip()
    if not issuer:
        raise ValidationError(_("请填写发文单位。"))
    issued_on = _required_date(data.get("issued_on"), _("发文日期"))
    deadline = _date(data.get("deadline"), _("期限"), required=False)
    served_on = _date(data.get("served_on"), _("送达日期"), required=False)
    if deadline and issued_on and deadline < issued_on:
        raise ValidationError(_("期限不能早于发文日期。"))
    try:
        with transaction.atomic():
            document = EscalationDocument.objects.create(
                case=case,
                kind=kind,
                number=str(data.get("number") or "").strip()[:64],
                issuer=issuer[:100],
                issued_on=issued_on,
                deadline=deadline,
                served_on=served_on,
                outcome=str(data.get("outcome") or "")[:300],
                token=token,
                created_by=_user(actor),
            )
            _event(actor, case, "document", {"kind": kind, "number": document.number})
            log_action(actor=actor, action="case.document_recorded", obj=case, data={"kind": kind})
            refresh_due(case)
    except IntegrityError:
        return EscalationDocument.objects.get(token=token, case=case)
    return document


# Each step needs one of these issued before it.
_NEEDS: dict[str, set[str]] = {
    "return_notice": {"school_report"},
    "order_notice": {"school_report"},
    "penalty": {"return_notice", "order_notice"},
    "demand": {"penalty"},
    "court_filing": {"demand"},
    "court_outcome": {"court_filing"},
}


def _check_order(case: Case, kind: str) -> None:
    needs = _NEEDS.get(kind)
    if not needs:
        return
    issued = set(case.documents.values_list("kind", flat=True))
    if not issued & needs:
        labels = "、".join(str(EscalationDocument.Kind(k).label) for k in sorted(needs))
        raise ValidationError(
            _("请按法定顺序办理：先有“%(before)s”，再办“%(kind)s”。")
            % {"before": labels, "kind": EscalationDocument.Kind(kind).label}
        )


def attachment_add(
    *,
    actor: Actor,
    case: Case,
    upload: UploadedFile,
    attempt: ReturnAttempt | None = None,
    document: EscalationDocument | None = None,
    purpose: str = "",
) -> Attachment:
    """A photo or scan, checked by its first bytes (not its name) and its size. `purpose`
    "proof": evidence for leaving the list, named in the case's exit evidence."""
    _check(actor, case)
    if (attempt is not None and attempt.case_id != case.pk) or (
        document is not None and document.case_id != case.pk
    ):
        raise PermissionDenied
    content_type = attachments.accept(upload)
    with transaction.atomic():
        item = attachments.store(
            Attachment(case=case, attempt=attempt, document=document, purpose=purpose),
            upload,
            content_type,
            by=person(actor),
        )
        _event(actor, case, "attachment", {"name": item.name})
        log_action(actor=actor, action="case.attachment_added", obj=case)
    return item


def plan_update(*, actor: Actor, case: Case, measures: list[str], note: str, version: int) -> Case:
    """The case plan. Checked against the version the user read, like a transition."""
    _check(actor, case)
    unknown = [m for m in measures if m not in MEASURES]
    if unknown:
        raise ValidationError(_("未知的帮扶措施。"))
    note = mask_numbers(note)  # a number typed into it is kept masked
    with transaction.atomic():
        before = {"measures": case.measures, "note": case.plan_note}
        updated = Case.objects.filter(pk=case.pk, version=version).update(
            measures=list(dict.fromkeys(measures)), plan_note=note, version=F("version") + 1
        )
        if not updated:
            raise Conflict(_("这个案件刚被别人修改过，请刷新页面后再操作。"))
        _event(
            actor,
            case,
            "plan",
            {"before": before, "after": {"measures": measures, "note": note}},
        )
        log_action(actor=actor, action="case.plan_updated", obj=case)
    case.refresh_from_db()
    return case


def follow_up_record(
    *, actor: Actor, case: Case, follow_up: FollowUp, data: dict[str, Any]
) -> FollowUp:
    """Record a scheduled follow-up. Recording one already recorded changes nothing and says
    so (two people at the same visit)."""
    _check(actor, case)
    if follow_up.case_id != case.pk:
        raise PermissionDenied
    if data.get("attendance") not in FollowUp.Attendance.values:
        raise ValidationError(_("请选择出勤情况。"))
    done_on = _required_date(data.get("done_on"), _("跟踪日期"))
    if done_on > timezone.localdate():
        raise ValidationError(_("跟踪日期不能晚于今天。"))
    earliest = follow_up.due_on - timedelta(days=settings.BAOXUE_FOLLOW_UP_EARLY_DAYS)
    if done_on < earliest:
        raise ValidationError(
            _("这次跟踪应在 %(due)s 前后进行，最早 %(earliest)s 才能记录。")
            % {"due": follow_up.due_on.isoformat(), "earliest": earliest.isoformat()}
        )
    raw_days = str(data.get("absent_days") or "").strip()
    if raw_days and not raw_days.isdigit():
        raise ValidationError(_("缺勤天数须为整数。"))
    with transaction.atomic():
        updated = FollowUp.objects.filter(pk=follow_up.pk, done_on=None).update(
            done_on=done_on,
            attendance=data["attendance"],
            absent_days=int(raw_days) if raw_days else None,
            note=str(data.get("note") or ""),
            recorded_by=_user(actor),
        )
        if not updated:
            raise ValidationError(_("这次跟踪已经有人记录过了。"))
        _event(
            actor,
            case,
            "follow_up",
            {"due": str(follow_up.due_on), "done": str(done_on), "attendance": data["attendance"]},
        )
        log_action(actor=actor, action="case.follow_up_recorded", obj=case)
        refresh_due(case)
    follow_up.refresh_from_db()
    return follow_up


def case_open(*, actor: Actor, child: Child, note: str) -> Case:
    """Open a case by hand (a teacher or cadre notices a child missing). One open case per
    child: if there is one, it is returned as it is."""
    if not can_work(actor, Case(child=child)):
        raise PermissionDenied(_("您没有立案的权限。"))
    existing = Case.objects.open().filter(child=child).first()
    if existing is not None:
        return existing
    school_id = child.current_school_id or (
        Enrollment.objects.filter(child=child)
        .order_by("-is_current", "-entry_date", "-id")
        .values_list("school_id", flat=True)
        .first()
    )
    try:
        with transaction.atomic():
            case = Case.objects.create(
                child=child,
                kind=Case.Kind.TO_VERIFY,
                source="person",
                basis=mask_numbers(note.strip())[:200],
                # As the reconciliation counts it: a 脱贫户 or 监测户 household.
                key_group=child.household is not None and child.household.is_key_group,
                township_id=child.township_id,
                village_id=child.village_id,
                school_id=school_id,
                reported_by=_user(actor),
            )
            _event(actor, case, "opened", {"note": note.strip()[:200]})
            default_people([case.pk])
            log_action(actor=actor, action="case.opened", obj=case)
    except IntegrityError:
        # Another open case was made at the same moment: one per child, that one stands.
        return Case.objects.open().get(child=child)
    return case


def bulk_assign(
    *,
    actor: Actor,
    cases: list[Case],
    line: str,
    level: int,
    name: str,
    user: Any = None,
    role: str = "",
    unit: str = "",
    phone: str = "",
    replace: bool = False,
) -> dict[str, int]:
    """Name one person on many cases (e.g. the township cadre for every case of a village).
    Capped; cases that already have someone at that line and level keep them unless
    `replace`. Returns counts for the summary."""
    if not can_assign_in_bulk(actor):
        raise PermissionDenied(_("只有乡镇控辍保学办公室可以批量分配。"))
    cap = settings.BAOXUE_BULK_ASSIGN_CAP
    if len(cases) > cap:
        raise ValidationError(_("一次最多分配 %(cap)s 个案件，请先用筛选缩小范围。") % {"cap": cap})
    visible = set(
        Case.objects.visible_to(actor)
        .filter(pk__in=[c.pk for c in cases])
        .values_list("pk", flat=True)
    )
    if len(visible) != len({c.pk for c in cases}):
        raise PermissionDenied
    taken = set(
        Responsibility.objects.filter(
            case__in=cases, line=line, level=level, ended_at=None
        ).values_list("case_id", flat=True)
    )
    counts = {"assigned": 0, "kept": 0, "finished": 0}
    with transaction.atomic():
        for case in cases:
            if not case.is_open:
                counts["finished"] += 1
                continue
            if case.pk in taken and not replace:
                counts["kept"] += 1
                continue
            assign(
                actor=actor,
                case=case,
                line=line,
                level=level,
                name=name,
                user=user,
                role=role,
                unit=unit,
                phone=phone,
            )
            counts["assigned"] += 1
        log_action(actor=actor, action="case.bulk_assigned", data={"line": line, **counts})
    return counts


def _default_levels() -> list[tuple[str, int, str]]:
    out = []
    for item in settings.BAOXUE_CASE_DEFAULT_PEOPLE:
        line, level, role = item.split(":")
        out.append((line, int(level), role))
    return out


def default_people(case_ids: list[int]) -> int:
    """Name the people the settings map to roles on newly opened cases (the village's cadre,
    the school's principal, the child's class teacher, BAOXUE_CASE_DEFAULT_PEOPLE), from the
    active accounts holding those roles where each case is. A level someone already holds
    is kept. In bulk: a county's first 比对 opens thousands of cases. Returns rows written."""

    levels = _default_levels()
    if not case_ids or not levels:
        return 0
    rows: list[tuple[int, int | None, int | None, int | None, int | None, str]] = []
    for start in range(0, len(case_ids), 1000):
        rows += list(
            Case.objects.filter(pk__in=case_ids[start : start + 1000])
            .order_by()
            .values_list(
                "pk",
                "village_id",
                "school_id",
                "child__current_school_id",
                "child__current_grade",
                "child__current_class",
            )
        )
    villages = {r[1] for r in rows if r[1]}
    schools = {r[2] for r in rows if r[2]} | {r[3] for r in rows if r[3]}
    grants = (
        RoleAssignment.objects.filter(user__is_active=True)
        .filter(
            Q(role=Role.VILLAGE, region_id__in=villages)
            | Q(role__in=[Role.SCHOOL, Role.TEACHER], school_id__in=schools)
        )
        .select_related("user")
        .order_by("id")
    )
    village_of: dict[int | None, Any] = {}
    principal_of: dict[int | None, Any] = {}
    teacher_of: dict[tuple[int | None, int | None, str], Any] = {}
    for g in grants:
        if g.role == Role.VILLAGE:
            village_of.setdefault(g.region_id, g)
        elif g.role == Role.SCHOOL:
            principal_of.setdefault(g.school_id, g)
        elif g.grade is not None and g.class_name:
            teacher_of.setdefault((g.school_id, g.grade, g.class_name), g)
    taken = set(
        Responsibility.objects.filter(case_id__in=[r[0] for r in rows], ended_at=None)
        .order_by()
        .values_list("case_id", "line", "level")
    )
    people: list[Responsibility] = []
    events: list[CaseEvent] = []
    for case_id, village, school, child_school, grade, class_name in rows:
        for line, level, role in levels:
            if (case_id, line, level) in taken:
                continue
            grant = None
            if role == "village" and village:
                grant = village_of.get(village)
            elif role == "school":
                grant = principal_of.get(school or child_school or 0)
            elif role == "teacher" and child_school:
                grant = teacher_of.get((child_school, grade, class_name or ""))
            if grant is None:
                continue
            user = grant.user
            name = user.display_name or user.username
            people.append(
                Responsibility(
                    case_id=case_id,
                    line=line,
                    level=level,
                    user=user,
                    name=name[:64],
                    role=str(Role(grant.role).label)[:64],
                    unit=user.unit[:100],
                    phone=user.phone[:32],
                )
            )
            events.append(
                CaseEvent(
                    case_id=case_id,
                    kind="responsibility",
                    data={"line": line, "level": level, "name": name, "auto": True},
                )
            )
    Responsibility.objects.bulk_create(people, batch_size=1000)
    CaseEvent.objects.bulk_create(events, batch_size=1000)
    _refresh_named({p.case_id for p in people})
    end_grace(sorted({p.case_id for p in people}))
    return len(people)


def _refresh_named(case_ids: set[int]) -> None:
    """Recompute Case.both_lines_named (every required level of both lines named)."""
    required = {
        (line, level)
        for line in Responsibility.Line.values
        for level in set(settings.BAOXUE_CASE_REQUIRED_LEVELS)
    }
    ids = sorted(case_ids)
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        named: dict[int, set[tuple[str, int]]] = {}
        for case_id, line, level in (
            Responsibility.objects.filter(case_id__in=chunk, ended_at=None)
            .order_by()
            .values_list("case_id", "line", "level")
        ):
            named.setdefault(case_id, set()).add((line, level))
        full = [c for c in chunk if named.get(c, set()) >= required]
        Case.objects.filter(pk__in=chunk).exclude(pk__in=full).update(both_lines_named=False)
        Case.objects.filter(pk__in=full).update(both_lines_named=True)


def hand_over(*, actor: Actor, departing: Any, successor: Any, deactivate: bool = False) -> int:
    """A departing account's place on every open case (双线四包 levels and the cases it
    reported) goes to `successor` in one step; with `deactivate`, the account is switched off
    in the same transaction. Nothing stays named on nobody. Returns the cases handed over."""

    if not scope_for(actor).has_role(Role.TOWNSHIP_OFFICE):
        raise PermissionDenied(_("只有乡镇控辍保学办公室可以交接案件。"))
    if successor is None or not successor.is_active:
        raise ValidationError(_("请选择一个在用的接手账号。"))
    if successor.pk == departing.pk:
        raise ValidationError(_("接手账号不能是交出的账号本人。"))
    visible = Case.objects.visible_to(actor).open()
    held = list(
        Responsibility.objects.filter(user=departing, ended_at=None, case__in=visible)
        .select_related("case")
        .order_by("case_id", "line", "level")
    )
    outside = (
        Responsibility.objects.filter(user=departing, ended_at=None)
        .exclude(case__status__in=Case.FINISHED)
        .exclude(case__in=visible)
        .exists()
    )
    if outside:
        raise PermissionDenied(_("这个账号还在您管辖范围以外的案件上，请由上级办公室交接。"))
    name = successor.display_name or successor.username
    cases: set[int] = set()
    with transaction.atomic():
        for item in held:
            assign(
                actor=actor,
                case=item.case,
                line=item.line,
                level=item.level,
                name=name,
                user=successor,
                role=item.role,
                unit=successor.unit or item.unit,
                phone=successor.phone,
            )
            cases.add(item.case_id)
        reported = visible.filter(reported_by=departing)
        for case in reported:
            _event(actor, case, "handover", {"from": str(departing), "to": name})
            cases.add(case.pk)
        reported.update(reported_by=successor)
        if deactivate and departing.is_active:
            departing.is_active = False
            departing.save(update_fields=["is_active"])
        log_action(
            actor=actor,
            action="case.handed_over",
            obj=departing,
            data={"to": successor.pk, "cases": len(cases), "deactivated": deactivate},
        )
    return len(cases)


def follow_children(*, township_ids: list[int] | None = None) -> int:
    """Open cases follow their child (issue 22): a child a roster moved to another village, or
    a 学籍 to another school, takes its case along — the case's place columns (which decide
    who sees it) become the child's, the people named by default for the old place (its
    village cadre, its principal and class teacher) hand over to the new place's when it has
    accounts (BAOXUE_CASE_DEFAULT_PEOPLE), and the move is in the case's history. The place
    left keeps reading the case until someone of the new place is named on it or
    BAOXUE_CASE_MOVE_GRACE_DAYS pass (Case.previous_village/previous_school); anyone of it
    still named keeps working it. Called after an import's commit and before a 比对.
    Returns the cases moved."""

    cases = Case.objects.open()
    if township_ids is not None:
        cases = cases.filter(
            Q(township_id__in=township_ids) | Q(child__township_id__in=township_ids)
        )
    rows = list(
        cases.order_by().values_list(
            "pk",
            "village_id",
            "township_id",
            "school_id",
            "child__village_id",
            "child__township_id",
            "child__current_school_id",
            "previous_village_id",
            "previous_school_id",
            "moved_at",
        )
    )
    now = timezone.now()
    moved: list[Case] = []
    events: list[CaseEvent] = []
    old_village: dict[int, int] = {}  # case -> the village it left (when it left one)
    old_school: dict[int, int] = {}
    for pk, village, township, school, c_village, c_township, c_school, p_v, p_s, at in rows:
        new_school = c_school or school
        if (village, township, school) == (c_village, c_township, new_school):
            continue
        case = Case(
            pk=pk,
            village_id=c_village,
            township_id=c_township,
            school_id=new_school,
            previous_village_id=p_v,
            previous_school_id=p_s,
            moved_at=at,
        )
        if village and village != c_village:
            old_village[pk] = village
            case.previous_village_id, case.moved_at = village, now
        if school and school != new_school:
            old_school[pk] = school
            case.previous_school_id, case.moved_at = school, now
        # A child moved back where it was: nothing of the old place to keep.
        if case.previous_village_id == c_village:
            case.previous_village_id = None
        if case.previous_school_id == new_school:
            case.previous_school_id = None
        moved.append(case)
    if not moved:
        return 0
    region_ids = set(old_village.values()) | {c.village_id for c in moved if c.village_id}
    school_ids = set(old_school.values()) | {c.school_id for c in moved if c.school_id}
    names = dict(Region.objects.filter(pk__in=region_ids).values_list("pk", "name"))
    school_names = dict(School.objects.filter(pk__in=school_ids).values_list("pk", "name"))
    for case in moved:
        data: dict[str, str] = {}
        if case.pk in old_village:
            data |= {
                "from": names.get(old_village[case.pk], ""),
                "to": names.get(case.village_id or 0, ""),
            }
        if case.pk in old_school:
            data |= {
                "school_from": school_names.get(old_school[case.pk], ""),
                "school_to": school_names.get(case.school_id or 0, ""),
            }
        if data:
            events.append(CaseEvent(case_id=case.pk, kind="moved", data=data))
    # Who holds the default roles where: the old place's default people hand over only to a
    # place with someone to take over; without one, they stay named (and keep working it).
    grants = set(
        RoleAssignment.objects.filter(user__is_active=True)
        .filter(
            Q(role=Role.VILLAGE, region_id__in=region_ids)
            | Q(role__in=[Role.SCHOOL, Role.TEACHER], school_id__in=school_ids)
        )
        .values_list("user_id", "role", "region_id", "school_id")
    )
    village_people = {(u, r) for u, role, r, _s in grants if role == Role.VILLAGE}
    school_people = {(u, sc) for u, role, _r, sc in grants if role != Role.VILLAGE}
    staffed_villages = {r for _u, r in village_people}
    staffed_schools = {sc for _u, role, _r, sc in grants if role == Role.SCHOOL}
    new_place = {c.pk: c for c in moved}
    with transaction.atomic():
        Case.objects.bulk_update(
            moved,
            [
                "village_id",
                "township_id",
                "school_id",
                "previous_village_id",
                "previous_school_id",
                "moved_at",
            ],
            batch_size=1000,
        )
        CaseEvent.objects.bulk_create(events, batch_size=1000)
        changed = sorted(set(old_village) | set(old_school))
        ended = []
        for rid, case_id, user_id in Responsibility.objects.filter(
            case_id__in=changed, ended_at=None, user__isnull=False
        ).values_list("pk", "case_id", "user_id"):
            case = new_place[case_id]
            left_village = old_village.get(case_id)
            left_school = old_school.get(case_id)
            if (
                left_village
                and case.village_id in staffed_villages
                and (user_id, left_village) in village_people
            ) or (
                left_school
                and case.school_id in staffed_schools
                and (user_id, left_school) in school_people
            ):
                ended.append(rid)
        Responsibility.objects.filter(pk__in=ended).update(ended_at=now)
        default_people(changed)
        end_grace(changed)
        _refresh_named(set(changed))
    return len(moved)


def switched_off_warning(sender: Any, user: Any, **kwargs: Any) -> str | None:
    """An account switched off while still named on open cases: the warning for the
    administrator, with where to hand them over (accounts.signals.account_switched_off)."""
    named = (
        Responsibility.objects.filter(user=user, ended_at=None)
        .exclude(case__status__in=Case.FINISHED)
        .values("case_id")
        .distinct()
        .count()
    )
    if not named:
        return None
    return format_html(
        _(
            "{} 已停用，但还是 {} 个未结案件的责任人。请乡镇控辍保学办公室在"
            '“<a href="{}">交接案件</a>”里把这些案件交给接手的人。'
        ),
        user,
        named,
        reverse("cases:handover"),
    )
