"""A file and the registry that disagree on a child (信息不一致), through the 户籍 roster and
the 学籍 imports: a row whose ID number names a registered child joins it when the rest of
the row bears it out (a homophone name, a 曾用名, a swapped birth date) and what it says
differently is kept as a Discrepancy; a row that does not (another surname, a twin's name)
becomes a record of its own claiming the number. Rows of one file with one number, the life
of a discrepancy over later files, and the roster's authority over a 学籍's spelling."""

from __future__ import annotations

from datetime import date

import pytest

from baoxue.core import crypto
from baoxue.core.text import pinyin_keys
from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import Action
from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, ROSTER_HEADER, write_xlsx
from baoxue.registry import services
from baoxue.registry.models import Child, Discrepancy, Enrollment
from baoxue.registry.tests.factories import make_id_number

ROSTER = SOURCES["roster"]
ENROLLMENT = SOURCES["enrollment"]
ADDRESS = "广西融水县培秀乡乌岭村上寨屯"


def ctx_for(world, persona):
    return pipeline.ImportContext(actor=persona("office"), township=world.township)


def run(world, persona, path, source):
    return pipeline.run(path, source, ctx_for(world, persona), commit=True)


def roster_row(name, number, birth, *, sex="男", village="乌岭村", group="上寨屯", phone=""):
    """A row of ROSTER_HEADER."""
    return [name, sex, number, birth, "苗族", village, group, "", "", "", phone, ""]


def enrollment_row(name, number, *, birth=None, sex="男", student_number=True, cls="1班"):
    """A row of ENROLLMENT_HEADER at 培秀苗族乡中心小学, 三年级; its birth date the number's
    unless given, its 学籍号 G + the number unless `student_number` is False."""
    if birth is None:
        birth = f"{number[6:10]}-{number[10:12]}-{number[12:14]}"
    return [
        name,
        sex,
        number,
        "G" + number if student_number else "",
        birth,
        "2145993101",
        "",
        "三年级",
        cls,
        "2023.09",
        "在读",
        "走读",
        ADDRESS,
    ]


def issues_of(outcome):
    return [(i.row_number, i.code, i.severity) for i in outcome.issues]


def discrepancies(child):
    return list(
        Discrepancy.objects.filter(child=child)
        .order_by("item", "source")
        .values_list("item", "source", "value", "registry_value", "registry_source", "status")
    )


def register(world, name, birth, sex="F"):
    """A child on the roster of 乌岭村 with a valid ID number, never enrolled."""
    return services.child_create(
        actor=None,
        name=name,
        village=world.village_a,
        birth_date=birth,
        sex=sex,
        ethnicity="苗族",
        id_number=make_id_number(birth, sex),
    )


def fields_of(child):
    child.refresh_from_db()
    return (
        child.name,
        child.birth_date,
        child.sex,
        child.village_id,
        child.id_number_hash,
        child.id_status,
        child.version,
    )


# --- 1. a homophone name ----------------------------------------------------------------------


def test_roster_row_with_a_homophone_name_joins_the_numbers_child(world, persona, tmp_path):
    """伍俊辉 with 吴俊辉's number, birth date and sex: his row, no second child; the roster
    child keeps his name and the other spelling is kept."""
    jun = world.child("吴俊辉")
    before = Child.objects.count()
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [ROSTER_HEADER, roster_row("伍俊辉", jun.id_number, "2016-05-02")],
    )
    outcome = run(world, persona, path, ROSTER)
    assert issues_of(outcome) == [(2, "discrepancy", "warning")]
    assert "姓名（系统中为“吴俊辉”）" in outcome.issues[0].message
    assert [(p.action, p.target) for p in outcome.plan] == [(Action.UNCHANGED, jun)]
    assert Child.objects.count() == before
    assert not Child.objects.filter(name="伍俊辉").exists()
    assert world.child("吴俊辉").name == "吴俊辉"
    assert discrepancies(jun) == [("name", "roster", "伍俊辉", "吴俊辉", "roster", "open")]


def test_enrollment_row_with_a_homophone_name_enrolls_the_numbers_child(world, persona, tmp_path):
    """龙遥 in a 学籍 with 龙瑶's number: 龙瑶 is enrolled under her registered name, and
    the school's spelling is kept against the 户籍's."""
    yao = register(world, "龙瑶", date(2015, 3, 8))
    before = Child.objects.count()
    path = write_xlsx(
        tmp_path / "x.xlsx",
        [ENROLLMENT_HEADER, enrollment_row("龙遥", yao.id_number, sex="女")],
    )
    outcome = run(world, persona, path, ENROLLMENT)
    assert issues_of(outcome) == [(2, "discrepancy", "warning")]
    assert [(p.action, p.record.values["child"]) for p in outcome.plan] == [(Action.CREATE, yao)]
    assert Child.objects.count() == before
    assert not Child.objects.filter(name="龙遥").exists()
    yao.refresh_from_db()
    assert (yao.name, yao.current_school, yao.current_grade, yao.school_status) == (
        "龙瑶",
        world.school_x,
        3,
        "in_school",
    )
    enrollment = Enrollment.objects.get(child=yao)
    assert enrollment.student_number == "G" + yao.id_number
    found = Discrepancy.objects.get(child=yao)
    assert (found.item, found.source, found.value, found.registry_value) == (
        "name",
        "enrollment",
        "龙遥",
        "龙瑶",
    )
    assert (found.registry_source, found.status, found.row_number) == ("roster", "open", 2)


# --- 2. a 曾用名 --------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["roster", "enrollment"])
def test_a_former_name_with_surname_sex_and_birth_date_joins(world, persona, tmp_path, source):
    """吴明 with 吴俊辉's number: not a close spelling, but the surname, the sex and the birth
    date agree and no other child of 乌岭村 was born that day. (The 学籍 row has no 学籍号:
    the ID number alone finds him.)"""
    jun = world.child("吴俊辉")
    before = Child.objects.count()
    if source == "roster":
        rows = [ROSTER_HEADER, roster_row("吴明", jun.id_number, "2016-05-02")]
    else:
        rows = [ENROLLMENT_HEADER, enrollment_row("吴明", jun.id_number, student_number=False)]
    outcome = run(world, persona, write_xlsx(tmp_path / "f.xlsx", rows), SOURCES[source])
    assert issues_of(outcome) == [(2, "discrepancy", "warning")]
    assert Child.objects.count() == before
    assert not Child.objects.filter(name="吴明").exists()
    assert world.child("吴俊辉").name == "吴俊辉"
    assert discrepancies(jun) == [("name", source, "吴明", "吴俊辉", "roster", "open")]


@pytest.mark.parametrize("source", ["roster", "enrollment"])
def test_a_former_name_is_doubted_when_another_child_was_born_that_day(
    world, persona, tmp_path, source
):
    """The same row, but 吴明辉 of 乌岭村 was born the same day: 吴明 may be him (a brother's
    number on his row), so the row becomes a record of its own. (吴小, born that day too,
    casts no doubt: his name is not the row's.)"""
    jun = world.child("吴俊辉")
    for name in ("吴小", "吴明辉"):
        services.child_create(
            actor=None, name=name, village=world.village_a, birth_date=date(2016, 5, 2), sex="M"
        )
    if source == "roster":
        rows = [ROSTER_HEADER, roster_row("吴明", jun.id_number, "2016-05-02")]
    else:
        rows = [ENROLLMENT_HEADER, enrollment_row("吴明", jun.id_number, student_number=False)]
    outcome = run(world, persona, write_xlsx(tmp_path / "f.xlsx", rows), SOURCES[source])
    assert issues_of(outcome) == [(2, "id_claimed", "warning")]
    ming = Child.objects.get(name="吴明")
    assert (ming.id_status, ming.id_number_hash, ming.id_claim_hash) == (
        "claimed",
        "",
        jun.id_number_hash,
    )
    assert discrepancies(jun) == []


@pytest.mark.parametrize("source", ["roster", "enrollment"])
def test_another_child_born_that_day_with_another_name_casts_no_doubt(
    world, persona, tmp_path, source
):
    """In a large village some child was born on any day: 吴小's birthday says nothing of 吴明,
    whose row is 吴俊辉's (a 曾用名)."""
    jun = world.child("吴俊辉")
    services.child_create(
        actor=None, name="吴小", village=world.village_a, birth_date=date(2016, 5, 2), sex="M"
    )
    if source == "roster":
        rows = [ROSTER_HEADER, roster_row("吴明", jun.id_number, "2016-05-02")]
    else:
        rows = [ENROLLMENT_HEADER, enrollment_row("吴明", jun.id_number, student_number=False)]
    outcome = run(world, persona, write_xlsx(tmp_path / "f.xlsx", rows), SOURCES[source])
    assert issues_of(outcome) == [(2, "discrepancy", "warning")]
    assert not Child.objects.filter(name="吴明").exists()
    assert discrepancies(jun) == [("name", source, "吴明", "吴俊辉", "roster", "open")]


# --- 3. a swapped birth date -----------------------------------------------------------------


@pytest.mark.parametrize("source", ["roster", "enrollment"])
def test_a_swapped_birth_date_joins_and_is_kept(world, persona, tmp_path, source):
    """2013-03-04 for 2013-04-30, the name the same: the child's row (a typist's slip), the
    registry keeps its date and the file's is kept beside it."""
    mei = register(world, "潘美", date(2013, 4, 30))
    before = Child.objects.count()
    if source == "roster":
        line = roster_row("潘美", mei.id_number, "2013-03-04", sex="女")
        rows = [ROSTER_HEADER, line]
    else:
        line = enrollment_row("潘美", mei.id_number, birth="2013-03-04", sex="女")
        rows = [ENROLLMENT_HEADER, line]
    outcome = run(world, persona, write_xlsx(tmp_path / "b.xlsx", rows), SOURCES[source])
    assert issues_of(outcome) == [
        (2, "id_birth_mismatch", "warning"),
        (2, "discrepancy", "warning"),
    ]
    assert "出生日期（系统中为 2013-04-30）" in next(
        i.message for i in outcome.issues if i.code == "discrepancy"
    )
    assert Child.objects.count() == before
    mei.refresh_from_db()
    assert (mei.name, mei.birth_date) == ("潘美", date(2013, 4, 30))
    assert discrepancies(mei) == [
        ("birth_date", source, "2013-03-04", "2013-04-30", "roster", "open")
    ]


# --- 4. a number used by another family ------------------------------------------------------


def test_a_number_on_another_surnames_row_is_a_claim_found_again(world, persona, tmp_path):
    """黄明 with 吴俊辉's number: not his row. 黄明 is registered as a record of his own
    that only claims the number; 吴俊辉 is left as he was. The same file again finds that
    record (by the number it claims and its name) and makes no third child."""
    jun = world.child("吴俊辉")
    jun_before = fields_of(jun)
    before = Child.objects.count()
    path = write_xlsx(
        tmp_path / "m.xlsx", [ROSTER_HEADER, roster_row("黄明", jun.id_number, "2016-05-02")]
    )
    outcome = run(world, persona, path, ROSTER)
    assert issues_of(outcome) == [(2, "id_claimed", "warning")]
    assert "已登记的吴俊辉（2016-05-02）" in outcome.issues[0].message
    assert [p.action for p in outcome.plan] == [Action.CREATE]
    assert Child.objects.count() == before + 1
    ming = Child.objects.get(name="黄明")
    assert (ming.id_status, ming.id_number_hash, ming.id_claim_hash) == (
        "claimed",
        "",
        jun.id_number_hash,
    )
    assert (ming.village, ming.on_roster) == (world.village_a, True)
    assert fields_of(jun) == jun_before
    assert discrepancies(jun) == []

    again = run(world, persona, path, ROSTER)
    assert [(p.action, p.target) for p in again.plan] == [(Action.UNCHANGED, ming)]
    assert issues_of(again) == []
    assert Child.objects.count() == before + 1
    assert fields_of(jun) == jun_before
    assert Discrepancy.objects.filter(child__in=[jun, ming]).count() == 0


def test_a_xueji_row_on_another_surnames_number_is_a_claim_found_again(world, persona, tmp_path):
    """The same in a 学籍 without 学籍号: 黄明 is enrolled as a record of his own; a newer
    export (another class, so the row is read again) finds that record, not a third child.
    (What it does with his enrollment: test_a_claimed_record_found_again_keeps_one_enrollment.)"""
    jun = world.child("吴俊辉")
    jun_before = fields_of(jun)
    before = Child.objects.count()
    line = enrollment_row("黄明", jun.id_number, student_number=False)
    outcome = run(
        world, persona, write_xlsx(tmp_path / "a.xlsx", [ENROLLMENT_HEADER, line]), ENROLLMENT
    )
    assert issues_of(outcome) == [(2, "id_claimed", "warning")]
    assert Child.objects.count() == before + 1
    ming = Child.objects.get(name="黄明")
    assert (ming.id_status, ming.id_number_hash, ming.id_claim_hash, ming.on_roster) == (
        "claimed",
        "",
        jun.id_number_hash,
        False,
    )
    assert Enrollment.objects.get(child=ming).class_name == "1班"
    assert fields_of(jun) == jun_before

    newer = enrollment_row("黄明", jun.id_number, student_number=False, cls="2班")
    again = run(
        world, persona, write_xlsx(tmp_path / "b.xlsx", [ENROLLMENT_HEADER, newer]), ENROLLMENT
    )
    assert [p.record.values["child"] for p in again.plan] == [ming]
    assert issues_of(again) == []
    assert Child.objects.count() == before + 1
    assert fields_of(jun) == jun_before
    assert Discrepancy.objects.filter(child__in=[jun, ming]).count() == 0


# --- 5. twins --------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["roster", "enrollment"])
def test_a_twins_number_on_the_other_twins_row_joins_neither(world, persona, tmp_path, source):
    """韦大宝 and 韦二宝, twins of 乌岭村: a row with 大宝's number and 二宝's name is in
    doubt (whose number is wrong?). It becomes a record of its own; nothing of it is written
    to 大宝, and 二宝 is left alone too."""
    birth = date(2014, 8, 8)
    big = register(world, "韦大宝", birth, "M")
    small = register(world, "韦二宝", birth, "M")
    big_before, small_before = fields_of(big), fields_of(small)
    before = Child.objects.count()
    if source == "roster":
        rows = [ROSTER_HEADER, roster_row("韦二宝", big.id_number, "2014-08-08")]
    else:
        rows = [ENROLLMENT_HEADER, enrollment_row("韦二宝", big.id_number)]
    outcome = run(world, persona, write_xlsx(tmp_path / "t.xlsx", rows), SOURCES[source])
    assert issues_of(outcome) == [(2, "id_claimed", "warning")]
    assert Child.objects.count() == before + 1
    claimed = Child.objects.get(name="韦二宝", id_status="claimed")
    assert (claimed.id_number_hash, claimed.id_claim_hash) == ("", big.id_number_hash)
    assert fields_of(big) == big_before and fields_of(small) == small_before
    assert Discrepancy.objects.filter(child__in=[big, small, claimed]).count() == 0
    assert not Enrollment.objects.filter(child__in=[big, small]).exists()


# --- 6. rows of one file with one number -----------------------------------------------------


@pytest.mark.parametrize("source", ["roster", "enrollment"])
def test_rows_differing_only_in_a_column_not_read_are_one_row(world, persona, tmp_path, source):
    """Two rows with one number that differ only in their 序号 and 备注 (columns the import
    does not read): one child, the second row skipped as a repeat."""
    number = make_id_number(date(2015, 11, 11), "M")
    if source == "roster":
        header, line = ROSTER_HEADER, roster_row("潘甲", number, "2015-11-11")
    else:
        header, line = ENROLLMENT_HEADER, enrollment_row("潘甲", number)
    rows = [["序号", *header, "备注"], [1, *line, "第一次"], [2, *line, "重复录入"]]
    before = Child.objects.count()
    outcome = run(world, persona, write_xlsx(tmp_path / "d.xlsx", rows), SOURCES[source])
    assert issues_of(outcome) == [(3, "repeat", "warning")]
    assert outcome.issues[0].message == "与第 2 行内容相同，已跳过"
    assert [(p.record.row_number, p.action) for p in outcome.plan] == [(2, Action.CREATE)]
    assert Child.objects.count() == before + 1
    jia = Child.objects.get(name="潘甲")
    assert jia.id_number == number
    assert Enrollment.objects.filter(child=jia).count() == (source == "enrollment")
    assert discrepancies(jia) == []


@pytest.mark.parametrize("source", ["roster", "enrollment"])
def test_rows_with_close_names_keep_the_fuller_and_the_other_spelling(
    world, persona, tmp_path, source
):
    """龙遥 (row 2) and 龙瑶 (row 3, with a phone too) with one new number: one child, from
    the fuller row 3; row 2 is set aside and its spelling kept as a discrepancy."""
    number = make_id_number(date(2015, 2, 14), "F")
    if source == "roster":
        first = roster_row("龙遥", number, "2015-02-14", sex="女")
        fuller = roster_row("龙瑶", number, "2015-02-14", sex="女", phone="13900000002")
        header = ROSTER_HEADER
    else:
        first = [*enrollment_row("龙遥", number, sex="女"), ""]
        fuller = [*enrollment_row("龙瑶", number, sex="女"), "13900000002"]
        header = [*ENROLLMENT_HEADER, "监护人联系电话"]
    before = Child.objects.count()
    outcome = run(
        world, persona, write_xlsx(tmp_path / "c.xlsx", [header, first, fuller]), SOURCES[source]
    )
    assert issues_of(outcome) == [(2, "duplicate", "warning")]
    assert outcome.issues[0].message.startswith("与第 3 行身份证号相同、")
    assert [(p.record.row_number, p.action) for p in outcome.plan] == [(3, Action.CREATE)]
    assert Child.objects.count() == before + 1
    assert not Child.objects.filter(name="龙遥").exists()
    yao = Child.objects.get(name="龙瑶")
    assert yao.id_number == number
    found = Discrepancy.objects.get(child=yao)
    assert (found.item, found.source, found.value, found.registry_value, found.row_number) == (
        "name",
        source,
        "龙遥",
        "龙瑶",
        2,
    )
    assert (found.registry_source, found.status) == (source, "open")


@pytest.mark.parametrize("source", ["roster", "enrollment"])
def test_rows_with_one_number_and_two_surnames_are_both_kept(world, persona, tmp_path, source):
    """潘甲 and 黄乙 with one new number are not one child: both are imported, the first
    with the number, the second as a record claiming it. The same rows again (in a newer
    roster, or a newer 学籍 with another class) find both children again."""
    number = make_id_number(date(2015, 6, 6), "M")

    def rows(cls):
        if source == "roster":
            return [
                ROSTER_HEADER,
                roster_row("潘甲", number, "2015-06-06"),
                roster_row("黄乙", number, "2015-06-06"),
            ]
        return [
            ENROLLMENT_HEADER,
            enrollment_row("潘甲", number, cls=cls),
            enrollment_row("黄乙", number, cls=cls, student_number=False),
        ]

    before = Child.objects.count()
    outcome = run(world, persona, write_xlsx(tmp_path / "a.xlsx", rows("1班")), SOURCES[source])
    assert issues_of(outcome) == [(3, "id_claimed", "warning")]
    assert [(p.record.row_number, p.action) for p in outcome.plan] == [
        (2, Action.CREATE),
        (3, Action.CREATE),
    ]
    assert Child.objects.count() == before + 2
    jia, yi = Child.objects.get(name="潘甲"), Child.objects.get(name="黄乙")
    assert (jia.id_status, jia.id_number, jia.id_claim_hash) == ("valid", number, "")
    assert (yi.id_status, yi.id_number_hash, yi.id_claim_hash) == (
        "claimed",
        "",
        crypto.lookup_hash(number),
    )
    assert jia.id_number_hash == yi.id_claim_hash
    assert Discrepancy.objects.filter(child__in=[jia, yi]).count() == 0

    again = run(world, persona, write_xlsx(tmp_path / "b.xlsx", rows("2班")), SOURCES[source])
    assert Child.objects.count() == before + 2
    children = [p.target if source == "roster" else p.record.values["child"] for p in again.plan]
    assert children == [jia, yi]
    if source == "roster":
        assert [p.action for p in again.plan] == [Action.UNCHANGED, Action.UNCHANGED]
    assert Discrepancy.objects.filter(child__in=[jia, yi]).count() == 0


# --- 7. a resolved discrepancy stays resolved ------------------------------------------------


@pytest.mark.parametrize("source", ["roster", "enrollment"])
def test_a_resolved_discrepancy_stays_resolved_until_a_new_value(world, persona, tmp_path, source):
    """伍俊辉 for 吴俊辉, judged (the registry is right): the same value in the next file
    changes nothing; a third spelling, 吴骏辉, opens the same discrepancy again. (The 学籍
    files change the class each time, so that each row is read again.)"""
    jun = world.child("吴俊辉")

    def file(name, cls, filename):
        if source == "roster":
            rows = [ROSTER_HEADER, roster_row(name, jun.id_number, "2016-05-02")]
        else:
            rows = [ENROLLMENT_HEADER, enrollment_row(name, jun.id_number, cls=cls)]
        return write_xlsx(tmp_path / filename, rows)

    run(world, persona, file("伍俊辉", "1班", "a.xlsx"), SOURCES[source])
    first = Discrepancy.objects.get(child=jun)
    assert (first.item, first.source, first.value, first.status) == (
        "name",
        source,
        "伍俊辉",
        "open",
    )
    Discrepancy.objects.filter(pk=first.pk).update(status="resolved", resolution="registry")

    again = run(world, persona, file("伍俊辉", "2班", "b.xlsx"), SOURCES[source])
    assert issues_of(again) == [(2, "discrepancy", "warning")]
    assert list(
        Discrepancy.objects.filter(child=jun).values_list("pk", "value", "status", "resolution")
    ) == [(first.pk, "伍俊辉", "resolved", "registry")]

    third = run(world, persona, file("吴骏辉", "3班", "c.xlsx"), SOURCES[source])
    assert issues_of(third) == [(2, "discrepancy", "warning")]
    assert list(
        Discrepancy.objects.filter(child=jun).values_list(
            "pk", "value", "registry_value", "status", "resolution"
        )
    ) == [(first.pk, "吴骏辉", "吴俊辉", "open", "")]
    assert world.child("吴俊辉").name == "吴俊辉"


# --- 8. the list corrected -------------------------------------------------------------------


def test_a_xueji_that_later_agrees_closes_the_discrepancy(world, persona, tmp_path):
    """The school's 学籍 says 龙遥, then its next export 龙瑶 (the 户籍's spelling): the
    discrepancy is closed as corrected by the list."""
    yao = register(world, "龙瑶", date(2015, 3, 9))
    wrong = write_xlsx(
        tmp_path / "a.xlsx", [ENROLLMENT_HEADER, enrollment_row("龙遥", yao.id_number, sex="女")]
    )
    run(world, persona, wrong, ENROLLMENT)
    found = Discrepancy.objects.get(child=yao)
    assert (found.value, found.status) == ("龙遥", "open")

    right = write_xlsx(
        tmp_path / "b.xlsx", [ENROLLMENT_HEADER, enrollment_row("龙瑶", yao.id_number, sex="女")]
    )
    outcome = run(world, persona, right, ENROLLMENT)
    assert issues_of(outcome) == []
    assert [p.action for p in outcome.plan] == [Action.UNCHANGED]
    assert list(
        Discrepancy.objects.filter(child=yao).values_list("pk", "value", "status", "resolution")
    ) == [(found.pk, "龙遥", "resolved", "corrected")]
    assert Discrepancy.objects.get(pk=found.pk).resolved_at is not None


# --- 9. the roster is the authority ----------------------------------------------------------


@pytest.mark.parametrize(("enrolled", "registered"), [("龙遥", "龙瑶"), ("韦丽芳", "韦丽华")])
def test_the_roster_renames_a_child_the_xueji_registered(
    world, persona, tmp_path, enrolled, registered
):
    """A child known only from a 学籍 (not on the roster) as 龙遥; the roster's row with
    her number says 龙瑶: the 户籍 is the authority, so she is 龙瑶 now (her search keys
    too), on the roster, and the 学籍's spelling is kept for her school to correct."""
    number = make_id_number(date(2014, 9, 3), "F")
    run(
        world,
        persona,
        write_xlsx(
            tmp_path / "x.xlsx", [ENROLLMENT_HEADER, enrollment_row(enrolled, number, sex="女")]
        ),
        ENROLLMENT,
    )
    child = Child.objects.get(name=enrolled)
    assert (child.on_roster, child.school_status, child.id_number) == (False, "in_school", number)
    before = Child.objects.count()

    outcome = run(
        world,
        persona,
        write_xlsx(
            tmp_path / "r.xlsx",
            [ROSTER_HEADER, roster_row(registered, number, "2014-09-03", sex="女")],
        ),
        ROSTER,
    )
    assert issues_of(outcome) == [(2, "discrepancy", "warning")]
    assert [(p.action, p.target, p.changes["name"]) for p in outcome.plan] == [
        (Action.UPDATE, child, (enrolled, registered))
    ]
    assert Child.objects.count() == before
    child.refresh_from_db()
    assert (child.name, child.name_pinyin, child.name_initials, child.on_roster) == (
        registered,
        *pinyin_keys(registered),
        True,
    )
    assert discrepancies(child) == [("name", "enrollment", enrolled, registered, "roster", "open")]


# --- a record claiming a number, found again ---------------------------------------------------
# Found through ChildIndex.by_claim: its enrollments, guardians and household are read as any
# matched child's, and the row is compared with it in the row's own village.


def test_a_claimed_record_found_again_keeps_one_enrollment(world, persona, tmp_path):
    """黄明's newer 学籍 row (another class) updates his enrollment; it does not make him a
    second current one at the same school (the first then marked as missing from the list)."""
    jun = world.child("吴俊辉")
    first = enrollment_row("黄明", jun.id_number, student_number=False)
    run(world, persona, write_xlsx(tmp_path / "a.xlsx", [ENROLLMENT_HEADER, first]), ENROLLMENT)
    ming = Child.objects.get(name="黄明", id_status="claimed")
    newer = enrollment_row("黄明", jun.id_number, student_number=False, cls="2班")
    again = run(
        world, persona, write_xlsx(tmp_path / "b.xlsx", [ENROLLMENT_HEADER, newer]), ENROLLMENT
    )
    assert list(
        Enrollment.objects.filter(child=ming).values_list(
            "class_name", "is_current", "absent_from_list_since"
        )
    ) == [("2班", True, None)]
    assert [p.action for p in again.plan] == [Action.UPDATE]


def test_a_claimed_record_found_again_in_its_village_differs_on_nothing(world, persona, tmp_path):
    """黄明's 学籍 names his village (a 村 column), the one he is registered in: finding his
    record again opens no discrepancy (before a fix: village 乌岭村 against 乌岭村)."""
    jun = world.child("吴俊辉")
    header = [*ENROLLMENT_HEADER, "村"]
    first = [*enrollment_row("黄明", jun.id_number, student_number=False), "乌岭村"]
    run(world, persona, write_xlsx(tmp_path / "a.xlsx", [header, first]), ENROLLMENT)
    ming = Child.objects.get(name="黄明", id_status="claimed")
    assert ming.village == world.village_a
    newer = [*enrollment_row("黄明", jun.id_number, student_number=False, cls="2班"), "乌岭村"]
    run(world, persona, write_xlsx(tmp_path / "b.xlsx", [header, newer]), ENROLLMENT)
    assert discrepancies(ming) == []


def test_a_claimed_record_with_household_and_guardian_is_unchanged_next_time(
    world, persona, tmp_path
):
    """The same roster again, 黄明's row with a 户号 and a guardian: nothing changes (before
    a fix: guardian '' → 黄父, household '' → H009 planned again, his version bumped)."""
    jun = world.child("吴俊辉")
    line = roster_row("黄明", jun.id_number, "2016-05-02")
    line[7:11] = ["H009", "黄父", "黄父", "13900000005"]
    path = write_xlsx(tmp_path / "h.xlsx", [ROSTER_HEADER, line])
    run(world, persona, path, ROSTER)
    ming = Child.objects.get(name="黄明", id_status="claimed")
    assert (ming.household.number, ming.version) == ("H009", 1)
    again = run(world, persona, path, ROSTER)
    assert [(p.action, p.changes) for p in again.plan] == [(Action.UNCHANGED, {})]
    ming.refresh_from_db()
    assert ming.version == 1


def test_a_student_number_made_of_the_same_id_number_bears_nothing_out(world, persona, tmp_path):
    """A 学籍号 is G and the ID number: 黄明's row with 吴俊辉's number and the 学籍号 made
    of it, at another school, is a record of its own; 吴俊辉 is not moved there, and the
    学籍号 still finds only his 学籍."""
    jun = world.child("吴俊辉")
    line = enrollment_row("黄明", jun.id_number)
    line[5] = "2145994101"  # 安陲乡中心小学
    outcome = run(world, persona, write_xlsx(tmp_path / "s.xlsx", [ENROLLMENT_HEADER, line]),
                  ENROLLMENT)  # fmt: skip
    assert issues_of(outcome) == [(2, "id_claimed", "warning")]
    ming = Child.objects.get(name="黄明")
    assert ming.id_status == "claimed"
    jun.refresh_from_db()
    assert (jun.current_school, jun.school_status) == (world.school_x, "in_school")
    assert list(
        Enrollment.objects.filter(child=jun).values_list("school__code", "status", "is_current")
    ) == [("2145993101", "01", True)]
    claimed = Enrollment.objects.get(child=ming)
    assert (claimed.school.code, claimed.student_number_hash) == ("2145994101", "")
    assert claimed.student_number == "G" + jun.id_number  # kept, as the file gave it
    assert not Discrepancy.objects.filter(child=jun).exists()


def test_a_disability_row_naming_the_childs_village_differs_on_nothing(world, persona, tmp_path):
    """The 残联 list is matched before its places are read: its 村 column is compared by
    name (乌岭 is 乌岭村), so a row of the child's own village opens no village discrepancy."""
    from baoxue.imports.tests.test_disability_import import HEADER as DISABILITY_HEADER

    yu = world.child("龙雨欣")
    rows = [
        DISABILITY_HEADER,
        [1, "龙雨欣", "女", yu.id_number + "52", "", "", "", "乌岭", "", "", "", ""],
    ]
    run(world, persona, write_xlsx(tmp_path / "d.xlsx", rows), SOURCES["disability"])
    assert discrepancies(yu) == []
    rows[1][7] = "高岜村"  # another village of the township: kept as a discrepancy
    run(world, persona, write_xlsx(tmp_path / "e.xlsx", rows), SOURCES["disability"])
    assert [(d[0], d[2], d[3]) for d in discrepancies(yu)] == [("village", "高岜村", "乌岭村")]
