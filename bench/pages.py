"""Page speed at catalogue scale: script run time per page view, measured with AppTest.

    .venv/bin/python -m bench.pages [--runs 5] [--items 100000] [--backends sqlite,postgresql] [--no-products]

Products: the demo store extended to 10,000 products (DemoSource(size=10000), via the page's session-state hook).
Jobs and Gallery: one finished job of `--items` items (default 100,000: 25,000 products x 4 variants), each with
its generated image, review state, fidelity check and request event, seeded with bulk inserts, on SQLite and on a
throw-away PostgreSQL cluster (tests/servers.py: Debian's initdb/pg_ctl on 127.0.0.1). Goal: 1 s per view, first
view included.

Each figure is the median of `AppTest.run()` over several views after one warm-up view; "first view" is that
warm-up (cold caches). The first row's first view is the process's first page view (page modules imported, fresh
data directory); the "white background only" row starts with the photo caches emptied, so its first view checks
photos as a fresh process would. CPU time is this process's (all threads): it includes SQLite's work but not the
PostgreSQL server's, which runs in its own processes; wall time is what a user waits for (on a shared machine, under
load).
"""

from __future__ import annotations

import argparse
import functools
import io
import itertools
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import func, insert, text
from sqlmodel import select
from streamlit.testing.v1 import AppTest

from lib import catalog, drawing, ui
from lib.config import Settings
from lib.fidelity import Verdict
from lib.models import Asset, AssetKind, Event, FidelityCheck, ItemStatus, Job, JobItem, JobStatus, ReviewState, utcnow
from lib.runtime import Runtime
from lib.screens.jobs import JobsScreen
from tests.servers import PostgresCluster

ROOT = Path(__file__).resolve().parents[1]
PRODUCTS = 10_000
VARIANTS = 4


def _timed(
    make: Callable[[], AppTest], runs: int, action: Callable[[AppTest], None] | None = None
) -> tuple[list[float], list[float], float, float]:
    """Wall and CPU seconds per view, and the first (cold) view's wall and CPU time. CPU time (all threads of
    this process) is the steadier figure on a busy machine; wall time is what a user waits for."""
    at = make()
    at._bidi_component_manager = _components()
    t0, c0 = time.perf_counter(), time.process_time()
    at.run(timeout=300)  # warm-up: imports, caches, thumbnails
    first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert not at.exception, [e.value for e in at.exception]
    wall, cpu = [], []
    for _ in range(runs):
        if action is not None:
            action(at)
        t0, c0 = time.perf_counter(), time.process_time()
        at.run(timeout=300)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        assert not at.exception, [e.value for e in at.exception]
    return wall, cpu, first, first_cpu


@functools.cache
def _components() -> Any:
    """Streamlit's registry of installed components, scanned once. A server scans the installed packages' manifests
    once at start; each new AppTest scans them again on its first run (2-3 s of reading package metadata), which is
    the harness's cost, not a page view's, so every AppTest here shares one scan (a private attribute of AppTest)."""
    from streamlit.components.v2.component_manager import BidiComponentManager

    manager = BidiComponentManager()
    manager.discover_and_register_components(start_file_watching=False)
    return manager


def _clear_photo_caches() -> None:
    """Forget every photo check and preview drawn so far in this process."""
    catalog.clear_caches()
    drawing.clear_caches()


def _images(rt: Runtime) -> list[str]:
    """A few distinct result images in the blob store: thumbnails come from it as real ones do."""
    shas = []
    for i in range(8):
        buf = io.BytesIO()
        Image.new("RGB", (1024, 1024), (200 - i * 10, 180, 160 + i * 8)).save(buf, "JPEG", quality=85)
        shas.append(rt.blobs.put(buf.getvalue()))
    return shas


def _seed_job(rt: Runtime, n: int, variants: int = VARIANTS) -> int:
    """A finished job of `n` items (n / variants products), each with its generated image (a third approved, one in
    twenty rejected), a fidelity check (one in fifty redrawn) and a request event, written with bulk inserts (an
    executemany of a few thousand rows per statement) so 100,000 items take seconds, not the ORM's minutes."""
    shas = _images(rt)
    now = utcnow()
    chunk = 5_000
    with rt.db.transaction() as s:
        job = Job(
            source_kind="demo", provider="studio", model="studio-v1", style="marble_counter", variants=variants,
            status=JobStatus.SUCCEEDED, item_count=n, started_at=now, finished_at=now,
        )  # fmt: skip
        s.add(job)
        s.flush()
        job_id = job.id
        assert job_id is not None
        first_item = int(s.exec(select(func.coalesce(func.max(JobItem.id), 0))).one()) + 1
        first_asset = int(s.exec(select(func.coalesce(func.max(Asset.id), 0))).one()) + 1
        conn = s.connection()
        for start in range(0, n, chunk):
            rows = range(start, min(n, start + chunk))
            items, assets, checks, events = [], [], [], []
            for k in rows:
                pid = str(1000 + k // variants)
                item_id, asset_id = first_item + k, first_asset + k
                items.append(
                    {
                        "id": item_id, "job_id": job_id, "product_id": pid, "variant_index": k % variants,
                        "product": {"id": pid, "name": f"Stoneware mug {pid}", "sku": f"MUG-{pid}", "price": "24.00"},
                        "prompt": "A stoneware mug on a marble counter", "status": ItemStatus.SUCCEEDED,
                        "stage": "store", "attempts": 1, "next_attempt_at": now, "source_sha": shas[0],
                        "result_asset_id": asset_id, "mode": "online", "latency_ms": 850.0 + k % 50, "cost": 0.0,
                        "created_at": now, "started_at": now, "finished_at": now, "regenerate": False,
                        "crashes": 0,
                    }
                )  # fmt: skip
                review = (
                    ReviewState.APPROVED if k % 3 == 0 else ReviewState.REJECTED if k % 20 == 1 else ReviewState.PENDING
                )
                assets.append(
                    {
                        "id": asset_id, "sha256": shas[k % len(shas)], "kind": AssetKind.GENERATED,
                        "mime": "image/jpeg", "size_bytes": 1, "width": 1024, "height": 1024, "job_id": job_id,
                        "item_id": item_id, "product_id": pid, "alt_text": f"Stoneware mug {pid} on a marble counter",
                        "alt_tries_left": 0, "review_state": review, "created_at": now,
                        "reviewed_at": now if review != ReviewState.PENDING else None,
                    }
                )  # fmt: skip
                checks.append(
                    {
                        "asset_id": asset_id, "job_id": job_id,
                        "verdict": Verdict.REDRAWN if k % 50 == 7 else Verdict.FAITHFUL, "findings": [],
                        "measures": {}, "notes": [], "seconds": 0.2, "checked_at": now,
                    }
                )  # fmt: skip
                events.append(
                    {
                        "at": now, "job_id": job_id, "item_id": item_id, "kind": "request", "service": "studio",
                        "method": "POST", "status_code": 200, "duration_ms": 850.0, "message": "generate",
                        "data": {},
                    }
                )  # fmt: skip
            conn.execute(insert(JobItem), items)
            conn.execute(insert(Asset), assets)
            conn.execute(insert(FidelityCheck), checks)
            conn.execute(insert(Event), events)
    if rt.db.engine.dialect.name == "postgresql":  # ids given explicitly: move the sequences past them
        with rt.db.transaction() as s:
            for table in ("jobitem", "asset"):
                s.connection().execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
            s.connection().execute(text("ANALYZE"))
    return job_id


Rows = list[tuple[str, str, tuple[list[float], list[float], float, float]]]


def _products_rows(runs: int) -> Rows:
    rows: Rows = []

    def products() -> AppTest:
        at = AppTest.from_file(str(ROOT / "pages" / "products.py"), default_timeout=300)
        at.session_state[ui.DEMO_SIZE] = PRODUCTS
        return at

    rows.append(("Products", f"{PRODUCTS:,} products, page 1 (24 cards)", _timed(products, runs)))

    def next_page(at: AppTest) -> None:
        at.session_state["prod_page"] = at.session_state["prod_page"] + 1 if "prod_page" in at.session_state else 2

    rows.append(
        ("Products", f"{PRODUCTS:,} products, paging (new thumbnails each view)", _timed(products, runs, next_page))
    )

    def search(at: AppTest) -> None:
        at.text_input(key="prod_search").input("mug")

    rows.append(("Products", f"{PRODUCTS:,} products, search 'mug'", _timed(products, runs, search)))

    def white() -> AppTest:
        at = products()
        at.session_state["prod_white"] = True
        return at

    _clear_photo_caches()
    rows.append(
        ("Products", f"{PRODUCTS:,} products, white only, paging (photos checked)", _timed(white, runs, next_page))
    )
    return rows


def _job_rows(runs: int, home: Path, url: str | None, items: int, backend: str) -> Rows:
    """The Jobs and Gallery pages on one `items`-item job in the job log at `url` (None: SQLite in `home`)."""
    import streamlit as st

    os.environ["IMAGEGECKO_HOME"] = str(home)
    if url:
        os.environ["DATABASE_URL"] = url
    else:
        os.environ.pop("DATABASE_URL", None)
    st.cache_resource.clear()  # the pages' runtime opens this job log
    rt = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=home, database_url=url, embedded_worker=False))
    t0 = time.perf_counter()
    job_id = _seed_job(rt, items)
    seeded = time.perf_counter() - t0
    rt.db.dispose()
    n = f"{items:,} items"
    rows: Rows = []

    def jobs_page() -> AppTest:
        return AppTest.from_file(str(ROOT / "pages" / "jobs.py"), default_timeout=300)

    rows.append((f"Jobs {backend}", f"{n}, the job selected (items, request log)", _timed(jobs_page, runs)))

    back = itertools.count(1)  # each paging view goes one page further back from the end: a page not read yet

    def items_page(at: AppTest) -> None:
        last = -(-items // JobsScreen.ITEMS_PER_PAGE)
        at.number_input(key=f"jobs_items_page_{job_id}").set_value(last - next(back))

    rows.append((f"Jobs {backend}", f"{n}, items table paging (near the end)", _timed(jobs_page, runs, items_page)))

    def gallery() -> AppTest:
        return AppTest.from_file(str(ROOT / "pages" / "gallery.py"), default_timeout=300)

    rows.append((f"Gallery {backend}", f"{n}, first page (8 products)", _timed(gallery, runs)))

    def gallery_far(at: AppTest) -> None:  # past the end under a filter: the page shows its last page
        at.session_state["gallery_page"] = items // VARIANTS // 8 - next(back)

    rows.append((f"Gallery {backend}", f"{n}, paging (near the last page)", _timed(gallery, runs, gallery_far)))

    def flagged() -> AppTest:
        at = gallery()
        at.session_state["gallery_filter"] = "flagged"
        return at

    rows.append((f"Gallery {backend}", f"{n}, 'Needs a look' filter, paging", _timed(flagged, runs, gallery_far)))

    def pending() -> AppTest:
        at = gallery()
        at.session_state["gallery_filter"] = "pending"
        return at

    rows.append((f"Gallery {backend}", f"{n}, 'To review' filter, paging", _timed(pending, runs, gallery_far)))
    print(f"({backend}: {n} seeded in {seeded:.1f} s)", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--items", type=int, default=100_000, help="items of the Jobs and Gallery job")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--no-products", action="store_true", help="only the Jobs and Gallery pages")
    args = parser.parse_args()

    import streamlit as st

    rows: Rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["IMAGEGECKO_HOME"] = str(Path(tmp) / "products")
        os.environ["EMBEDDED_WORKER"] = "false"
        os.environ.pop("DATABASE_URL", None)
        os.chdir(ROOT)
        st.cache_resource.clear()
        if not args.no_products:
            rows += _products_rows(args.runs)
        for backend in args.backends.split(","):
            home = Path(tmp) / backend
            if backend == "postgresql":
                with PostgresCluster() as pg:
                    rows += _job_rows(args.runs, home, pg.url, args.items, backend)
                    st.cache_resource.clear()  # close the pages' connections before the cluster stops
            else:
                rows += _job_rows(args.runs, home, None, args.items, backend)
        st.cache_resource.clear()

    print(
        f"{'page':<19} {'view':<50} {'wall median':>12} {'wall min':>9} {'cpu median':>11} {'first view':>11} "
        f"{'first cpu':>10}"
    )
    for page, what, (wall, cpu, first, first_cpu) in rows:
        print(
            f"{page:<19} {what:<50} {statistics.median(wall) * 1000:>10.0f}ms {min(wall) * 1000:>7.0f}ms "
            f"{statistics.median(cpu) * 1000:>9.0f}ms {first * 1000:>9.0f}ms {first_cpu * 1000:>8.0f}ms"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"({args.runs} views each after one warm-up view; AppTest.run() = one script run; goal: 1 s per view, first "
        f"view included; {os.cpu_count()} CPUs, load average {load:.1f} at the end)"
    )


if __name__ == "__main__":
    main()
