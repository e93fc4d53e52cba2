"""From an uploaded file to numbered rows under a recognised header.

The files come from other systems and from people: xlsx, xls, ods or csv (UTF-8 with or without
BOM, GBK/GB18030, UTF-16 "Unicode text"), often renamed, with title rows above the header,
merged title cells and blank rows. The real type is taken from the file's bytes, never from
its name. Anything that makes the whole file unusable raises :class:`FileRefused` with a
Chinese message that tells the user what to do; problems in single cells are left to
:mod:`baoxue.imports.values`, row by row.

Spreadsheets are read with python-calamine. Cells keep its Python types (str, float, int, bool,
date, datetime, time, timedelta; '' for an empty cell) so that later steps can tell, say, an
identity number stored as a number from one stored as text.
"""

from __future__ import annotations

import codecs
import csv
import math
import posixpath
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from itertools import chain
from pathlib import Path
from typing import Any, Literal, TypeAlias, TypeVar
from xml.etree import ElementTree

from django.conf import settings
from django.utils.translation import gettext as _
from python_calamine import (
    CalamineError,
    CalamineSheet,
    CalamineWorkbook,
    PasswordError,
    SheetTypeEnum,
    SheetVisibleEnum,
)

from baoxue.core.bulk import connection_lent
from baoxue.imports.values import _INVISIBLE, _LEADING_QUOTES, clean_text

__all__ = [
    "MAX_CELL_CHARS",
    "MAX_SHEET_CELLS",
    "Cell",
    "FileRefused",
    "Limits",
    "Table",
    "column_letter",
    "normalize_header",
    "read_table",
]

Cell: TypeAlias = str | int | float | bool | date | datetime | time | timedelta
NumberedRow: TypeAlias = tuple[int, list[Cell]]
Kind: TypeAlias = Literal["xlsx", "xlsb", "xls", "ods", "csv"]
_T = TypeVar("_T")

# calamine materialises a sheet as a dense rectangle of ~32-byte cells spanning everything
# from the first to the last non-empty cell. One stray space in XFD1048576 asks for 550 GB and
# aborts the whole process (a Rust allocation failure cannot be caught), so xlsx sheets are
# measured before calamine sees them. 10 million cells is about 350 MB while reading, and far
# more than any township's list (30 000 people × 40 columns = 1.2 million).
MAX_SHEET_CELLS = 10_000_000
# Excel's own limit for the text of one cell: a longer cell was not written by Excel or WPS,
# and one such cell of 400 MB once cost an upload 1.3 GB and took the worker down.
MAX_CELL_CHARS = 32_767


@dataclass(frozen=True)
class Limits:
    """What a file may hold before it is refused, checked while it is read and before anything
    of it is kept (settings BAOXUE_IMPORT_*; `baoxue import` may raise them)."""

    max_rows: int
    # Sum of the uncompressed sizes of an xlsx/ods's members, from the zip directory.
    max_unpacked_bytes: int
    # Uncompressed ÷ compressed size of a large member: a zip bomb packs ~1000:1, the XML of
    # a real sheet 5–50:1.
    max_ratio: int
    max_csv_bytes: int

    @classmethod
    def from_settings(cls) -> Limits:
        return cls(
            max_rows=settings.BAOXUE_IMPORT_MAX_ROWS,
            max_unpacked_bytes=settings.BAOXUE_IMPORT_MAX_UNPACKED_MB << 20,
            max_ratio=settings.BAOXUE_IMPORT_MAX_RATIO,
            max_csv_bytes=settings.BAOXUE_IMPORT_MAX_CSV_MB << 20,
        )


# A member smaller than this is not judged by its compression ratio: whatever it unpacks to
# costs little (an empty sheet's XML packs 100:1 and more).
_RATIO_FLOOR = 32 << 20

_SNIFF_BYTES = 8192
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_IMAGE_MAGICS = (b"\x89PNG", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"BM", b"II*\x00", b"MM\x00*")
_ARCHIVE_MAGICS = (b"Rar!", b"7z\xbc\xaf\x27\x1c", b"\x1f\x8b", b"BZh")
_CSV_DELIMITERS = (",", "\t", ";")


class FileRefused(Exception):
    """The whole file cannot be imported; ``str(exc)`` is the Chinese message for the user."""

    def __init__(
        self,
        message: str,
        *,
        headers: list[str] | None = None,
        mapping: dict[str, str] | None = None,
        missing: list[str] | None = None,
        villages: list[dict[str, Any]] | None = None,
    ) -> None:
        """For a file refused for its columns: the file's `headers`, what each recognised
        one was taken as (`mapping`, column index → field label) and the fields still
        `missing`, for the CLI's --errors report."""
        super().__init__(message)
        self.message = message
        self.headers = headers or []
        self.mapping = mapping or {}
        self.missing = missing or []
        # New village names to be confirmed first (Places.questions).
        self.villages = villages or []

    def __str__(self) -> str:
        return self.message


@dataclass
class Table:
    """A sheet's header and the data rows beneath it.

    ``rows`` is a one-shot iterator of ``(row_number, cells)``: row numbers are 1-based as
    Excel shows them, blank rows (and repeats of the header row) are skipped, and every row
    has at least ``len(headers)`` cells. ``headers[i]`` and ``cells[i]`` come from sheet
    column ``first_column + i`` (0-based), which :meth:`column_letter` turns into 'A', 'B'…
    """

    sheet_name: str
    header_row: int
    headers: list[str]
    rows: Iterator[NumberedRow]
    total_rows_hint: int | None = None
    first_column: int = 0

    def column_letter(self, index: int) -> str:
        return column_letter(self.first_column + index)


def column_letter(index: int) -> str:
    """Excel's name for a 0-based column index: 0 → 'A', 26 → 'AA'."""
    if index < 0:
        raise ValueError("column index must be >= 0")
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


_HEADER_NOISE = re.compile(r"[\s*:]")  # clean_text has already folded '＊' and '：'
_TRAILING_NOTE = re.compile(r"\([^()]*\)$")


def normalize_header(text: object) -> str:
    """Header text for comparison: '* 姓 名：' and '姓名' are the same column."""
    return _HEADER_NOISE.sub("", clean_text(text)).lower()


def _header_keys(text: str) -> tuple[str, str]:
    """The normalised header, and the same without a trailing note like '(必填)'."""
    key = normalize_header(text)
    return key, _TRAILING_NOTE.sub("", key)


# --- messages ---------------------------------------------------------------------------------


def _msg_corrupt() -> str:
    return _(
        "文件已损坏或不完整（可能没有下载或复制完整）。"
        "请用 Excel 或 WPS 打开确认内容无误，重新保存后再上传。"
    )


def _msg_encrypted() -> str:
    return _(
        "文件设置了打开密码，无法读取。请在 Excel 或 WPS 中打开文件，"
        "取消密码（“文件”→“信息”→“保护工作簿”或“文档加密”）并保存后再上传。"
    )


def _msg_unknown() -> str:
    return _(
        "无法识别的文件格式。请上传 Excel 表格（xlsx 或 xls）、WPS 表格、"
        "LibreOffice 表格（ods）或 CSV 文件。"
    )


def _msg_not_a_table(what: str) -> str:
    return _(
        "这是%(what)s，不是表格，无法读取。请上传原始的 Excel 表格（xlsx 或 xls）、"
        "WPS 表格或 CSV 文件；如果表格在文档里，请先复制到 Excel 或 WPS 表格中保存为 xlsx。"
    ) % {"what": what}


def _msg_too_large(sheet: str, rows: int, cols: int, corner: str) -> str:
    return _(
        "工作表“%(sheet)s”的内容一直延伸到 %(corner)s 单元格（%(rows)s 行 × %(cols)s 列），"
        "范围太大，无法读取。如果那里只是误输入的空格或字符，请在 Excel 或 WPS 中删除"
        "多余的行和列后保存再上传；如果数据确实这么多，请拆分成几个文件。"
    ) % {"sheet": sheet, "rows": rows, "cols": cols, "corner": corner}


def _msg_cell_too_long(where: str) -> str:
    return _(
        "%(where)s的内容超过 %(n)s 个字符，超出了 Excel 一个单元格最多能放的字数，"
        "不像是正常的名单（可能误粘贴了大量内容）。请在 Excel 或 WPS 中检查并删除多余内容，"
        "保存后再上传。"
    ) % {"where": where, "n": MAX_CELL_CHARS}


def _msg_too_many_rows(limit: int) -> str:
    return _(
        "表格超过 %(n)s 行，超出了一次导入的上限。请按学校或村拆分成几个文件分别导入；"
        "如确需一次导入，请联系系统管理员调高上限。"
    ) % {"n": limit}


def _msg_unpacked_too_large(size_mb: int, limit_mb: int) -> str:
    return _(
        "文件解压后有 %(size)s MB，超过了 %(limit)s MB 的上限，无法读取。"
        "请检查表格里是否有大量多余内容，或拆分成几个文件后再上传。"
    ) % {"size": size_mb, "limit": limit_mb}


def _msg_packed_too_tightly() -> str:
    return _(
        "文件的压缩比例异常（很小的文件解压后极大），不像是 Excel 或 WPS 保存的表格，"
        "为安全起见不予读取。请用 Excel 或 WPS 打开后重新保存，再上传。"
    )


def _msg_csv_too_large(size_mb: int, limit_mb: int) -> str:
    return _(
        "CSV 文件有 %(size)s MB，超过了 %(limit)s MB 的上限。"
        "请拆分成几个文件，或另存为 xlsx 格式后再上传。"
    ) % {"size": size_mb, "limit": limit_mb}


# --- file type --------------------------------------------------------------------------------


def _detect_kind(path: Path, head: bytes) -> Kind:
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(path)
    if head.startswith(_OLE_MAGIC):
        return _ole_kind(path)
    if b"%PDF-" in head[:1024]:
        raise FileRefused(_msg_not_a_table(_("一个 PDF 文件")))
    if head.startswith(_IMAGE_MAGICS) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        raise FileRefused(_msg_not_a_table(_("一张图片")))
    if head.startswith(_ARCHIVE_MAGICS):
        raise FileRefused(_("这是一个压缩包。请先解压，再逐个上传其中的表格文件。"))
    if head.startswith(b"{\\rtf"):
        raise FileRefused(_msg_not_a_table(_("一个 Word 文档")))
    return "csv"


def _zip_kind(path: Path) -> Kind:
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if "mimetype" in names:
                mimetype = _read_small(zf, "mimetype")
                if b"opendocument.spreadsheet" in mimetype:
                    return "ods"
                if b"opendocument.text" in mimetype:
                    raise FileRefused(_msg_not_a_table(_("一个文字文档")))
                if b"opendocument.presentation" in mimetype:
                    raise FileRefused(_msg_not_a_table(_("一个演示文稿")))
                raise FileRefused(_msg_unknown())
            if "[Content_Types].xml" in names:
                types = _read_small(zf, "[Content_Types].xml")
                if b"ms-excel.sheet.binary" in types:
                    return "xlsb"
                if b"spreadsheetml" in types or b"ms-excel" in types:
                    return "xlsx"
                if b"wordprocessingml" in types:
                    raise FileRefused(_msg_not_a_table(_("一个 Word 文档")))
                if b"presentationml" in types:
                    raise FileRefused(_msg_not_a_table(_("一个 PowerPoint 演示文稿")))
                raise FileRefused(_msg_unknown())
            if "content.xml" in names:  # an ODF file that lost its mimetype entry
                return "ods"
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError):
        raise FileRefused(_msg_corrupt()) from None
    raise FileRefused(_("这是一个压缩包。请先解压，再逐个上传其中的表格文件。"))


def _read_small(zf: zipfile.ZipFile, name: str, limit: int = 1 << 20) -> bytes:
    with zf.open(name) as fh:
        return fh.read(limit)


def _ole_kind(path: Path) -> Kind:
    """Tell a real xls from other files in the same OLE container format.

    An xlsx with an opening password is stored as an OLE file holding an 'EncryptedPackage'
    stream; Word and PowerPoint files have their own stream names. Stream names are UTF-16
    in the container's directory, which can sit anywhere in the file.
    """
    markers = {
        "encrypted": "EncryptedPackage".encode("utf-16-le"),
        "word": "WordDocument".encode("utf-16-le"),
        "powerpoint": "PowerPoint Document".encode("utf-16-le"),
    }
    overlap = max(len(m) for m in markers.values())
    found: set[str] = set()
    tail = b""
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            buf = tail + chunk
            found.update(k for k, m in markers.items() if m in buf)
            tail = buf[-overlap:]
    if "encrypted" in found:
        raise FileRefused(_msg_encrypted())
    if "word" in found:
        raise FileRefused(_msg_not_a_table(_("一个 Word 文档")))
    if "powerpoint" in found:
        raise FileRefused(_msg_not_a_table(_("一个 PowerPoint 演示文稿")))
    return "xls"


# --- rows and headers -------------------------------------------------------------------------


_MAYBE_EMPTY = _INVISIBLE + _LEADING_QUOTES + "="


def _is_blank(cells: list[Cell]) -> bool:
    # Fast path in C for the common case; a formatted but empty area is all ''.
    if cells.count("") == len(cells):
        return True
    first = cells[0]
    if type(first) is str and first and not first[0].isspace() and first[0] not in _MAYBE_EMPTY:
        return False  # the usual data row: a first character that clean_text keeps
    for c in cells:
        if isinstance(c, str) and (not c.strip() or not clean_text(c)):
            continue
        return False
    return True


_NOT_TEXT = re.compile(r"[0-9\s.,:/+\-%年月日号]+")


def _is_textual(cell: Cell, text: str) -> bool:
    return isinstance(cell, str) and _NOT_TEXT.fullmatch(text) is None


class _NoHeader(FileRefused):
    """No row looks like a header; another sheet of the workbook may still have one."""


@dataclass
class _Scan:
    score: int
    header_row: int
    headers: list[str]
    rows: Iterator[NumberedRow]


def _choose_header(
    scanned: list[tuple[int, list[Cell], list[str]]], expected: set[str]
) -> int | None:
    """Index into ``scanned`` of the header row, or None.

    With expected headers: the row matching most of them (the earliest on a tie). Otherwise
    the first row that is about as wide as the table and mostly text; narrower rows above it
    are titles, such as a merged '2025年秋季学期学生名册' or '填报单位：… 填报日期：…'.
    """
    if expected:
        scores = [_score(texts, expected) for _n, _c, texts in scanned]
        best = max(scores)
        if best > 0:
            return scores.index(best)
    counts = [sum(1 for t in texts if t) for _n, _c, texts in scanned]
    need = max(2, math.ceil(max(counts) * 0.5))
    for i, (_n, cells, texts) in enumerate(scanned):
        if counts[i] < need:
            continue
        textual = sum(1 for c, t in zip(cells, texts, strict=True) if t and _is_textual(c, t))
        if textual * 2 > counts[i]:
            return i
    return None


def _score(texts: list[str], expected: set[str]) -> int:
    matched: set[str] = set()
    for t in texts:
        if t:
            exact, without_note = _header_keys(t)
            if exact in expected:
                matched.add(exact)
            elif without_note in expected:
                matched.add(without_note)
    return len(matched)


def _scan(
    numbered: Iterator[NumberedRow],
    expected: set[str],
    max_header_scan: int,
    max_rows: int | None = None,
) -> _Scan | None:
    """Find the header among the first non-blank rows; None if the sheet has no rows at all.

    Raises FileRefused if there are rows but none of them looks like a header.
    """
    scanned: list[tuple[int, list[Cell], list[str]]] = []
    for row_number, cells in numbered:
        if _is_blank(cells):
            continue
        scanned.append((row_number, cells, [clean_text(c) for c in cells]))
        if len(scanned) >= max_header_scan:
            break
    if not scanned:
        return None
    index = _choose_header(scanned, expected)
    if index is None:
        raise _NoHeader(
            _(
                "没有找到表头（列名所在的行）。请确认表格前 %(n)s 行里有一行列名，"
                "例如“姓名”“身份证号”“出生日期”。"
            )
            % {"n": max_header_scan}
        )
    header_row, _cells, texts = scanned[index]
    headers = list(texts)
    while headers and not headers[-1]:
        headers.pop()
    buffered = [(n, c) for n, c, _t in scanned[index + 1 :]]
    return _Scan(
        score=_score(texts, expected) if expected else 0,
        header_row=header_row,
        headers=headers,
        rows=_data_rows(chain(buffered, numbered), headers, max_rows),
    )


def _data_rows(
    numbered: Iterator[NumberedRow], headers: list[str], max_rows: int | None = None
) -> Iterator[NumberedRow]:
    width = len(headers)
    # Counted as they are read: the rows of a long CSV are never all held at once.
    left = max_rows if max_rows is not None else -1
    # Long exports repeat the header row on every printed page; those rows are not data.
    first = next((i for i, h in enumerate(headers) if h), None)
    # A cell that cleans to the header's first text holds its first character, or that
    # character's full-width form (cleaning only drops characters and folds full-width
    # ASCII): most cells are told apart by a substring search instead of a cleaning.
    lead = headers[first][0] if first is not None else ""
    wide = chr(ord(lead) + 0xFEE0) if "!" <= lead <= "~" else lead
    maybe_empty = _MAYBE_EMPTY
    for row_number, cells in numbered:
        start = cells[0] if cells else ""
        if (
            isinstance(start, str)
            and start
            and not start[0].isspace()
            and start[0] not in maybe_empty
        ):
            pass  # the usual data row: its first cell starts with a character clean_text keeps
        elif _is_blank(cells):
            continue
        if (
            first is not None
            and len(cells) > first
            and isinstance(head := cells[first], str)
            and (lead in head or wide in head)
            and clean_text(head) == headers[first]
            and [clean_text(c) for c in cells[:width]] == headers
        ):
            continue
        if len(cells) < width:
            cells = cells + [""] * (width - len(cells))
        left -= 1
        if left == -1 and max_rows is not None:
            raise FileRefused(_msg_too_many_rows(max_rows))
        yield row_number, cells


def _with_first_row(
    rows: Iterator[NumberedRow], sheet_name: str, header_row: int
) -> Iterator[NumberedRow]:
    first = next(rows, None)
    if first is None:
        where = _("工作表“%(sheet)s”") % {"sheet": sheet_name} if sheet_name else _("表格")
        raise FileRefused(
            _("%(where)s只有表头（第 %(row)s 行），下面没有数据行。")
            % {"where": where, "row": header_row}
        )
    return chain([first], rows)


# --- public entry point -----------------------------------------------------------------------


def read_table(
    path: Path,
    *,
    expected_headers: Collection[str] = (),
    sheet: str | int | None = None,
    max_header_scan: int = 30,
    meanwhile: Callable[[], object] | None = None,
    limits: Limits | None = None,
) -> Table:
    """Read the header and data rows of a spreadsheet or CSV file.

    ``expected_headers`` (all accepted spellings of all columns) guide the choice of the
    header row and, when ``sheet`` is None, of the sheet: the visible worksheet whose header
    matches most of them, else the first visible worksheet with a header. ``sheet`` picks a
    sheet by name or 0-based index. Raises :class:`FileRefused` for unusable files.

    ``meanwhile`` is called once, in a helper thread on this thread's database connection,
    while calamine reads the first sheet here: calamine's parser does not hold the
    interpreter lock, so a caller's own preparation (queries for what the rows will be
    compared with) costs no time of its own.

    ``limits`` (the settings' by default) refuse a file too large to be a list: too many rows,
    a cell longer than Excel allows, an xlsx that unpacks to too much, a CSV of too many
    bytes. They are checked before calamine reads anything, or, for rows, as they are read.
    """
    path = Path(path)
    limits = limits or Limits.from_settings()
    if path.stat().st_size == 0:
        raise FileRefused(_("文件是空的（0 字节），请检查是否选错了文件。"))
    with path.open("rb") as fh:
        head = fh.read(_SNIFF_BYTES)
    kind = _detect_kind(path, head)
    expected = {normalize_header(h) for h in expected_headers} - {""}
    if kind == "csv":
        if meanwhile is not None:
            meanwhile()
        return _read_csv(path, expected, max_header_scan, limits)
    if kind in ("xlsx", "xlsb", "ods"):
        _ZipGuard(path, kind, limits).check()
    return _read_workbook(path, kind, expected, sheet, max_header_scan, meanwhile, limits)


# --- workbooks --------------------------------------------------------------------------------


def _calamine(call: Callable[[], _T]) -> _T:
    try:
        return call()
    except PasswordError:
        raise FileRefused(_msg_encrypted()) from None
    except CalamineError as exc:
        if "cell limit" in str(exc).lower():
            raise FileRefused(
                _(
                    "表格范围太大，无法读取。如果表格末尾或右侧有误输入的内容，"
                    "请删除多余的行和列后保存再上传；如果数据确实这么多，请拆分成几个文件。"
                )
            ) from None
        raise FileRefused(_msg_corrupt()) from None
    except BaseException as exc:
        # A Rust panic inside calamine surfaces as pyo3's PanicException, which derives from
        # BaseException and cannot be imported by name.
        if type(exc).__name__ == "PanicException":
            raise FileRefused(_msg_corrupt()) from None
        raise


def _read_workbook(
    path: Path,
    kind: Kind,
    expected: set[str],
    sheet: str | int | None,
    max_header_scan: int,
    meanwhile: Callable[[], object] | None = None,
    limits: Limits | None = None,
) -> Table:
    limits = limits or Limits.from_settings()
    workbook = _open_workbook(path, kind)
    try:
        names = _candidate_sheets(workbook, sheet)
        guard = _SheetGuard(path) if kind == "xlsx" else None
        best: tuple[_Scan, CalamineSheet, str] | None = None
        found_all: list[tuple[_Scan, CalamineSheet, str]] = []
        no_header: _NoHeader | None = None
        for name in names:
            if guard is not None:
                guard.check(name)
            load = partial(_calamine, partial(workbook.get_sheet_by_name, name))
            if meanwhile is not None:
                cal_sheet = _alongside(load, meanwhile)
                meanwhile = None
            else:
                cal_sheet = load()
            try:
                found = _scan(
                    enumerate(cal_sheet.iter_rows(), start=1),
                    expected,
                    max_header_scan,
                    limits.max_rows,
                )
            except _NoHeader as exc:
                no_header = no_header or exc
                continue
            if found is None:
                continue
            found_all.append((found, cal_sheet, name))
            if best is None or found.score > best[0].score:
                best = (found, cal_sheet, name)
            if not expected:
                break  # the first sheet with a header (the other sheets may share it: read on)
    finally:
        workbook.close()
    if meanwhile is not None:
        meanwhile()  # no sheet was read
    if best is None:
        raise no_header or FileRefused(_("文件里没有任何内容。"))
    found, cal_sheet, name = best
    if sheet is None:
        same = [f for f in found_all if f[0].headers == found.headers]
        if len(same) > 1:
            return _several_sheets(same)
    end = cal_sheet.end
    start = cal_sheet.start
    return Table(
        sheet_name=name,
        header_row=found.header_row,
        headers=found.headers,
        rows=_with_first_row(found.rows, name, found.header_row),
        total_rows_hint=max(0, end[0] + 1 - found.header_row) if end else None,
        first_column=start[1] if start else 0,
    )


# A workbook of one school: a summary sheet and one sheet per class, with the same header.
SHEET_COLUMN = "所在工作表"
_SUMMARY_NAME = re.compile(r"汇总|总表|全校|全部|合计|总名单|总册|全体")
_ROW_COUNTERS = {"序号", "编号", "行号"}


def _several_sheets(same: list[tuple[_Scan, CalamineSheet, str]]) -> Table:
    """Sheets that share the header: the summary if there is one (named so, or holding the
    other sheets' rows), else every one of them, in the workbook's order, as one table. Rows
    are numbered on from one sheet to the next (each number names one row), and a last column
    says where each came from (二年级1班第15行), for the problem list. A student on two
    sheets is then two rows of one file, found as a repeat like any other."""
    headers = same[0][0].headers
    width = len(headers)
    compared = [i for i, h in enumerate(headers) if h and h not in _ROW_COUNTERS]
    sheets = [(scan, cal, name, list(scan.rows)) for scan, cal, name in same]

    def content(cells: list[Cell]) -> tuple[str, ...]:
        return tuple(clean_text(cells[i]) if i < len(cells) else "" for i in compared)

    for scan, cal, name, rows in sorted(sheets, key=lambda s: -len(s[3])):
        others = [content(c) for other in sheets if other[2] != name for _n, c in other[3]]
        own = {content(c) for _n, c in rows}
        held = sum(1 for row in others if row in own)
        if _SUMMARY_NAME.search(name) or (others and held >= 0.95 * len(others)):
            return Table(
                sheet_name=name,
                header_row=scan.header_row,
                headers=headers,
                rows=_with_first_row(iter(rows), name, scan.header_row),
                total_rows_hint=len(rows),
                first_column=cal.start[1] if cal.start else 0,
            )

    def combined() -> Iterator[NumberedRow]:
        offset = 0
        for _found, _cal, name, rows in sheets:
            last = 0
            for n, cells in rows:
                label = _("%(sheet)s第%(row)s行") % {"sheet": name, "row": n}
                yield offset + n, [*cells[:width], *[""] * (width - len(cells)), label]
                last = n
            offset += last

    first = same[0]
    return Table(
        sheet_name="、".join(name for _s, _c, name in same)[:100],
        header_row=first[0].header_row,
        headers=[*headers, SHEET_COLUMN],
        rows=_with_first_row(combined(), first[2], first[0].header_row),
        total_rows_hint=sum(len(s[3]) for s in sheets),
        first_column=first[1].start[1] if first[1].start else 0,
    )


def _alongside(load: Callable[[], _T], meanwhile: Callable[[], object]) -> _T:
    """load() here and meanwhile() in a helper thread, at the same time; load's result.

    The sheet is read in this thread so that its memory is this thread's, which the rows
    read afterwards reuse (a helper thread's allocator arena would keep it apart: measured,
    70 MB more at the peak of a 100,000-row import). meanwhile() runs on this thread's
    database connection (core.bulk.connection_lent), which load() never touches.
    """
    with (
        connection_lent() as lent,
        ThreadPoolExecutor(1, thread_name_prefix="import-prefetch") as pool,
    ):
        fetching = pool.submit(lent(meanwhile))
        try:
            return load()
        finally:
            fetching.result()


def _open_workbook(path: Path, kind: Kind) -> CalamineWorkbook:
    # calamine picks its reader by the file extension, and an xlsx renamed to .xls is common.
    # from_filelike would sniff the content instead, but it reports every failure (a password,
    # a sheet too large) as "Cannot detect file format"; so calamine is given a link to the
    # file under the extension that matches the content.
    suffix = f".{kind}"
    if path.suffix == suffix:
        return _calamine(partial(CalamineWorkbook.from_path, path))
    with tempfile.TemporaryDirectory(prefix="baoxue-read-") as tmp:
        link = Path(tmp) / f"book{suffix}"
        try:
            link.symlink_to(path.resolve())
        except OSError:
            shutil.copyfile(path, link)
        # The reader keeps its own open handle, so the link may go away afterwards.
        return _calamine(partial(CalamineWorkbook.from_path, link))


def _candidate_sheets(workbook: CalamineWorkbook, sheet: str | int | None) -> list[str]:
    names = list(workbook.sheet_names)
    if isinstance(sheet, int):
        if 0 <= sheet < len(names):
            return [names[sheet]]
    elif isinstance(sheet, str):
        if sheet in names:
            return [sheet]
    else:
        # Hidden sheets typically hold drop-down lists; chart sheets hold no cells.
        visible = [
            m.name
            for m in workbook.sheets_metadata
            if m.typ == SheetTypeEnum.WorkSheet and m.visible == SheetVisibleEnum.Visible
        ]
        return visible or names
    raise FileRefused(
        _("文件里没有工作表“%(sheet)s”。文件中的工作表有：%(names)s")
        % {"sheet": sheet, "names": "、".join(names)}
    )


class _SheetGuard:
    """Refuses xlsx sheets whose non-empty cells span more than MAX_SHEET_CELLS.

    It scans the sheet's XML for cells holding a value (formatted blanks do not count; they
    cost calamine nothing) and keeps the bounding box. Roughly 0.25 s per million empty
    formatted cells and 1.5 s per million filled ones.
    """

    _VALUE = re.compile(rb"<(?:\w+:)?(?:v|t)(?:\s[^>]*)?>[^<]")
    _REF = re.compile(rb'r="([A-Z]{1,3})([0-9]{1,7})"')

    def __init__(self, path: Path) -> None:
        self.path = path
        self.members: dict[str, str] | None = None
        self.sheet_name = ""

    def check(self, sheet_name: str) -> None:
        self.sheet_name = sheet_name
        try:
            with zipfile.ZipFile(self.path) as zf:
                if self.members is None:
                    self.members = _xlsx_sheet_members(zf)
                member = self.members.get(sheet_name)
                if member is None or member not in zf.NameToInfo:
                    return  # unusual layout: leave it to calamine
                if self._quick_fits(zf, member):
                    return
                extent = self._extent(zf, member)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError):
            raise FileRefused(_msg_corrupt()) from None
        if extent is None:
            return
        min_row, min_col, max_row, max_col = extent
        rows, cols = max_row - min_row + 1, max_col - min_col + 1
        if rows * cols > MAX_SHEET_CELLS:
            corner = column_letter(max_col - 1) + str(max_row)
            raise FileRefused(_msg_too_large(sheet_name, rows, cols, corner))

    def _text(self, long_text: _LongText, chunk: bytes) -> None:
        """Refuse the sheet at its first cell longer than Excel allows."""
        before = long_text.feed(chunk)
        if before is not None:
            raise FileRefused(_msg_cell_too_long(_cell_place(self.sheet_name, before)))

    _DIMENSION = re.compile(rb'<(?:\w+:)?dimension\s+ref="[A-Z]*[0-9]*:?([A-Z]+)[0-9]+"')
    _ROW = re.compile(rb'<(?:\w+:)?row\b[^>]*?\sr="([0-9]+)"')

    def _quick_fits(self, zf: zipfile.ZipFile, member: str) -> bool:
        """True when an upper bound of the sheet's extent is within the limit, found with a few
        C-level searches over the XML instead of a Python step per cell (the exact scan costs
        more than calamine's own read of a large sheet).

        Rows are in ascending order in an xlsx, so the last <row r="N"> bounds the rows. The
        columns are bounded by the <dimension> element's last column (or Z without one) once a
        search finds no cell reference beyond it. False means "not sure": the exact scan runs.
        """
        last_row = 0
        widest = b"Z"
        beyond: re.Pattern[bytes] | None = None
        tail = b""
        long_text = _LongText()
        with zf.open(member) as fh:
            first = True
            while True:
                chunk = fh.read(1 << 20)
                self._text(long_text, chunk)
                if not chunk and not tail:
                    break
                buf = tail + chunk
                if first:
                    first = False
                    dim = self._DIMENSION.search(buf[:4096])
                    if dim is not None:
                        widest = max(widest, dim.group(1), key=lambda s: (len(s), s))
                    beyond = re.compile(rb' r="' + _letters_after(widest) + rb"[0-9]")
                assert beyond is not None
                if beyond.search(buf) or any(
                    # memchr first: most chunks hold no line break or tab at all
                    ws in buf and ws + b'r="' in buf
                    for ws in (b"\n", b"\t", b"\r")
                ):
                    return False  # a wider cell, or references the literal search would miss
                rows = list(self._ROW.finditer(buf[-(1 << 16) :]))
                if rows:
                    last_row = max(last_row, int(rows[-1].group(1)))
                if not chunk:
                    break
                tail = buf[-64:]  # a reference cut by the chunk boundary is seen whole next time
        if last_row == 0:
            return False
        return last_row * _column_number(widest) <= MAX_SHEET_CELLS

    def _extent(self, zf: zipfile.ZipFile, member: str) -> tuple[int, int, int, int] | None:
        """(min_row, min_col, max_row, max_col), 1-based, of cells with a value; None if none
        or if a cell lacks its reference."""
        min_row = min_col = 1 << 30
        max_row = max_col = 0
        columns: dict[bytes, int] = {}
        tail = b""
        long_text = _LongText()
        unknown = False
        with zf.open(member) as fh:
            while True:
                chunk = fh.read(1 << 20)
                self._text(long_text, chunk)
                if unknown:
                    if not chunk:
                        break
                    continue  # the extent is not known, but every cell's length is checked
                buf = tail + chunk
                if chunk:
                    # Cut after the last complete row so that no cell straddles two chunks.
                    cut = buf.rfind(b"row>")
                    if cut < 0:
                        tail = buf
                        continue
                    work, tail = buf[: cut + 4], buf[cut + 4 :]
                else:
                    work, tail = buf, b""
                for m in self._VALUE.finditer(work):
                    # The value's cell is the nearest r="…" before it (rows have r="5", cells
                    # r="B5"; rich-text runs have no r attribute).
                    ref = self._REF.match(work, work.rfind(b' r="', 0, m.start()) + 1)
                    if ref is None:
                        unknown = True
                        break
                    letters = ref.group(1)
                    col = columns.get(letters)
                    if col is None:
                        col = columns[letters] = _column_number(letters)
                    row = int(ref.group(2))
                    min_row, max_row = min(min_row, row), max(max_row, row)
                    min_col, max_col = min(min_col, col), max(max_col, col)
                if not chunk:
                    break
        if max_row == 0 or unknown:
            return None
        return min_row, min_col, max_row, max_col


def _letters_after(letters: bytes) -> bytes:
    """A regex (bytes) matching column letters that come after `letters` (b"V": W-Z, or
    any two or more letters)."""
    n = len(letters)
    options = [rb"[A-Z]{%d,}" % (n + 1)]
    for i in range(n):
        if letters[i] < ord("Z"):
            options.append(
                letters[:i] + b"[" + bytes([letters[i] + 1]) + b"-Z]" + rb"[A-Z]" * (n - i - 1)
            )
    return b"(?:" + b"|".join(options) + b")"


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _xlsx_sheet_members(zf: zipfile.ZipFile) -> dict[str, str]:
    """Sheet name → zip member of its XML, from xl/workbook.xml and its relationships."""
    try:
        # Python's expat limits entity expansion and resolves no external entities.
        workbook = ElementTree.fromstring(_read_small(zf, "xl/workbook.xml", 16 << 20))  # noqa: S314
        rels = ElementTree.fromstring(  # noqa: S314
            _read_small(zf, "xl/_rels/workbook.xml.rels", 16 << 20)
        )
    except (KeyError, ElementTree.ParseError):
        return {}
    targets = {
        el.get("Id", ""): el.get("Target", "")
        for el in rels.iter()
        if _local(el.tag) == "Relationship"
    }
    members: dict[str, str] = {}
    for el in workbook.iter():
        if _local(el.tag) != "sheet":
            continue
        rel_id = next((v for k, v in el.attrib.items() if _local(k) == "id"), "")
        target = targets.get(rel_id)
        name = el.get("name")
        if target and name is not None:
            if target.startswith("/"):
                members[name] = target.lstrip("/")
            else:
                members[name] = posixpath.normpath(posixpath.join("xl", target))
    return members


# --- size guards for zip-based workbooks ---------------------------------------------------

_CONTINUATION = bytes(range(0x80, 0xC0))  # UTF-8 bytes that do not start a character
_ENTITY = re.compile(rb"&#?[0-9A-Za-z]{1,10};")
_CELL_REF = re.compile(rb' r="([A-Z]{1,3})([0-9]{1,7})"')


def _chars(text: bytes) -> int:
    """Characters of XML text in UTF-8 (an entity such as &amp; is one)."""
    return len(_ENTITY.sub(b"&", text).translate(None, _CONTINUATION))


class _LongText:
    """Finds, in XML fed chunk by chunk, a text longer than MAX_CELL_CHARS, without a Python
    step per element: a text that long spans a whole aligned block of MAX_CELL_CHARS // 2
    bytes holding no '<', which a C-level find per block sees. Only such rare stretches are
    counted exactly. Memory stays at a chunk and a text of at most the limit."""

    _BLOCK = MAX_CELL_CHARS // 2

    def __init__(self) -> None:
        self.tail = b""  # from the last '<' on: an element (and its text) still open
        self.context = b""  # the XML just before self.tail, to say where a long text is
        self.shared = 0  # '<si' elements (shared strings) wholly before self.tail

    def feed(self, chunk: bytes) -> bytes | None:
        """None, or, at the first text too long, up to 4 KB of the XML just before it (to
        say where it is). An empty chunk is the end."""
        buf = self.tail + chunk
        last = buf.rfind(b"<") if chunk else len(buf)
        if last < 0:
            last = 0
        block = self._BLOCK
        p = 0
        while p + block <= last:
            if buf.find(b"<", p, p + block) != -1:
                p += block
                continue
            start = buf.rfind(b"<", 0, p) + 1
            end = buf.find(b"<", p + block, last)
            end = last if end < 0 else end
            if self._too_long(buf, start, end):
                return self._found(buf, start)
            p = end
        self.shared += buf.count(b"<si>", 0, last) + buf.count(b"<si ", 0, last)
        if last > 0:
            self.context = buf[max(0, last - 4096) : last]
        self.tail = buf[last:]
        if len(self.tail) > MAX_CELL_CHARS and self._too_long(self.tail, 1, len(self.tail)):
            return self.context + self.tail[:1]
        return None

    @staticmethod
    def _too_long(buf: bytes, start: int, end: int) -> bool:
        # The stretch starts inside a tag (after its '<'): its text begins after the '>'.
        gt = buf.find(b">", start, end)
        return _chars(buf[gt + 1 if gt >= 0 else start : end]) > MAX_CELL_CHARS

    def _found(self, buf: bytes, start: int) -> bytes:
        self.shared += buf.count(b"<si>", 0, start) + buf.count(b"<si ", 0, start)
        return buf[max(0, start - 4096) : start]


def _cell_place(sheet_name: str, before: bytes) -> str:
    """Where a cell is, from the sheet XML just before its value, as
    '工作表“花名册”第 5 行（B5 单元格）'."""
    refs = list(_CELL_REF.finditer(before))
    where = _("工作表“%(sheet)s”") % {"sheet": sheet_name} if sheet_name else _("表格中")
    if not refs:
        return where + _("的一个单元格")
    letters, row = refs[-1].group(1).decode(), refs[-1].group(2).decode()
    return where + _("第 %(row)s 行（%(cell)s 单元格）") % {"row": row, "cell": letters + row}


class _ZipGuard:
    """Checks an xlsx, xlsb or ods before calamine opens it, which reads its shared strings
    (or, for ods, every sheet) at once and whole: the sizes the zip directory declares, the
    compression ratio of large members (a zip bomb), and, streaming each member that calamine
    reads at opening, that no text is longer than a cell may be. The worksheets of an xlsx
    are read one by one, and _SheetGuard looks at each before calamine does."""

    def __init__(self, path: Path, kind: Kind, limits: Limits) -> None:
        self.path = path
        self.kind = kind
        self.limits = limits

    def check(self) -> None:
        try:
            with zipfile.ZipFile(self.path) as zf:
                infos = zf.infolist()
                unpacked = sum(i.file_size for i in infos)
                if unpacked > self.limits.max_unpacked_bytes:
                    raise FileRefused(
                        _msg_unpacked_too_large(
                            unpacked >> 20, self.limits.max_unpacked_bytes >> 20
                        )
                    )
                for info in infos:
                    if (
                        info.file_size > _RATIO_FLOOR
                        and info.file_size > self.limits.max_ratio * max(info.compress_size, 1)
                    ):
                        raise FileRefused(_msg_packed_too_tightly())
                sheets = set(_xlsx_sheet_members(zf).values()) if self.kind == "xlsx" else set()
                for info in infos:
                    if info.is_dir() or info.filename in sheets:
                        continue
                    self._member(zf, info, sheets)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError):
            raise FileRefused(_msg_corrupt()) from None

    def _member(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, sheets: set[str]) -> None:
        """Read the member through (zipfile stops at the declared size and checks the CRC,
        so a member that lies about its size is refused as damaged), checking its texts."""
        is_xml = info.filename.endswith((".xml", ".rels")) and self.kind != "xlsb"
        long_text = _LongText()
        with zf.open(info) as fh:
            while True:
                chunk = fh.read(1 << 20)
                if is_xml:
                    before = long_text.feed(chunk)
                    if before is not None:
                        where = self._place(zf, info.filename, long_text.shared - 1, sheets)
                        raise FileRefused(_msg_cell_too_long(where))
                if not chunk:
                    break

    def _place(self, zf: zipfile.ZipFile, member: str, index: int, sheets: set[str]) -> str:
        """Where the long text is shown: for a shared string, the first cell that uses it."""
        if self.kind != "xlsx" or not member.endswith("sharedStrings.xml"):
            return _("表格中的一个单元格")
        cell = re.compile(rb'<c r="([A-Z]{1,3})([0-9]{1,7})"[^>]*?t="s"[^>]*><v>%d</v>' % index)
        for name, sheet_member in _xlsx_sheet_members(zf).items():
            if sheet_member not in zf.NameToInfo:
                continue
            tail = b""
            with zf.open(sheet_member) as fh:
                while chunk := fh.read(1 << 20):
                    buf = tail + chunk
                    found = cell.search(buf)
                    if found is not None:
                        return _cell_place(name, b" " + found.group(0)[2:])
                    tail = buf[-256:]
        return _("表格中的一个单元格")


# --- CSV --------------------------------------------------------------------------------------


def _csv_encoding(path: Path) -> str:
    """The text encoding of a CSV file, tried over the whole file in chunks (a file may be
    UTF-8 for its first megabyte and GBK further on), never holding it all."""
    with path.open("rb") as fh:
        head = fh.read(65536)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" export: UTF-16 with a BOM, tab-separated.
        candidates: tuple[str, ...] = ("utf-16",)
    else:
        if b"\x00" in head:
            raise FileRefused(_msg_unknown())  # binary, and not a format we know
        candidates = ("utf-8-sig", "gb18030")
    for encoding in candidates:
        if _decodes(path, encoding):
            return encoding
    if path.suffix.lower() not in (".csv", ".txt", ".tsv"):
        # Undecodable bytes under a spreadsheet's name: some binary format, not a CSV.
        raise FileRefused(_msg_unknown())
    raise FileRefused(
        _("无法识别 CSV 文件的文字编码。请用 Excel 或 WPS 打开文件，“另存为” xlsx 格式后再上传。")
    )


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _refuse_non_text(text: str) -> None:
    if "\x00" in text:
        raise FileRefused(_msg_unknown())
    controls = sum(1 for ch in text[:100_000] if ch < " " and ch not in "\t\r\n")
    if controls > max(2, len(text[:100_000]) // 100):
        raise FileRefused(_msg_unknown())
    start = text.lstrip()[:4096].lower()
    if start.startswith("<"):
        if "<html" in start or "<table" in start or "<!doctype html" in start:
            raise FileRefused(
                _(
                    "这个文件实际上是网页（HTML）格式，只是扩展名像表格。"
                    "请用 Excel 或 WPS 打开后“另存为” xlsx 格式再上传。"
                )
            )
        if "urn:schemas-microsoft-com:office:spreadsheet" in start or "<workbook" in start:
            raise FileRefused(
                _(
                    "这个文件是旧版的“XML 表格”格式。"
                    "请用 Excel 或 WPS 打开后“另存为” xlsx 格式再上传。"
                )
            )
        raise FileRefused(_msg_unknown())


def _sniff_delimiter(text: str) -> str:
    sample = [line for line in text[:65536].splitlines() if line.strip()][:50]
    counts = {d: sum(line.count(d) for line in sample) for d in _CSV_DELIMITERS}
    best = max(_CSV_DELIMITERS, key=lambda d: counts[d])  # ties keep the earlier, ','
    return best if counts[best] else ","


def _read_csv(path: Path, expected: set[str], max_header_scan: int, limits: Limits) -> Table:
    size = path.stat().st_size
    if size > limits.max_csv_bytes:
        raise FileRefused(_msg_csv_too_large(-(-size >> 20), limits.max_csv_bytes >> 20))
    encoding = _csv_encoding(path)
    with path.open(encoding=encoding, newline="") as fh:
        head = fh.read(1 << 20)
    _refuse_non_text(head)
    delimiter = _sniff_delimiter(head)
    # Records, not line numbers: a quoted cell may span lines, and Excel shows records. Read
    # as they are used: a 200 MB CSV read whole once took 10 GB.
    found = _scan(
        _csv_records(path, encoding, delimiter), expected, max_header_scan, limits.max_rows
    )
    if found is None:
        raise FileRefused(_("文件里没有任何内容。"))
    return Table(
        sheet_name="",
        header_row=found.header_row,
        headers=found.headers,
        rows=_with_first_row(found.rows, "", found.header_row),
        total_rows_hint=max(0, _count_lines(path) - found.header_row),
    )


def _csv_records(path: Path, encoding: str, delimiter: str) -> Iterator[NumberedRow]:
    number = 0
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            for record in reader:
                number += 1
                if max(map(len, record), default=0) > MAX_CELL_CHARS:
                    column = next(i for i, c in enumerate(record) if len(c) > MAX_CELL_CHARS)
                    raise FileRefused(
                        _msg_cell_too_long(
                            _("第 %(row)s 行（%(cell)s 列）")
                            % {"row": number, "cell": column_letter(column)}
                        )
                    )
                cells: list[Cell] = list(record)
                yield number, cells
        except csv.Error as exc:
            if "field limit" in str(exc):  # csv's own limit, 131,072 characters
                raise FileRefused(
                    _msg_cell_too_long(_("第 %(row)s 行") % {"row": number + 1})
                ) from None
            raise FileRefused(_msg_corrupt()) from None


def _count_lines(path: Path) -> int:
    """About the number of records (a quoted cell may hold line breaks): for the progress."""
    lines = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines
