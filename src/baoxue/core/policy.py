"""Policy rules that are settings (DESIGN.md §3)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.conf import settings


def cutoff_date(today: date | None = None) -> date:
    """The entry cut-off date of the current school year (31 August by default).

    The autumn term starts the school year, so until the cut-off the year that began last
    autumn is still the current one.
    """
    today = today or date.today()
    month, day = settings.BAOXUE_AGE_CUTOFF_MONTH, settings.BAOXUE_AGE_CUTOFF_DAY
    this_year = date(today.year, month, day)
    return this_year if today > this_year else date(today.year - 1, month, day)


def _years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def compulsory_birth_range(today: date | None = None) -> tuple[date, date]:
    """(earliest, latest) birth dates, inclusive, of children of compulsory age (6–15 on the
    cut-off date)."""
    cutoff = cutoff_date(today)
    latest = _years_before(cutoff, settings.BAOXUE_COMPULSORY_MIN_AGE)
    earliest = date.fromordinal(
        _years_before(cutoff, settings.BAOXUE_COMPULSORY_MAX_AGE + 1).toordinal() + 1
    )
    return earliest, latest


# --- attendance ---------------------------------------------------------------------------------
# A 缺勤原因 that makes the days absent leave, not absence (a report with no 请假天数 column
# writes a sick child's days as 缺勤天数 with 病假 beside them).
LEAVE_WORDS = ("病假", "事假", "请假", "住院", "生病", "丧假", "公假")
# The longest period read as a month's report for the monthly rule (a term's totals are not).
MONTH_PERIOD_DAYS = 31


def absence_alert_days() -> int:
    """Consecutive school days absent without leave at which a child is flagged (a province
    setting, DESIGN.md §3; 3 days is the common rule for a school's report upward)."""
    return int(settings.BAOXUE_ABSENCE_ALERT_DAYS)


def absence_alert_month_days() -> int:
    """Days absent without leave in a month's report at which a child is flagged."""
    return int(settings.BAOXUE_ABSENCE_ALERT_MONTH_DAYS)


def unexcused_days(days_absent: Decimal | int | None, reason: str) -> Decimal | int:
    """The days absent without leave in a period's totals."""
    if any(word in reason for word in LEAVE_WORDS):
        return 0
    return days_absent or 0


def monthly_absence(
    unexcused: Decimal | int,
    school_days: Decimal | int | None,
    period_days: int,
    *,
    month_days: int,
) -> bool:
    """A suspected dropout by a period's totals (名在人不在): at least `month_days` days
    absent without leave in a month's report, or at least half of the period's school days
    when the report gives them (either rule)."""
    if not unexcused:
        return False
    if school_days and unexcused * 2 >= school_days:
        return True
    return 0 < period_days <= MONTH_PERIOD_DAYS and unexcused >= month_days


# --- terms --------------------------------------------------------------------------------------


def term_start(day: date) -> date:
    """The first day of the term `day` falls in: the day after the last term end
    (BAOXUE_TERM_ENDS, 01-31 and 07-15 by default) before it. The summer belongs to the
    autumn term: a school's new list is often sent in August."""
    ends = []
    for item in settings.BAOXUE_TERM_ENDS:
        month, dom = (int(p) for p in item.split("-"))
        for year in (day.year - 1, day.year):
            ends.append(date(year, month, dom))
    last = max(e for e in ends if e < day)
    return date.fromordinal(last.toordinal() + 1)


def term_label(day: date) -> str:
    """The term as people name it: 2026秋 (autumn, from the summer) or 2027春."""
    start = term_start(day)
    return f"{start.year}秋" if start.month >= 6 else f"{start.year}春"
