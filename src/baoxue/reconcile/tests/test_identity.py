"""Identity rules of the 比对 over the registry: two valid numbers one typo apart, and a
record that only claims another child's number (what the imports leave for a person)."""

from __future__ import annotations

from datetime import date

from baoxue.core.idnumbers import check_character
from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, write_xlsx
from baoxue.imports.tests.test_enrollment_import import row
from baoxue.reconcile import engine
from baoxue.reconcile.models import MatchReview, RunChild
from baoxue.reconcile.tests.test_services import TODAY, _run
from baoxue.registry import services as registry
from baoxue.registry.models import Child
from baoxue.registry.tests.factories import make_id_number


def _import(world, persona, tmp_path, rows):
    path = write_xlsx(tmp_path / "x.xlsx", [ENROLLMENT_HEADER, *rows])
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township)
    ctx.complete_list = False
    return pipeline.run(path, SOURCES["enrollment"], ctx, commit=True)


def test_a_valid_number_one_digit_off_joins_the_roster_child(world, persona, tmp_path):
    """潘明 is on the roster with no school; his school's 学籍 gives his number with one
    digit wrong (its check character valid for the wrong digits): one child, in school."""
    number = make_id_number(date(2015, 4, 1), "M")
    pan = registry.child_create(
        actor=None,
        name="潘明",
        village=world.village_a,
        birth_date=date(2015, 4, 1),
        sex="M",
        id_number=number,
    )
    first = number[:15] + ("1" if number[15] != "1" else "2") + number[16]
    typo = first + check_character(first)
    _import(world, persona, tmp_path, [row("潘明", typo)])
    assert Child.objects.filter(name="潘明").count() == 2  # the import cannot know
    run = _run(persona)
    result = RunChild.objects.get(run=run, child=pan)
    assert (result.category, result.link_method) == (engine.IN_SCHOOL, engine.ID_TYPO)
    assert run.links[engine.ID_TYPO] == 1
    # One child now; the same 学籍 again finds him by the typed number (no record anew).
    assert Child.objects.filter(name="潘明").count() == 1
    again = _import(world, persona, tmp_path, [row("潘明", typo)])
    assert [p.action for p in again.plan] == ["unchanged"]
    assert Child.objects.filter(name="潘明").count() == 1
    # A child whose number is further off is another child: two records, both counted.
    other = make_id_number(date(2015, 4, 1), "M")
    registry.child_create(
        actor=None, name="潘亮", village=world.village_a, birth_date=date(2015, 4, 1),
        sex="M", id_number=other,
    )  # fmt: skip
    run = _run(persona)
    assert RunChild.objects.get(run=run, child__name="潘亮").category == engine.TO_VERIFY


def test_a_claimed_number_waits_in_the_review_queue(world, persona, tmp_path):
    jun = world.child("吴俊辉")
    line = row("黄明", jun.id_number)
    line[ENROLLMENT_HEADER.index("学籍号")] = ""  # found by its ID number only
    _import(world, persona, tmp_path, [line])
    claimant = Child.objects.get(name="黄明")
    assert claimant.id_status == Child.IdStatus.CLAIMED
    run = _run(persona)
    review = MatchReview.objects.get(right=claimant)
    assert (review.left, review.method, review.status) == (jun, engine.ID_CLAIM, "pending")
    # Both stay counted: the registered child in school, the claimant on its own record.
    assert RunChild.objects.filter(run=run, child__in=[jun, claimant]).count() == 2
    assert TODAY  # the run's date (test_services' runs are on it)
