"""考勤/请假统计: a school's absence and leave counts per student and period.

A row names a student (学籍号, else ID number and the current 学籍) and a period: a start and
an end date, or a month (2025年10月 is the whole of October). One record per student and
period, kept with the 学籍 it was first reported under: importing the same statistics again
changes nothing, even after the student moved school; a corrected row replaces what its
filled cells say (a column the file lacks, or a blank cell, keeps what is stored, except
that a blank 缺勤天数 or 请假天数 is 0).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from baoxue.attendance.models import AttendanceRecord
from baoxue.core import policy
from baoxue.core.bulk import update_objects
from baoxue.core.services import log_action
from baoxue.core.text import days_text
from baoxue.imports.pipeline import ImportContext, Progress
from baoxue.imports.sources.base import Action, Field, Planned, Record, RowIssue, flags_unsafe_text
from baoxue.imports.sources.children import id_issues
from baoxue.imports.sources.matching import (
    CHUNK,
    GRADE_FIELD,
    ID_FIELD,
    NAME_FIELD,
    NUMBER_FIELD,
    SCHOOL_CODE_FIELD,
    SCHOOL_NAME_FIELD,
    StudentIndex,
    find_student,
    identity_issues,
    name_issue,
    out_of_scope,
    repeats_in_file,
    school_named,
)
from baoxue.imports.values import CellError, clean_text, parse_date, parse_days

# Stored columns a file may set, and what a blank cell in a present column means for a new
# record. For a stored one a blank keeps what is stored, except in the two day counts, where
# a blank cell is the usual way to write 0.
BLANK_IS_ZERO = frozenset({"days_absent", "days_leave"})
COUNT_COLUMNS: dict[str, Any] = {
    "school_days": None,
    "days_absent": 0,
    "days_leave": 0,
    "leave_reason": "",
    "longest_absence_days": None,
    "notes": "",
}


def _span_days(period: tuple[date, date]) -> int:
    return (period[1] - period[0]).days + 1


def parse_month(value: object) -> tuple[date, date] | None:
    """The first and last day of the month a cell names (2025年10月, 2025-10, 202510, or a
    date cell Excel made of it). Empty → None."""
    try:
        day = parse_date(value)
    except CellError:
        raise CellError(
            _("无法识别的月份“%(value)s”，请写成 2025年10月 或 2025-10")
            % {"value": clean_text(value)}
        ) from None
    if day is None:
        return None
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


def _days(label: str) -> Any:
    def parse(value: object) -> Decimal | None:
        return parse_days(value, field_label=label)

    return parse


class AttendanceSource:
    code = "attendance"
    label = gettext_lazy("考勤/请假统计")
    fields = [
        NAME_FIELD,
        NUMBER_FIELD,
        ID_FIELD,
        SCHOOL_NAME_FIELD,
        SCHOOL_CODE_FIELD,
        GRADE_FIELD,
        Field("class_name", "班级", ("班级名称", "班号", "所在班级"), clean_text, False, "1班"),
        Field(
            "period_start",
            "统计开始日期",
            ("开始日期", "起始日期", "统计起始日期", "统计开始时间"),
            parse_date,
            False,
            "2025-10-01",
        ),
        Field(
            "period_end",
            "统计结束日期",
            ("结束日期", "截止日期", "统计截止日期", "统计结束时间"),
            parse_date,
            False,
            "2025-10-31",
        ),
        Field(
            "month",
            "月份",
            ("统计月份", "考勤月份", "年月"),
            parse_month,
            False,
            "2025年10月",
            help="不填开始、结束日期时，按整月统计",
        ),
        Field(
            "school_days",
            "应到天数",
            ("应出勤天数", "应到校天数", "教学天数", "在校天数"),
            _days("应到天数"),
            False,
            "22",
        ),
        Field(
            "days_absent",
            "缺勤天数",
            ("缺课天数", "旷课天数", "无故缺勤天数"),
            _days("缺勤天数"),
            False,
            "0",
            help="可以有半天：0.5、2.5 或 半天",
        ),
        Field(
            "days_leave",
            "请假天数",
            ("请假", "病事假天数"),
            _days("请假天数"),
            False,
            "0.5",
            help="可以有半天：0.5、2.5 或 半天",
        ),
        Field(
            "leave_reason",
            "请假原因",
            ("缺勤原因", "请假事由", "原因"),
            clean_text,
            False,
            "病假",
        ),
        Field(
            "longest_absence_days",
            "连续缺勤天数",
            ("最长连续缺勤天数", "连续缺课天数", "连续旷课天数"),
            _days("连续缺勤天数"),
            False,
            "0",
        ),
        Field("notes", "备注", ("说明",), clean_text, False, ""),
    ]

    @flags_unsafe_text
    def check(self, record: Record, ctx: ImportContext) -> list[RowIssue]:
        issues = id_issues(record, "身份证号", stored=False) + identity_issues(record)
        period = self._period(record)
        if isinstance(period, RowIssue):
            return [*issues, period]
        v = record.values
        v["period"] = period
        n = record.row_number
        start, end = period
        span = (end - start).days + 1
        school_days = v.get("school_days")
        if school_days is not None and school_days > span:
            issues.append(
                RowIssue(
                    n,
                    "应到天数",
                    "days",
                    _("应到天数 %(d)s 超过了统计期的 %(span)s 天")
                    % {"d": days_text(school_days), "span": span},
                )
            )
        away = (v.get("days_absent") or 0) + (v.get("days_leave") or 0)
        if away > span:
            issues.append(
                RowIssue(
                    n,
                    "缺勤天数",
                    "days",
                    _("缺勤天数与请假天数之和（%(away)s）超过了统计期的 %(span)s 天")
                    % {"away": days_text(away), "span": span},
                )
            )
        elif school_days is not None and away > school_days:
            issues.append(
                RowIssue(
                    n,
                    "缺勤天数",
                    "days",
                    _("缺勤天数与请假天数之和（%(away)s）超过了应到天数（%(d)s）")
                    % {"away": days_text(away), "d": days_text(school_days)},
                )
            )
        longest = v.get("longest_absence_days")
        threshold = policy.absence_alert_days()
        if longest is not None and longest >= threshold:
            issues.append(
                RowIssue(
                    n,
                    "连续缺勤天数",
                    "absence_alert",
                    _("连续缺勤 %(d)s 天，已达疑似辍学预警线（%(t)s 天），请及时核实")
                    % {"d": days_text(longest), "t": threshold},
                    "warning",
                )
            )
        elif not any(i.severity == "error" for i in issues) and self.month_alert(v, span):
            issues.append(
                RowIssue(
                    n,
                    "缺勤天数",
                    "absence_alert",
                    _(
                        "统计期内未请假缺勤 %(d)s 天，已达疑似辍学预警线（一个月 %(t)s 天，"
                        "或应到天数的一半），比对时列为疑似辍学，请及时核实"
                    )
                    % {
                        "d": days_text(
                            policy.unexcused_days(v.get("days_absent"), v.get("leave_reason", ""))
                        ),
                        "t": policy.absence_alert_month_days(),
                    },
                    "warning",
                )
            )
        return issues

    @staticmethod
    def month_alert(v: dict[str, Any], span: int) -> bool:
        """The totals of the row raise the monthly alert (core.policy.monthly_absence)."""
        unexcused = policy.unexcused_days(v.get("days_absent"), v.get("leave_reason", ""))
        return policy.monthly_absence(
            unexcused, v.get("school_days"), span, month_days=policy.absence_alert_month_days()
        )

    @staticmethod
    def _period(record: Record) -> tuple[date, date] | RowIssue:
        v = record.values
        n = record.row_number
        start, end, month = v.get("period_start"), v.get("period_end"), v.get("month")
        if start is None and end is None:
            if month is None:
                return RowIssue(
                    n,
                    "统计开始日期",
                    "period",
                    _("缺少统计期：请填写统计开始和结束日期，或填写月份"),
                )
            return month
        if start is None or end is None:
            return RowIssue(
                n,
                "统计开始日期" if start is None else "统计结束日期",
                "period",
                _("统计开始日期和结束日期要都填写"),
            )
        if start > end:
            return RowIssue(
                n,
                "统计结束日期",
                "period",
                _("统计结束日期 %(end)s 早于开始日期 %(start)s") % {"start": start, "end": end},
            )
        if end - start > timedelta(days=366):
            return RowIssue(n, "统计结束日期", "period", _("统计期超过一年，请核对日期"))
        if month is not None and not (month[0] <= start and end <= month[1]):
            return RowIssue(
                n,
                "月份",
                "period",
                _("月份（%(m)s）与统计开始、结束日期（%(start)s 至 %(end)s）不一致，请核对")
                % {"m": f"{month[0]:%Y年%m月}", "start": start, "end": end},
            )
        return start, end

    def plan(
        self, records: list[Record], ctx: ImportContext
    ) -> tuple[list[Planned], list[RowIssue]]:
        issues: list[RowIssue] = []
        index = StudentIndex(records)
        matched: list[Record] = []
        for record in records:
            v = record.values
            n = record.row_number
            school, warning = school_named(record, ctx)
            if warning is not None:
                issues.append(warning)
            found = find_student(index, record, ctx, school)
            if isinstance(found, RowIssue):
                issues.append(found)
                continue
            enrollment = found.enrollment
            problem = out_of_scope(record, ctx, found.child) or name_issue(record, found.child)
            if problem is not None and problem.severity != "error":
                issues.append(problem)  # another spelling of the name: imported
                problem = None
            if problem is None and (
                enrollment is None or (school is not None and enrollment.school_id != school.pk)
            ):
                where = school.name if school is not None else ""
                problem = RowIssue(
                    n,
                    "学籍号",
                    "no_enrollment",
                    _("系统中该学生没有在%(s)s的学籍，请先导入学籍") % {"s": where}
                    if where
                    else _("系统中该学生没有当前学籍，请先导入学籍"),
                )
            if problem is not None:
                issues.append(problem)
                continue
            v.update(child=found.child, enrollment=enrollment)
            matched.append(record)

        # One record per child and period: the same statistics imported again after the
        # student moved school find the record they wrote, not a new one at the new school.
        dropped, repeats = repeats_in_file(
            [((r.values["child"].pk, *r.values["period"]), r) for r in matched],
            meaning=lambda r: tuple(r.values.get(name) for name in COUNT_COLUMNS),
        )
        issues.extend(repeats)
        matched = [r for r in matched if r.row_number not in dropped]

        existing = self._existing(matched)
        overlapping = self._overlaps(matched, existing)
        issues += overlapping
        refused = {i.row_number for i in overlapping}
        plan: list[Planned] = []
        for record in matched:
            v = record.values
            if record.row_number in refused:
                continue
            current = existing.get((v["child"].pk, *v["period"]))
            if (
                current is not None
                and ctx.school is not None
                and current.school_id != ctx.school.pk
            ):
                issues.append(
                    RowIssue(
                        record.row_number,
                        "统计开始日期",
                        "other_school",
                        _("该学生这一统计期的考勤已由原就读学校报送，未导入"),
                    )
                )
                continue
            if current is None:
                plan.append(Planned(record, Action.CREATE))
                continue
            changes: dict[str, tuple[Any, Any]] = {}
            for name, blank in COUNT_COLUMNS.items():
                if name not in v:
                    continue  # the file has no such column: keep what is stored
                new = v[name]
                if new is None or new == "":
                    if name not in BLANK_IS_ZERO:
                        continue  # a blank reason, note or count never erases one
                    new = blank
                if getattr(current, name) != new:
                    changes[name] = (getattr(current, name), new)
            merged = {name: getattr(current, name) for name in COUNT_COLUMNS}
            merged.update({name: new for name, (_old, new) in changes.items()})
            if merged["school_days"] is not None and (
                merged["days_absent"] + merged["days_leave"] > merged["school_days"]
            ):
                # The file leaves out a column the stored record has; together they would
                # count more days away than school days.
                issues.append(
                    RowIssue(
                        record.row_number,
                        "缺勤天数",
                        "days",
                        _("与已有记录合并后，缺勤天数与请假天数之和超过了应到天数（%(d)s）")
                        % {"d": days_text(merged["school_days"])},
                    )
                )
                continue
            action = Action.UPDATE if changes else Action.UNCHANGED
            plan.append(Planned(record, action, current, changes))
        return plan, issues

    @staticmethod
    def _overlaps(
        records: list[Record], existing: dict[tuple[int, date, date], AttendanceRecord]
    ) -> list[RowIssue]:
        """Rows whose period overlaps another period of the same student (in the file, or
        stored) without being the same period: the days would be counted twice."""
        periods: dict[int, list[tuple[date, date, str]]] = {}
        for child_id, start, end in existing:
            periods.setdefault(child_id, []).append((start, end, ""))
        for r in records:
            start, end = r.values["period"]
            periods.setdefault(r.values["child"].pk, []).append((start, end, str(r.row_number)))
        issues: list[RowIssue] = []
        for r in records:
            start, end = r.values["period"]
            clash = next(
                (
                    (s, e, row)
                    for s, e, row in periods[r.values["child"].pk]
                    if (s, e) != (start, end) and s <= end and start <= e
                ),
                None,
            )
            if clash is None:
                continue
            s, e, row = clash
            issues.append(
                RowIssue(
                    r.row_number,
                    "统计开始日期",
                    "period_overlap",
                    (
                        _("统计期与第 %(row)s 行（%(s)s 至 %(e)s）重叠，天数会重复计算，未导入")
                        if row
                        else _("统计期与已导入的 %(s)s 至 %(e)s 重叠，天数会重复计算，未导入")
                    )
                    % {"row": row, "s": s, "e": e},
                )
            )
        return issues

    @staticmethod
    def _existing(records: list[Record]) -> dict[tuple[int, date, date], AttendanceRecord]:
        ids = sorted({r.values["child"].pk for r in records})
        found: dict[tuple[int, date, date], AttendanceRecord] = {}
        for start in range(0, len(ids), CHUNK):
            for a in AttendanceRecord.objects.filter(child_id__in=ids[start : start + CHUNK]):
                found[(a.child_id, a.period_start, a.period_end)] = a
        return found

    def commit(self, plan: list[Planned], ctx: ImportContext, progress: Progress) -> None:
        # The pipeline's context may carry the batch being committed; without one the rows
        # simply have no batch.
        batch_id: Any = ctx.batch_id
        created: list[AttendanceRecord] = []
        for p in plan:
            if p.action != Action.CREATE:
                continue
            v = p.record.values
            enrollment = v["enrollment"]
            counts = {
                name: blank if v.get(name) is None else v[name]
                for name, blank in COUNT_COLUMNS.items()
            }
            created.append(
                AttendanceRecord(
                    enrollment=enrollment,
                    child=v["child"],
                    school_id=enrollment.school_id,
                    period_start=v["period"][0],
                    period_end=v["period"][1],
                    source_batch_id=batch_id,
                    **counts,
                )
            )
        AttendanceRecord.objects.bulk_create(created, batch_size=1000)
        progress("commit", len(created), len(plan))
        updated: list[AttendanceRecord] = []
        now = timezone.now()
        for p in plan:
            if p.action != Action.UPDATE:
                continue
            record: AttendanceRecord = p.target
            for name, (_old, new) in p.changes.items():
                setattr(record, name, new)
            # update_objects does not run auto_now.
            record.updated_at = now
            record.source_batch_id = batch_id or record.source_batch_id
            updated.append(record)
        update_objects(updated, [*COUNT_COLUMNS, "updated_at", "source_batch_id"])
        log_action(
            actor=ctx.actor,
            action="import.attendance_committed",
            obj=ctx.township,
            data={
                "created": len(created),
                "updated": len(updated),
                "unchanged": sum(1 for p in plan if p.action == Action.UNCHANGED),
                "alerts": sum(
                    1
                    for p in plan
                    if (p.record.values.get("longest_absence_days") or 0)
                    >= policy.absence_alert_days()
                    or self.month_alert(p.record.values, _span_days(p.record.values["period"]))
                ),
            },
        )
        progress("commit", len(plan), len(plan))
