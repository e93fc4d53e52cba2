"""Giving freed memory back to the system between the stages of a large job."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from collections.abc import Callable
from functools import cache


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None (another system, or a C library without it: musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    return trim


def release_freed_memory() -> bool:
    """Hand the C heap's free pages back to the system; whether that could be done.

    glibc keeps memory freed in the middle of its heap for the process's next allocations,
    and Python's own object allocator does not draw on it: after calamine has read a
    100,000-row sheet (some 250 MB, freed once the rows are parsed) the process would keep
    that memory while the plan and the commit allocate theirs beside it, and the peak is the
    sum. A few milliseconds; nothing is freed that is still in use."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True
