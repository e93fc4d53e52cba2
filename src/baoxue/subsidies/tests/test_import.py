"""The 资助名单 import: matched to registered students, upserted per (student, programme,
term), idempotent, row-level errors, scope."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from baoxue.core.models import AuditEvent
from baoxue.imports import pipeline
from baoxue.imports.sources.base import Action
from baoxue.imports.tests.helpers import write_xlsx
from baoxue.registry.models import Child
from baoxue.registry.tests.factories import make_id_number
from baoxue.subsidies.importing import SubsidiesSource
from baoxue.subsidies.models import Subsidy

SOURCE = SubsidiesSource()
HEADER = ["姓名", "身份证号码", "学籍号", "学校名称", "年级", "资助项目", "学期", "金额"]


def ctx_for(world, persona, username="office", **kw):
    return pipeline.ImportContext(actor=persona(username), township=world.township, **kw)


def run(path, world, persona, username="office", **kw):
    return pipeline.run(path, SOURCE, ctx_for(world, persona, username, **kw), commit=True)


def rows_of(world):
    wu, long_ = world.child("吴俊辉"), world.child("龙雨欣")
    return [
        HEADER,
        # Found by 学籍号 alone.
        [
            "吴俊辉",
            "",
            "G" + wu.id_number,
            "培秀苗族乡中心小学",
            "三年级",
            "寄宿生生活补助",
            "2025年秋季学期",
            "625",
        ],
        ["吴俊辉", wu.id_number, "", "", "", "营养餐", "2025秋", "450元"],
        # Found by ID number; no amount on the list.
        [
            "龙雨欣",
            long_.id_number,
            "",
            "",
            "八年级",
            "家庭经济困难寄宿生生活补助",
            "2025-2026学年第一学期",
            "",
        ],
    ]


def snapshot():
    return sorted(
        Subsidy.objects.values_list(
            "child__name", "program__code", "term", "amount", "school__name", "enrollment_id"
        )
    )


def test_first_import_creates_one_row_per_student_programme_and_term(world, persona, tmp_path):
    path = write_xlsx(tmp_path / "s.xlsx", rows_of(world), title="2025年秋季学期资助名单")
    outcome = run(path, world, persona)
    assert (outcome.count(Action.CREATE), outcome.issues) == (3, [])
    wu, long_ = world.enrollment("吴俊辉"), world.enrollment("龙雨欣")
    assert snapshot() == [
        ("吴俊辉", "boarding", "2025秋", Decimal("625.00"), "培秀苗族乡中心小学", wu.pk),
        ("吴俊辉", "nutrition", "2025秋", Decimal("450.00"), "培秀苗族乡中心小学", wu.pk),
        ("龙雨欣", "boarding", "2025秋", None, "培秀苗族乡民族中学", long_.pk),
    ]
    assert AuditEvent.objects.filter(action="import.subsidies_committed").count() == 1


def test_second_identical_import_writes_nothing(world, persona, tmp_path):
    path = write_xlsx(tmp_path / "s.xlsx", rows_of(world))
    run(path, world, persona)
    before = snapshot()
    with CaptureQueriesContext(connection) as queries:
        again = run(path, world, persona)
    assert (again.count(Action.UNCHANGED), again.count(Action.CREATE), again.issues) == (3, 0, [])
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if "subsidies_subsidy" in q["sql"]
        and q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []
    assert snapshot() == before
    assert (
        AuditEvent.objects.filter(action="import.subsidies_committed").count() == 1
    )  # the second, unchanged run writes nothing


def test_changed_amount_updates_and_blank_amount_keeps(world, persona, tmp_path):
    rows = rows_of(world)
    run(write_xlsx(tmp_path / "a.xlsx", rows), world, persona)
    rows[1][7] = "700"  # corrected
    rows[2][7] = ""  # not stated this time: keeps 450
    rows[3][7] = "750"  # stated for the first time
    outcome = run(write_xlsx(tmp_path / "b.xlsx", rows), world, persona)
    assert {p.record.row_number: (p.action, p.changes) for p in outcome.plan} == {
        2: (Action.UPDATE, {"amount": (Decimal("625.00"), Decimal("700.00"))}),
        3: (Action.UNCHANGED, {}),
        4: (Action.UPDATE, {"amount": (None, Decimal("750.00"))}),
    }
    assert [row[3] for row in snapshot()] == [
        Decimal("700.00"),
        Decimal("450.00"),
        Decimal("750.00"),
    ]
    assert Subsidy.objects.count() == 3


def test_bad_rows_are_reported_one_by_one_and_create_nothing(world, persona, tmp_path):
    wu, long_ = world.child("吴俊辉"), world.child("龙雨欣")
    unknown_id = make_id_number(date(2015, 3, 3), "F")
    yang = world.child("杨光明")  # ID number fails its checksum; no 学籍
    children = Child.objects.count()
    rows = [
        HEADER,
        ["吴俊辉", wu.id_number, "", "", "", "营养改善计划", "2025秋", "450"],
        ["吴俊辉", wu.id_number, "", "", "", "助学金", "2025秋", "450"],
        ["陆新", unknown_id, "", "", "", "营养餐", "2025秋", "450"],
        ["吴俊辉", wu.id_number, "", "", "", "生活补助", "2025秋", "六百"],
        ["吴俊辉", wu.id_number, "", "", "", "生活补助", "2025冬", "625"],
        ["吴俊辉", wu.id_number, "", "", "", "生活补助", "", "625"],
        ["吴俊辉", "", "", "", "", "生活补助", "2025秋", "625"],
        ["杨光明", yang.id_number, "", "", "", "生活补助", "2025秋", "625"],
        ["黄雨欣", long_.id_number, "", "", "", "生活补助", "2025秋", "750"],  # another name
    ]
    outcome = run(write_xlsx(tmp_path / "bad.xlsx", rows), world, persona)
    errors = {i.row_number: (i.code, i.message) for i in outcome.issues if i.severity == "error"}
    assert {row: code for row, (code, _m) in errors.items()} == {
        3: "program_unknown",
        4: "not_found",
        5: "cell",
        6: "cell",
        7: "required",
        8: "no_key",
        9: "id_invalid",
        10: "name_mismatch",
    }
    assert errors[3][1] == (
        "无法识别的资助项目“助学金”，系统中的项目有：家庭经济困难寄宿生生活补助、农村义务教育学生营养改善计划"
    )
    assert errors[4][1] == "系统中没有这名学生，请先导入学籍"
    assert errors[5][1] == "金额“六百”不是数字"
    assert "无法识别的学期“2025冬”" in errors[6][1]
    assert errors[7][1] == "学期不能为空"
    assert errors[10][1] == "姓名与系统中登记的“龙雨欣”不同，请核实"
    assert outcome.rejected_rows == 8
    assert snapshot() == [
        (
            "吴俊辉",
            "nutrition",
            "2025秋",
            Decimal("450.00"),
            "培秀苗族乡中心小学",
            world.enrollment("吴俊辉").pk,
        )
    ]
    assert Child.objects.count() == children


def test_student_number_without_prefix_and_unknown_school_name(world, persona, tmp_path):
    wu = world.child("吴俊辉")
    rows = [HEADER, ["吴俊辉", "", wu.id_number, "培秀小学", "", "营养餐", "2025秋", "450"]]
    outcome = run(write_xlsx(tmp_path / "n.xlsx", rows), world, persona)
    assert outcome.count(Action.CREATE) == 1
    assert [(i.code, i.severity) for i in outcome.issues] == [("school_unknown", "warning")]
    assert Subsidy.objects.get().school == world.school_x


def test_repeated_rows_in_one_file(world, persona, tmp_path):
    wu, long_ = world.child("吴俊辉"), world.child("龙雨欣")
    same = ["吴俊辉", wu.id_number, "", "", "", "营养餐", "2025秋", "450"]
    rows = [
        HEADER,
        same,
        list(same),
        ["龙雨欣", long_.id_number, "", "", "", "营养餐", "2025秋", "450"],
        ["龙雨欣", long_.id_number, "", "", "", "营养改善计划", "2025年秋季学期", "500"],
    ]
    outcome = run(write_xlsx(tmp_path / "r.xlsx", rows), world, persona)
    assert [(i.row_number, i.code, i.severity) for i in outcome.issues] == [
        (3, "repeat", "warning"),
        (4, "duplicate", "error"),
        (5, "duplicate", "error"),
    ]
    assert [row[0] for row in snapshot()] == ["吴俊辉"]


NOT_OURS = (
    "不是本校（培秀苗族乡中心小学）在读学生，或系统中没有这名学生，未导入；"
    "请核对身份证号、学籍号，或先导入本校学籍"
)


def test_school_user_imports_only_its_own_students(world, persona, tmp_path):
    wu, long_, qin = world.child("吴俊辉"), world.child("龙雨欣"), world.child("覃明")
    rows = [
        HEADER,
        ["吴俊辉", wu.id_number, "", "", "", "营养餐", "2025秋", "450"],
        ["龙雨欣", long_.id_number, "", "", "", "营养餐", "2025秋", "450"],
        ["吴俊辉", wu.id_number, "", "培秀苗族乡民族中学", "", "生活补助", "2025秋", "750"],
        # Another school's student, and another township's, under this school's name; a
        # wrong name on another school's student; a number nobody has. One answer for all:
        # the school learns nothing about children outside it.
        ["龙雨欣", long_.id_number, "", "培秀苗族乡中心小学", "", "生活补助", "2025秋", "750"],
        ["覃明", qin.id_number, "", "培秀苗族乡中心小学", "", "营养餐", "2025秋", "450"],
        ["覃某", qin.id_number, "", "", "", "营养餐", "2025秋", "450"],
        ["某某", make_id_number(date(2015, 9, 9), "M"), "", "", "", "营养餐", "2025秋", "450"],
    ]
    outcome = run(
        write_xlsx(tmp_path / "p.xlsx", rows), world, persona, "principal_x", school=world.school_x
    )
    assert [(i.row_number, i.code, i.message) for i in outcome.issues] == [
        (n, "scope", NOT_OURS) for n in (3, 4, 5, 6, 7, 8)
    ]
    assert snapshot() == [
        (
            "吴俊辉",
            "nutrition",
            "2025秋",
            Decimal("450.00"),
            "培秀苗族乡中心小学",
            world.enrollment("吴俊辉").pk,
        )
    ]


def test_township_office_cannot_import_another_townships_child(world, persona, tmp_path):
    qin = world.child("覃明")
    rows = [HEADER, ["覃明", qin.id_number, "", "", "", "营养餐", "2025秋", "450"]]
    outcome = run(write_xlsx(tmp_path / "t.xlsx", rows), world, persona)
    assert [(i.code, i.message) for i in outcome.issues] == [
        ("scope", "不是本乡镇（培秀苗族乡）的学生，未导入")
    ]
    assert not Subsidy.objects.exists()


def test_name_of_an_out_of_scope_child_is_not_revealed(world, persona, tmp_path):
    qin = world.child("覃明")
    rows = [HEADER, ["张三", qin.id_number, "", "", "", "营养餐", "2025秋", "450"]]
    outcome = run(write_xlsx(tmp_path / "t.xlsx", rows), world, persona)
    assert [i.code for i in outcome.issues] == ["scope"]
    assert "覃明" not in outcome.issues[0].message


@pytest.mark.parametrize("commit", [False, True])
def test_preview_writes_nothing(world, persona, tmp_path, commit):
    path = write_xlsx(tmp_path / "s.xlsx", rows_of(world))
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=commit)
    assert outcome.count(Action.CREATE) == 3
    assert Subsidy.objects.count() == (3 if commit else 0)


def test_blank_template_headers_are_all_recognised(tmp_path):
    from baoxue.imports.templates_xlsx import template_xlsx

    path = tmp_path / "template.xlsx"
    path.write_bytes(template_xlsx(SOURCE))
    table = pipeline.open_table(path, SOURCE)
    mapping = pipeline.resolve_mapping(SOURCE, table.headers, None, {})
    assert sorted(mapping.values()) == sorted(f.name for f in SOURCE.fields)


def test_a_school_other_than_the_students_is_recorded_with_a_warning(world, persona, tmp_path):
    wu = world.child("吴俊辉")
    rows = [
        HEADER,
        ["吴俊辉", wu.id_number, "", "培秀苗族乡民族中学", "", "营养餐", "2025秋", "450"],
    ]
    outcome = run(write_xlsx(tmp_path / "s.xlsx", rows), world, persona)
    assert [(i.code, i.severity) for i in outcome.issues] == [("school_differs", "warning")]
    assert snapshot()[0][4] == "培秀苗族乡民族中学"


def test_a_newer_list_corrects_the_school_a_list_without_one_keeps_it(world, persona, tmp_path):
    wu = world.child("吴俊辉")
    wrong = ["吴俊辉", wu.id_number, "", "培秀苗族乡民族中学", "", "营养餐", "2025秋", "450"]
    run(write_xlsx(tmp_path / "a.xlsx", [HEADER, wrong]), world, persona)
    right = ["吴俊辉", wu.id_number, "", "培秀苗族乡中心小学", "", "营养餐", "2025秋", "450"]
    outcome = run(write_xlsx(tmp_path / "b.xlsx", [HEADER, right]), world, persona)
    assert [(p.action, p.changes) for p in outcome.plan] == [
        (Action.UPDATE, {"school": ("培秀苗族乡民族中学", "培秀苗族乡中心小学")})
    ]
    assert snapshot()[0][4] == "培秀苗族乡中心小学"
    unnamed = ["吴俊辉", wu.id_number, "", "", "", "营养餐", "2025秋", "450"]
    outcome = run(write_xlsx(tmp_path / "c.xlsx", [HEADER, unnamed]), world, persona)
    assert [p.action for p in outcome.plan] == [Action.UNCHANGED]


def test_a_grade_outside_compulsory_school_does_not_refuse_the_row(world, persona, tmp_path):
    wu = world.child("吴俊辉")
    rows = [HEADER, ["吴俊辉", wu.id_number, "", "", "学前班", "营养餐", "2025秋", "450"]]
    outcome = run(write_xlsx(tmp_path / "g.xlsx", rows), world, persona)
    assert outcome.issues == []
    assert outcome.count(Action.CREATE) == 1


def test_a_student_number_and_another_id_number_are_not_guessed(world, persona, tmp_path):
    wu = world.child("吴俊辉")
    other = make_id_number(date(2016, 5, 2), "M")  # registered to nobody
    rows = [HEADER, ["吴俊辉", other, "G" + wu.id_number, "", "", "营养餐", "2025秋", "450"]]
    outcome = run(write_xlsx(tmp_path / "n.xlsx", rows), world, persona)
    assert [i.code for i in outcome.issues if i.severity == "error"] == ["number_other_child"]
    assert snapshot() == []


def test_an_id_number_only_looked_up_is_not_said_to_be_kept(world, persona, tmp_path):
    wu = world.child("伍军辉")  # registered from a 15-digit number
    short = wu.id_number[:6] + wu.id_number[8:17]
    rows = [HEADER, ["伍军辉", short, "", "", "", "营养餐", "2025秋", "450"]]
    outcome = run(write_xlsx(tmp_path / "s.xlsx", rows), world, persona)
    assert [(i.code, i.message) for i in outcome.issues] == [
        ("id_upgraded", "15 位身份证号已按升级后的 18 位查找")
    ]
    assert outcome.count(Action.CREATE) == 1


def test_the_same_subsidy_written_two_ways_is_a_repeat(world, persona, tmp_path):
    wu = world.child("吴俊辉")
    rows = [
        HEADER,
        ["吴俊辉", wu.id_number, "", "", "", "营养餐", "2025秋", "450"],
        ["吴俊辉", wu.id_number, "", "", "", "营养餐", "2025年秋季学期", "450元"],
    ]
    outcome = run(write_xlsx(tmp_path / "r.xlsx", rows), world, persona)
    assert [(i.row_number, i.code, i.severity) for i in outcome.issues] == [
        (3, "repeat", "warning")
    ]
    assert outcome.count(Action.CREATE) == 1
