"""Reads of the registry. Every one starts from `visible_to(user)`."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.http import Http404, HttpRequest
from django.utils.translation import gettext_lazy

from baoxue.accounts.permissions import can_reveal_id_number
from baoxue.accounts.scope import scope_for
from baoxue.core import crypto, idnumbers, times
from baoxue.core.services import log_action
from baoxue.core.text import is_pinyin_query
from baoxue.registry import pages
from baoxue.registry.counts import compulsory_age_q, snapshot_is_current
from baoxue.registry.models import (
    Child,
    ChildMerge,
    CountSnapshot,
    Discrepancy,
    Enrollment,
    Household,
    Region,
    School,
    VillageCount,
)

_ID_QUERY = re.compile(r"^[0-9]{1,17}[0-9X]?$")
_ID_SEARCH_REFUSED = gettext_lazy(
    "按身份证号查找只对可以查看完整身份证号的角色开放，请按姓名或拼音查找。"
)
_ID_SEARCH_SHORT = gettext_lazy("请至少输入身份证号的后 4 位。")
# Longer ID suffixes are checked by decrypting the candidates that share the last four digits;
# past this many candidates the query is too vague to be worth it.
_SUFFIX_CANDIDATE_LIMIT = 5000

TAGS = {
    "key_group": Q(household__is_lifted_from_poverty=True)
    | Q(household__monitoring_type__in=[v for v in Household.MonitoringType.values if v]),
    "left_behind": ~Q(left_behind="none"),
    "orphan": Q(is_orphan=True),
    "disability": Q(has_disability=True),
    "migrant": Q(is_migrant=True),
    "id_flagged": ~Q(id_status__in=[Child.IdStatus.VALID, Child.IdStatus.UPGRADED]),
}


def _not_found() -> Http404:
    return Http404("not found")


def _parse_uuid(value: Any) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise _not_found() from None


def access_child(user: Any, public_id: Any, *, request: HttpRequest | None = None) -> Child:
    """The child if `user` may see it; 404 for missing and for out of scope alike. An attempt
    on a real child outside the scope is logged, since it is either a bug or curiosity."""
    uid = _parse_uuid(public_id)
    child = (
        Child.objects.visible_to(user)
        .select_related("household", "village", "group", "township", "current_school")
        .filter(public_id=uid)
        .first()
    )
    if child is None:
        existing = Child.objects.filter(public_id=uid).values_list("pk", flat=True).first()
        if existing is not None and pages.child_granted(user, existing):
            # Named on the child's open case (双线四包 or its reporter), outside the usual
            # scope (a county cadre, a teacher of another class): the child's page, logged.
            log_action(
                actor=user,
                action="child.viewed_as_named",
                data={"child": str(uid)},
                request=request,
            )
            return (
                Child.objects.select_related(
                    "household", "village", "group", "township", "current_school"
                )
                .filter(pk=existing)
                .get()
            )
        if existing is not None:
            log_action(
                actor=user,
                action="child.access_denied",
                data={"child": str(uid)},
                request=request,
            )
        raise _not_found()
    return child


def access_school(user: Any, public_id: Any) -> School:
    school = (
        School.objects.visible_to(user)
        .select_related("region", "township")
        .filter(public_id=_parse_uuid(public_id))
        .first()
    )
    if school is None:
        raise _not_found()
    return school


def access_region(user: Any, region_id: int) -> Region:
    region = Region.objects.visible_to(user).filter(pk=region_id).first()
    if region is None:
        raise _not_found()
    return region


def _whole_number_candidates(text: str) -> set[str]:
    """The canonical forms a typed whole number may be stored under."""
    values = {text}
    info = idnumbers.parse(text)
    if info.is_valid:
        values.add(info.value)
    if len(text) == 15 and text.isdigit():
        # Stored upgraded to 18 digits; the century is not in the number, so try both.
        for century in ("19", "20"):
            first17 = text[:6] + century + text[6:]
            values.add(first17 + idnumbers.check_character(first17))
    return values


def _id_query_filter(qs: QuerySet[Child], text: str) -> QuerySet[Child]:
    """A whole number by its lookup hash; its last digits (four or more) by the keyed blind
    index of the last four (Child.id_suffix), longer ones checked by decrypting the few rows
    that share it. Fewer than four digits find nothing: they would sort children by digits
    an index in clear would have to hold."""
    if len(text) in (15, 18):
        values = _whole_number_candidates(text)
        hashes = [crypto.lookup_hash(v) for v in values]
        # A flagged number has no hash: compare it (and any original form) by decrypting the
        # few rows that share its last four characters.
        flagged = [
            pk
            for pk, enc, original in qs.filter(
                id_suffix=crypto.suffix_key(text[-4:]), id_number_hash=""
            ).values_list("pk", "id_number_enc", "id_number_original_enc")[:_SUFFIX_CANDIDATE_LIMIT]
            if crypto.decrypt(enc) in values or crypto.decrypt(original) in values
        ]
        return qs.filter(Q(id_number_hash__in=hashes) | Q(pk__in=flagged))
    if len(text) < 4:
        return qs.none()
    if len(text) == 4:
        return qs.filter(id_suffix=crypto.suffix_key(text))
    return qs.filter(pk__in=_suffix_matches(qs, text))


def _suffix_matches(qs: QuerySet[Child], text: str) -> list[int]:
    candidates = qs.filter(id_suffix=crypto.suffix_key(text[-4:])).values_list(
        "pk", "id_number_enc"
    )[:_SUFFIX_CANDIDATE_LIMIT]
    return [pk for pk, enc in candidates if crypto.decrypt(enc).endswith(text)]


def id_search_refused(user: Any, q: str) -> str:
    """Why a search by ID digits finds nothing for this user ('' when it may search): the
    digits of a number are searched only by roles that may reveal it (docs/privacy.md)."""
    text = idnumbers.normalize(q) if q else ""
    if not text or not _ID_QUERY.match(text.upper()):
        return ""
    if not can_reveal_id_number(user):
        return str(_ID_SEARCH_REFUSED)
    if len(text) < 4:
        return str(_ID_SEARCH_SHORT)
    return ""


def _has_vowel(text: str) -> bool:
    return any(ch in "aeiouv" for ch in text)


def child_search(
    user: Any,
    *,
    q: str = "",
    village: int | None = None,
    school: int | None = None,
    grade: int | None = None,
    tag: str = "",
    status: str = "",
    age: str = "",
) -> QuerySet[Child]:
    """The child list: name prefix, pinyin initials or full pinyin prefix, ID number or its
    last digits; filters by village, school, grade, tag, school status and age (适龄: the
    children the home counts count)."""
    qs: QuerySet[Child] = Child.objects.visible_to(user)
    order: tuple[str, ...] = ("name", "id")
    text = idnumbers.normalize(q) if q else ""
    if text:
        if _ID_QUERY.match(text.upper()):
            if id_search_refused(user, q):
                return qs.none()
            qs = _id_query_filter(qs, text.upper())
        elif is_pinyin_query(text):
            low = text.lower()
            if _has_vowel(low):
                qs = qs.filter(Q(name_initials__startswith=low) | Q(name_pinyin__startswith=low))
            else:
                # Every pinyin syllable has a vowel, so "wjh" can only be initials. The matches
                # come back grouped by initials (wjh, wjhx, …), the order of the scope's
                # initials index, so a common initial is still an index walk, not a sort.
                qs = qs.filter(name_initials__startswith=low)
                order = ("name_initials", "name", "id")
        else:
            qs = qs.filter(name__startswith="".join(q.split()))
    if village:
        qs = qs.filter(village_id=village)
    if school:
        qs = qs.filter(current_school_id=school)
    if grade:
        qs = qs.filter(current_grade=grade)
    if tag in TAGS:
        qs = qs.filter(TAGS[tag])
    if status in Child.SchoolStatus.values:
        qs = qs.filter(school_status=status)
    if age == AGE_COMPULSORY:
        qs = qs.filter(compulsory_age_q())
    return qs.select_related("village", "group", "current_school").order_by(*order)


AGE_COMPULSORY = "compulsory"


@dataclass
class CountRow:
    """A place's compulsory-age children by school status (total is their sum), and apart
    from them the open cases (一人一案) worked there."""

    key: int | None
    label: str
    total: int = 0
    in_school: int = 0
    suspended: int = 0
    not_enrolled: int = 0
    open_cases: int = 0


@dataclass
class HomeCounts:
    total: CountRow
    by_village: list[CountRow]
    by_school: list[CountRow]
    registered: int
    duplicate_ids: int
    # Set when the counts come from the county snapshot rather than a live count.
    as_of: datetime | None = None
    stale: bool = False


COUNTY_LEVELS = frozenset({"province", "city", "county"})


def _snapshot_counties(user: Any) -> list[int] | None:
    """The counties whose snapshots answer this user's counts, or None to count live.

    Only scopes made purely of county-or-wider region grants use the snapshot: they are the
    large ones, and the snapshot holds nothing finer than village × school × status.
    """
    scope = scope_for(user)
    if scope.schools or not scope.regions:
        return None
    if any(g.disability_only or g.level not in COUNTY_LEVELS for g in scope.regions):
        return None
    counties: list[int] = []
    for grant in scope.regions:
        if grant.level == "county":
            counties.append(grant.region_id)
        else:
            counties += Region.objects.filter(
                level="county", path__startswith=grant.path
            ).values_list("id", flat=True)
    return counties


def _rows(triples: Iterable[tuple[Any, str, int]], labels: dict[Any, str]) -> list[CountRow]:
    rows: dict[Any, CountRow] = {}
    for key, status, n in triples:
        row = rows.setdefault(key, CountRow(key=key, label=labels.get(key, "—")))
        row.total += n
        setattr(row, str(status), getattr(row, str(status)) + n)
    return sorted(rows.values(), key=lambda r: (r.key is None, r.label))


def _school_age(user: Any) -> QuerySet[Child]:
    return Child.objects.visible_to(user).filter(compulsory_age_q())


def _grouped(user: Any, column: str, counties: list[int] | None) -> Iterable[tuple[Any, str, int]]:
    if counties is not None:
        snapshot_column = {"village_id": "village_id", "current_school_id": "school_id"}[column]
        return (
            VillageCount.objects.filter(county_id__in=counties)
            .exclude(**{f"{snapshot_column}__isnull": True})
            .values_list(snapshot_column, "school_status")
            .annotate(n=Sum("children"))
            .order_by()
        )
    return (
        _school_age(user)
        .exclude(**{f"{column}__isnull": True})
        .values_list(column, "school_status")
        .annotate(n=Count("id"))
        .order_by()
    )


def counts_by_village(user: Any, *, live: bool = False) -> list[CountRow]:
    """Compulsory-age children in the user's scope per village, by school status (from the
    county snapshot for county-wide scopes unless `live`)."""
    return _counts_by_village(user, None if live else _snapshot_counties(user))


def counts_by_school(user: Any, *, live: bool = False) -> list[CountRow]:
    """Compulsory-age children in the user's scope per school they attend (schools the user
    cannot see are left out rather than shown unnamed)."""
    return _counts_by_school(user, None if live else _snapshot_counties(user))


def _counts_by_village(user: Any, counties: list[int] | None) -> list[CountRow]:
    labels = dict(Region.objects.visible_to(user).filter(level="village").values_list("id", "name"))
    return _rows(_grouped(user, "village_id", counties), labels)


def _counts_by_school(user: Any, counties: list[int] | None) -> list[CountRow]:
    labels = dict(School.objects.visible_to(user).values_list("id", "name"))
    rows = _rows(_grouped(user, "current_school_id", counties), labels)
    return [r for r in rows if r.key in labels]


def with_open_cases(
    rows: list[CountRow], cases: Iterable[tuple[int | None, str, int]]
) -> list[CountRow]:
    """The rows with the open cases of each place, (place, label, n) as the case selectors
    group them. A place with cases and no children counted (the cases of children who left
    no school, 无学籍) gets a row of its own, so that the column adds up to the open cases."""
    by_key = {row.key: row for row in rows}
    extra = []
    for key, label, n in cases:
        row = by_key.get(key)
        if row is None:
            row = CountRow(key=key, label=label)
            extra.append(row)
        row.open_cases += n
    return rows + sorted(extra, key=lambda r: (r.key is None, r.label))


def home_counts(user: Any) -> HomeCounts:
    """Counts of compulsory-age children in the user's scope, by village and by school."""
    counties = _snapshot_counties(user)
    by_village = _counts_by_village(user, counties)
    by_school = _counts_by_school(user, counties)
    total = CountRow(key=None, label="")
    for row in by_village:
        total.total += row.total
        total.in_school += row.in_school
        total.suspended += row.suspended
        total.not_enrolled += row.not_enrolled
    if counties is not None:
        snapshots = list(CountSnapshot.objects.filter(county_id__in=counties))
        return HomeCounts(
            total=total,
            by_village=by_village,
            by_school=by_school,
            registered=sum(s.registered for s in snapshots),
            duplicate_ids=sum(s.duplicate_ids for s in snapshots),
            as_of=min((s.refreshed_at for s in snapshots), default=None),
            stale=len(snapshots) < len(counties)
            or any(s.is_stale or not snapshot_is_current(s) for s in snapshots),
        )
    visible = Child.objects.visible_to(user).filter(is_deceased=False)
    return HomeCounts(
        total=total,
        by_village=by_village,
        by_school=by_school,
        registered=visible.count(),
        duplicate_ids=duplicate_id_count(user),
    )


def _shared_id_numbers(user: Any) -> QuerySet[Child]:
    """The ID numbers (their hashes) that more than one living child in scope carries: the
    one definition of the home page's figure, the county snapshot's and the list's."""
    return (
        Child.objects.visible_to(user)
        .filter(is_deceased=False)
        .exclude(id_number_hash="")
        .values("id_number_hash")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )


def duplicate_id_count(user: Any) -> int:
    return int(_shared_id_numbers(user).count())


def duplicate_id_children(user: Any) -> QuerySet[Child]:
    """Living children in scope who share an ID number with another child in scope: reported,
    never merged, because a shared number is as often a typing error as the same child
    twice."""
    return (
        Child.objects.visible_to(user)
        .filter(
            is_deceased=False, id_number_hash__in=_shared_id_numbers(user).values("id_number_hash")
        )
        .select_related("village", "current_school")
        .order_by("id_number_hash", "name", "id")
    )


def merged_into(user: Any, public_id: Any) -> Child | None:
    """The child a merged record (its public id) is now, when the user may see it."""
    try:
        uid = _parse_uuid(public_id)
    except Http404:
        return None
    kept_id = (
        Child.records.filter(public_id=uid)
        .exclude(merged_into=None)
        .values_list("merged_into_id", flat=True)
        .first()
    )
    if kept_id is None:
        return None
    found: Child | None = Child.objects.visible_to(user).filter(pk=kept_id).first()
    return found


def siblings(user: Any, child: Child) -> tuple[list[Child], int]:
    """同户儿童: the household's other children the user may see, and how many others there
    are (a teacher sees her class, the 残联 its disabled children: "另有 2 名" for the rest)."""
    if not child.household_id:
        return [], 0
    visible = Child.objects.visible_to(user).filter(pk=OuterRef("pk"))
    everyone = list(
        Child.objects.filter(household_id=child.household_id)
        .exclude(pk=child.pk)
        .annotate(in_scope=Exists(visible))
        .only("public_id", "name", "birth_date", "school_status")
    )
    shown = [s for s in everyone if s.in_scope]
    return shown, len(everyone) - len(shown)


def child_detail(child: Child) -> dict[str, Any]:
    enrollments = list(
        Enrollment.objects.filter(child=child)
        .select_related("school")
        .prefetch_related("events", "events__other_school")
    )
    return {
        "guardians": list(child.guardians.all()),
        "enrollments": enrollments,
        # The records merged into this one (one record per child), and what the lists say
        # of the child differently.
        "merges": list(
            ChildMerge.objects.filter(kept=child, status=ChildMerge.Status.DONE).select_related(
                "merged"
            )
        ),
        "discrepancies": Discrepancy.objects.filter(
            child=child, status=Discrepancy.Status.OPEN
        ).count(),
        "siblings": [],
        "siblings_hidden": 0,
    }


# --- discrepancies (信息不一致) -----------------------------------------------------------------


def discrepancies(
    user: Any,
    *,
    status: str = "open",
    item: str = "",
    source: str = "",
    query: str = "",
    area: Region | None = None,
) -> QuerySet[Discrepancy]:
    """The discrepancies of the children in the user's scope, filtered as the page asks.
    `user` None is the shell (the instance's own key): every child, of `area` when given."""
    found = Discrepancy.objects.all() if user is None else Discrepancy.objects.visible_to(user)
    if area is not None:
        column = "child__township" if area.level == Region.Level.TOWNSHIP else "child__county"
        found = found.filter(**{column: area})
    if status in Discrepancy.Status.values:
        found = found.filter(status=status)
    if item in Discrepancy.Item.values:
        found = found.filter(item=item)
    if source in Discrepancy.Source.values:
        found = found.filter(source=source)
    if query:
        found = found.filter(child__name__contains=query.strip())
    return found.select_related("child__village", "child__group", "child__current_school").order_by(
        "child__current_school__name", "child__current_class", "child__name", "child_id", "item"
    )


def access_discrepancy(user: Any, public_id: str) -> Discrepancy:
    """One discrepancy of a child the user sees; 404 for one that is not (or not theirs)."""
    found = (
        Discrepancy.objects.visible_to(user)
        .select_related("child")
        .filter(public_id=_parse_uuid(public_id))
        .first()
    )
    if found is None:
        raise _not_found()
    return found


DISCREPANCY_HEADERS = (
    gettext_lazy("序号"),
    gettext_lazy("姓名"),
    gettext_lazy("身份证号"),
    gettext_lazy("学籍号"),
    gettext_lazy("项目"),
    gettext_lazy("户籍"),
    gettext_lazy("学籍"),
    gettext_lazy("其他来源"),
    gettext_lazy("学校"),
    gettext_lazy("年级"),
    gettext_lazy("班级"),
    gettext_lazy("村"),
    gettext_lazy("组/屯"),
    gettext_lazy("状态"),
    gettext_lazy("确认的值"),
    gettext_lazy("发现日期"),
)


def discrepancy_sides(d: Discrepancy) -> tuple[str, str, str]:
    """(户籍, 学籍, other lists) of a discrepancy, as a 学籍信息变更 request compares them:
    each value under the list it came from."""
    roster, enrolled, other = "", "", []
    for source, value in ((d.registry_source, d.registry_value), (d.source, d.value)):
        if source == Discrepancy.Source.ROSTER and not roster:
            roster = value
        elif source == Discrepancy.Source.ENROLLMENT and not enrolled:
            enrolled = value
        else:
            other.append(f"{Discrepancy.Source(source).label}：{value}")
    return roster, enrolled, "；".join(other)


def discrepancy_rows(found: QuerySet[Discrepancy], *, full_ids: bool) -> Iterator[list[Any]]:
    """The rows of the discrepancy list (DISCREPANCY_HEADERS): whole ID numbers and 学籍号
    only with `full_ids` (the caller logs the export)."""
    n = 0
    for chunk in _chunks(found.iterator(chunk_size=2000), 2000):
        numbers = dict(
            Enrollment.objects.filter(
                child_id__in={d.child_id for d in chunk}, is_current=True
            ).values_list("child_id", "student_number_enc" if full_ids else "student_number_masked")
        )
        for d in chunk:
            n += 1
            child = d.child
            number = numbers.get(child.pk, "")
            roster, enrolled, other = discrepancy_sides(d)
            yield [
                n,
                child.name,
                crypto.decrypt(child.id_number_enc) if full_ids else child.id_number_masked,
                crypto.decrypt(number) if full_ids and number else number,
                str(d.get_item_display()),
                roster,
                enrolled,
                other,
                child.current_school.name if child.current_school else "",
                child.current_grade or "",
                child.current_class,
                child.village.name,
                child.group.name if child.group else "",
                str(d.get_status_display()),
                d.resolved_value,
                times.day_text(d.created_at),
            ]


def _chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
