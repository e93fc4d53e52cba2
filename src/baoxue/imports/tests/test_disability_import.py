"""The disability federation's list import, end to end through the pipeline (no web layer)."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from baoxue.core.models import AuditEvent
from baoxue.imports import pipeline
from baoxue.imports.sources.base import Action
from baoxue.imports.sources.disability import DisabilitySource, parse_card
from baoxue.imports.tests.helpers import write_xlsx
from baoxue.imports.values import CellError
from baoxue.registry.models import Child, Discrepancy, Guardian
from baoxue.registry.tests.factories import make_id_number

DISABILITY = DisabilitySource()
TODAY = date(2025, 10, 1)  # compulsory age: born 2009-09-01 … 2019-08-31
TITLE = "融水苗族自治县残疾人联合会 培秀苗族乡持证残疾儿童少年名单"
HEADER = [
    "序号",
    "姓名",
    "性别",
    "残疾证号",
    "残疾类别",
    "残疾等级",
    "出生日期",
    "村",
    "组",
    "监护人",
    "联系电话",
    "备注",
]


def ctx_for(world, persona, username="office", **kw):
    return pipeline.ImportContext(
        actor=persona(username), township=world.township, today=TODAY, **kw
    )


@pytest.fixture
def ids():
    return {
        "new": make_id_number(date(2015, 3, 8), "F"),
        "adult": make_id_number(date(1979, 11, 2), "M"),
        "baby": make_id_number(date(2021, 4, 5), "M"),
    }


@pytest.fixture
def list_file(tmp_path, world, ids):
    yu = world.child("龙雨欣").id_number
    jun = world.child("吴俊辉").id_number
    rows = [
        HEADER,
        [1, "龙雨欣", "女", yu + "52", "智力", "二级", "2012-10-09", "乌岭村", "下寨屯", "龙大",
         "13900000002", ""],
        [2, "吴俊辉", "男", jun.lower() + "14", "视力残疾", "4级", "2016.5.2", "乌岭村",
         "上寨屯", "吴老大", "13800000001", ""],
        [None] * len(HEADER),
        # Not registered yet, of compulsory age: added to the registry.
        [4, "潘小花", "女", "'" + ids["new"] + "33", "言语残疾", "三级", "2015年3月8日",
         "高岜村", "归别屯", "潘大姐", "13700000007", "送教上门"],
        # An adult and a toddler: normal on the federation's list, not ours.
        [5, "梁大伯", "男", ids["adult"] + "41", "肢体残疾", "一级", "1979-11-02", "乌岭村", "",
         "", "", ""],
        [6, "梁小宝", "男", ids["baby"] + "61", "精神残疾", "一级", "2021-04-05", "乌岭村", "",
         "", "", ""],
    ]  # fmt: skip
    return write_xlsx(tmp_path / "残疾儿童名单.xlsx", rows, title=TITLE)


def test_first_import_marks_children_and_adds_new_ones(world, persona, list_file, ids):
    outcome = pipeline.run(list_file, DISABILITY, ctx_for(world, persona), commit=True)
    assert outcome.table.header_row == 2
    assert outcome.rows_total == 5
    actions = {p.record.values["name"]: p.action for p in outcome.plan}
    assert actions == {
        "龙雨欣": Action.UPDATE,
        "吴俊辉": Action.UPDATE,
        "潘小花": Action.CREATE,
    }
    # An adult and a baby: skipped with a note, counted as skipped, not as 无变化.
    assert [(i.row_number, i.severity, i.message) for i in outcome.issues] == [
        (7, "warning", "不在义务教育年龄段，跳过"),
        (8, "warning", "不在义务教育年龄段，跳过"),
    ]
    assert (outcome.skipped_rows, outcome.count(Action.UNCHANGED)) == (2, 0)
    yu = world.child("龙雨欣")
    assert (yu.has_disability, yu.disability_category, yu.disability_grade) == (
        True,
        "智力残疾",
        "二级",
    )
    assert yu.disability_card_number == yu.id_number + "52"
    assert yu.disability_card_enc != yu.disability_card_number  # encrypted at rest
    jun = world.child("吴俊辉")
    assert (jun.has_disability, jun.disability_category, jun.disability_grade) == (
        True,
        "视力残疾",
        "四级",
    )
    new = Child.objects.get(name="潘小花")
    assert new.id_number == ids["new"] and new.birth_date == date(2015, 3, 8)
    assert (new.village, new.group.name, new.sex) == (world.village_b, "归别屯", "F")
    assert (new.disability_category, new.disability_grade) == ("言语残疾", "三级")
    assert new.disability_card_number == ids["new"] + "33"
    assert (new.township_id, new.county_id) == (world.township.pk, world.county.pk)
    assert Guardian.objects.filter(child=new, name="潘大姐", phone="13700000007").exists()
    assert not Child.objects.filter(name__in=["梁大伯", "梁小宝"]).exists()
    assert AuditEvent.objects.filter(action="import.disability_committed").count() == 1


def test_second_import_of_the_same_list_changes_nothing(world, persona, list_file):
    pipeline.run(list_file, DISABILITY, ctx_for(world, persona), commit=True)
    columns = (
        "id",
        "updated_at",
        "version",
        "has_disability",
        "disability_category",
        "disability_grade",
        "disability_card_enc",
    )
    children = Child.objects.order_by("id").values_list(*columns)
    before = (list(children), Guardian.objects.count())
    outcome = pipeline.run(list_file, DISABILITY, ctx_for(world, persona), commit=True)
    assert (outcome.count(Action.UNCHANGED), outcome.skipped_rows) == (3, 2)
    assert outcome.count(Action.CREATE) == outcome.count(Action.UPDATE) == 0
    assert (list(children), Guardian.objects.count()) == before


def test_a_newer_card_updates_category_and_grade(world, persona, tmp_path, list_file):
    pipeline.run(list_file, DISABILITY, ctx_for(world, persona), commit=True)
    yu = world.child("龙雨欣")
    rows = [HEADER, [1, "龙雨欣", "女", yu.id_number + "71", "", "", "", "", "", "", "", ""]]
    outcome = pipeline.run(
        write_xlsx(tmp_path / "n.xlsx", rows), DISABILITY, ctx_for(world, persona), commit=True
    )
    assert outcome.count(Action.UPDATE) == 1
    assert set(outcome.plan[0].changes) == {"category", "grade", "card"}
    yu = world.child("龙雨欣")
    assert (yu.disability_category, yu.disability_grade) == ("多重残疾", "一级")
    assert yu.disability_card_number.endswith("71") and yu.version > 1


def test_bad_card_numbers_are_reported_row_by_row(world, persona, tmp_path, ids):
    yu = world.child("龙雨欣").id_number
    bad_check = yu[:17] + ("0" if yu[17] != "0" else "1")
    other = make_id_number(date(2014, 2, 2), "M")
    rows = [
        HEADER,
        [1, "甲", "男", yu, "", "", "", "乌岭村", "", "", "", ""],  # 18: the ID only
        [2, "乙", "男", yu + "5", "", "", "", "乌岭村", "", "", "", ""],  # 19
        [3, "丙", "男", bad_check + "52", "", "", "", "乌岭村", "", "", "", ""],
        [4, "丁", "男", yu + "82", "", "", "", "乌岭村", "", "", "", ""],  # no category 8
        [5, "戊", "男", yu + "55", "", "", "", "乌岭村", "", "", "", ""],  # no grade 5
        [6, "己", "男", float(yu[:17] + "052"), "", "", "", "乌岭村", "", "", "", ""],
        [7, "庚", "男", "4.50225E+19", "", "", "", "乌岭村", "", "", "", ""],
        [8, "辛", "男", "", "", "", "", "乌岭村", "", "", "", ""],
        # Not registered, of compulsory age, but no village to register the child in.
        [9, "壬", "男", other + "42", "", "", "", "", "", "", "", ""],
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "bad.xlsx", rows)
    outcome = pipeline.run(path, DISABILITY, ctx_for(world, persona), commit=True)
    messages = {i.row_number: i.message for i in outcome.issues}
    assert "只有 18 位" in messages[2]
    assert "应为 20 位" in messages[3] and "19 位" in messages[3]
    assert "前 18 位不是有效的身份证号（校验位不符）" in messages[4]
    assert "第 19 位是残疾类别" in messages[5] and "“8”" in messages[5]
    assert "第 20 位是残疾等级" in messages[6] and "“5”" in messages[6]
    assert "文本" in messages[7]
    assert "科学计数法" in messages[8]
    assert "缺少残疾人证号，身份证号也没有" in messages[9]  # nothing says who it is
    assert "村" in messages[10]
    assert outcome.rejected_rows == 9 and outcome.plan == []
    assert not Child.objects.filter(name__in=list("甲乙丙丁戊己庚辛壬")).exists()


def test_columns_that_disagree_with_the_card(world, persona, tmp_path):
    yu = world.child("龙雨欣").id_number
    jun = world.child("吴俊辉").id_number
    header = [*HEADER, "身份证号"]
    rows = [
        header,
        # Category and grade columns say otherwise: the card wins, with a warning.
        [1, "龙雨欣", "女", yu + "52", "肢体", "一级", "", "", "", "", "", "", ""],
        # The ID column names someone else than the card: who is it?
        [2, "吴俊辉", "男", yu + "52", "", "", "", "", "", "", "", "", jun],
        # A numeric ID cell is refused, whatever the card says.
        [3, "吴俊辉", "男", jun + "14", "", "", "", "", "", "", "", "", float(jun[:17] + "0")],
        # The card's ID belongs to a registered child with a shorter name (the surname, sex
        # and birth date agree): his, with the name kept as a discrepancy.
        [4, "吴军", "男", jun + "14", "", "", "", "", "", "", "", "", ""],
        # The card's ID belongs to a registered child of another surname: a record of its
        # own, claiming the number, for a person to decide.
        [5, "黄明", "男", yu + "52", "", "", "", "乌岭村", "", "", "", "", ""],
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "c.xlsx", rows)
    outcome = pipeline.run(path, DISABILITY, ctx_for(world, persona), commit=True)
    by_row = {}
    for issue in outcome.issues:
        by_row.setdefault(issue.row_number, []).append((issue.severity, issue.code))
    assert by_row[2] == [("warning", "card_disagrees"), ("warning", "card_disagrees")]
    assert by_row[3] == [("error", "card_mismatch")]
    assert by_row[4] == [("error", "cell")]
    assert by_row[5] == [("warning", "discrepancy")]
    assert by_row[6] == [("warning", "id_claimed")]
    assert [p.record.values["name"] for p in outcome.plan] == ["龙雨欣", "吴军", "黄明"]
    assert world.child("龙雨欣").disability_category == "智力残疾"
    jun_child = world.child("吴俊辉")
    assert jun_child.has_disability and jun_child.name == "吴俊辉"
    found = Discrepancy.objects.get(child=jun_child)
    assert (found.item, found.source, found.value) == ("name", "disability", "吴军")
    claimed = Child.objects.get(name="黄明")
    assert claimed.id_status == "claimed" and claimed.id_number_hash == ""
    assert claimed.id_claim_hash == world.child("龙雨欣").id_number_hash


def test_a_child_of_another_township_is_not_imported(world, persona, tmp_path):
    qin = world.child("覃明").id_number
    rows = [HEADER, [1, "覃明", "男", qin + "41", "", "", "", "江门村", "", "", "", ""]]
    path = write_xlsx(tmp_path / "t.xlsx", rows)
    outcome = pipeline.run(path, DISABILITY, ctx_for(world, persona), commit=True)
    assert [i.code for i in outcome.issues] == ["elsewhere"]
    assert "安陲乡" in outcome.issues[0].message
    assert not world.child("覃明").has_disability


def test_village_user_imports_only_their_village(world, persona, tmp_path, ids):
    jun = world.child("吴俊辉").id_number
    wujun = world.child("伍军辉").id_number
    rows = [
        HEADER,
        [1, "吴俊辉", "男", jun + "14", "", "", "", "", "", "", "", ""],
        [2, "伍军辉", "男", wujun + "14", "", "", "", "", "", "", "", ""],
        [3, "潘小花", "女", ids["new"] + "33", "", "", "", "高岜村", "", "", "", ""],
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "v.xlsx", rows)
    ctx = ctx_for(world, persona, "village_a", village_ids=frozenset({world.village_a.pk}))
    outcome = pipeline.run(path, DISABILITY, ctx, commit=True)
    assert [p.record.values["name"] for p in outcome.plan] == ["吴俊辉"]
    assert [(i.row_number, i.code) for i in outcome.issues] == [(3, "scope"), (4, "scope")]
    assert not world.child("伍军辉").has_disability


def test_parse_card():
    number = make_id_number(date(2013, 7, 7), "F")
    card = parse_card(" " + number.lower() + "5 2")
    assert card is not None
    assert (card.number, card.category, card.grade) == (number + "52", "智力残疾", "二级")
    assert card.masked.endswith("52") and number[8:14] not in card.masked
    assert parse_card(None) is None
    with pytest.raises(CellError):
        parse_card(number + "02")


def test_queries_do_not_grow_with_the_rows(world, persona, tmp_path):
    def run(n, village):
        rows = [HEADER]
        for i in range(n):
            number = make_id_number(date(2014, 1, 1 + i % 28), "M")
            rows.append([i, f"童{village}{i}", "男", number + "52", "", "", "", village, "", "",
                         "", ""])  # fmt: skip
        path = write_xlsx(tmp_path / f"{village}.xlsx", rows)
        with CaptureQueriesContext(connection) as queries:
            outcome = pipeline.run(path, DISABILITY, ctx_for(world, persona), commit=True)
        assert outcome.count(Action.CREATE) == n
        return len(queries)

    assert run(30, "高岜村") - run(3, "乌岭村") <= 2  # SQLite splits big bulk inserts


def test_a_child_registered_without_an_id_number_is_found_by_the_card(world, persona, tmp_path):
    """石丽 is registered in 高岜村 without an ID number. Her card holds her number: the list
    marks her and gives her the number, rather than registering a second 石丽."""
    number = make_id_number(date(2013, 2, 2), "F")
    rows = [HEADER, [1, "石丽", "女", number + "43", "", "", "", "高岜村", "", "", "", ""]]
    before = Child.objects.count()
    outcome = pipeline.run(
        write_xlsx(tmp_path / "l.xlsx", rows), DISABILITY, ctx_for(world, persona), commit=True
    )
    li = world.child("石丽")
    assert [(p.action, p.target) for p in outcome.plan] == [(Action.UPDATE, li)]
    assert Child.objects.count() == before
    assert (li.id_number, li.id_status, li.disability_category, li.disability_grade) == (
        number,
        "valid",
        "肢体残疾",
        "三级",
    )
    again = pipeline.run(
        write_xlsx(tmp_path / "l.xlsx", rows), DISABILITY, ctx_for(world, persona), commit=True
    )
    assert [p.action for p in again.plan] == [Action.UNCHANGED]
