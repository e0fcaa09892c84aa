"""The daemons' allocator settings: large buffers go back to the system when freed.

A round over a 10^7-element vector passes ~150 MB through 512 KiB protobuf chunks, SQLite
blobs and numpy slices. With glibc's defaults, freed chunks of that size stay in the heap
(the mmap threshold rises after the first large free, up to 32 MiB), and every thread that
`asyncio.to_thread` runs gets its own arena: a node kept ~100 MB it no longer used after
one submit, and its peak grew with it. So at start-up each daemon fixes the mmap threshold
at 256 KiB (larger blocks are mapped and unmapped, never kept) and caps the arenas at two.
Measured by `benchmarks/secure_sum.py` (peak RSS). Elsewhere than glibc this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters (malloc.h)
_M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 256 * 1024
ARENA_MAX = 2


def tune_allocator() -> bool:
    """Apply the settings above; False (and nothing changed) without glibc's mallopt."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_ARENA_MAX, ARENA_MAX)
    )
    log.debug("allocator tuned: %s", done)
    return done
