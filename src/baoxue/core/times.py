"""Times as people read them: in the configured local time (settings.TIME_ZONE, Asia/Shanghai
by default). The database keeps UTC, so a ledger, a notice or an export that formats a stored
time as it comes is eight hours off, and in the evening a whole day off. Every writer goes
through here; dates (DateField) are already local and pass through unchanged."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django.utils import timezone


def local(moment: datetime) -> datetime:
    """The moment in the current time zone (TIME_ZONE unless a request activated another).
    A naive datetime is taken to be local already."""
    return timezone.localtime(moment) if timezone.is_aware(moment) else moment


def local_date(moment: datetime) -> date:
    """The local day a moment falls on."""
    return local(moment).date()


def day_text(value: datetime | date | None) -> str:
    """2026-12-07: a moment's local day, a date as it is; "" for none."""
    if value is None:
        return ""
    if isinstance(value, datetime):  # before date: a datetime is a date too
        value = local_date(value)
    return value.isoformat()


def minute_text(moment: datetime | None) -> str:
    """2026-12-07 04:30 in local time; "" for none."""
    return "" if moment is None else f"{local(moment):%Y-%m-%d %H:%M}"


def cell(value: Any) -> Any:
    """A value for a table cell: a moment as local minute_text, a date as day_text, anything
    else as it is."""
    if isinstance(value, datetime):
        return minute_text(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def add_months(day: date, months: int) -> date:
    """The same day `months` later, or the month's last day (31 January + 1: 28 or 29 February)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")
