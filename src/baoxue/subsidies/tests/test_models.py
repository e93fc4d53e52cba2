"""The seeded national programmes, the one-row-per-term invariant, and who sees which rows."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from baoxue.subsidies.models import Subsidy, SubsidyProgram, program_key

FOUR = {"吴俊辉", "龙雨欣", "伍军辉", "覃明"}
# The registry's scope matrix (registry/tests/test_scope.py) narrowed to these four.
EXPECTED = {
    "office": {"吴俊辉", "龙雨欣", "伍军辉"},
    "leader": {"吴俊辉", "龙雨欣", "伍军辉"},
    "village_a": {"吴俊辉", "龙雨欣"},
    "outsider": {"伍军辉"},
    "principal_x": {"吴俊辉", "伍军辉"},
    "teacher_x": {"吴俊辉"},
    "canlian": {"龙雨欣"},
    "county": FOUR,
    "admin": set(),
    "nobody": set(),
}


def test_national_programmes_are_seeded(db):
    programs = {
        p.code: (p.name, p.unit, p.amount_primary, p.amount_junior, p.is_in_kind)
        for p in SubsidyProgram.objects.all()
    }
    assert programs == {
        "boarding": (
            "家庭经济困难寄宿生生活补助",
            "per_year",
            Decimal("1250.00"),
            Decimal("1500.00"),
            False,
        ),
        "nutrition": (
            "农村义务教育学生营养改善计划",
            "per_school_day",
            Decimal("5.00"),
            Decimal("5.00"),
            True,
        ),
    }


def test_programme_names_and_aliases_match(db):
    nutrition = SubsidyProgram.objects.get(code="nutrition")
    assert {program_key("营养餐"), program_key("营养改善计划"), "nutrition"} <= (
        nutrition.match_keys()
    )
    boarding = SubsidyProgram.objects.get(code="boarding")
    assert {program_key("寄宿生生活补助"), program_key("生活补助")} <= boarding.match_keys()
    assert not nutrition.match_keys() & boarding.match_keys()


def test_one_row_per_child_programme_and_term(world):
    program = SubsidyProgram.objects.get(code="nutrition")
    child = world.child("吴俊辉")
    Subsidy.objects.create(child=child, program=program, term="2025秋")
    Subsidy.objects.create(child=child, program=program, term="2026春")
    with pytest.raises(IntegrityError), transaction.atomic():
        Subsidy.objects.create(child=child, program=program, term="2025秋")


@pytest.mark.parametrize(("username", "names"), sorted(EXPECTED.items()))
def test_subsidies_visible_to_each_persona(world, persona, username, names):
    program = SubsidyProgram.objects.get(code="boarding")
    for name in FOUR:
        Subsidy.objects.create(child=world.child(name), program=program, term="2025秋")
    visible = Subsidy.objects.visible_to(persona(username)).values_list("child__name", flat=True)
    assert set(visible) == names
