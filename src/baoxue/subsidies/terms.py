"""School terms as the lists write them, normalised to one short form: "2025秋", "2026春".

The autumn term opens a school year, so "2025-2026学年第一学期" is 2025秋 and its second term
is 2026春. A bare school year is refused rather than guessed: subsidies are paid per term.
"""

from __future__ import annotations

import re
from datetime import date

from django.utils.translation import gettext as _

from baoxue.imports.values import CellError, clean_text

AUTUMN = "秋"
SPRING = "春"
_MIN_YEAR = 2000

_DASHES = re.compile(r"[—–―－~～至/]+")
# 2025秋, 2025年秋, 2025年秋季, 2025秋季学期, 2025年度春季学期
_SEASON = re.compile(r"(\d{4})年?度?(春|秋)季?学?期?", re.ASCII)
# 2025年上半年 (spring), 2025年下半年 (autumn)
_HALF = re.compile(r"(\d{4})年?(上|下)半年", re.ASCII)
# 2025-2026学年第一学期, 2025-2026学年度上学期, 2025-2026学年第2学期, 2025-2026-1,
# 2025-26学年第一学期
_YEAR_PAIR = re.compile(
    r"(\d{4})-(\d{4}|\d{2})(?:学年度?第?([一二12上下])学?期?|-([12]))", re.ASCII
)
# 2025-2026学年秋季学期, 2025-2026学年度春季学期 (autumn opens the year, spring ends it)
_YEAR_PAIR_SEASON = re.compile(r"(\d{4})-(\d{4}|\d{2})学年度?(春|秋)季?学?期?", re.ASCII)
# 2025学年第一学期 (the school year that starts in 2025)
_YEAR_ONE = re.compile(r"(\d{4})学年度?第?([一二12上下])学?期?", re.ASCII)
_BARE_YEAR = re.compile(r"(\d{4})(?:-(\d{4}))?学?年度?", re.ASCII)
_FIRST = {"一", "1", "上"}


def term_label(year: int, season: str) -> str:
    return f"{year}{season}"


def _check(year: int, shown: str, today: date) -> int:
    if not _MIN_YEAR <= year <= today.year + 1:
        raise CellError(
            _("学期“%(value)s”的年份不在 %(min)s 到 %(max)s 之间，请核对")
            % {"value": shown, "min": _MIN_YEAR, "max": today.year + 1}
        )
    return year


def _school_year_term(first_year: int, which: str, shown: str, today: date) -> str:
    if which in _FIRST:
        return term_label(_check(first_year, shown, today), AUTUMN)
    return term_label(_check(first_year + 1, shown, today), SPRING)


def parse_term(value: object, *, today: date | None = None) -> str:
    """The normalised term of a cell ('' when empty); CellError for anything else."""
    today = today or date.today()
    shown = clean_text(value)
    if not shown:
        return ""
    text = _DASHES.sub("-", shown.replace(" ", ""))
    if m := _SEASON.fullmatch(text):
        return term_label(_check(int(m[1]), shown, today), m[2])
    if m := _HALF.fullmatch(text):
        season = SPRING if m[2] == "上" else AUTUMN
        return term_label(_check(int(m[1]), shown, today), season)
    if (m := _YEAR_PAIR.fullmatch(text)) or (m := _YEAR_PAIR_SEASON.fullmatch(text)):
        first, second = int(m[1]), int(m[2])
        if len(m[2]) == 2:  # 2025-26
            second += first // 100 * 100
        if second != first + 1:
            raise CellError(_("学年“%(value)s”的两个年份不相连，请核对") % {"value": shown})
        which = m[3] if m.re is _YEAR_PAIR_SEASON else (m[3] or m[4])
        if which in (AUTUMN, SPRING):
            return term_label(_check(first if which == AUTUMN else second, shown, today), which)
        return _school_year_term(first, which, shown, today)
    if m := _YEAR_ONE.fullmatch(text):
        return _school_year_term(int(m[1]), m[2], shown, today)
    if _BARE_YEAR.fullmatch(text):
        raise CellError(
            _("“%(value)s”只写了学年，请写明学期，例如 2025秋 或 2025-2026学年第一学期")
            % {"value": shown}
        )
    raise CellError(
        _("无法识别的学期“%(value)s”，请写成 2025秋 或 2025-2026学年第一学期") % {"value": shown}
    )
