"""Every write to the registry goes through here, with the acting user and an audit row."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from baoxue.accounts.actors import Actor, person
from baoxue.accounts.permissions import can_resolve_discrepancy
from baoxue.core import crypto, idnumbers
from baoxue.core.bulk import update_rows
from baoxue.core.services import log_action
from baoxue.core.text import normalize_name, pinyin_keys
from baoxue.registry.counts import counts_mark_stale
from baoxue.registry.models import (
    PARENT_LEVEL,
    Child,
    Discrepancy,
    Enrollment,
    EnrollmentEvent,
    Guardian,
    Household,
    Region,
    School,
    region_columns,
)


# --- places and schools -----------------------------------------------------------------------
def region_create(
    *, name: str, level: str, parent: Region | None = None, code: str = "", actor: Actor = None
) -> Region:
    allowed = PARENT_LEVEL.get(level, set())
    if parent is None and level in {"township", "village", "group"}:
        raise ValidationError(_("乡镇、村和组/屯必须有上级区划。"))
    if parent is not None and parent.level not in allowed:
        raise ValidationError(
            _("“%(name)s”的上级不能是%(level)s。")
            % {"name": name, "level": parent.get_level_display()}
        )
    with transaction.atomic():
        region = Region(name=name.strip(), level=level, parent=parent, code=code.strip())
        region.full_clean(exclude=["path"])
        region.save()
        # The path needs the row's own id, so it is written in a second step.
        region.path = f"{parent.path if parent else '/'}{region.pk}/"
        region.save(update_fields=["path"])
        log_action(actor=actor, action="region.created", obj=region, data={"name": name})
    return region


def school_create(
    *,
    name: str,
    kind: str,
    region: Region,
    code: str = "",
    is_boarding: bool = False,
    lowest_grade: int = 1,
    highest_grade: int = 6,
    actor: Actor = None,
) -> School:
    with transaction.atomic():
        school = School(
            name=name.strip(),
            kind=kind,
            region=region,
            code=code.strip(),
            is_boarding=is_boarding,
            lowest_grade=lowest_grade,
            highest_grade=highest_grade,
            **region_columns(region),
        )
        school.full_clean()
        school.save()
        log_action(actor=actor, action="school.created", obj=school, data={"name": name})
    return school


# --- households and children ------------------------------------------------------------------
def _place_columns(village: Region, group: Region | None) -> dict[str, Any]:
    if village.level != Region.Level.VILLAGE:
        raise ValidationError(_("所选村必须是村级区划。"))
    if group is not None and group.parent_id != village.pk:
        raise ValidationError(
            _("组/屯“%(group)s”不属于%(village)s。")
            % {
                "group": group.name,
                "village": village.name,
            }
        )
    return {"village": village, "group": group, **region_columns(village)}


def household_create(
    *,
    village: Region,
    group: Region | None = None,
    number: str = "",
    head_name: str = "",
    address: str = "",
    is_lifted_from_poverty: bool = False,
    monitoring_type: str = "",
    parents_away: str = "none",
    phone: str = "",
    actor: Actor = None,
) -> Household:
    with transaction.atomic():
        household = Household(
            number=number.strip(),
            head_name=head_name.strip(),
            address=address,
            is_lifted_from_poverty=is_lifted_from_poverty,
            monitoring_type=monitoring_type,
            parents_away=parents_away,
            phone=phone,
            **_place_columns(village, group),
        )
        household.full_clean()
        household.save()
        log_action(actor=actor, action="household.created", obj=household)
    return household


@dataclass(frozen=True)
class IdColumns:
    """The stored forms of one ID number (see Child.id_number_*)."""

    enc: str
    hash: str
    masked: str
    suffix: str
    original_enc: str
    status: str
    info: idnumbers.IdInfo
    # The hash of a number registered to another child, which this record only claims
    # (Child.id_claim_hash); '' for every ordinary number.
    claim: str = ""

    def claimed(self) -> IdColumns:
        """The same number held by a record that only claims it: kept (encrypted, masked),
        but no key that finds a child (Child.IdStatus.CLAIMED)."""
        return replace(self, hash="", status=str(Child.IdStatus.CLAIMED), claim=self.hash)


def id_columns(raw: str | None, *, birth_date_hint: date | None = None) -> IdColumns:
    return id_columns_of(idnumbers.parse(raw, birth_date_hint=birth_date_hint))


def id_columns_of(info: idnumbers.IdInfo, *, hashed: str | None = None) -> IdColumns:
    """The stored forms of an ID number already parsed (imports parse it while validating;
    `hashed`, when given, is its lookup hash, already computed for matching)."""
    value = info.value
    original = info.normalized if info.normalized != value else ""
    return IdColumns(
        enc=crypto.encrypt(value),
        # Only a well-formed number is a key for exact matching; a flagged one is kept but
        # must not silently join two different children.
        hash=(crypto.lookup_hash(value) if hashed is None else hashed) if info.is_valid else "",
        masked=idnumbers.mask(value),
        suffix=crypto.suffix_key(idnumbers.suffix(value, 4)),
        original_enc=crypto.encrypt(original),
        status=str(info.status),
        info=info,
    )


# A child's columns that hold its ID number (what apply_id_columns writes but the claim).
ID_FIELDS = (
    "id_number_enc",
    "id_number_hash",
    "id_number_masked",
    "id_suffix",
    "id_number_original_enc",
    "id_status",
)


def apply_id_columns(child: Child, cols: IdColumns) -> None:
    child.id_number_enc = cols.enc
    child.id_number_hash = cols.hash
    child.id_number_masked = cols.masked
    child.id_suffix = cols.suffix
    child.id_number_original_enc = cols.original_enc
    child.id_status = cols.status
    child.id_claim_hash = cols.claim


def build_child(
    *,
    name: str,
    village: Region,
    group: Region | None = None,
    id_number: str | None = None,
    birth_date: date | None = None,
    sex: str = "",
    ethnicity: str = "",
    household: Household | None = None,
    on_roster: bool = True,
    **flags: Any,
) -> Child:
    """An unsaved Child with every derived column filled (also used by bulk loaders); a
    child registered this way is on the 户籍 roster unless said otherwise."""
    cols = id_columns(id_number, birth_date_hint=birth_date)
    full, initials = pinyin_keys(name)
    child = Child(
        name=normalize_name(name),
        name_pinyin=full,
        name_initials=initials,
        sex=sex or (cols.info.sex or ""),
        ethnicity=ethnicity,
        birth_date=birth_date or cols.info.birth_date,
        household=household,
        on_roster=on_roster,
        **_place_columns(village, group),
        **flags,
    )
    apply_id_columns(child, cols)
    return child


def child_place_columns(village: Region, group: Region | None) -> dict[str, Any]:
    """A child's place columns by id (child_row), checked as child_create checks them."""
    place = _place_columns(village, group)
    return {
        "village_id": village.pk,
        "group_id": group.pk if group is not None else None,
        "county_id": place["county_id"],
        "township_id": place["township_id"],
    }


# The columns child_values gives, in its order (for core.bulk.RowWriter(columns=...)).
CHILD_COLUMNS = (
    "name",
    "name_pinyin",
    "name_initials",
    "sex",
    "ethnicity",
    "birth_date",
    "household_id",
    "village_id",
    "group_id",
    "county_id",
    "township_id",
    "id_number_enc",
    "id_number_hash",
    "id_number_masked",
    "id_suffix",
    "id_number_original_enc",
    "id_status",
    "id_claim_hash",
)


def child_values(
    *,
    name: str,
    cols: IdColumns,
    place: dict[str, Any],
    birth_date: date | None = None,
    sex: str = "",
    ethnicity: str = "",
    household_id: int | None = None,
) -> tuple[Any, ...]:
    """What build_child makes, as the values of CHILD_COLUMNS (imports write many children
    without building model instances). `place` is what child_place_columns gave."""
    full, initials = pinyin_keys(name)
    info = cols.info
    return (
        normalize_name(name),
        full,
        initials,
        sex or (info.sex or ""),
        ethnicity,
        birth_date or info.birth_date,
        household_id,
        place["village_id"],
        place["group_id"],
        place["county_id"],
        place["township_id"],
        cols.enc,
        cols.hash,
        cols.masked,
        cols.suffix,
        cols.original_enc,
        cols.status,
        cols.claim,
    )


def child_row(
    *,
    name: str,
    village: Region | None,
    group: Region | None,
    cols: IdColumns,
    birth_date: date | None = None,
    sex: str = "",
    ethnicity: str = "",
    household_id: int | None = None,
    place: dict[str, Any] | None = None,
    **flags: Any,
) -> dict[str, Any]:
    """child_values by attribute name, with `flags` (for core.bulk.RowWriter's dict rows).
    `place` is what child_place_columns(village, group) gave, for a caller that places many
    children in the same village and 屯."""
    if place is None:
        if village is None:
            raise ValueError("child_row() needs a village or its place columns")
        place = child_place_columns(village, group)
    values = child_values(
        name=name,
        cols=cols,
        place=place,
        birth_date=birth_date,
        sex=sex,
        ethnicity=ethnicity,
        household_id=household_id,
    )
    return {**dict(zip(CHILD_COLUMNS, values, strict=True)), **flags}


def child_create(
    *,
    actor: Actor,
    name: str,
    village: Region,
    group: Region | None = None,
    id_number: str | None = None,
    birth_date: date | None = None,
    sex: str = "",
    ethnicity: str = "",
    household: Household | None = None,
    **flags: Any,
) -> Child:
    if not name.strip():
        raise ValidationError(_("姓名不能为空。"))
    child = build_child(
        name=name,
        village=village,
        group=group,
        id_number=id_number,
        birth_date=birth_date,
        sex=sex,
        ethnicity=ethnicity,
        household=household,
        **flags,
    )
    with transaction.atomic():
        child.full_clean()
        child.save()
        counts_mark_stale(county_ids={child.county_id})
        log_action(
            actor=actor,
            action="child.created",
            obj=child,
            data={"id_status": child.id_status, "village": village.name},
        )
    return child


def guardian_add(
    *,
    actor: Actor,
    child: Child,
    name: str,
    relation: str,
    phone: str = "",
    id_number: str | None = None,
    lives_with_child: bool = True,
    works_away: bool = False,
    work_place: str = "",
    is_primary: bool = False,
) -> Guardian:
    cols = id_columns(id_number)
    with transaction.atomic():
        guardian = Guardian(
            child=child,
            name=name.strip(),
            relation=relation,
            phone=phone.strip(),
            id_number_enc=cols.enc,
            id_number_hash=cols.hash,
            id_number_masked=cols.masked,
            lives_with_child=lives_with_child,
            works_away=works_away,
            work_place=work_place,
            is_primary=is_primary,
        )
        guardian.full_clean()
        guardian.save()
        log_action(actor=actor, action="guardian.added", obj=child, data={"name": guardian.name})
    return guardian


# --- enrollments --------------------------------------------------------------------------------
STUDENT_NUMBER_COLUMNS = ("student_number_enc", "student_number_hash", "student_number_masked")


def student_number_values(raw: str, *, hashed: str | None = None) -> tuple[str, str, str]:
    """The stored forms of a 学籍号 (STUDENT_NUMBER_COLUMNS); `hashed` is the lookup hash of
    the normalised number when the caller has it already."""
    value = idnumbers.normalize(raw)
    return (
        crypto.encrypt(value),
        crypto.lookup_hash(value) if hashed is None else hashed,
        (value[:1] + idnumbers.mask(value[1:])) if value else "",
    )


def student_number_columns(raw: str, *, hashed: str | None = None) -> dict[str, str]:
    """student_number_values by column."""
    return dict(zip(STUDENT_NUMBER_COLUMNS, student_number_values(raw, hashed=hashed), strict=True))


# An enrollment in one of these states no longer places the child in a school.
ENDED_STATUSES = [
    Enrollment.Status.TRANSFERRED_OUT,
    Enrollment.Status.GRADUATED,
    Enrollment.Status.DECEASED,
    Enrollment.Status.WITHDRAWN,
    Enrollment.Status.EXPELLED,
    Enrollment.Status.LOST,
    Enrollment.Status.WHEREABOUTS_UNKNOWN,
]
SCHOOL_COLUMNS = ["school_status", "current_school", "current_grade", "current_class", "updated_at"]


# The columns school_values gives, in its order.
SCHOOL_VALUE_COLUMNS = ("school_status", "current_school_id", "current_grade", "current_class")


def school_values(
    status: str | None, school_id: int | None, grade: int | None, class_name: str
) -> tuple[str, int | None, int | None, str]:
    """The child's school columns (SCHOOL_VALUE_COLUMNS) for the enrollment (status, school, grade,
    class) that places it now; status None (or an ended one) for no such enrollment."""
    if status is None or status in ENDED_STATUSES:
        return (Child.SchoolStatus.NOT_ENROLLED, None, None, "")
    return (
        Child.SchoolStatus.SUSPENDED
        if status == Enrollment.Status.SUSPENDED
        else Child.SchoolStatus.IN_SCHOOL,
        school_id,
        grade,
        class_name,
    )


def school_columns(
    status: str | None, school_id: int | None, grade: int | None, class_name: str
) -> dict[str, Any]:
    """school_values by column."""
    return dict(
        zip(SCHOOL_VALUE_COLUMNS, school_values(status, school_id, grade, class_name), strict=True)
    )


def apply_school_status(child: Child, current: Enrollment | None) -> None:
    """Set the child's school columns from the enrollment that places it now (or none)."""
    # By id: reading `current.school` would fetch the school once per child.
    columns = (
        school_columns(None, None, None, "")
        if current is None
        else school_columns(current.status, current.school_id, current.grade, current.class_name)
    )
    for name, value in columns.items():
        setattr(child, name, value)


def child_refresh_school_status(child: Child) -> None:
    """Recompute the child's denormalised school columns from its current enrollment."""
    current = (
        child.enrollments.filter(is_current=True)
        .exclude(status__in=ENDED_STATUSES)
        .order_by("-entry_date", "-id")
        .first()
    )
    apply_school_status(child, current)
    child.save(update_fields=SCHOOL_COLUMNS)


def refresh_school_status_bulk(*, child_ids: set[int]) -> None:
    """The same for many children at once (imports), without loading them: two queries a
    chunk, and one bulk update of the children whose columns change (a newer export that
    changes a few classes rewrites a few rows, not the whole registry's)."""
    ids = sorted(child_ids)
    none = school_columns(None, None, None, "")
    names = list(none)  # school_columns gives every child the same columns, in this order
    changed: list[tuple[Any, ...]] = []
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        current: dict[int, tuple[Any, ...]] = {}
        for child_id, status, school_id, grade, class_name in (
            Enrollment.objects.filter(child_id__in=chunk, is_current=True)
            .exclude(status__in=ENDED_STATUSES)
            .order_by("child_id", "-entry_date", "-id")
            .values_list("child_id", "status", "school_id", "grade", "class_name")
        ):
            if child_id not in current:
                current[child_id] = tuple(
                    school_columns(status, school_id, grade, class_name).values()
                )
        nothing = tuple(none.values())
        for pk, *stored in Child.objects.filter(pk__in=chunk).values_list("pk", *names):
            wanted = current.get(pk, nothing)
            if tuple(stored) != wanted:
                changed.append((pk, *wanted))
    update_rows(Child, names, changed)


def enrollment_create(
    *,
    actor: Actor,
    child: Child,
    school: School,
    grade: int,
    class_name: str = "",
    student_number: str = "",
    is_boarding: bool = False,
    status: str = Enrollment.Status.STUDYING,
    entry_date: date | None = None,
) -> Enrollment:
    if not school.lowest_grade <= grade <= school.highest_grade:
        raise ValidationError(
            _("%(school)s 没有 %(grade)s 年级。") % {"school": school.name, "grade": grade}
        )
    with transaction.atomic():
        # A new enrollment replaces the current one as "the child now"; the old stays as history.
        child.enrollments.filter(is_current=True).update(is_current=False, import_fingerprint="")
        enrollment = Enrollment(
            child=child,
            school=school,
            grade=grade,
            class_name=class_name.strip(),
            is_boarding=is_boarding,
            status=status,
            entry_date=entry_date,
            is_current=True,
            **student_number_columns(student_number),
        )
        enrollment.full_clean()
        enrollment.save()
        EnrollmentEvent.objects.create(
            enrollment=enrollment,
            kind=EnrollmentEvent.Kind.ENROLLED,
            date=entry_date or date.today(),
            created_by=person(actor),
        )
        child_refresh_school_status(child)
        counts_mark_stale(county_ids={child.county_id, school.county_id})
        log_action(
            actor=actor,
            action="enrollment.created",
            obj=child,
            data={"school": school.name, "grade": grade},
        )
    return enrollment


# Event kind → the enrollment status it leaves behind.
EVENT_STATUS = {
    EnrollmentEvent.Kind.TRANSFER_OUT: Enrollment.Status.TRANSFERRED_OUT,
    EnrollmentEvent.Kind.SUSPENSION: Enrollment.Status.SUSPENDED,
    EnrollmentEvent.Kind.RESUMPTION: Enrollment.Status.RESUMED,
    EnrollmentEvent.Kind.GRADUATION: Enrollment.Status.GRADUATED,
    EnrollmentEvent.Kind.DEATH: Enrollment.Status.DECEASED,
}


def enrollment_event_record(
    *,
    actor: Actor,
    enrollment: Enrollment,
    kind: str,
    on: date,
    reference: str = "",
    other_school: School | None = None,
    other_school_name: str = "",
    reason: str = "",
) -> EnrollmentEvent:
    if kind not in EVENT_STATUS:
        raise ValidationError(_("不支持的学籍异动类型。"))
    with transaction.atomic():
        event = EnrollmentEvent.objects.create(
            enrollment=enrollment,
            kind=kind,
            date=on,
            reference=reference,
            other_school=other_school,
            other_school_name=other_school_name or (other_school.name if other_school else ""),
            reason=reason,
            created_by=person(actor),
        )
        enrollment.status = EVENT_STATUS[EnrollmentEvent.Kind(kind)]
        if kind in {EnrollmentEvent.Kind.TRANSFER_OUT, EnrollmentEvent.Kind.GRADUATION}:
            enrollment.end_date = on
        enrollment.import_fingerprint = ""  # no longer what the last 学籍 file said
        enrollment.save(update_fields=["status", "end_date", "updated_at", "import_fingerprint"])
        child = enrollment.child
        if kind == EnrollmentEvent.Kind.DEATH:
            child.is_deceased = True
            child.save(update_fields=["is_deceased", "updated_at"])
        child_refresh_school_status(child)
        counts_mark_stale(county_ids={child.county_id})
        log_action(
            actor=actor,
            action=f"enrollment.{kind}",
            obj=child,
            data={"school": enrollment.school.name, "date": on.isoformat(), "ref": reference},
        )
    return event


# --- discrepancies (信息不一致) -----------------------------------------------------------------


@dataclass
class Finding:
    """A value a list gives for a child that the registry holds differently (a Discrepancy
    to be). `child_id` None: a child the same import creates, whose id the commit puts in
    `values["child_id"]`."""

    item: str
    source: str
    value: str
    registry_value: str
    registry_source: str
    row_number: int | None
    child_id: int | None = None
    values: dict[str, Any] | None = None

    def resolved_child_id(self) -> int:
        if self.child_id is not None:
            return self.child_id
        assert self.values is not None
        return int(self.values["child_id"])


@dataclass
class DiscrepancyWrites:
    """What an import does to the discrepancy list: findings that open a discrepancy (new,
    or a new value for one already judged), and open ones its rows now agree on."""

    opened: list[Finding]
    reopened: list[tuple[int, Finding]]
    closed: list[int]

    def __bool__(self) -> bool:
        return bool(self.opened or self.reopened or self.closed)

    @property
    def count(self) -> int:
        return len(self.opened) + len(self.reopened)


def discrepancies_plan(
    findings: list[Finding], agreed: dict[int, set[str]], *, source: str, township: Region
) -> DiscrepancyWrites:
    """Compare an import's findings with the discrepancies already kept. A value already
    judged (resolved) or already open is nothing new; another value opens it again. An open
    discrepancy of `source` (the importing list) whose item a row of the list now gives as
    the registry holds it is closed (`agreed`: child id → the items its row agreed on)."""
    writes = DiscrepancyWrites([], [], [])
    by_key: dict[tuple[int, str, str], Finding] = {}
    for f in findings:
        if f.child_id is None:
            writes.opened.append(f)  # a child this import creates has nothing kept yet
        else:
            by_key.setdefault((f.child_id, f.item, f.source), f)
    kept = Discrepancy.objects.filter(child__township=township)
    if not kept.exists():
        writes.opened += list(by_key.values())
        return writes
    ids = sorted({k[0] for k in by_key} | set(agreed))
    found: set[tuple[int, str, str]] = set()
    for start in range(0, len(ids), 5000):
        for pk, child_id, item, source_, value, status, resolved in Discrepancy.objects.filter(
            child_id__in=ids[start : start + 5000]
        ).values_list("pk", "child_id", "item", "source", "value", "status", "resolved_value"):
            key = (child_id, item, source_)
            finding = by_key.get(key)
            if finding is not None:
                found.add(key)
                if finding.value in {value, resolved} and (
                    status == Discrepancy.Status.RESOLVED or finding.value == value
                ):
                    continue
                writes.reopened.append((pk, finding))
            elif (
                status == Discrepancy.Status.OPEN
                and source_ == source
                and item in agreed.get(child_id, ())
            ):
                writes.closed.append(pk)
    writes.opened += [f for k, f in by_key.items() if k not in found]
    return writes


def discrepancies_write(writes: DiscrepancyWrites, *, batch_id: int | None) -> None:
    """The writes discrepancies_plan found, in bulk (inside the import's transaction)."""
    now = timezone.now()
    Discrepancy.objects.bulk_create(
        [
            Discrepancy(
                child_id=f.resolved_child_id(),
                item=f.item,
                source=f.source,
                value=f.value[:100],
                registry_value=f.registry_value[:100],
                registry_source=f.registry_source,
                batch_id=batch_id,
                row_number=f.row_number,
            )
            for f in writes.opened
        ],
        batch_size=1000,
        # Two rows of one file giving one child's item two values: the first is kept.
        ignore_conflicts=True,
    )
    for pk, f in writes.reopened:
        Discrepancy.objects.filter(pk=pk).update(
            value=f.value[:100],
            registry_value=f.registry_value[:100],
            registry_source=f.registry_source,
            status=Discrepancy.Status.OPEN,
            resolution="",
            resolved_value="",
            resolved_by=None,
            resolved_at=None,
            batch_id=batch_id,
            row_number=f.row_number,
            updated_at=now,
        )
    for start in range(0, len(writes.closed), 5000):
        Discrepancy.objects.filter(pk__in=writes.closed[start : start + 5000]).update(
            status=Discrepancy.Status.RESOLVED,
            resolution=Discrepancy.Resolution.CORRECTED,
            resolved_at=now,
            updated_at=now,
        )


NAME_MAX = Child._meta.get_field("name").max_length or 64
_DATE = re.compile(r"^\s*(\d{4})\s*[-./年]\s*(\d{1,2})\s*[-./月]\s*(\d{1,2})\s*日?\s*$")
_SEX = {"男": Child.Sex.MALE, "女": Child.Sex.FEMALE}


def _item_value(child: Child, item: str, text: str) -> tuple[str, Any]:
    """The child's column for a discrepancy item and the value `text` gives it; a
    translatable ValidationError for a value the registry cannot keep."""
    text = text.strip()
    if not text:
        raise ValidationError(_("请填写正确的值。"))
    if item == Discrepancy.Item.NAME:
        name = normalize_name(text)
        if len(name) > NAME_MAX:
            raise ValidationError(_("姓名最多 %(n)s 个字。") % {"n": NAME_MAX})
        return "name", name
    if item == Discrepancy.Item.BIRTH_DATE:
        found = _DATE.match(text)
        try:
            day = date(*(int(part) for part in found.groups())) if found else None
        except ValueError:
            day = None
        if day is None:
            raise ValidationError(_("出生日期请写成 2013-04-30 这样的格式。"))
        return "birth_date", day
    if item == Discrepancy.Item.SEX:
        if text not in _SEX:
            raise ValidationError(_("性别请填“男”或“女”。"))
        return "sex", _SEX[text]
    if item == Discrepancy.Item.ETHNICITY:
        return "ethnicity", text[:16]
    # A village of the child's own township, as a list names it (乌岭 or 乌岭村).
    key = text[:-1] if len(text) > 1 and text.endswith("村") else text
    village = (
        Region.objects.filter(level=Region.Level.VILLAGE, parent_id=child.township_id)
        .filter(Q(name=text) | Q(name=f"{key}村") | Q(name=key))
        .first()
    )
    if village is None:
        raise ValidationError(_("本乡镇没有“%(name)s”这个村，请先核对村名。") % {"name": text})
    return "village", village


def discrepancy_resolve(
    *, discrepancy: Discrepancy, actor: Actor, choice: str, value: str = ""
) -> Discrepancy:
    """Settle a discrepancy: the registry's value is right ("registry"), the list's is
    ("source"), or another one typed in ("other"). The child takes the chosen value, the
    discrepancy keeps both and the decision; an open discrepancy of another list that now
    agrees with the child is settled with it. Only an open discrepancy is settled: a second
    click, or a colleague first, is told so and changes nothing."""
    if actor is not None and not (
        can_resolve_discrepancy(actor)
        and Child.objects.visible_to(actor).filter(pk=discrepancy.child_id).exists()
    ):
        raise PermissionDenied(_("您没有处理这条信息不一致的权限。"))
    if choice not in {"registry", "source", "other"}:
        raise ValidationError(_("请选择以哪个值为准。"))
    with transaction.atomic():
        d = Discrepancy.objects.select_for_update().get(pk=discrepancy.pk)
        if d.status != Discrepancy.Status.OPEN:
            raise ValidationError(_("这一条已经有人处理过了，页面已刷新。"))
        child = Child.objects.select_for_update().get(pk=d.child_id)
        final = {"registry": d.registry_value, "source": d.value}.get(choice, value)
        column, wanted = _item_value(child, d.item, final)
        shown = wanted.name if isinstance(wanted, Region) else str(final).strip()
        if column == "birth_date":
            shown = wanted.isoformat()
        elif column == "name":
            shown = wanted
        fields = []
        if getattr(child, column) != wanted:
            setattr(child, column, wanted)
            fields.append(column)
            if column == "name":
                child.name_pinyin, child.name_initials = pinyin_keys(wanted)
                fields += ["name_pinyin", "name_initials"]
            if column == "village":
                # A village of the child's own township (the scope columns stay); a 屯 of
                # the old village is not one of the new.
                child.group = None
                fields += ["group"]
            child.version += 1
            child.save(update_fields=[*fields, "version", "updated_at"])
            counts_mark_stale(county_ids={child.county_id})
        now = timezone.now()
        d.status = Discrepancy.Status.RESOLVED
        d.resolution = choice
        d.resolved_value = shown[:100]
        d.resolved_by = person(actor)
        d.resolved_at = now
        d.save()
        # The other lists' open discrepancies of the item: the registry's value is now
        # `shown`; one that gives it is settled by this decision.
        others = Discrepancy.objects.filter(
            child_id=d.child_id, item=d.item, status=Discrepancy.Status.OPEN
        ).exclude(pk=d.pk)
        others.filter(value=shown).update(
            status=Discrepancy.Status.RESOLVED,
            resolution=Discrepancy.Resolution.SOURCE,
            resolved_value=shown[:100],
            resolved_by=d.resolved_by,
            resolved_at=now,
            registry_value=shown[:100],
            updated_at=now,
        )
        others.update(registry_value=shown[:100], updated_at=now)
        log_action(
            actor=actor,
            action="discrepancy.resolved",
            obj=child,
            data={
                "item": d.item,
                "source": d.source,
                "choice": choice,
                "changed": bool(fields),
            },
        )
    return d
