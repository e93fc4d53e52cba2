"""A child found by ID number at another school, in a file without its 学籍号: a move (转出
there, 转入 here), found through the child's current enrollment rather than the number."""

from __future__ import annotations

from datetime import date

from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import Action
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, write_xlsx
from baoxue.imports.tests.test_enrollment_import import row
from baoxue.registry.models import Child, Enrollment, EnrollmentEvent
from baoxue.registry.tests.factories import make_id_number


def test_a_move_found_through_the_current_enrollment(world, persona, tmp_path):
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township)
    number = make_id_number(date(2016, 6, 6), "F")
    stays = make_id_number(date(2016, 6, 7), "F")
    first = write_xlsx(
        tmp_path / "a.xlsx", [ENROLLMENT_HEADER, row("潘一", number), row("潘二", stays)]
    )
    pipeline.run(first, SOURCES["enrollment"], ctx, commit=True)
    moved = row("潘一", number, school="2145994101")  # now at 安陲乡中心小学
    moved[ENROLLMENT_HEADER.index("学籍号")] = ""  # that school's file has no 学籍号
    newer = write_xlsx(tmp_path / "b.xlsx", [ENROLLMENT_HEADER, moved, row("潘二", stays)])
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township)
    outcome = pipeline.run(newer, SOURCES["enrollment"], ctx, commit=True)
    assert (outcome.count(Action.UPDATE), outcome.count(Action.UNCHANGED)) == (1, 1)
    child = Child.objects.get(name="潘一")
    assert child.current_school == world.school_z
    assert Enrollment.objects.filter(child=child, is_current=True).count() == 1
    kinds = set(
        EnrollmentEvent.objects.filter(enrollment__child=child).values_list("kind", flat=True)
    )
    assert {"transfer_out", "transfer_in"} <= kinds
