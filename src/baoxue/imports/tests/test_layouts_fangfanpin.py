"""防返贫 lists as the monitoring system writes them (issue 20): the 已脱贫人口名单 download
(docs/research/layouts.md, 3a) with 户编号, 人编号, 户类型, 易返贫致贫户(监测对象)类型,
风险是否消除, 风险消除时间, 户联系电话 and 人联系电话."""

from __future__ import annotations

from datetime import date

from baoxue.imports import pipeline
from baoxue.imports.sources.base import Action, auto_mapping
from baoxue.imports.sources.households import HouseholdsSource
from baoxue.imports.tests.helpers import write_xlsx
from baoxue.registry.models import Child, Household
from baoxue.registry.tests.factories import make_id_number

HOUSEHOLDS = HouseholdsSource()
HEADER = [
    "序号", "数据日期", "县(市、区、旗)", "乡(镇)", "行政村", "自然村", "户编号", "人编号", "姓名",
    "证件号码", "人数", "与户主关系", "民族", "文化程度", "在校生状况", "健康状况", "劳动技能",
    "务工时间（月）", "是否参加大病保险", "致贫原因1", "危房户", "是否解决安全饮用水", "人均纯收入",
    "户联系电话", "人联系电话", "首次识别时间", "人员识别时间", "户类型",
    "易返贫致贫户(监测对象)类型", "风险是否消除", "风险识别时间", "风险消除时间",
]  # fmt: skip


def member(n, village, number, name, id_number, relation, kind, watch, eliminated, on="", phone=""):
    cells = dict.fromkeys(HEADER, "")
    cells.update(
        {
            "序号": n,
            "数据日期": "2026-11-30",
            "县(市、区、旗)": "融水苗族自治县",
            "乡(镇)": "培秀苗族乡",
            "行政村": village,
            "自然村": "上寨屯" if village == "乌岭村" else "归别屯",
            "户编号": number,
            "人编号": f"{number}{n:02d}",
            "姓名": name,
            "证件号码": id_number,
            "人数": 4,
            "与户主关系": relation,
            "民族": "苗族",
            "在校生状况": "小学" if relation in {"之子", "之女"} else "",
            "健康状况": "健康",
            "户联系电话": phone,
            "人联系电话": "",
            "首次识别时间": "2016-10-01",
            "户类型": kind,
            "易返贫致贫户(监测对象)类型": watch,
            "风险是否消除": eliminated,
            "风险识别时间": "2023-05-01" if watch else "",
            "风险消除时间": on,
        }
    )
    return [cells[h] for h in HEADER]


def test_the_monitoring_systems_list_tags_households_and_ends_an_eliminated_risk(
    world, persona, tmp_path
):
    def adult(year, sex="M"):
        return make_id_number(date(year, 1, 1 + year % 27), sex)

    kids = {
        n: make_id_number(date(2014 + n % 4, 2, 1 + n), "M" if n % 2 else "F") for n in range(6)
    }
    kids[1] = world.child("龙雨欣").id_number  # registered already: takes its 人编号
    rows = [HEADER]
    n = 0

    def add(*cells, **kw):
        nonlocal n
        n += 1
        rows.append(member(n, *cells, **kw))

    # A 脱贫户, not monitored.
    add(
        "乌岭村", "4502250001", "覃一", adult(1980), "户主", "脱贫户", "", "否", phone="13800000001"
    )
    add("乌岭村", "4502250001", "覃妻", adult(1982, "F"), "配偶", "脱贫户", "", "否")
    add("乌岭村", "4502250001", "覃小一", kids[0], "之女", "脱贫户", "", "否")
    add("乌岭村", "4502250001", "龙雨欣", kids[1], "之子", "脱贫户", "", "否")
    # A 脱贫不稳定户 still at risk.
    add("乌岭村", "4502250002", "蒙二", adult(1979), "户主", "脱贫户", "脱贫不稳定户", "否",
        phone="13800000002")  # fmt: skip
    add("乌岭村", "4502250002", "蒙小", kids[2], "之子", "脱贫户", "脱贫不稳定户", "否")
    add("乌岭村", "4502250002", "蒙妻", adult(1981, "F"), "配偶", "脱贫户", "脱贫不稳定户", "否")
    # An 边缘易致贫户 whose risk was eliminated on 2026-06-30: no longer monitored.
    add("高岜村", "4502250003", "贾三", adult(1977), "户主", "一般农户", "边缘易致贫户", "是",
        on="2026-06-30", phone="13800000003")  # fmt: skip
    add("高岜村", "4502250003", "贾小", kids[3], "之子", "一般农户", "边缘易致贫户", "是",
        on="2026-06-30")  # fmt: skip
    add("高岜村", "4502250003", "贾妻", adult(1978, "F"), "配偶", "一般农户", "边缘易致贫户", "是",
        on="2026-06-30")  # fmt: skip
    # A 突发严重困难户 among 一般农户.
    add("高岜村", "4502250004", "潘四", adult(1985), "户主", "一般农户", "突发严重困难户", "否",
        phone="13800000004")  # fmt: skip
    add("高岜村", "4502250004", "潘小", kids[4], "之女", "一般农户", "突发严重困难户", "否")
    add("高岜村", "4502250004", "潘小五", kids[5], "之子", "一般农户", "突发严重困难户", "否")
    while n < 20:  # the other members of these households
        add("乌岭村", "4502250001", f"覃亲{n}", adult(1950 + n), "其他", "脱贫户", "", "否")
    path = write_xlsx(tmp_path / "已脱贫人口名单.xlsx", rows, title="已脱贫人口名单")
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township)
    outcome = pipeline.run(path, HOUSEHOLDS, ctx, commit=True)
    assert [i for i in outcome.issues if i.severity == "error"] == [], outcome.issues
    tags = {
        h.number: (h.is_lifted_from_poverty, h.monitoring_type, h.risk_eliminated_on, h.phone)
        for h in Household.objects.filter(number__startswith="45022500")
    }
    assert tags == {
        "4502250001": (True, "", None, "13800000001"),
        "4502250002": (True, "unstable", None, "13800000002"),
        "4502250003": (False, "", date(2026, 6, 30), "13800000003"),
        "4502250004": (False, "sudden_hardship", None, "13800000004"),
    }
    assert Household.objects.get(number="4502250003").village == world.village_b
    # A monitored household's risk eliminated by a later list: no longer monitored, the day kept.
    rows = [HEADER, member(1, "乌岭村", "4502250002", "蒙二", adult(1979), "户主", "脱贫户",
                           "脱贫不稳定户", "是", on="2026-11-15")]  # fmt: skip
    later = pipeline.run(
        write_xlsx(tmp_path / "later.xlsx", rows),
        HOUSEHOLDS,
        pipeline.ImportContext(actor=persona("office"), township=world.township),
        commit=True,
    )
    assert later.count(Action.UPDATE) == 1
    household = Household.objects.get(number="4502250002")
    assert (household.monitoring_type, household.risk_eliminated_on) == ("", date(2026, 11, 15))
    assert household.is_lifted_from_poverty
    # The registered child takes the system's number of her (row 4: 户 0001's fourth member).
    assert Child.objects.get(name="龙雨欣").person_number == "450225000104"
    # The adults are members, not children.
    assert not Child.objects.filter(name__in=["覃一", "蒙二", "贾三"]).exists()


def test_the_downloads_columns_are_recognised():
    mapping = auto_mapping(HOUSEHOLDS.fields, HEADER, {})
    taken = {HEADER[int(i)]: field for i, field in mapping.items()}
    assert taken["行政村"] == "village" and taken["自然村"] == "group"
    assert taken["户编号"] == "household_number" and taken["人编号"] == "person_number"
    assert taken["证件号码"] == "id_info" and taken["与户主关系"] == "relation_to_head"
    assert taken["户类型"] == "is_lifted_from_poverty"
    assert taken["易返贫致贫户(监测对象)类型"] == "monitoring_type"
    assert taken["风险是否消除"] == "risk_eliminated"
    assert taken["风险消除时间"] == "risk_eliminated_on"
    assert taken["户联系电话"] == "phone"
