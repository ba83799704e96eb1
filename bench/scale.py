"""Many workers on one PostgreSQL job log (issue 15), as a table:

  1. quota-bound: N items, the Gemini emulator answering each image call in `--latency` s, a quota of `--rpm`
     requests per minute shared by every worker (lib/quota.py): wall time / the quota-bound minimum with 1, 2, 4
     and 8 worker processes, and the 429 answers the emulator gave (its sliding one-minute window per model: any
     429 means the workers together went over the quota);
  2. claiming: items/s with the emulator answering at once and no quota, 1 → 8 workers.

    python -m bench.scale                                  (the issue's 10,000 items: about 17 min per row)
    python -m bench.scale --items 600 --instant-items 400  (a quick look: 1 min per quota row)

Workers are real `python -m lib.worker` processes (bench/scale_worker.py, which only widens the demo catalogue to
the job's size) sharing a throw-away PostgreSQL cluster (Debian's initdb/pg_ctl, tests/servers.py) and one image
folder; the real google-genai client talks HTTP to tests/emulators/gemini.py on 127.0.0.1. Wall time runs from the
job's first claim to its last item (process start-up is not counted). Source photos are drawn by the demo
catalogue at 256 px in the workers, so the claiming row includes that drawing. Each stored image is checked for
fidelity (0.15-0.25 s of CPU each, more than a 2-core machine has at 10 items/s); --no-fidelity-check measures the
job log and the shared quota alone.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func
from sqlmodel import col, select

from lib import jobs
from lib.config import Settings
from lib.models import ItemStatus, Job, JobItem
from lib.runtime import Runtime
from lib.sources import demo
from tests.emulators.gemini import GeminiEmulator
from tests.servers import PostgresCluster

ROOT = Path(__file__).resolve().parents[1]
MODEL = "gemini-2.5-flash-image"


@dataclass
class Row:
    workers: int
    items: int
    done: int
    wall: float
    minimum: float
    quota_429: int
    attempts: int
    worker_cpu: float  # CPU seconds of all worker processes from the first claim to the last item
    bench_cpu: float  # CPU seconds of this process meanwhile (the emulator drawing its answers, the progress poll)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (Linux /proc), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _settings(url: str, home: Path, emu: GeminiEmulator, rpm: int, *, check: bool) -> dict[str, str]:
    limits = {"gemini": float(rpm), "gemini_text": 0.0}
    return {
        "DATABASE_URL": url,
        "IMAGEGECKO_HOME": str(home),
        "GEMINI_API_KEY": emu.api_key,  # by environment, never on a command line
        "GEMINI_BASE_URL": emu.url,
        "RATE_LIMITS": json.dumps(limits),
        "POLL_SECONDS": "0.05",
        "FIDELITY_CHECK": "true" if check else "false",
    }


def _job(rt: Runtime, n: int) -> int:
    source = demo.DemoSource(rt, size=n)
    products = [source.get_product(str(i)) for i in range(1, n + 1)]
    products = [p for p in products if not p.variations][:n]
    spec = jobs.JobSpec(source_kind="demo", provider="gemini", model=MODEL, style="marble_counter")
    job = jobs.create_job(rt, spec=spec, selections=[jobs.Selection(p) for p in products])
    assert job.id is not None
    return job.id


def _counts(rt: Runtime, job_id: int) -> tuple[int, int, int]:
    with rt.db.session() as s:
        total = s.exec(select(func.count()).select_from(JobItem).where(JobItem.job_id == job_id)).one()
        done = s.exec(
            select(func.count())
            .select_from(JobItem)
            .where(JobItem.job_id == job_id, col(JobItem.status).in_([ItemStatus.SUCCEEDED, ItemStatus.FAILED]))
        ).one()
        attempts = s.exec(select(func.sum(JobItem.attempts)).where(JobItem.job_id == job_id)).one() or 0
    return int(total), int(done), int(attempts)


def run(pg: PostgresCluster, *, workers: int, items: int, latency: float, rpm: int, check: bool = True) -> Row:
    url = pg.create_database(f"b_{uuid.uuid4().hex[:10]}")
    with tempfile.TemporaryDirectory() as tmp, GeminiEmulator(latency=latency, quota_rpm=rpm) as emu:
        emu.use_studio = False
        emu.text_latency = 0.0  # alt texts go to the text model, which has its own quota
        env = _settings(url, Path(tmp), emu, rpm, check=check)
        rt = Runtime.build(
            Settings.load(
                secrets_file=None,
                imagegecko_home=Path(tmp),
                database_url=url,
                gemini_api_key=emu.api_key,
                gemini_base_url=emu.url,
            )
        )
        job_id = _job(rt, items)
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "bench.scale_worker", str(items)],
                cwd=ROOT,
                env={**os.environ, **env},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        cpu_start: float | None = None
        try:
            while True:
                total, done, attempts = _counts(rt, job_id)
                emu.bodies.clear()  # the emulator keeps each request body for tests: 10,000 would not fit in memory
                if cpu_start is None and attempts:  # start-up (imports, the first connection) is not counted
                    cpu_start = sum(_cpu_seconds(p.pid) for p in procs)
                    bench_start = time.process_time()
                if done >= total or any(p.poll() is not None for p in procs):
                    break
                time.sleep(0.5)  # a benchmark's progress poll, not a test
            worker_cpu = sum(_cpu_seconds(p.pid) for p in procs) - (cpu_start or 0.0)
            bench_cpu = time.process_time() - bench_start if cpu_start is not None else 0.0
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
        with rt.db.session() as s:
            job = s.get(Job, job_id)
            first = s.exec(select(func.min(JobItem.started_at)).where(JobItem.job_id == job_id)).one()
            last = s.exec(select(func.max(JobItem.finished_at)).where(JobItem.job_id == job_id)).one()
        assert job is not None
        wall = (last - first).total_seconds() if first and last else float("nan")
        quota_429 = sum(1 for _m, path, status in emu.log if ":generateContent" in path and status == 429)
        total, done, attempts = _counts(rt, job_id)
        rt.db.dispose()
        minimum = total / rpm * 60 if rpm else 0.0
        return Row(workers, total, done, wall, minimum, quota_429, attempts, worker_cpu, bench_cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=10_000, help="items of the quota-bound job")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per image call")
    parser.add_argument("--rpm", type=int, default=600, help="requests per minute, shared by all workers")
    parser.add_argument("--instant-items", type=int, default=2_000, help="items of the claiming job")
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument(
        "--no-fidelity-check",
        dest="check",
        action="store_false",
        help="workers store images unchecked (FIDELITY_CHECK=false): the job log and quota alone",
    )
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]

    with PostgresCluster() as pg:
        checked = "each image checked for fidelity" if args.check else "the fidelity check off"
        print(
            f"Quota-bound: {args.items} items, {args.latency:g} s per call, {args.rpm} requests/minute shared, "
            f"{checked}"
        )
        print(
            f"{'workers':>7} {'done':>11} {'wall s':>8} {'minimum s':>10} {'ratio':>6} {'429s':>5} {'attempts':>8} "
            f"{'worker cpu s/item':>17} {'emulator cpu s/item':>19}"
        )
        for w in counts:
            r = run(pg, workers=w, items=args.items, latency=args.latency, rpm=args.rpm, check=args.check)
            print(
                f"{r.workers:>7} {r.done:>5}/{r.items:<5} {r.wall:>8.1f} {r.minimum:>10.1f} "
                f"{r.wall / r.minimum:>6.3f} {r.quota_429:>5} {r.attempts:>8} "
                f"{r.worker_cpu / max(1, r.done):>17.3f} {r.bench_cpu / max(1, r.done):>19.3f}",
                flush=True,
            )
        print("goal: ratio <= 1.05 for each, and 0 answers 429 (never above the quota in any 60 s window)")
        print()
        print(f"Claiming: {args.instant_items} items, the emulator answering at once, no quota")
        print(f"{'workers':>7} {'done':>11} {'wall s':>8} {'items/s':>8} {'worker cpu s/item':>17}")
        for w in counts:
            r = run(pg, workers=w, items=args.instant_items, latency=0.0, rpm=0, check=args.check)
            print(
                f"{r.workers:>7} {r.done:>5}/{r.items:<5} {r.wall:>8.1f} {r.done / r.wall:>8.1f} "
                f"{r.worker_cpu / max(1, r.done):>17.3f}",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
