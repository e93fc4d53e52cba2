"""The case list's filters are the definitions of the case figures: a figure counts with
`filters_q`, links with `filters_query`, and the list reads the link back with `filters_from`."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import parse_qsl

import pytest
from django.utils import timezone

from baoxue.cases import selectors
from baoxue.cases.models import Case
from baoxue.cases.selectors import CaseFilters

DAY = date(2026, 9, 21)  # a Monday


@pytest.mark.parametrize(
    "f",
    [
        CaseFilters(),
        CaseFilters(status="all", opened_since=DAY, opened_until=DAY + timedelta(days=6)),
        CaseFilters(status="all", closed_since=DAY, closed_until=DAY + timedelta(days=6)),
        CaseFilters(status="all", open_on=DAY),
        CaseFilters(village=selectors.NONE, school=12, overdue=True, key_group=True),
        CaseFilters(status="persuading", kind="dropped_out", unassigned=True, name="吴"),
    ],
)
def test_a_figures_link_reads_back_as_its_filters(f):
    assert selectors.filters_from(dict(parse_qsl(selectors.filters_query(f)))) == f


def test_a_hand_typed_year_out_of_range_is_ignored():
    assert selectors.filters_from({"opened_until": "9999-12-31"}).opened_until is None
    assert selectors.filters_from({"open_on": "0001-01-01"}).open_on is None


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def test_week_bounds_are_local_days_and_include_the_last(world, persona):
    sunday = DAY + timedelta(days=6)
    cases = {}
    for name, opened in (
        ("吴俊辉", _at(DAY, 0, 5)),  # Monday just after midnight: this week
        ("龙雨欣", _at(sunday, 23, 50)),  # Sunday late: still this week
        ("伍军辉", _at(sunday + timedelta(days=1), 0, 1)),  # next Monday
    ):
        child = world.child(name)
        case = Case.objects.create(
            child=child, kind="to_verify", township_id=child.township_id, village=child.village
        )
        Case.objects.filter(pk=case.pk).update(opened_at=opened)
        cases[name] = case
    # 龙雨欣's case finished on the Sunday: not open at the week's end, but opened in it.
    Case.objects.filter(pk=cases["龙雨欣"].pk).update(
        status="dismissed", closed_at=_at(sunday, 23, 55)
    )
    office = persona("office")

    def names(f):
        return sorted(selectors.case_list(office, f).values_list("child__name", flat=True))

    week = {"opened_since": DAY, "opened_until": sunday}
    assert names(CaseFilters(status="all", **week)) == ["吴俊辉", "龙雨欣"]
    assert names(CaseFilters(status="all", closed_since=DAY, closed_until=sunday)) == ["龙雨欣"]
    assert names(CaseFilters(status="all", open_on=sunday)) == ["吴俊辉"]
    assert names(CaseFilters(status="all", open_on=sunday + timedelta(days=1))) == [
        "伍军辉",
        "吴俊辉",
    ]


def test_the_dashboards_week_figures_are_its_lists(world, persona):
    today = timezone.localdate()
    for n, name in enumerate(["吴俊辉", "龙雨欣", "伍军辉", "石丽"]):
        child = world.child(name)
        case = Case.objects.create(
            child=child, kind="to_verify", township_id=child.township_id, village=child.village
        )
        Case.objects.filter(pk=case.pk).update(opened_at=timezone.now() - timedelta(weeks=n * 3))
    office = persona("office")
    weeks = selectors.dashboard(office, today=today)["weeks"]
    assert sum(w["opened"] for w in weeks) == 4
    for w in weeks:
        for figure in ("opened", "finished", "open"):
            f = selectors.filters_from(dict(parse_qsl(w[f"{figure}_query"])))
            assert selectors.case_list(office, f).count() == w[figure]
