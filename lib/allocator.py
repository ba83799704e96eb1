"""Keep freed image frames for the next render instead of handing them back to the kernel (glibc only).

The studio engine and the fidelity check work on whole frames: a 1024 px RGB frame in float32 is 12 MB, and one
render allocates and frees dozens of them. glibc serves blocks that large with a fresh mmap (its threshold starts
at 128 KB) and gives the top of the heap back to the kernel past 128 KB free, so every frame is page-faulted in
again, page by page: measured, 25-40 % of the engine's CPU was the kernel zeroing pages (bench/studio.py, system
time). With both thresholds raised, a freed frame is reused by the next one. The cost is bounded: at most
TRIM_THRESHOLD of free memory stays with each of the allocator's arenas (one per thread that renders).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
import threading

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 64 * 1024 * 1024  # blocks below this come from the heap and are reused (a 2048 px frame: 50 MB)
TRIM_THRESHOLD = 96 * 1024 * 1024  # free memory an arena keeps before it returns the rest

_done = False
_lock = threading.Lock()


def keep_frames() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; False where there is no glibc (macOS, musl)."""
    global _done
    with _lock:
        if _done:
            return True
        if not sys.platform.startswith("linux"):
            return False
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            mallopt = libc.mallopt
        except (OSError, AttributeError):
            return False
        ok = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        if not ok:
            log.info("the C library refused the allocator thresholds; frames are mapped afresh each time")
        _done = ok
        return ok
