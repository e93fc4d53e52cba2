"""An issue quotes what the registry holds of a child (its name, its birth date) only to a
user who may see that child: a file's ID number or 学籍号 can find a child anywhere in the
database, and a 残联 user sees disabled children only."""

from __future__ import annotations

from datetime import date

from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, ROSTER_HEADER, write_xlsx
from baoxue.imports.tests.test_disability_import import HEADER as DISABILITY_HEADER
from baoxue.imports.tests.test_enrollment_import import row
from baoxue.registry.models import Child
from baoxue.registry.services import student_number_columns
from baoxue.registry.tests.factories import make_id_number


def _errors(world, persona, path, source, user="office", severity="error"):
    ctx = pipeline.ImportContext(
        actor=persona(user), township=world.township, today=date(2025, 10, 1)
    )
    outcome = pipeline.run(path, SOURCES[source], ctx, commit=True)
    return [i.message for i in outcome.issues if i.severity == severity]


def test_the_disability_list_does_not_name_a_child_the_federation_may_not_see(
    world, persona, tmp_path
):
    jun = world.child("吴俊辉")  # not disabled: not the 残联's to see
    path = write_xlsx(
        tmp_path / "d.xlsx",
        [
            DISABILITY_HEADER,
            [1, "吴军", "男", jun.id_number + "52", "智力", "二级", "2016-05-02", "乌岭村",
             "", "", "", ""],
        ],
    )  # fmt: skip
    # The surname, sex and birth date bear the number out: the row is his, and the name
    # it gives is kept as a discrepancy; the warning names him only to whom may see him.
    [message] = _errors(world, persona, path, "disability", user="canlian", severity="warning")
    assert "吴俊辉" not in message and "姓名" in message
    [message] = _errors(world, persona, path, "disability", user="office", severity="warning")
    assert "吴俊辉" in message  # the township office may see him
    assert world.child("吴俊辉").has_disability


def test_the_roster_does_not_name_a_child_of_another_township(world, persona, tmp_path):
    ming = world.child("覃明")  # 安陲乡's child
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [
            ROSTER_HEADER,
            ["覃名", "男", ming.id_number, "2015-06-02", "壮族", "乌岭村", "", "", "", "", "", ""],
        ],
    )
    [error] = _errors(world, persona, path, "roster")
    warnings = _errors(world, persona, path, "roster", severity="warning")
    [warning] = [m for m in warnings if "信息不一致" in m]
    for message in (error, warning):
        assert "覃明" not in message and "2015-06-01" not in message
    assert "安陲乡" in error  # another township's child: not imported by this one
    assert "姓名" in warning and "出生日期" in warning
    assert not Child.objects.filter(name="覃名").exists()


def test_a_student_number_of_another_townships_child_is_not_named(world, persona, tmp_path):
    ming = world.child("覃明")
    other = row("韦五", make_id_number(date(2016, 2, 2), "M"))
    other[ENROLLMENT_HEADER.index("学籍号")] = "G" + ming.id_number
    # 覃明's 学籍 holds its number, as one imported from his school's export would.
    ming.enrollments.update(**student_number_columns("G" + ming.id_number))
    path = write_xlsx(tmp_path / "e.xlsx", [ENROLLMENT_HEADER, other])
    [message] = _errors(world, persona, path, "enrollment")
    assert message == "该学籍号在系统中属于另一名儿童，请核实"
    assert not Child.objects.filter(name="韦五").exists()
