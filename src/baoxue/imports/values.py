"""Pure helpers that turn one spreadsheet cell into a clean Python value.

Cells arrive as python-calamine gives them (str, float, int, bool, date, datetime, time,
timedelta) or as CSV strings. They were typed by hand or exported by other systems, so the
helpers forgive *presentation* (full-width characters, stray spaces, Excel's quote prefix,
dates in many spellings) but never guess at *content*: anything ambiguous raises
:class:`CellError`, whose text is shown to the user next to the row number.

No Django models here; messages go through gettext at call time (never at import time).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.utils.translation import gettext as _

from baoxue.core import idnumbers

__all__ = [
    "CellError",
    "clean_text",
    "excel_serial_to_date",
    "mask_numbers",
    "parse_bool",
    "parse_date",
    "parse_id_number_cell",
    "parse_int",
    "parse_sex",
]


class CellError(ValueError):
    """A cell that cannot be used; ``str(exc)`` is the Chinese message for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- text -------------------------------------------------------------------------------------

# Full-width ASCII U+FF01..U+FF5E maps 1:1 onto U+0021..U+007E. Only this part of NFKC is
# applied: full NFKC would also fold '①' into '1' and silently turn garbage into digits.
_FULLWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}
# Zero-width characters, BOM and soft hyphen survive copy/paste from web pages and Word.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad\u200e\u200f"
_TRANSLATE = {**_FULLWIDTH, **{ord(ch): None for ch in _INVISIBLE}}
# Excel users type a leading apostrophe to force text; input methods turn it into curly quotes
# or a backtick.
_LEADING_QUOTES = "'‘’`"
_WHITESPACE = re.compile(r"\s+")
# Han characters (with extensions and compatibility ideographs), kana, and the middle dots used
# in transliterated names (阿依古丽·买买提). A space between two of these is a typing slip
# ("吴 俊辉"), whereas spaces between Latin words carry meaning.
_CJK = (
    "\u2e80-\u2fdf\u3005-\u3007\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
    "\U00020000-\U0003134f\u00b7\u2027\uff65"
)
_CJK_SPACE = re.compile(f"(?<=[{_CJK}]) (?=[{_CJK}])")


def _format_number(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value.is_integer():
        return str(int(value))
    # 15 significant digits is what Excel itself keeps and shows: 0.1+0.2 reads as '0.3'.
    return format(value, ".15g")


def clean_text(value: object) -> str:
    """The text a person sees in the cell, with presentation noise removed.

    None → ''; integral numbers without '.0'; dates as ISO strings; strings with full-width
    ASCII folded, invisible characters dropped, whitespace collapsed and trimmed, Excel's
    leading apostrophe removed and spaces between Chinese characters removed.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return _clean_str(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"  # what Excel shows for a logical cell
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_number(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return _clean_str(str(value))


# A string with none of these is already clean (most cells): _clean_str returns it as is.
_DIRTY = re.compile("[\\s\uff01-\uff5e" + _INVISIBLE + "]|^[" + _LEADING_QUOTES + ']|^="')


def _clean_str(value: str) -> str:
    if not _DIRTY.search(value):
        return value
    s = value.translate(_TRANSLATE)
    s = _WHITESPACE.sub(" ", s).strip()
    while True:  # until stable, so that clean_text(clean_text(x)) == clean_text(x)
        before = s
        if s and s[0] in _LEADING_QUOTES:
            s = s.lstrip(_LEADING_QUOTES).strip()
        # Some systems export ="0123" so that Excel keeps leading zeros when it opens a CSV.
        if len(s) >= 3 and s.startswith('="') and s.endswith('"'):
            s = s[2:-1].strip()
        if s == before:
            break
    if " " in s:
        s = _CJK_SPACE.sub("", s)
    return s


# --- numbers inside a text: core.idnumbers.mask_numbers (pages and Word files use it too) -----

mask_numbers = idnumbers.mask_numbers


# --- dates ------------------------------------------------------------------------------------

_MIN_YEAR = 1900
_MAX_SERIAL = 2958465  # 9999-12-31, the last day Excel can represent
_MIN_SERIAL = 10000  # 1927-05-18: an earlier "serial" is a short form of a date, not a serial
# re.ASCII: \d must not accept other scripts' digits (or '²'), which int() would then misread.
_TIME_SUFFIX = re.compile(
    r"[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$", re.IGNORECASE | re.ASCII
)
_RE_YMD = re.compile(r"(\d{4})[-./年](\d{1,2})[-./月](\d{1,2})[日号]?", re.ASCII)
_RE_YM = re.compile(r"(\d{4})[-./年](\d{1,2})月?", re.ASCII)
_RE_YMD_DIGITS = re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII)
_RE_YM_DIGITS = re.compile(r"(\d{4})(\d{2})", re.ASCII)
_RE_DIGITS_6_8 = re.compile(r"\d{6}|\d{8}", re.ASCII)
_RE_SERIAL_TEXT = re.compile(r"\d{1,5}(?:\.\d+)?", re.ASCII)


def excel_serial_to_date(serial: float) -> date:
    """Date of an Excel serial number in the 1900 date system.

    Excel pretends 1900 was a leap year (a Lotus 1-2-3 bug it kept), so serial 60 is the
    non-existent 1900-02-29 and every later serial is one day ahead of the real count.
    Raises ValueError for serial 60 and for serials outside 1..2958465.
    """
    days = math.floor(serial)
    if days < 1 or days > _MAX_SERIAL:
        raise ValueError(f"serial {serial} outside 1..{_MAX_SERIAL}")
    if days == 60:
        raise ValueError("serial 60 is 1900-02-29, which does not exist")
    if days < 60:
        return date(1899, 12, 31) + timedelta(days=days)
    return date(1899, 12, 30) + timedelta(days=days)


def _unrecognised(shown: str) -> CellError:
    return CellError(_("无法识别的日期“%(value)s”，请写成 2014-09-01 的形式") % {"value": shown})


def _make_date(year: int, month: int, day: int, shown: str) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise CellError(
            _("日期“%(value)s”不存在（%(year)s年没有%(month)s月%(day)s日），请核对")
            % {"value": shown, "year": year, "month": month, "day": day}
        ) from None


def _check_year(d: date, shown: str, today: date) -> date:
    if not _MIN_YEAR <= d.year <= today.year + 1:
        raise CellError(
            _("日期“%(value)s”的年份 %(year)s 不在 %(min)s 到 %(max)s 之间，请核对")
            % {"value": shown, "year": d.year, "min": _MIN_YEAR, "max": today.year + 1}
        )
    return d


def _from_digits(digits: str, shown: str) -> date:
    """20140901 or 201409, typed as text or as a number."""
    m = _RE_YMD_DIGITS.fullmatch(digits)
    if m:
        return _make_date(int(m[1]), int(m[2]), int(m[3]), shown)
    m = _RE_YM_DIGITS.fullmatch(digits)
    if m:
        return _make_date(int(m[1]), int(m[2]), 1, shown)
    raise _unrecognised(shown)


def _from_number(value: float, shown: str) -> date:
    if not math.isfinite(value):
        raise _unrecognised(shown)
    if value.is_integer() and value >= 100000:
        # A realistic serial is below 100000 (that is the year 2173), so a bigger whole
        # number is 20140901 or 201409 typed into a General cell.
        return _from_digits(str(int(value)), shown)
    whole = math.floor(value)
    if 1900 <= whole <= 2100:
        # Serials in this range are dates in 1905; what people actually mean is a year, or
        # "2014.09" that Excel stored as the number 2014.09.
        if value.is_integer():
            raise CellError(
                _("日期“%(value)s”只有年份，请写出完整日期，例如 2014-09-01") % {"value": shown}
            )
        fraction = repr(value).partition(".")[2]
        if fraction == "1":
            raise CellError(
                _(
                    "日期“%(value)s”无法确定月份：Excel 把“%(year)s.10”也存成 %(year)s.1，"
                    "分不清是 1 月还是 10 月。请把这一列设置为“文本”格式后重新填写，"
                    "或写成 2014-09-01 的形式"
                )
                % {"value": shown, "year": whole}
            )
        if len(fraction) <= 2 and fraction.isdigit():
            return _make_date(whole, int(fraction), 1, shown)
        raise _unrecognised(shown)
    if value < 1:
        # Excel keeps a time of day as a fraction of one day.
        raise CellError(_("“%(value)s”是时间而不是日期，请填写日期") % {"value": shown})
    if value < _MIN_SERIAL:
        # A serial below 10000 is a day before 1927-05-18: no date these lists hold. What
        # people mean by 23.9, 16.5 or 1409 is a short form of 2023年9月 or 2014年9月.
        raise CellError(
            _("日期“%(value)s”无法识别：年份请写全四位，例如 2023-09-01 或 2023-09")
            % {"value": shown}
        )
    try:
        return excel_serial_to_date(value)
    except ValueError:
        raise _unrecognised(shown) from None


def parse_date(value: object, *, today: date | None = None) -> date | None:
    """A date from a cell: date objects, Excel serials, and the spellings people type.

    Accepted text: 2014-09-01, 2014-9-1, 2014.09.01, 2014/9/1, 20140901, 2014年9月1日, with an
    optional time ('2014-09-01 00:00:00'); month-only forms (2014-09, 2014.09, 201409,
    2014年09月) give the first of the month. Empty → None. Anything else, impossible dates
    and years outside 1900..next year raise :class:`CellError`.
    """
    today = today or date.today()
    if value is None:
        return None
    if isinstance(value, bool):
        raise _unrecognised(clean_text(value))
    if isinstance(value, datetime):
        return _check_year(value.date(), clean_text(value), today)
    if isinstance(value, date):
        return _check_year(value, clean_text(value), today)
    if isinstance(value, time | timedelta):
        raise CellError(_("“%(value)s”是时间而不是日期，请填写日期") % {"value": clean_text(value)})
    if isinstance(value, int | float):
        return _check_year(_from_number(float(value), clean_text(value)), clean_text(value), today)

    shown = clean_text(value)
    if not shown:
        return None
    text = _TIME_SUFFIX.sub("", shown).replace(" ", "")
    m = _RE_YMD.fullmatch(text)
    if m:
        return _check_year(_make_date(int(m[1]), int(m[2]), int(m[3]), shown), shown, today)
    m = _RE_YM.fullmatch(text)
    if m:
        return _check_year(_make_date(int(m[1]), int(m[2]), 1, shown), shown, today)
    if _RE_DIGITS_6_8.fullmatch(text):
        return _check_year(_from_digits(text, shown), shown, today)
    if _RE_SERIAL_TEXT.fullmatch(text):
        # A serial number exported as text by a program that did not format the column.
        return _check_year(_from_number(float(text), shown), shown, today)
    raise _unrecognised(shown)


# --- identity numbers -------------------------------------------------------------------------

_RE_SCIENTIFIC = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?E[+-]?[0-9]+", re.IGNORECASE)
# Excel keeps 15 significant digits; whole numbers below 10**15 therefore survive intact (old
# 15-digit numbers typed into a General cell), longer ones have lost their last digits.
_EXACT_LIMIT = 10**15


def _lost_digits_message(*, student_number: bool = False) -> str:
    if student_number:
        return _(
            "学籍号被 Excel 存成了数字，只保留了前 15 位，后几位已经丢失。"
            "请在 Excel 或 WPS 中把这一列设置为“文本”格式后重新录入完整学籍号"
            "（或在学籍号前加英文单引号 '），不要照抄表格里现在显示的数字。"
        )
    return _(
        "身份证号被 Excel 存成了数字，只保留了前 15 位，后几位已经丢失。"
        "请在 Excel 或 WPS 中把这一列设置为“文本”格式后重新录入完整号码"
        "（或在号码前加英文单引号 '），不要照抄表格里现在显示的数字。"
    )


def number_cell_text(value: object, *, student_number: bool = False) -> str:
    """The text of a cell holding an identifying number (身份证号, or 学籍号 with
    `student_number`), cleaned: a number cell's digits when Excel kept them all. A number
    cell past 15 digits, or its scientific-notation text such as '4.50226E+17', means Excel
    has already destroyed the last digits: that raises :class:`CellError` explaining how to
    fix the file, because any digits we could produce would be wrong."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if math.isfinite(value) and float(value).is_integer() and 0 <= value < _EXACT_LIMIT:
            return str(int(value))
        raise CellError(_lost_digits_message(student_number=student_number))
    text = clean_text(value)
    if _RE_SCIENTIFIC.fullmatch(text.replace(" ", "")):
        shown = (
            _("学籍号显示成了科学计数法（%(value)s）。")
            if student_number
            else _("身份证号显示成了科学计数法（%(value)s）。")
        )
        raise CellError(
            shown % {"value": text} + _lost_digits_message(student_number=student_number)
        )
    return text


def parse_id_number_cell(value: object) -> str:
    """The identity number in a cell, normalised but not validated ('' when empty); a
    number cell that lost digits raises CellError (number_cell_text)."""
    return idnumbers.normalize(number_cell_text(value))


# --- integers ---------------------------------------------------------------------------------

_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6}
_CN_DIGITS.update({"七": 7, "八": 8, "九": 9})
_CN_NUMBER = "零〇一二两三四五六七八九十"
_RE_INT = re.compile(r"[+-]?[0-9]+(?:\.0*)?")  # '3.0': a number that went through a float
_RE_THOUSANDS = re.compile(r"[0-9]{1,3}(?:,[0-9]{3})+")
_RE_UNIT = re.compile(r"([0-9]+)(?:周岁|岁|人|口|个|次|天|年级|级|年|月)")
# 三年级, 小学三年级, 初中一年级 (= 7), 七年级, 3年级; optionally followed by the class, as
# in 三年级(2)班.
_GRADE_NUMBER = rf"[0-9]{{1,2}}|[{_CN_NUMBER}]{{1,3}}"
_CLASS_SUFFIX = r"(?:\(?\w{1,3}\)?班)?"
_RE_GRADE = re.compile(rf"(小学|初中|高中)?({_GRADE_NUMBER})年级{_CLASS_SUFFIX}")
_RE_SHORT_GRADE = re.compile(rf"([初高])([一二三]){_CLASS_SUFFIX}")
_STAGE_OFFSET = {"初中": 6, "高中": 9}


def _cn_small_number(text: str) -> int | None:
    """1..99 written with Chinese numerals (三, 十, 十二, 二十三); None if not that."""
    if text.isdigit() and text.isascii():
        return int(text)
    if "十" not in text:
        return _CN_DIGITS[text] if len(text) == 1 and text in _CN_DIGITS else None
    tens, _sep, ones = text.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return None
    t = 1 if not tens else _CN_DIGITS.get(tens)
    o = 0 if not ones else _CN_DIGITS.get(ones)
    if t is None or o is None:
        return None
    return t * 10 + o


def _int_from_text(text: str) -> int | None:
    if _RE_INT.fullmatch(text):
        return int(text.split(".")[0])
    if _RE_THOUSANDS.fullmatch(text):
        return int(text.replace(",", ""))
    m = _RE_UNIT.fullmatch(text)
    if m:
        return int(m[1])
    m = _RE_GRADE.fullmatch(text)
    if m:
        n = _cn_small_number(m[2])
        stage = m[1] or ""
        if n is None or n == 0:
            return None
        if stage in ("初中", "高中"):
            # 初中一年级 is grade 7; some write 初中七年级, which already counts from 小学.
            if n <= 3:
                return n + _STAGE_OFFSET[stage]
            return n if _STAGE_OFFSET[stage] < n <= _STAGE_OFFSET[stage] + 3 else None
        return n
    m = _RE_SHORT_GRADE.fullmatch(text)
    if m:
        return (6 if m[1] == "初" else 9) + _CN_DIGITS[m[2]]
    return None


def parse_int(
    value: object,
    *,
    field_label: str,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """A whole number: 3, 3.0, '3', '3人', and grade words ('三年级' → 3, '初一' → 7).

    Empty → None. Raises :class:`CellError` naming ``field_label`` otherwise.
    """
    if value is None:
        return None
    shown = clean_text(value)
    result: int | None
    if isinstance(value, bool):
        result = None
    elif isinstance(value, int):
        result = value
    elif isinstance(value, float):
        result = int(value) if math.isfinite(value) and value.is_integer() else None
    else:
        if not shown:
            return None
        result = _int_from_text(shown.replace(" ", ""))
    if result is None:
        raise CellError(_("%(field)s“%(value)s”不是整数") % {"field": field_label, "value": shown})
    too_small = minimum is not None and result < minimum
    too_big = maximum is not None and result > maximum
    if too_small or too_big:
        if minimum is not None and maximum is not None:
            msg = _("%(field)s“%(value)s”应在 %(min)s 到 %(max)s 之间")
        elif minimum is not None:
            msg = _("%(field)s“%(value)s”不能小于 %(min)s")
        else:
            msg = _("%(field)s“%(value)s”不能大于 %(max)s")
        raise CellError(
            msg % {"field": field_label, "value": shown, "min": minimum, "max": maximum}
        )
    return result


_RE_DAYS = re.compile(r"([0-9]+(?:\.[0-9]+)?)天?")
# 2天半, 五天, 十二天半: whole days in digits or Chinese numerals, and a half.
_RE_DAYS_WORDS = re.compile(rf"([0-9]+|[{_CN_NUMBER}]+)(?:天(半)?)?")


def parse_days(value: object, *, field_label: str, maximum: int = 366) -> Decimal | None:
    """A number of days, whole or with one decimal (a half day: 2.5, 2.5天, 半天, 2天半).

    Empty → None. Raises :class:`CellError` naming ``field_label`` otherwise."""
    if value is None:
        return None
    shown = clean_text(value)
    if isinstance(value, bool):
        raise CellError(_("%(field)s“%(value)s”不是天数") % {"field": field_label, "value": shown})
    result: Decimal | None = None
    if isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        # 2.5 as Excel stores it; 2.499999… from a formula is 2.5 too.
        result = Decimal(repr(round(value, 6))) if math.isfinite(value) else None
    elif shown:
        text = shown.replace(" ", "")
        if text == "半天":
            result = Decimal("0.5")
        elif m := _RE_DAYS.fullmatch(text):
            result = Decimal(m[1])  # the pattern admits only numbers
        elif (m := _RE_DAYS_WORDS.fullmatch(text)) and (
            whole := _cn_small_number(m[1])
        ) is not None:
            result = Decimal(whole) + (Decimal("0.5") if m[2] else 0)
    else:
        return None
    if result is None:
        raise CellError(
            _("%(field)s“%(value)s”不是天数（写成 3、2.5 或 半天）")
            % {"field": field_label, "value": shown}
        )
    if not 0 <= result <= maximum:
        raise CellError(
            _("%(field)s“%(value)s”应在 %(min)s 到 %(max)s 之间")
            % {"field": field_label, "value": shown, "min": 0, "max": maximum}
        )
    if result != result.quantize(Decimal("0.1")):
        raise CellError(
            _("%(field)s“%(value)s”最多保留一位小数（半天写 0.5）")
            % {"field": field_label, "value": shown}
        )
    return result.quantize(Decimal("0.1"))


# --- yes/no and sex ---------------------------------------------------------------------------

_TRUE = frozenset({"是", "有", "对", "真", "Y", "YES", "T", "TRUE", "1", "√", "✓", "✔", "☑"})
_FALSE = frozenset(
    {"否", "无", "没有", "不是", "非", "假", "N", "NO", "F", "FALSE", "0", "×", "✗", "✘", "☐"}
)


def parse_bool(value: object, *, field_label: str) -> bool | None:
    """是/否, 有/无, Y/N, 1/0, TRUE/FALSE, √/×; empty → None; else :class:`CellError`."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    text = clean_text(value).replace(" ", "").upper()
    if not text:
        return None
    if text in _TRUE or text in ("1.0",):
        return True
    if text in _FALSE or text in ("0.0",):
        return False
    raise CellError(
        _("%(field)s“%(value)s”无法识别，请填写“是”或“否”")
        % {"field": field_label, "value": clean_text(value)}
    )


# GB/T 2261.1: 1 = male, 2 = female.
_SEX = {
    **dict.fromkeys(("男", "男性", "男生", "M", "MALE", "1"), "M"),
    **dict.fromkeys(("女", "女性", "女生", "F", "FEMALE", "2"), "F"),
}


def parse_sex(value: object) -> str:
    """'M' or 'F' from 男/女, M/F or the GB/T 2261.1 codes 1/2; '' when empty."""
    if isinstance(value, bool):
        raise CellError(
            _("性别“%(value)s”无法识别，请填写“男”或“女”") % {"value": clean_text(value)}
        )
    text = clean_text(value).replace(" ", "").upper()
    if not text:
        return ""
    sex = _SEX.get(text)
    if sex is None:
        raise CellError(
            _("性别“%(value)s”无法识别，请填写“男”或“女”") % {"value": clean_text(value)}
        )
    return sex
