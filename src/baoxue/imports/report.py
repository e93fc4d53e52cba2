"""The error report: every rejected or doubtful row, its reason, and the row as it was."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from django.utils.translation import gettext as _

from baoxue.core.sheets import CellWriter, open_workbook
from baoxue.imports.sources.base import RowIssue


def write_error_report(
    target: Path | IO[bytes] | Any,
    headers: list[str],
    issues: Iterable[RowIssue | Any],
    originals: dict[int, list[str]],
) -> None:
    """Write the report as xlsx. Every cell is text, so numbers stay as they were, and a cell
    of the file that starts like a formula stays text too (core.sheets.CellWriter)."""
    workbook = open_workbook(
        target, {"constant_memory": True, "in_memory": not isinstance(target, Path)}
    )
    sheet = workbook.add_worksheet(_("导入问题"))
    cells = CellWriter(workbook, sheet)
    bold = workbook.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1})
    error = workbook.add_format({"font_color": "#9C0006", "bg_color": "#FFC7CE"})
    warning = workbook.add_format({"font_color": "#9C5700", "bg_color": "#FFEB9C"})
    fixed = [_("行号"), _("类型"), _("列"), _("原因")]
    in_file = [_("原表：%(header)s") % {"header": h} for h in headers]
    for col, text in enumerate(fixed + in_file):
        cells.text(0, col, text, bold)
    sheet.set_column(0, 0, 6)
    sheet.set_column(1, 1, 8)
    sheet.set_column(2, 2, 12)
    sheet.set_column(3, 3, 48)
    sheet.set_column(4, 4 + len(headers), 14)
    sheet.freeze_panes(1, 0)
    for row, issue in enumerate(issues, start=1):
        severity = getattr(issue, "severity", "error")
        fmt = error if severity == "error" else warning
        cells.number(row, 0, issue.row_number)
        cells.text(row, 1, _("错误") if severity == "error" else _("提醒"), fmt)
        cells.text(row, 2, issue.column or "")
        cells.text(row, 3, issue.message)
        for col, value in enumerate(originals.get(issue.row_number, []), start=len(fixed)):
            cells.text(row, col, str(value))
    workbook.close()


def write_column_report(
    target: Path, headers: list[str], mapping: dict[str, str], missing: list[str]
) -> None:
    """For a file refused for its columns: each of its headers and what it was taken as (or
    that it was not recognised), then the fields still needed."""
    workbook = open_workbook(target, {"in_memory": False})
    sheet = workbook.add_worksheet(_("列对应"))
    cells = CellWriter(workbook, sheet)
    bold = workbook.add_format({"bold": True, "bg_color": "#F2F2F2", "border": 1})
    error = workbook.add_format({"font_color": "#9C0006", "bg_color": "#FFC7CE"})
    warning = workbook.add_format({"font_color": "#9C5700", "bg_color": "#FFEB9C"})
    for col, text in enumerate([_("第几列"), _("文件中的表头"), _("识别为")]):
        cells.text(0, col, text, bold)
    sheet.set_column(0, 0, 8)
    sheet.set_column(1, 2, 28)
    row = 0
    for index, header in enumerate(headers):
        row += 1
        cells.number(row, 0, index + 1)
        cells.text(row, 1, header)
        taken = mapping.get(str(index), "")
        cells.text(row, 2, taken or _("未识别"), None if taken else warning)
    for label in missing:
        row += 1
        cells.text(row, 1, "", None)
        cells.text(row, 2, _("缺少必填项：%(field)s") % {"field": label}, error)
    workbook.close()
