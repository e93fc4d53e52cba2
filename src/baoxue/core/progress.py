"""Progress of long background work (imports, reconciliation), shared by the worker that
does it and the page that shows it.

It lives in the cache, not the database: while an import commits, its own transaction holds
the database's write lock, and a progress row would wait for it.
"""

from __future__ import annotations

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
