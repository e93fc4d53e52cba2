"""A validation or commit whose worker is gone (killed, restarted, out of memory): the batch
is given back to be run again, nothing is lost, and the old run can no longer write."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date
from datetime import datetime as dt

import pytest
from django.core.cache import cache
from django.urls import reverse

from baoxue.accounts.models import Role, User
from baoxue.accounts.services import Grant
from baoxue.core import jobs, progress
from baoxue.core.progress import STALE_SECONDS, heartbeat, last_beat
from baoxue.imports import services
from baoxue.imports.tests.helpers import ROSTER_HEADER, write_xlsx
from baoxue.imports.tests.test_grants import make_user, roster_row
from baoxue.registry.models import Child
from baoxue.registry.tests.factories import make_id_number


@pytest.fixture
def roster_path(tmp_path):
    rows = [
        roster_row("潘一", make_id_number(date(2015, 1, 1), "M"), "乌岭村"),
        roster_row("潘二", make_id_number(date(2015, 2, 2), "F"), "乌岭村"),
    ]
    return write_xlsx(tmp_path / "r.xlsx", [ROSTER_HEADER, *rows])


def staged(user, path, *, validated=True):
    with path.open("rb") as handle:
        batch = services.batch_upload(
            actor=user, source="roster", handle=handle, filename="户籍.xlsx"
        )
    if validated:
        batch = services.batch_validate(actor=user, batch=batch)
        assert batch.status == "validated", batch.message
    return batch


def beat_at(batch, when):
    """The run's last heartbeat, as if written at `when` (time.time())."""
    cache.set(f"{batch.beat_key}:alive", when, 3600)


def test_a_commit_whose_worker_is_gone_is_given_back_and_its_late_write_is_refused(
    world, login, roster_path, django_capture_on_commit_callbacks
):
    client = login("office")
    user = User.objects.get(username="office")
    batch = staged(user, roster_path)
    before = Child.objects.count()
    attempt = services.batch_start(batch=batch, run="commit")
    assert attempt
    batch.refresh_from_db()
    assert batch.status == "committing" and batch.attempt == attempt

    # Beating: alive, whatever else.
    beat_at(batch, time.time())
    assert not jobs.give_up_if_stopped(batch)
    # The beat stopped five minutes ago: gone.
    beat_at(batch, time.time() - STALE_SECONDS - 1)
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id]))
    batch.refresh_from_db()
    assert batch.status == "validated" and batch.attempt == ""
    text = page.content.decode()
    assert "上次确认导入没有完成" in text and "数据未作任何改动" in text
    assert 'data-testid="commit"' in text
    assert Child.objects.count() == before

    # The old run, if it was only stalled, writes nothing when it wakes.
    services.batch_commit(actor=user, batch=batch, claimed=True, attempt=attempt)
    batch.refresh_from_db()
    assert batch.status == "validated" and Child.objects.count() == before

    # Committed again, by the button: once.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("imports:batch_commit", args=[batch.public_id]))
    batch.refresh_from_db()
    assert batch.status == "committed", batch.message
    assert batch.attempt == "" and Child.objects.count() == before + 2


def test_a_validation_whose_worker_is_gone_goes_back_to_the_mapping(
    world, login, roster_path, django_capture_on_commit_callbacks
):
    client = login("office")
    user = User.objects.get(username="office")
    batch = staged(user, roster_path, validated=False)
    attempt = services.batch_start(batch=batch, run="validate")
    batch.refresh_from_db()
    beat_at(batch, time.time() - STALE_SECONDS - 60)
    # The page polling the progress is told to reload whole (the mapping form is outside).
    poll = client.get(
        reverse("imports:batch_detail", args=[batch.public_id]),
        headers={"HX-Request": "true", "HX-Target": "batch-status"},
    )
    assert poll["HX-Refresh"] == "true"
    batch.refresh_from_db()
    assert batch.status == "uploaded"
    page = client.get(reverse("imports:batch_detail", args=[batch.public_id])).content.decode()
    assert "上次校验没有完成" in page and 'data-testid="mapping-form"' in page

    # The old run's late result is not stored over the batch given back.
    services.batch_validate(actor=user, batch=batch, attempt=attempt)
    batch.refresh_from_db()
    assert batch.status == "uploaded" and batch.rows_total == 0

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("imports:batch_validate", args=[batch.public_id]),
            {f"col_{i}": v for i, v in batch.mapping.items()},
        )
    batch.refresh_from_db()
    assert batch.status == "validated" and batch.rows_created == 2 and batch.message == ""


@pytest.mark.parametrize(
    ("state", "beat_age", "gone"),
    [
        (("READY", None), None, False),  # queued behind another import: waiting, not gone
        (("READY", None), STALE_SECONDS + 1, False),
        (("RUNNING", "just now"), None, False),  # started, not yet beating
        (("RUNNING", "long ago"), None, True),  # started long ago and never beat
        (("RUNNING", "long ago"), 10, False),
        (("RUNNING", "long ago"), STALE_SECONDS + 1, True),
        (("FAILED", "long ago"), 10, False),  # beating: never declared gone
        (("FAILED", "long ago"), None, True),  # ended without finishing the batch
        (("GONE", None), None, True),
        (None, None, False),  # the backend cannot say, and nothing ever beat
        (None, STALE_SECONDS + 1, True),
    ],
)
def test_gone_is_told_from_queued_and_slow(world, roster_path, monkeypatch, state, beat_age, gone):
    user = User.objects.get(username="office")
    batch = staged(user, roster_path)
    services.batch_start(batch=batch, run="commit")
    batch.refresh_from_db()
    now = time.time()
    if state is not None and state[1] is not None:
        started = now - 5 if state[1] == "just now" else now - STALE_SECONDS - 100
        state = (state[0], dt.fromtimestamp(started, tz=UTC))
    monkeypatch.setattr(jobs, "task_state", lambda task_id: state)
    if beat_age is not None:
        beat_at(batch, now - beat_age)
    assert jobs.give_up_if_stopped(batch, now=now) is gone
    batch.refresh_from_db()
    assert batch.status == ("validated" if gone else "committing")


def test_rights_withdrawn_before_the_validation_refuse_the_batch_with_the_reason(world, tmp_path):
    cadre = make_user("cadre_once", Grant(Role.VILLAGE, region=world.village_a))
    path = write_xlsx(
        tmp_path / "r.xlsx",
        [ROSTER_HEADER, roster_row("潘三", make_id_number(date(2015, 3, 3), "M"), "乌岭村")],
    )
    batch = staged(cadre, path, validated=False)
    cadre.role_assignments.all().delete()
    batch = services.batch_validate(actor=cadre, batch=batch)
    assert batch.status == "refused"  # not left "validating" for ever
    assert "权限" in batch.message and batch.attempt == ""
    assert Child.objects.filter(name="潘三").count() == 0


def test_the_heartbeat_beats_from_its_own_thread_and_ends_with_the_block(db):
    key = "import-progress:test"
    seen = []
    with heartbeat(key, every=0.01):
        first = last_beat(key)
        assert first is not None and abs(first - time.time()) < 5
        deadline = time.time() + 5
        while time.time() < deadline:
            now = last_beat(key)
            if now is not None and now > first:
                seen.append(now)
                break
            time.sleep(0.01)
        assert seen, "the beat never renewed"
        assert any(t.name == f"heartbeat {key}" for t in threading.enumerate())
    assert last_beat(key) is None
    assert not any(t.name == f"heartbeat {key}" for t in threading.enumerate())
    assert progress.STALE_SECONDS > 10 * progress.BEAT_SECONDS


def test_a_batch_stranded_before_runs_had_tokens_is_given_back_after_a_day(world, roster_path):
    from datetime import timedelta

    from django.utils import timezone

    from baoxue.imports.models import ImportBatch

    user = User.objects.get(username="office")
    batch = staged(user, roster_path)
    # Left 导入中 by a worker that died before this version: no token, no beat, no task.
    ImportBatch.objects.filter(pk=batch.pk).update(status="committing", attempt="", task_id="")
    batch.refresh_from_db()
    assert not jobs.give_up_if_stopped(batch)  # validated minutes ago: may be running
    ImportBatch.objects.filter(pk=batch.pk).update(
        validated_at=timezone.now() - timedelta(days=1, minutes=1)
    )
    batch.refresh_from_db()
    assert jobs.give_up_if_stopped(batch)
    assert batch.status == "validated" and "上次确认导入没有完成" in batch.message
