"""What a case needs before it leaves the list (DESIGN.md §3): each way out has its proof,
checked here by the service and not only by the form, so that an inspection (督查) sampling a
case finds why the child was taken off the list, who says so and the proof.

    在外地就读   the receiving school; its 学籍号 or a scanned 就读证明; who verified it, how, when
    迁出 / 死亡  the 户籍 record (迁移证明, 户籍注销) or a scan of the certificate
    数据错误     which record was wrong and its correction
    超龄         computed from the birth date; no proof
    销号         a current local 学籍 (or an approved placement elsewhere); the latest attendance
                 report after the return shows the child attending; the intensive follow-ups
                 recorded (or the approver writes why not); an approver who neither proposed the
                 closing nor is named on the case

Every refusal names everything that is missing at once, in plain Chinese.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baoxue.accounts.actors import Actor, person
from baoxue.attendance import selectors as attendance
from baoxue.cases.models import (
    DISMISS_REASONS,
    Attachment,
    Case,
    CaseEvent,
    Placement,
    Responsibility,
)
from baoxue.core import policy
from baoxue.core.times import add_months
from baoxue.registry.models import Enrollment

# How a receiving school's enrollment was verified.
VERIFY_METHODS = {
    "xueji": gettext_lazy("全国学籍系统查询"),
    "phone": gettext_lazy("电话联系接收学校"),
    "certificate": gettext_lazy("接收学校出具就读证明"),
    "visit": gettext_lazy("上门或到校核实"),
}
# Placements that stand for a 学籍 in closing: the child is taught, with an approval.
PLACED_ELSEWHERE = (
    Placement.Kind.SPECIAL_SCHOOL,
    Placement.Kind.HOME_TEACHING,
    Placement.Kind.EXEMPT,
)


def _text(raw: dict[str, Any], key: str, limit: int = 200) -> str:
    return str(raw.get(key) or "").strip()[:limit]


def proofs(case: Case, ids: list[Any]) -> list[str]:
    """The case's proof attachments among `ids` (public ids), as strings."""
    uids = []
    for raw in ids:
        try:
            uids.append(uuid.UUID(str(raw)))
        except ValueError:
            continue
    if not uids:
        return []
    found = Attachment.objects.filter(case=case, public_id__in=uids, purpose="proof")
    return [str(u) for u in found.values_list("public_id", flat=True)]


def _refuse(missing: list[str]) -> None:
    if missing:
        raise ValidationError(_("证据不全，还缺：%(items)s。") % {"items": "；".join(missing)})


def dismissal(
    case: Case, reason: str, raw: dict[str, Any], attachments: list[Any]
) -> dict[str, Any]:
    """The checked evidence for dismissing the case for `reason`, or a ValidationError that
    names everything missing."""
    today = timezone.localdate()
    files = proofs(case, attachments)
    out: dict[str, Any] = {"reason": reason}
    missing: list[str] = []
    if reason == "enrolled_elsewhere":
        school = _text(raw, "school")
        number = _text(raw, "student_number", 40)
        verified_by = _text(raw, "verified_by", 64)
        how = _text(raw, "verified_how", 16)
        on = _day(raw.get("verified_on"))
        if not school:
            missing.append(_("接收学校名称"))
        if not number and not files:
            missing.append(_("接收学校的学籍号或就读证明扫描件（至少一项）"))
        if not verified_by:
            missing.append(_("核实人"))
        if how not in VERIFY_METHODS:
            missing.append(_("核实方式"))
        if on is None:
            missing.append(_("核实日期"))
        elif on > today:
            missing.append(_("核实日期不能晚于今天"))
        out |= {
            "school": school,
            "student_number": number,
            "verified_by": verified_by,
            "verified_how": how,
            "verified_on": on.isoformat() if on else "",
        }
    elif reason in ("moved_away", "deceased"):
        record = _text(raw, "hukou_record")
        if not record and not files:
            missing.append(
                _("户籍记录（迁移证明或户籍证明的编号、出具单位）或证明扫描件（至少一项）")
                if reason == "moved_away"
                else _("户籍注销记录或死亡证明扫描件（至少一项）")
            )
        out |= {"hukou_record": record, "moved_to": _text(raw, "moved_to")}
    elif reason == "data_error":
        wrong = _text(raw, "wrong_record")
        correction = _text(raw, "correction")
        if not wrong:
            missing.append(_("哪条记录有误"))
        if not correction:
            missing.append(_("更正后的情况"))
        out |= {"wrong_record": wrong, "correction": correction}
    elif reason == "over_age":
        birth = case.child.birth_date
        earliest, _latest = policy.compulsory_birth_range(today)
        if birth is None:
            raise ValidationError(_("这个孩子没有出生日期，不能按超龄排除；请先核实出生日期。"))
        if birth >= earliest:
            raise ValidationError(
                _("按出生日期 %(birth)s，这个孩子仍在义务教育年龄内，不能按超龄排除。")
                % {"birth": birth.isoformat()}
            )
        out["age"] = case.child.age_on(policy.cutoff_date(today))
    else:
        raise ValidationError(_("排除须选择原因。"))
    _refuse(missing)
    out["attachments"] = files
    return out


def _day(raw: Any) -> date | None:
    if isinstance(raw, date):
        return raw
    try:
        return date.fromisoformat(str(raw or ""))
    except ValueError:
        return None


def closing(case: Case) -> tuple[dict[str, Any], list[str], list[str]]:
    """What the case shows for 销号: (evidence, problems that refuse it, follow-ups missing,
    which the approver may accept by writing why)."""

    evidence: dict[str, Any] = {}
    problems: list[str] = []
    placement = case.placements.order_by("-placed_on", "-id").first()
    enrollment = (
        Enrollment.objects.filter(
            child_id=case.child_id,
            is_current=True,
            status__in=Enrollment.ACTIVE_STATUSES,
            school__is_outside_area=False,
        )
        .select_related("school")
        .first()
    )
    if enrollment is not None:
        evidence["enrollment"] = f"{enrollment.school.name} {enrollment.grade}年级"
    elif placement is not None and placement.kind in PLACED_ELSEWHERE:
        evidence["placement"] = str(Placement.Kind(placement.kind).label)
    else:
        problems.append(
            _(
                "孩子还没有本地在读学籍（学籍导入后才算数），也没有特殊教育学校、送教上门或"
                "经批准的延缓或免予入学安置"
            )
        )
    since = placement.placed_on if placement is not None else None
    latest = attendance.latest_report(case.child_id, since=since)
    if latest is not None:
        evidence["attendance"] = _("%(start)s至%(end)s 无故缺勤 %(days)s 天") % {
            "start": latest.start.isoformat(),
            "end": latest.end.isoformat(),
            "days": latest.unexcused_days,
        }
        if latest.absent:
            problems.append(
                _("最近一期考勤（%(start)s至%(end)s）显示孩子仍在缺勤")
                % {"start": latest.start.isoformat(), "end": latest.end.isoformat()}
            )
    due = intensive_not_done(case)
    done = case.follow_ups.exclude(done_on=None).count()
    evidence["follow_ups_done"] = done
    missing = (
        [
            _("集中跟踪期还有 %(n)s 次跟踪未记录（最近一次应在 %(day)s）")
            % {"n": len(due), "day": due[0].isoformat()}
        ]
        if due
        else []
    )
    return evidence, problems, missing


def intensive_not_done(case: Case) -> list[date]:
    """Due dates of the follow-ups of the intensive period (the first
    BAOXUE_FOLLOW_UP_INTENSIVE_MONTHS months after the case last entered 跟踪中) not yet
    recorded, earliest first."""
    entered = (
        CaseEvent.objects.filter(case=case, kind="transition", to_status=Case.Status.FOLLOW_UP)
        .order_by("-at", "-id")
        .values_list("at", flat=True)
        .first()
    )
    if entered is None:
        return []
    start = timezone.localtime(entered).date()
    end = add_months(start, settings.BAOXUE_FOLLOW_UP_INTENSIVE_MONTHS)
    return list(
        case.follow_ups.filter(done_on=None, due_on__gt=start, due_on__lte=end)
        .order_by("due_on")
        .values_list("due_on", flat=True)
    )


def approver_problem(case: Case, actor: Actor) -> str | None:
    """Why `actor` may not approve the closing of `case`, or None."""
    actor = person(actor)
    if actor is None:
        return _("请先登录。")
    if case.proposed_by_id is not None and case.proposed_by_id == actor.pk:
        return _("销号须由申请人以外的人批准。")
    named = Responsibility.objects.filter(case=case, user=actor, ended_at=None).exists()
    if named or (case.reported_by_id is not None and case.reported_by_id == actor.pk):
        return _("您是这个案件的责任人或报告人，销号须由没有办理这个案件的人批准。")
    return None


LABELS = {
    "school": gettext_lazy("接收学校"),
    "student_number": gettext_lazy("学籍号"),
    "verified_by": gettext_lazy("核实人"),
    "verified_how": gettext_lazy("核实方式"),
    "verified_on": gettext_lazy("核实日期"),
    "hukou_record": gettext_lazy("户籍记录"),
    "moved_to": gettext_lazy("迁往"),
    "wrong_record": gettext_lazy("有误的记录"),
    "correction": gettext_lazy("更正"),
    "age": gettext_lazy("年龄（截止日）"),
    "enrollment": gettext_lazy("学籍"),
    "placement": gettext_lazy("安置"),
    "attendance": gettext_lazy("考勤"),
    "follow_ups_done": gettext_lazy("已跟踪次数"),
    "waiver": gettext_lazy("未完成集中跟踪的原因"),
    "note": gettext_lazy("说明"),
    "approved_by": gettext_lazy("批准人"),
}


def describe(case: Case) -> list[tuple[str, str]]:
    """The case's exit evidence as (label, value) lines in words, for the reviewer's page and
    the 一人一案 file: why the child left the list, who says so, the proof."""
    ev = case.exit_evidence or {}
    items: list[tuple[str, str]] = []
    if case.dismiss_reason:
        items.append((_("排除原因"), str(DISMISS_REASONS.get(case.dismiss_reason, ""))))
    for key, label in LABELS.items():
        value = ev.get(key)
        if key == "verified_how" and value:
            value = VERIFY_METHODS.get(str(value), value)
        if value not in (None, ""):
            items.append((str(label), str(value)))
    files = len(ev.get("attachments") or [])
    if files:
        items.append((_("证明材料"), _("%(n)s 份（见附件）") % {"n": files}))
    return items
