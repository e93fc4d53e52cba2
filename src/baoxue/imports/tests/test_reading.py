"""Tests for baoxue.imports.reading: file types, encodings, header detection, refusals.

Test files are generated: xlsx with xlsxwriter, ods and xls by hand (LibreOffice is not
available here; both formats are small enough to write directly for a few cells).
"""

from __future__ import annotations

import random
import re
import struct
import time
import zipfile
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import xlsxwriter
from xlsxwriter.worksheet import Worksheet

from baoxue.imports.reading import (
    MAX_SHEET_CELLS,
    FileRefused,
    Table,
    column_letter,
    normalize_header,
    read_table,
)
from baoxue.imports.values import CellError, parse_date, parse_id_number_cell

EXPECTED = ["姓名", "身份证号", "身份证号码", "公民身份号码", "出生日期", "性别", "学校"]
ID = "450226201201011234"


# --- builders ---------------------------------------------------------------------------------


def make_xlsx(path: Path, build: Callable[[xlsxwriter.Workbook, Worksheet], None]) -> Path:
    workbook = xlsxwriter.Workbook(str(path))
    build(workbook, workbook.add_worksheet("名册"))
    workbook.close()
    return path


def write_rows(ws: Worksheet, first_row: int, rows: Sequence[Sequence[Any]], col: int = 0) -> None:
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if value is not None:
                ws.write(first_row + i, col + j, value)


def _ods_cell(value: Any) -> str:
    if value is None or value == "":
        return "<table:table-cell/>"
    if isinstance(value, date):
        return (
            f'<table:table-cell office:value-type="date" office:date-value="{value.isoformat()}">'
            f"<text:p>{value.isoformat()}</text:p></table:table-cell>"
        )
    if isinstance(value, int | float):
        return (
            f'<table:table-cell office:value-type="float" office:value="{value}">'
            f"<text:p>{value}</text:p></table:table-cell>"
        )
    return (
        f'<table:table-cell office:value-type="string"><text:p>{escape(value)}</text:p>'
        "</table:table-cell>"
    )


def make_ods(path: Path, rows: Sequence[Sequence[Any]], tail: str = "") -> Path:
    """A minimal OpenDocument spreadsheet; ``tail`` is raw XML appended to the table."""
    body = "".join(
        "<table:table-row>" + "".join(_ods_cell(v) for v in row) + "</table:table-row>"
        for row in rows
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        '<office:body><office:spreadsheet><table:table table:name="Sheet1">'
        f"{body}{tail}</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        ' manifest:version="1.2"><manifest:file-entry manifest:full-path="/"'
        ' manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        "</manifest:manifest>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            zipfile.ZipInfo("mimetype"),
            "application/vnd.oasis.opendocument.spreadsheet",
            compress_type=zipfile.ZIP_STORED,
        )
        zf.writestr("META-INF/manifest.xml", manifest)
        zf.writestr("content.xml", content)
    return path


def _biff_record(rtype: int, data: bytes = b"") -> bytes:
    return struct.pack("<HH", rtype, len(data)) + data


def _biff_bof(kind: int) -> bytes:
    return _biff_record(0x0809, struct.pack("<HHHHII", 0x0600, kind, 0x0DBB, 0x07CC, 0, 6))


def biff8_stream(rows: Sequence[Sequence[Any]], sheet_name: str = "名册") -> bytes:
    """A BIFF8 'Workbook' stream with one sheet of LABEL (text) and NUMBER cells."""
    name = sheet_name.encode("utf-16-le")
    head = _biff_bof(0x0005) + _biff_record(0x0042, struct.pack("<H", 1200))  # CODEPAGE UTF-16

    def boundsheet(offset: int) -> bytes:
        return _biff_record(0x0085, struct.pack("<IBBBB", offset, 0, 0, len(sheet_name), 1) + name)

    ncols = max((len(r) for r in rows), default=0)
    body = _biff_bof(0x0010) + _biff_record(
        0x0200, struct.pack("<IIHHH", 0, len(rows), 0, ncols, 0)
    )
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, str) and value:
                text = value.encode("utf-16-le")
                body += _biff_record(0x0204, struct.pack("<HHHHB", r, c, 0, len(value), 1) + text)
            elif isinstance(value, int | float):
                body += _biff_record(0x0203, struct.pack("<HHHd", r, c, 0, float(value)))
    body += _biff_record(0x000A)
    offset = len(head) + len(boundsheet(0)) + 4
    return head + boundsheet(offset) + _biff_record(0x000A) + body


def ole_file(stream: bytes, stream_name: str = "Workbook") -> bytes:
    """A compound document (the xls container) holding one stream of at least 4096 bytes."""
    sector = 512
    stream = stream.ljust(4096, b"\x00")  # below 4096 bytes a stream would need a mini FAT
    count = -(-len(stream) // sector)
    fat = [0xFFFFFFFD, 0xFFFFFFFE] + [3 + i for i in range(count - 1)] + [0xFFFFFFFE]
    fat += [0xFFFFFFFF] * (128 - len(fat))
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x003E, 0x0003, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 0x1000, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
        + struct.pack("<I", 0)
        + struct.pack("<I", 0xFFFFFFFF) * 108
    )

    def entry(entry_name: str, kind: int, child: int, start: int, size: int) -> bytes:
        encoded = entry_name.encode("utf-16-le") + b"\x00\x00" if entry_name else b""
        return (
            encoded.ljust(64, b"\x00")
            + struct.pack("<HBB", len(encoded), kind, 1 if entry_name else 0)
            + struct.pack("<III", 0xFFFFFFFF, 0xFFFFFFFF, child)
            + b"\x00" * 36
            + struct.pack("<IQ", start, size)
        )

    directory = (
        entry("Root Entry", 5, 1, 0xFFFFFFFE, 0)
        + entry(stream_name, 2, 0xFFFFFFFF, 2, len(stream))
        + entry("", 0, 0xFFFFFFFF, 0, 0) * 2
    )
    data = stream.ljust(count * sector, b"\x00")
    return header + struct.pack("<128I", *fat) + directory + data


def make_csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def rows_of(table: Table) -> list[tuple[int, list[Any]]]:
    return list(table.rows)


# --- xlsx: titles, headers, blank rows --------------------------------------------------------


def test_merged_title_subtitle_blank_rows_and_row_numbers(tmp_path: Path) -> None:
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        ws.merge_range("B2:F2", "2025年秋季学期学生名册", wb.add_format({"bold": True}))
        ws.write("B3", "填报单位：培秀乡中心小学")
        ws.write("E3", "填报日期：2025-09-01")
        write_rows(ws, 3, [["序号", "* 姓 名", "身份证号\n码", "出生日期：", "性别"]], col=1)
        date_format = wb.add_format({"num_format": "yyyy-mm-dd"})
        ws.write_row(4, 1, [1, "吴俊辉", ID])
        ws.write_datetime(4, 4, datetime(2014, 9, 1), date_format)
        ws.write(4, 5, "男")
        ws.write_string(5, 2, "   ")  # looks blank, is a space
        ws.write_blank(6, 2, None, wb.add_format({"bg_color": "yellow"}))
        write_rows(ws, 8, [[2, "张三", ID, "2014.09.01", "女"]], col=1)

    table = read_table(make_xlsx(tmp_path / "a.xlsx", build), expected_headers=EXPECTED)
    assert table.sheet_name == "名册"
    assert table.header_row == 4
    assert table.headers == ["序号", "* 姓名", "身份证号码", "出生日期:", "性别"]
    assert [normalize_header(h) for h in table.headers] == [
        "序号",
        "姓名",
        "身份证号码",
        "出生日期",
        "性别",
    ]
    assert table.first_column == 1
    assert table.column_letter(1) == "C"
    rows = rows_of(table)
    assert [n for n, _ in rows] == [5, 9]
    assert rows[0][1][:4] == [1.0, "吴俊辉", ID, date(2014, 9, 1)]
    assert rows[1][1][1:] == ["张三", ID, "2014.09.01", "女"]
    assert all(len(cells) >= len(table.headers) for _, cells in rows)
    assert table.total_rows_hint == 5


@pytest.mark.parametrize("titles", [0, 1, 2])
def test_header_under_title_rows_without_expected_headers(tmp_path: Path, titles: int) -> None:
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        if titles:
            ws.merge_range(0, 0, 0, 3, "2025年秋季学期学生名册")
        if titles == 2:
            ws.write(1, 0, "（截至2025年9月1日）")
        header = ["姓名", "身份证号", "出生日期", "备注"]
        write_rows(ws, titles, [header, ["吴俊辉", ID, "2014-09-01"]])

    table = read_table(make_xlsx(tmp_path / "t.xlsx", build))
    assert table.header_row == titles + 1
    assert table.headers == ["姓名", "身份证号", "出生日期", "备注"]
    assert rows_of(table) == [(titles + 2, ["吴俊辉", ID, "2014-09-01", ""])]


def test_heuristic_skips_narrow_title_rows(tmp_path: Path) -> None:
    # Without expected headers, a two-cell "填报单位 … 填报日期 …" row is not the header.
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        write_rows(
            ws,
            0,
            [
                ["学生名册"],
                ["填报单位：培秀乡", None, None, None, "填报日期：2025年9月"],
                ["序号", "姓名", "身份证号", "出生日期", "性别", "民族"],
                [1, "吴俊辉", ID, "2014-09-01", "男", "苗族"],
            ],
        )

    table = read_table(make_xlsx(tmp_path / "h.xlsx", build))
    assert table.header_row == 3
    assert table.headers[:2] == ["序号", "姓名"]


def test_expected_headers_beat_a_textual_row_above(tmp_path: Path) -> None:
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        write_rows(
            ws,
            0,
            [
                ["说明", "请勿修改", "表头", "谢谢"],
                ["学生姓名", "公民身份号码", "出生年月", "学校"],
                ["吴俊辉", ID, "2014-09", "培秀小学"],
            ],
        )

    table = read_table(make_xlsx(tmp_path / "e.xlsx", build), expected_headers=EXPECTED)
    assert table.header_row == 2


def test_header_with_trailing_note_matches(tmp_path: Path) -> None:
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        write_rows(ws, 0, [["甲", "乙"], ["姓名（必填）", "身份证号(18位)"], ["吴俊辉", ID]])

    table = read_table(make_xlsx(tmp_path / "n.xlsx", build), expected_headers=EXPECTED)
    assert table.header_row == 2


def test_repeated_header_rows_are_skipped(tmp_path: Path) -> None:
    header = ["姓名", "身份证号", "出生日期"]
    rows = [header, ["吴俊辉", ID, "2014-09-01"], [], header, ["张三", ID, "2015-01-01"]]

    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        write_rows(ws, 0, rows)

    table = read_table(make_xlsx(tmp_path / "r.xlsx", build), expected_headers=EXPECTED)
    assert [n for n, _ in rows_of(table)] == [2, 5]


def test_repeated_header_rows_are_skipped_however_they_are_spelled(tmp_path: Path) -> None:
    # The repeats differ in presentation only: spaces, full-width letters, a quote prefix.
    header = ["No 号", "姓名", "身份证号"]
    rows = [
        header,
        ["1", "吴俊辉", ID],
        [" No   号 ", "姓 名", "身份证号"],
        ["Ｎｏ 号", "姓名", "身份证号"],
        ["'No 号", "姓名", "身份证号"],
        ["No 号", "张三", ID],  # the first cell alone is not a repeat
    ]

    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        write_rows(ws, 0, rows)

    table = read_table(make_xlsx(tmp_path / "r.xlsx", build), expected_headers=EXPECTED)
    assert [n for n, _ in rows_of(table)] == [2, 6]


def test_numeric_id_and_date_cells_keep_their_types(tmp_path: Path) -> None:
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        ws.write_row(0, 0, ["姓名", "身份证号", "出生日期", "入学日期"])
        ws.write_row(1, 0, ["吴俊辉", 450226201201011234])  # typed into a General cell
        ws.write_datetime(1, 2, datetime(2012, 1, 1), wb.add_format({"num_format": "yyyy/m/d"}))
        ws.write_number(1, 3, 41883)  # a date serial without a date format

    table = read_table(make_xlsx(tmp_path / "n.xlsx", build), expected_headers=EXPECTED)
    [(_, cells)] = rows_of(table)
    assert isinstance(cells[1], float)
    with pytest.raises(CellError, match="文本"):
        parse_id_number_cell(cells[1])
    assert cells[2] == date(2012, 1, 1)
    assert parse_date(cells[2]) == date(2012, 1, 1)
    assert parse_date(cells[3]) == date(2014, 9, 1)


def test_header_only_is_refused(tmp_path: Path) -> None:
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        write_rows(ws, 0, [["学生名册"], ["姓名", "身份证号"], [], ["", "  "]])

    with pytest.raises(FileRefused, match="工作表“名册”只有表头（第 2 行），下面没有数据行"):
        read_table(make_xlsx(tmp_path / "h.xlsx", build), expected_headers=EXPECTED)


def test_no_header_is_refused(tmp_path: Path) -> None:
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        write_rows(ws, 0, [["只有一个标题"], [1, 2, 3], [4, 5, 6]])

    with pytest.raises(FileRefused, match="没有找到表头"):
        read_table(make_xlsx(tmp_path / "x.xlsx", build))


def test_empty_workbook_is_refused(tmp_path: Path) -> None:
    path = make_xlsx(tmp_path / "e.xlsx", lambda wb, ws: None)
    with pytest.raises(FileRefused, match="没有任何内容"):
        read_table(path)


# --- several sheets ---------------------------------------------------------------------------


def make_three_sheets(path: Path) -> Path:
    workbook = xlsxwriter.Workbook(str(path))
    notes = workbook.add_worksheet("填表说明")
    write_rows(notes, 0, [["填表说明"], ["第一列", "填写学生姓名"], ["第二列", "填写身份证号"]])
    hidden = workbook.add_worksheet("下拉选项")
    write_rows(hidden, 0, [["姓名", "身份证号", "出生日期", "性别"], ["男", "女"]])
    hidden.hide()
    data = workbook.add_worksheet("学生")
    write_rows(data, 0, [["姓名", "身份证号", "出生日期"], ["吴俊辉", ID, "2014-09-01"]])
    workbook.close()
    return path


def test_sheet_chosen_by_expected_headers(tmp_path: Path) -> None:
    table = read_table(make_three_sheets(tmp_path / "s.xlsx"), expected_headers=EXPECTED)
    assert table.sheet_name == "学生"  # not the hidden sheet, although it matches more
    assert rows_of(table) == [(2, ["吴俊辉", ID, "2014-09-01"])]


def test_sheet_by_name_or_index(tmp_path: Path) -> None:
    path = make_three_sheets(tmp_path / "s.xlsx")
    assert read_table(path, sheet="下拉选项").sheet_name == "下拉选项"
    assert read_table(path, sheet=2).sheet_name == "学生"
    with pytest.raises(FileRefused, match=r"没有工作表“花名册”.*填表说明、下拉选项、学生"):
        read_table(path, sheet="花名册")
    with pytest.raises(FileRefused, match="没有工作表“3”"):
        read_table(path, sheet=3)


def test_without_expected_headers_first_sheet_with_a_header(tmp_path: Path) -> None:
    assert read_table(make_three_sheets(tmp_path / "s.xlsx")).sheet_name == "填表说明"


# --- other spreadsheet formats ----------------------------------------------------------------


ROWS: list[list[Any]] = [
    ["2025年花名册"],
    [],
    ["姓名", "身份证号", "出生日期"],
    ["吴俊辉", ID, "2014-09-01"],
]


@pytest.mark.parametrize("name", ["book.xlsx", "book.xls", "book", "book.XLSX", "book.csv"])
def test_xlsx_under_any_name(tmp_path: Path, name: str) -> None:
    path = make_xlsx(tmp_path / name, lambda wb, ws: write_rows(ws, 0, ROWS))
    table = read_table(path, expected_headers=EXPECTED)
    assert (table.header_row, rows_of(table)) == (3, [(4, ["吴俊辉", ID, "2014-09-01"])])


@pytest.mark.parametrize("name", ["book.xls", "book.xlsx", "book.bin"])
def test_xls(tmp_path: Path, name: str) -> None:
    rows = [*ROWS[:3], [], ["吴俊辉", 450226201201011234, 41883], ["张三", ID, "2014-09-01"]]
    path = tmp_path / name
    path.write_bytes(ole_file(biff8_stream(rows)))
    table = read_table(path, expected_headers=EXPECTED)
    assert table.sheet_name == "名册"
    assert table.header_row == 3
    got = rows_of(table)
    assert [n for n, _ in got] == [5, 6]
    assert isinstance(got[0][1][1], float)
    assert parse_date(got[0][1][2]) == date(2014, 9, 1)


@pytest.mark.parametrize("name", ["book.ods", "book.xlsx"])
def test_ods(tmp_path: Path, name: str) -> None:
    rows = [*ROWS[:3], ["吴俊辉", ID, date(2014, 9, 1)]]
    table = read_table(make_ods(tmp_path / name, rows), expected_headers=EXPECTED)
    assert rows_of(table) == [(4, ["吴俊辉", ID, date(2014, 9, 1)])]


def test_ods_with_a_million_repeated_empty_rows_is_cheap(tmp_path: Path) -> None:
    # LibreOffice writes a formatted empty area as one row repeated a million times.
    tail = (
        '<table:table-row table:number-rows-repeated="1048572">'
        '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
    )
    started = time.perf_counter()
    table = read_table(make_ods(tmp_path / "r.ods", ROWS, tail), expected_headers=EXPECTED)
    assert len(rows_of(table)) == 1
    assert time.perf_counter() - started < 2


def test_ods_with_content_far_away_is_refused(tmp_path: Path) -> None:
    tail = (
        '<table:table-row table:number-rows-repeated="1048570">'
        '<table:table-cell table:number-columns-repeated="1024"/></table:table-row>'
        '<table:table-row><table:table-cell table:number-columns-repeated="1023"/>'
        '<table:table-cell office:value-type="string"><text:p> </text:p></table:table-cell>'
        "</table:table-row>"
    )
    with pytest.raises(FileRefused, match="范围太大"):
        read_table(make_ods(tmp_path / "far.ods", ROWS, tail), expected_headers=EXPECTED)


# --- CSV --------------------------------------------------------------------------------------

CSV_TEXT = (
    "2025年秋季学期学生名册,,,\r\n"
    ",,,\r\n"
    "姓名,身份证号,出生日期,住址\r\n"
    '吴俊辉,\'450226201201011234,2014/9/1,"融水县,培秀乡"\r\n'
    "\r\n"
    '张三,450226201201011234,2014年9月1日,"乌岭村\n上寨屯"\r\n'
    "李四,450226201201011234\r\n"
)


def _check_csv_table(table: Table) -> None:
    assert table.sheet_name == ""
    assert table.header_row == 3
    assert table.headers == ["姓名", "身份证号", "出生日期", "住址"]
    assert rows_of(table) == [
        (4, ["吴俊辉", "'450226201201011234", "2014/9/1", "融水县,培秀乡"]),
        (6, ["张三", ID, "2014年9月1日", "乌岭村\n上寨屯"]),
        (7, ["李四", ID, "", ""]),
    ]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_csv_encodings(tmp_path: Path, encoding: str) -> None:
    path = make_csv(tmp_path / "a.csv", CSV_TEXT, encoding)
    _check_csv_table(read_table(path, expected_headers=EXPECTED))


def test_csv_gb18030_only_characters(tmp_path: Path) -> None:
    # '䶮' (in names) is outside GBK; GB18030 covers it.
    text = "姓名,身份证号\r\n刘䶮,450226201201011234\r\n"
    table = read_table(make_csv(tmp_path / "a.csv", text, "gb18030"), expected_headers=EXPECTED)
    assert rows_of(table) == [(2, ["刘䶮", ID])]


@pytest.mark.parametrize("delimiter", ["\t", ";"])
def test_csv_delimiters(tmp_path: Path, delimiter: str) -> None:
    text = CSV_TEXT.replace(",", delimiter).replace(f"融水县{delimiter}培秀乡", "融水县,培秀乡")
    _check_csv_table(read_table(make_csv(tmp_path / "a.txt", text), expected_headers=EXPECTED))


def test_csv_utf16_unicode_text_export(tmp_path: Path) -> None:
    text = CSV_TEXT.replace(",", "\t").replace("融水县\t培秀乡", "融水县,培秀乡")
    path = make_csv(tmp_path / "a.txt", text, "utf-16")
    _check_csv_table(read_table(path, expected_headers=EXPECTED))


def test_csv_header_only_is_refused(tmp_path: Path) -> None:
    path = make_csv(tmp_path / "a.csv", "姓名,身份证号,出生日期\r\n,,\r\n\r\n")
    with pytest.raises(FileRefused, match=r"^表格只有表头（第 1 行），下面没有数据行。$"):
        read_table(path, expected_headers=EXPECTED)


def test_csv_in_an_unknown_encoding_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes("姓名,身份证号\r\n".encode("gbk") + b"\x81\x30\xff" * 10)
    with pytest.raises(FileRefused, match="无法识别 CSV 文件的文字编码"):
        read_table(path)


def test_html_saved_as_xls_is_refused(tmp_path: Path) -> None:
    path = make_csv(
        tmp_path / "export.xls",
        '<html xmlns:o="urn:schemas-microsoft-com:office:office"><body><table><tr><td>姓名</td>'
        "</tr></table></body></html>",
    )
    with pytest.raises(FileRefused, match="网页"):
        read_table(path)


def test_xml_spreadsheet_2003_is_refused(tmp_path: Path) -> None:
    path = make_csv(
        tmp_path / "export.xls",
        '<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">',
    )
    with pytest.raises(FileRefused, match="XML 表格"):
        read_table(path)


# --- refused files ----------------------------------------------------------------------------


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "a.xlsx"
    path.write_bytes(b"")
    with pytest.raises(FileRefused, match="文件是空的"):
        read_table(path)


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "PDF"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "图片"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(100), "图片"),
        (b"Rar!\x1a\x07\x00" + bytes(100), "压缩包"),
        (b"{\\rtf1\\ansi hello}", "Word"),
    ],
)
def test_renamed_non_spreadsheets(tmp_path: Path, content: bytes, match: str) -> None:
    path = tmp_path / "a.xlsx"
    path.write_bytes(content)
    with pytest.raises(FileRefused, match=match):
        read_table(path)


def _zip(path: Path, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    return path


def test_docx_renamed_xlsx(tmp_path: Path) -> None:
    types = '<Types><Override ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>'  # noqa: E501
    path = _zip(tmp_path / "a.xlsx", {"[Content_Types].xml": types, "word/document.xml": "<w/>"})
    with pytest.raises(FileRefused, match="Word 文档"):
        read_table(path)


def test_plain_zip_archive(tmp_path: Path) -> None:
    path = _zip(tmp_path / "a.xlsx", {"学生名册.xlsx": "x", "说明.txt": "y"})
    with pytest.raises(FileRefused, match="压缩包"):
        read_table(path)


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_xlsx(tmp_path: Path, keep: float) -> None:
    good = make_xlsx(tmp_path / "good.xlsx", lambda wb, ws: write_rows(ws, 0, ROWS))
    data = good.read_bytes()
    path = tmp_path / "cut.xlsx"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(FileRefused, match="损坏或不完整"):
        read_table(path)


def test_xlsx_with_a_damaged_sheet(tmp_path: Path) -> None:
    path = _zip(
        tmp_path / "bad.xlsx",
        {
            "[Content_Types].xml": "<Types>spreadsheetml</Types>",
            "xl/workbook.xml": "<workbook><sheets><sheet name='S' r:id='rId1'",
        },
    )
    with pytest.raises(FileRefused, match="损坏或不完整"):
        read_table(path)


def test_truncated_xls(tmp_path: Path) -> None:
    data = ole_file(biff8_stream(ROWS))
    path = tmp_path / "cut.xls"
    path.write_bytes(data[:1200])
    with pytest.raises(FileRefused, match="损坏或不完整"):
        read_table(path)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("low", [0, 1])  # with and without NUL bytes
def test_random_bytes(tmp_path: Path, seed: int, low: int) -> None:
    rng = random.Random(seed)
    path = tmp_path / "a.xlsx"
    path.write_bytes(bytes(rng.randrange(low, 256) for _ in range(4096)))
    with pytest.raises(FileRefused, match="无法识别的文件格式"):
        read_table(path)


def test_binary_with_nul_bytes_named_csv(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(FileRefused, match="无法识别的文件格式"):
        read_table(path)


def test_control_characters_are_not_a_csv(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(b"\x01\x02\x03\x04 abc,def\r\n" * 50)
    with pytest.raises(FileRefused, match="无法识别的文件格式"):
        read_table(path)


def test_encrypted_xlsx(tmp_path: Path) -> None:
    # A password-protected xlsx is an OLE container with an EncryptedPackage stream.
    path = tmp_path / "a.xlsx"
    path.write_bytes(ole_file(b"\x00" * 5000, stream_name="EncryptedPackage"))
    with pytest.raises(FileRefused, match="打开密码"):
        read_table(path)


def test_encrypted_xls(tmp_path: Path) -> None:
    stream = biff8_stream(ROWS)
    filepass = _biff_record(0x002F, struct.pack("<HHH", 1, 1, 1) + bytes(48))  # RC4
    path = tmp_path / "a.xls"
    path.write_bytes(ole_file(stream[:20] + filepass + stream[20:]))
    with pytest.raises(FileRefused, match="打开密码"):
        read_table(path)


def test_word_doc_renamed_xls(tmp_path: Path) -> None:
    path = tmp_path / "a.xls"
    path.write_bytes(ole_file(b"\x00" * 5000, stream_name="WordDocument"))
    with pytest.raises(FileRefused, match="Word 文档"):
        read_table(path)


# --- size ---------------------------------------------------------------------------------------


def test_stray_cell_far_away_is_refused_before_calamine(tmp_path: Path) -> None:
    # Without the guard calamine would try to allocate 550 GB and abort the process.
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        write_rows(ws, 0, ROWS)
        ws.write_string(1048575, 16383, " ")

    with pytest.raises(FileRefused, match="XFD1048576 单元格（1048576 行 × 16384 列）"):
        read_table(make_xlsx(tmp_path / "far.xlsx", build), expected_headers=EXPECTED)


def test_guard_limit_is_about_cells_with_values(tmp_path: Path) -> None:
    # A value 100 000 rows down in column C is fine (300 000 cells).
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        write_rows(ws, 0, ROWS)
        ws.write_string(99_999, 2, "x")

    assert MAX_SHEET_CELLS > 100_000 * 3
    table = read_table(make_xlsx(tmp_path / "ok.xlsx", build), expected_headers=EXPECTED)
    assert [n for n, _ in rows_of(table)] == [4, 100_000]


def test_formatted_empty_rows_are_cheap(tmp_path: Path) -> None:
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        write_rows(ws, 0, ROWS)
        yellow = wb.add_format({"bg_color": "yellow"})
        ws.set_column(0, 10, 12, yellow)
        for row in range(4, 50_000):
            ws.write_blank(row, 0, None, yellow)

    table = read_table(make_xlsx(tmp_path / "f.xlsx", build), expected_headers=EXPECTED)
    assert len(rows_of(table)) == 1


@pytest.mark.slow
def test_a_million_formatted_blank_rows(tmp_path: Path) -> None:
    path = tmp_path / "million.xlsx"
    workbook = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = workbook.add_worksheet("名册")
    yellow = workbook.add_format({"bg_color": "yellow"})
    write_rows(ws, 0, ROWS)
    for row in range(4, 1_048_576):
        ws.write_blank(row, 1, None, yellow)
    workbook.close()
    started = time.perf_counter()
    table = read_table(path, expected_headers=EXPECTED)
    assert len(rows_of(table)) == 1
    assert time.perf_counter() - started < 5


@pytest.mark.slow
def test_a_million_rows_with_a_value_at_the_bottom(tmp_path: Path) -> None:
    # Three columns × 1 048 576 rows: calamine builds the dense rectangle (about 100 MB), and
    # the million blank rows are skipped cheaply.
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        write_rows(ws, 0, ROWS)
        ws.write_string(1_048_575, 2, "x")

    path = make_xlsx(tmp_path / "bottom.xlsx", build)
    started = time.perf_counter()
    table = read_table(path, expected_headers=EXPECTED)
    assert [n for n, _ in rows_of(table)] == [4, 1_048_576]
    assert time.perf_counter() - started < 10


# --- helpers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "letters"),
    [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (702, "AAA"), (16383, "XFD")],
)
def test_column_letter(index: int, letters: str) -> None:
    assert column_letter(index) == letters


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("* 姓 名", "姓名"),
        ("＊姓名：", "姓名"),
        ("身份证\n号码", "身份证号码"),
        (" ID No ", "idno"),
    ],
)
def test_normalize_header(text: str, key: str) -> None:
    assert normalize_header(text) == key


def test_stray_value_far_down_a_narrow_sheet_is_refused(tmp_path: Path) -> None:
    # Within the <dimension>'s columns, so the quick bound (last row × widest column) is what
    # has to catch it: 1,048,576 rows × 11 columns is more than the limit.
    def build(wb: xlsxwriter.Workbook, ws: Worksheet) -> None:
        write_rows(ws, 0, ROWS)
        ws.write_string(1048575, 10, "x")

    with pytest.raises(FileRefused, match="K1048576"):
        read_table(make_xlsx(tmp_path / "far.xlsx", build), expected_headers=EXPECTED)


@pytest.mark.parametrize(
    ("letters", "after", "not_after"),
    [
        (b"V", [b"W", b"Z", b"AA", b"AAA"], [b"A", b"V"]),
        (b"AN", [b"AO", b"BA", b"ZZ", b"AAA"], [b"Z", b"AM", b"AN"]),
        (b"ZZ", [b"AAA"], [b"ZZ", b"A"]),
    ],
)
def test_letters_after(letters: bytes, after: list[bytes], not_after: list[bytes]) -> None:
    from baoxue.imports.reading import _letters_after

    pattern = re.compile(b"^" + _letters_after(letters) + b"$")
    assert all(pattern.match(x) for x in after)
    assert not any(pattern.match(x) for x in not_after)
