"""Background jobs — an import's validation and commit, a 比对 run, a ledger export — share one
lifecycle, and it lives here:

1. **queued** when the transaction that made the job commits (`enqueue_on_commit`: a task
   queued before its row exists in the worker's eyes would find nothing);
2. **running** with a heartbeat and a progress line (`job.beating()`, `job.report()`; the page
   polls `job.progress()` through the fragment `templates/core/_job_progress.html`, the command
   line prints `progress_line`);
3. **given up** when its worker is gone (`Job.worker_stopped`: no beat for STALE_SECONDS, or
   none known and older than the job's STALE_AFTER; a queued job by its age alone) —
   `give_up_if_stopped` writes the job's given-up state, once, whoever asks first, with its
   message in words (`templates/core/_job_failed.html` shows it with the way to start again);
4. **retried** by the user: a run or an export is made anew; an import's batch, which stays, is
   given back to the state before its run, and each run of it (an `attempt`) beats under a key
   of its own, so that a late beat of the old run is not taken for the new one's.

A job is a model that inherits `Job` and declares its states; `imports.models.ImportBatch`,
`reconcile.models.ReconciliationRun` and `cases.models.LedgerExport` are the three, and the
smallest to copy is the export.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta
from typing import Any, ClassVar

from django.db import models, transaction
from django.utils import timezone
from django_tasks import default_task_backend
from django_tasks.exceptions import TaskResultDoesNotExist

from baoxue.core.progress import heartbeat, progress_read, progress_write, worker_gone
from baoxue.core.services import log_action


class Job(models.Model):
    """What every background job has: a public id (its page's address), a `status` of its own
    words, a progress and a heartbeat in the cache under its keys, and the rule that gives it
    up when its worker is gone. A job declares:

    - WAITING: its queued states, given up by age alone after STALE_AFTER (empty: a queued job
      waits for its worker however long);
    - RUNNING: its working states, given up when their beat stops;
    - FAILED and INTERRUPTED: the state and the message (in words) a given-up job gets;
    - AUDIT_INTERRUPTED: the audit action written when one is given up ("" for none).
    """

    WAITING: ClassVar[frozenset[str]] = frozenset()
    RUNNING: ClassVar[frozenset[str]] = frozenset()
    FAILED: ClassVar[str] = "failed"
    INTERRUPTED: ClassVar[Any] = ""
    AUDIT_INTERRUPTED: ClassVar[str] = ""
    STALE_AFTER: ClassVar[timedelta] = timedelta(hours=2)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    status: Any
    created_at: Any

    class Meta:
        abstract = True

    @property
    def progress_key(self) -> str:
        return f"{self._meta.label_lower}:{self.public_id}"

    @property
    def beat_key(self) -> str:
        """Where the worker doing the job beats (a job run again in place: one per attempt)."""
        return self.progress_key

    @property
    def is_unfinished(self) -> bool:
        return self.status in self.WAITING | self.RUNNING

    def progress(self) -> dict[str, Any]:
        """{stage, done, total, percent}, for the page's progress bar."""
        return progress_read(self.progress_key)

    def report(self, stage: str, done: int, total: int) -> None:
        progress_write(self.progress_key, stage, done, total)

    def beating(self) -> AbstractContextManager[None]:
        """Beat while the block (the job's work) runs."""
        return heartbeat(self.beat_key)

    def worker_stopped(self, now: float | None = None) -> bool:
        """Whether the worker doing this unfinished job is gone: a running job by its beat
        (with none known — the cache was emptied — by its age against STALE_AFTER), a queued one
        by its age alone (a beat under its key, if any, would be an earlier job's)."""
        fallback = self.STALE_AFTER.total_seconds()
        if self.status in self.RUNNING:
            return worker_gone(self.beat_key, self.created_at, fallback=fallback, now=now)
        if self.status in self.WAITING:
            return (time.time() if now is None else now) - self.created_at.timestamp() > fallback
        return False

    def held(self) -> dict[str, Any]:
        """The filter under which the job is still the one given up (not finished meanwhile)."""
        return {"status__in": sorted(self.WAITING | self.RUNNING)}

    def given_up(self) -> dict[str, Any]:
        """The fields a given-up job gets."""
        fields: dict[str, Any] = {"status": self.FAILED, "error": str(self.INTERRUPTED)}
        if any(f.name == "finished_at" for f in self._meta.concrete_fields):
            fields["finished_at"] = timezone.now()
        return fields

    def audit_data(self) -> dict[str, Any]:
        return {}


def give_up_if_stopped(job: Job, *, now: float | None = None) -> bool:
    """Give the job up when its worker is gone (see Job.worker_stopped), so that the page stops
    waiting and says to start again; True if this call did (two pages asking at once give it
    up once). The job is read again either way."""
    if not job.is_unfinished or not job.worker_stopped(now):
        return False
    with transaction.atomic():
        done = bool(
            type(job)._default_manager.filter(pk=job.pk, **job.held()).update(**job.given_up())
        )
        if done and job.AUDIT_INTERRUPTED:
            log_action(actor=None, action=job.AUDIT_INTERRUPTED, obj=job, data=job.audit_data())
    job.refresh_from_db()
    return done


def retry(url: str, label: Any, **fields: Any) -> dict[str, Any]:
    """The "start it again" button of a failed job's page (templates/core/_job_failed.html):
    posts `fields` to `url`, where the job was first asked for."""
    return {
        "url": url,
        "label": label,
        "fields": [(k, "" if v is None else v) for k, v in fields.items()],
    }


def enqueue_on_commit(task: Any, *args: Any, then: Callable[[Any], None] | None = None) -> None:
    """Queue `task(*args)` once the current transaction commits (at once outside one); `then`
    gets the task result (e.g. to keep its id on the job's row)."""

    def enqueue() -> None:
        result = task.enqueue(*args)
        if then is not None:
            then(result)

    transaction.on_commit(enqueue)


def task_state(task_id: str) -> tuple[str, Any] | None:
    """(status, started_at) of a background task ("GONE" when the backend no longer knows it);
    None where the backend cannot say or no task is known."""
    if not task_id:
        return None
    try:
        result = default_task_backend.get_result(task_id)
    except TaskResultDoesNotExist:
        return ("GONE", None)
    except NotImplementedError:
        return None
    return (str(result.status), result.started_at)


def progress_line(label: str, *, stream: Any = None) -> Callable[[int, int], None]:
    """The command line's progress: `report(done, total)` redraws one line
    "label [#####-----] done/total" and ends it when done reaches total."""

    def report(done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        bar = "#" * filled + "-" * (width - filled)
        end = "\n" if done >= total else ""
        print(f"\r{label} [{bar}] {done}/{total}", end=end, file=stream or sys.stderr, flush=True)

    return report


def staged_progress_line(labels: dict[str, str], default: str) -> Callable[[str, int, int], None]:
    """progress_line for work that reports by stage (an import, a 比对): each stage its label."""

    def report(stage: str, done: int, total: int) -> None:
        progress_line(labels.get(stage, default or stage))(done, total)

    return report


__all__ = [
    "Job",
    "enqueue_on_commit",
    "give_up_if_stopped",
    "progress_line",
    "retry",
    "staged_progress_line",
    "task_state",
]
