"""Per-village counts for county-wide scopes, kept in VillageCount and refreshed in the
background after writes.

A township has a few tens of thousands of children, which a grouped count handles in a few
milliseconds; a county or province has up to a million, which it does not. So scopes at county
level or above read the snapshot, and the page says when it was taken.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from baoxue.core.policy import compulsory_birth_range, cutoff_date
from baoxue.registry import tasks  # tasks imports this one: used when called
from baoxue.registry.models import Child, CountSnapshot, VillageCount


def compulsory_age_q() -> Q:
    """适龄: alive and of compulsory age on this school year's cut-off. The one definition the
    live counts, this snapshot and the child list's 适龄 filter share, so that a count and the
    list it opens hold the same children."""
    earliest, latest = compulsory_birth_range()
    return Q(is_deceased=False, birth_date__gte=earliest, birth_date__lte=latest)


def counts_refresh(*, county_id: int) -> CountSnapshot:
    """Recompute one county's snapshot; readers see the old one or the new one, never half."""
    now = timezone.now()
    with transaction.atomic():
        snapshot, _ = CountSnapshot.objects.get_or_create(
            county_id=county_id, defaults={"cutoff": cutoff_date(), "refreshed_at": now}
        )
        # Cleared before counting: a write that lands meanwhile marks it stale again and
        # schedules the next refresh.
        CountSnapshot.objects.filter(pk=snapshot.pk).update(is_stale=False)
    alive = Child.objects.filter(county_id=county_id, is_deceased=False)
    rows = (
        alive.filter(compulsory_age_q())
        .values_list("village_id", "current_school_id", "school_status")
        .annotate(n=Count("id"))
        .order_by()
    )
    fresh = [
        VillageCount(
            village_id=village,
            county_id=county_id,
            school_id=school,
            school_status=status,
            children=n,
        )
        for village, school, status, n in rows
    ]
    registered = alive.count()
    duplicates = (
        alive.exclude(id_number_hash="")
        .values("id_number_hash")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    with transaction.atomic():
        VillageCount.objects.filter(county_id=county_id).delete()
        VillageCount.objects.bulk_create(fresh, batch_size=5000)
        CountSnapshot.objects.filter(pk=snapshot.pk).update(
            cutoff=cutoff_date(),
            refreshed_at=now,
            registered=registered,
            duplicate_ids=duplicates,
        )
    snapshot.refresh_from_db()
    return snapshot


def counts_mark_stale(*, county_ids: set[int | None]) -> None:
    """Called by every write that changes children: schedule a refresh after the commit,
    once per county however many writes come before it runs."""
    for county_id in county_ids:
        if county_id is None:
            continue
        flipped = CountSnapshot.objects.filter(county_id=county_id, is_stale=False).update(
            is_stale=True
        )
        missing = not CountSnapshot.objects.filter(county_id=county_id).exists()
        if flipped or missing:
            transaction.on_commit(
                lambda cid=county_id: tasks.refresh_county_counts.enqueue(cid)  # type: ignore[misc]
            )


def snapshot_is_current(snapshot: CountSnapshot) -> bool:
    """A snapshot from before this school year's cut-off counts the wrong birth years."""
    return snapshot.cutoff == cutoff_date()
