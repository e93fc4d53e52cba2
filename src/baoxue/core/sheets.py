"""Tables handed upward as Excel (or csv): one way to write them, so every list a user takes
away looks the same — a title row, bold headers, identifying numbers kept as text, the
first columns frozen, times in local time (core.times) — and streams from its rows without
holding them (xlsxwriter's constant-memory mode when the target is a path).

Every spreadsheet the system writes also goes through the guards here, since names, places
and notes come from files and forms anyone may fill: a cell that starts like a formula
(`=HYPERLINK(...)`, `-2+3+cmd|' /C calc'!A0`) is never handed to Excel as one."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

from baoxue.core.times import cell

# Text that Excel, WPS or LibreOffice reads as a formula when it starts with one of these
# (OWASP's list for CSV injection). The full-width forms too: Excel and WPS with a Chinese or
# Japanese input method take a typed ＝ for =, so such a cell would become a formula when
# someone edits it (F2, Enter); no real name, place or school starts with one of them.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")


def formula_like(value: object) -> bool:
    """Whether a cell holding `value` could be taken for a formula (text only: a number,
    negative or not, is a number)."""
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def safe_cell(value: Any) -> Any:
    """A value for a CSV cell: a time as local time (core.times.cell); text that starts like
    a formula with a leading apostrophe, Excel's own mark for "this is text"; anything else,
    numbers included, as it is."""
    value = cell(value)
    return "'" + value if formula_like(value) else value


def open_workbook(
    target: str | Path | IO[bytes] | Any, options: dict[str, Any]
) -> xlsxwriter.Workbook:
    """An xlsxwriter workbook that never turns text into a formula, a number or a link, even
    through a plain write(): the writers use write_string and write_number, and this keeps a
    stray write() of a name from becoming one."""
    return xlsxwriter.Workbook(
        target,
        {
            **options,
            "strings_to_formulas": False,
            "strings_to_numbers": False,
            "strings_to_urls": False,
        },
    )


class CellWriter:
    """Writes the cells of one worksheet: text always as a string cell, so Excel never runs
    it whatever it starts with, and text that starts like a formula also marked
    quote-prefixed (the apostrophe Excel shows only in the formula bar), so that it stays
    text when someone edits the cell. Numbers are numbers."""

    def __init__(self, workbook: xlsxwriter.Workbook, sheet: Worksheet) -> None:
        self.sheet = sheet
        self.quoted = workbook.add_format({"quote_prefix": True, "num_format": "@"})

    def text(self, row: int, col: int, value: str, fmt: Format | None = None) -> None:
        """Write `value` as text; the quote mark replaces `fmt` on a formula-like cell (only
        our own headings and labels carry a style, and they never start like a formula)."""
        self.sheet.write_string(row, col, value, self.quoted if formula_like(value) else fmt)

    def number(self, row: int, col: int, value: float, fmt: Format | None = None) -> None:
        self.sheet.write_number(row, col, value, fmt)


def write_xlsx(
    target: str | Path | IO[bytes] | Any,
    *,
    sheet: str,
    title: str,
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    widths: dict[int, int] | None = None,
) -> int:
    """Write one table; returns the number of data rows. Every cell is written as text
    except a whole number in the first column (the 序号): an ID number must never become
    a number Excel rounds. A stored time is written in local time."""
    workbook = open_workbook(
        target, {"constant_memory": True, "in_memory": not isinstance(target, str | Path)}
    )
    ws = workbook.add_worksheet(sheet[:31])
    cells = CellWriter(workbook, ws)
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    text = workbook.add_format({"num_format": "@"})
    cells.text(0, 0, title, bold)
    for col, header in enumerate(headers):
        cells.text(1, col, header, bold)
    for col, width in (widths or {}).items():
        ws.set_column(col, col, width, text)
    count = 0
    for count, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if col == 0 and isinstance(value, int):
                cells.number(count + 1, col, value)
            else:
                cells.text(count + 1, col, "" if value is None else str(cell(value)))
    ws.freeze_panes(2, 2)
    workbook.close()
    return count


def write_csv(handle: IO[str], *, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    writer = csv.writer(handle)
    writer.writerow([safe_cell(h) for h in headers])
    count = 0
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
        count += 1
    return count
