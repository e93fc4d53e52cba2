"""The run's figures: counted in the user's scope, from the latest run of each area, and each
one the size of the list it opens."""

from __future__ import annotations

from datetime import date

from django.urls import reverse
from django.utils import timezone

from baoxue.reconcile import engine, selectors
from baoxue.reconcile.models import ReconciliationRun
from baoxue.reconcile.services import run_create, run_execute


def _run(persona, as_of=None):
    return run_execute(run_create(actor=persona("office"), as_of=as_of))


def test_the_latest_run_of_the_area_and_not_a_report_about_a_past_year(world, persona):
    first = _run(persona)
    second = _run(persona)
    last_year = date(timezone.localdate().year - 2, 10, 1)
    report = _run(persona, as_of=last_year)
    assert report.settings["report_only"]
    (latest,) = selectors.latest_runs(persona("office"))
    assert latest.run == second != first
    # 石丽 and 杨光明 (no 学籍) are 待核实 in 培秀苗族乡; in 乌岭村 only 杨光明.
    assert dict((c, n) for c, _label, n in latest.counts)[engine.TO_VERIFY] == 2
    (village,) = selectors.latest_runs(persona("village_a"))
    assert dict((c, n) for c, _label, n in village.counts)[engine.TO_VERIFY] == 1
    # A run from before the settings said so is still somebody's latest.
    ReconciliationRun.objects.filter(pk=second.pk).update(settings={})
    assert selectors.latest_runs(persona("office"))[0].run == second
    assert selectors.latest_runs(persona("nobody")) == []


def test_a_rows_total_is_the_sum_of_its_columns_and_opens_them_all(world, persona, client):
    run = _run(persona)
    client.force_login(persona("office"))
    url = reverse("reconcile:run_detail", args=[run.public_id])
    page = client.get(url)
    for row in page.context["by_village"] + page.context["by_school"]:
        assert row["total"] == sum(n for _c, n in row["cells"])
        listed = client.get(url, {"category": selectors.ALL, "village": row["id"]})
        if row in page.context["by_village"]:
            assert listed.context["page"].paginator.count == row["total"]
    assert page.context["total"] == sum(n for _c, _l, n in page.context["counts"])
    html = page.content.decode()
    assert f'data-count="{page.context["total"]}"' in html


def test_a_village_sees_its_own_figures_in_the_run_list(world, persona, client):
    run = _run(persona)
    client.force_login(persona("village_a"))
    html = client.get(reverse("reconcile:run_list")).content.decode()
    detail = reverse("reconcile:run_detail", args=[run.public_id])
    # The township's run says 2 待核实; 乌岭村 has one of them.
    assert run.counts[engine.TO_VERIFY] == 2
    assert f'href="{detail}?category=to_verify" data-count="1"' in html
