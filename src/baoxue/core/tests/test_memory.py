"""release_freed_memory hands freed heap pages back to the system."""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

from baoxue.core.memory import _malloc_trim, release_freed_memory


def resident_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * 4096 / 1e6


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or _malloc_trim() is None, reason="glibc only"
)
def test_freed_heap_memory_goes_back_to_the_system():
    # Blocks larger than Python's small-object allocator takes come from the C heap; every
    # twentieth is kept, so the freed ones lie between live ones and glibc keeps them.
    blocks = [b"x" * 2000 + bytes([i % 256]) for i in range(100_000)]
    kept = blocks[::20]
    del blocks
    gc.collect()
    before = resident_mb()
    assert release_freed_memory()
    assert resident_mb() < before - 100  # of about 200 MB freed
    assert len(kept) == 5000


def test_elsewhere_it_says_it_could_not(monkeypatch):
    monkeypatch.setattr(sys, "platform", "win32")
    _malloc_trim.cache_clear()
    try:
        assert release_freed_memory() is False
    finally:
        monkeypatch.undo()
        _malloc_trim.cache_clear()
