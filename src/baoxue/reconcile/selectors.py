"""Reads of the reconciliation (比对): a run's results in the user's scope, counted by category
and place, and the latest run of each area. The run page, its list, the run list and the home
page all count through here, so a number and the list it opens are the same rows."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.http import Http404

from baoxue.reconcile import engine
from baoxue.reconcile.models import CATEGORY_LABELS, MatchReview, ReconciliationRun, RunChild
from baoxue.registry.models import Child, ChildMerge

# The list's category filter meaning every category (the 合计 of a row).
ALL = "all"
# A village or school filter meaning "none" (a result without a school).
NONE = "none"
# The categories the home page and the run list show: the children a run says need follow-up
# (each gets a case), in the order of the run page.
FOLLOW_UP = [c for c in engine.CATEGORIES if c in engine.CASE_CATEGORIES]
# Always shown as columns of the per-village and per-school tables; any other category a run
# has is shown too, so that a row's 合计 is the sum of its columns.
TABLE_CATEGORIES = [
    engine.IN_SCHOOL,
    engine.ELSEWHERE,
    engine.SUSPENDED,
    engine.TO_VERIFY,
    engine.SUSPECTED,
    engine.NEVER_ENROLLED,
    engine.LIST_MISSING,
]


def _uuid(public_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(public_id))
    except ValueError:
        raise Http404 from None


def access_run(user: Any, public_id: str) -> ReconciliationRun:
    """A run the user may see (of the user's area, or of the township around it); 404 else."""
    run = ReconciliationRun.objects.visible_to(user).filter(public_id=_uuid(public_id)).first()
    if run is None:
        raise Http404
    return run


def run_history(user: Any, *, limit: int = 50) -> list[ReconciliationRun]:
    """The latest runs the user may see, newest first."""
    runs = ReconciliationRun.objects.visible_to(user).select_related("area", "started_by")
    return list(runs[:limit])


def later_run(run: ReconciliationRun) -> ReconciliationRun | None:
    """The area's latest finished run when it is a later one than `run` (else None)."""
    return (
        ReconciliationRun.objects.filter(
            area_id=run.area_id, status=ReconciliationRun.Status.DONE, pk__gt=run.pk
        )
        .order_by("-pk")
        .first()
    )


def pending_reviews(
    user: Any, *, status: str | None = MatchReview.Status.PENDING
) -> QuerySet[MatchReview]:
    """Pairs of records in the user's scope that a person must say are one child or two
    (`status` None: decided ones too)."""
    found = MatchReview.objects.visible_to(user)
    return found if status is None else found.filter(status=status)


def access_merge(user: Any, public_id: str) -> ChildMerge:
    """A merge of two records whose kept child the user sees; 404 else."""
    merge = (
        ChildMerge.objects.filter(
            public_id=_uuid(public_id), kept__in=Child.objects.visible_to(user)
        )
        .select_related("kept")
        .first()
    )
    if merge is None:
        raise Http404
    return merge


def results(user: Any, run: ReconciliationRun) -> QuerySet[RunChild]:
    """The run's results for the children in the user's scope."""
    return RunChild.objects.visible_to(user).filter(run=run)


def result_list(
    user: Any, run: ReconciliationRun, *, category: str = "", village: str = "", school: str = ""
) -> QuerySet[RunChild]:
    """The run page's list: one category, every category (ALL) or, by default, the children
    who need follow-up; of one village or school (or of none, NONE)."""
    found = results(user, run)
    if category == ALL:
        pass
    elif category in engine.CATEGORIES:
        found = found.filter(category=category)
    else:
        found = found.filter(category__in=FOLLOW_UP)
    found = _place(found, "village_id", village)
    found = _place(found, "school_id", school)
    return found.select_related("child", "village", "school").order_by(
        "village__name", "child__name", "pk"
    )


def _place(found: QuerySet[RunChild], column: str, value: str) -> QuerySet[RunChild]:
    if value == NONE:
        return found.filter(**{column: None})
    if value.isdigit():
        return found.filter(**{column: int(value)})
    return found


def category_counts(
    user: Any, runs: Iterable[ReconciliationRun], categories: Iterable[str] | None = None
) -> dict[int, dict[str, int]]:
    """Per run (by id): the user's results by category, every category present (0 when none).
    Restricted to `categories` when given: the (run, category) index then reads only those
    rows, so a county's run of a million children costs its few thousand to follow up."""
    wanted = list(categories) if categories is not None else list(engine.CATEGORIES)
    ids = [run.pk for run in runs]
    counts: dict[int, dict[str, int]] = {pk: dict.fromkeys(wanted, 0) for pk in ids}
    if not ids:
        return counts
    found = RunChild.objects.visible_to(user).filter(run_id__in=ids)
    if categories is not None:
        found = found.filter(category__in=wanted)
    for run_id, category, n in (
        found.values_list("run_id", "category").annotate(n=Count("pk")).order_by()
    ):
        counts[run_id][category] = n
    return counts


def table_categories(counts: dict[str, int]) -> list[str]:
    """The columns of the per-place tables: the usual ones and every other category the run
    has for the user, so that no row's 合计 counts children the row does not show."""
    return [c for c in engine.CATEGORIES if c in TABLE_CATEGORIES or counts.get(c)]


def results_table(
    user: Any, run: ReconciliationRun, by: str, categories: list[str]
) -> list[dict[str, Any]]:
    """The results per village (`by` "village") or per school ("school": results without a
    school are left out): each row's 合计 and its count per category, in `categories`."""
    key, label = f"{by}_id", f"{by}__name"
    found = results(user, run)
    if by == "school":
        found = found.exclude(school=None)
    aggregates = {c: Count("pk", filter=Q(category=c)) for c in categories}
    rows = found.values(key, label).annotate(total=Count("pk"), **aggregates).order_by(label)
    return [
        {
            "id": r[key] if r[key] is not None else NONE,
            "name": r[label] or "—",
            "total": r["total"],
            "cells": [(c, r[c]) for c in categories],
        }
        for r in rows
    ]


@dataclass
class LatestRun:
    run: ReconciliationRun
    # The children to follow up in the user's scope, by category (FOLLOW_UP order).
    counts: list[tuple[str, str, int]]


def latest_runs(user: Any) -> list[LatestRun]:
    """The latest finished run of each area the user sees, with the children it says need
    follow-up in the user's scope. A run about a past school year (report only) is not the
    latest word on anyone."""
    done = (
        ReconciliationRun.objects.visible_to(user)
        .filter(status=ReconciliationRun.Status.DONE)
        # has_key too: without it, a run whose settings lack the key compares NULL and
        # SQLite's NOT(NULL) would leave it out.
        .exclude(settings__has_key="report_only", settings__report_only=True)
        .order_by()
    )
    latest = done.values("area_id").annotate(last=Max("pk")).values("last")
    runs = list(
        ReconciliationRun.objects.filter(pk__in=latest)
        .select_related("area")
        .order_by("area__path", "pk")
    )
    counts = category_counts(user, runs, FOLLOW_UP)
    return [
        LatestRun(
            run=run,
            counts=[(c, str(CATEGORY_LABELS[c]), counts[run.pk][c]) for c in FOLLOW_UP],
        )
        for run in runs
    ]


def latest_children(area: Any, category: str) -> QuerySet[RunChild, int]:
    """The ids of the children the area's latest finished 比对 (not a past year's report) put
    in `category`, as a subquery: a home-visit campaign's 待核实 and 请长假 lists."""
    latest = (
        ReconciliationRun.objects.filter(area=area, status=ReconciliationRun.Status.DONE)
        .exclude(settings__has_key="report_only", settings__report_only=True)
        .order_by("-pk")
        .values("pk")[:1]
    )
    return RunChild.objects.filter(run__in=latest, category=category).values_list(
        "child_id", flat=True
    )


# --- what the 比对 adds to the registry's pages (registry.pages, declared in apps.py) ----------


def home_part(user: Any, counts: Any) -> dict[str, Any]:
    """The front page: what the latest 比对 of each area says, named with its date."""
    return {"runs": latest_runs(user)}


def child_part(user: Any, child: Any) -> dict[str, Any]:
    """A child's page: the latest finished 比对's word on the child."""
    reconciled = (
        RunChild.objects.filter(child=child, run__status="done")
        .select_related("run")
        .order_by("-run_id")
        .first()
    )
    return {"reconciled": reconciled}
