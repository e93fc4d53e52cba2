"""Files as offices send them, through the imports and the 比对 (what bench/reconcile_quality.py
found): a 小升初 child's ended primary 学籍, a repeated row without a number, the 学籍's
spelling in a school's attendance, a corrected number under the old 学籍号."""

from __future__ import annotations

from datetime import date

from baoxue.attendance.tests.test_import import HEADER as ATTENDANCE_HEADER
from baoxue.attendance.tests.test_import import line
from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, write_xlsx
from baoxue.imports.tests.test_enrollment_import import row
from baoxue.reconcile import engine
from baoxue.reconcile.models import RunChild
from baoxue.reconcile.services import run_create, run_execute
from baoxue.registry import services as registry
from baoxue.registry.models import Child, Enrollment
from baoxue.registry.tests.factories import make_id_number

TODAY = date(2026, 11, 29)
JUNIOR = "2145993201"


def _import(world, persona, tmp_path, source, rows, name):
    header = ATTENDANCE_HEADER if source == "attendance" else ENROLLMENT_HEADER
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township)
    ctx.complete_list = False
    path = write_xlsx(tmp_path / f"{name}.xlsx", [header, *rows])
    return pipeline.run(path, SOURCES[source], ctx, commit=True)


def _result(persona, child):
    run = run_execute(run_create(actor=persona("office")), today=TODAY)
    return RunChild.objects.get(run=run, child=child)


def _on_roster(world, name, birth, sex="F"):
    number = make_id_number(birth, sex)
    child = registry.child_create(
        actor=None, name=name, village=world.village_a, birth_date=birth, sex=sex,
        id_number=number,
    )  # fmt: skip
    return child, number


def test_a_graduates_junior_school_and_its_attendance_place_her(world, persona, tmp_path):
    yang, number = _on_roster(world, "杨晴", date(2014, 3, 22))
    _import(world, persona, tmp_path, "enrollment",
            [row("杨晴", number, grade="六年级", status="毕业")], "spring")  # fmt: skip
    _import(world, persona, tmp_path, "enrollment",
            [row("杨晴", number, school=JUNIOR, grade="七年级")], "autumn")  # fmt: skip
    current = Enrollment.objects.filter(child=yang, is_current=True)
    assert [(e.school.code, e.status) for e in current] == [(JUNIOR, "01")]
    absent = line("杨晴", number="G" + number, counts=(22, 12, "", "无故缺勤", ""))
    _import(world, persona, tmp_path, "attendance", [absent], "att")
    result = _result(persona, yang)
    assert (result.category, result.school.code) == (engine.SUSPECTED, JUNIOR)


def test_a_repeated_row_without_a_number_is_one_row(world, persona, tmp_path):
    line_ = row("龙俊睿", "", address="广西融水县培秀乡乌岭村")
    line_[ENROLLMENT_HEADER.index("出生日期")] = "2018-11-06"
    before = Child.records.count()
    outcome = _import(world, persona, tmp_path, "enrollment", [line_, list(line_)], "twice")
    assert [(i.row_number, i.code) for i in outcome.issues] == [(3, "repeat")]
    assert Child.records.count() == before + 1


def test_the_attendance_may_spell_the_name_as_the_xueji_does(world, persona, tmp_path):
    long_, number = _on_roster(world, "龙瑶", date(2013, 5, 6))
    _import(world, persona, tmp_path, "enrollment",
            [row("龙遥", number, school=JUNIOR, grade="七年级")], "xueji")  # fmt: skip
    outcome = _import(world, persona, tmp_path, "attendance",
                      [line("龙遥", id_number=number, counts=(22, 12, "", "无故缺勤", ""))],
                      "att")  # fmt: skip
    assert outcome.rejected_rows == 0 and "name_variant" in {i.code for i in outcome.issues}
    assert _result(persona, long_).category == engine.SUSPECTED


def test_a_corrected_number_under_the_old_student_number_updates_that_xueji(
    world, persona, tmp_path
):
    yang, number = _on_roster(world, "杨阳", date(2011, 11, 14), "M")
    typo = number[:17] + ("1" if number[17] != "1" else "2")  # its check character wrong
    spring = row("杨阳", typo, school=JUNIOR, grade="九年级")
    _import(world, persona, tmp_path, "enrollment", [spring], "spring")
    autumn = row("杨阳", number, school=JUNIOR, grade="九年级", status="转出")
    autumn[ENROLLMENT_HEADER.index("学籍号")] = "G" + typo
    outcome = _import(world, persona, tmp_path, "enrollment", [autumn], "autumn")
    assert outcome.rejected_rows == 0 and outcome.count("update") == 1
    result = _result(persona, yang)
    assert (result.category, result.link_method) == (engine.TO_VERIFY, engine.ID_REPAIR)
    assert result.basis == "转出但接收学校未确认"


def test_a_corrected_valid_number_under_the_old_student_number_updates_that_xueji(
    world, persona, tmp_path
):
    """Last term's 学籍 gave a valid number one digit off (a record of its own); this term's
    row gives the right number under the old 学籍号, and says 休学: one child, suspended."""
    from baoxue.core.idnumbers import check_character

    jia, number = _on_roster(world, "贾泽鑫", date(2015, 12, 6), "M")
    first = number[:15] + ("1" if number[15] != "1" else "2") + number[16]
    typo = first + check_character(first)
    _import(world, persona, tmp_path, "enrollment", [row("贾泽鑫", typo, grade="四年级")], "a")
    newer = row("贾泽鑫", number, grade="五年级", status="休学")
    newer[ENROLLMENT_HEADER.index("学籍号")] = "G" + typo
    outcome = _import(world, persona, tmp_path, "enrollment", [newer], "b")
    assert outcome.rejected_rows == 0 and outcome.count("update") == 1
    result = _result(persona, jia)
    assert (result.category, result.link_method) == (engine.SUSPENDED, engine.ID_TYPO)


def test_last_terms_record_without_a_number_is_not_a_twin(world, persona, tmp_path):
    """Spring's 学籍 wrote 阳朝天 with no ID number (a record of its own); autumn's gives
    杨朝天's number with the same spelling and 学籍号: the row is his (the earlier record is
    no other child), and the 比对 makes them one child in school."""
    yang, number = _on_roster(world, "杨朝天", date(2015, 7, 20), "M")
    spring = row("阳朝天", "", grade="五年级")
    spring[ENROLLMENT_HEADER.index("学籍号")] = "L20150720450370267"
    spring[ENROLLMENT_HEADER.index("出生日期")] = "2015-07-20"
    _import(world, persona, tmp_path, "enrollment", [spring], "spring")
    autumn = row("阳朝天", number, grade="六年级")
    autumn[ENROLLMENT_HEADER.index("学籍号")] = "L20150720450370267"
    outcome = _import(world, persona, tmp_path, "enrollment", [autumn], "autumn")
    assert "id_claimed" not in {i.code for i in outcome.issues}
    assert outcome.rejected_rows == 0 and outcome.count("update") == 1
    result = _result(persona, yang)
    assert result.category == engine.IN_SCHOOL
    assert Child.objects.filter(name__in=["杨朝天", "阳朝天"]).count() == 1
