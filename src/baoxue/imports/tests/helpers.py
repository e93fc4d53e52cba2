"""Spreadsheets for import tests, written the way other systems write them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xlsxwriter


def write_xlsx(path: Path, rows: list[list[Any]], *, title: str | None = None) -> Path:
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("Sheet1")
    offset = 0
    if title:
        sheet.merge_range(0, 0, 0, max(3, len(rows[0]) - 1), title)
        offset = 1
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, (int, float)):
                sheet.write_number(r + offset, c, value)
            else:
                sheet.write_string(r + offset, c, str(value))
    workbook.close()
    return path


ROSTER_HEADER = [
    "姓名",
    "性别",
    "公民身份号码",
    "出生日期",
    "民族",
    "村",
    "组",
    "户号",
    "户主姓名",
    "监护人姓名",
    "联系电话",
    "留守情况",
]
ENROLLMENT_HEADER = [
    "姓名",
    "性别",
    "身份证件号",
    "学籍号",
    "出生日期",
    "学校标识码",
    "学校名称",
    "年级",
    "班级",
    "入学年月",
    "学生当前状态",
    "就读方式",
    "户口所在地",
]


def stored_files(media: Path) -> list[str]:
    """The names of the files stored under a media folder (the `media` fixture's)."""
    return sorted(p.name for p in media.rglob("*") if p.is_file()) if media.exists() else []
