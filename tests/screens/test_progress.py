"""What the live progress panel shows (Generate, Gallery, Jobs), from plain numbers and from a real job log."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest

from lib import jobs
from lib.config import Settings
from lib.models import ItemStatus, Job, JobItem, JobStatus, utcnow
from lib.runtime import Runtime
from lib.screens.progress import progress_view


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))


@dataclass
class Progress:  # the fields of lib.jobs.JobProgress the panel reads
    status: str
    total: int
    finished: int
    fraction: float
    stage: str
    eta_seconds: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    cost: float = 0.0
    job_id: int = 1


def test_progress_of_a_running_job() -> None:
    view = progress_view(
        Progress(
            status="running",
            total=30,
            finished=12,
            fraction=0.4,
            stage="generate",
            eta_seconds=130,
            counts={"queued": 16, "running": 2, "succeeded": 11, "failed": 1},
            errors=["Mug: too small"],
            cost=0.468,
        )
    )
    assert view.fraction == pytest.approx(0.4)
    assert view.text == "Generating images — 12 of 30 done"
    assert view.counts == "16 queued · 2 running · 11 done · 1 failed"
    assert view.eta == "about 2 min 10 s left"
    assert view.errors == ("Mug: too small",)
    assert view.cost == "$0.47"
    assert not view.done and not view.paused


def test_progress_of_finished_paused_and_empty_jobs() -> None:
    done = progress_view(Progress("succeeded", 3, 3, 1.0, "succeeded", eta_seconds=0, counts={"succeeded": 3}))
    assert done.done and done.eta == "" and done.cost == "free" and done.text.startswith("Finished")
    paused = progress_view(Progress("paused", 5, 1, 0.2, "paused", eta_seconds=50, counts={"queued": 4}))
    assert paused.paused and not paused.done and paused.eta == ""
    empty = progress_view(Progress("queued", 0, 0, 0.0, "queued"))
    assert empty.fraction == 0.0 and empty.counts == "no items"


def test_live_progress_read_from_the_job_log(rt: Runtime) -> None:
    """What the Generate page's fragment shows, from a real job log: bar, stage, counts, ETA, errors."""
    with rt.db.transaction() as s:
        job = Job(
            source_kind="demo",
            provider="studio",
            model="studio-v1",
            style="auto",
            status=JobStatus.RUNNING,
            started_at=utcnow() - timedelta(seconds=60),
            item_count=4,
        )
        s.add(job)
        s.flush()
        for i, (status, stage, error) in enumerate(
            [
                (ItemStatus.SUCCEEDED, "store", None),
                (ItemStatus.FAILED, "validate", "Stoneware Mug: this photo is too small (300×300 px)."),
                (ItemStatus.RUNNING, "generate", None),
                (ItemStatus.QUEUED, None, None),
            ]
        ):
            s.add(
                JobItem(
                    job_id=job.id,
                    product_id=str(i + 1),
                    product={"id": str(i + 1), "name": f"P{i}"},
                    status=status,
                    stage=stage,
                    error_message=error,
                )
            )
        job_id = job.id
    view = progress_view(jobs.job_progress(rt.db, job_id))
    assert view.fraction == pytest.approx(0.5)
    assert view.text == "Generating images — 2 of 4 done"
    assert view.counts == "1 queued · 1 running · 1 done · 1 failed"
    assert view.eta.startswith("about ") and view.eta.endswith(" left")  # 60 s for 2 done: about a minute more
    assert view.errors == ("Stoneware Mug: this photo is too small (300×300 px).",)
    assert not view.done
