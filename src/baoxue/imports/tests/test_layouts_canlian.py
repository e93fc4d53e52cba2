"""残联 lists as the federation exports them (issue 20): the 残疾人认证 sheet of a district
system (docs/research/layouts.md, 4a) — 证件号码 and 残疾类别 / 残疾等级 but no 残疾人证号, the
village in 居委 or only in the 户口地址, and a 状态 that is not always 有效."""

from __future__ import annotations

from datetime import date

from baoxue.imports import pipeline
from baoxue.imports.sources.base import Action
from baoxue.imports.sources.disability import DisabilitySource
from baoxue.imports.tests.helpers import write_xlsx
from baoxue.registry.models import Child
from baoxue.registry.tests.factories import make_id_number

DISABILITY = DisabilitySource()
TODAY = date(2026, 12, 7)
HEADER = [
    "姓名", "证件号码", "年龄", "性别", "区县", "街道", "居委", "户籍类别", "状态", "残疾类别",
    "残疾等级", "双侧或单侧", "户口地址", "联系地址", "联系电话", "工作/就业", "初次申领日期",
    "业务申请类型", "申请日期", "备注",
]  # fmt: skip
CATEGORIES = ["视力残疾", "听力残疾", "言语残疾", "肢体残疾", "智力残疾", "精神残疾", "多重残疾"]
GRADES = ["一级", "二级", "三级", "四级"]


def line(name, number, *, village="乌岭村", status="有效", category="智力残疾", grade="二级",
         address=None):  # fmt: skip
    cells = dict.fromkeys(HEADER, "")
    cells.update(
        {
            "姓名": name,
            "证件号码": number,
            "性别": "男" if int(number[16]) % 2 else "女",
            "区县": "融水苗族自治县",
            "街道": "培秀苗族乡",
            "居委": village,
            "户籍类别": "农业",
            "状态": status,
            "残疾类别": category,
            "残疾等级": grade,
            "户口地址": f"广西融水县培秀乡{village}上寨屯" if address is None else address,
            "联系电话": "13800000000",
            "初次申领日期": "2022-03-01",
            "业务申请类型": "新办",
        }
    )
    return [cells[h] for h in HEADER]


def test_the_certification_sheet_registers_the_disability_without_a_card_number(
    world, persona, tmp_path
):
    registered = world.child("龙雨欣")  # registered, not known as disabled
    rows = [HEADER, line(registered.name, registered.id_number, category="听力残疾", grade="三级")]
    kids = []
    for i in range(21):
        birth = date(2011 + i % 8, 1 + i % 12, 1 + i)
        number = make_id_number(birth, "M" if i % 2 else "F")
        kids.append((f"残{i}", number, CATEGORIES[i % 7], GRADES[i % 4]))
        rows.append(
            line(
                f"残{i}",
                number,
                category=CATEGORIES[i % 7],
                grade=GRADES[i % 4] if i != 4 else "",  # a grade not given
                status="注销" if i == 3 else "有效",
                # No 居委: the village read from the 户口地址.
                village="" if i == 5 else "乌岭村",
                address="广西融水县培秀乡高岜村归别屯3号" if i == 5 else None,
            )
        )
    rows.append(line("成年人", make_id_number(date(1990, 1, 1), "M")))  # not of school age
    path = write_xlsx(tmp_path / "残疾人认证.xlsx", rows)
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township, today=TODAY)
    outcome = pipeline.run(path, DISABILITY, ctx, commit=True)
    assert [i for i in outcome.issues if i.severity == "error"] == []
    assert outcome.count(Action.CREATE) == 21 and outcome.count(Action.UPDATE) == 1
    assert outcome.skipped_rows == 1  # the adult
    registered.refresh_from_db()
    assert (registered.has_disability, registered.disability_category) == (True, "听力残疾")
    assert registered.disability_grade == "三级"
    assert registered.disability_card_number == registered.id_number + "23"  # 听力 2, 三级 3
    for i, (name, number, category, grade) in enumerate(kids):
        child = Child.objects.get(name=name)
        assert (child.has_disability, child.disability_category) == (True, category)
        assert child.id_number == number
        if i == 4:
            # No grade: the card number cannot be built; the category is what matters.
            assert (child.disability_grade, child.disability_card_number) == ("", "")
        else:
            assert child.disability_grade == grade
            code = str(CATEGORIES.index(category) + 1) + str(GRADES.index(grade) + 1)
            assert child.disability_card_number == number + code
        assert child.disability_card_status == ("注销" if i == 3 else "")
        assert child.village == (world.village_b if i == 5 else world.village_a)
    assert Child.objects.get(name="残5").group.name == "归别屯"
    assert not Child.objects.filter(name="成年人").exists()
