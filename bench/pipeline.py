"""Spine figures: pipeline overhead per item, SQL statements and commits per item, quota efficiency, worker memory.

    python -m bench.pipeline            (about a minute; studio speed is in bench/studio.py)

Prints a table. Uses the demo catalogue and providers defined here (no network)."""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image
from sqlalchemy import event, update
from sqlmodel import col

from lib import jobs
from lib.config import Settings
from lib.generation.base import GeneratedImage, GenerationRequest
from lib.models import JobItem
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from lib.worker import Worker


class TimedProvider:
    """Answers after `latency` seconds with a small distinct JPEG; counts calls."""

    name = "studio"

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.calls = 0
        self.lock = threading.Lock()

    def models(self) -> list[str]:
        return ["studio-v1"]

    def estimate_cost(self, model: str, images: int, *, batch: bool = False) -> float:
        return 0.0

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        if self.latency:
            time.sleep(self.latency)
        with self.lock:
            self.calls += 1
            n = self.calls
        buf = io.BytesIO()
        Image.new("RGB", (64, 64), (n % 256, (n // 256) % 256, 90)).save(buf, "JPEG")
        return GeneratedImage(data=buf.getvalue(), mime="image/jpeg", width=64, height=64, model="studio-v1")


def _runtime(home: Path, **kw: object) -> Runtime:
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=home, poll_seconds=0.02, **kw))


def _enqueue(rt: Runtime, n_items: int) -> int:
    """A job of n items on the demo catalogue, each forced to really run (no result reuse)."""
    products = [p for p in rt.source("demo").list_products(ProductQuery(per_page=100)).items if not p.variations]
    selections = [jobs.Selection(p) for p in products]
    made = 0
    job_id = 0
    while made < n_items:
        take = selections[: max(1, min(len(selections), (n_items - made) // 4 or 1))]
        variants = min(4, max(1, (n_items - made) // len(take)))
        job = jobs.create_job(rt, spec=jobs.JobSpec(source_kind="demo", variants=variants), selections=take)
        made += job.item_count
        job_id = job.id or 0
    with rt.db.transaction() as s:
        s.exec(update(JobItem).where(col(JobItem.status) == "queued").values(regenerate=True))
    return job_id


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * 4096 / 1e6


def overhead(tmp: Path, n: int = 100) -> float:
    rt = _runtime(tmp / "overhead", worker_concurrency=1)
    rt.set_provider("studio", TimedProvider())
    _enqueue(rt, n)
    Worker(rt, concurrency=1).run(until_idle=True)
    with rt.db.session() as s:
        from sqlmodel import select

        lat = [i.latency_ms for i in s.exec(select(JobItem)).all() if i.latency_ms is not None]
    return statistics.median(lat)


def quota(tmp: Path, n: int = 200, rpm: float = 600, latency: float = 0.5) -> tuple[float, float, int]:
    rt = _runtime(tmp / "quota", worker_concurrency=2, rate_limits={"studio": rpm})
    provider = TimedProvider(latency)
    rt.set_provider("studio", provider)
    _enqueue(rt, n)
    # Warm the demo photo cache so the figure is about the provider and the worker, not first drawings.
    source = rt.source("demo")
    for product in source.list_products(ProductQuery(per_page=100)).items:
        source.fetch_image(product.images[0])
    worker = Worker(rt, concurrency=2)
    t0 = time.monotonic()
    worker.run(until_idle=True)
    wall = time.monotonic() - t0
    bound = n / (rpm / 60.0)
    return wall, bound, provider.calls


def statements(tmp: Path, n: int = 40) -> tuple[float, float, float, float]:
    """SQL statements and commits per item for a job through the worker (one slot, instant provider), counted with
    SQLAlchemy's cursor and commit events: those of the item threads (each item's own writes and reads: stages,
    the request record, the result, its fidelity check) and those of the worker's loop thread (claims, polls,
    heartbeats; these depend on `poll_seconds`, so they are also given per second)."""
    rt = _runtime(tmp / "statements", worker_concurrency=1)
    rt.set_provider("studio", TimedProvider())
    _enqueue(rt, n)
    counts = {"item": 0, "loop": 0, "commit": 0}
    loop_thread = threading.current_thread()

    def on_execute(*_: object) -> None:
        counts["loop" if threading.current_thread() is loop_thread else "item"] += 1

    def on_commit(*_: object) -> None:
        counts["commit"] += 1

    event.listen(rt.db.engine, "before_cursor_execute", on_execute)
    event.listen(rt.db.engine, "commit", on_commit)
    t0 = time.monotonic()
    Worker(rt, concurrency=1).run(until_idle=True)
    wall = time.monotonic() - t0
    return counts["item"] / n, counts["loop"] / n, counts["commit"] / n, counts["loop"] / wall


def memory(tmp: Path) -> tuple[float, float]:
    rt = _runtime(tmp / "memory", worker_concurrency=4)
    rt.set_provider("studio", TimedProvider())
    _enqueue(rt, 50)
    Worker(rt, concurrency=4).run(until_idle=True)
    after_50 = _rss_mb()
    _enqueue(rt, 450)
    Worker(rt, concurrency=4).run(until_idle=True)
    return after_50, _rss_mb()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=200, help="items for the quota run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        mem50, mem500 = memory(tmp)
        over = overhead(tmp)
        item_sql, loop_sql, commits, loop_per_s = statements(tmp)
        wall, bound, calls = quota(tmp, n=args.items)
    rows = [
        ("pipeline overhead per item, instant provider (median)", f"{over:.1f} ms"),
        ("SQL statements per item, item thread (BEGIN included)", f"{item_sql:.1f}"),
        ("SQL statements per item, worker loop (poll 0.02 s)", f"{loop_sql:.1f} ({loop_per_s:.0f} per second)"),
        ("commits per item (all threads)", f"{commits:.2f}"),
        (f"quota run: {calls} items, 0.5 s provider, 600 req/min", f"{wall:.1f} s (bound {bound:.1f} s)"),
        ("quota efficiency (wall / quota-bound time; goal <= 1.05)", f"{wall / bound:.3f}"),
        ("worker RSS after 50 items", f"{mem50:.1f} MB"),
        ("worker RSS after 500 items", f"{mem500:.1f} MB"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'figure':<{width}}  value")
    print("-" * (width + 24))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
