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
from baoxue.registry.models import Child, Enrollment, Guardian
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
        junior = i % 5 == 4  # the junior school writes 初一 / 初一(2)班
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
                "2145993201" if junior else "2145993101",
                "初一" if junior else f"{'一二三四五六'[grade - 1]}年级",
                f"初一({1 + i % 2})班"
                if junior
                else f"{'一二三四五六'[grade - 1]}年级({1 + i % 2})班",
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
        junior = i % 5 == 4
        assert enrollment.school == (world.school_y if junior else world.school_x)
        assert enrollment.grade == (7 if junior else 1 + i % 6)
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


# The national template 全国中小学学籍管理系统学生基本信息表 (docs/research/layouts.md, 1b), in
# its column order, with a third family member as some exports have: no 学校名称, no 年级,
# 班号 for the class, the family members' columns for the guardian.
NATIONAL = [
    "学校标识码", "姓名", "性别", "出生日期", "出生地行政区划代码", "籍贯", "民族", "国籍/地区",
    "身份证件类型", "港澳台侨外", "健康状况", "政治面貌", "身份证件号", "户口性质",
    "户口所在地行政区划", "班号", "入学年月", "入学方式", "就读方式", "现住址", "通信地址",
    "家庭地址", "联系电话", "邮政编码", "是否独生子女", "是否受过学前教育", "是否留守儿童",
    "是否需要申请资助", "是否享受一补", "是否孤儿", "是否烈士或优抚子女", "上下学距离",
    "上下学方式", "是否需要乘坐校车", "曾用名", "身份证件有效期", "血型", "特长", "学籍辅号",
    "班内学号", "学生来源", "电子信箱", "主页地址", "残疾类型", "是否由政府购买学位", "随班就读",
    "成员1姓名", "成员1关系", "成员1关系说明", "成员1现住址", "成员1户口所在地行政区划",
    "成员1联系电话", "成员1是否监护人", "成员1身份证件类型", "成员1身份证件号", "成员1民族",
    "成员1工作单位", "成员1职务", "成员2姓名", "成员2关系", "成员2关系说明", "成员2现住址",
    "成员2户口所在地行政区划", "成员2联系电话", "成员2是否监护人", "成员2身份证件类型",
    "成员2身份证件号", "成员2民族", "成员2工作单位", "成员2职务", "是否进城务工人员随迁子女",
    "成员3姓名", "成员3关系", "成员3联系电话", "成员3是否监护人",
]  # fmt: skip


def national_row(**given):
    cells = dict.fromkeys(NATIONAL, "")
    cells.update(
        {
            "国籍/地区": "中国",
            "身份证件类型": "居民身份证",
            "港澳台侨外": "否",
            "健康状况": "健康或良好",
            "政治面貌": "群众",
            "户口性质": "农业户口",
            "户口所在地行政区划": "450225212",
            "入学方式": "就近入学",
            "就读方式": "走读",
            "是否独生子女": "否",
            "是否受过学前教育": "是",
            "是否留守儿童": "非留守儿童",
            "是否孤儿": "否",
            "残疾类型": "无残疾",
            "随班就读": "否",
            "是否进城务工人员随迁子女": "否",
            "学生来源": "正常入学",
        }
    )
    cells.update(given)
    return [cells[h] for h in NATIONAL]


def test_the_national_template_imports_every_field_it_carries(world, persona, tmp_path):
    kids = pupils(22, first_year=2012)
    fathers = [make_id_number(date(1985, 1, 1 + i), "M") for i in range(20)]
    rows = [NATIONAL]
    for i, (name, sex, birth, number) in enumerate(kids[:20]):
        junior = i % 4 == 3
        rows.append(
            national_row(
                学校标识码="2145993201" if junior else "2145993101",
                姓名=name,
                性别="男" if sex == "M" else "女",
                出生日期=birth.strftime("%Y%m%d"),
                民族="苗族",
                身份证件号=number,
                班号=str(1 + i % 2),
                入学年月="2025-09" if junior else "2021-09",
                现住址="广西融水县培秀乡高岜村归别屯",
                联系电话=f"0772-51{i:05d}",
                是否留守儿童=("单亲留守儿童", "双亲留守儿童", "非留守儿童")[i % 3],
                是否孤儿="是" if i == 5 else "否",
                是否进城务工人员随迁子女="是" if i == 6 else "否",
                残疾类型="肢体残疾" if i == 7 else "无残疾",
                随班就读="是" if i == 7 else "否",
                学籍辅号=f"F{i:04d}",
                班内学号=str(i + 1),
                成员1姓名=f"{name[0]}父{i}",
                成员1关系="父亲",
                成员1联系电话=f"138000{i:05d}",
                成员1是否监护人="否" if i == 8 else "是",
                成员1身份证件号=fathers[i],
                成员2姓名=f"母{i}",
                成员2关系="母亲",
                成员2联系电话=f"139000{i:05d}",
                成员2是否监护人="否",
                # 成员3 (the grandmother) is the guardian of row 8, whose parents are away.
                成员3姓名=f"{name[0]}祖母{i}" if i == 8 else "",
                成员3关系="祖母" if i == 8 else "",
                成员3联系电话="13700000008" if i == 8 else "",
                成员3是否监护人="是" if i == 8 else "",
            )
        )
    # A pupil from Hong Kong with a residence permit, and one with a passport.
    permit = "810000201601010014"
    rows.append(
        national_row(
            学校标识码="2145993101", 姓名="陈嘉欣", 性别="女", 出生日期="2016-01-01",
            身份证件类型="港澳台居民居住证", 身份证件号=permit, 入学年月="2023-09",
            现住址="培秀乡乌岭村", 成员1姓名="陈志明", 成员1关系="父亲",
            成员1联系电话="13900000021", 成员1是否监护人="是",
        )
    )  # fmt: skip
    rows.append(
        national_row(
            学校标识码="2145099999", 姓名="李安娜", 性别="女", 出生日期="2015-06-01",
            身份证件类型="护照", 身份证件号="E12345678", 入学年月="2022-09",
            现住址="培秀乡乌岭村", 成员1姓名="李强", 成员1关系="父亲",
            成员1联系电话="13900000022",
        )
    )  # fmt: skip
    path = write_xlsx(tmp_path / "national.xlsx", rows)
    ctx = ctx_for(world, persona)
    outcome = pipeline.run(path, SOURCE, ctx, commit=True)
    assert outcome.count(Action.CREATE) == 22, outcome.issues
    assert [i for i in outcome.issues if i.severity == "error"] == []
    for i, (name, sex, birth, _number) in enumerate(kids[:20]):
        junior = i % 4 == 3
        child = Child.objects.get(name=name, birth_date=birth)
        assert (child.sex, child.ethnicity, child.id_status) == (sex, "苗族", "valid")
        assert (child.village, child.group.name) == (world.village_b, "归别屯")
        assert child.left_behind == ("one_parent", "both_parents", "none")[i % 3]
        assert child.is_orphan == (i == 5) and child.is_migrant == (i == 6)
        assert child.has_disability == (i == 7)
        assert child.disability_category == ("肢体残疾" if i == 7 else "")
        enrollment = Enrollment.objects.get(child=child)
        assert enrollment.school == (world.school_y if junior else world.school_x)
        # No 年级: from the 入学年月 (2025-09 at a junior school, 2021-09 at a primary).
        assert enrollment.grade == (8 if junior else 6)
        assert enrollment.class_name == str(1 + i % 2)
        assert enrollment.with_class == (i == 7)
        assert (enrollment.auxiliary_number, enrollment.class_number) == (f"F{i:04d}", str(i + 1))
        assert not enrollment.is_boarding
        guardian = child.guardians.get()
        if i == 8:
            assert (guardian.name, guardian.relation, guardian.phone) == (
                f"{name[0]}祖母8",
                "grandparent",
                "13700000008",
            )
        else:
            assert (guardian.name, guardian.relation, guardian.phone) == (
                f"{name[0]}父{i}",
                "father",
                f"138000{i:05d}",
            )
            # The member's ID number is the guardian's, stored as ID numbers are.
            father = fathers[i]
            assert guardian.id_number_masked == father[:6] + "*" * 12
            assert father not in str(Guardian.objects.filter(pk=guardian.pk).values().get())
    assert ctx.notes["grade_from"] == {"entry": 22}
    chen = Child.objects.get(name="陈嘉欣")
    assert (chen.id_status, chen.id_number_hash, chen.document_type) == (
        "empty",
        "",
        "hmt_residence",
    )
    assert chen.document_number_masked == "810000************"
    assert permit not in str(Child.objects.filter(pk=chen.pk).values().get())
    li = Child.objects.get(name="李安娜")
    assert (li.id_status, li.document_type, li.document_number_masked) == (
        "empty",
        "passport",
        "E1*******",
    )
    # Its school was known by its 学校标识码 only: made, to be named by the office.
    school = Enrollment.objects.get(child=li).school
    assert (school.code, school.name) == ("2145099999", "学校 2145099999（名称待补）")
    assert li.guardians.get().name == "李强"  # no one marked: the first parent


def test_a_schools_own_export_without_a_school_column_goes_to_the_chosen_school(
    world, persona, tmp_path
):
    kids = pupils(3)
    rows = [["姓名", "性别", "身份证件号", "年级", "班级"]]
    rows += [[k[0], "男" if k[1] == "M" else "女", k[3], "三年级", "1班"] for k in kids]
    path = write_xlsx(tmp_path / "own.xlsx", rows)
    outcome = pipeline.run(path, SOURCE, ctx_for(world, persona), commit=False)
    assert {i.column for i in outcome.issues} == {"学校名称"}  # no school: said, row by row
    ctx = ctx_for(world, persona, default_school=world.school_x)
    outcome = pipeline.run(path, SOURCE, ctx, commit=True)
    assert outcome.count(Action.CREATE) == 3, outcome.issues
    assert set(
        Enrollment.objects.filter(child__name__in=[k[0] for k in kids]).values_list(
            "school", flat=True
        )
    ) == {world.school_x.pk}


def _upload(client, path, source="enrollment"):
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.urls import reverse

    return client.post(
        reverse("imports:batch_list"),
        {
            "source": source,
            "token": path.name,
            "file": SimpleUploadedFile(path.name, path.read_bytes()),
        },
    )


def test_the_mapping_page_says_what_is_missing_and_which_columns_it_did_not_know(
    world, login, tmp_path
):
    from django.urls import reverse

    from baoxue.imports.models import ImportBatch

    kid = pupils(1)[0]
    path = write_xlsx(
        tmp_path / "m.xlsx",
        [["姓名", "证号", "学校标识码", "就读学段"], [kid[0], kid[3], "2145993101", "小学三年"]],
    )
    client = login("office")
    _upload(client, path)
    batch = ImportBatch.objects.get()
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert 'data-testid="mapping-missing"' in page
    assert "还缺必填项：年级" in page
    assert "文件中这些列没有识别：证号、就读学段" in page


def test_the_office_says_whose_export_it_is_when_it_has_no_school_column(
    world, login, tmp_path, django_capture_on_commit_callbacks
):
    from django.urls import reverse

    from baoxue.imports.models import ImportBatch

    kids = pupils(2)
    rows = [["姓名", "身份证件号", "年级", "班级"]]
    rows += [[k[0], k[3], "三年级", "三年级(1)班"] for k in kids]
    path = write_xlsx(tmp_path / "own.xlsx", rows)
    client = login("office")
    _upload(client, path)
    batch = ImportBatch.objects.get()
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert 'data-testid="default-school"' in page and world.school_x.name in page
    mapping = {f"col_{i}": v for i, v in batch.mapping.items()}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("imports:batch_validate", args=[batch.public_id]),
            {**mapping, "default_school": str(world.school_x.pk), "complete_list": ""},
        )
    batch.refresh_from_db()
    assert batch.status == "validated", batch.error
    assert batch.options["default_school"] == world.school_x.pk
    assert batch.rows_rejected == 0
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("imports:batch_commit", args=[batch.public_id]),
            {"preview": batch.preview_token},
        )
    assert {e.school for e in Enrollment.objects.filter(child__name__in=[k[0] for k in kids])} == {
        world.school_x
    }


def test_a_newer_national_export_updates_the_placement_and_the_numbers(world, persona, tmp_path):
    name, sex, birth, number = pupils(3)[2]  # not 吴俊辉, who is registered already

    def export(with_class, auxiliary):
        row = national_row(
            学校标识码="2145993101", 姓名=name, 性别="男" if sex == "M" else "女",
            出生日期=birth.isoformat(), 身份证件号=number, 班号="2", 入学年月="2021-09",
            现住址="培秀乡乌岭村", 残疾类型="智力残疾", 随班就读=with_class, 学籍辅号=auxiliary,
            班内学号="12",
        )  # fmt: skip
        return write_xlsx(tmp_path / f"n{auxiliary}.xlsx", [NATIONAL, row])

    pipeline.run(export("否", "A1"), SOURCE, ctx_for(world, persona), commit=True)
    enrollment = Enrollment.objects.get(child__name=name)
    assert (enrollment.with_class, enrollment.auxiliary_number) == (False, "A1")
    again = pipeline.run(export("是", "A2"), SOURCE, ctx_for(world, persona), commit=True)
    assert again.count(Action.UPDATE) == 1
    enrollment.refresh_from_db()
    assert (enrollment.with_class, enrollment.auxiliary_number, enrollment.class_number) == (
        True,
        "A2",
        "12",
    )


def test_a_registered_child_takes_the_disability_and_the_document_the_export_gives(
    world, persona, tmp_path
):
    """The 学籍 fills blanks: a child registered from the roster, matched by name and birth
    date, takes the disability the 残疾类型 names and, having no ID number, the passport."""
    from baoxue.registry.services import child_create

    child = child_create(
        actor=None, name="陆安琪", village=world.village_a, birth_date=date(2015, 6, 1)
    )
    row = national_row(
        学校标识码="2145993101", 姓名="陆安琪", 性别="女", 出生日期="2015-06-01",
        身份证件类型="护照", 身份证件号="E76543210", 入学年月="2022-09", 现住址="培秀乡乌岭村",
        残疾类型="听力残疾", 随班就读="是",
    )  # fmt: skip
    outcome = pipeline.run(
        write_xlsx(tmp_path / "lu.xlsx", [NATIONAL, row]),
        SOURCE,
        ctx_for(world, persona),
        commit=True,
    )
    assert outcome.count(Action.CREATE) == 1  # her 学籍; no second child
    assert Child.objects.filter(name="陆安琪").count() == 1
    child.refresh_from_db()
    assert (child.has_disability, child.disability_category) == (True, "听力残疾")
    assert (child.document_type, child.document_number_masked) == ("passport", "E7*******")
    assert Enrollment.objects.get(child=child).with_class
