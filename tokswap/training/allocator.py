"""Freed memory kept for the next step, while a run trains.

glibc gives a freed block of over 32 MB (and, as its threshold adapts, many smaller ones) back to the kernel,
and maps fresh pages for the next allocation. A training step on a 262k-row vocabulary allocates the same
tensors of tens of megabytes every step, and on this project's CPU touching fresh pages cost more than the
work done in them: gathering 15k rows of 576 floats took 18 ms into fresh pages, 3 ms into reused ones.
With both thresholds raised, freed blocks stay in the heap for the next step to reuse, wherever the heap can
grow in place: a heal step toward the source went from 87k page faults to 12k, and 6-8% faster. Afterwards
the defaults come back and the heap is trimmed, so what the process does next (`tokswap drafter` measures)
does not sit on top of memory the steps kept (1.4 GiB more at its peak).
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Iterator

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEPT_BYTES = 1 << 30  # blocks up to this size come from the heap; this much free top of heap is kept
DEFAULT_BYTES = 128 << 10  # glibc's starting value of both thresholds


def _glibc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def _thresholds(libc: ctypes.CDLL, size: int) -> bool:
    return bool(libc.mallopt(M_MMAP_THRESHOLD, size)) and bool(libc.mallopt(M_TRIM_THRESHOLD, size))


@contextlib.contextmanager
def freed_memory_kept() -> Iterator[bool]:
    """glibc's mmap and trim thresholds raised inside; whether they were (False without glibc)."""
    libc = _glibc()
    kept = libc is not None and _thresholds(libc, KEPT_BYTES)
    try:
        yield kept
    finally:
        if kept:
            _thresholds(libc, DEFAULT_BYTES)
            libc.malloc_trim(0)
