"""Reads: a user's caseload, the case list with its filters, one case, the dashboard figures.
Every read starts from `Case.objects.visible_to(user)`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from baoxue.accounts.actors import signed_in
from baoxue.cases.models import Case, Responsibility
from baoxue.registry.selectors import with_open_cases

S = Case.Status
# The states a list shows by default, and the order the dashboard shows them in.
OPEN_STATES = [
    S.SUSPECTED,
    S.VERIFYING,
    S.PENDING_REVIEW,
    S.CONFIRMED,
    S.PERSUADING,
    S.PLACED,
    S.FOLLOW_UP,
]
WEEKS = 12
NONE = 0  # a village or school filter meaning "none": e.g. the children never enrolled


def access_case(user: Any, public_id: str) -> Case:
    """The case, if the user may see it; 404 for a missing one and for one out of scope."""
    try:
        uid = uuid.UUID(str(public_id))
    except ValueError:
        raise Http404 from None
    case = (
        Case.objects.visible_to(user, moved_away=True)
        .filter(public_id=uid)
        .select_related("child", "child__household", "village", "school", "township")
        .first()
    )
    if case is None:
        raise Http404
    return case


def moved_away(user: Any, case: Case) -> bool:
    """The user reads the case only because its child lately moved away from the user's
    village or school: read-only, and without where the child lives now."""
    if case.moved_at is None or not (case.previous_village_id or case.previous_school_id):
        return False
    return not Case.objects.visible_to(user).filter(pk=case.pk).exists()


def moved_away_cases(user: Any) -> QuerySet[Case]:
    """The cases the user's place lately gave up (its child moved away) and may still read."""
    return (
        Case.objects.visible_to(user, moved_away=True)
        .exclude(pk__in=Case.objects.visible_to(user).values("pk"))
        .filter(moved_at__isnull=False)
        .select_related("child", "previous_village", "previous_school")
        .order_by("-moved_at")
    )


def caseload(user: Any) -> QuerySet[Case]:
    """我的案件: the open cases naming the user now or reported by the user, overdue first."""
    if not signed_in(user):
        return Case.objects.none()
    named = Responsibility.objects.filter(user=user, ended_at=None).values("case_id")
    return (
        Case.objects.open()
        .filter(Q(pk__in=named) | Q(reported_by=user))
        .select_related("child", "village", "school")
        .order_by("next_due", "-opened_at", "-id")
    )


@dataclass
class CaseFilters:
    """The case list's filters. Every case figure (the dashboard's, the home page's) is
    counted with the Q these make (`filters_q`) and links to the list with the query string
    they make (`filters_query`): a number and the list it opens are one definition."""

    status: str = "open"  # "open", "all", "finished" or a status
    kind: str = ""
    village: int | None = None
    school: int | None = None
    overdue: bool = False
    key_group: bool = False
    unassigned: bool = False
    name: str = ""
    # Local days, both ends included: opened / finished (排除 or 销号) in that span.
    opened_since: date | None = None
    opened_until: date | None = None
    closed_since: date | None = None
    closed_until: date | None = None
    # Open at the end of that local day: opened by then and not finished by then.
    open_on: date | None = None


# The query string's keys of the date filters, in CaseFilters' order.
_DAYS = ("opened_since", "opened_until", "closed_since", "closed_until", "open_on")


def filters_from(get: Mapping[str, str]) -> CaseFilters:
    """The list's filters from its query string (unknown or malformed values are ignored)."""

    def number(key: str) -> int | None:
        raw = get.get(key, "")
        if raw == "none":
            return NONE  # the cases with no village / no school
        return int(raw) if raw.isdigit() else None

    def day(key: str) -> date | None:
        try:
            found = date.fromisoformat(get.get(key, ""))
        except ValueError:
            return None
        # A hand-typed year 1 or 9999 would overflow the day's bounds in local time.
        return found if 1900 <= found.year <= 9000 else None

    return CaseFilters(
        status=get.get("status", "open") or "open",
        kind=get.get("kind", ""),
        village=number("village"),
        school=number("school"),
        overdue=get.get("overdue") == "1",
        key_group=get.get("key_group") == "1",
        unassigned=get.get("unassigned") == "1",
        name=get.get("name", "").strip()[:20],
        **{key: day(key) for key in _DAYS},
    )


def filters_query(f: CaseFilters) -> str:
    """The list's query string for `f` (what filters_from reads back), without the values
    that are the list's defaults."""
    params: list[tuple[str, str]] = []
    if f.status != "open":
        params.append(("status", f.status))
    if f.kind:
        params.append(("kind", f.kind))
    for key in ("village", "school"):
        value = getattr(f, key)
        if value == NONE:
            params.append((key, "none"))
        elif value:
            params.append((key, str(value)))
    params += [(key, "1") for key in ("overdue", "key_group", "unassigned") if getattr(f, key)]
    if f.name:
        params.append(("name", f.name))
    params += [(key, getattr(f, key).isoformat()) for key in _DAYS if getattr(f, key)]
    return urlencode(params)


def case_list(user: Any, filters: CaseFilters | None = None) -> QuerySet[Case]:
    return apply_filters(Case.objects.visible_to(user), filters or CaseFilters())


def apply_filters(qs: QuerySet[Case], f: CaseFilters) -> QuerySet[Case]:
    return qs.filter(filters_q(f))


def filters_q(f: CaseFilters, *, today: date | None = None) -> Q:
    """The cases `f` selects, as one Q: the list filters with it, the figures count with it
    (Count(filter=...)), so both hold the same cases. `today` decides what is overdue."""
    q = Q()
    if f.status == "open":
        q &= Q(status__in=OPEN_STATES)
    elif f.status == "finished":
        q &= Q(status__in=Case.FINISHED)
    elif f.status in S.values:
        q &= Q(status=f.status)
    if f.kind in Case.Kind.values:
        q &= Q(kind=f.kind)
    if f.village == NONE:
        q &= Q(village=None)
    elif f.village:
        q &= Q(village_id=f.village)
    if f.school == NONE:
        q &= Q(school=None)
    elif f.school:
        q &= Q(school_id=f.school)
    if f.overdue:
        q &= Q(next_due__lt=today or timezone.localdate(), status__in=OPEN_STATES)
    if f.key_group:
        q &= Q(key_group=True)
    if f.unassigned:
        q &= Q(status__in=OPEN_STATES) & unassigned_q()
    if f.name:
        q &= Q(child__name__startswith=f.name.strip())
    if f.opened_since:
        q &= Q(opened_at__gte=_start_of(f.opened_since))
    if f.opened_until:
        q &= Q(opened_at__lt=_start_of(f.opened_until + timedelta(days=1)))
    if f.closed_since:
        q &= Q(closed_at__gte=_start_of(f.closed_since))
    if f.closed_until:
        q &= Q(closed_at__lt=_start_of(f.closed_until + timedelta(days=1)))
    if f.open_on:
        # A finished case has its closed_at (a reopened one has none again).
        end = _start_of(f.open_on + timedelta(days=1))
        q &= Q(opened_at__lt=end) & (Q(closed_at=None) | Q(closed_at__gte=end))
    return q


def unassigned_q() -> Q:
    """Cases missing a named person on either line (the 双线四包 gate's lines)."""
    return Q(both_lines_named=False)


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


# A figure per place: (the place's id, None for none; its name; the number of cases).
Grouped = tuple[int | None, str, int]


def dashboard(user: Any, *, today: date | None = None) -> dict[str, Any]:
    """The dashboard's figures in the user's scope, each counted with the filters of the case
    list it opens (`CaseFilters`): the `*_items` and `queries` carry those lists' query
    strings, so a number never opens more or fewer cases than it says."""
    today = today or timezone.localdate()
    cases = Case.objects.visible_to(user)
    open_cases = cases.filter(filters_q(CaseFilters()))
    by_status = dict(
        open_cases.order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    states = [(s, S(s).label, by_status.get(s, 0)) for s in OPEN_STATES]
    by_village = _grouped(open_cases, "village_id", "village__name")
    by_school = _grouped(open_cases, "school_id", "school__name", _("无学籍"))
    card_filters = {
        "overdue": CaseFilters(overdue=True),
        "key_group": CaseFilters(key_group=True),
        "unassigned": CaseFilters(unassigned=True),
    }
    # One pass over the cases for the three cards.
    cards = cases.aggregate(
        **{key: Count("pk", filter=filters_q(f, today=today)) for key, f in card_filters.items()}
    )
    weeks = _weeks(cases, today)
    return {
        "states": states,
        "open_total": sum(by_status.values()),
        "by_village": by_village,
        "by_school": by_school,
        "overdue": cards["overdue"],
        "key_group": cards["key_group"],
        "unassigned": cards["unassigned"],
        "weeks": weeks,
        "today": today,
        "queries": {
            "open": filters_query(CaseFilters()),
            **{key: filters_query(f) for key, f in card_filters.items()},
        },
        "state_items": [(label, n, filters_query(CaseFilters(status=s))) for s, label, n in states],
        "village_items": [
            (label, n, filters_query(CaseFilters(village=NONE if k is None else k)))
            for k, label, n in by_village
        ],
        "school_items": [
            (label, n, filters_query(CaseFilters(school=NONE if k is None else k)))
            for k, label, n in by_school
        ],
    }


def open_by_place(user: Any) -> tuple[list[Grouped], list[Grouped]]:
    """The open cases in the user's scope by village and by school (None: no school), as the
    dashboard groups them (`_grouped`), from one grouped query; the home page shows them
    beside the children."""
    open_cases = Case.objects.visible_to(user).filter(filters_q(CaseFilters()))
    villages: dict[int | None, list[Any]] = {}
    schools: dict[int | None, list[Any]] = {}
    for village, village_name, school, school_name, n in (
        open_cases.order_by()
        .values_list("village_id", "village__name", "school_id", "school__name")
        .annotate(n=Count("pk"))
    ):
        villages.setdefault(village, [village_name or "—", 0])[1] += n
        schools.setdefault(school, [school_name or _("无学籍"), 0])[1] += n

    def rows(found: dict[int | None, list[Any]]) -> list[Grouped]:
        return sorted(((k, lbl, n) for k, (lbl, n) in found.items()), key=lambda r: (-r[2], r[1]))

    return rows(villages), rows(schools)


def _grouped(qs: QuerySet[Case], key: str, label: str, missing: str = "—") -> list[Grouped]:
    rows = qs.order_by().values_list(key, label).annotate(n=Count("pk"))
    return sorted(((k, lbl or missing, n) for k, lbl, n in rows), key=lambda r: (-r[2], r[1]))


def _weeks(cases: QuerySet[Case], today: date) -> list[dict[str, Any]]:
    """Per week (Monday to Sunday) of the last WEEKS weeks: the cases opened and finished in
    it and those open at its end (the trend toward zero), each with its list's query string.

    Each number is counted with the filters of the list it opens, all in one pass over the
    cases (36 conditional counts): the same code on SQLite and PostgreSQL, no row per case."""
    monday = today - timedelta(days=today.weekday())
    first = monday - timedelta(weeks=WEEKS - 1)
    spans: list[tuple[date, dict[str, CaseFilters]]] = []
    for i in range(WEEKS):
        start = first + timedelta(weeks=i)
        end = start + timedelta(days=6)
        spans.append(
            (
                start,
                {
                    "opened": CaseFilters(status="all", opened_since=start, opened_until=end),
                    "finished": CaseFilters(status="all", closed_since=start, closed_until=end),
                    "open": CaseFilters(status="all", open_on=end),
                },
            )
        )
    counts = cases.aggregate(
        **{
            f"{name}_{i}": Count("pk", filter=filters_q(f))
            for i, (_start, figures) in enumerate(spans)
            for name, f in figures.items()
        }
    )
    return [
        {
            "week": start,
            **{name: counts[f"{name}_{i}"] for name in figures},
            **{f"{name}_query": filters_query(f) for name, f in figures.items()},
        }
        for i, (start, figures) in enumerate(spans)
    ]


def required_levels() -> list[int]:
    return sorted(set(settings.BAOXUE_CASE_REQUIRED_LEVELS))


# --- what the cases add to the registry's pages (registry.pages, declared in apps.py) ---------


def home_part(user: Any, counts: Any) -> dict[str, Any]:
    """The front page: the open cases beside each village's and school's children."""
    by_village, by_school = open_by_place(user)
    counts.by_village = with_open_cases(counts.by_village, by_village)
    counts.by_school = with_open_cases(counts.by_school, by_school)
    return {"open_cases": sum(n for _key, _label, n in by_village)}


def child_part(user: Any, child: Any) -> dict[str, Any]:
    """A child's page: its case files (一人一案), the open one first to act on."""
    cases = list(Case.objects.filter(child=child).order_by("-opened_at", "-id"))
    return {"cases": cases, "open_case": next((c for c in cases if c.is_open), None)}


def named_on_open_case(user: Any, child_id: int) -> bool:
    """The user is named now on an open case of the child, or reported it: they may open the
    child's page (logged as child.viewed_as_named)."""
    if not signed_in(user):
        return False
    cases = Case.objects.open().filter(child_id=child_id)
    return (
        Responsibility.objects.filter(user=user, ended_at=None, case__in=cases).exists()
        or cases.filter(reported_by=user).exists()
    )
