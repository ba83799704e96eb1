"""Shared by the Gemini job tests (online and batch): the emulator they run against, and reading a job back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from lib.models import Job, JobItem
from lib.runtime import Runtime
from lib.worker import batch
from tests.emulators.gemini import GeminiEmulator


@pytest.fixture
def emu() -> Iterator[GeminiEmulator]:
    with GeminiEmulator(image_side=384) as e:  # small drawn images keep 50-item batches quick
        e.use_studio = False
        yield e


def tick(rt: Runtime, **kw) -> int:
    """One synchronous round (submission included), as a worker would run it in the background."""
    return batch.tick(rt, background=False, **kw)


def items_of(rt: Runtime, job_id: int) -> list[JobItem]:
    with rt.db.session() as s:
        return list(s.exec(select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.id)).all())


def job_of(rt: Runtime, job_id: int) -> Job:
    with rt.db.session() as s:
        job = s.get(Job, job_id)
    assert job is not None
    return job
