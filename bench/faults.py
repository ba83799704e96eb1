"""Fault injection: the worker under kills, a read-only image store and a full database disk.

    python -m bench.faults                      (a few minutes; --kills, --items, --store-seconds, --db-seconds)

Prints a table. The provider is a stand-in that answers after 0.2 s with a small distinct image (no network), so the
figures are about the job log and the worker, not about drawing. Three runs:

- SIGKILL storm: `--items` items; a worker process is started and killed with SIGKILL at a random moment (0 to 0.5 s,
  seeded) after it has finished an item, `--kills` times; then a last worker finishes the queue. Items failed,
  attempts charged to crashes (attempts beyond the first, when the provider never fails), crashes the job log
  counted, duplicate results.
- Read-only image store: a worker thread; after 5 items every blob write fails with a real OSError(EROFS) for
  `--store-seconds`, then the store works again. Items failed, worker exits.
- Full database disk: the same, with SQLite's PRAGMA max_page_count capping the job log at its size (a real
  SQLITE_FULL) for `--db-seconds`. Items failed, worker exits."""

from __future__ import annotations

import argparse
import errno
import io
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import event
from sqlmodel import select

from lib import jobs, storage
from lib.config import Settings
from lib.generation.base import GeneratedImage, GenerationRequest
from lib.models import Asset
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from lib.worker import Worker, WorkerStats

ROOT = Path(__file__).resolve().parent.parent
LATENCY = 0.2


class StandInProvider:
    """Answers after LATENCY seconds with a small image that differs per request."""

    name = "studio"
    cpu_bound = False

    def models(self) -> list[str]:
        return ["studio-v1"]

    def estimate_cost(self, model: str, images: int, *, batch: bool = False) -> float:
        return 0.0

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        time.sleep(LATENCY)  # a stand-in for the provider's answer time
        shade = int(request.fingerprint("studio")[:6], 16)
        buf = io.BytesIO()
        Image.new("RGB", (48, 48), (shade % 256, (shade >> 8) % 256, (shade >> 16) % 256)).save(buf, "PNG")
        return GeneratedImage(data=buf.getvalue(), mime="image/png", width=48, height=48, model="studio-v1")


def _settings(home: Path) -> Settings:
    return Settings.load(
        secrets_file=None,
        imagegecko_home=home,
        lease_seconds=2.0,
        poll_seconds=0.05,
        worker_concurrency=4,
        backoff_base_seconds=0.2,
        backoff_max_seconds=5.0,
    )


def _runtime(home: Path) -> Runtime:
    rt = Runtime.build(_settings(home))
    rt.set_provider("studio", StandInProvider())
    return rt


def _job(rt: Runtime, n: int) -> int:
    """A job of n items (n a multiple of 4): products and variations of the demo catalogue, four variants each."""
    products = rt.source("demo").list_products(ProductQuery(per_page=100)).items
    selections = [jobs.Selection(p) for p in products if not p.variations]
    selections += [jobs.Selection(p, v.id) for p in products for v in p.variations]
    job = jobs.create_job(rt, spec=jobs.JobSpec(source_kind="demo", variants=4), selections=selections[: n // 4])
    assert job.id is not None
    return job.id


def _succeeded(rt: Runtime, job_id: int) -> int:
    return sum(1 for i in jobs.job_items(rt.db, job_id) if i.status == "succeeded")


def _wait(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# SIGKILL storm --------------------------------------------------------------------------------------------


def child(home: Path) -> None:
    """A worker process for the storm (the stand-in provider installed), until the queue is empty."""
    Worker(_runtime(home)).run(until_idle=True)


def storm(tmp: Path, *, items: int, kills: int) -> dict[str, Any]:
    home = tmp / "storm"
    rt = _runtime(home)
    job_id = _job(rt, items)
    total = len(jobs.job_items(rt.db, job_id))
    rng = random.Random(13)
    done_kills = 0
    for _ in range(kills):
        before = _succeeded(rt, job_id)
        if before >= total - 2:
            break
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.faults", "--child", str(home)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait(lambda b=before: _succeeded(rt, job_id) >= b + 1, 120)
        time.sleep(rng.uniform(0.0, 0.5))  # a kill at a random moment: short lives, so all the kills happen
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        done_kills += 1
    last = subprocess.run([sys.executable, "-m", "bench.faults", "--child", str(home)], cwd=ROOT, check=False)
    its = jobs.job_items(rt.db, job_id)
    with rt.db.session() as s:
        per_item = Counter(a.item_id for a in s.exec(select(Asset).where(Asset.job_id == job_id)).all())
    return {
        "items": len(its),
        "kills": done_kills,
        "failed": sum(1 for i in its if i.status == "failed"),
        "succeeded": sum(1 for i in its if i.status == "succeeded"),
        "charged": sum(max(0, i.attempts - 1) for i in its),  # the provider never fails: any extra is a crash's
        "crashes": sum(i.crashes for i in its),
        "max_crashes": max(i.crashes for i in its),
        "duplicates": sum(n - 1 for n in per_item.values() if n > 1),
        "last_exit": last.returncode,
    }


# Read-only image store / full database ------------------------------------------------------------------------


def _run_worker(rt: Runtime) -> tuple[Worker, threading.Thread, dict[str, Any]]:
    worker = Worker(rt)
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["stats"] = worker.run(until_idle=True)
        except BaseException as exc:  # a worker that dies is what this measures
            out["error"] = repr(exc)

    thread = threading.Thread(target=run, name="bench-worker")
    thread.start()
    return worker, thread, out


def read_only_store(tmp: Path, *, items: int, seconds: float) -> dict[str, Any]:
    rt = _runtime(tmp / "store")
    job_id = _job(rt, items)
    real = storage.tempfile.mkstemp
    broken = threading.Event()

    def mkstemp(*args: Any, **kw: Any) -> Any:
        if broken.is_set():
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), kw.get("dir"))
        return real(*args, **kw)

    storage.tempfile.mkstemp = mkstemp  # type: ignore[assignment]
    try:
        worker, thread, out = _run_worker(rt)
        _wait(lambda: _succeeded(rt, job_id) >= 5, 120)
        broken.set()
        t0 = time.monotonic()
        _wait(lambda: not thread.is_alive(), seconds)  # returns early only if the worker died
        broken.clear()
        outage = time.monotonic() - t0
        thread.join(600)
    finally:
        storage.tempfile.mkstemp = real  # type: ignore[assignment]
    return _outcome(rt, job_id, worker, out, outage)


def full_database(tmp: Path, *, items: int, seconds: float) -> dict[str, Any]:
    rt = _runtime(tmp / "database")
    job_id = _job(rt, items)
    full = threading.Event()

    @event.listens_for(rt.db.engine, "checkout")
    def _cap(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA max_page_count = {1 if full.is_set() else 1_073_741_823}")  # 1: no bigger than now
        cur.close()

    worker, thread, out = _run_worker(rt)
    _wait(lambda: _succeeded(rt, job_id) >= 5, 120)
    full.set()
    rt.db.engine.pool.dispose()
    t0 = time.monotonic()
    _wait(lambda: not thread.is_alive(), seconds)
    full.clear()
    rt.db.engine.pool.dispose()
    outage = time.monotonic() - t0
    thread.join(600)
    return _outcome(rt, job_id, worker, out, outage)


def _outcome(rt: Runtime, job_id: int, worker: Worker, out: dict[str, Any], outage: float) -> dict[str, Any]:
    its = jobs.job_items(rt.db, job_id)
    stats: WorkerStats = out.get("stats") or worker.stats
    return {
        "items": len(its),
        "failed": sum(1 for i in its if i.status == "failed"),
        "succeeded": sum(1 for i in its if i.status == "succeeded"),
        "exits": 1 if "error" in out else 0,
        "faults": stats.faults,
        "outage": outage,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--store-seconds", type=float, default=20.0)
    parser.add_argument("--db-seconds", type=float, default=20.0)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        s = storm(tmp, items=args.items, kills=args.kills)
        ro = read_only_store(tmp, items=40, seconds=args.store_seconds)
        db = full_database(tmp, items=40, seconds=args.db_seconds)
    rows = [
        (f"SIGKILL storm: {s['kills']} kills, {s['items']} items: items failed", s["failed"]),
        ("SIGKILL storm: attempts charged to crashes", s["charged"]),
        (
            "SIGKILL storm: crashes counted apart (JobItem.crashes), most on one item",
            f"{s['crashes']}, {s['max_crashes']}",
        ),
        ("SIGKILL storm: duplicate results / items succeeded", f"{s['duplicates']} / {s['succeeded']}"),
        (f"read-only image store for {ro['outage']:.0f} s, {ro['items']} items: items failed", ro["failed"]),
        ("read-only image store: worker exits / faults waited out", f"{ro['exits']} / {ro['faults']}"),
        (f"full database disk for {db['outage']:.0f} s, {db['items']} items: items failed", db["failed"]),
        ("full database disk: worker exits / faults waited out", f"{db['exits']} / {db['faults']}"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  value")
    print("-" * (width + 10))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
