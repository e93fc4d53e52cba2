"""The 户籍 roster import, end to end through the pipeline (no web layer)."""

from __future__ import annotations

from datetime import date

import pytest

from baoxue.core import crypto
from baoxue.core.models import AuditEvent
from baoxue.imports import pipeline
from baoxue.imports.reading import FileRefused
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import Action
from baoxue.imports.tests.helpers import ROSTER_HEADER, write_xlsx
from baoxue.registry.models import Child, Discrepancy, Guardian, Household, Region
from baoxue.registry.tests.factories import make_id_number

ROSTER = SOURCES["roster"]


def ctx_for(world, persona, username="office", **kw):
    return pipeline.ImportContext(actor=persona(username), township=world.township, **kw)


@pytest.fixture
def ids():
    return {
        "a": make_id_number(date(2015, 4, 1), "M"),
        "b": make_id_number(date(2016, 9, 9), "F"),
        "c": make_id_number(date(2014, 12, 30), "M"),
    }


@pytest.fixture
def roster_file(tmp_path, ids):
    rows = [
        ROSTER_HEADER,
        [
            "潘小龙",
            "男",
            ids["a"],
            "2015.04.01",
            "苗族",
            "乌岭村",
            "上寨屯",
            "A001",
            "潘大",
            "潘大",
            "13900000001",
            "双亲外出",
        ],
        [None] * 12,  # a blank row between records
        [
            "潘小凤",
            "女",
            "'" + ids["b"],
            "2016年9月9日",
            "苗族",
            "乌岭",
            "上寨",
            "A001",
            "潘大",
            "潘大",
            "13900000001",
            "双亲外出",
        ],
        [
            "ｌｉ　明",
            "1",
            ids["c"].replace("X", "x"),
            "20141230",
            "汉族",
            "高岜村",
            "归别屯",
            "B007",
            "李父",
            "李父",
            "13900000003",
            "非留守",
        ],
    ]
    return write_xlsx(tmp_path / "户籍名册.xlsx", rows, title="培秀苗族乡2025年适龄儿童户籍名册")


def test_first_import_creates_children_households_and_guardians(world, persona, roster_file, ids):
    outcome = pipeline.run(roster_file, ROSTER, ctx_for(world, persona), commit=True)
    assert outcome.table.header_row == 2  # under the merged title row
    assert outcome.rows_total == 3
    assert (outcome.count(Action.CREATE), outcome.rejected_rows) == (3, 0)
    long = Child.objects.get(name="潘小龙")
    assert long.village == world.village_a and long.group.name == "上寨屯"
    assert long.id_number == ids["a"] and long.birth_date == date(2015, 4, 1)
    assert long.left_behind == "both_parents"
    sister = Child.objects.get(name="潘小凤")
    assert sister.household_id == long.household_id
    assert Household.objects.get(pk=long.household_id).number == "A001"
    assert Guardian.objects.filter(child=long, name="潘大", phone="13900000001").exists()
    li = Child.objects.get(birth_date=date(2014, 12, 30))
    assert li.name == "li明"  # full-width letters and the ideographic space normalised
    assert li.sex == "M" and li.village == world.village_b


def test_second_import_of_the_same_file_changes_nothing(world, persona, roster_file):
    pipeline.run(roster_file, ROSTER, ctx_for(world, persona), commit=True)
    before = list(Child.objects.order_by("id").values_list("id", "updated_at", "version"))
    households = Household.objects.count()
    guardians = Guardian.objects.count()
    outcome = pipeline.run(roster_file, ROSTER, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.UNCHANGED) == 3
    assert outcome.count(Action.CREATE) == outcome.count(Action.UPDATE) == 0
    assert list(Child.objects.order_by("id").values_list("id", "updated_at", "version")) == before
    assert (Household.objects.count(), Guardian.objects.count()) == (households, guardians)


def test_a_newer_roster_updates_what_changed(world, persona, tmp_path, roster_file, ids):
    pipeline.run(roster_file, ROSTER, ctx_for(world, persona), commit=True)
    newer = write_xlsx(
        tmp_path / "new.xlsx",
        [
            ROSTER_HEADER,
            [
                "潘小龙",
                "男",
                ids["a"],
                "2015-04-01",
                "苗族",
                "乌岭村",
                "下寨屯",
                "A001",
                "潘大",
                "潘大",
                "13900000009",
                "非留守",
            ],
        ],
    )
    outcome = pipeline.run(newer, ROSTER, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.UPDATE) == 1
    child = Child.objects.get(name="潘小龙")
    assert child.group.name == "下寨屯"
    assert Guardian.objects.get(child=child, name="潘大").phone == "13900000009"


def test_bad_rows_are_reported_row_by_row_and_good_rows_still_plan(world, persona, tmp_path, ids):
    valid = ids["a"]
    bad_checksum = valid[:-1] + ("1" if valid[-1] != "1" else "2")
    path = write_xlsx(
        tmp_path / "bad.xlsx",
        [
            ROSTER_HEADER,
            [
                "甲",
                "男",
                float(valid[:-1] + "0"),
                "2015-04-01",
                "苗族",
                "乌岭村",
                "",
                "",
                "",
                "",
                "",
                "",
            ],
            ["乙", "男", bad_checksum, "2015-04-01", "苗族", "乌岭村", "", "", "", "", "", ""],
            ["丙", "男", ids["b"], "2015-13-45", "苗族", "乌岭村", "", "", "", "", "", ""],
            ["", "男", ids["c"], "2015-04-01", "苗族", "乌岭村", "", "", "", "", "", ""],
            ["丁", "男", "", "2015-04-01", "苗族", "", "", "", "", "", "", ""],
        ],
    )
    outcome = pipeline.run(path, ROSTER, ctx_for(world, persona), commit=False)
    by_row = {}
    for issue in outcome.issues:
        by_row.setdefault(issue.row_number, []).append(issue)
    assert "文本" in by_row[2][0].message  # numeric ID: how to fix the file
    assert [i.severity for i in by_row[3]] == ["warning"]  # kept, flagged
    assert "日期" in by_row[4][0].message
    assert "姓名不能为空" in by_row[5][0].message
    assert "村不能为空" in by_row[6][0].message
    assert outcome.rejected_rows == 4
    assert [p.record.values["name"] for p in outcome.plan] == ["乙"]
    assert not Child.objects.filter(name="乙").exists()  # validation writes nothing


def test_another_name_on_a_registered_number_is_joined_and_kept(world, persona, tmp_path):
    """吴军 with 吴俊辉's number, his birth date and sex: his row (a 曾用名), imported; the
    roster child keeps his name, and the other is kept for a person to settle."""
    existing = world.child("吴俊辉")
    path = write_xlsx(
        tmp_path / "c.xlsx",
        [
            ROSTER_HEADER,
            [
                "吴军",
                "男",
                existing.id_number,
                "2016-05-02",
                "苗族",
                "乌岭村",
                "",
                "",
                "",
                "",
                "",
                "",
            ],
        ],
    )
    outcome = pipeline.run(path, ROSTER, ctx_for(world, persona), commit=True)
    assert outcome.rejected_rows == 0
    [issue] = outcome.issues
    assert (issue.code, issue.severity) == ("discrepancy", "warning")
    assert "姓名" in issue.message and "吴俊辉" in issue.message
    assert world.child("吴俊辉").name == "吴俊辉"
    assert not Child.objects.filter(name="吴军").exists()
    found = Discrepancy.objects.get(child=existing)
    assert (found.item, found.source, found.value, found.registry_value) == (
        "name",
        "roster",
        "吴军",
        "吴俊辉",
    )


def test_a_child_registered_without_an_id_number_gets_it_from_the_roster(world, persona, tmp_path):
    """石丽 was registered without an ID number; the roster gives hers. She is the same
    child (name, birth date, village), not a second 石丽; the next import finds her by it."""
    before = Child.objects.count()
    li = world.child("石丽")
    number = make_id_number(date(2013, 2, 2), "F")
    row = ["石丽", "女", number, "", "苗族", "高岜村", "", "", "", "", "", ""]
    path = write_xlsx(tmp_path / "r.xlsx", [ROSTER_HEADER, row])
    outcome = pipeline.run(path, ROSTER, ctx_for(world, persona), commit=True)
    assert [(p.action, p.target) for p in outcome.plan] == [(Action.UPDATE, li)]
    assert Child.objects.count() == before
    li.refresh_from_db()
    assert (li.id_number, li.id_status) == (number, "valid")
    again = pipeline.run(path, ROSTER, ctx_for(world, persona), commit=True)
    assert [p.action for p in again.plan] == [Action.UNCHANGED]


def test_a_wrong_id_number_is_corrected_and_kept(world, persona, tmp_path):
    """杨光明's registered number fails its check character; the roster's valid one, for the
    same name, birth date and village, replaces it, and the old one is kept."""
    yang = world.child("杨光明")
    wrong = yang.id_number
    number = make_id_number(date(2014, 1, 20), "M")
    row = ["杨光明", "男", number, "2014-01-20", "", "乌岭村", "", "", "", "", "", ""]
    outcome = pipeline.run(
        write_xlsx(tmp_path / "r.xlsx", [ROSTER_HEADER, row]),
        ROSTER,
        ctx_for(world, persona),
        commit=True,
    )
    assert [p.target for p in outcome.plan] == [yang]
    yang.refresh_from_db()
    assert yang.id_number == number
    assert crypto.decrypt(yang.id_number_original_enc) == wrong


def test_two_numbers_for_one_unnumbered_child_are_not_guessed(world, persona, tmp_path):
    first = make_id_number(date(2013, 2, 2), "F")
    second = make_id_number(date(2013, 2, 2), "F")
    rows = [
        ROSTER_HEADER,
        ["石丽", "女", first, "", "", "高岜村", "", "", "", "", "", ""],
        ["石丽", "女", second, "", "", "高岜村", "", "", "", "", "", ""],
    ]
    path = write_xlsx(tmp_path / "r.xlsx", rows)
    # A village's user is not told what the registry holds.
    village_ctx = ctx_for(world, persona, "outsider", village_ids=frozenset({world.village_b.pk}))
    outcome = pipeline.run(path, ROSTER, village_ctx, commit=False)
    assert [i.code for i in outcome.issues] == ["ambiguous", "ambiguous"]
    assert "系统中" not in outcome.issues[0].message
    li = world.child("石丽")
    outcome = pipeline.run(path, ROSTER, ctx_for(world, persona), commit=True)
    # Neither row is given to her: which one is 石丽 does not depend on the order of the
    # rows. Both are kept, as children of their own numbers, with a warning to check.
    assert [(i.row_number, i.code, i.severity) for i in outcome.issues] == [
        (2, "ambiguous", "warning"),
        (3, "ambiguous", "warning"),
    ]
    assert "与第 3 行同名" in outcome.issues[0].message
    assert "与第 2 行同名" in outcome.issues[1].message
    li.refresh_from_db()
    assert li.id_number == ""
    assert Child.objects.filter(name="石丽").count() == 3


def test_duplicate_rows_in_a_file(world, persona, tmp_path, ids):
    row = ["潘甲", "男", ids["a"], "2015-04-01", "苗族", "乌岭村", "", "", "", "", "", ""]
    other = ["潘乙", "男", ids["a"], "2015-04-01", "苗族", "乌岭村", "", "", "", "", "", ""]
    path = write_xlsx(tmp_path / "d.xlsx", [ROSTER_HEADER, row, list(row), other])
    outcome = pipeline.run(path, ROSTER, ctx_for(world, persona), commit=True)
    # One child: the repeat skipped, 潘乙 (the same surname, sex and birth date) set aside
    # with its name kept as a discrepancy of 潘甲.
    assert outcome.rejected_rows == 0
    assert [(i.row_number, i.code) for i in outcome.issues] == [(3, "repeat"), (4, "duplicate")]
    pan = Child.objects.get(name="潘甲")
    assert not Child.objects.filter(name="潘乙").exists()
    found = Discrepancy.objects.get(child=pan)
    assert (found.item, found.value, found.registry_value, found.row_number) == (
        "name",
        "潘乙",
        "潘甲",
        4,
    )


def test_exact_repeat_is_skipped_with_a_warning(world, persona, tmp_path, ids):
    row = ["潘甲", "男", ids["a"], "2015-04-01", "苗族", "乌岭村", "", "", "", "", "", ""]
    path = write_xlsx(tmp_path / "r.xlsx", [ROSTER_HEADER, row, list(row)])
    outcome = pipeline.run(path, ROSTER, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.CREATE) == 1
    assert [(i.row_number, i.severity) for i in outcome.issues] == [(3, "warning")]
    assert Child.objects.filter(name="潘甲").count() == 1


def test_unknown_places_are_proposed_then_created(world, persona, tmp_path, ids):
    path = write_xlsx(
        tmp_path / "p.xlsx",
        [
            ROSTER_HEADER,
            ["新甲", "男", ids["a"], "2015-04-01", "苗族", "新平村", "坳头屯", "", "", "", "", ""],
        ],
    )
    preview = pipeline.run(path, ROSTER, ctx := ctx_for(world, persona), commit=False)
    assert ctx.places.proposals() == {"villages": ["新平村"], "groups": ["新平村 坳头屯"]}
    assert preview.count(Action.CREATE) == 1
    assert not Region.objects.filter(name="新平村").exists()
    pipeline.run(path, ROSTER, ctx_for(world, persona), commit=True)
    village = Region.objects.get(name="新平村", parent=world.township)
    assert Child.objects.get(name="新甲").group.parent == village
    assert AuditEvent.objects.filter(action="region.created", data__name="新平村").exists()


def test_a_village_named_only_by_a_rejected_row_is_not_created(world, persona, tmp_path, ids):
    first = write_xlsx(
        tmp_path / "a.xlsx",
        [ROSTER_HEADER, ["新甲", "男", ids["a"], "2015-04-01", "苗族", "乌岭村"] + [""] * 6],
    )
    pipeline.run(first, ROSTER, ctx_for(world, persona), commit=True)
    # Another township's child, in a village the registry does not have: the row is
    # rejected by the plan (after its places were read), so the village is not made.
    ming = world.child("覃明")
    path = write_xlsx(
        tmp_path / "b.xlsx",
        [
            ROSTER_HEADER,
            ["覃明", "男", ming.id_number, "", "壮族", "新平村", "坳头屯"] + [""] * 5,
        ],
    )
    ctx = ctx_for(world, persona)
    outcome = pipeline.run(path, ROSTER, ctx, commit=True)
    assert [i.code for i in outcome.issues if i.severity == "error"] == ["elsewhere"]
    assert ctx.places.proposals() == {"villages": [], "groups": []}
    assert not Region.objects.filter(name__in=["新平村", "坳头屯"]).exists()


def test_a_village_user_cannot_move_or_see_another_villages_child(world, persona, tmp_path, ids):
    from baoxue.registry import services

    kid = services.child_create(
        actor=None, name="潘美", village=world.village_b, birth_date=date(2015, 4, 1),
        sex="F", id_number=ids["a"],
    )  # fmt: skip
    here = ["潘美", "女", ids["a"], "2015-04-01", "苗族", "乌岭村", "上寨屯"] + [""] * 5
    typo = ["潘小", "女", ids["a"], "2015-04-01", "苗族", "乌岭村", ""] + [""] * 5
    for line in (here, typo):
        path = write_xlsx(tmp_path / "v.xlsx", [ROSTER_HEADER, line])
        ctx = ctx_for(world, persona, "village_a", village_ids=frozenset({world.village_a.pk}))
        outcome = pipeline.run(path, ROSTER, ctx, commit=True)
        assert outcome.plan == [] and outcome.rejected_rows == 1
        message = outcome.issues[0].message
        assert "负责的村以外" in message and "潘美" not in message and "高岜" not in message
    kid.refresh_from_db()
    assert kid.village == world.village_b and kid.name == "潘美"


def test_village_user_imports_only_their_village(world, persona, tmp_path, ids):
    path = write_xlsx(
        tmp_path / "v.xlsx",
        [
            ROSTER_HEADER,
            ["甲一", "男", ids["a"], "2015-04-01", "苗族", "乌岭村", "", "", "", "", "", ""],
            ["乙一", "男", ids["b"], "2016-09-09", "苗族", "高岜村", "", "", "", "", "", ""],
        ],
    )
    ctx = ctx_for(world, persona, "village_a", village_ids=frozenset({world.village_a.pk}))
    outcome = pipeline.run(path, ROSTER, ctx, commit=True)
    assert [p.record.values["name"] for p in outcome.plan] == ["甲一"]
    assert "不是您负责的村" in outcome.issues[0].message


@pytest.mark.parametrize(
    "content,message",
    [
        (b"", "空"),
        (b"%PDF-1.7 fake", "PDF"),
    ],
)
def test_unreadable_files_are_refused(world, persona, tmp_path, content, message):
    path = tmp_path / "x.xlsx"
    path.write_bytes(content)
    before = Child.objects.count()
    with pytest.raises(FileRefused) as refused:
        pipeline.run(path, ROSTER, ctx_for(world, persona), commit=True)
    assert message in str(refused.value)
    assert Child.objects.count() == before


def test_missing_required_column_refuses_the_file(world, persona, tmp_path):
    path = write_xlsx(tmp_path / "m.xlsx", [["姓名", "性别"], ["甲", "男"]])
    with pytest.raises(FileRefused) as refused:
        pipeline.run(path, ROSTER, ctx_for(world, persona))
    assert "村" in str(refused.value)


def test_the_templates_example_row_is_skipped(world, persona, tmp_path):
    from baoxue.imports.templates_xlsx import template_xlsx

    path = tmp_path / "template.xlsx"
    path.write_bytes(template_xlsx(ROSTER))
    before = Child.objects.count()
    outcome = pipeline.run(path, ROSTER, ctx_for(world, persona), commit=True)
    assert [(i.row_number, i.code) for i in outcome.issues] == [(2, "example")]
    assert Child.objects.count() == before


def test_a_village_user_cannot_create_another_village(world, persona, tmp_path, ids):
    path = write_xlsx(
        tmp_path / "o.xlsx",
        [
            ROSTER_HEADER,
            ["甲一", "男", ids["a"], "2015-04-01", "苗族", "乌岭村", "新屯", "", "", "", "", ""],
            ["乙一", "男", ids["b"], "2016-09-09", "苗族", "外村", "外屯", "", "", "", "", ""],
        ],
    )
    ctx = ctx_for(world, persona, "village_a", village_ids=frozenset({world.village_a.pk}))
    pipeline.run(path, ROSTER, ctx, commit=True)
    assert ctx.places.proposals() == {"villages": [], "groups": ["乌岭村 新屯"]}
    assert not Region.objects.filter(name__in=["外村", "外屯"]).exists()


def test_a_new_village_named_by_its_committee_is_the_village(world):
    from baoxue.imports.places import Places

    places = Places(world.township)
    for name in ("新寨村委会", "平安村民委员会", "坳头", "江口社区", "新寨村"):
        places.village_ref(name)
    assert places.proposals()["villages"] == ["坳头村", "平安村", "新寨村", "江口社区"]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("", None),
        ("非留守", "none"),
        ("否", "none"),
        ("父母一方外出", "one_parent"),  # the registry's own label for one parent away
        ("父母一方外出务工", "one_parent"),
        ("单亲外出", "one_parent"),
        ("母亲外出", "one_parent"),
        ("父母均外出", "both_parents"),
        ("双亲外出", "both_parents"),
        ("父母亲都外出", "both_parents"),
        ("父母外出", "both_parents"),
        ("留守儿童", "one_parent"),
    ],
)
def test_left_behind_cells(cell, expected):
    from baoxue.imports.sources.children import parse_left_behind

    assert parse_left_behind(cell) == expected


def test_a_newer_roster_clears_what_it_says_is_no_longer_so(world, persona, tmp_path):
    """非留守 and 否 are statements: the parents came back, the child is no longer counted an
    orphan. A blank cell says nothing and keeps what the registry knows."""
    shi = world.child("石丽")  # both parents away
    Child.objects.filter(pk=shi.pk).update(is_orphan=True, is_migrant=True)
    header = [*ROSTER_HEADER, "是否孤儿", "是否随迁子女"]
    cells = ["石丽", "女", "", "2013-02-02", "", "高岜村", "", "", "", "", ""]
    path = write_xlsx(tmp_path / "r.xlsx", [header, [*cells, "非留守", "否", ""]])

    outcome = pipeline.run(path, ROSTER, ctx_for(world, persona), commit=True)

    assert outcome.count(Action.UPDATE) == 1
    shi = world.child("石丽")
    assert (shi.left_behind, shi.is_orphan, shi.is_migrant) == ("none", False, True)
    again = write_xlsx(tmp_path / "r2.xlsx", [header, [*cells, "", "", ""]])
    outcome = pipeline.run(again, ROSTER, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.UNCHANGED) == 1
    assert world.child("石丽").left_behind == "none"


def test_a_village_and_a_community_of_one_name_stay_two(world):
    """A township seat often has 城东村 and 城东社区: a file's 城东社区 is the community, its
    城东村 or 城东村委会 (or a bare 城东) the village; a bare name with only the community in
    the registry is the community, not a new 村."""
    from baoxue.imports.places import Places
    from baoxue.registry.services import region_create

    village = region_create(name="城东村", level="village", parent=world.township)
    community = region_create(name="城东社区", level="village", parent=world.township)
    only = region_create(name="城西社区", level="village", parent=world.township)
    places = Places(world.township)
    found = {
        name: places.village(places.village_ref(name))
        for name in ("城东社区", "城东村", "城东村委会", "城东", "城西")
    }
    assert found == {
        "城东社区": community,
        "城东村": village,
        "城东村委会": village,
        "城东": village,
        "城西": only,
    }
    assert places.proposals()["villages"] == []
