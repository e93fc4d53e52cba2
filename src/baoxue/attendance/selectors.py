"""Reads of attendance (考勤) for the apps above it: a child's latest report and whether it
shows the child still away, judged by the thresholds of core.policy (the same the 比对 uses for
名在人不在)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.db.models import QuerySet

from baoxue.attendance.models import AttendanceRecord
from baoxue.core import policy
from baoxue.registry.models import Child


@dataclass(frozen=True)
class Report:
    """One period's attendance of a child, as a person reads it."""

    start: date
    end: date
    unexcused_days: Decimal | int  # half days are counted
    absent: bool  # over the alert thresholds: still away from class


def latest_report(child_id: int, *, since: date | None = None) -> Report | None:
    """The child's latest attendance report (ending on or after `since`), or None."""
    found = AttendanceRecord.objects.filter(child_id=child_id)
    if since is not None:
        found = found.filter(period_end__gte=since)
    latest = found.order_by("-period_end", "-id").first()
    if latest is None:
        return None
    unexcused = policy.unexcused_days(latest.days_absent, latest.leave_reason)
    period_days = (latest.period_end - latest.period_start).days + 1
    absent = _over_alert(latest.longest_absence_days, unexcused, latest.school_days, period_days)
    return Report(latest.period_start, latest.period_end, unexcused, absent)


def _over_alert(
    longest: Decimal | int | None,
    unexcused: Decimal | int,
    school_days: Decimal | int | None,
    period_days: int,
) -> bool:
    """Whether a period's figures are over the alert thresholds: a run of days away without
    leave, or too many such days in a month's totals."""
    return (longest or 0) >= settings.BAOXUE_ABSENCE_ALERT_DAYS or policy.monthly_absence(
        unexcused, school_days, period_days, month_days=settings.BAOXUE_ABSENCE_ALERT_MONTH_DAYS
    )


def statistics_as_of(children: QuerySet[Child], as_of: date) -> QuerySet[AttendanceRecord, tuple]:
    """The attendance statistics of `children` as they stood on `as_of`, each child's latest
    period first, as (enrollment_id, child_id, longest_absence_days, days_leave, leave_reason,
    days_absent, school_days, period_start, period_end) — the 比对's 名在人不在 reads them for a
    county at once, by a subquery of its children."""
    return (
        AttendanceRecord.objects.filter(child__in=children)
        .filter(period_start__lte=as_of)
        .order_by("child_id", "-period_end")
        .values_list(
            "enrollment_id",
            "child_id",
            "longest_absence_days",
            "days_leave",
            "leave_reason",
            "days_absent",
            "school_days",
            "period_start",
            "period_end",
        )
    )


def children_absent(children: QuerySet[Child], as_of: date) -> list[int]:
    """The ids of `children` whose latest attendance report up to `as_of` is over the alert
    thresholds (不正常在校): the same judgement as latest_report's."""
    seen: set[int] = set()
    absent: list[int] = []
    for (
        _e,
        child_id,
        longest,
        _leave,
        reason,
        days_absent,
        school_days,
        start,
        end,
    ) in statistics_as_of(children, as_of):
        if child_id in seen:
            continue
        seen.add(child_id)
        unexcused = policy.unexcused_days(days_absent, reason)
        if _over_alert(longest, unexcused, school_days, (end - start).days + 1):
            absent.append(child_id)
    return absent
