"""The 学籍 import: new students, a newer export's changes as 学籍异动, scope, idempotence."""

from __future__ import annotations

from datetime import date

import pytest

from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import Action
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, write_xlsx
from baoxue.registry.models import Child, Discrepancy, Enrollment, EnrollmentEvent, School
from baoxue.registry.tests.factories import make_id_number

SOURCE = SOURCES["enrollment"]


def ctx_for(world, persona, username="office", **kw):
    return pipeline.ImportContext(actor=persona(username), township=world.township, **kw)


@pytest.fixture
def ids():
    return [make_id_number(date(2016, 3, d), "M") for d in range(1, 5)]


def row(
    name,
    id_number,
    *,
    school="2145993101",
    grade="三年级",
    cls="1班",
    status="在读",
    boarding="走读",
    address="广西融水县培秀乡乌岭村上寨屯",
):
    birth = f"{id_number[6:10]}-{id_number[10:12]}-{id_number[12:14]}"
    return [
        name,
        "男",
        id_number,
        "G" + id_number,
        birth,
        school,
        "",
        grade,
        cls,
        "2023.09",
        status,
        boarding,
        address,
    ]


def test_new_students_enrolled_and_placed(world, persona, tmp_path, ids):
    path = write_xlsx(
        tmp_path / "x.xlsx",
        [
            ENROLLMENT_HEADER,
            row("石一", ids[0]),
            row(
                "石二",
                ids[1],
                grade="初二",
                school="2145993201",
                boarding="住校",
                address="培秀乡高岜村归别屯",
            ),
        ],
        title="学生名册",
    )
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.CREATE) == 2 and not outcome.issues
    one = Child.objects.get(name="石一")
    assert (one.village, one.group.name) == (world.village_a, "上寨屯")
    assert (one.current_school, one.current_grade, one.school_status) == (
        world.school_x,
        3,
        "in_school",
    )
    enrollment = Enrollment.objects.get(child=one)
    assert enrollment.student_number == "G" + ids[0]
    assert enrollment.entry_date == date(2023, 9, 1)
    two = Child.objects.get(name="石二")
    assert (two.village, two.current_grade) == (world.village_b, 8)
    assert Enrollment.objects.get(child=two).is_boarding


def test_existing_child_gets_the_enrollment_not_a_twin(world, persona, tmp_path):
    child = world.child("石丽")  # registered, never enrolled, no ID number
    path = write_xlsx(
        tmp_path / "y.xlsx",
        [
            ENROLLMENT_HEADER,
            [
                "石丽",
                "女",
                "",
                "",
                "2013-02-02",
                "2145993201",
                "",
                "7",
                "1班",
                "",
                "在读",
                "",
                "高岜村",
            ],
        ],
    )
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.CREATE) == 1
    assert Child.objects.filter(name="石丽").count() == 1
    child.refresh_from_db()
    assert child.current_school == world.school_y


@pytest.mark.parametrize("with_number", [False, True])
def test_a_registered_child_without_an_id_number_gets_the_one_in_the_xueji(
    world, persona, tmp_path, with_number
):
    """石丽 is registered without an ID number; her 学籍 has one. She is enrolled (no twin)
    and the registry keeps the number; the next export finds her by it and changes nothing."""
    li = world.child("石丽")
    number = make_id_number(date(2013, 2, 2), "F")
    cells = row("石丽", number, school="2145993201", grade="七年级", address="培秀乡高岜村")
    cells[1] = "女"
    if not with_number:
        cells[3] = ""  # no 学籍号 either: found by name, birth date and village
    path = write_xlsx(tmp_path / "y.xlsx", [ENROLLMENT_HEADER, cells])
    before = Child.objects.count()
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert [(p.action, p.changes) for p in outcome.plan] == [
        (Action.CREATE, {"id_number": ("", number)})
    ]
    assert Child.objects.count() == before
    li.refresh_from_db()
    assert (li.id_number, li.id_status, li.current_school) == (number, "valid", world.school_y)
    again = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert [p.action for p in again.plan] == [Action.UNCHANGED]


def found_twice(world, persona, tmp_path, *, second_school, second_grade):
    """石丽, enrolled without an ID number under a 学籍号, then a file in which one row finds
    her by that 学籍号 (its name misspelt) and another by her name, with two ID numbers."""
    n1, n2 = make_id_number(date(2013, 2, 2), "F"), make_id_number(date(2013, 2, 2), "F")
    first = row("石丽", "", school="2145993201", grade="七年级", address="培秀乡高岜村")
    first[1], first[3], first[4] = "女", "G" + n1, "2013-02-02"
    pipeline.run(
        write_xlsx(tmp_path / "a.xlsx", [ENROLLMENT_HEADER, first]),
        SOURCE,
        ctx_for(world, persona),
        commit=True,
    )
    by_number = row("石莉", n1, school="2145993201", grade="七年级", address="培秀乡高岜村")
    by_number[1] = "女"
    by_name = row("石丽", n2, school=second_school, grade=second_grade, address="培秀乡高岜村")
    by_name[1], by_name[3] = "女", ""
    return pipeline.run(
        write_xlsx(tmp_path / "b.xlsx", [ENROLLMENT_HEADER, by_number, by_name]),
        SOURCE,
        ctx_for(world, persona),
        commit=True,
    )


def test_one_student_found_twice_by_one_file_keeps_the_fuller_row(world, persona, tmp_path):
    """Both rows at one school, with different ID numbers: the row with the 学籍号 is
    imported, the other set aside with a warning that says what differs; neither number is
    written, and the misspelt name is kept as a discrepancy."""
    outcome = found_twice(
        world, persona, tmp_path, second_school="2145993201", second_grade="七年级"
    )
    issues = [(i.row_number, i.code, i.severity) for i in outcome.issues]
    assert (3, "same_student", "warning") in issues
    assert not [i for i in issues if i[2] == "error"]
    message = next(i.message for i in outcome.issues if i.code == "same_student")
    assert "第 2 行" in message and "身份证件号" in message
    assert [p.record.row_number for p in outcome.plan] == [2]
    li = world.child("石丽")
    assert (li.id_number, li.id_status) == ("", "empty")
    found = Discrepancy.objects.get(child=li)
    assert (found.item, found.source, found.value, found.registry_value) == (
        "name",
        "enrollment",
        "石莉",
        "石丽",
    )


def test_two_schools_giving_one_child_two_numbers_give_neither(world, persona, tmp_path):
    """The rows at two schools: both are imported, the number is left alone."""
    outcome = found_twice(
        world, persona, tmp_path, second_school="2145993101", second_grade="六年级"
    )
    assert [(i.row_number, i.code) for i in outcome.issues] == [
        (2, "numbers_differ"),
        (3, "numbers_differ"),
    ]
    assert all("id_number" not in p.changes for p in outcome.plan)
    assert world.child("石丽").id_number == ""


def test_reimport_is_unchanged_and_a_newer_export_records_events(world, persona, tmp_path, ids):
    first = write_xlsx(
        tmp_path / "a.xlsx",
        [ENROLLMENT_HEADER, row("石一", ids[0]), row("石二", ids[1]), row("石三", ids[2])],
    )
    pipeline.run(first, SOURCE, ctx_for(world, persona), commit=True)
    events = EnrollmentEvent.objects.count()
    again = pipeline.run(first, SOURCE, ctx_for(world, persona), commit=True)
    assert again.count(Action.UNCHANGED) == 3
    assert EnrollmentEvent.objects.count() == events

    newer = write_xlsx(
        tmp_path / "b.xlsx",
        [
            ENROLLMENT_HEADER,
            row("石一", ids[0], status="休学"),
            row("石二", ids[1], grade="4", cls="2班"),
            row("石三", ids[2], school="2145994101"),  # now at 安陲乡中心小学
        ],
    )
    outcome = pipeline.run(newer, SOURCE, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.UPDATE) == 3
    one = Child.objects.get(name="石一")
    assert one.school_status == "suspended"
    assert EnrollmentEvent.objects.filter(enrollment__child=one, kind="suspension").exists()
    two = Enrollment.objects.get(child__name="石二", is_current=True)
    assert (two.grade, two.class_name) == (4, "2班")
    three = Child.objects.get(name="石三")
    assert three.current_school == world.school_z
    kinds = set(
        EnrollmentEvent.objects.filter(enrollment__child=three).values_list("kind", flat=True)
    )
    assert {"transfer_out", "transfer_in"} <= kinds


def test_school_user_imports_only_their_school(world, persona, tmp_path, ids):
    path = write_xlsx(
        tmp_path / "s.xlsx",
        [
            ENROLLMENT_HEADER,
            row("石一", ids[0]),
            row("石二", ids[1], school="2145993201", grade="7"),
        ],
    )
    ctx = ctx_for(world, persona, "principal_x", school=world.school_x)
    outcome = pipeline.run(path, SOURCE, ctx, commit=True)
    assert [p.record.values["name"] for p in outcome.plan] == ["石一"]
    assert outcome.issues[0].message == (
        "该行是 培秀苗族乡民族中学 的学生，不是本校（培秀苗族乡中心小学）的，未导入"
    )
    assert not Child.objects.filter(name="石二").exists()


def test_a_school_users_own_list_with_its_name_spelled_otherwise_says_how_to_fix_it(
    world, persona, tmp_path, ids
):
    """No 学校标识码 column and the school's name written its everyday way: every row is
    refused (not guessed to be this school's), and the message says what to change."""
    header = [h for h in ENROLLMENT_HEADER if h != "学校标识码"]
    cells = row("石一", ids[0])
    del cells[ENROLLMENT_HEADER.index("学校标识码")]
    cells[header.index("学校名称")] = "培秀乡中心小学"
    path = write_xlsx(tmp_path / "s.xlsx", [header, cells])
    ctx = ctx_for(world, persona, "principal_x", school=world.school_x)
    outcome = pipeline.run(path, SOURCE, ctx, commit=True)
    [issue] = outcome.issues
    assert (issue.column, issue.code) == ("学校名称", "scope")
    assert issue.message == (
        "学校名称“培秀乡中心小学”与本校在系统中的名称“培秀苗族乡中心小学”不一致，未导入。"
        "如果这是本校的名册，请把学校名称改为“培秀苗族乡中心小学”，或填写学校标识码 2145993101"
        "后重新导入"
    )
    # A code that is not this school's says so too.
    cells = row("石一", ids[0], school="2145990000")
    outcome = pipeline.run(
        write_xlsx(tmp_path / "c.xlsx", [ENROLLMENT_HEADER, cells]), SOURCE, ctx, commit=True
    )
    assert outcome.issues[0].message == (
        "学校标识码“2145990000”不是本校（培秀苗族乡中心小学）的标识码（2145993101），未导入"
    )


def test_a_school_users_file_naming_an_unknown_school_creates_none(world, persona, tmp_path, ids):
    other = row("石二", ids[1], school="")
    other[6] = "不存在小学"
    path = write_xlsx(tmp_path / "s.xlsx", [ENROLLMENT_HEADER, row("石一", ids[0]), other])
    schools = School.objects.count()
    ctx = ctx_for(world, persona, "principal_x", school=world.school_x)
    outcome = pipeline.run(path, SOURCE, ctx, commit=True)
    assert "与本校在系统中的名称" in outcome.issues[0].message
    assert ctx.schools.proposals() == []  # the preview proposes nothing either
    assert School.objects.count() == schools
    assert not School.objects.filter(name="不存在小学").exists()


def test_a_school_named_only_by_rejected_rows_is_not_proposed(world, persona, tmp_path, ids):
    first = write_xlsx(tmp_path / "a.xlsx", [ENROLLMENT_HEADER, row("石甲", ids[0])])
    pipeline.run(first, SOURCE, ctx_for(world, persona), commit=True)
    # 石甲's 学籍号 with another child's new ID number: rejected by the plan, after its
    # school was read.
    line = row("石不同", ids[1], school="")
    line[3] = "G" + ids[0]
    line[6] = "培秀苗族乡江口教学点"
    path = write_xlsx(tmp_path / "b.xlsx", [ENROLLMENT_HEADER, line])
    ctx = ctx_for(world, persona)
    outcome = pipeline.run(path, SOURCE, ctx, commit=True)
    assert [i.code for i in outcome.issues if i.severity == "error"] == ["number_other_child"]
    assert ctx.schools.proposals() == []
    assert not School.objects.filter(name="培秀苗族乡江口教学点").exists()


def test_a_row_without_id_number_or_village_is_the_same_child_next_time(world, persona, tmp_path):
    line = row("石无号", "450225201603019999", address="")
    line[2] = line[3] = ""  # neither an ID number nor a 学籍号; no address either
    line[4] = "2016-03-01"
    path = write_xlsx(tmp_path / "n.xlsx", [ENROLLMENT_HEADER, line])
    first = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert first.count(Action.CREATE) == 1
    child = Child.objects.get(name="石无号")
    assert child.village.name == "（村未注明）"
    line[8] = "2班"  # a newer export (not the same row again, which is skipped unparsed)
    newer = write_xlsx(tmp_path / "m.xlsx", [ENROLLMENT_HEADER, line])
    again = pipeline.run(newer, SOURCE, ctx_for(world, persona), commit=True)
    assert again.count(Action.CREATE) == 0 and again.count(Action.UPDATE) == 1
    assert Child.objects.filter(name="石无号").count() == 1
    assert Enrollment.objects.get(child=child).class_name == "2班"


def test_grade_the_school_does_not_have(world, persona, tmp_path, ids):
    path = write_xlsx(tmp_path / "g.xlsx", [ENROLLMENT_HEADER, row("石一", ids[0], grade="8")])
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert outcome.rejected_rows == 1 and "没有 8 年级" in outcome.issues[0].message


def test_unknown_school_is_proposed_and_created(world, persona, tmp_path, ids):
    line = row("石一", ids[0], school="")
    line[6] = "培秀苗族乡江口教学点"
    line[7] = "1"
    path = write_xlsx(tmp_path / "u.xlsx", [ENROLLMENT_HEADER, line])
    ctx = ctx_for(world, persona)
    pipeline.run(path, SOURCE, ctx, commit=False)
    assert ctx.schools.proposals() == ["培秀苗族乡江口教学点"]
    pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    school = School.objects.get(name="培秀苗族乡江口教学点")
    assert school.kind == "teaching_point" and school.township == world.township


def test_a_student_number_stored_as_a_number_is_refused_not_garbled(world, persona, tmp_path, ids):
    """Excel keeps 15 significant digits of a number: a 19-character 学籍号 typed into a number
    cell has already lost its last digits, which no import can give back."""
    digits, other = [n for n in ids if n[-1] != "X"][:2]
    lost = row("韦一", digits)
    lost[ENROLLMENT_HEADER.index("学籍号")] = float(digits)
    text = row("韦二", other)
    text[ENROLLMENT_HEADER.index("学籍号")] = "'" + other  # text, as the file should have it
    path = write_xlsx(tmp_path / "n.xlsx", [ENROLLMENT_HEADER, lost, text])
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    [issue] = [i for i in outcome.issues if i.severity == "error"]
    assert (issue.row_number, issue.column) == (2, "学籍号")
    assert issue.message.startswith("学籍号被 Excel 存成了数字")
    assert not Child.objects.filter(name="韦一").exists()
    assert Enrollment.objects.get(child__name="韦二").student_number == other


def test_a_short_number_cell_keeps_its_digits():
    from baoxue.imports.sources.enrollment import parse_student_number

    assert parse_student_number(45022520160502.0) == "45022520160502"
