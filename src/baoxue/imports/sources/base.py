"""What every import source shares: field definitions with header aliases, the row-level
result types, and resolvers for the places and schools a file names."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import wraps
from typing import Any

from django.utils.translation import gettext as _

from baoxue.core.sheets import formula_like
from baoxue.core.text import normalize_name
from baoxue.imports.values import CellError, clean_text

Parser = Callable[[object], Any]


def header_key(text: str) -> str:
    """Headers compare without spaces, line breaks, asterisks (required marks) and colons."""
    return re.sub(r"[\s*＊:：()（）【】\[\]]", "", clean_text(text)).lower()


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    aliases: tuple[str, ...] = ()
    parser: Parser = clean_text
    required: bool = False
    example: str = ""
    help: str = ""
    # Not required when one of these fields' columns is there (it can stand in for this one).
    required_unless: tuple[str, ...] = ()
    # In the blank template (the family members' columns of the national export are read,
    # not offered: the template's 监护人 columns say it more simply).
    in_template: bool = True

    def header_keys(self) -> set[str]:
        return {header_key(self.label), *(header_key(a) for a in self.aliases)}


@dataclass
class RowIssue:
    row_number: int
    column: str
    code: str
    message: str
    severity: str = "error"  # or "warning"


CELL_SEPARATOR = "\x1f"


def pack_cells(cells: list[Any]) -> str | list[Any]:
    """A row of text cells as one string (a third of the memory of 20-odd string objects:
    an import holds every valid row until it commits); any other row as it is."""
    try:
        packed = CELL_SEPARATOR.join(cells)
    except TypeError:
        return cells  # a number, date or empty cell
    return packed if packed.count(CELL_SEPARATOR) == len(cells) - 1 else cells


def pack_rows(rows: list[list[Any]]) -> list[str | list[Any]]:
    """pack_cells() of many rows, checked in one pass when all of them are text."""
    try:
        packed: list[str | list[Any]] = [CELL_SEPARATOR.join(cells) for cells in rows]
    except TypeError:
        return [pack_cells(cells) for cells in rows]
    # Each row's separators are at least its cells less one: equal totals mean no cell held
    # a separator of its own.
    if "".join(packed).count(CELL_SEPARATOR) != sum(map(len, rows)) - len(rows):  # type: ignore[arg-type]
        return [pack_cells(cells) for cells in rows]
    return packed


def unpack_cells(cells: str | list[Any]) -> list[Any]:
    return cells.split(CELL_SEPARATOR) if isinstance(cells, str) else cells


@dataclass
class Record:
    """One valid row, its values parsed and normalised; `cells` as the file had them
    (packed by pack_cells: use cell_list())."""

    row_number: int
    values: dict[str, Any]
    cells: str | list[Any]
    warnings: list[RowIssue] = field(default_factory=list)
    _original: list[str] | None = field(default=None, repr=False, compare=False)

    def cell_list(self) -> list[Any]:
        return unpack_cells(self.cells)

    @property
    def original(self) -> list[str]:
        """The row's cells as text (computed when asked: most rows never need it)."""
        if self._original is None:
            self._original = [clean_text(c) for c in self.cell_list()]
        return self._original


# --- values that look like code ----------------------------------------------------------------
# A name, a place, a note that starts like a spreadsheet formula (=HYPERLINK(…), -2+3+cmd|…) or
# holds web markup is imported as the text it is (pages escape it, exports write it as text:
# core.sheets), but it is hardly what someone meant to type, so its row gets this warning.
UNSAFE_TEXT = "unsafe_text"
_MARKUP = re.compile(r"<[a-z/!?]|(?:java|vb)script\s*:", re.IGNORECASE)
# A phone number written the international way (+86 138…) and a dash that stands for "none"
# start with a formula character too, and are what they seem.
_PHONE = re.compile(r"\+[0-9 ()-]+")
_DASHES = re.compile(r"[-－—–]+")


def looks_like_code(name: str, value: str) -> bool:
    """Whether the text `value` of the field `name` starts like a formula or holds markup."""
    if _MARKUP.search(value):
        return True
    if not formula_like(value) or _DASHES.fullmatch(value):
        return False
    return not ("phone" in name and _PHONE.fullmatch(value))


def unsafe_text_issues(record: Record, fields: Iterable[Field]) -> list[RowIssue]:
    """A warning for each text value of the row that looks like code (looks_like_code)."""
    values = record.values
    return [
        RowIssue(
            record.row_number,
            f.label,
            UNSAFE_TEXT,
            _("%(label)s含有公式或网页代码字符，已按原文保存，请核对更正") % {"label": f.label},
            "warning",
        )
        for f in fields
        if isinstance(value := values.get(f.name), str) and value and looks_like_code(f.name, value)
    ]


CheckMethod = Callable[[Any, Record, Any], list[RowIssue]]


def flags_unsafe_text(check: CheckMethod) -> CheckMethod:
    """For a source's check(): the row's values that look like code are flagged once the
    row is known to be imported (a rejected row has its errors to say, not this)."""

    @wraps(check)
    def checked(source: Any, record: Record, ctx: Any) -> list[RowIssue]:
        issues = check(source, record, ctx)
        if any(i.severity == "error" for i in issues):
            return issues
        return [*issues, *unsafe_text_issues(record, source.fields)]

    return checked


class Action:
    CREATE = "create"
    UPDATE = "update"
    UNCHANGED = "unchanged"


@dataclass
class Planned:
    """What committing one record will do."""

    record: Record
    action: str
    target: Any = None  # the existing object for update/unchanged
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


def auto_mapping(
    fields: Iterable[Field], headers: list[str], remembered: dict[str, str]
) -> dict[str, str]:
    """Column index → field name for the headers we recognise (known aliases first, then what
    a user mapped by hand for this source before). Each field takes one column: the first."""
    by_key: dict[str, str] = {}
    for f in fields:
        for key in f.header_keys():
            by_key.setdefault(key, f.name)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for index, header in enumerate(headers):
        key = header_key(header)
        name = by_key.get(key) or remembered.get(key, "")
        if not name and key.startswith(_PREFIXES):
            # Provincial 学籍 systems write 学生性别, 学生出生日期, 学生班级名称 … for the
            # national template's 性别, 出生日期, 班级名称.
            name = by_key.get(_unprefixed(key), "")
        if name and name not in taken:
            mapping[str(index)] = name
            taken.add(name)
    return mapping


_PREFIXES = ("学生",)


def _unprefixed(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix) and len(key) > len(prefix) + 1:
            return key[len(prefix) :]
    return key


def unrecognised_headers(headers: list[str], mapping: dict[str, str]) -> list[str]:
    """The file's headers that no field took, for a refused file's message (blank ones and
    the row counters 序号 / 编号 left out)."""
    return [
        clean_text(h)
        for i, h in enumerate(headers)
        if str(i) not in mapping
        and clean_text(h)
        and header_key(h) not in {"序号", "编号", "所在工作表"}
    ]


def missing_required(fields: Iterable[Field], mapping: dict[str, str]) -> list[Field]:
    mapped = set(mapping.values())
    return [
        f
        for f in fields
        if f.name not in mapped
        and (f.required or (f.required_unless and not mapped.intersection(f.required_unless)))
    ]


# --- place and school names ---------------------------------------------------------------------
# 社区 is not dropped: a township seat often has 城东村 and 城东社区, two villages.
_VILLAGE_SUFFIXES = ("村民委员会", "村委会", "村委", "村")
_GROUP_SUFFIXES = ("村民小组", "小组", "组", "屯")


def strip_suffix(name: str, suffixes: tuple[str, ...]) -> str:
    for suffix in suffixes:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def village_key(name: str) -> str:
    return strip_suffix(clean_text(name), _VILLAGE_SUFFIXES)


def group_key(name: str) -> str:
    return strip_suffix(clean_text(name), _GROUP_SUFFIXES)


def guess_school_kind(name: str) -> str:
    if "教学点" in name:
        return "teaching_point"
    if "九年" in name or "一贯" in name:
        return "nine_year"
    if "特殊" in name or "特教" in name or "启智" in name:
        return "special"
    if "中学" in name or "初中" in name:
        return "junior"
    if "小学" in name:
        return "primary"
    return "other"


def person_name(label: str) -> Parser:
    """A required name, normalised as the registry stores names."""
    inner = required_text(label)

    def parse(value: object) -> str:
        return normalize_name(inner(value))

    return parse


def required_text(label: str) -> Parser:
    def parse(value: object) -> str:
        text = clean_text(value)
        if not text:
            raise CellError(_("%(label)s不能为空") % {"label": label})
        return text

    return parse


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))
