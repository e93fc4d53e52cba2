"""Policy rules that are settings (DESIGN.md §3)."""

from __future__ import annotations

from datetime import date

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
