"""The case workflow: explicit states, the allowed transitions in one table, one service per
transition (all through `transition`), optimistic version checks, and a history row for each.

    suspected → verifying → dismissed (with a reason) | confirmed (kind, month it began, reasons)
    confirmed → persuading → placed → follow_up → closed
    closed / dismissed → suspected (reopened: the child dropped out again; the history stays)

双线四包: a case leaves "confirmed" only with a named person on both lines.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baoxue.cases.models import Case, CaseEvent, Placement, Responsibility
from baoxue.core.services import log_action

S = Case.Status
TRANSITIONS: dict[str, set[str]] = {
    S.SUSPECTED: {S.VERIFYING, S.DISMISSED, S.CONFIRMED},
    S.VERIFYING: {S.DISMISSED, S.CONFIRMED},
    S.CONFIRMED: {S.PERSUADING, S.PLACED},
    S.PERSUADING: {S.PLACED},
    S.PLACED: {S.FOLLOW_UP, S.PERSUADING},  # back to persuading when a placement fails
    S.FOLLOW_UP: {S.CLOSED, S.PERSUADING},
    S.CLOSED: {S.SUSPECTED},
    S.DISMISSED: {S.SUSPECTED},
}
DISMISS_REASONS = {
    "enrolled_elsewhere": gettext_lazy("在外地就读（有证明）"),
    "moved_away": gettext_lazy("已迁出"),
    "deceased": gettext_lazy("已死亡"),
    "data_error": gettext_lazy("数据错误"),
    "over_age": gettext_lazy("超出义务教育年龄"),
}
DROPOUT_REASONS = {
    "learning": gettext_lazy("学习困难"),
    "work": gettext_lazy("外出务工"),
    "marriage": gettext_lazy("早婚"),
    "illness": gettext_lazy("疾病"),
    "disability": gettext_lazy("残疾"),
    "family": gettext_lazy("家庭原因"),
    "distance": gettext_lazy("上学路远"),
    "other": gettext_lazy("其他"),
}


class Conflict(ValidationError):
    """Someone else changed the case since it was read."""


def _both_lines(case: Case) -> bool:
    lines = set(
        case.responsibilities.filter(ended_at=None).values_list("line", flat=True).distinct()
    )
    return lines >= {Responsibility.Line.GOVERNMENT, Responsibility.Line.EDUCATION}


def transition(
    *, actor: Any, case: Case, to: str, version: int, data: dict[str, Any] | None = None
) -> Case:
    """Move the case to `to`. Refused with a message (and nothing changed) when the move is
    not allowed, the 双线四包 gate is not met, the data are incomplete, or the case changed
    since the user read it (`version`)."""
    data = dict(data or {})
    if to not in TRANSITIONS.get(case.status, set()):
        raise ValidationError(
            _("案件不能从“%(a)s”改为“%(b)s”。")
            % {"a": Case.Status(case.status).label, "b": Case.Status(to).label}
        )
    if to == S.DISMISSED and data.get("reason") not in DISMISS_REASONS:
        raise ValidationError(_("排除须选择原因。"))
    if to == S.CONFIRMED:
        reasons = data.get("reasons") or []
        if not reasons or any(r not in DROPOUT_REASONS for r in reasons):
            raise ValidationError(_("确认辍学须选择原因（可多选）。"))
        if data.get("kind") not in {Case.Kind.NEVER_ENROLLED, Case.Kind.DROPPED_OUT}:
            raise ValidationError(_("请选择失学或辍学。"))
    placement = _placement(data.get("placement")) if to == S.PLACED else None
    if case.status == S.CONFIRMED and not _both_lines(case):
        raise ValidationError(_("请先落实双线包保责任人（政府线和教育线各至少一人）。"))
    with transaction.atomic():
        before = case.status
        changes: dict[str, Any] = {"status": to, "version": F("version") + 1}
        if to == S.CONFIRMED:
            changes["kind"] = data["kind"]
        if to in Case.FINISHED:
            changes["closed_at"] = timezone.now()
        elif before in Case.FINISHED:
            changes["closed_at"] = None
        updated = Case.objects.filter(pk=case.pk, version=version, status=before).update(**changes)
        if not updated:
            raise Conflict(_("这个案件刚被别人修改过，请刷新页面后再操作。"))
        if placement is not None:
            Placement.objects.create(
                case=case,
                created_by=actor if getattr(actor, "is_authenticated", False) else None,
                **placement,
            )
        CaseEvent.objects.create(
            case=case,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            kind="transition",
            from_status=before,
            to_status=to,
            data=data,
        )
        log_action(
            actor=actor,
            action="case.transition",
            obj=case,
            data={"from": before, "to": to, **data},
        )
    case.refresh_from_db()
    return case


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
    actor: Any,
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
    if line not in Responsibility.Line.values or not 1 <= level <= 4:
        raise ValidationError(_("请选择线和层级。"))
    if not name.strip():
        raise ValidationError(_("请填写责任人姓名。"))
    with transaction.atomic():
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
        CaseEvent.objects.create(
            case=case,
            actor=actor if getattr(actor, "is_authenticated", False) else None,
            kind="responsibility",
            data={"line": line, "level": level, "name": item.name, "replaces": ended},
        )
        log_action(actor=actor, action="case.assigned", obj=case, data={"line": line})
    return item
