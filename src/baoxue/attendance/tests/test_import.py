"""The 考勤/请假统计 import: matched to enrollments, upserted per (enrollment, period),
idempotent, row-level errors, scope and the absence alert."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from baoxue.attendance.importing import AttendanceSource, parse_month
from baoxue.attendance.models import AttendanceRecord
from baoxue.core.models import AuditEvent
from baoxue.imports import pipeline
from baoxue.imports.sources.base import Action
from baoxue.imports.tests.helpers import write_xlsx
from baoxue.imports.values import CellError
from baoxue.registry import services
from baoxue.registry.tests.factories import make_id_number

SOURCE = AttendanceSource()
HEADER = [
    "姓名",
    "学籍号",
    "身份证号",
    "学校",
    "年级",
    "班级",
    "统计开始日期",
    "统计结束日期",
    "应到天数",
    "缺勤天数",
    "请假天数",
    "请假原因",
    "连续缺勤天数",
    "备注",
]
OCTOBER = ("2025-10-01", "2025-10-31")


def ctx_for(world, persona, username="office", **kw):
    return pipeline.ImportContext(actor=persona(username), township=world.township, **kw)


def run(path, world, persona, username="office", **kw):
    return pipeline.run(path, SOURCE, ctx_for(world, persona, username, **kw), commit=True)


def line(name, *, number="", id_number="", school="", period=OCTOBER, counts=(22, 0, 0, "", 0)):
    days, absent, leave, reason, longest = counts
    return [
        name,
        number,
        id_number,
        school,
        "",
        "",
        *period,
        days,
        absent,
        leave,
        reason,
        longest,
        "",
    ]


def rows_of(world):
    wu, long_ = world.child("吴俊辉"), world.child("龙雨欣")
    return [
        HEADER,
        # Found by 学籍号.
        line("吴俊辉", number="G" + wu.id_number, counts=(22, 0, 1, "病假", 0)),
        # Found by ID number and the current 学籍.
        line("龙雨欣", id_number=long_.id_number, counts=(22, 5, 0, "", 4)),
    ]


def snapshot():
    return sorted(
        AttendanceRecord.objects.values_list(
            "child__name",
            "school__name",
            "period_start",
            "period_end",
            "school_days",
            "days_absent",
            "days_leave",
            "leave_reason",
            "longest_absence_days",
        )
    )


def test_first_import_creates_records_and_flags_long_absence(world, persona, tmp_path):
    # Row numbers are the sheet's: the title row makes 龙雨欣 row 4.
    outcome = run(
        write_xlsx(tmp_path / "a.xlsx", rows_of(world), title="10月考勤统计"), world, persona
    )
    assert outcome.count(Action.CREATE) == 2
    assert [(i.row_number, i.code, i.severity, i.message) for i in outcome.issues] == [
        (4, "absence_alert", "warning", "连续缺勤 4 天，已达疑似辍学预警线（3 天），请及时核实")
    ]
    start, end = date(2025, 10, 1), date(2025, 10, 31)
    assert snapshot() == [
        ("吴俊辉", "培秀苗族乡中心小学", start, end, 22, 0, 1, "病假", 0),
        ("龙雨欣", "培秀苗族乡民族中学", start, end, 22, 5, 0, "", 4),
    ]
    record = AttendanceRecord.objects.get(child__name="吴俊辉")
    assert record.enrollment == world.enrollment("吴俊辉")
    assert AuditEvent.objects.get(action="import.attendance_committed").data == {
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "alerts": 1,
    }


def test_a_month_column_means_the_whole_month(world, persona, tmp_path):
    wu = world.child("吴俊辉")
    rows = [
        ["姓名", "身份证号", "月份", "应到天数", "缺勤天数"],
        ["吴俊辉", wu.id_number, "2025年11月", 20, 0],
        ["吴俊辉", wu.id_number, "2026.02", 10, 1],
    ]
    outcome = run(write_xlsx(tmp_path / "m.xlsx", rows), world, persona)
    assert outcome.count(Action.CREATE) == 2 and not outcome.issues
    periods = sorted(AttendanceRecord.objects.values_list("period_start", "period_end"))
    assert periods == [
        (date(2025, 11, 1), date(2025, 11, 30)),
        (date(2026, 2, 1), date(2026, 2, 28)),
    ]


def test_second_identical_import_writes_nothing(world, persona, tmp_path):
    path = write_xlsx(tmp_path / "a.xlsx", rows_of(world))
    run(path, world, persona)
    before = snapshot()
    with CaptureQueriesContext(connection) as queries:
        again = run(path, world, persona)
    assert (again.count(Action.UNCHANGED), again.count(Action.CREATE)) == (2, 0)
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if "attendance_attendancerecord" in q["sql"]
        and q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
    ]
    assert writes == []
    assert snapshot() == before


def test_corrected_counts_update_and_missing_columns_keep(world, persona, tmp_path):
    run(write_xlsx(tmp_path / "a.xlsx", rows_of(world)), world, persona)
    long_ = world.child("龙雨欣")
    # A later file without the 连续缺勤天数 and 请假原因 columns.
    rows = [
        ["姓名", "身份证号", "统计开始日期", "统计结束日期", "应到天数", "缺勤天数", "请假天数"],
        ["龙雨欣", long_.id_number, *OCTOBER, 22, 7, ""],
    ]
    outcome = run(write_xlsx(tmp_path / "b.xlsx", rows), world, persona)
    assert [(p.action, p.changes) for p in outcome.plan] == [
        (Action.UPDATE, {"days_absent": (5, 7)})
    ]
    record = AttendanceRecord.objects.get(child=long_)
    assert (record.days_absent, record.days_leave, record.longest_absence_days) == (7, 0, 4)


def test_bad_rows_are_reported_one_by_one(world, persona, tmp_path):
    wu, long_ = world.child("吴俊辉"), world.child("龙雨欣")
    unknown_id = make_id_number(date(2015, 3, 3), "F")
    not_enrolled_id = make_id_number(date(2015, 8, 8), "M")
    services.child_create(
        actor=None, name="潘小明", village=world.village_a, id_number=not_enrolled_id
    )
    rows = [
        HEADER,
        line("吴俊辉", id_number=wu.id_number),
        line("陆新", id_number=unknown_id),
        line("潘小明", id_number=not_enrolled_id),
        line("吴俊辉", id_number=wu.id_number, period=("", "")),
        line("吴俊辉", id_number=wu.id_number, period=("2025-10-31", "2025-10-01")),
        line("吴俊辉", id_number=wu.id_number, period=("2025-10-01", "")),
        line(
            "吴俊辉",
            id_number=wu.id_number,
            period=("2025-11-01", "2025-11-30"),
            counts=(20, 15, 6, "", 0),
        ),
        line(
            "吴俊辉",
            id_number=wu.id_number,
            period=("2025-12-01", "2025-12-10"),
            counts=(12, 0, 0, "", 0),
        ),
        line(
            "吴俊辉",
            id_number=wu.id_number,
            school="培秀苗族乡民族中学",
            period=("2025-09-01", "2025-09-30"),
        ),
        line("吴俊辉", id_number=wu.id_number, period=("2025年13月1日", "2025-10-31")),
        line("龙雨欣", id_number=long_.id_number, counts=(22, "很多", 0, "", 0)),
    ]
    outcome = run(write_xlsx(tmp_path / "bad.xlsx", rows), world, persona)
    errors = {i.row_number: (i.code, i.message) for i in outcome.issues if i.severity == "error"}
    assert {row: code for row, (code, _m) in errors.items()} == {
        3: "not_found",
        4: "no_enrollment",
        5: "period",
        6: "period",
        7: "period",
        8: "days",
        9: "days",
        10: "no_enrollment",
        11: "cell",
        12: "cell",
    }
    assert errors[3][1] == "系统中没有这名学生，请先导入学籍"
    assert errors[4][1] == "系统中该学生没有当前学籍，请先导入学籍"
    assert errors[5][1] == "缺少统计期：请填写统计开始和结束日期，或填写月份"
    assert errors[6][1] == "统计结束日期 2025-10-01 早于开始日期 2025-10-31"
    assert errors[8][1] == "缺勤天数与请假天数之和（21）超过了应到天数（20）"
    assert errors[9][1] == "应到天数 12 超过了统计期的 10 天"
    assert errors[10][1] == "系统中该学生没有在培秀苗族乡民族中学的学籍，请先导入学籍"
    assert errors[12][1] == "缺勤天数“很多”不是天数（写成 3、2.5 或 半天）"
    assert [row[0] for row in snapshot()] == ["吴俊辉"]


def test_repeated_rows_in_one_file(world, persona, tmp_path):
    wu, long_ = world.child("吴俊辉"), world.child("龙雨欣")
    rows = [
        HEADER,
        line("吴俊辉", id_number=wu.id_number),
        line("吴俊辉", id_number=wu.id_number),
        line("龙雨欣", id_number=long_.id_number, counts=(22, 1, 0, "", 1)),
        line("龙雨欣", id_number=long_.id_number, counts=(22, 2, 0, "", 2)),
    ]
    outcome = run(write_xlsx(tmp_path / "r.xlsx", rows), world, persona)
    assert [(i.row_number, i.code) for i in outcome.issues] == [
        (3, "repeat"),
        (4, "duplicate"),
        (5, "duplicate"),
    ]
    assert [row[0] for row in snapshot()] == ["吴俊辉"]


def test_merging_with_the_stored_record_must_stay_consistent(world, persona, tmp_path):
    long_ = world.child("龙雨欣")
    run(write_xlsx(tmp_path / "a.xlsx", rows_of(world)), world, persona)  # 22 days, 5 absent
    rows = [
        ["姓名", "身份证号", "统计开始日期", "统计结束日期", "请假天数"],
        ["龙雨欣", long_.id_number, *OCTOBER, 18],
    ]
    outcome = run(write_xlsx(tmp_path / "b.xlsx", rows), world, persona)
    assert [(i.code, i.severity) for i in outcome.issues] == [("days", "error")]
    assert AttendanceRecord.objects.get(child=long_).days_leave == 0


def test_school_user_imports_only_its_own_students(world, persona, tmp_path):
    wu, long_ = world.child("吴俊辉"), world.child("龙雨欣")
    rows = [
        HEADER,
        line("吴俊辉", id_number=wu.id_number),
        line("龙雨欣", id_number=long_.id_number),
    ]
    outcome = run(
        write_xlsx(tmp_path / "p.xlsx", rows), world, persona, "principal_x", school=world.school_x
    )
    assert [(i.row_number, i.code, i.message) for i in outcome.issues] == [
        (
            3,
            "scope",
            (
                "不是本校（培秀苗族乡中心小学）在读学生，或系统中没有这名学生，未导入；"
                "请核对身份证号、学籍号，或先导入本校学籍"
            ),
        )
    ]
    assert [row[0] for row in snapshot()] == ["吴俊辉"]


def test_a_school_user_cannot_import_its_former_students(world, persona, tmp_path):
    """龙雨欣 graduated from the central primary and is at the middle school now: its old
    school's attendance file does not reach her (the school no longer sees her)."""
    from baoxue.registry.models import Enrollment

    long_ = world.child("龙雨欣")
    Enrollment.objects.create(
        child=long_, school=world.school_x, grade=6, status="07", is_current=False
    )
    rows = [
        HEADER,
        line("龙雨欣", id_number=long_.id_number),
        line("龙某", id_number=long_.id_number),
    ]
    outcome = run(
        write_xlsx(tmp_path / "p.xlsx", rows), world, persona, "principal_x", school=world.school_x
    )
    assert [(i.row_number, i.code) for i in outcome.issues] == [(2, "scope"), (3, "scope")]
    assert "龙雨欣" not in str(outcome.issues)
    assert snapshot() == []


def test_township_office_cannot_import_another_townships_child(world, persona, tmp_path):
    qin = world.child("覃明")
    outcome = run(
        write_xlsx(tmp_path / "t.xlsx", [HEADER, line("覃明", id_number=qin.id_number)]),
        world,
        persona,
    )
    assert [(i.code, i.message) for i in outcome.issues] == [
        ("scope", "不是本乡镇（培秀苗族乡）的学生，未导入")
    ]
    assert not AttendanceRecord.objects.exists()


@pytest.mark.parametrize(
    ("value", "period"),
    [
        ("2025年10月", (date(2025, 10, 1), date(2025, 10, 31))),
        ("2025-02", (date(2025, 2, 1), date(2025, 2, 28))),
        ("202402", (date(2024, 2, 1), date(2024, 2, 29))),
        (date(2025, 9, 1), (date(2025, 9, 1), date(2025, 9, 30))),
        ("", None),
    ],
)
def test_months(value, period):
    assert parse_month(value) == period


def test_month_refused():
    with pytest.raises(CellError) as caught:
        parse_month("十月")
    assert str(caught.value) == "无法识别的月份“十月”，请写成 2025年10月 或 2025-10"


def test_blank_template_headers_are_all_recognised(tmp_path):
    from baoxue.imports.templates_xlsx import template_xlsx

    path = tmp_path / "template.xlsx"
    path.write_bytes(template_xlsx(SOURCE))
    table = pipeline.open_table(path, SOURCE)
    mapping = pipeline.resolve_mapping(SOURCE, table.headers, None, {})
    assert sorted(mapping.values()) == sorted(f.name for f in SOURCE.fields)


def test_blank_cells_of_a_corrected_file_keep_what_is_stored(world, persona, tmp_path):
    """A corrected file fills only 缺勤天数: the reason, the notes and the longest absence
    (the dropout alert) stay; a blank 请假天数 is 0."""
    wu = world.child("吴俊辉")
    first = line("吴俊辉", id_number=wu.id_number, counts=(22, 4, 1, "病假", 4))
    first[-1] = "家访已核实"
    run(write_xlsx(tmp_path / "a.xlsx", [HEADER, first]), world, persona)
    corrected = line("吴俊辉", id_number=wu.id_number, counts=(22, 5, "", "", ""))
    outcome = run(write_xlsx(tmp_path / "b.xlsx", [HEADER, corrected]), world, persona)
    assert [sorted(p.changes) for p in outcome.plan] == [["days_absent", "days_leave"]]
    record = AttendanceRecord.objects.get(child=wu)
    assert (record.days_absent, record.days_leave, record.leave_reason) == (5, 0, "病假")
    assert (record.longest_absence_days, record.notes) == (4, "家访已核实")


def test_the_same_file_after_the_student_moved_changes_nothing(world, persona, tmp_path):
    from baoxue.registry.models import Enrollment
    from baoxue.registry.services import refresh_school_status_bulk

    wu = world.child("吴俊辉")
    path = write_xlsx(tmp_path / "a.xlsx", [HEADER, line("吴俊辉", id_number=wu.id_number)])
    run(path, world, persona)
    Enrollment.objects.filter(child=wu).update(is_current=False, status="10")
    Enrollment.objects.create(child=wu, school=world.school_y, grade=7, is_current=True)
    refresh_school_status_bulk(child_ids={wu.pk})
    outcome = run(path, world, persona)
    assert [p.action for p in outcome.plan] == [Action.UNCHANGED]
    assert AttendanceRecord.objects.filter(child=wu).count() == 1
    assert AttendanceRecord.objects.get(child=wu).school == world.school_x


def test_a_period_the_cells_disagree_on_is_refused(world, persona, tmp_path):
    wu = world.child("吴俊辉")
    header = ["姓名", "身份证号", "月份", "统计开始日期", "统计结束日期", "缺勤天数", "请假天数"]
    rows = [
        header,
        # 月份 says November, the dates say December.
        ["吴俊辉", wu.id_number, "2025年11月", "2025-12-01", "2025-12-31", "1", "0"],
        # Without 应到天数: more days away than the period has.
        ["吴俊辉", wu.id_number, "", "2025-10-01", "2025-10-31", "30", "10"],
    ]
    outcome = run(write_xlsx(tmp_path / "p.xlsx", rows), world, persona)
    assert [(i.row_number, i.column, i.code) for i in outcome.issues] == [
        (2, "月份", "period"),
        (3, "缺勤天数", "days"),
    ]
    assert "超过了统计期的 31 天" in outcome.issues[1].message
    assert snapshot() == []


def test_overlapping_periods_of_one_student_are_refused(world, persona, tmp_path):
    wu = world.child("吴俊辉")
    half = ("2025-10-01", "2025-10-15")
    rows = [
        HEADER,
        line("吴俊辉", id_number=wu.id_number),
        line("吴俊辉", id_number=wu.id_number, period=half, counts=(10, 0, 0, "", 0)),
    ]
    outcome = run(write_xlsx(tmp_path / "a.xlsx", rows), world, persona)
    assert [(i.row_number, i.code) for i in outcome.issues] == [
        (2, "period_overlap"),
        (3, "period_overlap"),
    ]
    assert snapshot() == []
    run(
        write_xlsx(tmp_path / "b.xlsx", [HEADER, line("吴俊辉", id_number=wu.id_number)]),
        world,
        persona,
    )
    outcome = run(
        write_xlsx(
            tmp_path / "c.xlsx",
            [HEADER, line("吴俊辉", id_number=wu.id_number, period=half, counts=(10, 0, 0, "", 0))],
        ),
        world,
        persona,
    )
    assert [i.code for i in outcome.issues] == ["period_overlap"]
    assert "已导入的 2025-10-01 至 2025-10-31" in outcome.issues[0].message
    # The same period again is not an overlap: it is the same record.
    again = run(
        write_xlsx(tmp_path / "b.xlsx", [HEADER, line("吴俊辉", id_number=wu.id_number)]),
        world,
        persona,
    )
    assert [p.action for p in again.plan] == [Action.UNCHANGED]


def test_half_days_are_kept_as_written_and_a_second_import_changes_nothing(
    world, persona, tmp_path
):
    wu, long_ = world.child("吴俊辉"), world.child("龙雨欣")
    rows = [
        HEADER,
        # A morning's sick leave, and a day and a half away, as teachers write them.
        line("吴俊辉", number="G" + wu.id_number, counts=(21.5, "半天", 1.5, "病假", "")),
        line("龙雨欣", id_number=long_.id_number, counts=("22", "3天半", "0", "", "三天半")),
    ]
    path = write_xlsx(tmp_path / "half.xlsx", rows)
    outcome = run(path, world, persona)
    assert outcome.count(Action.CREATE) == 2
    assert [i.message for i in outcome.issues] == [
        "连续缺勤 3.5 天，已达疑似辍学预警线（3 天），请及时核实"
    ]
    wu_record = AttendanceRecord.objects.get(child=wu)
    assert (wu_record.school_days, wu_record.days_absent, wu_record.days_leave) == (
        Decimal("21.5"),
        Decimal("0.5"),
        Decimal("1.5"),
    )
    assert AttendanceRecord.objects.get(child=long_).longest_absence_days == Decimal("3.5")
    again = run(path, world, persona)
    assert again.count(Action.UNCHANGED) == 2 and again.count(Action.UPDATE) == 0


def test_days_beyond_one_decimal_or_over_the_school_days_are_refused_plainly(
    world, persona, tmp_path
):
    wu, long_ = world.child("吴俊辉"), world.child("龙雨欣")
    rows = [
        HEADER,
        line("吴俊辉", number="G" + wu.id_number, counts=(22, 2.25, 0, "", "")),
        line("龙雨欣", id_number=long_.id_number, counts=(2.5, 2, "1天半", "", "")),
    ]
    outcome = run(write_xlsx(tmp_path / "bad.xlsx", rows), world, persona)
    assert [(i.row_number, i.message) for i in outcome.issues] == [
        (2, "缺勤天数“2.25”最多保留一位小数（半天写 0.5）"),
        (3, "缺勤天数与请假天数之和（3.5）超过了应到天数（2.5）"),
    ]
    assert not AttendanceRecord.objects.exists()
