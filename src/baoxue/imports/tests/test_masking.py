"""What a problem list, the mapping page's samples and a message show of an identifying
number: never the birth date in it, however the file wrote the number."""

from __future__ import annotations

import io

import pytest

from baoxue.imports import pipeline
from baoxue.imports.sources.disability import parse_card
from baoxue.imports.values import CellError


@pytest.mark.parametrize(
    ("cell", "shown"),
    [
        ("45022620150303123X", "450226************"),
        ("45022620150303123x", "450226************"),
        ("450226 20150303 123X", "450226************"),
        ("450226-20150303-123X", "450226************"),
        ("４５０２２６２０１５０３０３１２３Ｘ", "450226************"),
        ("45022620150303123X11", "450226************11"),  # a 残疾人证号
        ("G45022620150303123X", "G450226************"),  # a 学籍号
        ("450226150303123", "450226*********"),  # 15 digits
        ("6222021234567890123", "622202************3"),  # a bank card number
        ("13800000001", "13800000001"),  # a phone number is not hidden
        ("2014-09-01", "2014-09-01"),
        ("吴俊辉", "吴俊辉"),
        ("", ""),
    ],
)
def test_an_identifying_number_is_masked_however_it_is_written(cell, shown):
    assert pipeline.masked_row([cell]) == [shown]


def test_a_card_number_of_the_wrong_length_is_not_repeated_whole():
    with pytest.raises(CellError) as refused:
        parse_card("45022620150303123X1")  # 19 characters
    assert "20150303" not in str(refused.value)
    assert "450226" in str(refused.value)  # enough to find the row in the file


def test_the_problem_list_and_the_template_notes_speak_the_users_language(tmp_path):
    from django.utils import translation
    from python_calamine import CalamineWorkbook

    from baoxue.imports.registry import SOURCES
    from baoxue.imports.report import write_error_report
    from baoxue.imports.sources.base import RowIssue
    from baoxue.imports.templates_xlsx import template_xlsx

    with translation.override("en"):
        write_error_report(
            tmp_path / "e.xlsx", ["姓名"], [RowIssue(2, "姓名", "x", "bad", "warning")], {}
        )
        template = io.BytesIO(template_xlsx(SOURCES["roster"]))
    notes = CalamineWorkbook.from_filelike(template).get_sheet_by_index(1)
    rows = CalamineWorkbook.from_path(str(tmp_path / "e.xlsx")).get_sheet_by_index(0).to_python()
    assert rows[0] == ["Row", "Severity", "Column", "Reason", "In the file: 姓名"]
    assert rows[1][1] == "Warning"
    assert notes.name == "How to fill in"
