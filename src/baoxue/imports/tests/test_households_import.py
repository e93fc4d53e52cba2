"""The 脱贫户/监测户 list import, end to end through the pipeline (no web layer)."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from baoxue.core.models import AuditEvent
from baoxue.imports import pipeline
from baoxue.imports.reading import FileRefused
from baoxue.imports.sources.base import Action
from baoxue.imports.sources.households import HouseholdsSource
from baoxue.imports.tests.helpers import write_xlsx
from baoxue.registry.models import Child, Household, Region
from baoxue.registry.tests.factories import make_id_number

HOUSEHOLDS = HouseholdsSource()
TITLE = "培秀苗族乡2025年脱贫户和防返贫监测对象家庭成员名单"
HEADER = [
    "序号",
    "村",
    "组",
    "户编号",
    "户主姓名",
    "户主证件号码",
    "成员姓名",
    "证件号码",
    "与户主关系",
    "户类型",
    "监测对象类别",
    "联系电话",
]


def ctx_for(world, persona, username="office", **kw):
    return pipeline.ImportContext(actor=persona(username), township=world.township, **kw)


def row(n, village, group, number, head, head_id, name, id_number, relation, kind, watch, phone=""):
    return [n, village, group, number, head, head_id, name, id_number, relation, kind, watch, phone]


@pytest.fixture
def adults():
    return {
        "wu": make_id_number(date(1982, 3, 4), "M"),
        "long": make_id_number(date(1980, 1, 2), "M"),
        "long_wife": make_id_number(date(1983, 6, 7), "F"),
        "wu_b": make_id_number(date(1978, 8, 8), "M"),
        "shi": make_id_number(date(1975, 5, 5), "M"),
        "new": make_id_number(date(1990, 2, 2), "M"),
    }


@pytest.fixture
def list_file(tmp_path, world, adults):
    jun = world.child("吴俊辉").id_number
    yu = world.child("龙雨欣").id_number
    wujun = world.child("伍军辉").id_number  # registered from a 15-digit number, upgraded
    rows = [
        HEADER,
        # The household of the test world, already 脱贫户: now also monitored.
        row(1, "乌岭村", "上寨屯", "001", "吴老大", adults["wu"], "吴老大", adults["wu"], "户主",
            "脱贫户", "脱贫不稳定户", "13800000001"),
        row(2, "乌岭村", "上寨屯", "001", "吴老大", adults["wu"], "吴俊辉", jun, "之子",
            "脱贫户", "脱贫不稳定户", ""),
        # A new household; its child is registered but in no household yet.
        row(3, "乌岭村", "下寨屯", "A002", "龙大", adults["long"], "龙大", adults["long"], "户主",
            "一般农户", "边缘易致贫户", "13900000002"),
        row(4, "乌岭村", "下寨屯", "A002", "龙大", adults["long"], "龙二嫂", adults["long_wife"],
            "配偶", "一般农户", "边缘易致贫户", ""),
        row(5, "乌岭村", "下寨屯", "A002", "龙大", adults["long"], "龙雨欣", yu, "之女",
            "一般农户", "边缘易致贫户", ""),
        [None] * len(HEADER),  # a blank row between records
        row(7, "高岜村", "归别屯", "B003", "伍父", adults["wu_b"], "伍父", adults["wu_b"], "户主",
            "突发严重困难户", "", ""),
        row(8, "高岜村", "归别屯", "B003", "伍父", adults["wu_b"], "伍军辉", wujun, "之子",
            "突发严重困难户", "", ""),
        # No 户编号: the household is the head's ID number; adults only.
        row(9, "高岜村", "", "", "石父", adults["shi"], "石父", adults["shi"], "户主",
            "脱贫户", "无", ""),
        # A village the registry does not know yet.
        row(10, "新寨村", "坳头屯", "N001", "潘新", adults["new"], "潘新", adults["new"], "户主",
            "脱贫户", "", ""),
    ]  # fmt: skip
    return write_xlsx(tmp_path / "脱贫户名单.xlsx", rows, title=TITLE)


def tags(household):
    return household.is_lifted_from_poverty, household.monitoring_type


def test_first_import_tags_households_and_attaches_children(world, persona, list_file):
    before = Household.objects.count()
    preview = pipeline.run(list_file, HOUSEHOLDS, ctx := ctx_for(world, persona), commit=False)
    assert ctx.places.proposals() == {"villages": ["新寨村"], "groups": ["新寨村 坳头屯"]}
    assert preview.table.header_row == 2
    assert preview.rows_total == 9
    assert preview.rejected_rows == 0, preview.issues
    assert Household.objects.count() == before  # a preview writes nothing

    outcome = pipeline.run(list_file, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    actions = {p.record.values["name"]: p.action for p in outcome.plan}
    assert actions == {
        "吴老大": Action.UPDATE,  # monitoring added
        "吴俊辉": Action.UNCHANGED,  # already in the household
        "龙大": Action.CREATE,
        "龙二嫂": Action.UNCHANGED,  # an adult: nothing to do
        "龙雨欣": Action.UPDATE,  # attached
        "伍父": Action.CREATE,
        "伍军辉": Action.UPDATE,
        "石父": Action.CREATE,
        "潘新": Action.CREATE,
    }
    assert outcome.issues == []
    assert Household.objects.count() == before + 4

    wu = Household.objects.get(village=world.village_a, number="001")
    assert tags(wu) == (True, "unstable")
    assert wu.phone == "13800000001"  # a blank filled in
    long = Household.objects.get(village=world.village_a, number="A002")
    assert tags(long) == (False, "marginal")
    assert (long.head_name, long.group.name, long.phone) == ("龙大", "下寨屯", "13900000002")
    assert (long.township_id, long.county_id) == (world.township.pk, world.county.pk)
    assert world.child("龙雨欣").household == long
    b003 = Household.objects.get(village=world.village_b, number="B003")
    assert tags(b003) == (False, "sudden_hardship")
    assert world.child("伍军辉").household == b003
    assert tags(Household.objects.get(village=world.village_b, head_name="石父", number="")) == (
        True,
        "",
    )
    new_village = Region.objects.get(name="新寨村", parent=world.township)
    assert Household.objects.get(number="N001").village == new_village
    assert world.child("吴俊辉").household == wu
    assert AuditEvent.objects.filter(action="import.households_committed").count() == 1


def test_second_import_of_the_same_list_changes_nothing(world, persona, list_file):
    pipeline.run(list_file, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    children = Child.objects.order_by("id").values_list("id", "household", "updated_at", "version")
    households = Household.objects.order_by("id").values_list(
        "id", "number", "head_name", "phone", "is_lifted_from_poverty", "monitoring_type"
    )
    before = (list(children), list(households))
    outcome = pipeline.run(list_file, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.UNCHANGED) == 9
    assert outcome.count(Action.CREATE) == outcome.count(Action.UPDATE) == 0
    assert outcome.issues == []
    assert (list(children), list(households)) == before  # querysets run again


def test_child_in_another_household_is_reported_not_moved(world, persona, tmp_path, adults):
    jun = world.child("吴俊辉").id_number
    pan = adults["long"]
    rows = [
        HEADER,
        row(1, "乌岭村", "", "A009", "潘某", pan, "潘某", pan, "户主", "脱贫户", "", ""),
        row(2, "乌岭村", "", "A009", "潘某", pan, "吴俊辉", jun, "孙子", "脱贫户", "", ""),
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "other.xlsx", rows)
    outcome = pipeline.run(path, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    assert [(i.row_number, i.severity, i.code) for i in outcome.issues] == [
        (3, "warning", "other_household")
    ]
    assert "吴老大" in outcome.issues[0].message and "001" in outcome.issues[0].message
    assert outcome.count(Action.CREATE) == 1 and outcome.count(Action.UNCHANGED) == 1
    assert world.child("吴俊辉").household.number == "001"
    assert Household.objects.filter(number="A009").exists()  # the list's household is kept


def test_unknown_number_goes_to_the_household_the_children_are_in(world, persona, tmp_path, adults):
    """The monitoring system's 户编号 is not the 户籍 户号: no duplicate, childless household."""
    jun = world.child("吴俊辉").id_number
    rows = [
        HEADER,
        row(1, "乌岭村", "上寨屯", "450225212001000123", "吴老大", adults["wu"], "吴俊辉", jun,
            "之子", "脱贫户", "突发严重困难户", ""),
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "numbers.xlsx", rows)
    before = Household.objects.count()
    outcome = pipeline.run(path, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.UPDATE) == 1 and outcome.issues == []
    assert Household.objects.count() == before
    household = Household.objects.get(village=world.village_a, number="001")
    assert tags(household) == (True, "sudden_hardship")


def test_conflicts_and_bad_rows_are_reported_row_by_row(world, persona, tmp_path, adults):
    jun = world.child("吴俊辉").id_number
    head = adults["long"]
    lost = float(adults["new"][:15] + "000")  # an ID typed into a number cell
    rows = [
        HEADER,
        # The ID number of a registered child with another surname: tied to no child.
        row(1, "乌岭村", "", "A010", "甲", head, "韦军", jun, "之子", "脱贫户", "", ""),
        row(2, "乌岭村", "", "A010", "甲", head, "乙", lost, "之子", "脱贫户", "", ""),
        row(3, "乌岭村", "", "A011", "丙", "", "丙", "", "户主", "贫困户？", "", ""),
        row(4, "乌岭村", "", "", "丁", "", "丁", "", "户主", "脱贫户", "", ""),
        row(5, "乌岭村", "", "A012", "戊", "", "戊", "", "户主", "一般农户", "脱贫不稳定户", ""),
        row(6, "乌岭村", "", "A013", "己", "", "己", "", "户主", "监测对象", "", ""),
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "bad.xlsx", rows)
    outcome = pipeline.run(path, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    by_row = {}
    for issue in outcome.issues:
        by_row.setdefault(issue.row_number, []).append(issue)
    assert [(i.severity, i.code) for i in by_row[2]] == [("warning", "id_claimed")]
    assert "文本" in by_row[3][0].message
    assert "无法识别的户类型" in by_row[4][0].message
    assert by_row[5][0].code == "no_household"
    assert by_row[6][0].code == "tags_conflict"
    assert [(i.severity, i.code) for i in by_row[7]] == [("warning", "monitoring_unspecified")]
    assert outcome.rejected_rows == 4
    jun_child = world.child("吴俊辉")
    assert jun_child.name == "吴俊辉"
    # The household is imported (its row is kept), without him.
    assert not jun_child.household or jun_child.household.number != "A010"
    assert Household.objects.filter(number="A010").exists()
    household = Household.objects.get(number="A013")  # created, monitoring left blank
    assert tags(household) == (False, "")


def test_rows_of_one_household_that_disagree_leave_its_tags_alone(world, persona, tmp_path, adults):
    jun = world.child("吴俊辉").id_number
    wu = adults["wu"]
    rows = [
        HEADER,
        row(1, "乌岭村", "", "001", "吴老大", wu, "吴老大", wu, "户主", "一般农户", "", ""),
        row(2, "乌岭村", "", "001", "吴老大", wu, "吴俊辉", jun, "之子", "脱贫户", "", ""),
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "disagree.xlsx", rows)
    outcome = pipeline.run(path, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    assert [(i.row_number, i.code) for i in outcome.issues] == [
        (2, "household_tags_differ"),
        (3, "household_tags_differ"),
    ]
    # The tags are left alone; only the head's ID number is recorded.
    assert [(p.action, list(p.changes)) for p in outcome.plan] == [
        (Action.UPDATE, ["head_id_hash"]),
        (Action.UNCHANGED, []),
    ]
    assert tags(Household.objects.get(number="001")) == (True, "")


def test_a_newer_list_updates_tags_but_never_untags_a_missing_household(
    world, persona, tmp_path, list_file, adults
):
    pipeline.run(list_file, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    head = adults["long"]
    rows = [
        HEADER,
        row(1, "乌岭村", "下寨屯", "A002", "龙大", head, "龙大", head, "户主", "一般农户",
            "风险已消除", ""),
    ]  # fmt: skip
    newer = write_xlsx(tmp_path / "newer.xlsx", rows)
    outcome = pipeline.run(newer, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.UPDATE) == 1
    assert tags(Household.objects.get(number="A002")) == (False, "")
    # 001 is not on the newer list: it keeps its tags until a person decides otherwise.
    assert tags(Household.objects.get(number="001")) == (True, "unstable")


def test_unnumbered_households_whose_heads_share_a_name_stay_two(world, persona, tmp_path):
    """Without 户编号 a household is its head's ID number: two heads called 吴老大 in one
    village are two households, on the first import and on every import after it."""
    first, second = make_id_number(date(1970, 1, 1), "M"), make_id_number(date(1971, 2, 2), "M")
    wife = make_id_number(date(1972, 3, 3), "F")
    rows = [
        HEADER,
        row(1, "乌岭村", "", "", "吴老大", first, "吴老大", first, "户主", "脱贫户", "", ""),
        row(2, "乌岭村", "", "", "吴老大", first, "吴大嫂", wife, "配偶", "脱贫户", "", ""),
        row(3, "乌岭村", "", "", "吴老大", second, "吴老大", second, "户主", "一般农户",
            "边缘易致贫户", ""),
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "unnumbered.xlsx", rows)
    before = Household.objects.count()
    outcome = pipeline.run(path, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    assert outcome.issues == []
    assert outcome.count(Action.CREATE) == 2
    wus = Household.objects.filter(head_name="吴老大", number="")
    assert sorted(tags(h) for h in wus) == [(False, "marginal"), (True, "")]
    assert all(h.head_id_hash for h in wus)

    again = pipeline.run(path, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    assert again.count(Action.UNCHANGED) == 3, [(p.record.row_number, p.action) for p in again.plan]
    assert Household.objects.count() == before + 2
    # A newer list moves only the second household.
    rows[3] = row(3, "乌岭村", "", "", "吴老大", second, "吴老大", second, "户主", "一般农户",
                  "风险已消除", "")  # fmt: skip
    newer = pipeline.run(
        write_xlsx(tmp_path / "newer.xlsx", rows), HOUSEHOLDS, ctx_for(world, persona), commit=True
    )
    assert [p.record.row_number for p in newer.plan if p.action == Action.UPDATE] == [4]
    assert sorted(tags(h) for h in wus.all()) == [(False, ""), (True, "")]


def test_an_unnumbered_household_from_before_gets_its_heads_id(world, persona, tmp_path, adults):
    """A household registered by name only is found by that name once, and keeps the head's
    ID number from then on."""
    shi = adults["shi"]
    old = Household.objects.create(
        village=world.village_b, head_name="石父", township=world.township, county=world.county
    )
    rows = [HEADER, row(1, "高岜村", "", "", "石父", shi, "石父", shi, "户主", "脱贫户", "", "")]
    path = write_xlsx(tmp_path / "shi.xlsx", rows)
    outcome = pipeline.run(path, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    assert [(p.action, p.target) for p in outcome.plan] == [(Action.UPDATE, old)]
    assert "户主身份证号" in str(services_examples(outcome))
    old.refresh_from_db()
    assert old.head_id_hash and old.is_lifted_from_poverty
    assert Household.objects.filter(head_name="石父").count() == 1


def services_examples(outcome):
    from baoxue.imports.services import CHANGE_LABELS

    return outcome.examples(CHANGE_LABELS)


def test_village_user_imports_only_their_village(world, persona, tmp_path, adults):
    a, b = adults["long"], adults["shi"]
    rows = [
        HEADER,
        row(1, "乌岭村", "", "A020", "甲", a, "甲", a, "户主", "脱贫户", "", ""),
        row(2, "高岜村", "", "B020", "乙", b, "乙", b, "户主", "脱贫户", "", ""),
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "v.xlsx", rows)
    ctx = ctx_for(world, persona, "village_a", village_ids=frozenset({world.village_a.pk}))
    outcome = pipeline.run(path, HOUSEHOLDS, ctx, commit=True)
    assert [p.record.values["name"] for p in outcome.plan] == ["甲"]
    assert "不是您负责的村" in outcome.issues[0].message
    assert not Household.objects.filter(number="B020").exists()


def test_a_child_of_another_township_is_noted_not_attached(world, persona, tmp_path, adults):
    qin = world.child("覃明").id_number
    head = adults["long"]
    rows = [
        HEADER,
        row(1, "乌岭村", "", "A030", "覃父", head, "覃父", head, "户主", "脱贫户", "", ""),
        row(2, "乌岭村", "", "A030", "覃父", head, "覃明", qin, "之子", "脱贫户", "", ""),
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "t.xlsx", rows)
    outcome = pipeline.run(path, HOUSEHOLDS, ctx_for(world, persona), commit=True)
    assert [(i.row_number, i.severity, i.code) for i in outcome.issues] == [
        (3, "warning", "elsewhere")
    ]
    assert "安陲乡" in outcome.issues[0].message
    assert world.child("覃明").household is None


def test_a_list_without_household_tags_is_refused(world, persona, tmp_path):
    path = write_xlsx(tmp_path / "t.xlsx", [["村", "户编号", "姓名"], ["乌岭村", "001", "吴老大"]])
    with pytest.raises(FileRefused) as refused:
        pipeline.run(path, HOUSEHOLDS, ctx_for(world, persona))
    assert "户类型" in str(refused.value)


def test_queries_do_not_grow_with_the_rows(world, persona, tmp_path):
    def run(n, prefix):
        rows = [HEADER]
        for i in range(n):
            person = make_id_number(date(1980, 1, 1 + i % 28), "M")
            name = f"户主{i}"
            number = f"{prefix}{i:03d}"
            rows.append(
                row(i, "乌岭村", "", number, name, person, name, person, "户主", "脱贫户", "", "")
            )
        path = write_xlsx(tmp_path / f"{prefix}.xlsx", rows)
        with CaptureQueriesContext(connection) as queries:
            outcome = pipeline.run(path, HOUSEHOLDS, ctx_for(world, persona), commit=True)
        assert outcome.count(Action.CREATE) == n
        return len(queries)

    assert run(30, "R") - run(3, "Q") <= 2  # SQLite splits big bulk inserts


def test_a_child_registered_without_an_id_number_joins_the_household(
    world, persona, tmp_path, adults
):
    """石丽 is registered in 高岜村 without an ID number; the list gives hers, in 石父's
    household: she is attached (the list does not give her the number: it only names her)."""
    shi = adults["shi"]
    li = make_id_number(date(2013, 2, 2), "F")
    rows = [
        HEADER,
        row(1, "高岜村", "", "B9", "石父", shi, "石父", shi, "户主", "脱贫户", "", ""),
        row(2, "高岜村", "", "B9", "石父", shi, "石丽", li, "之女", "脱贫户", "", ""),
    ]  # fmt: skip
    before = Child.objects.count()
    outcome = pipeline.run(
        write_xlsx(tmp_path / "l.xlsx", rows), HOUSEHOLDS, ctx_for(world, persona), commit=True
    )
    assert outcome.issues == []
    assert Child.objects.count() == before
    assert world.child("石丽").household == Household.objects.get(number="B9")


def test_a_head_of_the_same_name_with_another_id_is_another_family(world, persona, tmp_path):
    """吴俊辉's household 001 is 吴老大's, whose ID number the registry knows. A list without
    numbers names another 吴老大 (another ID) with 吴俊辉 in it: 001 keeps its tags."""
    from baoxue.core import crypto

    known, other = make_id_number(date(1970, 1, 1), "M"), make_id_number(date(1971, 1, 1), "M")
    wu = Household.objects.get(number="001")
    Household.objects.filter(pk=wu.pk).update(head_id_hash=crypto.lookup_hash(known))
    jun = world.child("吴俊辉").id_number
    rows = [
        HEADER,
        row(1, "乌岭村", "", "", "吴老大", other, "吴老大", other, "户主", "一般农户",
            "边缘易致贫户", ""),
        row(2, "乌岭村", "", "", "吴老大", other, "吴俊辉", jun, "之子", "一般农户",
            "边缘易致贫户", ""),
    ]  # fmt: skip
    outcome = pipeline.run(
        write_xlsx(tmp_path / "l.xlsx", rows), HOUSEHOLDS, ctx_for(world, persona), commit=True
    )
    assert [(i.row_number, i.code) for i in outcome.issues] == [(3, "other_household")]
    assert tags(Household.objects.get(pk=wu.pk)) == (True, "")
    assert world.child("吴俊辉").household_id == wu.pk


def test_a_mistyped_head_id_finds_the_household_by_its_heads_name(world, persona, tmp_path):
    head = make_id_number(date(1966, 6, 6), "M")
    wrong = head[:-1] + ("0" if head[-1] != "0" else "1")  # the check character mistyped
    rows = [HEADER, row(1, "高岜村", "", "", "潘大", head, "潘大", head, "户主", "脱贫户", "", "")]
    pipeline.run(
        write_xlsx(tmp_path / "a.xlsx", rows), HOUSEHOLDS, ctx_for(world, persona), commit=True
    )
    rows = [
        HEADER,
        row(1, "高岜村", "", "", "潘大", wrong, "潘大", wrong, "户主", "脱贫户", "", ""),
    ]
    outcome = pipeline.run(
        write_xlsx(tmp_path / "b.xlsx", rows), HOUSEHOLDS, ctx_for(world, persona), commit=True
    )
    assert outcome.count(Action.CREATE) == 0
    assert Household.objects.filter(head_name="潘大").count() == 1
