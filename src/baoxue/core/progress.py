"""Progress of long background work (imports, reconciliation), shared by the worker that
does it and the page that shows it.

It lives in the cache, not the database: while an import commits, its own transaction holds
the database's write lock, and a progress row would wait for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.core.cache import cache

TTL = 3600


def progress_write(key: str, stage: str, done: int, total: int) -> None:
    cache.set(key, {"stage": stage, "done": done, "total": total}, TTL)


def progress_read(key: str) -> dict[str, Any]:
    """{stage, done, total, percent} (zeros before the work reports anything)."""
    data = cache.get(key) or {}
    total = int(data.get("total") or 0)
    done = int(data.get("done") or 0)
    return {
        "stage": data.get("stage", ""),
        "done": done,
        "total": total,
        "percent": min(100, round(100 * done / total)) if total else 0,
    }


# A worker doing long work says it is alive every BEAT_SECONDS, from a thread of its own (it
# beats while the work itself is in a long database call). No beat for STALE_SECONDS: the
# process that did the work is gone (killed, restarted, out of memory).
BEAT_SECONDS = 15
STALE_SECONDS = 300
# A beat outlives its process by a day: a dead worker's last beat stays to be found stale.
BEAT_TTL = 86400


def _beat_key(key: str) -> str:
    return f"{key}:alive"


@contextmanager
def heartbeat(key: str, every: float = BEAT_SECONDS) -> Iterator[None]:
    """Beat for `key` while the block runs; the beat is removed when it ends."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            cache.set(_beat_key(key), time.time(), BEAT_TTL)

    cache.set(_beat_key(key), time.time(), BEAT_TTL)
    thread = threading.Thread(target=beat, name=f"heartbeat {key}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=every + 5)  # not for ever behind a cache that stopped answering
        cache.delete(_beat_key(key))


def last_beat(key: str) -> float | None:
    """When the work for `key` last said it was alive (time.time()), None if never or over."""
    found = cache.get(_beat_key(key))
    return float(found) if found is not None else None


def worker_gone(key: str, since: datetime, *, fallback: float, now: float | None = None) -> bool:
    """Whether the work beating for `key` (started at `since`) has stopped for good: its beat
    is older than STALE_SECONDS, or, with no beat known (never begun, or the cache emptied),
    it started more than `fallback` seconds ago."""
    now = time.time() if now is None else now
    beat = last_beat(key)
    if beat is not None:
        return now - beat > STALE_SECONDS
    return now - since.timestamp() > fallback


# The task worker itself beats under this key while its process lives (core.tasks_worker), so
# that pages can say when no worker is there to run imports, 比对 and exports. A beat older
# than WORKER_STALE_SECONDS (four beats missed) means no worker.
WORKER_KEY = "task-worker"
WORKER_STALE_SECONDS = 4 * BEAT_SECONDS


def worker_alive(*, now: float | None = None) -> bool:
    """Whether some task worker has beaten within WORKER_STALE_SECONDS."""
    beat = last_beat(WORKER_KEY)
    now = time.time() if now is None else now
    return beat is not None and now - beat <= WORKER_STALE_SECONDS
