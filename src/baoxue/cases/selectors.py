"""Reads: a user's caseload, the case list with its filters, one case, the dashboard figures.
Every read starts from `Case.objects.visible_to(user)`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from baoxue.cases.models import Case, Responsibility

S = Case.Status
# The states a list shows by default, and the order the dashboard shows them in.
OPEN_STATES = [S.SUSPECTED, S.VERIFYING, S.CONFIRMED, S.PERSUADING, S.PLACED, S.FOLLOW_UP]
WEEKS = 12
NONE = 0  # a village or school filter meaning "none": e.g. the children never enrolled


def access_case(user: Any, public_id: str) -> Case:
    """The case, if the user may see it; 404 for a missing one and for one out of scope."""
    try:
        uid = uuid.UUID(str(public_id))
    except ValueError:
        raise Http404 from None
    case = (
        Case.objects.visible_to(user)
        .filter(public_id=uid)
        .select_related("child", "child__household", "village", "school", "township")
        .first()
    )
    if case is None:
        raise Http404
    return case


def caseload(user: Any) -> QuerySet[Case]:
    """我的案件: the open cases naming the user now, overdue first."""
    if not getattr(user, "is_authenticated", False):
        return Case.objects.none()
    named = Responsibility.objects.filter(user=user, ended_at=None).values("case_id")
    return (
        Case.objects.open()
        .filter(pk__in=named)
        .select_related("child", "village", "school")
        .order_by("next_due", "-opened_at", "-id")
    )


@dataclass
class CaseFilters:
    status: str = "open"  # "open", "all", "finished" or a status
    kind: str = ""
    village: int | None = None
    school: int | None = None
    overdue: bool = False
    key_group: bool = False
    unassigned: bool = False
    name: str = ""
    opened_since: date | None = None
    closed_since: date | None = None


def filters_from(get: Mapping[str, str]) -> CaseFilters:
    """The list's filters from its query string (unknown or malformed values are ignored)."""

    def number(key: str) -> int | None:
        raw = get.get(key, "")
        if raw == "none":
            return NONE  # the cases with no village / no school
        return int(raw) if raw.isdigit() else None

    def day(key: str) -> date | None:
        try:
            return date.fromisoformat(get.get(key, ""))
        except ValueError:
            return None

    return CaseFilters(
        status=get.get("status", "open") or "open",
        kind=get.get("kind", ""),
        village=number("village"),
        school=number("school"),
        overdue=get.get("overdue") == "1",
        key_group=get.get("key_group") == "1",
        unassigned=get.get("unassigned") == "1",
        name=get.get("name", "").strip()[:20],
        opened_since=day("opened_since"),
        closed_since=day("closed_since"),
    )


def case_list(user: Any, filters: CaseFilters | None = None) -> QuerySet[Case]:
    return apply_filters(Case.objects.visible_to(user), filters or CaseFilters())


def apply_filters(qs: QuerySet[Case], f: CaseFilters) -> QuerySet[Case]:
    if f.status == "open":
        qs = qs.filter(status__in=OPEN_STATES)
    elif f.status == "finished":
        qs = qs.filter(status__in=Case.FINISHED)
    elif f.status in S.values:
        qs = qs.filter(status=f.status)
    if f.kind in Case.Kind.values:
        qs = qs.filter(kind=f.kind)
    if f.village == NONE:
        qs = qs.filter(village=None)
    elif f.village:
        qs = qs.filter(village_id=f.village)
    if f.school == NONE:
        qs = qs.filter(school=None)
    elif f.school:
        qs = qs.filter(school_id=f.school)
    if f.overdue:
        qs = qs.filter(next_due__lt=timezone.localdate(), status__in=OPEN_STATES)
    if f.key_group:
        qs = qs.filter(key_group=True)
    if f.unassigned:
        qs = qs.filter(status__in=OPEN_STATES).filter(unassigned_q())
    if f.name:
        qs = qs.filter(child__name__startswith=f.name.strip())
    if f.opened_since:
        qs = qs.filter(opened_at__gte=_start_of(f.opened_since))
    if f.closed_since:
        qs = qs.filter(closed_at__gte=_start_of(f.closed_since))
    return qs


def unassigned_q() -> Q:
    """Cases missing a named person on either line (the 双线四包 gate's lines)."""
    return Q(both_lines_named=False)


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def dashboard(user: Any, *, today: date | None = None) -> dict[str, Any]:
    """The dashboard's figures in the user's scope, each with the list filter it opens."""
    today = today or timezone.localdate()
    cases = Case.objects.visible_to(user)
    open_cases = cases.filter(status__in=OPEN_STATES)
    by_status = dict(
        open_cases.order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    states = [(s, S(s).label, by_status.get(s, 0)) for s in OPEN_STATES]
    by_village = _grouped(open_cases, "village_id", "village__name")
    by_school = _grouped(open_cases, "school_id", "school__name", _("无学籍"))
    # One pass over the open cases for the three cards.
    cards = open_cases.aggregate(
        overdue=Count("pk", filter=Q(next_due__lt=today)),
        key_group=Count("pk", filter=Q(key_group=True)),
        unassigned=Count("pk", filter=unassigned_q()),
    )
    overdue, key_group, unassigned = cards["overdue"], cards["key_group"], cards["unassigned"]
    weeks = _weeks(cases, today)
    return {
        "states": states,
        "open_total": sum(by_status.values()),
        "by_village": by_village,
        "by_school": by_school,
        "overdue": overdue,
        "key_group": key_group,
        "unassigned": unassigned,
        "weeks": weeks,
        "today": today,
    }


def _grouped(
    qs: QuerySet[Case], key: str, label: str, missing: str = "—"
) -> list[tuple[int | None, str, int]]:
    rows = qs.order_by().values_list(key, label).annotate(n=Count("pk"))
    return sorted(((k, lbl or missing, n) for k, lbl, n in rows), key=lambda r: (-r[2], r[1]))


def _weeks(cases: QuerySet[Case], today: date) -> list[dict[str, Any]]:
    """New and finished cases per week (Monday to Sunday) for the last WEEKS weeks, and the
    open count at the end of each week (the trend toward zero).

    The database counts per local day (at most 7 × WEEKS rows come back), Python sums the days
    into weeks: the same code on SQLite and PostgreSQL, and no row per case."""
    monday = today - timedelta(days=today.weekday())
    first = monday - timedelta(weeks=WEEKS - 1)
    start = _start_of(first)
    before = cases.aggregate(
        opened=Count("pk", filter=Q(opened_at__lt=start)),
        finished=Count("pk", filter=Q(closed_at__lt=start)),
    )
    opened_before, finished_before = before["opened"], before["finished"]
    zone = timezone.get_current_timezone()

    def per_week(column: str) -> list[int]:
        counts = [0] * WEEKS
        days = (
            cases.filter(**{f"{column}__gte": start})
            .order_by()
            .annotate(day=TruncDate(column, tzinfo=zone))
            .values_list("day")
            .annotate(n=Count("pk"))
        )
        for day, n in days:
            index = (day - first).days // 7
            if 0 <= index < WEEKS:
                counts[index] += n
        return counts

    opened = per_week("opened_at")
    finished = per_week("closed_at")
    rows = []
    running = opened_before - finished_before
    for i in range(WEEKS):
        running += opened[i] - finished[i]
        week = first + timedelta(weeks=i)
        rows.append({"week": week, "opened": opened[i], "finished": finished[i], "open": running})
    return rows


def required_levels() -> list[int]:
    return sorted(set(settings.BAOXUE_CASE_REQUIRED_LEVELS))
