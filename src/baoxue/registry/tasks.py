"""Background tasks of the registry."""

from __future__ import annotations

from django_tasks import task

from baoxue.registry import counts


@task()
def refresh_county_counts(county_id: int) -> None:
    counts.counts_refresh(county_id=county_id)
