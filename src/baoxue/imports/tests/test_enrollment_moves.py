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


def _run(world, persona, tmp_path, name, rows, user="office", **kw):
    path = write_xlsx(tmp_path / name, [ENROLLMENT_HEADER, *rows])
    ctx = pipeline.ImportContext(actor=persona(user), township=world.township, **kw)
    return pipeline.run(path, SOURCES["enrollment"], ctx, commit=True)


def _kinds(enrollment: Enrollment) -> list[str]:
    return sorted(
        EnrollmentEvent.objects.filter(enrollment=enrollment).values_list("kind", flat=True)
    )


def test_a_graduate_in_the_junior_schools_list_keeps_the_graduation(world, persona, tmp_path):
    number = make_id_number(date(2013, 3, 3), "M")
    _run(world, persona, tmp_path, "a.xlsx", [row("韦一", number, grade="6")])
    graduation = [row("韦一", number, grade="6", status="毕业")]
    _run(world, persona, tmp_path, "b.xlsx", graduation)
    primary = Enrollment.objects.get(child__name="韦一", school=world.school_x)
    assert primary.status == Enrollment.Status.GRADUATED
    # The junior school's list: the same 学籍号 (it stays with the child), grade 7.
    junior = _run(
        world, persona, tmp_path, "c.xlsx", [row("韦一", number, grade="7", school="2145993201")]
    )
    assert junior.count(Action.CREATE) == 1 and not junior.issues
    primary.refresh_from_db()
    assert primary.status == Enrollment.Status.GRADUATED  # not turned into a transfer out
    assert _kinds(primary) == ["enrolled", "graduation"]
    child = Child.objects.get(name="韦一")
    new = Enrollment.objects.get(child=child, school=world.school_y)
    assert (new.is_current, new.grade) == (True, 7)
    assert (child.current_school, child.current_grade) == (world.school_y, 7)
    # The primary school's graduation list again: nothing new, at either school.
    again = _run(world, persona, tmp_path, "d.xlsx", graduation)
    assert again.count(Action.CREATE) == 0
    assert Enrollment.objects.filter(child=child).count() == 2


def test_from_grade_6_to_a_junior_schools_grade_7_is_a_graduation(world, persona, tmp_path):
    number = make_id_number(date(2013, 4, 4), "F")
    _run(world, persona, tmp_path, "a.xlsx", [row("韦二", number, grade="6")])
    # The junior school's list comes before the primary school records the graduation.
    _run(world, persona, tmp_path, "b.xlsx", [row("韦二", number, grade="7", school="2145993201")])
    primary = Enrollment.objects.get(child__name="韦二", school=world.school_x)
    assert (primary.status, primary.is_current) == (Enrollment.Status.GRADUATED, False)
    assert _kinds(primary) == ["enrolled", "graduation"]
    junior = Enrollment.objects.get(child__name="韦二", school=world.school_y)
    assert _kinds(junior) == ["enrolled"]


def test_a_schools_own_list_does_not_close_another_schools_enrollment(world, persona, tmp_path):
    number = make_id_number(date(2012, 4, 4), "F")
    _run(world, persona, tmp_path, "a.xlsx", [row("韦三", number, grade="8", school="2145993201")])
    # School X's principal lists her (a pupil who moved, or a mistake): school Y's 学籍 stays.
    outcome = _run(
        world, persona, tmp_path, "b.xlsx", [row("韦三", number, grade="5")],
        user="principal_x", school=world.school_x,
    )  # fmt: skip
    assert outcome.count(Action.CREATE) == 1
    at_y = Enrollment.objects.get(child__name="韦三", school=world.school_y)
    assert (at_y.is_current, at_y.status) == (True, "01")
    assert _kinds(at_y) == ["enrolled"]
    assert Child.objects.filter(name="韦三").count() == 1


def test_a_number_of_another_child_is_not_named_to_a_schools_user(world, persona, tmp_path):
    owner = make_id_number(date(2016, 1, 1), "M")
    _run(world, persona, tmp_path, "a.xlsx", [row("韦四", owner)])
    other = row("韦五", make_id_number(date(2016, 2, 2), "M"))
    other[ENROLLMENT_HEADER.index("学籍号")] = "G" + owner  # 韦四's number, mistyped in
    as_school = _run(
        world, persona, tmp_path, "b.xlsx", [other], user="principal_x", school=world.school_x
    )
    errors = [i.message for i in as_school.issues if i.severity == "error"]
    assert errors == ["该学籍号在系统中属于另一名儿童，请核实"]
    assert not Child.objects.filter(name="韦五").exists()
    as_office = _run(world, persona, tmp_path, "c.xlsx", [other])
    errors = [i.message for i in as_office.issues if i.severity == "error"]
    assert errors == ["该学籍号在系统中属于另一名儿童（韦四），请核实"]
    assert Child.objects.get(name="韦四").enrollments.count() == 1


def test_a_conflict_quotes_the_registry_only_to_township_users(world, persona, tmp_path):
    number = make_id_number(date(2016, 5, 5), "F")
    _run(world, persona, tmp_path, "a.xlsx", [row("韦六", number, school="2145994101")])
    renamed = row("韦陆", number)  # the same ID number under another name, at school X
    renamed[ENROLLMENT_HEADER.index("学籍号")] = ""
    as_school = _run(
        world, persona, tmp_path, "b.xlsx", [renamed], user="principal_x", school=world.school_x
    )
    # The row is imported (the same surname, sex and birth date bear the number out); the
    # name the registry holds is quoted only to a user who may see the child.
    [issue] = [i for i in as_school.issues if i.code == "discrepancy"]
    assert issue.severity == "warning"
    assert "韦六" not in issue.message and "姓名" in issue.message
    as_office = _run(world, persona, tmp_path, "c.xlsx", [renamed])
    [issue] = [i for i in as_office.issues if i.code == "discrepancy"]
    assert "韦六" in issue.message
