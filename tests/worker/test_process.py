"""Standalone worker processes: killed with SIGKILL mid-job, and stopped with SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlmodel import select

from lib import jobs
from lib.models import Asset, Event, JobItem
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from lib.worker import run_until_idle
from tests.conftest import make_runtime

ROOT = Path(__file__).resolve().parents[2]


def _start_worker(home: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "IMAGEGECKO_HOME": str(home),
        "LEASE_SECONDS": "3",
        "WORKER_CONCURRENCY": "2",
        "POLL_SECONDS": "0.05",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "lib.worker", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def _wait_for(predicate, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _statuses(rt: Runtime, job_id: int) -> Counter[str]:
    return Counter(i.status for i in jobs.job_items(rt.db, job_id))


def _demo_job(rt: Runtime, n: int, variants: int):
    products = [p for p in rt.source("demo").list_products(ProductQuery(per_page=100)).items if not p.variations]
    return jobs.create_job(
        rt,
        spec=jobs.JobSpec(source_kind="demo", variants=variants),
        selections=[jobs.Selection(p) for p in products[:n]],
    )


def test_killed_worker_items_are_finished_by_another_exactly_once(tmp_path: Path) -> None:
    home = tmp_path / "data"
    rt = make_runtime(home, lease_seconds=3, poll_seconds=0.05)
    job = _demo_job(rt, n=8, variants=2)
    proc = _start_worker(home)
    try:
        # Kill in the middle of the job: some items done, some leased and running in the first worker.
        _wait_for(
            lambda: _statuses(rt, job.id)["succeeded"] >= 2 and _statuses(rt, job.id)["running"] >= 1,
            "the first worker to make progress with items in flight",
        )
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    at_kill = _statuses(rt, job.id)
    assert at_kill["succeeded"] < 16, "the job finished before the kill; nothing was tested"
    orphaned = {i.id for i in jobs.job_items(rt.db, job.id) if i.status == "running"}
    assert orphaned, "no item was in flight when the worker died; the lease takeover was not tested"

    run_until_idle(rt)  # a second worker: takes over expired leases and finishes the rest

    items = jobs.job_items(rt.db, job.id)
    assert [i.status for i in items] == ["succeeded"] * 16
    with rt.db.session() as s:
        assets = s.exec(select(Asset).where(Asset.job_id == job.id)).all()
        succeeded_events = Counter(
            e.item_id
            for e in s.exec(select(Event).where(Event.job_id == job.id)).all()
            if e.message.startswith("succeeded")
        )
    assert Counter(a.item_id for a in assets) == Counter({i.id: 1 for i in items})
    with rt.db.session() as s:
        taken_over = {
            e.item_id
            for e in s.exec(select(Event).where(Event.job_id == job.id)).all()
            if e.message == "taken over after lease expiry"
        }
    assert orphaned <= taken_over  # the dead worker's leased items were taken over, not lost
    assert set(succeeded_events.values()) == {1} and len(succeeded_events) == 16
    # no file stored twice: exactly one blob per distinct image (sources + results)
    blob_names = [
        p.name
        for p in (home / "blobs").rglob("*")
        if p.is_file() and re.fullmatch(r"[0-9a-f]{64}", p.name) and "thumbs" not in p.parts
    ]
    expected = {a.sha256 for a in assets} | {i.source_sha for i in items}
    assert sorted(blob_names) == sorted(expected)


def test_sigterm_stops_cleanly_and_leaves_no_item_leased(tmp_path: Path) -> None:
    home = tmp_path / "data"
    rt = make_runtime(home)
    job = _demo_job(rt, n=10, variants=2)
    proc = _start_worker(home)

    def running() -> bool:
        with rt.db.session() as s:
            return s.exec(select(JobItem).where(JobItem.status == "running")).first() is not None

    try:
        _wait_for(running, "an item to be running")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(90) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    items = jobs.job_items(rt.db, job.id)
    assert all(i.lease_owner is None for i in items)
    assert {i.status for i in items} <= {"succeeded", "queued"}
    assert all(i.status == "succeeded" or i.result_asset_id is None for i in items)
    run_until_idle(rt)
    assert _statuses(rt, job.id) == Counter({"succeeded": 20})
