"""Tables handed upward as Excel (or csv): one way to write them, so every list a user takes
away looks the same — a title row, bold headers, identifying numbers kept as text, the
first columns frozen, times in local time (core.times) — and streams from its rows without
holding them (xlsxwriter's constant-memory mode when the target is a path)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import xlsxwriter

from baoxue.core.times import cell


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
    workbook = xlsxwriter.Workbook(
        target, {"constant_memory": True, "in_memory": not isinstance(target, str | Path)}
    )
    ws = workbook.add_worksheet(sheet[:31])
    bold = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    text = workbook.add_format({"num_format": "@"})
    ws.write_string(0, 0, title, bold)
    for col, header in enumerate(headers):
        ws.write_string(1, col, header, bold)
    for col, width in (widths or {}).items():
        ws.set_column(col, col, width, text)
    count = 0
    for count, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if col == 0 and isinstance(value, int):
                ws.write_number(count + 1, col, value)
            else:
                ws.write_string(count + 1, col, "" if value is None else str(cell(value)))
    ws.freeze_panes(2, 2)
    workbook.close()
    return count


def write_csv(handle: IO[str], *, headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    writer = csv.writer(handle)
    writer.writerow(headers)
    count = 0
    for row in rows:
        writer.writerow([cell(value) for value in row])
        count += 1
    return count
