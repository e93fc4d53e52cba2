"""Matching file rows to registered children, shared by the roster and 学籍 sources.

A valid ID number is the key (its keyed hash, across the whole database: the number is
national). Rows without one are matched on name + birth date + village among children who
have no valid number either; anything less certain is left for the reconciliation's review
queue, not guessed here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any

from django.utils.translation import gettext as _

from baoxue.core import crypto, idnumbers
from baoxue.core.bulk import filter_in, instances, update_rows
from baoxue.imports.sources.base import Record, RowIssue, village_key
from baoxue.imports.values import CellError, parse_id_number_cell
from baoxue.registry.models import Child, Guardian, Region
from baoxue.registry.services import (
    IdColumns,
    apply_id_columns,
    child_place_columns,
    child_values,
    id_columns,
    id_columns_of,
)

CHUNK = 5000


def id_parser(value: object) -> idnumbers.IdInfo:
    text = parse_id_number_cell(value)
    return idnumbers.parse(text)


def id_issues(record: Record, column: str, *, stored: bool = True) -> list[RowIssue]:
    """Warnings (never silent changes) about the ID number of a row. `stored`: whether the
    import keeps the number (a list that only looks students up, like 资助名单, does not)."""
    info: idnumbers.IdInfo | None = record.values.get("id_info")
    issues: list[RowIssue] = []
    if info is None or info.status == idnumbers.IdStatus.EMPTY:
        return issues
    if info.status is idnumbers.IdStatus.VALID and info.region_known:
        birth = record.values.get("birth_date")
        if not birth or birth == info.birth_date:
            return issues  # the usual row: nothing to say
    n = record.row_number
    if info.status == idnumbers.IdStatus.UPGRADED:
        issues.append(
            RowIssue(
                n,
                column,
                "id_upgraded",
                _("15 位身份证号已升级为 18 位，原号码一并保存")
                if stored
                else _("15 位身份证号已按升级后的 18 位查找"),
                "warning",
            )
        )
    elif not info.is_valid:
        reason = {
            idnumbers.IdStatus.BAD_CHECKSUM: _("校验位不符"),
            idnumbers.IdStatus.BAD_DATE: _("出生日期部分无效"),
        }.get(info.status, _("位数或字符不对"))
        issues.append(
            RowIssue(
                n,
                column,
                "id_flagged",
                (
                    _("身份证号%(reason)s，已按原样保存并标记，请核实")
                    if stored
                    else _("身份证号%(reason)s，请核实")
                )
                % {"reason": reason},
                "warning",
            )
        )
    birth = record.values.get("birth_date")
    if info.is_valid and birth and info.birth_date and birth != info.birth_date:
        issues.append(
            RowIssue(
                n,
                column,
                "id_birth_mismatch",
                _("出生日期 %(birth)s 与身份证号中的 %(id_birth)s 不一致")
                % {"birth": birth, "id_birth": info.birth_date},
                "warning",
            )
        )
    if info.is_valid and "region_unknown" in info.warnings:
        issues.append(
            RowIssue(n, column, "id_region", _("身份证号的地区码不在已知列表中"), "warning")
        )
    return issues


def id_hash(record: Record) -> str:
    """The keyed hash of the row's valid ID number ('' without one), computed once a row."""
    found = record.values.get("_id_hash")
    if found is None:
        info: idnumbers.IdInfo | None = record.values.get("id_info")
        found = crypto.lookup_hash(info.value) if info is not None and info.is_valid else ""
        record.values["_id_hash"] = found
    return found


# What a 学籍 import reads of the children it matches (a loaded child holds some forty
# columns; a re-import of a county's 学籍 matches 100,000 children).
READ_BY_ENROLLMENT = ("name", "birth_date", "village", "township", "id_number_hash")
# What a 户籍 roster reads of them: what ChildIndex matches on, what the roster compares
# (RosterSource._child_values), the place and household columns and the version it writes.
# A child's ID-number columns are read only for the few children a roster gives a number.
READ_BY_ROSTER = (
    *READ_BY_ENROLLMENT,
    "id_status",
    "sex",
    "ethnicity",
    "address",
    "left_behind",
    "is_orphan",
    "is_migrant",
    "on_roster",
    "is_deceased",
    "moved_away",
    "group",
    "household",
    "version",
)


def record_id_columns(record: Record) -> IdColumns:
    """The stored forms of a row's ID number, for a child made from the row (as build_child
    makes them): a 15-digit number gets its century from the row's birth date."""
    v = record.values
    info: idnumbers.IdInfo | None = v.get("id_info")
    if info is None:
        return id_columns_of(idnumbers.parse(""))
    if info.status == idnumbers.IdStatus.UPGRADED and v.get("birth_date"):
        # The century may differ from the one the row was matched on: hashed again.
        return id_columns_of(idnumbers.parse(info.normalized, birth_date_hint=v["birth_date"]))
    return id_columns_of(info, hashed=id_hash(record))


def place_columns_of(records: Iterable[Record], places: Any) -> dict[tuple[str, str], Any]:
    """child_place_columns per (village key, 屯 key) of the records, each looked up once (and
    before a commit's background writes start: a proposed place may need a query)."""
    found: dict[tuple[str, str], Any] = {}
    for record in records:
        v = record.values
        where = (v["village_key"], v.get("group_key", ""))
        if where not in found:
            found[where] = child_place_columns(
                places.village(where[0]), places.group(where[0], where[1])
            )
    return found


def new_child_values(
    record: Record, place: dict[str, Any], *, household_id: int | None = None
) -> tuple[Any, ...]:
    """The values (registry.services.CHILD_COLUMNS) of a child made from a file row: the
    row's ID number columns, name, birth date, sex and ethnicity, for a RowWriter given its
    rows as tuples."""
    v = record.values
    return child_values(
        name=v["name"],
        place=place,
        cols=record_id_columns(record),
        birth_date=v.get("birth_date"),
        sex=v.get("sex", ""),
        ethnicity=v.get("ethnicity", ""),
        household_id=household_id,
    )


def child_defaults(names: Iterable[str]) -> list[Any]:
    """The defaults of these Child columns, in order: what a new child's blank cell gives."""
    return [Child._meta.get_field(name).get_default() for name in names]  # type: ignore[union-attr]


GUARDIAN_COLUMNS = ("child_id", "name", "phone", "relation", "is_primary")


def guardian_values(child_id: int, values: dict[str, Any]) -> tuple[Any, ...] | None:
    """The guardian of a child made by this import (GUARDIAN_COLUMNS), or None."""
    name = values.get("guardian_name", "")
    if not name:
        return None
    return (child_id, name, values.get("guardian_phone", ""), Guardian.Relation.OTHER, True)


class ChildIndex:
    """Existing children for a batch of records, loaded in a few bulk queries."""

    def __init__(
        self, records: Iterable[Record], township: Region, *, only: Iterable[str] = ()
    ) -> None:
        """`only`: the columns the caller reads, when not all (any other is fetched on first
        use, a query a child)."""
        records = list(records)
        hashes = {h for r in records if (h := id_hash(r))}
        self.by_hash: dict[str, list[Child]] = {}
        hash_list = sorted(hashes)
        only = tuple(only)
        children = Child.objects.all()
        # The exclude repeats the partial index's condition: SQLite uses the index only then.
        for child in filter_in(
            children.exclude(id_number_hash=""), "id_number_hash", hash_list, CHUNK, fields=only
        ):
            self.by_hash.setdefault(child.id_number_hash, []).append(child)
        # Rows whose valid number is not registered may be children registered without one.
        unregistered = [r for r in records if (h := id_hash(r)) and h not in self.by_hash]
        self.by_name: dict[tuple[str, date | None, int], list[Child]] = {}
        if unregistered or any(not id_hash(r) for r in records):
            # Not read when every row's number is registered (a newer export, a re-import).
            for child in instances(children.filter(township=township, id_number_hash=""), only):
                key = (child.name, child.birth_date, child.village_id)
                self.by_name.setdefault(key, []).append(child)
        # The numbers the file gives each description (name, birth date, village) of those
        # rows, with the first row of each: two numbers for one description that a child
        # without a number matches are not settled by the order of the rows. Only rows that
        # such a child may match (by name and birth date) are described.
        self._numbers_for: dict[tuple[str, date | None, str], dict[str, int]] = {}
        unnumbered = {(name, birth) for name, birth, _village in self.by_name}
        for r in unregistered:
            described = self._description(r)
            if described[:2] in unnumbered:
                self._numbers_for.setdefault(described, {}).setdefault(id_hash(r), r.row_number)

    @staticmethod
    def _description(record: Record) -> tuple[str, date | None, str]:
        values = record.values
        info: idnumbers.IdInfo | None = values.get("id_info")
        birth = values.get("birth_date") or (info.birth_date if info is not None else None)
        place = values.get("village_key", "")
        return (values.get("name", ""), birth, place or village_key(values.get("village", "")))

    def find(
        self,
        record: Record,
        village: Region | None,
        *,
        villages: frozenset[int] | None = None,
        reveal: Callable[[Child], bool],
    ) -> tuple[Child | None, RowIssue | None]:
        """The child this record describes, or None for a new child; an issue when the file
        and the registry disagree on who it is (reported, never guessed).

        `villages`: the only villages whose children the import may change (a village
        user's); a child found elsewhere is an issue that says nothing about the child.
        `reveal`: whether an issue may quote what the registry holds of a child (its name,
        its birth date): ImportContext.may_quote, true only for a child the user may see."""
        values = record.values
        h = id_hash(record)
        if h:
            found = self.by_hash.get(h, [])
            if len(found) > 1:
                return None, RowIssue(
                    record.row_number,
                    "身份证号",
                    "id_shared",
                    _("该身份证号在系统中已被 %(n)s 人使用，请先核实更正") % {"n": len(found)},
                )
            if found:
                child = found[0]
                if villages is not None and child.village_id not in villages:
                    return None, RowIssue(
                        record.row_number,
                        "身份证号",
                        "scope",
                        _(
                            "该身份证号的儿童登记在您负责的村以外，未导入；如已迁入，请乡镇办公室处理"
                        ),
                    )
                conflict = self._conflict(record, child, reveal=reveal)
                return (None, conflict) if conflict else (child, None)
            return self._without_number(record, village, h, reveal=reveal)
        if village is None:
            return None, None
        candidates = self.by_name.get((values["name"], values.get("birth_date"), village.pk), [])
        if len(candidates) == 1:
            return candidates[0], None
        if len(candidates) > 1:
            return None, RowIssue(
                record.row_number,
                "姓名",
                "ambiguous",
                _("同村有 %(n)s 名同名同生日儿童且都没有有效身份证号，无法确定是哪一位")
                % {"n": len(candidates)},
            )
        return None, None

    def _without_number(
        self, record: Record, village: Region | None, h: str, *, reveal: Callable[[Child], bool]
    ) -> tuple[Child | None, RowIssue | None]:
        """A row whose valid ID number is not registered may be a child registered without
        one (by hand, or from a list that had none): the only child of the village with its
        name and birth date and no valid number is that child, when the file gives that
        description one number only."""
        values = record.values
        info: idnumbers.IdInfo = values["id_info"]
        birth = values.get("birth_date") or info.birth_date
        if village is None or birth is None:
            return None, None
        candidates = self.by_name.get((values["name"], birth, village.pk), [])
        if len(candidates) != 1:
            return None, None  # none, or several: a new child, as before
        numbers = self._numbers_for.get(self._description(record), {})
        if len(numbers) > 1:
            rows = "、".join(
                str(n) for other, n in sorted(numbers.items(), key=lambda x: x[1]) if other != h
            )
            return None, RowIssue(
                record.row_number,
                "身份证号",
                "ambiguous",
                _(
                    "与第 %(rows)s 行同名、同生日、同村，身份证号却不同；系统中有一名这样的儿童"
                    "还没有有效身份证号，无法确定是哪一行，这些行均未导入，请核实"
                )
                % {"rows": rows}
                if reveal(candidates[0])
                else _(
                    "与第 %(rows)s 行同名、同生日、同村，身份证号却不同，无法确定是哪一位，"
                    "这些行均未导入，请核实"
                )
                % {"rows": rows},
            )
        return candidates[0], None

    @staticmethod
    def _conflict(
        record: Record, child: Child, *, reveal: Callable[[Child], bool]
    ) -> RowIssue | None:
        values = record.values
        birth = values.get("birth_date")
        other_name = values["name"] != child.name
        other_birth = bool(birth and child.birth_date and birth != child.birth_date)
        if not (other_name or other_birth):
            return None
        quote = reveal(child)  # asked only here: a conflict is rare, the question a query
        differences = []
        if other_name:
            differences.append(
                _("姓名（系统中为“%(name)s”）") % {"name": child.name} if quote else _("姓名")
            )
        if other_birth:
            differences.append(
                _("出生日期（系统中为 %(birth)s）") % {"birth": child.birth_date}
                if quote
                else _("出生日期")
            )
        return RowIssue(
            record.row_number,
            "身份证号",
            "conflict",
            _("身份证号与系统中已登记的儿童相同，但%(what)s不同，请核实后再导入")
            % {"what": "、".join(differences)},
        )


ID_FIELDS = (
    "id_number_enc",
    "id_number_hash",
    "id_number_masked",
    "id_suffix",
    "id_number_original_enc",
    "id_status",
)


def give_id_number(child: Child, value: str) -> None:
    """A valid ID number for a child registered without one, or with a flagged one (kept as
    the original). The caller writes ID_FIELDS."""
    old_value = child.id_number
    apply_id_columns(child, id_columns(value))
    if old_value and old_value != value:
        child.id_number_original_enc = crypto.encrypt(old_value)


def duplicates_in_file(records: list[Record]) -> list[RowIssue]:
    """Rows of one file that describe the same child. An exact repeat is skipped with a
    warning; the same number with different details rejects every such row."""
    issues: list[RowIssue] = []
    hashes = list(map(id_hash, records))
    # Counted in C first: most files repeat no number, and their rows need no grouping.
    repeated = {h for h, n in Counter(hashes).items() if n > 1 and h}
    groups: dict[str, list[Record]] = {}
    if repeated:
        for record, h in zip(records, hashes, strict=True):
            if h in repeated:
                groups.setdefault(h, []).append(record)
    for group in groups.values():
        first = group[0]
        if all(r.original == first.original for r in group[1:]):
            for r in group[1:]:
                issues.append(
                    RowIssue(
                        r.row_number,
                        "",
                        "repeat",
                        _("与第 %(row)s 行完全相同，已跳过") % {"row": first.row_number},
                        "warning",
                    )
                )
                r.values["skip"] = True
            continue
        rows = "、".join(str(r.row_number) for r in group)
        for r in group:
            issues.append(
                RowIssue(
                    r.row_number,
                    "身份证号",
                    "duplicate",
                    _("第 %(rows)s 行身份证号相同但内容不同，无法判断哪行正确，均未导入")
                    % {"rows": rows},
                )
            )
            r.values["reject"] = True
    return issues


def parse_left_behind(value: object) -> str | None:
    """A 留守 cell as LeftBehind; None for a blank cell (it says nothing, so it changes
    nothing), "none" for one that says the child is not left behind."""
    from baoxue.imports.values import clean_text

    text = clean_text(value)
    if not text:
        return None
    if text in {"否", "非留守", "非留守儿童", "无", "不是", "0", "N", "n"}:
        return "none"
    # Both parents first (父母均外出, 双亲外出, 父母亲都外出), then one of them (父母一方外出,
    # 单亲外出, 父亲外出), then 父母 alone (父母外出).
    if any(word in text for word in ("双", "均", "都", "两")):
        return "both_parents"
    if any(word in text for word in ("单", "一方", "一人", "父亲", "母亲", "父或母")):
        return "one_parent"
    if "父母" in text:
        return "both_parents"
    if text in {"是", "留守", "留守儿童", "1", "Y", "y"}:
        return "one_parent"
    raise CellError(
        _("无法识别的留守情况“%(text)s”，可填：非留守、单亲外出、双亲外出") % {"text": text}
    )


def child_fields_changed(child: Child, wanted: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in wanted.items():
        if value is None or value == "":
            continue  # a blank cell never erases what the registry knows
        current = getattr(child, name)
        if current != value:
            changes[name] = (current, value)
    return changes


# --- guardians named in a file (监护人姓名, 监护人电话) ----------------------------------------
GUARDIAN_NAME_MAX = Guardian._meta.get_field("name").max_length or 64
GUARDIAN_PHONE_MAX = Guardian._meta.get_field("phone").max_length or 32


def guardian_issues(record: Record, name_column: str, phone_column: str) -> list[RowIssue]:
    """A warning for a guardian's name or phone longer than the registry keeps (the rest of
    the row is imported; the cell is cut to that length)."""
    issues: list[RowIssue] = []
    v = record.values
    for key, column, limit in (
        ("guardian_name", name_column, GUARDIAN_NAME_MAX),
        ("guardian_phone", phone_column, GUARDIAN_PHONE_MAX),
    ):
        text = v.get(key, "")
        if len(text) > limit:
            v[key] = text[:limit]
            issues.append(
                RowIssue(
                    record.row_number,
                    column,
                    "too_long",
                    _("超过 %(n)s 个字，只保存前 %(n)s 个字：%(kept)s")
                    % {"n": limit, "kept": v[key]},
                    "warning",
                )
            )
    return issues


def _guardian_rows(child_ids: Iterable[int]) -> Iterator[tuple[int, int, str, str]]:
    """(id, child id, name, phone) of the children's guardians, a chunk of children at a time
    (a township's roster can match more children than a database takes parameters in one
    query)."""
    rows = Guardian.objects.values_list("pk", "child_id", "name", "phone")
    yield from filter_in(rows, "child_id", sorted(set(child_ids)), CHUNK)


def known_guardians(child_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    """Each child's guardians, name → phone."""
    found: dict[int, dict[str, str]] = {}
    for _pk, child_id, name, phone in _guardian_rows(child_ids):
        found.setdefault(child_id, {})[name] = phone
    return found


def guardian_change(
    values: dict[str, Any], known: dict[str, str], *, fill_only: bool
) -> tuple[str, str] | None:
    """(what the registry has, what the row says) when the row's guardian would change the
    child's guardians, else None. The row's guardian is added when the child has none of that
    name and its phone written when it differs; with `fill_only` (a source that is not the
    authority on families) only blanks are filled: a guardian for a child with none, a phone
    for a guardian without one."""
    name, phone = values.get("guardian_name", ""), values.get("guardian_phone", "")
    if not name:
        return None
    if name in known:
        if phone and known[name] != phone and not (fill_only and known[name]):
            return known[name], f"{name} {phone}"
        return None
    if fill_only and known:
        return None
    return "", f"{name} {phone}".strip()


def save_guardians(wanted: list[tuple[int, dict[str, Any]]], *, fill_only: bool) -> int:
    """Writes the guardians that guardian_change() finds for (child id, row values) pairs, in
    bulk; returns how many guardians were added or changed."""
    wanted = [(child_id, v) for child_id, v in wanted if v.get("guardian_name")]
    if not wanted:
        return 0
    known: dict[int, dict[str, str]] = {}
    pk_of: dict[tuple[int, str], int] = {}
    for pk, child_id, name, phone in _guardian_rows(child_id for child_id, _v in wanted):
        known.setdefault(child_id, {})[name] = phone
        pk_of[(child_id, name)] = pk
    new: dict[tuple[int, str], Guardian] = {}
    phones: dict[int, str] = {}  # guardian id → its new phone
    for child_id, v in wanted:
        if guardian_change(v, known.get(child_id, {}), fill_only=fill_only) is None:
            continue
        name, phone = v["guardian_name"], v.get("guardian_phone", "")
        if (child_id, name) in pk_of:
            phones[pk_of[(child_id, name)]] = phone
        elif (child_id, name) in new:
            new[(child_id, name)].phone = phone  # the same child twice: its last phone
        else:
            new[(child_id, name)] = Guardian(
                child_id=child_id,
                name=name,
                phone=phone,
                relation=Guardian.Relation.OTHER,
                # The first guardian a child gets is its main one.
                is_primary=not known.get(child_id),
            )
        known.setdefault(child_id, {})[name] = phone
    Guardian.objects.bulk_create(new.values(), batch_size=1000)
    update_rows(Guardian, ["phone"], phones.items())
    return len(new) + len(phones)
