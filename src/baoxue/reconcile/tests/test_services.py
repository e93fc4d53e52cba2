"""Reconciliation over the registry: categories, cases (idempotent), review queue, reruns."""

from __future__ import annotations

from datetime import date

import pytest
from django.core.exceptions import PermissionDenied

from baoxue.cases.models import Case
from baoxue.reconcile import engine
from baoxue.reconcile.models import MatchReview, ReconciliationRun, RunChild
from baoxue.reconcile.services import run_create, run_execute
from baoxue.registry import services as registry
from baoxue.registry.models import Child, Enrollment

TODAY = date(2026, 11, 29)


def _run(persona, name="office"):
    run = run_create(actor=persona(name))
    return run_execute(run, today=TODAY)


def _categories(run):
    return dict(RunChild.objects.filter(run=run).values_list("child__name", "category"))


def _xueji_only(world, name, birth, sex, village, school, grade=3, id_number=""):
    """A child known only from a 学籍 file (not on the roster), as the 学籍 import makes one."""
    child = registry.build_child(
        name=name,
        village=village,
        birth_date=birth,
        sex=sex,
        id_number=id_number,
        on_roster=False,
    )
    child.save()
    registry.enrollment_create(actor=None, child=child, school=school, grade=grade)
    return child


def test_first_run_categorises_every_child_and_opens_cases(world, persona):
    run = _run(persona)
    assert run.status == ReconciliationRun.Status.DONE and run.seconds is not None
    assert _categories(run) == {
        "吴俊辉": engine.IN_SCHOOL,
        "龙雨欣": engine.IN_SCHOOL,
        "伍军辉": engine.IN_SCHOOL,
        "杨光明": engine.TO_VERIFY,
        "石丽": engine.TO_VERIFY,
    }
    assert run.counts[engine.TO_VERIFY] == 2 and run.counts[engine.IN_SCHOOL] == 3
    cases = Case.objects.filter(source_run=run)
    assert sorted(c.child.name for c in cases) == ["杨光明", "石丽"]
    assert {c.kind for c in cases} == {Case.Kind.TO_VERIFY}
    assert run.changes["new"] == 2 and run.changes["cases_opened"] == 2
    # 覃明 lives in the other township: not part of this run
    assert not RunChild.objects.filter(run=run, child__name="覃明").exists()


def test_rerun_never_duplicates_a_case(world, persona):
    _run(persona)
    second = _run(persona)
    assert Case.objects.filter(child__name="石丽").count() == 1
    assert second.changes == {
        "previous": second.changes["previous"],
        "new": 0,
        "resolved": 0,
        "cases_opened": 0,
        "cases_updated": 0,
        "merged": 0,
    }


def test_a_xueji_record_with_a_homophone_name_is_linked_and_the_child_is_in_school(world, persona):
    _run(persona)
    shili = Child.objects.get(name="石丽")
    _xueji_only(world, "石莉", shili.birth_date, "F", world.village_b, world.school_x)
    run = _run(persona)
    result = RunChild.objects.get(run=run, child=shili)
    assert result.category == engine.IN_SCHOOL and result.link_method == engine.NAME
    assert result.linked_child.name == "石莉" and result.school == world.school_x
    assert run.changes["resolved"] == 1
    # The 学籍-only record is carried by its roster partner: not counted twice.
    assert not RunChild.objects.filter(run=run, child__name="石莉").exists()


def test_a_damaged_number_on_the_roster_is_repaired_against_the_xueji(world, persona):
    yang = Child.objects.get(name="杨光明")
    from baoxue.core.crypto import decrypt
    from baoxue.core.idnumbers import check_character

    bad = decrypt(yang.id_number_enc)
    good = bad[:17] + check_character(bad[:17])
    _xueji_only(world, "杨光明", yang.birth_date, "", world.village_a, world.school_x, 6, good)
    run = _run(persona)
    result = RunChild.objects.get(run=run, child=yang)
    assert (result.category, result.link_method) == (engine.IN_SCHOOL, engine.ID_REPAIR)


def test_a_finished_case_is_not_reopened_without_new_evidence(world, persona):
    _run(persona)
    case = Case.objects.get(child__name="石丽")
    Case.objects.filter(pk=case.pk).update(status=Case.Status.DISMISSED)
    _run(persona)
    assert Case.objects.filter(child__name="石丽").count() == 1  # same evidence: stays shut
    # New evidence: she is enrolled, then the 学籍 ends without a transfer.
    shili = Child.objects.get(name="石丽")
    e = registry.enrollment_create(actor=None, child=shili, school=world.school_x, grade=5)
    Enrollment.objects.filter(pk=e.pk).update(status=Enrollment.Status.LOST)
    run = _run(persona)
    assert RunChild.objects.get(run=run, child=shili).category == engine.SUSPECTED
    latest = Case.objects.filter(child=shili).order_by("-id").first()
    assert latest.kind == Case.Kind.DROPPED_OUT and latest.is_open
    assert Case.objects.filter(child=shili).count() == 2  # the history stays


def test_same_name_twins_go_to_review_and_a_decision_is_remembered(world, persona):
    birth = date(2015, 4, 4)
    for _ in range(2):
        registry.child_create(
            actor=None, name="韦小芳", village=world.village_b, birth_date=birth, sex="F"
        )
    xueji = _xueji_only(world, "韦小芳", birth, "F", world.village_b, world.school_x)
    run = _run(persona)
    pending = MatchReview.objects.filter(right=xueji, status=MatchReview.Status.PENDING)
    assert pending.count() == 2 and run.links["review"] == 2
    chosen = pending.first()
    chosen.status = MatchReview.Status.CONFIRMED
    chosen.save()
    again = _run(persona)
    result = RunChild.objects.get(run=again, child=chosen.left)
    assert (result.category, result.link_method) == (engine.IN_SCHOOL, engine.DECIDED)
    assert MatchReview.objects.filter(right=xueji).count() == 2  # asked once, not again


@pytest.mark.parametrize("name", ["village_a", "principal_x", "teacher_x", "county", "nobody"])
def test_only_the_township_office_runs_it(world, persona, name):
    with pytest.raises(PermissionDenied):
        run_create(actor=persona(name), area=world.township)
    assert not ReconciliationRun.objects.exists()


def test_a_second_start_while_running_returns_the_same_run(world, persona):
    first = run_create(actor=persona("office"))
    assert run_create(actor=persona("office")).pk == first.pk


def test_a_run_whose_worker_died_does_not_block_the_next(world, persona):
    from datetime import timedelta

    from django.utils import timezone

    stuck = run_create(actor=persona("office"))
    ReconciliationRun.objects.filter(pk=stuck.pk).update(
        status=ReconciliationRun.Status.RUNNING, created_at=timezone.now() - timedelta(hours=3)
    )
    fresh = run_create(actor=persona("office"))
    assert fresh.pk != stuck.pk
    stuck.refresh_from_db()
    assert stuck.status == ReconciliationRun.Status.FAILED and "中断" in stuck.error


def test_a_long_run_that_still_beats_is_not_given_up_and_a_silent_one_is(world, persona, client):
    import time as clock
    from datetime import timedelta

    from django.core.cache import cache
    from django.urls import reverse
    from django.utils import timezone

    from baoxue.core import jobs
    from baoxue.core.progress import STALE_SECONDS

    run = run_create(actor=persona("office"))
    ReconciliationRun.objects.filter(pk=run.pk).update(
        status=ReconciliationRun.Status.RUNNING, created_at=timezone.now() - timedelta(hours=3)
    )
    run.refresh_from_db()
    beat = f"{run.progress_key}:alive"
    cache.set(beat, clock.time() - 20, 3600)  # three hours on, and beating: a big county
    assert not jobs.give_up_if_stopped(run)
    assert run_create(actor=persona("office")).pk == run.pk  # still one run at a time

    cache.set(beat, clock.time() - STALE_SECONDS - 5, 3600)  # silent for five minutes: gone
    ReconciliationRun.objects.filter(pk=run.pk).update(created_at=timezone.now())
    client.force_login(persona("office"))
    page = client.get(reverse("reconcile:run_detail", args=[run.public_id])).content.decode()
    run.refresh_from_db()
    assert run.status == ReconciliationRun.Status.FAILED
    assert "比对中断" in run.error and "比对中断" in page
    assert run_create(actor=persona("office")).pk != run.pk


def test_a_queued_run_waits_for_its_worker(world, persona):
    from baoxue.core import jobs

    run = run_create(actor=persona("office"))
    assert run.status == ReconciliationRun.Status.QUEUED
    assert not jobs.give_up_if_stopped(run)  # no beat yet: waiting for the worker, not gone
