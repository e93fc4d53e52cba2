"""Blank templates: each source's headers and one example row, as xlsx with text columns."""

from __future__ import annotations

import re
from io import BytesIO

from django.utils.translation import gettext as _

from baoxue.core.sheets import open_workbook
from baoxue.imports.pipeline import Source


def template_xlsx(source: Source) -> bytes:
    buffer = BytesIO()
    # Only our own headings and examples: write_string is enough, no quote marks needed.
    workbook = open_workbook(buffer, {"in_memory": True})
    # Excel refuses some characters in sheet names (脱贫户/监测户 has one).
    sheet = workbook.add_worksheet(re.sub(r"[\[\]:*?/\\]", "、", str(source.label))[:31])
    header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1})
    required = workbook.add_format({"bold": True, "bg_color": "#FCE4D6", "border": 1})
    text = workbook.add_format({"num_format": "@"})  # ID numbers must stay text
    example = workbook.add_format({"num_format": "@", "font_color": "#808080", "italic": True})
    fields = [f for f in source.fields if f.in_template]
    for col, field in enumerate(fields):
        label = ("*" if field.required else "") + field.label
        sheet.write_string(0, col, label, required if field.required else header)
        sheet.set_column(col, col, max(10, len(field.label) * 2 + 4), text)
        sheet.write_string(1, col, field.example, example)
    sheet.freeze_panes(1, 0)
    # The headers stay as the national systems write them (they are what the import reads);
    # the notes are in the user's language.
    notes = workbook.add_worksheet(_("填写说明"))
    notes.write_string(0, 0, _("带 * 的列必须填写；第 2 行是示例，导入前请删除。"))
    notes.write_string(
        1, 0, _("身份证号、学籍号请设为“文本”格式，不要存成数字（会丢失末尾几位）。")
    )
    notes.write_string(2, 0, _("日期可写 2014-09-01、2014.9.1、2014年9月1日 等形式。"))
    for row, field in enumerate(fields, start=4):
        aliases = "、".join(field.aliases)
        notes.write_string(row, 0, field.label)
        notes.write_string(
            row, 1, _("也可用：%(aliases)s") % {"aliases": aliases} if aliases else ""
        )
    notes.set_column(0, 0, 24)
    notes.set_column(1, 1, 60)
    workbook.close()
    return buffer.getvalue()
