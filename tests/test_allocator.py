"""The allocator thresholds the studio engine sets: applied once, and freed frames come back without page faults."""

from __future__ import annotations

import resource
import sys

import numpy as np
import pytest

from lib import allocator


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_a_freed_frame_is_reused_without_faulting_its_pages_in_again() -> None:
    assert allocator.keep_frames() is True
    assert allocator.keep_frames() is True  # idempotent: the engine calls it on every construction

    def frame() -> None:
        # 50 MB, a 2048 px render's float frame: above glibc's largest automatic threshold (32 MB), so without
        # the setting every one is a fresh mapping whose pages fault in again (hundreds of faults even with huge
        # pages).
        a = np.empty((2048, 2048, 3), dtype=np.float32)
        a.fill(1.0)

    frame()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        frame()
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 100  # reused; mapped afresh each time, ten frames fault 5,000 (huge pages) to 120,000
