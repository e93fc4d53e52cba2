"""Background jobs — an import's validation and commit, a 比对 run, a ledger export — share one
lifecycle, and its steps live here:

1. **queued** when the transaction that made the job commits (`enqueue_on_commit`: a task
   queued before its row exists in the worker's eyes would find nothing);
2. **running** with a heartbeat and a progress line (`core.progress.heartbeat`,
   `progress_write`; the page polls `progress_read` through the fragment
   `templates/core/_job_progress.html`, the command line prints a progress line);
3. **given up** when its worker is gone (`stopped`: no beat for STALE_SECONDS, or none known and
   older than the job's fallback; a queued job only by its age) — `give_up` marks it failed with
   a message in words, once, whoever asks first;
4. **retried** by the user from the page (a new job; an import's run is given back instead, see
   imports.services.batch_interrupted, since its batch stays).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import QuerySet

from baoxue.core.progress import worker_gone


def enqueue_on_commit(task: Any, *args: Any, then: Callable[[Any], None] | None = None) -> None:
    """Queue `task(*args)` once the current transaction commits (at once outside one); `then`
    gets the task result (e.g. to keep its id on the job's row)."""

    def enqueue() -> None:
        result = task.enqueue(*args)
        if then is not None:
            then(result)

    transaction.on_commit(enqueue)


def stopped(
    key: str, started: datetime, *, running: bool, fallback: float, now: float | None = None
) -> bool:
    """Whether a job's worker is gone: a running job by its heartbeat under `key` (or, with
    none known, by its age against `fallback` seconds); a queued one by its age alone (a beat
    under its key, if any, is an earlier job's)."""
    if running:
        return worker_gone(key, started, fallback=fallback, now=now)
    return (time.time() if now is None else now) - started.timestamp() > fallback


def give_up(rows: QuerySet[Any], *, unfinished: Iterable[str], failed: str, **fields: Any) -> bool:
    """Mark the job of `rows` failed, with `fields` (its error in words, when it ended), if it is
    still unfinished; True if this call did (two pages asking at once give it up once)."""
    return bool(rows.filter(status__in=list(unfinished)).update(status=failed, **fields))
