"""An issue names the column as the user's file heads it, in the preview and the report."""

from __future__ import annotations

from datetime import date

import pytest

from baoxue.imports import pipeline
from baoxue.imports.registry import SOURCES
from baoxue.imports.sources.base import Field, RowIssue
from baoxue.imports.tests.helpers import ROSTER_HEADER, write_xlsx
from baoxue.registry.tests.factories import make_id_number

pytestmark = pytest.mark.django_db


def _row(name: str, number: str, birth: str = "") -> list[str]:
    return [name, "男", number, birth, "苗族", "乌岭村", "上寨屯", "", "", "", "", ""]


def test_issues_name_the_files_own_headers(world, persona, tmp_path):
    """The file heads the ID column 公民身份号码 (the roster's field is 身份证号): a cell
    issue (a wrong check character), a check across rows (one number twice) and a date
    that contradicts the number all name 公民身份号码 or the file's 出生日期."""
    twice = make_id_number(date(2015, 4, 1), "M")
    good = make_id_number(date(2016, 9, 9), "F")
    wrong = good[:-1] + ("1" if good[-1] == "0" else "0")  # its check character broken
    header = list(ROSTER_HEADER)
    assert header[2] == "公民身份号码"
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [
            header,
            _row("潘甲", twice),
            _row("潘乙", twice),
            _row("潘丙", wrong),
            _row("潘丁", make_id_number(date(2014, 3, 3), "M"), "2013-01-01"),
        ],
    )
    ctx = pipeline.ImportContext(actor=persona("office"), township=world.township)
    outcome = pipeline.run(path, SOURCES["roster"], ctx)
    by_row: dict[int, set[str]] = {}
    for issue in outcome.issues:
        by_row.setdefault(issue.row_number, set()).add(issue.column)
    assert by_row[3] == {"公民身份号码"} and 2 not in by_row  # the repeated number
    assert by_row[4] == {"公民身份号码"}  # the check character
    assert "身份证号" not in set().union(*by_row.values())
    assert by_row[5] <= {"公民身份号码", "出生日期"} and by_row[5]


class _Source:
    fields = [
        Field("id_info", "身份证号", ("证件号码",)),
        Field("number", "学籍号", ("身份证号",)),  # an alias that is another field's label
    ]


def test_a_label_wins_over_another_fields_alias_and_unmapped_names_stay():
    issues = [
        RowIssue(2, "身份证号", "x", ""),
        RowIssue(2, "证件号码", "x", ""),
        RowIssue(3, "学籍号", "x", ""),
        RowIssue(4, "监护人姓名", "x", ""),  # no such column in the file
    ]
    found = pipeline.in_file_columns(
        issues, _Source(), {"0": "id_info", "1": "number"}, ["证号", "G号"]
    )
    assert [i.column for i in found] == ["证号", "证号", "G号", "监护人姓名"]
