"""学籍 exports as schools really have them (issue 20): the 学生-prefixed headers provincial
systems write, no 年级 column (the grade from the 班级 or the 入学年月), and a refused file
that says which of its columns it did not recognise."""

from __future__ import annotations

from datetime import date

import pytest

from baoxue.imports import pipeline
from baoxue.imports.reading import FileRefused
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import Action
from baoxue.imports.sources.enrollment import grade_in_class
from baoxue.imports.tests.helpers import write_xlsx
from baoxue.registry.models import Child, Enrollment
from baoxue.registry.tests.factories import make_id_number

SOURCE = SOURCES["enrollment"]
TODAY = date(2026, 12, 7)  # school year 2026–2027

# A provincial 学籍 system's export: every column with the 学生 prefix.
PREFIXED = [
    "序号",
    "学生姓名",
    "学生性别",
    "学生出生日期",
    "学生民族",
    "学生身份证件类型",
    "学生身份证件号",
    "学生全国学籍号",
    "学校标识码",
    "学生年级",
    "学生班级名称",
    "学生当前状态",
    "户口详细地址",
]
SURNAMES = "吴石龙杨韦贾梁潘覃蒙"
GIVEN = ["俊辉", "小梅", "瑶", "明", "丽", "海", "春燕", "志强", "秀", "文"]


def ctx_for(world, persona, **kw):
    return pipeline.ImportContext(
        actor=persona("office"), township=world.township, today=TODAY, **kw
    )


def pupils(n: int, first_year: int = 2013):
    """n distinct pupils: (name, sex, birth, number)."""
    out = []
    for i in range(n):
        birth = date(first_year + i % 8, 1 + i % 12, 1 + i % 27)
        sex = "M" if i % 2 == 0 else "F"
        out.append((SURNAMES[i % 10] + GIVEN[(i * 3) % 10], sex, birth, make_id_number(birth, sex)))
    return out


def test_a_prefixed_provincial_export_imports_every_column(world, persona, tmp_path):
    rows = [PREFIXED]
    kids = pupils(20)
    for i, (name, sex, birth, number) in enumerate(kids):
        grade = 1 + i % 6
        rows.append(
            [
                i + 1,
                name,
                "男性" if sex == "M" else "女性",
                birth.strftime("%Y-%m-%d"),
                "苗族",
                "居民身份证",
                number,
                "G" + number,
                "2145993101",
                f"{'一二三四五六'[grade - 1]}年级",
                f"{'一二三四五六'[grade - 1]}年级({1 + i % 2})班",
                "在读",
                "广西融水县培秀乡乌岭村上寨屯",
            ]
        )
    path = write_xlsx(tmp_path / "prefixed.xlsx", rows, title="2026年秋季学期学生名册")
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.CREATE) == 20, outcome.issues
    assert [i for i in outcome.issues if i.severity == "error"] == []
    for i, (name, sex, birth, number) in enumerate(kids):
        child = Child.objects.get(name=name, birth_date=birth)
        assert (child.sex, child.ethnicity, child.village) == (sex, "苗族", world.village_a)
        assert child.group.name == "上寨屯"
        enrollment = Enrollment.objects.get(child=child)
        assert enrollment.school == world.school_x
        assert enrollment.grade == 1 + i % 6
        assert enrollment.class_name.endswith(f"({1 + i % 2})班")
        assert enrollment.student_number == "G" + number
        assert enrollment.status == Enrollment.Status.STUDYING


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("一年级(1)班", (1, None)),
        ("一年级2班", (1, None)),
        ("七年级3班", (7, None)),
        ("初一(2)班", (7, None)),
        ("初三1班", (9, None)),
        ("2024级1班", (None, 2024)),
        ("1班", (None, None)),
        ("", (None, None)),
    ],
)
def test_the_grade_a_class_name_tells(text, found):
    assert grade_in_class(text) == found


def test_no_grade_column_the_grade_comes_from_the_class_or_the_entry(world, persona, tmp_path):
    header = ["姓名", "性别", "身份证件号", "学校标识码", "班级", "入学年月"]
    kids = pupils(5)
    rows = [
        header,
        [kids[0][0], "男", kids[0][3], "2145993101", "三年级(2)班", ""],
        [kids[1][0], "女", kids[1][3], "2145993201", "初一(2)班", ""],
        # 2024级: the class began two school years ago, at the school's first grade.
        [kids[2][0], "男", kids[2][3], "2145993101", "2024级1班", ""],
        [kids[3][0], "女", kids[3][3], "2145993201", "2025级3班", ""],
        # 1班 says nothing: the 入学年月 (September 2022 at a primary school: grade 5).
        [kids[4][0], "男", kids[4][3], "2145993101", "1班", "2022-09"],
    ]
    path = write_xlsx(tmp_path / "nograde.xlsx", rows)
    ctx = ctx_for(world, persona)
    outcome = pipeline.run(path, SOURCE, ctx, commit=True)
    assert outcome.count(Action.CREATE) == 5, outcome.issues
    grades = {
        e.child.name: e.grade
        for e in Enrollment.objects.filter(child__name__in=[k[0] for k in kids])
    }
    assert grades == {kids[0][0]: 3, kids[1][0]: 7, kids[2][0]: 3, kids[3][0]: 8, kids[4][0]: 5}
    assert ctx.notes["grade_from"] == {"class": 2, "cohort": 2, "entry": 1}


def test_a_row_whose_grade_nothing_tells_is_refused_not_guessed(world, persona, tmp_path):
    kid = pupils(1)[0]
    path = write_xlsx(
        tmp_path / "g.xlsx",
        [["姓名", "身份证件号", "学校标识码", "班级"], [kid[0], kid[3], "2145993101", "3班"]],
    )
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    assert outcome.count(Action.CREATE) == 0
    assert [(i.column, i.severity) for i in outcome.issues] == [("年级", "error")]
    assert "年级" in outcome.issues[0].message


def test_a_refused_file_lists_the_columns_it_did_not_recognise(world, persona, tmp_path):
    kid = pupils(1)[0]
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [["序号", "学生姓名", "证号", "就读学段", "备注"], [1, kid[0], kid[3], "小学三年", ""]],
    )
    with pytest.raises(FileRefused) as refused:
        pipeline.run(path, SOURCE, ctx_for(world, persona), commit=True)
    message = str(refused.value)
    assert "年级" in message  # what is still needed
    assert "证号、就读学段、备注" in message  # what the file has that was not recognised
    assert "序号" not in message.split("没有识别")[1]
    assert refused.value.missing == ["年级"]
    assert refused.value.mapping == {"1": "姓名"}
