"""A 比对 as of a day (比对日期): the school year, the cut-off and the term come from it, the
enrollments and attendance are taken as they stood then, and a run about an earlier school
year reports without opening cases."""

from __future__ import annotations

from datetime import date

from baoxue.attendance.models import AttendanceRecord
from baoxue.cases.models import Case
from baoxue.reconcile import engine
from baoxue.reconcile.models import RunChild
from baoxue.reconcile.services import run_create, run_execute
from baoxue.registry import services as registry
from baoxue.registry.models import Enrollment, EnrollmentEvent

TODAY = date(2026, 11, 29)  # the 2026-27 school year (cut-off 2026-08-31)


def _run(persona, as_of=None):
    return run_execute(run_create(actor=persona("office"), as_of=as_of), today=TODAY)


def _category(run, name):
    return RunChild.objects.get(run=run, child__name=name).category


def test_the_cohort_is_the_as_of_days_and_an_earlier_year_only_reports(world, persona):
    # Six on 2026-08-31, not on 2025-08-31: of age this school year, not the last.
    registry.child_create(
        actor=None, name="潘小", village=world.village_a, birth_date=date(2020, 3, 1), sex="M"
    )
    last_year = _run(persona, as_of=date(2025, 10, 1))
    assert _category(last_year, "潘小") == engine.NOT_OF_AGE
    assert last_year.settings["cutoff"] == "2025-08-31"
    assert last_year.settings["as_of"] == "2025-10-01" and last_year.settings["report_only"]
    assert last_year.changes["cases_opened"] == 0 and not Case.objects.exists()
    assert _category(last_year, "石丽") == engine.TO_VERIFY  # reported all the same
    now = _run(persona)
    assert _category(now, "潘小") == engine.TO_VERIFY
    assert not now.settings["report_only"] and now.changes["cases_opened"] == 3


def test_enrollments_are_taken_as_they_stood_on_the_day(world, persona):
    """吴俊辉 was suspended on 2026-10-10 and 龙雨欣 moved to school X on 2026-11-02: as of
    2026-09-15 he was in class and she was at school Y."""
    wu = world.enrollment("吴俊辉")
    Enrollment.objects.filter(pk=wu.pk).update(status=Enrollment.Status.SUSPENDED)
    EnrollmentEvent.objects.create(enrollment=wu, kind="suspension", date=date(2026, 10, 10))
    old = world.enrollment("龙雨欣")
    Enrollment.objects.filter(pk=old.pk).update(
        status=Enrollment.Status.TRANSFERRED_OUT, is_current=False, end_date=date(2026, 11, 2)
    )
    EnrollmentEvent.objects.create(enrollment=old, kind="transfer_out", date=date(2026, 11, 2))
    new = Enrollment.objects.create(
        child=old.child, school=world.school_y, grade=8, entry_date=date(2026, 11, 2)
    )
    EnrollmentEvent.objects.create(enrollment=new, kind="transfer_in", date=date(2026, 11, 2))
    then = _run(persona, as_of=date(2026, 9, 15))
    assert _category(then, "吴俊辉") == engine.IN_SCHOOL
    assert RunChild.objects.get(run=then, child__name="龙雨欣").school_id == world.school_y.pk
    now = _run(persona)
    assert _category(now, "吴俊辉") == engine.SUSPENDED


def test_attendance_after_the_day_is_not_read(world, persona):
    wu = world.enrollment("吴俊辉")
    AttendanceRecord.objects.create(
        enrollment=wu,
        child=wu.child,
        school=wu.school,
        period_start=date(2026, 10, 1),
        period_end=date(2026, 10, 31),
        school_days=22,
        days_absent=14,
    )
    assert _category(_run(persona, as_of=date(2026, 9, 20)), "吴俊辉") == engine.IN_SCHOOL
    assert _category(_run(persona), "吴俊辉") == engine.SUSPECTED
