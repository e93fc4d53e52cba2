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
        ("45022620150303123911", "450226************11"),  # a 残疾人证号
        # Not a card (the number's check character is wrong): the last two may be its own.
        ("45022620150303123X11", "450226**************"),
        ("G45022620150303123X", "G450226************"),  # a 学籍号
        ("450226150303123", "450226*********"),  # 15 digits
        # A digit too many (the check character last) or a bank card number.
        ("4502262015030312309", "450226*************"),
        ("6222021234567890123", "622202*************"),
        # Inside a text, with a letter for a digit, in Excel's scientific notation.
        ("身份证450226201503031239号", "身份证450226************号"),
        ("曾用 450226 20150303 1239", "曾用 450226 ******** ****"),
        ("4502262015O3031239", "450226************"),
        ("G4502262015O3031239", "G450226************"),
        ("4.50226201503031E+17", "4.50226*********E+17"),
        ("曾用号４５０２２６２０１５０３０３１２３９", "曾用号450226************"),
        ("13800000001", "13800000001"),  # a phone number is not hidden
        ("13800000001/13900000002", "13800000001/13900000002"),
        ("2014-09-01", "2014-09-01"),
        ("2014-09-01 2015-03-02", "2014-09-01 2015-03-02"),
        ("吴俊辉", "吴俊辉"),
        ("", ""),
    ],
)
def test_an_identifying_number_is_masked_however_it_is_written(cell, shown):
    assert pipeline.masked_row([cell]) == [shown]


def test_a_message_quoting_a_cell_masks_the_number_in_it(world, persona, tmp_path):
    """Whichever source quotes a cell in its message (a 学籍号 that is not G and a number, a
    number in scientific notation), the problem list shows it masked, as the row beside it."""
    from datetime import date

    from baoxue.imports.registry import SOURCES
    from baoxue.imports.tests.helpers import ENROLLMENT_HEADER, write_xlsx

    number = world.child("吴俊辉").id_number
    line = ["吴俊辉", "男", number, "X" + number, "2016-05-02", "2145993101", "", "三年级", "1班"]
    other = [*line[:2], f"{int(number[:15]) / 1e14:.14f}E+17", "", *line[4:]]
    path = write_xlsx(tmp_path / "x.xlsx", [ENROLLMENT_HEADER[:9], line, other])
    ctx = pipeline.ImportContext(
        actor=persona("office"), township=world.township, today=date(2026, 11, 1)
    )
    outcome = pipeline.run(path, SOURCES["enrollment"], ctx)
    messages = [i.message for i in outcome.issues]
    cells = [str(c) for row in outcome.originals.values() for c in row]
    assert any(f"学籍号“X{number[:6]}************”格式不对" in m for m in messages), messages
    assert any(f"科学计数法（{number[0]}.{number[1:6]}*********E+17）" in m for m in messages)
    assert f"X{number[:6]}************" in cells
    assert not any(number[6:14] in text for text in messages + cells)


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
