"""Tests for baoxue.imports.values (pure functions; Django only for gettext)."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from baoxue.imports.values import (
    CellError,
    clean_text,
    excel_serial_to_date,
    parse_bool,
    parse_date,
    parse_id_number_cell,
    parse_int,
    parse_sex,
)

TODAY = date(2025, 6, 1)
HYP = settings(max_examples=200, deadline=None)


# --- clean_text -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("", ""),
        (123, "123"),
        (123.0, "123"),
        (-0.0, "0"),
        (1.5, "1.5"),
        (0.1 + 0.2, "0.3"),
        (True, "TRUE"),
        (date(2014, 9, 1), "2014-09-01"),
        (datetime(2014, 9, 1), "2014-09-01"),
        (datetime(2014, 9, 1, 10, 30), "2014-09-01 10:30:00"),
        (time(10, 30), "10:30:00"),
        ("ＡＢＣ１２３－（２）", "ABC123-(2)"),
        ("\u3000吴俊辉\u00a0", "吴俊辉"),
        ("吴 俊辉", "吴俊辉"),
        ("吴\u3000俊\u00a0辉", "吴俊辉"),
        ("吴  俊   辉", "吴俊辉"),
        ("身份证\n号码", "身份证号码"),
        ("Li  Ming", "Li Ming"),
        ("Wu Junhui 吴俊辉", "Wu Junhui 吴俊辉"),
        ("三年级 2 班", "三年级 2 班"),
        ("阿依古丽 · 买买提", "阿依古丽·买买提"),
        ("'450226201201011234", "450226201201011234"),
        ("＇0012", "0012"),
        ("‘0012", "0012"),
        ("’0012", "0012"),
        ("`0012", "0012"),
        ("''  0012", "0012"),
        ("'", ""),
        ('="0012"', "0012"),
        ("\ufeff姓名", "姓名"),
        ("姓\u200b名\u200d", "姓名"),
        ("\t450226201201011234\r\n", "450226201201011234"),
        ("a\tb", "a b"),
    ],
)
def test_clean_text(value: object, expected: str) -> None:
    assert clean_text(value) == expected


@HYP
@given(st.text())
def test_clean_text_never_crashes_and_is_stable(text: str) -> None:
    out = clean_text(text)
    assert isinstance(out, str)
    assert out == out.strip()
    assert "\u200b" not in out and "\ufeff" not in out and "\u3000" not in out
    assert clean_text(out) == out


@HYP
@given(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.dates(),
        st.datetimes(),
        st.times(),
        st.timedeltas(),
    )
)
def test_clean_text_any_cell_type(value: object) -> None:
    assert isinstance(clean_text(value), str)


# --- parse_date -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2014-09-01",
        "2014-9-1",
        "2014.09.01",
        "2014.9.1",
        "2014/9/1",
        "2014/09/01",
        "20140901",
        "2014年9月1日",
        "2014年09月01日",
        "2014年9月1号",
        "2014 年 9 月 1 日",
        "2014-09-01 00:00:00",
        "2014/9/1 0:00",
        "2014-09-01T08:30:00+08:00",
        "２０１４－０９－０１",
        "２０１４年９月１日",
        " '2014-09-01 ",
    ],
)
def test_parse_date_day_forms(text: str) -> None:
    assert parse_date(text, today=TODAY) == date(2014, 9, 1)


MONTH_FORMS = ["2014年09月", "2014年9月", "2014-09", "2014.09", "2014.9", "2014/9", "201409"]


@pytest.mark.parametrize("text", [*MONTH_FORMS, "２０１４.０９"])
def test_parse_date_month_forms_give_first_of_month(text: str) -> None:
    assert parse_date(text, today=TODAY) == date(2014, 9, 1)


@pytest.mark.parametrize("value", [None, "", "   ", "\u3000"])
def test_parse_date_empty(value: object) -> None:
    assert parse_date(value, today=TODAY) is None


def test_parse_date_python_values() -> None:
    assert parse_date(date(2014, 9, 1), today=TODAY) == date(2014, 9, 1)
    assert parse_date(datetime(2014, 9, 1, 13, 5), today=TODAY) == date(2014, 9, 1)


@pytest.mark.parametrize(
    ("serial", "expected"),
    [
        (41883, date(2014, 9, 1)),
        (41883.0, date(2014, 9, 1)),
        (41883.75, date(2014, 9, 1)),  # a date with a time of day
        ("41883", date(2014, 9, 1)),  # a serial exported as text
        (10000, date(1927, 5, 18)),
        (45809, date(2025, 6, 1)),
    ],
)
def test_parse_date_excel_serials(serial: object, expected: date) -> None:
    assert parse_date(serial, today=TODAY) == expected


@pytest.mark.parametrize("value", ["23.9", "16.5", "1409", "999", 23.9, 14.09, 1, 59, 61, 9999])
def test_a_short_date_is_refused_not_read_as_a_day_of_1900(value: object) -> None:
    """23.9 is what people type for 2023年9月; as an Excel serial it is 1900-01-23. No date
    these lists hold is before 1927, where serials reach five digits."""
    with pytest.raises(CellError, match="年份请写全四位"):
        parse_date(value, today=TODAY)


def test_excel_serial_60_is_the_phantom_leap_day() -> None:
    with pytest.raises(ValueError, match="1900-02-29"):
        excel_serial_to_date(60)
    with pytest.raises(CellError):
        parse_date(60, today=TODAY)


@pytest.mark.parametrize("serial", [0, -1, 2958466, float("nan"), float("inf")])
def test_excel_serial_out_of_range(serial: float) -> None:
    with pytest.raises(CellError):
        parse_date(serial, today=TODAY)


@given(st.dates(min_value=date(1900, 3, 1), max_value=date(2026, 12, 31)))
@HYP
def test_excel_serial_round_trip(d: date) -> None:
    serial = (d - date(1899, 12, 30)).days
    assert excel_serial_to_date(serial) == d
    # Serials below 10000 (before 1927-05-18) are refused as short forms of dates.
    assume(serial >= 10000)
    assert parse_date(serial, today=TODAY) == d
    assert parse_date(float(serial), today=TODAY) == d


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (20140901, date(2014, 9, 1)),  # yyyymmdd typed into a General cell
        (20140901.0, date(2014, 9, 1)),
        (201409, date(2014, 9, 1)),
        (2014.09, date(2014, 9, 1)),  # "2014.09" that Excel stored as a number
        (2014.9, date(2014, 9, 1)),
        (2014.12, date(2014, 12, 1)),
    ],
)
def test_parse_date_numbers_people_typed(number: float, expected: date) -> None:
    assert parse_date(number, today=TODAY) == expected


def test_parse_date_2014_point_1_is_ambiguous() -> None:
    # Excel stores both "2014.1" and "2014.10" as the number 2014.1.
    with pytest.raises(CellError, match="1 月还是 10 月"):
        parse_date(2014.1, today=TODAY)
    # As text it is unambiguous.
    assert parse_date("2014.1", today=TODAY) == date(2014, 1, 1)
    assert parse_date("2014.10", today=TODAY) == date(2014, 10, 1)


@pytest.mark.parametrize("value", [2014, "2014", 2014.0])
def test_parse_date_year_only(value: object) -> None:
    with pytest.raises(CellError, match="只有年份"):
        parse_date(value, today=TODAY)


@pytest.mark.parametrize(
    "text", ["2014-02-30", "2014-13-01", "20140230", "2014年2月30日", "2014.00", "2015-02-29"]
)
def test_parse_date_impossible(text: str) -> None:
    with pytest.raises(CellError, match="不存在"):
        parse_date(text, today=TODAY)


def test_parse_date_leap_day() -> None:
    assert parse_date("2016-02-29", today=TODAY) == date(2016, 2, 29)


@pytest.mark.parametrize(
    "value", ["1899-12-31", "2027-01-01", "20300101", date(1850, 1, 1), datetime(2099, 1, 1)]
)
def test_parse_date_year_out_of_range(value: object) -> None:
    with pytest.raises(CellError, match="不在 1900 到 2026 之间"):
        parse_date(value, today=TODAY)


def test_parse_date_next_year_allowed() -> None:
    assert parse_date("2026-12-31", today=TODAY) == date(2026, 12, 31)


@pytest.mark.parametrize(
    "text",
    [
        "abc",
        "14-9-1",
        "9/1/2014",
        "01/09/2014",
        "2014-09-01-02",
        "二〇一四年九月一日",
        "2014年",
        "1234567",
        "2014-09-01 25:61:99x",
        "١٢٣٤-٠٩-٠١",  # Arabic-Indic digits are not taken for a date
    ],
)
def test_parse_date_unrecognised(text: str) -> None:
    with pytest.raises(CellError) as info:
        parse_date(text, today=TODAY)
    assert str(info.value) == f"无法识别的日期“{clean_text(text)}”，请写成 2014-09-01 的形式"


@pytest.mark.parametrize("value", [time(10, 30), timedelta(days=1), 0.5, True])
def test_parse_date_not_a_date(value: object) -> None:
    with pytest.raises(CellError):
        parse_date(value, today=TODAY)


@HYP
@given(st.one_of(st.text(), st.text(alphabet="0123456789-./年月日号 :T'", max_size=24)))
def test_parse_date_text_only_raises_cell_error(text: str) -> None:
    try:
        result = parse_date(text, today=TODAY)
    except CellError as exc:
        assert str(exc)
    else:
        assert result is None or date(1900, 1, 1) <= result <= date(2026, 12, 31)


@HYP
@given(st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True)))
def test_parse_date_numbers_only_raise_cell_error(number: float) -> None:
    try:
        result = parse_date(number, today=TODAY)
    except CellError:
        pass
    else:
        assert result is not None and date(1900, 1, 1) <= result <= date(2026, 12, 31)


# --- identity numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        4.5022620120101126e17,
        450226201201011000.0,  # what Excel keeps: 15 significant digits
        450226201201011234,  # an int cell (xls) is just as lossy in Excel
        1234567890123456.0,  # 16 digits
        "5.2241820170209126e+17",
        "4.50226E+17",
        "4.50226e17",
        " 4.50226E+17 ",
        "４.５０２２６Ｅ＋１７",
    ],
)
def test_id_number_stored_as_number_is_refused(value: object) -> None:
    with pytest.raises(CellError) as info:
        parse_id_number_cell(value)
    message = str(info.value)
    assert "文本" in message and "单引号" in message and "不要照抄" in message


def test_id_number_scientific_message_quotes_the_cell() -> None:
    with pytest.raises(CellError, match=r"科学计数法（4.50226E\+17）"):
        parse_id_number_cell("4.50226E+17")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, ""),
        ("", ""),
        ("450226201201011234", "450226201201011234"),
        ("'45022620120101123x", "45022620120101123X"),
        ("４５０２２６２０１２０１０１１２３Ｘ", "45022620120101123X"),
        (" 450226 20120101 123X ", "45022620120101123X"),
        ("450226201201011.0", "450226201201011"),
        # 15 digits survive a number cell exactly (Excel keeps 15 significant digits).
        (450226120101123.0, "450226120101123"),
        (450226120101123, "450226120101123"),
    ],
)
def test_id_number_cell(value: object, expected: str) -> None:
    assert parse_id_number_cell(value) == expected


# --- parse_int --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, 3),
        (3.0, 3),
        ("3", 3),
        (" 3 ", 3),
        ("3.0", 3),
        ("３", 3),
        ("-2", -2),
        ("1,234", 1234),
        ("12岁", 12),
        ("5人", 5),
        ("3年级", 3),
        ("三年级", 3),
        ("七年级", 7),
        ("九年级", 9),
        ("十年级", 10),
        ("小学六年级", 6),
        ("初一", 7),
        ("初二", 8),
        ("初三", 9),
        ("初中一年级", 7),
        ("初中七年级", 7),
        ("高一", 10),
        ("高中二年级", 11),
        ("三年级(2)班", 3),
        ("三年级（2）班", 3),
        ("初二3班", 8),
        ("三 年 级", 3),
    ],
)
def test_parse_int(value: object, expected: int) -> None:
    assert parse_int(value, field_label="年级") == expected


@pytest.mark.parametrize("value", [None, "", "  "])
def test_parse_int_empty(value: object) -> None:
    assert parse_int(value, field_label="年级") is None


@pytest.mark.parametrize(
    "value", ["三", "abc", 3.5, "3.5", True, "初四", "初中五年级", "零年级", "3班", float("nan")]
)
def test_parse_int_rejects(value: object) -> None:
    with pytest.raises(CellError, match=r"^年级“.*”不是整数$"):
        parse_int(value, field_label="年级")


def test_parse_int_bounds() -> None:
    assert parse_int("9", field_label="年级", minimum=1, maximum=9) == 9
    with pytest.raises(CellError, match="年级“10”应在 1 到 9 之间"):
        parse_int(10, field_label="年级", minimum=1, maximum=9)
    with pytest.raises(CellError, match="人数“-1”不能小于 0"):
        parse_int("-1", field_label="人数", minimum=0)
    with pytest.raises(CellError, match="人数“100”不能大于 99"):
        parse_int("100", field_label="人数", maximum=99)


# --- parse_bool and parse_sex -----------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["是", "有", "Y", "y", "yes", "1", 1, 1.0, "TRUE", "true", True, "√", "✓", " 是 "]
)
def test_parse_bool_true(value: object) -> None:
    assert parse_bool(value, field_label="是否留守") is True


@pytest.mark.parametrize(
    "value", ["否", "无", "没有", "不是", "N", "no", "0", 0, 0.0, "FALSE", False, "×", "Ｎ"]
)
def test_parse_bool_false(value: object) -> None:
    assert parse_bool(value, field_label="是否留守") is False


@pytest.mark.parametrize("value", [None, "", " "])
def test_parse_bool_empty(value: object) -> None:
    assert parse_bool(value, field_label="是否留守") is None


@pytest.mark.parametrize("value", ["也许", "2", 2, "X", "/"])
def test_parse_bool_rejects(value: object) -> None:
    with pytest.raises(CellError, match=r"是否留守“.*”无法识别"):
        parse_bool(value, field_label="是否留守")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("男", "M"),
        ("女", "F"),
        (" 男 ", "M"),
        ("男性", "M"),
        ("女生", "F"),
        ("M", "M"),
        ("f", "F"),
        ("Female", "F"),
        ("1", "M"),
        ("2", "F"),
        (1, "M"),
        (2.0, "F"),
        ("", ""),
        (None, ""),
    ],
)
def test_parse_sex(value: object, expected: str) -> None:
    assert parse_sex(value) == expected


@pytest.mark.parametrize("value", ["未知", "0", "9", 3, True, "男女"])
def test_parse_sex_rejects(value: object) -> None:
    with pytest.raises(CellError, match=r"性别“.*”无法识别"):
        parse_sex(value)


@HYP
@given(st.text())
def test_other_parsers_only_raise_cell_error(text: str) -> None:
    for parse in (
        lambda v: parse_int(v, field_label="x"),
        lambda v: parse_bool(v, field_label="x"),
        parse_sex,
        parse_id_number_cell,
    ):
        with contextlib.suppress(CellError):
            parse(text)


@pytest.mark.parametrize(
    ("cell", "days"),
    [
        (3, "3"),
        (2.5, "2.5"),
        (2.4999999999, "2.5"),  # a formula's float
        ("2.5", "2.5"),
        ("2.5天", "2.5"),
        ("３天", "3"),
        ("半天", "0.5"),
        ("2天半", "2.5"),
        ("五天", "5"),
        ("十二天半", "12.5"),
        (0, "0"),
        ("", None),
        (None, None),
    ],
)
def test_days_read_whole_and_half_days(cell, days):
    from decimal import Decimal

    from baoxue.imports.values import parse_days

    found = parse_days(cell, field_label="请假天数")
    assert found == (Decimal(days) if days is not None else None)


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        (2.25, "请假天数“2.25”最多保留一位小数（半天写 0.5）"),
        ("很多", "请假天数“很多”不是天数（写成 3、2.5 或 半天）"),
        (-1, "请假天数“-1”应在 0 到 366 之间"),
        (400, "请假天数“400”应在 0 到 366 之间"),
        (float("nan"), "请假天数“nan”不是天数（写成 3、2.5 或 半天）"),
        (True, "请假天数“TRUE”不是天数"),
    ],
)
def test_days_that_are_not_days_are_refused_with_how_to_write_them(cell, message):
    from baoxue.imports.values import CellError, parse_days

    with pytest.raises(CellError) as raised:
        parse_days(cell, field_label="请假天数")
    assert str(raised.value) == message


def test_days_text_writes_stored_days_as_people_do():
    from decimal import Decimal

    from baoxue.core.text import days_text

    assert [days_text(Decimal(d)) for d in ("3.0", "2.5", "0.0", "10")] == ["3", "2.5", "0", "10"]
    assert days_text(None) == "" and days_text(4) == "4"
