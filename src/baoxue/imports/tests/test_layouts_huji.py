"""户籍 rosters as villages have them (issue 20): a whole household's 花名册, adults too, in
the header of a real 农户采集信息 list (docs/research/layouts.md, 2a): 户号编码, 原行政村,
联系方式, 是否死亡, no 出生日期 (the ID number's), no 户主姓名 (the row whose 与户主关系 is
户主)."""

from __future__ import annotations

from datetime import date

from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import Action
from baoxue.imports.tests.helpers import write_xlsx
from baoxue.registry.models import Child, Guardian
from baoxue.registry.tests.factories import make_id_number

ROSTER = SOURCES["roster"]
TODAY = date(2026, 12, 7)
HEADER = [
    "归属网格编号", "归属机构", "客户类型", "户号编码", "姓名", "证件号码", "民族", "婚姻状况",
    "户口性质", "与户主关系", "文化程度", "职业", "联系方式", "户籍地址", "常住地址", "备注",
    "原所属乡镇", "原行政村", "是否死亡",
]  # fmt: skip


def person(household, name, birth, sex, relation, phone="", dead="否", village="乌岭村"):
    cells = dict.fromkeys(HEADER, "")
    cells.update(
        {
            "归属网格编号": "G01",
            "客户类型": "农户",
            "户号编码": household,
            "姓名": name,
            "证件号码": make_id_number(birth, sex),
            "民族": "苗族",
            "户口性质": "农业",
            "与户主关系": relation,
            "联系方式": phone,
            "户籍地址": f"广西融水县培秀乡{village}",
            "原所属乡镇": "培秀苗族乡",
            "原行政村": village,
            "是否死亡": dead,
        }
    )
    return [cells[h] for h in HEADER]


def test_a_whole_household_list_registers_the_children_and_takes_the_adults_as_guardians(
    world, persona, tmp_path
):
    rows = [
        HEADER,
        # 户 0001: the father is the head; two children, one of them 17.
        person("0001", "吴老大", date(1985, 3, 1), "M", "户主", "13900000001"),
        person("0001", "梁秀英", date(1987, 6, 2), "F", "配偶"),
        person("0001", "吴俊豪", date(2016, 5, 2), "M", "之子"),
        person("0001", "吴俊梅", date(2009, 12, 8), "F", "之女"),  # 17 on 7 December 2026
        # 户 0002: the grandmother is the head; her grandchildren; the parents away.
        person("0002", "石奶", date(1958, 1, 1), "F", "户主", "13900000002"),
        person("0002", "石大", date(1982, 2, 2), "M", "之子"),
        person("0002", "石小龙", date(2014, 4, 4), "M", "之孙子"),
        person("0002", "石小凤", date(2017, 7, 7), "F", "之孙女"),
        # 户 0003 of 高岜村: the mother is the head; a child who died; one born in 2008 (18).
        person("0003", "龙妹", date(1990, 9, 9), "F", "户主", "", village="高岜村"),
        person("0003", "龙安", date(2015, 1, 15), "M", "之子", village="高岜村"),
        person("0003", "龙乐", date(2013, 3, 13), "F", "之女", dead="是", village="高岜村"),
        person("0003", "龙成", date(2008, 5, 5), "M", "之子", "13700000003", village="高岜村"),
        # 户 0004: the phone on a son's row only; a nephew.
        person("0004", "韦公", date(1970, 1, 1), "M", "户主"),
        person("0004", "韦子", date(1995, 1, 1), "M", "之子", "13600000004"),
        person("0004", "韦侄", date(2012, 2, 2), "M", "之侄子"),
        # 户 0005: a child who is the head of its own household (an orphan).
        person("0005", "贾孤", date(2011, 11, 11), "M", "户主", "13500000005"),
        # 户 0006: a large family.
        person("0006", "潘父", date(1980, 1, 1), "M", "户主", "13400000006"),
        person("0006", "潘母", date(1981, 1, 1), "F", "配偶"),
        person("0006", "潘一", date(2012, 1, 1), "M", "之子"),
        person("0006", "潘二", date(2014, 1, 1), "F", "之女"),
        person("0006", "潘三", date(2019, 1, 1), "M", "之子"),
    ]
    path = write_xlsx(tmp_path / "花名册.xlsx", rows, title="培秀乡农户采集信息")
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township, today=TODAY)
    outcome = pipeline.run(path, ROSTER, ctx, commit=True)
    assert [i for i in outcome.issues if i.severity == "error"] == []
    children = {
        "吴俊豪": ("吴老大", "father", "13900000001"),
        "吴俊梅": ("吴老大", "father", "13900000001"),
        "石小龙": ("石奶", "grandparent", "13900000002"),
        "石小凤": ("石奶", "grandparent", "13900000002"),
        "龙安": ("龙妹", "mother", "13700000003"),  # the household's only phone
        "龙乐": ("龙妹", "mother", "13700000003"),
        "韦侄": ("韦公", "relative", "13600000004"),
        "贾孤": None,  # the head himself: no guardian from the list
        "潘一": ("潘父", "father", "13400000006"),
        "潘二": ("潘父", "father", "13400000006"),
        "潘三": ("潘父", "father", "13400000006"),
    }
    assert outcome.count(Action.CREATE) == len(children)
    # Every adult skipped with a note, none registered; the count said.
    assert outcome.skipped_rows == 10 and ctx.notes["adults_skipped"] == 10
    registered = set(Child.objects.values_list("name", flat=True))
    assert not registered & {"吴老大", "梁秀英", "石奶", "石大", "龙妹", "龙成", "韦公", "韦子"}
    for name, guardian in children.items():
        child = Child.objects.get(name=name)
        assert child.on_roster and child.ethnicity == "苗族"
        assert child.village == (world.village_b if name.startswith("龙") else world.village_a)
        assert child.household.number == {"吴": "0001", "石": "0002", "龙": "0003"}.get(
            name[0], child.household.number
        )
        found = list(Guardian.objects.filter(child=child).values_list("name", "relation", "phone"))
        assert found == ([] if guardian is None else [guardian]), name
    assert Child.objects.get(name="龙乐").is_deceased
    assert not Child.objects.get(name="龙安").is_deceased
    assert Child.objects.get(name="吴俊豪").household.head_name == "吴老大"
    # Importing the same list again changes nothing and registers no adult.
    again = pipeline.run(
        path,
        ROSTER,
        pipeline.ImportContext(actor=persona("office"), township=world.township, today=TODAY),
        commit=True,
    )
    assert again.count(Action.CREATE) == 0 and again.count(Action.UPDATE) == 0
    assert Child.objects.count() == len(registered)


def test_a_childrens_roster_with_the_heads_name_gives_the_head_as_guardian(
    world, persona, tmp_path
):
    header = ["户编号", "户主姓名", "与户主关系", "姓名", "性别", "身份证号", "村(居)委会",
              "自然村", "户联系电话", "户口状态"]  # fmt: skip
    rows = [
        header,
        ["A1", "杨大山", "之子", "杨小山", "男", make_id_number(date(2015, 2, 2), "M"), "乌岭村",
         "上寨屯", "13800000011", "正常"],
        ["A2", "杨奶奶", "孙女", "杨小花", "女", make_id_number(date(2016, 3, 3), "F"), "乌岭村",
         "上寨屯", "13800000012", "迁出"],
        ["A3", "杨三", "户主", "杨三", "男", make_id_number(date(2011, 4, 4), "M"), "乌岭村",
         "下寨屯", "", ""],
    ]  # fmt: skip
    path = write_xlsx(tmp_path / "r.xlsx", rows)
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township, today=TODAY)
    outcome = pipeline.run(path, ROSTER, ctx, commit=True)
    assert outcome.count(Action.CREATE) == 3 and not outcome.issues
    son = Child.objects.get(name="杨小山")
    assert (son.group.name, son.household.number, son.household.head_name) == (
        "上寨屯",
        "A1",
        "杨大山",
    )
    assert list(son.guardians.values_list("name", "relation", "phone")) == [
        ("杨大山", "other", "13800000011")  # a parent; which one the list does not say
    ]
    granddaughter = Child.objects.get(name="杨小花")
    assert granddaughter.moved_away
    assert list(granddaughter.guardians.values_list("name", "relation")) == [
        ("杨奶奶", "grandparent")
    ]
    assert not Child.objects.get(name="杨三").guardians.exists()
