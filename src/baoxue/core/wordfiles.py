"""Word files the apps write with python-docx (the 一人一案 file, a visit's 家访记录表): an A4
page with Chinese fonts Word and WPS both resolve, label–value and header tables, and every cell
scrubbed of anything shaped like an ID number (free text may hold one someone typed in)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Mm, Pt, RGBColor

from baoxue.core.idnumbers import mask, mask_numbers

# The 18- or 15-digit shape of an ID number, also inside a 学籍号 ("G" + the ID number).
_ID_SHAPE = re.compile(r"(?<![0-9])(?:[0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9])")


def scrub(text: Any) -> str:
    """The text with anything shaped like an ID number masked, however it was typed (spaced
    out, a letter in it, a word after it: idnumbers.mask_numbers)."""
    return mask_numbers(_ID_SHAPE.sub(lambda m: mask(m.group(0).upper()), str(text or "")))


# --- python-docx plumbing ------------------------------------------------------------------------

_THEME_FONTS = ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme")


def set_style_font(style: Any, east_asian: str, *, size: float | None = None) -> None:
    """Set the style's fonts for Latin and for Chinese text. python-docx's `font.name` sets
    only the Latin one, and the default styles name theme fonts that Word and WPS resolve to
    a Latin face, so Chinese would fall back to whatever the reader's machine picks."""
    fonts = style.element.get_or_add_rPr().get_or_add_rFonts()
    for attribute in _THEME_FONTS:
        fonts.attrib.pop(qn(attribute), None)
    for attribute in ("w:ascii", "w:hAnsi", "w:cs"):
        fonts.set(qn(attribute), "Times New Roman")
    fonts.set(qn("w:eastAsia"), east_asian)
    style.font.color.rgb = RGBColor(0, 0, 0)
    if size is not None:
        style.font.size = Pt(size)


def new_document(title: str) -> Any:
    """An A4 document with 宋体 text and 黑体 headings, its properties naming no one."""
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin = section.bottom_margin = Mm(20)
    section.left_margin = section.right_margin = Mm(20)
    set_style_font(doc.styles["Normal"], "宋体", size=10.5)
    set_style_font(doc.styles["Title"], "黑体", size=20)
    set_style_font(doc.styles["Heading 1"], "黑体", size=14)
    properties = doc.core_properties
    properties.title = title
    properties.author = "Baoxue"
    properties.comments = ""
    properties.keywords = ""
    properties.created = properties.modified = timezone.now()
    return doc


def pairs(doc: Any, rows: Sequence[tuple[str, Any]]) -> None:
    """A two-column table of label and value."""
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in rows:
        cells = table.add_row().cells
        write(cells[0], label, bold=True)
        write(cells[1], value)
    widths(table, [3.5, 13.5])


def table(doc: Any, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    if not rows:
        doc.add_paragraph(_("（无）"))
        return
    table = doc.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    for cell, header in zip(table.rows[0].cells, headers, strict=True):
        write(cell, header, bold=True)
    # Repeat the header row on every page a long table runs over.
    table.rows[0]._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
    for row in rows:
        for cell, value in zip(table.add_row().cells, row, strict=True):
            write(cell, value)


def write(cell: Any, value: Any, *, bold: bool = False) -> None:
    # Every cell goes through scrub(): free text may hold an ID number someone typed in.
    run = cell.paragraphs[0].add_run(scrub(value))
    run.bold = bold
    run.font.size = Pt(9)


def widths(table: Any, centimetres: Sequence[float]) -> None:
    for row in table.rows:
        for cell, width in zip(row.cells, centimetres, strict=True):
            cell.width = Cm(width)
