"""The import pipeline: read → map columns → validate rows → plan against the registry →
commit, as plain functions over a file, so the web page, the background task and the
`baoxue import` command all run the same code.

The commit is one transaction with bulk writes: killed midway, it leaves nothing behind; run
twice on the same file, the second run plans every row as unchanged and writes nothing.
"""

from __future__ import annotations

import gc
import hashlib
import re
import threading
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

from django.db import transaction
from django.utils.translation import gettext as _

from baoxue.accounts.actors import Actor
from baoxue.core import idnumbers
from baoxue.core.idnumbers import mask
from baoxue.core.memory import release_freed_memory
from baoxue.imports.models import SKIPPED_ROW_CODES, ListReceipt
from baoxue.imports.places import Places, Schools
from baoxue.imports.reading import FileRefused, Table, read_table
from baoxue.imports.sources.base import (
    CELL_SEPARATOR,
    Action,
    Field,
    Planned,
    Record,
    RowIssue,
    auto_mapping,
    missing_required,
    pack_rows,
    unpack_cells,
    unrecognised_headers,
)
from baoxue.imports.values import CellError, clean_text, mask_numbers
from baoxue.registry.models import Child, Region, School
from baoxue.registry.signals import children_moved

Progress = Callable[[str, int, int], None]
EXAMPLES_PER_ACTION = 5


def no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class ImportContext:
    actor: Actor
    township: Region
    # A school user imports only its own school's rows; a village user only its villages.
    school: School | None = None
    village_ids: frozenset[int] | None = None
    # One school's own 学籍 export has no school column: the school its rows belong to,
    # chosen by the township office (the mapping page, or --into with a 学校标识码).
    default_school: School | None = None
    # Answers for new village names that resemble a known one (Places.decisions).
    village_decisions: dict[str, str] = field(default_factory=dict)
    today: date = field(default_factory=date.today)
    # The batch being imported, for records that keep where they came from.
    batch_id: int | None = None
    # The file is the whole list of the schools it covers (学籍): a current 学籍 it leaves out
    # is marked. False for a partial list (new pupils only, one class).
    complete_list: bool = True
    # Records that rows left unparsed (identical to their last import) stand for.
    skipped_targets: list[int] = field(default_factory=list)
    # The values that rows rejected while validating did parse to (an ID number, a 学籍号):
    # whom the file names even where it cannot be imported.
    rejected_values: list[dict[str, Any]] = field(default_factory=list)
    # What a source's plan found beyond its rows, for the preview and its commit; "writes"
    # says the commit has work even when every row is unchanged.
    notes: dict[str, Any] = field(default_factory=dict)
    places: Places = field(init=False)
    schools: Schools = field(init=False)
    _quotable: dict[int, bool] = field(init=False, default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.places = Places(self.township, self.village_decisions)
        self.schools = Schools(self.township)

    @property
    def township_wide(self) -> bool:
        """The import covers the whole township (not one school's or villages' children)."""
        return self.school is None and self.village_ids is None

    def may_quote(self, child: Any) -> bool:
        """Whether an issue may quote what the registry holds of `child` (its name, its birth
        date): only when the user may see that child. A file's ID number or 学籍号 can find a
        child anywhere in the database; the user is told there is a disagreement, never who
        the child is, unless the child is theirs to see (a 残联 user sees disabled children
        only, a township office its own township's). Asked rarely (a conflict), so a query
        each, remembered per child."""
        if not self.township_wide or child is None or child.pk is None:
            return False
        found = self._quotable.get(child.pk)
        if found is None:
            found = self._quotable[child.pk] = (
                Child.objects.visible_to(self.actor).filter(pk=child.pk).exists()
            )
        return found


class Source(Protocol):
    code: str
    label: Any  # a lazily translated string
    fields: list[Field]
    # A source of whole lists also has covers(plan, ctx) -> (school ids, village ids): what
    # a committed import of it is the whole list of (ListReceipt). Sources of partial lists
    # (subsidies, attendance) have none.

    def check(self, record: Record, ctx: ImportContext) -> list[RowIssue]: ...

    def plan(
        self, records: list[Record], ctx: ImportContext
    ) -> tuple[list[Planned], list[RowIssue]]: ...

    def commit(self, plan: list[Planned], ctx: ImportContext, progress: Progress) -> None: ...


@dataclass
class Outcome:
    table: Table
    mapping: dict[str, str]
    rows_total: int = 0
    issues: list[RowIssue] = field(default_factory=list)
    # What committing does with each row that was parsed; rows skipped as identical to
    # their last import (Fingerprints) are kept apart as (row number, packed cells, target id):
    # a re-import has 100,000 of them, and `plan` makes their Planned only when asked.
    planned: list[Planned] = field(default_factory=list)
    skipped: list[tuple[int, str | list[Any], int]] = field(default_factory=list)
    committed: bool = False
    # The file's row (masked) for every row with an issue, for the error report.
    originals: dict[int, list[str]] = field(default_factory=dict)
    _merged: list[Planned] | None = field(default=None, repr=False, compare=False)

    @property
    def plan(self) -> list[Planned]:
        """Every row's plan in row order, the skipped rows as unchanged."""
        if not self.skipped:
            return self.planned
        if self._merged is None:
            self._merged = sorted(
                self.planned + [self._skipped_plan(row) for row in self.skipped],
                key=lambda p: p.record.row_number,
            )
        return self._merged

    @cached_property
    def _name_column(self) -> int | None:
        return next((int(k) for k, v in self.mapping.items() if v == "name"), None)

    def _skipped_plan(self, row: tuple[int, str | list[Any], int]) -> Planned:
        row_number, cells, target_id = row
        found = unpack_cells(cells)
        index = self._name_column
        name = clean_text(found[index]) if index is not None and index < len(found) else ""
        return Planned(
            Record(row_number, {"name": name, "target_id": target_id}, cells), Action.UNCHANGED
        )

    def count(self, action: str) -> int:
        found = sum(1 for p in self.planned if p.action == action)
        return found + len(self.skipped) if action == Action.UNCHANGED else found

    @property
    def rejected_rows(self) -> int:
        return len({i.row_number for i in self.issues if i.severity == "error"})

    @property
    def skipped_rows(self) -> int:
        """Rows neither written nor wrong: repeats, the template's example, people the list
        names who are not the import's concern. Each has a warning that says why."""
        planned = {p.record.row_number for p in self.planned}
        return len(
            {
                i.row_number
                for i in self.issues
                if i.severity == "warning"
                and i.code in SKIPPED_ROW_CODES
                and i.row_number not in planned
            }
        )

    @property
    def warned_rows(self) -> int:
        """Rows imported (or skipped) with a warning: a rejected row is counted once, as
        rejected, whatever warnings it has too."""
        rejected = {i.row_number for i in self.issues if i.severity == "error"}
        return len({i.row_number for i in self.issues if i.severity == "warning"} - rejected)

    def examples(
        self,
        labels: dict[str, Any] | None = None,
        shown: Callable[[str, Any], str] | None = None,
    ) -> dict[str, list[dict[str, Any]]]:
        """A few rows of each action, with their changes as (old, new) text: `labels` names
        the changed fields, `shown` writes a value as a person reads it (a label, not a
        code; an ID number masked)."""
        labels = labels or {}
        text = shown or (lambda _name, value: "" if value is None else str(value))
        out: dict[str, list[dict[str, Any]]] = {}
        for action in (Action.CREATE, Action.UPDATE, Action.UNCHANGED):
            rows = [p for p in self.planned if p.action == action][:EXAMPLES_PER_ACTION]
            if action == Action.UNCHANGED and self.skipped:
                rows += [self._skipped_plan(row) for row in self.skipped[:EXAMPLES_PER_ACTION]]
                rows = sorted(rows, key=lambda p: p.record.row_number)[:EXAMPLES_PER_ACTION]
            out[action] = [
                {
                    "row": p.record.row_number,
                    "name": p.record.values.get("name", ""),
                    "changes": {
                        str(labels.get(k, k)): [text(k, a), text(k, b)]
                        for k, (a, b) in p.changes.items()
                    },
                }
                for p in rows
            ]
        return out


def open_table(path: Path, source: Source, meanwhile: Callable[[], object] | None = None) -> Table:
    expected = [a for f in source.fields for a in (f.label, *f.aliases)]
    return read_table(path, expected_headers=expected, meanwhile=meanwhile)


def resolve_mapping(
    source: Source, headers: list[str], mapping: dict[str, str] | None, remembered: dict[str, str]
) -> dict[str, str]:
    if mapping is None:
        mapping = auto_mapping(source.fields, headers, remembered)
    known = {f.name for f in source.fields}
    return {k: v for k, v in mapping.items() if v in known and k.isdigit()}


# An ID number (15 or 18 characters), a 学籍号 (G/L/J and an ID number), a 残疾人证号 (an ID
# number and two digits), a mistyped one or a bank card number: 15 digits or more, once
# spaces, separators and full-width digits are normalised.
_ID_LIKE = re.compile(r"[GLJ]?(?:[0-9]{15,}|[0-9]{17}X[0-9]*)")


# The problem list keeps each row beside its reasons, for the page and the error report: a
# cell is kept to this many characters (no name, address or number is longer), so that one
# cell of a pasted book cannot make each view of the list gigabytes.
ISSUE_CELL_CHARS = 200
ISSUE_MESSAGE_CHARS = 1000


def shortened(text: str, limit: int) -> str:
    """`text`, cut to `limit` characters with '…' at the end when it was longer."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def masked_row(original: list[str]) -> list[str]:
    """The row for a report that is handed around: cells holding an ID number masked, as
    the file wrote them or with spaces, dashes or full-width digits, or inside a text; long
    cells cut."""
    limit = ISSUE_CELL_CHARS
    # A long cell (notes) is masked before it is cut (a number across the cut is masked
    # whole), and only its start: the rest is cut anyway.
    return [
        masked_cell(c) if len(c) <= limit else shortened(mask_numbers(c[: limit + 40]), limit)
        for c in original
    ]


def masked_cell(cell: str) -> str:
    """A cell holding an identifying number masked (the birth date and the last characters
    hidden); a number inside a text too (values.mask_numbers); others as they are."""
    number = idnumbers.normalize(cell).upper()
    if not _ID_LIKE.fullmatch(number):
        return mask_numbers(cell)
    prefix = number[:1] if number[:1] in "GLJ" else ""
    body = number[len(prefix) :]
    if len(body) in (15, 18):
        return prefix + mask(body)
    if _is_card(body):
        # A 残疾人证号: the category and grade after the number are not the number's.
        return prefix + mask(body[:18]) + body[18:]
    # A digit too many or too few: any character after the region may be the number's own
    # (450225201607070092 with a digit added keeps its check character last).
    return prefix + body[:6] + "*" * (len(body) - 6)


def _is_card(body: str) -> bool:
    """A 残疾人证号: a valid number, a category 1–7 and a grade 1–4."""
    return (
        len(body) == 20
        and body[:17].isdigit()
        and idnumbers.check_character(body[:17]) == body[17]
        and body[18] in "1234567"
        and body[19] in "1234"
    )


SAMPLE_ROWS = 3
SAMPLE_CHARS = 24


def sample_rows(table: Table, count: int = SAMPLE_ROWS) -> list[list[str]]:
    """The first `count` data rows of a freshly opened table as text, ID-like cells masked
    and long cells cut: what the mapping page shows under each column. Reads only those
    rows of `table.rows`."""
    width = len(table.headers)
    found = []
    for _number, cells in islice(table.rows, count):
        text = [clean_text(c) for c in cells[:width]]
        found.append(
            [c if len(c) <= SAMPLE_CHARS else c[: SAMPLE_CHARS - 1] + "…" for c in masked_row(text)]
        )
    return found


def _is_template_example(cells: list[Any], columns: list[tuple[int, Field]]) -> bool:
    """The example row of our own template, left in by the user: every filled cell is the
    template's example value (and there are enough of them to be sure)."""
    filled = 0
    for i, f in columns:
        if i >= len(cells) or cells[i] is None:
            continue
        text = clean_text(cells[i])
        if not text:
            continue
        if text != f.example:
            return False  # the usual case, found at the first filled cell
        filled += 1
    return filled >= 3


# Bump when parsing or planning changes what a row means: older digests then match nothing.
FINGERPRINT_VERSION = "1"


class Fingerprints:
    """Row digests for a source that keeps them (Enrollment.import_fingerprint).

    The digest covers the source, the column mapping, what else gives a cell its meaning
    (`context`: the school a school's own import is for, which a row without a school column
    belongs to) and every cell of the row as the file holds it. A row whose digest is among
    `known` was imported before exactly so, and the record it wrote has not been changed
    since: it is unchanged without being parsed. If such a row repeats in the file, or shares
    an ID number or 学籍号 with another row, the caller validates the whole file normally
    instead (duplicates are reported, not skipped).
    """

    IDENTITY_FIELDS = ("id_info", "student_number")

    def __init__(
        self, source: Source, mapping: dict[str, str], known: dict[str, int], context: str = ""
    ) -> None:
        self.prefix = "\x1e".join(
            [
                FINGERPRINT_VERSION,
                source.code,
                *(f"{k}={v}" for k, v in sorted(mapping.items())),
                # Left out when empty, so that a township-wide import's digests stay as before.
                *([context] if context else []),
            ]
        )
        self.known = known
        self.identity = sorted(int(k) for k, v in mapping.items() if v in self.IDENTITY_FIELDS)
        # (row number, packed cells, target id) of each row set aside.
        self.unchanged: list[tuple[int, str | list[Any], int]] = []
        self.seen: set[str] = set()
        self.repeated = False

    def of(self, cells: str | list[Any]) -> str:
        """The digest of a row, given as its cells or packed (pack_cells)."""
        return self.digests([cells])[0]

    def digests(self, rows: list[str | list[Any]]) -> list[str]:
        """of() for many rows at once (packed or as cells)."""
        # The prefix is hashed once; each row continues from a copy of that state.
        start = hashlib.blake2b((self.prefix + "\x1e").encode(), digest_size=16)
        found = []
        for row in rows:
            text = (
                row
                if type(row) is str
                else CELL_SEPARATOR.join([c if type(c) is str else repr(c) for c in row])
            )
            digest = start.copy()
            digest.update(text.encode())
            found.append(digest.hexdigest())
        return found

    def skip_known(
        self,
        chunk: list[tuple[int, list[Any]]],
        packed: list[str | list[Any]],
        digests: list[str],
        targets: list[int | None],
    ) -> list[int]:
        """Set aside the rows whose digest is known; the positions of the others."""
        kept = [j for j, target in enumerate(targets) if target is None]
        hits = [j for j, target in enumerate(targets) if target is not None]
        seen = self.seen
        before = len(seen)
        seen.update([digests[j] for j in hits])
        if len(seen) - before != len(hits):
            self.repeated = True
        # Not the parsed row: a skipped row keeps its cells packed in one string, for the
        # preview and the checks against the other rows (a re-import holds 100,000).
        self.unchanged += [(chunk[j][0], packed[j], targets[j] or 0) for j in hits]
        return kept

    def identity_keys(self, cells: str | list[Any]) -> set[str]:
        """The normalised ID numbers and 学籍号 of a row (packed or as cells)."""
        row = unpack_cells(cells)
        keys = set()
        for i in self.identity:
            if i < len(row) and (key := idnumbers.normalize(clean_text(row[i])).upper()):
                keys.add(key)
        return keys

    def conflicts_with(self, records: list[Record]) -> bool:
        """True when the skipped rows cannot be trusted as skipped: a repeat among them, or
        an identity they share with a row that was validated."""
        if self.repeated:
            return True
        if not self.unchanged or not records:
            return False
        others: set[str] = set()
        for record in records:
            others |= self.identity_keys(record.cells)
        return any(
            not others.isdisjoint(self.identity_keys(cells)) for _n, cells, _t in self.unchanged
        )


# Parsed cells are remembered per column, for text cells: most columns repeat a few values
# (sex, school, grade, status, village…), so most cells cost one dictionary lookup. A column
# whose values hardly repeat (names, ID numbers) has its memo emptied when it reaches this size.
MEMO_LIMIT = 20_000
# Rows are parsed a chunk at a time, column by column: a column's cells go through the memo
# with C-level set and map calls instead of a Python step per cell, and memory stays flat.
CHUNK_ROWS = 4096
_MISSING = object()


class _Column:
    """One mapped column: its field, and what its text cells parsed to so far."""

    def __init__(self, index: int, field: Field) -> None:
        self.index = index
        self.name = field.name
        self.label = field.label
        self.parser = field.parser
        self.required = field.required
        self.memo: dict[str, Any] = {}
        self.failed: set[str] = set()  # the memo's cells that raised CellError

    def parse(self, cells: list[Any]) -> tuple[list[Any], bool]:
        """Every cell's value (or its CellError), and whether any is a CellError."""
        memo, parser = self.memo, self.parser
        if set(map(type, cells)) == {str}:
            distinct = dict.fromkeys(cells).keys()
            new: Collection[str] = distinct - memo.keys()
            if len(memo) + len(new) > MEMO_LIMIT:
                memo.clear()
                self.failed.clear()
                new = distinct
            for cell in new:
                try:
                    memo[cell] = parser(cell)
                except CellError as exc:
                    memo[cell] = exc
                    self.failed.add(cell)
            return list(map(memo.__getitem__, cells)), not self.failed.isdisjoint(distinct)
        # A column with numbers, dates or empty cells: those are parsed one by one (1 and
        # True are equal as keys, but not as cells).
        values: list[Any] = []
        failed = False
        for cell in cells:
            if type(cell) is str:
                value = memo.get(cell, _MISSING)
                if value is _MISSING:
                    try:
                        value = parser(cell)
                    except CellError as exc:
                        value = exc
                    if len(memo) < MEMO_LIMIT:
                        memo[cell] = value
                        # A later chunk of text alone finds this cell in the memo, and must
                        # know it failed (else its error would pass as the row's value).
                        if isinstance(value, CellError):
                            self.failed.add(cell)
            else:
                try:
                    value = parser(cell)
                except CellError as exc:
                    value = exc
            if isinstance(value, CellError):
                failed = True
            values.append(value)
        return values, failed


def _chunks(
    rows: Iterable[tuple[int, list[Any]]], size: int
) -> Iterator[list[tuple[int, list[Any]]]]:
    it = iter(rows)
    while chunk := list(islice(it, size)):
        yield chunk


def validate(
    table: Table,
    mapping: dict[str, str],
    source: Source,
    ctx: ImportContext,
    progress: Progress = no_progress,
    originals: dict[int, list[str]] | None = None,
    fingerprints: Fingerprints | None = None,
) -> tuple[list[Record], list[RowIssue], int]:
    """Parse and check every row. With `fingerprints`, each row gets its digest, and a row
    whose digest is known (identical to the row the registry was last imported from) is not
    parsed at all: it goes to fingerprints.unchanged."""
    fields = {f.name: f for f in source.fields}
    columns = sorted((int(k), fields[v]) for k, v in mapping.items())
    missing = missing_required(source.fields, mapping)
    if missing:
        unknown = unrecognised_headers(table.headers, mapping)
        message = _("缺少必填的列：%(cols)s。") % {"cols": "、".join(f.label for f in missing)}
        if unknown:
            message += _("文件中这些列没有识别：%(headers)s，") % {"headers": "、".join(unknown)}
            message += _("请在列对应中为必填项指定其中一列，或检查表头。")
        else:
            message += _("请在列对应中指定，或检查表头。")
        raise FileRefused(
            message,
            headers=table.headers,
            mapping={k: str(fields[v].label) for k, v in mapping.items()},
            missing=[str(f.label) for f in missing],
        )
    parsers = [_Column(index, f) for index, f in columns]
    ctx.rejected_values = []  # a second pass over the file (see _run) starts again
    names = [c.name for c in parsers]
    required = [k for k, c in enumerate(parsers) if c.required]
    width = max((index for index, _f in columns), default=-1) + 1
    check = source.check
    records: list[Record] = []
    issues: list[RowIssue] = []
    total_hint = table.total_rows_hint or 0
    count = 0
    first = True
    if total_hint:
        progress("validate", 0, total_hint)  # the sheet is read: its size is known
    for chunk in _chunks(table.rows, CHUNK_ROWS):
        count += len(chunk)
        packed = pack_rows([cells for _n, cells in chunk])
        digests: list[str] | None = None
        if fingerprints is not None:
            digests = fingerprints.digests(packed)
            targets = list(map(fingerprints.known.get, digests))
            if targets.count(None) != len(targets):
                kept = fingerprints.skip_known(chunk, packed, digests, targets)
                chunk = [chunk[j] for j in kept]
                packed = [packed[j] for j in kept]
                digests = [digests[j] for j in kept]
        if first and chunk:
            first = False
            if _is_template_example(chunk[0][1], columns):
                issues.append(
                    RowIssue(chunk[0][0], "", "example", _("这是模板的示例行，已跳过"), "warning")
                )
                chunk, packed = chunk[1:], packed[1:]
                digests = digests[1:] if digests is not None else None
        if chunk:
            _validate_chunk(
                chunk, packed, digests, parsers, names, required, width, check, ctx,
                records, issues, originals,
            )  # fmt: skip
        progress("validate", count, max(total_hint, count))
    if count == 0:
        raise FileRefused(_("表头下面没有数据行。"))
    progress("validate", count, count)
    return records, issues, count


def _validate_chunk(
    chunk: list[tuple[int, list[Any]]],
    packed: list[str | list[Any]],
    digests: list[str] | None,
    parsers: list[_Column],
    names: list[str],
    required: list[int],
    width: int,
    check: Callable[[Record, Any], list[RowIssue]],
    ctx: ImportContext,
    records: list[Record],
    issues: list[RowIssue],
    originals: dict[int, list[str]] | None,
) -> None:
    rows = [cells for _n, cells in chunk]
    if min(map(len, rows)) < width:  # a short row reads as empty cells (None) at its end
        rows = [r if len(r) >= width else [*r, *([None] * (width - len(r)))] for r in rows]
    parsed: list[list[Any]] = []
    # Row position in the chunk → its problems, in column order, then required columns.
    problems: dict[int, list[RowIssue]] = {}
    for column in parsers:
        index = column.index
        column_values, failed = column.parse([r[index] for r in rows])
        parsed.append(column_values)
        if failed:
            for j, value in enumerate(column_values):
                if isinstance(value, CellError):
                    problems.setdefault(j, []).append(
                        RowIssue(chunk[j][0], column.label, "cell", str(value))
                    )
    for k in required:
        column_values = parsed[k]
        if "" not in column_values and None not in column_values:
            continue
        label = parsers[k].label
        for j, value in enumerate(column_values):
            if value is None or (type(value) is str and not value):
                problems.setdefault(j, []).append(
                    RowIssue(
                        chunk[j][0], label, "required", _("%(label)s不能为空") % {"label": label}
                    )
                )
    by_row = zip(*parsed, strict=True) if parsed else iter([()] * len(chunk))
    for j, ((row_number, _cells), row_values) in enumerate(zip(chunk, by_row, strict=True)):
        values = dict(zip(names, row_values, strict=True))
        row_issues = problems.get(j)
        if row_issues is not None:
            values = {k: v for k, v in values.items() if not isinstance(v, CellError)}
        if digests is not None:
            values["fingerprint"] = digests[j]
        record = Record(row_number=row_number, values=values, cells=packed[j])
        if row_issues is None:
            row_issues = check(record, ctx)
        if row_issues:
            issues.extend(row_issues)
            if originals is not None:
                originals[row_number] = masked_row(record.original)
            if any(i.severity == "error" for i in row_issues):
                ctx.rejected_values.append(values)
                continue
        records.append(record)


def in_file_columns(
    issues: list[RowIssue], source: Source, mapping: dict[str, str], headers: list[str]
) -> list[RowIssue]:
    """The issues with each column named as the file's header names it (身份证号, not the
    field's label 身份证件号), so that the user finds the cell in their own file. An issue
    names a field by its label or one of its aliases; a column the file does not have keeps
    the name it was given."""
    fields = {f.name: f for f in source.fields}
    mapped = [
        (fields[name], headers[int(index)])
        for index, name in mapping.items()
        if name in fields and int(index) < len(headers) and headers[int(index)]
    ]
    # Labels first: a label wins over another field's alias.
    names = {f.label: header for f, header in mapped}
    for f, header in mapped:
        for alias in f.aliases:
            names.setdefault(alias, header)
    for issue in issues:
        issue.column = names.get(issue.column, issue.column)
    return issues


def run(
    path: Path,
    source: Source,
    ctx: ImportContext,
    *,
    mapping: dict[str, str] | None = None,
    remembered: dict[str, str] | None = None,
    commit: bool = False,
    progress: Progress = no_progress,
    on_committed: Callable[[Outcome], None] | None = None,
) -> Outcome:
    """The whole pipeline. Raises FileRefused for a file that cannot be imported at all.

    With `commit`, the source's writes and `on_committed` (which records the batch) share one
    transaction: both happen or neither does.
    """
    with collector_paused():
        return _run(path, source, ctx, mapping, remembered, commit, progress, on_committed)


class _Pause:
    lock = threading.Lock()
    depth = 0
    thresholds = (0, 0, 0)


@contextmanager
def collector_paused() -> Iterator[None]:
    """No full passes of Python's cyclic garbage collector for the block. An import holds a
    few hundred thousand rows' objects, none of them in a cycle, and each full collection
    walks them all: measured, a sixth of a 100,000-row re-import went to collections that
    freed nothing. The young generations are still collected, so short-lived cycles (the
    ORM makes some) do not pile up. Nested and concurrent blocks are counted; the settings
    come back after the last."""
    with _Pause.lock:
        if _Pause.depth == 0:
            _Pause.thresholds = gc.get_threshold()
            gc.set_threshold(_Pause.thresholds[0], _Pause.thresholds[1], 1 << 30)
        _Pause.depth += 1
    try:
        yield
    finally:
        with _Pause.lock:
            _Pause.depth -= 1
            if _Pause.depth == 0:
                gc.set_threshold(*_Pause.thresholds)


def receipts_record(
    *, kind: str, schools: set[int], villages: set[int], ctx: ImportContext
) -> None:
    """The ListReceipt rows of a committed whole list (inside its transaction)."""
    ListReceipt.objects.bulk_create(
        [
            ListReceipt(kind=kind, school_id=pk, received_on=ctx.today, batch_id=ctx.batch_id)
            for pk in sorted(schools)
        ]
        + [
            ListReceipt(kind=kind, village_id=pk, received_on=ctx.today, batch_id=ctx.batch_id)
            for pk in sorted(villages)
        ]
    )


def _plan(
    source: Source,
    records: list[Record],
    issues: list[RowIssue],
    ctx: ImportContext,
    outcome: Outcome,
) -> list[Planned]:
    """The source's plan of the validated records, with every issue in the outcome."""
    plan, plan_issues = source.plan(records, ctx)
    # Proposed villages, 屯 and schools: those of the rows that will be imported.
    used = [p.record.values for p in plan]
    ctx.places.retain(used)
    ctx.schools.retain(used)
    by_row = {r.row_number: r for r in records}
    for issue in plan_issues:
        if issue.row_number in by_row and issue.row_number not in outcome.originals:
            outcome.originals[issue.row_number] = masked_row(by_row[issue.row_number].original)
    outcome.issues = sorted(
        in_file_columns(issues + plan_issues, source, outcome.mapping, outcome.table.headers),
        key=lambda i: (i.row_number, i.severity),
    )
    for issue in outcome.issues:
        # A message may quote the cell it is about ("性别“…”无法识别", "学籍号“…”格式不对"):
        # a number in it is masked as the row beside it is, whichever source wrote it.
        issue.message = mask_numbers(issue.message)
        issue.column = mask_numbers(issue.column)  # a header may be a first row of data
        if len(issue.message) > ISSUE_MESSAGE_CHARS:
            issue.message = shortened(issue.message, ISSUE_MESSAGE_CHARS)
    outcome.planned = plan
    return plan


def _run(
    path: Path,
    source: Source,
    ctx: ImportContext,
    mapping: dict[str, str] | None,
    remembered: dict[str, str] | None,
    commit: bool,
    progress: Progress,
    on_committed: Callable[[Outcome], None] | None,
) -> Outcome:
    known = getattr(source, "known_fingerprints", None)
    digests: dict[str, int] = {}
    # Read from the registry while calamine reads the file (in another thread).
    table = open_table(path, source, (lambda: digests.update(known(ctx))) if known else None)
    mapping = resolve_mapping(source, table.headers, mapping, remembered or {})
    outcome = Outcome(table=table, mapping=mapping)
    # A school's own import reads a row without a school as that school's: the same cells
    # mean something else in the township office's import.
    context = f"school={ctx.school.pk}" if ctx.school is not None else ""
    fingerprints = Fingerprints(source, mapping, digests, context) if known is not None else None
    records, issues, total = validate(
        table,
        mapping,
        source,
        ctx,
        progress,
        originals=outcome.originals,
        fingerprints=fingerprints,
    )
    if fingerprints is not None and fingerprints.conflicts_with(records):
        # Rare: check every row the long way, so that duplicates are found and reported.
        table = open_table(path, source)
        outcome = Outcome(table=table, mapping=mapping)
        fingerprints = Fingerprints(source, mapping, {}, context)
        records, issues, total = validate(
            table,
            mapping,
            source,
            ctx,
            progress,
            originals=outcome.originals,
            fingerprints=fingerprints,
        )
    outcome.rows_total = total
    if fingerprints is not None:
        outcome.skipped = fingerprints.unchanged
        ctx.skipped_targets = [row[2] for row in fingerprints.unchanged]
    # The sheet calamine read is freed now: its memory goes back before the plan and the
    # commit take theirs (else the peak is the sum).
    release_freed_memory()
    if not commit:
        _plan(source, records, issues, ctx, outcome)
        return outcome
    with transaction.atomic():
        # Imports into one township run one at a time from their plan to their commit: two
        # plans made side by side would each create the same new child, or one would write
        # over what the other had just changed. SQLite's write transaction is taken at
        # BEGIN; on PostgreSQL the township's row is locked until this one commits, with
        # the lock that leaves rows pointing at the township (a case, a visit) free to be
        # written meanwhile (FOR NO KEY UPDATE, not FOR UPDATE).
        township = Region.objects.select_for_update(no_key=True).filter(pk=ctx.township.pk)
        list(township.values_list("pk"))
        # The villages, 屯 and schools another import may have created meanwhile are found,
        # not proposed and created a second time.
        ctx.places = Places(ctx.township, ctx.village_decisions)
        ctx.schools = Schools(ctx.township)
        plan = _plan(source, records, issues, ctx, outcome)
        questions = ctx.places.questions()
        if questions:
            # 乌玲村 beside 乌岭村: not created (nor its rows imported) until a person says.
            raise FileRefused(
                _("村名需要先确认：%(names)s。请说明它是已有的村（写错了）还是新的村，然后再导入。")
                % {"names": "；".join(_("“%(name)s”像已有的“%(like)s”") % q for q in questions)},
                villages=questions,
            )
        # Nothing to create or update (the same file again): no writes at all, not even
        # the source's audit row or a counts refresh; only the batch records the run.
        if any(p.action != Action.UNCHANGED for p in plan) or ctx.notes.get("writes"):
            source.commit(plan, ctx, progress)
            # A child moved by this file takes its open case along (who sees it follows).
            children_moved.send(sender=type(source), township_ids=[ctx.township.pk])
        covers = getattr(source, "covers", None)
        if covers is not None:
            # The same file again writes nothing else: it is this term's list all the same.
            schools, villages = covers(plan, ctx)
            receipts_record(kind=source.code, schools=schools, villages=villages, ctx=ctx)
        outcome.committed = True
        if on_committed is not None:
            on_committed(outcome)
    return outcome
