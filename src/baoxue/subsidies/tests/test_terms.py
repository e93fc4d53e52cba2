"""Term and amount cells as the beneficiary lists write them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from baoxue.imports.values import CellError
from baoxue.subsidies.importing import parse_amount
from baoxue.subsidies.terms import parse_term

TODAY = date(2025, 11, 1)


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("2025秋", "2025秋"),
        ("2025 秋", "2025秋"),
        ("2025年秋", "2025秋"),
        ("2025年秋季学期", "2025秋"),
        ("2025秋季学期", "2025秋"),
        ("2025年度春季学期", "2025春"),
        ("２０２５年春季", "2025春"),
        ("2025-2026学年第一学期", "2025秋"),
        ("2025-2026学年第二学期", "2026春"),
        ("2025—2026学年度上学期", "2025秋"),
        ("2025～2026学年下学期", "2026春"),
        ("2025至2026学年第2学期", "2026春"),
        ("2025-2026-1", "2025秋"),
        ("2024-2025-2", "2025春"),
        ("2025学年第一学期", "2025秋"),
        ("2025年上半年", "2025春"),
        ("2025年下半年", "2025秋"),
        ("2025-2026学年秋季学期", "2025秋"),
        ("2025-2026学年度春季学期", "2026春"),
        ("2025-2026学年春季", "2026春"),
        ("2025-26学年第一学期", "2025秋"),
        ("2024-25学年第二学期", "2025春"),
        ("", ""),
        (None, ""),
    ],
)
def test_terms_normalised(text, term):
    assert parse_term(text, today=TODAY) == term


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-2026学年", "只写了学年"),
        ("2025学年", "只写了学年"),
        ("2024-2026学年第一学期", "不相连"),
        ("2025-27学年第一学期", "不相连"),
        ("2024-2026学年秋季学期", "不相连"),
        ("1999秋", "不在 2000 到 2026 之间"),
        ("2027秋", "不在 2000 到 2026 之间"),
        ("秋季学期", "无法识别的学期"),
        ("2025冬", "无法识别的学期"),
        (2025, "无法识别的学期"),
    ],
)
def test_terms_refused(text, message):
    with pytest.raises(CellError) as caught:
        parse_term(text, today=TODAY)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("value", "amount"),
    [
        (625, Decimal("625.00")),
        (625.5, Decimal("625.50")),
        ("1,250", Decimal("1250.00")),
        ("12,500.50", Decimal("12500.50")),
        ("625元", Decimal("625.00")),
        ("￥625.00", Decimal("625.00")),
        (" 0 ", Decimal("0.00")),
        ("", None),
        (None, None),
    ],
)
def test_amounts(value, amount):
    assert parse_amount(value) == amount


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("六百", "不是数字"),
        ("625元/人", "不是数字"),
        (True, "不是数字"),
        ("NaN", "不是数字"),
        (-5, "不能是负数"),
        ("12.345", "两位小数"),
        (1e9, "太大"),
        ("625，750", "逗号位置不对"),
        ("1，250", "逗号位置不对"),
        ("1,25", "逗号位置不对"),
        ("1,2500", "逗号位置不对"),
    ],
)
def test_amounts_refused(value, message):
    with pytest.raises(CellError) as caught:
        parse_amount(value)
    assert message in str(caught.value)
