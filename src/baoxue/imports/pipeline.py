"""The import pipeline: read → map columns → validate rows → plan against the registry →
commit, as plain functions over a file, so the web page, the background task and the
`baoxue import` command all run the same code.

The commit is one transaction with bulk writes: killed midway, it leaves nothing behind; run
twice on the same file, the second run plans every row as unchanged and writes nothing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from django.db import transaction
from django.utils.translation import gettext as _

from baoxue.core import idnumbers
from baoxue.core.idnumbers import mask
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
    pack_cells,
)
from baoxue.imports.values import CellError, clean_text
from baoxue.registry.models import Region, School

Progress = Callable[[str, int, int], None]
EXAMPLES_PER_ACTION = 5


def no_progress(stage: str, done: int, total: int) -> None:
    return None


@dataclass
class ImportContext:
    actor: Any
    township: Region
    # A school user imports only its own school's rows; a village user only its villages.
    school: School | None = None
    village_ids: frozenset[int] | None = None
    today: date = field(default_factory=date.today)
    # The batch being imported, for records that keep where they came from.
    batch_id: int | None = None
    # The file is the whole list of the schools it covers (学籍): a current 学籍 it leaves out
    # is marked. False for a partial list (new pupils only, one class).
    complete_list: bool = True
    # Records that rows left unparsed (identical to their last import) stand for.
    skipped_targets: list[int] = field(default_factory=list)
    # What a source's plan found beyond its rows, for the preview and its commit; "writes"
    # says the commit has work even when every row is unchanged.
    notes: dict[str, Any] = field(default_factory=dict)
    places: Places = field(init=False)
    schools: Schools = field(init=False)

    def __post_init__(self) -> None:
        self.places = Places(self.township)
        self.schools = Schools(self.township)


class Source(Protocol):
    code: str
    label: Any  # a lazily translated string
    fields: list[Field]

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
    plan: list[Planned] = field(default_factory=list)
    committed: bool = False
    # The file's row (masked) for every row with an issue, for the error report.
    originals: dict[int, list[str]] = field(default_factory=dict)

    def count(self, action: str) -> int:
        return sum(1 for p in self.plan if p.action == action)

    @property
    def rejected_rows(self) -> int:
        return len({i.row_number for i in self.issues if i.severity == "error"})

    @property
    def warned_rows(self) -> int:
        return len({i.row_number for i in self.issues if i.severity == "warning"})

    def examples(self, labels: dict[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
        labels = labels or {}
        out: dict[str, list[dict[str, Any]]] = {}
        for action in (Action.CREATE, Action.UPDATE, Action.UNCHANGED):
            rows = [p for p in self.plan if p.action == action][:EXAMPLES_PER_ACTION]
            out[action] = [
                {
                    "row": p.record.row_number,
                    "name": p.record.values.get("name", ""),
                    "changes": {
                        str(labels.get(k, k)): [str(a), str(b)] for k, (a, b) in p.changes.items()
                    },
                }
                for p in rows
            ]
        return out


def open_table(path: Path, source: Source) -> Table:
    expected = [a for f in source.fields for a in (f.label, *f.aliases)]
    return read_table(path, expected_headers=expected)


def resolve_mapping(
    source: Source, headers: list[str], mapping: dict[str, str] | None, remembered: dict[str, str]
) -> dict[str, str]:
    if mapping is None:
        mapping = auto_mapping(source.fields, headers, remembered)
    known = {f.name for f in source.fields}
    return {k: v for k, v in mapping.items() if v in known and k.isdigit()}


_ID_LIKE = re.compile(r"^[0-9]{15}$|^[0-9]{17}[0-9Xx]$|^[GLJ][0-9]{17}[0-9Xx]$")


def masked_row(original: list[str]) -> list[str]:
    """The row for a report that is handed around: ID-like cells masked."""
    return [
        (cell[:1] + mask(cell[1:]) if cell[:1] in "GLJ" else mask(cell))
        if _ID_LIKE.match(cell)
        else cell
        for cell in original
    ]


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

    The digest covers the source, the column mapping and every cell of the row as the file
    holds it. A row whose digest is among `known` was imported before exactly so, and the
    record it wrote has not been changed since: it is unchanged without being parsed. If such
    a row repeats in the file, or shares an ID number or 学籍号 with another row, the caller
    validates the whole file normally instead (duplicates are reported, not skipped).
    """

    IDENTITY_FIELDS = ("id_info", "student_number")

    def __init__(self, source: Source, mapping: dict[str, str], known: dict[str, int]) -> None:
        self.prefix = "\x1e".join(
            [FINGERPRINT_VERSION, source.code, *(f"{k}={v}" for k, v in sorted(mapping.items()))]
        )
        self.known = known
        self.identity = sorted(int(k) for k, v in mapping.items() if v in self.IDENTITY_FIELDS)
        self.unchanged: list[Record] = []
        self.seen: set[str] = set()
        self.repeated = False

    def of(self, cells: str | list[Any]) -> str:
        """The digest of a row, given as its cells or packed (pack_cells)."""
        text = (
            cells
            if isinstance(cells, str)
            else CELL_SEPARATOR.join([c if type(c) is str else repr(c) for c in cells])
        )
        return hashlib.blake2b((self.prefix + "\x1e" + text).encode(), digest_size=16).hexdigest()

    def add_unchanged(self, record: Record) -> None:
        fingerprint = record.values["fingerprint"]
        if fingerprint in self.seen:
            self.repeated = True
        self.seen.add(fingerprint)
        self.unchanged.append(record)

    def identity_keys(self, record: Record) -> set[str]:
        cells = record.values.get("_identity")
        if cells is None:
            row = record.cell_list()
            cells = [row[i] for i in self.identity if i < len(row)]
        keys = set()
        for cell in cells:
            key = idnumbers.normalize(clean_text(cell)).upper()
            if key:
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
            others |= self.identity_keys(record)
        return any(self.identity_keys(r) & others for r in self.unchanged)


# Parsed cells are remembered per column, for text cells: most columns repeat a few values
# (sex, school, grade, status, village…), so most cells cost one dictionary lookup. A column
# whose values hardly repeat (names, ID numbers) stops growing its memo at this size.
MEMO_LIMIT = 20_000
_MISSING = object()


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
        raise FileRefused(
            _("缺少必填的列：%(cols)s。请在列对应中指定，或检查表头。")
            % {"cols": "、".join(f.label for f in missing)}
        )
    required = [f for _i, f in columns if f.required]
    memos: list[dict[str, Any]] = [{} for _c in columns]
    plan = [
        (index, f.name, f.label, f.parser, memo)
        for (index, f), memo in zip(columns, memos, strict=True)
    ]
    records: list[Record] = []
    issues: list[RowIssue] = []
    total_hint = table.total_rows_hint or 0
    count = 0
    first = True
    name_index = next((i for i, f in columns if f.name == "name"), None)
    for row_number, cells in table.rows:
        count += 1
        fingerprint = ""
        packed = pack_cells(cells)
        if fingerprints is not None:
            fingerprint = fingerprints.of(packed)
            if fingerprint in fingerprints.known:
                name = (
                    cells[name_index] if name_index is not None and name_index < len(cells) else ""
                )
                # Not the cells: a skipped row keeps only what the preview and the checks
                # against the other rows need (a long re-import holds 100,000 of these).
                kept: dict[str, Any] = {
                    "name": clean_text(name),
                    "fingerprint": fingerprint,
                    "target_id": fingerprints.known[fingerprint],
                    "_identity": [cells[i] for i in fingerprints.identity if i < len(cells)],
                }
                fingerprints.add_unchanged(Record(row_number, kept, []))
                continue
        if first:
            first = False
            if _is_template_example(cells, columns):
                issues.append(
                    RowIssue(row_number, "", "example", _("这是模板的示例行，已跳过"), "warning")
                )
                continue
        values: dict[str, Any] = {}
        row_issues: list[RowIssue] = []
        width = len(cells)
        for index, name, label, parser, memo in plan:
            cell = cells[index] if index < width else None
            if type(cell) is str:
                parsed = memo.get(cell, _MISSING)
                if parsed is _MISSING:
                    try:
                        parsed = parser(cell)
                    except CellError as exc:
                        parsed = exc
                    if len(memo) < MEMO_LIMIT:
                        memo[cell] = parsed
            else:
                try:
                    parsed = parser(cell)
                except CellError as exc:
                    parsed = exc
            if isinstance(parsed, CellError):
                row_issues.append(RowIssue(row_number, label, "cell", str(parsed)))
            else:
                values[name] = parsed
        for f in required:
            if f.name in values and values[f.name] in ("", None):
                row_issues.append(
                    RowIssue(
                        row_number, f.label, "required", _("%(label)s不能为空") % {"label": f.label}
                    )
                )
        if fingerprint:
            values["fingerprint"] = fingerprint
        record = Record(row_number=row_number, values=values, cells=packed)
        if not row_issues:
            row_issues = source.check(record, ctx)
        if row_issues:
            issues.extend(row_issues)
            if originals is not None:
                originals[row_number] = masked_row(record.original)
            if any(i.severity == "error" for i in row_issues):
                continue
        records.append(record)
        if count % 2000 == 0:
            progress("validate", count, max(total_hint, count))
    if count == 0:
        raise FileRefused(_("表头下面没有数据行。"))
    progress("validate", count, count)
    return records, issues, count


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
    table = open_table(path, source)
    mapping = resolve_mapping(source, table.headers, mapping, remembered or {})
    outcome = Outcome(table=table, mapping=mapping)
    known = getattr(source, "known_fingerprints", None)
    fingerprints = Fingerprints(source, mapping, known(ctx)) if known is not None else None
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
        fingerprints = Fingerprints(source, mapping, {})
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
        ctx.skipped_targets = [r.values["target_id"] for r in fingerprints.unchanged]
    plan, plan_issues = source.plan(records, ctx)
    if fingerprints is not None:
        plan += [Planned(r, Action.UNCHANGED) for r in fingerprints.unchanged]
        plan.sort(key=lambda p: p.record.row_number)
    by_row = {r.row_number: r for r in records}
    for issue in plan_issues:
        if issue.row_number in by_row and issue.row_number not in outcome.originals:
            outcome.originals[issue.row_number] = masked_row(by_row[issue.row_number].original)
    outcome.issues = sorted(issues + plan_issues, key=lambda i: (i.row_number, i.severity))
    outcome.plan = plan
    if commit:
        with transaction.atomic():
            # Nothing to create or update (the same file again): no writes at all, not even
            # the source's audit row or a counts refresh; only the batch records the run.
            if any(p.action != Action.UNCHANGED for p in plan) or ctx.notes.get("writes"):
                source.commit(plan, ctx, progress)
            outcome.committed = True
            if on_committed is not None:
                on_committed(outcome)
    return outcome
