"""Attendance invariants held by the database, the alert filter, and who sees which rows."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import IntegrityError, transaction

from baoxue.attendance.models import AttendanceRecord

ENROLLED = {"吴俊辉", "龙雨欣", "伍军辉", "覃明"}
# The registry's scope matrix (registry/tests/test_scope.py) narrowed to enrolled children.
EXPECTED = {
    "office": {"吴俊辉", "龙雨欣", "伍军辉"},
    "leader": {"吴俊辉", "龙雨欣", "伍军辉"},
    "village_a": {"吴俊辉", "龙雨欣"},
    "outsider": {"伍军辉"},
    "principal_x": {"吴俊辉", "伍军辉"},
    "teacher_x": {"吴俊辉"},
    "canlian": {"龙雨欣"},
    "county": ENROLLED,
    "admin": set(),
    "nobody": set(),
}


def record(world, name, start=date(2025, 10, 1), end=date(2025, 10, 31), **counts):
    enrollment = world.enrollment(name)
    return AttendanceRecord.objects.create(
        enrollment=enrollment,
        child=enrollment.child,
        school=enrollment.school,
        period_start=start,
        period_end=end,
        **counts,
    )


@pytest.mark.parametrize(("username", "names"), sorted(EXPECTED.items()))
def test_records_visible_to_each_persona(world, persona, username, names):
    for name in ENROLLED:
        record(world, name)
    visible = AttendanceRecord.objects.visible_to(persona(username))
    assert set(visible.values_list("child__name", flat=True)) == names


def test_one_record_per_enrollment_and_period(world):
    record(world, "吴俊辉")
    record(world, "吴俊辉", start=date(2025, 10, 1), end=date(2025, 10, 15))
    with pytest.raises(IntegrityError), transaction.atomic():
        record(world, "吴俊辉")


def test_period_must_not_end_before_it_starts(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        record(world, "吴俊辉", start=date(2025, 10, 31), end=date(2025, 10, 1))
    record(world, "吴俊辉", start=date(2025, 10, 1), end=date(2025, 10, 1))


def test_days_away_cannot_exceed_school_days(world):
    with pytest.raises(IntegrityError), transaction.atomic():
        record(world, "吴俊辉", school_days=10, days_absent=8, days_leave=3)
    record(world, "吴俊辉", school_days=None, days_absent=8, days_leave=3)


def test_absent_at_least(world):
    record(world, "吴俊辉", longest_absence_days=2)
    record(world, "龙雨欣", longest_absence_days=5)
    record(world, "伍军辉")
    alerts = AttendanceRecord.objects.absent_at_least(3)
    assert list(alerts.values_list("child__name", flat=True)) == ["龙雨欣"]
