"""One job lifecycle (core/jobs.py) for imports, 比对 runs and ledger exports: each declares its
states, is given up once when its worker is gone, and its page offers to start it again."""

from __future__ import annotations

import time as clock
from datetime import timedelta

import pytest
from django.apps import apps
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from baoxue.cases.models import LedgerExport
from baoxue.core import jobs
from baoxue.core.models import AuditEvent
from baoxue.core.progress import STALE_SECONDS
from baoxue.reconcile.models import ReconciliationRun
from baoxue.reconcile.services import run_create

JOBS = [m for m in apps.get_models() if issubclass(m, jobs.Job)]


def test_the_three_background_jobs_are_jobs():
    names = {m._meta.label for m in JOBS}
    assert {"imports.ImportBatch", "reconcile.ReconciliationRun", "cases.LedgerExport"} <= names


@pytest.mark.parametrize("model", JOBS, ids=lambda m: m._meta.label)
def test_every_job_declares_its_states_in_its_own_words(model):
    states = {value for value, _label in model._meta.get_field("status").choices}
    assert model.RUNNING and states >= model.RUNNING
    assert states >= model.WAITING
    assert not (model.WAITING & model.RUNNING)
    assert model.FAILED in states
    assert model.STALE_AFTER.total_seconds() > STALE_SECONDS  # silence first, age much later


def _silent_run(persona, *, status=ReconciliationRun.Status.RUNNING):
    run = run_create(actor=persona("office"))
    ReconciliationRun.objects.filter(pk=run.pk).update(
        status=status, created_at=timezone.now() - timedelta(minutes=10)
    )
    run.refresh_from_db()
    cache.set(f"{run.beat_key}:alive", clock.time() - STALE_SECONDS - 5, 3600)
    return run


def test_a_silent_job_is_given_up_once_whoever_asks(world, persona):
    run = _silent_run(persona)
    again = ReconciliationRun.objects.get(pk=run.pk)  # a second page, asking at the same time
    assert jobs.give_up_if_stopped(run)
    assert not jobs.give_up_if_stopped(again)
    assert again.status == ReconciliationRun.Status.FAILED and again.finished_at is not None
    assert "比对中断" in again.error


def test_a_finished_job_is_never_given_up(world, persona):
    run = _silent_run(persona)
    ReconciliationRun.objects.filter(pk=run.pk).update(status=ReconciliationRun.Status.DONE)
    run.refresh_from_db()
    assert not jobs.give_up_if_stopped(run, now=clock.time() + 86400 * 30)
    assert run.status == ReconciliationRun.Status.DONE


def test_a_queued_job_is_given_up_by_age_only_where_it_says_so(world, persona):
    run = run_create(actor=persona("office"))  # queued: waits STALE_AFTER, then given up
    later = clock.time() + ReconciliationRun.STALE_AFTER.total_seconds() + 60
    assert not jobs.give_up_if_stopped(run, now=clock.time() + STALE_SECONDS * 2)
    assert jobs.give_up_if_stopped(run, now=later)
    export = LedgerExport.objects.create(requested_by=persona("office"))  # queued: waits
    assert not jobs.give_up_if_stopped(export, now=later)
    assert export.status == LedgerExport.Status.QUEUED


def test_a_given_up_run_offers_to_run_again_and_the_button_does(world, persona, client):
    run = _silent_run(persona)
    client.force_login(persona("office"))
    page = client.get(reverse("reconcile:run_detail", args=[run.public_id])).content.decode()
    assert 'data-testid="run-message"' in page and 'data-testid="job-retry"' in page
    response = client.post(reverse("reconcile:run_list"), {"area": run.area_id, "as_of": ""})
    fresh = ReconciliationRun.objects.exclude(pk=run.pk).get()
    assert response.status_code == 302 and str(fresh.public_id) in response["Location"]
    # A village sees the township's run but may not start one: told, not offered.
    client.force_login(persona("village_a"))
    page = client.get(reverse("reconcile:run_detail", args=[run.public_id])).content.decode()
    assert "比对中断" in page and 'data-testid="job-retry"' not in page


def test_a_given_up_export_offers_to_export_again_with_its_filters(world, persona, client):
    office = persona("office")
    item = LedgerExport.objects.create(
        requested_by=office, status=LedgerExport.Status.RUNNING, query="state=open"
    )
    cache.set(f"{item.beat_key}:alive", clock.time() - STALE_SECONDS - 5, 3600)
    client.force_login(office)
    page = client.get(reverse("cases:export_detail", args=[item.public_id])).content.decode()
    assert "导出中断" in page and 'data-testid="job-retry"' in page
    assert 'name="query" value="state=open"' in page
    assert not AuditEvent.objects.filter(action__endswith="interrupted").exists()


def test_the_command_line_progress_line_redraws_and_ends(capsys):
    report = jobs.progress_line("比对 reconcile")
    report(0, 4)
    report(2, 4)
    report(4, 4)
    err = capsys.readouterr().err
    assert err.count("\r") == 3 and err.endswith("\n")
    assert "[" + "#" * 15 + "-" * 15 + "] 2/4" in err and "] 4/4" in err
    staged = jobs.staged_progress_line({"load": "读取 load"}, default="比对 reconcile")
    staged("load", 1, 1)
    staged("other", 1, 1)
    err = capsys.readouterr().err
    assert "读取 load [" in err and "比对 reconcile [" in err
