"""Matching file rows to registered children, shared by the roster and 学籍 sources.

A valid ID number is the key (its keyed hash, across the whole database: the number is
national). A row whose number is registered joins that child when the rest of the row bears
it out (a close name, or the surname, sex and birth date), and what it says differently is
kept as a discrepancy (信息不一致, registry.models.Discrepancy) for a person to settle. A row
that does not bear it out (another surname, a twin's name) is never dropped either: it is
registered as a record of its own that only claims the number (Child.IdStatus.CLAIMED), and
the reconciliation puts it in the review queue beside the child the number names.

Rows without a valid number are matched on name + birth date + village among children who
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
from baoxue.core.text import names_close, same_surname
from baoxue.imports.sources.base import Planned, Record, RowIssue, village_key
from baoxue.imports.values import CellError, clean_text, parse_id_number_cell
from baoxue.registry.models import Child, Discrepancy, Guardian, Region
from baoxue.registry.services import (
    DiscrepancyWrites,
    Finding,
    IdColumns,
    apply_id_columns,
    child_place_columns,
    child_values,
    discrepancies_plan,
    discrepancies_write,
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
READ_BY_ENROLLMENT = (
    "name",
    "birth_date",
    "village",
    "township",
    "id_number_hash",
    "sex",
    "ethnicity",
    "on_roster",
    "school_status",
    "id_claim_hash",
    "has_disability",
    "document_type",
)
# What a 户籍 roster reads of them: what ChildIndex matches on, what the roster compares
# (RosterSource._child_values), the place and household columns and the version it writes.
# A child's ID-number columns are read only for the few children a roster gives a number.
READ_BY_ROSTER = (
    *READ_BY_ENROLLMENT,
    "id_status",
    "address",
    "left_behind",
    "is_orphan",
    "is_migrant",
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
        cols = id_columns_of(idnumbers.parse(info.normalized, birth_date_hint=v["birth_date"]))
    else:
        cols = id_columns_of(info, hashed=id_hash(record))
    # A number another child holds: this record only claims it (ChildIndex._claimed).
    return cols.claimed() if CLAIM in v else cols


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


GUARDIAN_COLUMNS = (
    "child_id",
    "name",
    "phone",
    "relation",
    "is_primary",
    "id_number_enc",
    "id_number_hash",
    "id_number_masked",
)


def guardian_id_columns(number: str) -> tuple[str, str, str]:
    """A guardian's ID number (成员N身份证件号) as stored: encrypted, hashed, masked."""
    if not number:
        return "", "", ""
    return crypto.encrypt(number), crypto.lookup_hash(number), idnumbers.mask(number)


def guardian_values(child_id: int, values: dict[str, Any]) -> tuple[Any, ...] | None:
    """The guardian of a child made by this import (GUARDIAN_COLUMNS), or None."""
    name = values.get("guardian_name", "")
    if not name:
        return None
    relation = values.get("guardian_relation") or Guardian.Relation.OTHER
    number = values.get("guardian_id", "")
    return (
        child_id,
        name,
        values.get("guardian_phone", ""),
        relation,
        True,
        *guardian_id_columns(number),
    )


_RELATION_WORDS = (
    (("外祖父", "外祖母", "祖父", "祖母", "爷爷", "奶奶", "外公", "外婆"), "grandparent"),
    (("父亲", "父", "爸爸", "继父", "养父"), "father"),
    (("母亲", "母", "妈妈", "继母", "养母"), "mother"),
    (("哥哥", "姐姐", "兄", "姐"), "sibling"),
    (("叔", "伯", "姑", "舅", "姨", "婶", "亲属"), "relative"),
)


def relation_of(text: str) -> str:
    """A family member's relation to the child (父亲, 祖母, 外公 …) as Guardian.Relation."""
    text = clean_text(text)
    for words, relation in _RELATION_WORDS:
        if any(word in text for word in words):
            return relation
    return Guardian.Relation.OTHER


# Keys a plan leaves in a record's values (never a column of the file).
# CLAIM: the row's number is registered to another child that the row does not describe;
# its own record is made, claiming the number (the value: the registered child's id, or
# None when that child is another row of the same file).
CLAIM = "_claim"
# DIFFERS: what the row says of its child differently from the registry, as
# [(item, registry's value, row's value)] in Discrepancy's text forms; CHECKED: the items the
# row gave a value for (an open discrepancy of an item the row now agrees on is closed).
DIFFERS = "_differs"
CHECKED = "_checked"
# VARIANTS: other rows of the file with this row's ID number, imported as this one, whose
# differing values are kept as discrepancies of its child: [(item, row's value, row number)].
VARIANTS = "_variants"
# FINDINGS: a source's own list of registry.services.Finding for the row, instead of DIFFERS
# (the roster, which is the authority on some items and writes them).
FINDINGS = "_findings"
ITEMS = ("name", "birth_date", "sex", "ethnicity", "village")


def ethnicity_key(text: str) -> str:
    """苗 and 苗族 are one answer."""
    return text[:-1] if len(text) > 1 and text.endswith("族") else text


def sex_text(code: str) -> str:
    return str(Child.Sex(code).label) if code in Child.Sex.values else code


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
        self.only = only
        children = Child.objects.all()
        # The exclude repeats the partial index's condition: SQLite uses the index only then.
        for child in filter_in(
            children.exclude(id_number_hash=""), "id_number_hash", hash_list, CHUNK, fields=only
        ):
            self.by_hash.setdefault(child.id_number_hash, []).append(child)
        # A record merged into another (registry.ChildMerge) keeps its numbers: a later file
        # that gives them finds the child it is now. Looked for only when there are merges.
        self._merged_by_name: dict[tuple[str, date | None, int], list[Child]] = {}
        if Child.records.exclude(merged_into=None).exists():
            self._redirect_merged(hash_list, township, only)
        # Records that claim a number another child holds (IdStatus.CLAIMED): the same row
        # in a later file finds its own record again. Few or none: looked for only if any.
        self.by_claim: dict[str, list[Child]] = {}
        if hash_list and children.exclude(id_claim_hash="").exists():
            for child in filter_in(
                children.exclude(id_claim_hash=""), "id_claim_hash", hash_list, CHUNK, fields=only
            ):
                self.by_claim.setdefault(child.id_claim_hash, []).append(child)
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
        for key, children_of in self._merged_by_name.items():
            self.by_name.setdefault(key, []).extend(
                c for c in children_of if c not in self.by_name.get(key, [])
            )
        self._neighbours = self._load_neighbours(records)
        self._place_names: dict[int, str] = {}

    def _redirect_merged(
        self, hash_list: list[str], township: Region, only: tuple[str, ...]
    ) -> None:
        """by_hash (and, for rows without a number, by_name) of merged records: the kept
        child each was merged into."""
        merged = Child.records.exclude(merged_into=None)
        found = [
            (h, kept)
            for h, kept in filter_in(
                merged.exclude(id_number_hash="").values_list("id_number_hash", "merged_into_id"),
                "id_number_hash",
                [h for h in hash_list if h not in self.by_hash],
                CHUNK,
            )
        ]
        named = list(
            merged.filter(township=township, id_number_hash="").values_list(
                "name", "birth_date", "village_id", "merged_into_id"
            )
        )
        kept_ids = sorted({k for _h, k in found} | {row[3] for row in named})
        kept = {c.pk: c for c in filter_in(Child.objects.all(), "id", kept_ids, CHUNK, fields=only)}
        for h, kept_id in found:
            if kept_id in kept:
                self.by_hash.setdefault(h, []).append(kept[kept_id])
        for name, birth, village, kept_id in named:
            # The merged record's own description (a 学籍 row without a number) is the
            # kept child's now.
            if kept_id in kept:
                self._merged_by_name.setdefault((name, birth, village), []).append(kept[kept_id])

    def children(self) -> Iterator[Child]:
        """Every registered child the index holds (by number, by name, claiming a number)."""
        for found in (self.by_hash, self.by_name, self.by_claim):
            for children in found.values():
                yield from children

    def _load_neighbours(
        self, records: list[Record]
    ) -> dict[tuple[int, date], list[tuple[int, str, bool]]]:
        """(id, name, whether another child for certain) of the children of a village born on
        a day, for the (village, day) pairs that judging the rows disagreeing with their
        number's child asks about: one query for the file, and none when every row agrees
        (the usual file). Another child for certain: on the roster, or with a valid number
        of its own; a 学籍 record without one may be an earlier list's record of the very
        child the row's number names."""
        wanted: set[tuple[int, date]] = set()
        for r in records:
            for child in self.by_hash.get(id_hash(r), ()):
                birth = self._birth(r)
                if r.values.get("name") == child.name and (
                    birth is None or birth == child.birth_date
                ):
                    continue
                for day in (birth, child.birth_date):
                    if day is not None:
                        wanted.add((child.village_id, day))
        found: dict[tuple[int, date], list[tuple[int, str, bool]]] = {}
        if not wanted:
            return found
        villages = sorted({v for v, _d in wanted})
        days = sorted({d for _v, d in wanted})
        rows = Child.objects.filter(village_id__in=villages).values_list(
            "pk", "name", "village_id", "birth_date", "on_roster", "id_number_hash"
        )
        for start in range(0, len(days), 500):
            for pk, name, village_id, birth, on_roster, number in rows.filter(
                birth_date__in=days[start : start + 500]
            ):
                if (village_id, birth) in wanted:
                    certain = on_roster or bool(number)
                    found.setdefault((village_id, birth), []).append((pk, name, certain))
        return found

    @staticmethod
    def _birth(record: Record) -> date | None:
        values = record.values
        info: idnumbers.IdInfo | None = values.get("id_info")
        return values.get("birth_date") or (info.birth_date if info is not None else None)

    @staticmethod
    def _description(record: Record) -> tuple[str, date | None, str]:
        values = record.values
        place = values.get("village_key", "")
        return (
            values.get("name", ""),
            ChildIndex._birth(record),
            place or village_key(values.get("village", "")),
        )

    def find(
        self,
        record: Record,
        village: Region | None,
        *,
        villages: frozenset[int] | None = None,
        reveal: Callable[[Child], bool],
    ) -> tuple[Child | None, RowIssue | None]:
        """The child this record describes, or None for a new child (with record.values[CLAIM]
        set when the new record only claims a registered number); an issue when the file and
        the registry disagree on who it is. Never an error for a disagreement: the row is
        imported, and what differs is kept (DIFFERS) or the record stands apart (CLAIM).

        `villages`: the only villages whose children the import may change (a village
        user's); a child found elsewhere is an issue that says nothing about the child.
        `reveal`: whether an issue may quote what the registry holds of a child (its name,
        its birth date): ImportContext.may_quote, true only for a child the user may see."""
        values = record.values
        h = id_hash(record)
        if h:
            found = self.by_hash.get(h, [])
            if len(found) > 1:
                # Registered twice (before this rule existed, or by hand): the one of that
                # name, else a record of the row's own, in the review queue beside them.
                named = [c for c in found if c.name == values["name"]]
                if len(named) != 1:
                    return self._claimed(record, found[0], village, reveal=reveal)
                found = named
            if found:
                child = found[0]
                verdict = self._judge(record, child)
                if verdict == "doubt":
                    return self._claimed(record, child, village, reveal=reveal)
                if villages is not None and child.village_id not in villages:
                    return None, RowIssue(
                        record.row_number,
                        "身份证号",
                        "scope",
                        _(
                            "该身份证号的儿童登记在您负责的村以外，未导入；如已迁入，请乡镇办公室处理"
                        ),
                    )
                self.compare(record, child, village)
                return child, self.joined_issue(record, child, reveal=reveal)
            if CLAIM in values:
                # Another row of the file has this new number and the two are not one
                # child (duplicates_in_file): that row takes it, this one claims it.
                return self._claimed(record, None, village, reveal=reveal)
            return self._without_number(record, village, h, reveal=reveal)
        if village is None:
            return None, None
        candidates = self.by_name.get((values["name"], values.get("birth_date"), village.pk), [])
        if len(candidates) == 1:
            self.compare(record, candidates[0], village)
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

    def _judge(self, record: Record, child: Child) -> str:
        """Whether the row with `child`'s number is that child: "same" (nothing differs
        that names a person), "join" (it differs, but the rest bears the number out) or
        "doubt" (a possibly misused number, or another registered child's row)."""
        values = record.values
        name, birth = values["name"], self._birth(record)
        same_birth = birth is None or child.birth_date is None or birth == child.birth_date
        if name == child.name:
            return "same" if same_birth else "join"  # 2013-04-30 / 2013-03-04: a typo
        # The row's name and birth date are another registered child's of the same village
        # (a twin's number on the other twin's row, a sibling's on his brother's).
        if birth is not None and any(
            other_name == name and pk != child.pk and certain
            for pk, other_name, certain in self._neighbours.get((child.village_id, birth), ())
        ):
            return "doubt"
        if not same_surname(name, child.name):
            return "doubt"
        if names_close(name, child.name):
            return "join"
        # A 曾用名 or a second given name: the surname, sex and birth date agree, and no
        # other child of the village born that day has a name close to the row's (the row
        # may be his; that some child of a large village was born on any day says nothing).
        info: idnumbers.IdInfo | None = values.get("id_info")
        sex = values.get("sex") or (info.sex if info is not None else "") or ""
        born_that_day = self._neighbours.get((child.village_id, birth), ()) if birth else ()
        if (
            birth is not None
            and birth == child.birth_date
            and (not sex or not child.sex or sex == child.sex)
            and all(pk == child.pk or not names_close(n, name) for pk, n, _c in born_that_day)
        ):
            return "join"
        return "doubt"

    def _claimed(
        self,
        record: Record,
        registered: Child | None,
        village: Region | None,
        *,
        reveal: Callable[[Child], bool],
    ) -> tuple[Child | None, RowIssue | None]:
        """The record of its own that a row claiming a registered number makes (or found
        again: the same name among the records claiming that number)."""
        values = record.values
        for child in self.by_claim.get(id_hash(record), ()):
            if child.name == values["name"]:
                values.pop(CLAIM, None)
                self.compare(record, child, village)
                return child, None
        values[CLAIM] = registered.pk if registered is not None else values.get(CLAIM)
        if registered is None:
            message = _(
                "与本文件中另一行身份证号相同，但姓名、出生日期对不上，不像同一人；已单独登记，"
                "列入待人工确认，请核实哪一行的身份证号有误"
            )
        elif reveal(registered):
            message = _(
                "身份证号与系统中已登记的%(name)s（%(birth)s）相同，但姓名、出生日期对不上，"
                "可能是录错或冒用；已单独登记，列入待人工确认，请核实"
            ) % {"name": registered.name, "birth": registered.birth_date or _("出生日期不详")}
        else:
            message = _(
                "身份证号与系统中已登记的另一名儿童相同，但姓名、出生日期对不上，可能是录错或"
                "冒用；已单独登记，列入待人工确认，请核实"
            )
        return None, RowIssue(record.row_number, "身份证号", "id_claimed", message, "warning")

    def joined_issue(
        self, record: Record, child: Child, *, reveal: Callable[[Child], bool]
    ) -> RowIssue | None:
        """The warning of a row joined to its number's child despite a different name or
        birth date (the usual typing: 龙瑶/龙遥, a day and month swapped)."""
        differs = [item for item, _r, _v in record.values.get(DIFFERS, ())]
        named = [i for i in differs if i in {"name", "birth_date"}]
        if not named:
            return None
        quote = reveal(child)  # asked only here: such a row is rare, the question a query
        parts = []
        if "name" in named:
            parts.append(
                _("姓名（系统中为“%(name)s”）") % {"name": child.name} if quote else _("姓名")
            )
        if "birth_date" in named:
            parts.append(
                _("出生日期（系统中为 %(birth)s）") % {"birth": child.birth_date}
                if quote
                else _("出生日期")
            )
        return RowIssue(
            record.row_number,
            "身份证号",
            "discrepancy",
            _(
                "身份证号与系统中已登记的儿童相同，%(what)s不同；已按身份证号导入，不同之处已记入"
                "“信息不一致”，请核对"
            )
            % {"what": "、".join(parts)},
            "warning",
        )

    def compare(self, record: Record, child: Child, village: Region | None) -> None:
        """What the row says of `child` differently from the registry (DIFFERS), and the items
        it gave at all (CHECKED). The village only where the row names one."""
        values = record.values
        differs: list[tuple[str, str, str]] = []
        checked: list[str] = []
        name = values.get("name")
        if name:
            checked.append("name")
            if name != child.name:
                differs.append(("name", child.name, name))
        birth = values.get("birth_date")
        if birth:
            checked.append("birth_date")
            if child.birth_date is not None and birth != child.birth_date:
                differs.append(("birth_date", child.birth_date.isoformat(), birth.isoformat()))
        sex = values.get("sex")
        if sex:
            checked.append("sex")
            if child.sex and sex != child.sex:
                differs.append(("sex", sex_text(child.sex), sex_text(sex)))
        ethnicity = values.get("ethnicity")
        if ethnicity:
            checked.append("ethnicity")
            if child.ethnicity and ethnicity_key(ethnicity) != ethnicity_key(child.ethnicity):
                differs.append(("ethnicity", child.ethnicity, ethnicity))
        if values.get("village"):
            checked.append("village")
            held = self._place_name(child.village_id)
            # Without the row's village resolved (a list matched before its places are), the
            # names are compared as a file writes them (乌岭 and 乌岭村 are one village).
            moved = (
                village.pk != child.village_id
                if village is not None
                else village_key(values["village"]) != village_key(held)
            )
            if moved:
                differs.append(("village", held, values["village"]))
        values[DIFFERS] = differs
        values[CHECKED] = checked

    def item_text(self, child: Child, item: str) -> str:
        """What the registry holds of `child` for a discrepancy item, as Discrepancy keeps it."""
        if item == "birth_date":
            return child.birth_date.isoformat() if child.birth_date else ""
        if item == "sex":
            return sex_text(child.sex) if child.sex else ""
        if item == "village":
            return self._place_name(child.village_id)
        return str(getattr(child, item) or "")

    def _place_name(self, pk: int) -> str:
        found = self._place_names.get(pk)
        if found is None:
            found = self._place_names[pk] = (
                Region.objects.filter(pk=pk).values_list("name", flat=True).first() or ""
            )
        return found

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
            # Not an error: the row is imported as a child of its own (its number is new),
            # and the child without a number is left for the reconciliation to link.
            return None, RowIssue(
                record.row_number,
                "身份证号",
                "ambiguous",
                _(
                    "与第 %(rows)s 行同名、同生日、同村，身份证号却不同；系统中有一名这样的儿童"
                    "还没有有效身份证号，无法确定是哪一行，已按新儿童导入，请核实"
                )
                % {"rows": rows}
                if reveal(candidates[0])
                else _(
                    "与第 %(rows)s 行同名、同生日、同村，身份证号却不同，无法确定是哪一位，"
                    "已按新儿童导入，请核实"
                )
                % {"rows": rows},
                "warning",
            )
        self.compare(record, candidates[0], village)
        return candidates[0], None


def give_id_number(child: Child, value: str) -> None:
    """A valid ID number for a child registered without one, or with a flagged one (kept as
    the original). The caller writes ID_FIELDS."""
    old_value = child.id_number
    apply_id_columns(child, id_columns(value))
    if old_value and old_value != value:
        child.id_number_original_enc = crypto.encrypt(old_value)


def origin(child: Child) -> str:
    """Where the registry's details of `child` came from, as Discrepancy.Source: the 户籍
    once the child is on the roster, else the 学籍 of a child with one."""
    if child.on_roster:
        return Discrepancy.Source.ROSTER
    if child.school_status != Child.SchoolStatus.NOT_ENROLLED:
        return Discrepancy.Source.ENROLLMENT
    return Discrepancy.Source.REGISTRY


def plan_discrepancies(
    plan: list[Planned],
    ctx: Any,
    source: str,
    index: ChildIndex,
    *,
    child_of: Callable[[Planned], Child | None],
) -> None:
    """What the commit writes to the discrepancy list (信息不一致), from what the plan's rows
    said differently of their children (DIFFERS, or FINDINGS where the source decided them
    itself) and of the other rows of the file with their number (VARIANTS). Kept in
    ctx.notes["discrepancies"] for the preview and the commit."""
    findings: list[Finding] = []
    agreed: dict[int, set[str]] = {}
    for p in plan:
        v = p.record.values
        child = child_of(p)
        row = p.record.row_number
        if child is not None:
            differs = v.get(DIFFERS, ())
            if FINDINGS in v:
                findings += v[FINDINGS]
            else:
                findings += [
                    Finding(item, source, value, held, origin(child), row, child.pk)
                    for item, held, value in differs
                ]
            same = set(v.get(CHECKED, ())) - {item for item, _h, _v in differs}
            if same:
                agreed.setdefault(child.pk, set()).update(same)
        variants = v.get(VARIANTS, ())
        if variants:
            held = (
                {k: index.item_text(child, k) for k in ITEMS}
                if child is not None
                else row_items(p.record)
            )
            for item, value, other_row in variants:
                if held.get(item, "") != value:
                    findings.append(
                        Finding(
                            item,
                            source,
                            value,
                            held.get(item, ""),
                            origin(child) if child is not None else source,
                            other_row,
                            child.pk if child is not None else None,
                            None if child is not None else v,
                        )
                    )
    if not findings and not agreed:
        return
    writes = discrepancies_plan(findings, agreed, source=source, township=ctx.township)
    if writes:
        ctx.notes["discrepancies"] = writes
        ctx.notes["writes"] = True


def write_discrepancies(ctx: Any) -> int:
    """The commit's part of plan_discrepancies: how many were opened."""
    writes: DiscrepancyWrites | None = ctx.notes.get("discrepancies")
    if not writes:
        return 0
    discrepancies_write(writes, batch_id=ctx.batch_id)
    return writes.count


def may_take_number(child: Child) -> bool:
    """Whether a row's valid number may be written to `child`: one registered without a
    valid number, and not a record that claims another child's (that needs a person)."""
    return not child.id_number_hash and not child.id_claim_hash


# What a row's values hold besides its cells' meaning: set by the pipeline and the plans.
_NOT_CONTENT = frozenset({"fingerprint", "skip", "reject"})


def row_content(record: Record) -> dict[str, Any]:
    """The row's values as the import uses them: two rows that differ only in a column the
    import does not read (序号, 备注) say the same thing."""
    return {
        k: v
        for k, v in record.values.items()
        if k not in _NOT_CONTENT and not k.startswith("_") and v is not None and v != ""
    }


def differing(a: dict[str, Any], b: dict[str, Any], labels: dict[str, str]) -> str:
    """The columns two rows' contents (row_content) differ in, by their labels."""
    return "、".join(
        labels.get(k, k) for k in sorted(set(a) | set(b), key=str) if a.get(k) != b.get(k)
    )


def duplicates_in_file(records: list[Record], labels: dict[str, str]) -> list[RowIssue]:
    """Rows of one file with the same ID number. Rows that say the same in every column the
    import reads are one row (the others skipped with a warning). Rows that differ are never
    all lost: the fullest is imported; another that describes the same child (a close name,
    or the same birth date) is set aside with what it says differently kept for its child
    (VARIANTS, written as discrepancies), and one that does not (another surname, another
    name and birth date) is imported as a record of its own claiming the number (CLAIM)."""
    issues: list[RowIssue] = []
    hashes = list(map(id_hash, records))
    # Counted in C first: most files repeat no number, and their rows need no grouping.
    repeated = {h for h, n in Counter(hashes).items() if n > 1 and h}
    groups: dict[str, list[Record]] = {}
    if repeated:
        for record, h in zip(records, hashes, strict=True):
            if h in repeated:
                groups.setdefault(h, []).append(record)
    # Rows without a valid number repeat only whole (the same in every column read): one.
    seen: dict[str, Record] = {}
    for record, h in zip(records, hashes, strict=True):
        if h:
            continue
        key = repr(sorted(row_content(record).items()))
        first = seen.setdefault(key, record)
        if first is not record:
            issues.append(
                RowIssue(
                    record.row_number,
                    "",
                    "repeat",
                    _("与第 %(row)s 行内容相同，已跳过") % {"row": first.row_number},
                    "warning",
                )
            )
            record.values["skip"] = True
    for group in groups.values():
        contents = [row_content(r) for r in group]
        # The fullest row, the first of equals.
        best = max(range(len(group)), key=lambda i: (len(contents[i]), -i))
        first = group[best]
        for r, content in zip(group, contents, strict=True):
            if r is first:
                continue
            n = first.row_number
            if content == contents[best]:
                issues.append(
                    RowIssue(
                        r.row_number,
                        "",
                        "repeat",
                        _("与第 %(row)s 行内容相同，已跳过") % {"row": n},
                        "warning",
                    )
                )
                r.values["skip"] = True
                continue
            if not _same_person(r, first):
                r.values[CLAIM] = None  # its own record (ChildIndex.find)
                continue
            differs = [
                (item, value, r.row_number)
                for item, value in row_items(r).items()
                if row_items(first).get(item) != value
            ]
            first.values.setdefault(VARIANTS, []).extend(differs)
            r.values["skip"] = True
            issues.append(
                RowIssue(
                    r.row_number,
                    "身份证号",
                    "duplicate",
                    _(
                        "与第 %(row)s 行身份证号相同、%(cols)s不同，已按第 %(row)s 行（信息较全的"
                        "一行）导入；姓名、出生日期等不同之处记入“信息不一致”，请核对"
                    )
                    % {"row": n, "cols": differing(content, contents[best], labels)},
                    "warning",
                )
            )
    return issues


def row_items(record: Record) -> dict[str, str]:
    """A row's values of the items a discrepancy can be about, as Discrepancy keeps them."""
    v = record.values
    found: dict[str, str] = {}
    if v.get("name"):
        found["name"] = v["name"]
    if v.get("birth_date"):
        found["birth_date"] = v["birth_date"].isoformat()
    if v.get("sex"):
        found["sex"] = sex_text(v["sex"])
    if v.get("ethnicity"):
        found["ethnicity"] = v["ethnicity"]
    if v.get("village"):
        found["village"] = v["village"]
    return found


def _same_person(a: Record, b: Record) -> bool:
    """Two rows with one number describe one child (the judgement ChildIndex makes of a row
    and a registered child, without the registry's neighbours)."""
    name_a, name_b = a.values.get("name", ""), b.values.get("name", "")
    birth_a, birth_b = ChildIndex._birth(a), ChildIndex._birth(b)
    sex_a, sex_b = a.values.get("sex", ""), b.values.get("sex", "")
    if name_a == name_b:
        return True
    if not same_surname(name_a, name_b):
        return False
    return names_close(name_a, name_b) or (
        birth_a is not None and birth_a == birth_b and (not sex_a or not sex_b or sex_a == sex_b)
    )


def parse_left_behind(value: object) -> str | None:
    """A 留守 cell as LeftBehind; None for a blank cell (it says nothing, so it changes
    nothing), "none" for one that says the child is not left behind."""
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
                relation=v.get("guardian_relation") or Guardian.Relation.OTHER,
                **dict(
                    zip(
                        ("id_number_enc", "id_number_hash", "id_number_masked"),
                        guardian_id_columns(v.get("guardian_id", "")),
                        strict=True,
                    )
                ),
                # The first guardian a child gets is its main one.
                is_primary=not known.get(child_id),
            )
        known.setdefault(child_id, {})[name] = phone
    Guardian.objects.bulk_create(new.values(), batch_size=1000)
    update_rows(Guardian, ["phone"], phones.items())
    return len(new) + len(phones)
