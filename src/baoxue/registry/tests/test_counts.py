"""County-wide counts come from a snapshot that writes keep fresh through a background task."""

from __future__ import annotations

from datetime import date

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from baoxue.registry import services
from baoxue.registry.counts import counts_refresh
from baoxue.registry.models import CountSnapshot
from baoxue.registry.selectors import home_counts


def test_county_home_reads_the_snapshot_not_the_children(world, persona):
    with CaptureQueriesContext(connection) as queries:
        counts = home_counts(persona("county"))
    assert not any("registry_child" in q["sql"] for q in queries.captured_queries)
    assert counts.total.total == 6
    assert {r.label: r.total for r in counts.by_village} == {
        "乌岭村": 3,
        "高岜村": 2,
        "江门村": 1,
    }
    assert counts.as_of is not None and not counts.stale


def test_township_home_counts_live(world, persona):
    with CaptureQueriesContext(connection) as queries:
        counts = home_counts(persona("office"))
    assert any("registry_child" in q["sql"] for q in queries.captured_queries)
    assert counts.as_of is None


def test_a_write_schedules_a_refresh_after_commit(
    world, persona, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        child = services.child_create(
            actor=None, name="新生", village=world.village_c, birth_date=date(2016, 1, 1)
        )
        services.enrollment_create(actor=None, child=child, school=world.school_z, grade=3)
    # One refresh per county, however many writes came before it ran.
    assert len(callbacks) == 1
    counts = home_counts(persona("county"))
    assert counts.total.total == 7
    assert {r.label: r.in_school for r in counts.by_school}["安陲乡中心小学"] == 2


def test_stale_snapshot_is_announced(world, login):
    CountSnapshot.objects.update(is_stale=True)
    html = login("county").get(reverse("registry:home")).content.decode()
    assert "正在重新统计" in html
    counts_refresh(county_id=world.county.pk)
    html = login("county").get(reverse("registry:home")).content.decode()
    assert "正在重新统计" not in html and 'data-testid="counts-as-of"' in html


def test_snapshot_counts_match_live_counts(world, persona):
    """The same numbers both ways: the snapshot is an optimisation, not another truth."""
    from baoxue.registry.selectors import counts_by_school, counts_by_village

    county = persona("county")
    assert counts_by_village(county) == counts_by_village(county, live=True)
    assert counts_by_school(county) == counts_by_school(county, live=True)
    assert len(counts_by_village(county)) == 3
