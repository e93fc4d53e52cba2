"""名在人不在 from a month's totals (no runs of days): the monthly rule, in the engine and
through the 考勤 import and the 比对 as a school sends its report."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from baoxue.attendance.tests.test_import import HEADER, line, run
from baoxue.imports.tests.helpers import write_xlsx
from baoxue.reconcile import engine as E
from baoxue.reconcile.models import RunChild
from baoxue.reconcile.services import run_create, run_execute

SETTINGS = E.CategorySettings(
    earliest_birth=date(2010, 9, 1), latest_birth=date(2020, 8, 31), absence_days=3, month_days=10
)


def _category(attendance: E.Attendance) -> tuple[str, str]:
    facts = E.Facts(
        child=1,
        birth=date(2015, 3, 1),
        on_roster=True,
        enrollments=(E.Enrolled(school=1, local=True, status="01", grade=4, is_current=True),),
        attendance=attendance,
    )
    return E.categorize(facts, SETTINGS)


def month(absent, *, leave=0, reason="", school_days=None, days=31):
    return E.Attendance(
        0, leave, reason, days_absent=absent, school_days=school_days, period_days=days
    )


@pytest.mark.parametrize(
    ("attendance", "expected"),
    [
        (month(10), E.SUSPECTED),  # at the threshold
        (month(9), E.IN_SCHOOL),  # below it
        (month(Decimal("9.5")), E.IN_SCHOOL),
        (month(17, reason="厌学在家"), E.SUSPECTED),
        (month(15, reason="病假"), E.ON_LEAVE),  # a sick child's days are leave
        (month(12, reason="事假（家中有事）"), E.ON_LEAVE),
        (month(0, leave=15, reason="病假"), E.ON_LEAVE),
        (month(0, leave=9, reason="病假"), E.IN_SCHOOL),  # a short leave: in class
        (month(8, school_days=16), E.SUSPECTED),  # half of the school days
        (month(7, school_days=16), E.IN_SCHOOL),
        (month(10, days=92), E.IN_SCHOOL),  # a term's totals: not a month's report
        (month(46, days=92, school_days=90), E.SUSPECTED),  # but half its school days are
    ],
)
def test_the_monthly_rule_fires_at_its_threshold_and_not_below(attendance, expected):
    assert _category(attendance)[0] == expected


def test_the_basis_gives_the_numbers_and_the_reason():
    category, basis = _category(month(14, reason="外出打工", school_days=22))
    assert category == E.SUSPECTED
    assert basis == "统计期内未请假缺勤 14 天（应出勤 22 天），缺勤原因：外出打工（名在人不在）"


def test_a_schools_monthly_report_raises_it_in_the_reconciliation(world, persona, tmp_path):
    """The school's October report: 吴俊辉 absent 14 of 22 days (厌学在家), 龙雨欣 absent 12
    days with 病假 in the reason column, 伍军辉 9 days: only 吴俊辉 is suspected."""
    wu, long_, wu2 = world.child("吴俊辉"), world.child("龙雨欣"), world.child("伍军辉")
    rows = [
        HEADER,
        line("吴俊辉", number="G" + wu.id_number, counts=(22, 14, "", "厌学在家", "")),
        line("龙雨欣", id_number=long_.id_number, counts=(22, 12, "", "病假", "")),
        line("伍军辉", id_number=wu2.id_number, counts=(22, 9, "", "", "")),
    ]
    outcome = run(write_xlsx(tmp_path / "m.xlsx", rows, title="10月考勤"), world, persona)
    alerts = [(i.row_number, i.code) for i in outcome.issues if i.code == "absence_alert"]
    assert alerts == [(3, "absence_alert")]
    result = run_execute(run_create(actor=persona("office")), today=date(2025, 11, 5))
    by_name = dict(RunChild.objects.filter(run=result).values_list("child__name", "category"))
    assert by_name["吴俊辉"] == E.SUSPECTED
    assert by_name["龙雨欣"] == E.ON_LEAVE
    assert by_name["伍军辉"] == E.IN_SCHOOL
    basis = RunChild.objects.get(run=result, child=wu).basis
    assert "缺勤 14 天" in basis and "厌学在家" in basis
    assert result.settings["absence_month_days"] == 10
