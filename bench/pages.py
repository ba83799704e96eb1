"""Page speed at catalogue scale: script run time per page view, measured with AppTest.

    .venv/bin/python -m bench.pages [--runs 7]

Products: the demo store extended to 10,000 products (DemoSource(size=10000), via the page's session-state hook).
Gallery: one job with 2,000 generated images (500 products x 4 variants). Each figure is the median of
`AppTest.run()` over several views after one warm-up view; "first view" is that warm-up (cold caches: product
previews drawn, the 2,000 gallery entries read). The first row's first view is the process's first page view
(page modules imported, fresh data directory); the "white background only" row starts with the photo caches
emptied, so its first view checks photos as a fresh process would.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
PRODUCTS = 10_000
GALLERY_PRODUCTS, VARIANTS = 500, 4


def _timed(
    make: Callable[[], AppTest], runs: int, action: Callable[[AppTest], None] | None = None
) -> tuple[list[float], list[float], float, float]:
    """Wall and CPU seconds per view, and the first (cold) view's wall and CPU time. CPU time (all threads of
    this process) is the steadier figure on a busy machine; wall time is what a user waits for."""
    at = make()
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


def _clear_photo_caches() -> None:
    """Forget every photo check and preview drawn so far in this process."""
    from lib import catalog, drawing

    catalog.clear_caches()
    drawing.clear_caches()


def _seed_gallery(home: Path) -> int:
    """A finished job with GALLERY_PRODUCTS x VARIANTS approved/pending generated images."""
    from sqlmodel import select

    from lib.config import Settings
    from lib.jobs import JobSpec, Selection, create_job
    from lib.models import Asset, AssetKind, ItemStatus, Job, JobItem, JobStatus, ReviewState, utcnow
    from lib.runtime import Runtime
    from lib.sources.base import ProductQuery
    from lib.sources.demo import DemoSource

    rt = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=home, embedded_worker=False))
    source = DemoSource(rt, size=PRODUCTS)
    products = source.list_products(ProductQuery(per_page=GALLERY_PRODUCTS)).items
    while len(products) < GALLERY_PRODUCTS:
        page = len(products) // 100 + 1
        products += source.list_products(ProductQuery(page=page, per_page=100)).items
        products = list({p.id: p for p in products}.values())
    job = create_job(
        rt,
        spec=JobSpec(source_kind="demo", variants=VARIANTS),
        selections=[Selection(p) for p in products[:GALLERY_PRODUCTS]],
    )
    shas = []
    for i in range(8):  # a few distinct result images; thumbnails come from the blob store like real ones
        buf = io.BytesIO()
        Image.new("RGB", (1024, 1024), (200 - i * 10, 180, 160 + i * 8)).save(buf, "JPEG", quality=85)
        shas.append(rt.blobs.put(buf.getvalue()))
    src_sha = shas[0]
    with rt.db.transaction() as s:
        items = list(s.exec(select(JobItem).where(JobItem.job_id == job.id)).all())
        for n, item in enumerate(items):
            asset = Asset(
                sha256=shas[n % len(shas)],
                kind=AssetKind.GENERATED,
                job_id=job.id,
                item_id=item.id,
                product_id=item.product_id,
                width=1024,
                height=1024,
                size_bytes=1,
                review_state=ReviewState.APPROVED if n % 3 == 0 else ReviewState.PENDING,
                alt_text=f"{item.product.get('name')} on a marble counter",
            )
            s.add(asset)
            s.flush()
            item.status, item.result_asset_id, item.source_sha = ItemStatus.SUCCEEDED, asset.id, src_sha
            item.latency_ms, item.finished_at = 850.0 + n % 50, utcnow()
            s.add(item)
        db_job = s.get(Job, job.id)
        db_job.status, db_job.finished_at, db_job.started_at = JobStatus.SUCCEEDED, utcnow(), utcnow()
        s.add(db_job)
        n_assets = len(items)
    return n_assets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    import streamlit as st

    from lib import ui

    rows: list[tuple[str, str, tuple[list[float], list[float], float, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ["IMAGEGECKO_HOME"] = str(home)
        os.environ["EMBEDDED_WORKER"] = "false"
        os.chdir(ROOT)
        st.cache_resource.clear()

        def products() -> AppTest:
            at = AppTest.from_file(str(ROOT / "pages" / "products.py"), default_timeout=300)
            at.session_state[ui.DEMO_SIZE] = PRODUCTS
            return at

        rows.append(("Products", f"{PRODUCTS:,} products, page 1 (24 cards)", _timed(products, args.runs)))

        def next_page(at: AppTest) -> None:
            at.session_state["prod_page"] = at.session_state["prod_page"] + 1 if "prod_page" in at.session_state else 2

        rows.append(
            (
                "Products",
                f"{PRODUCTS:,} products, paging (new thumbnails each view)",
                _timed(products, args.runs, next_page),
            )
        )

        def search(at: AppTest) -> None:
            at.text_input(key="prod_search").input("mug")

        rows.append(("Products", f"{PRODUCTS:,} products, search 'mug'", _timed(products, args.runs, search)))

        def white() -> AppTest:
            at = products()
            at.session_state["prod_white"] = True
            return at

        _clear_photo_caches()
        rows.append(
            (
                "Products",
                f"{PRODUCTS:,} products, white only, paging (photos checked)",
                _timed(white, args.runs, next_page),
            )
        )

        n_assets = _seed_gallery(home)

        def gallery() -> AppTest:
            return AppTest.from_file(str(ROOT / "pages" / "gallery.py"), default_timeout=300)

        rows.append(("Gallery", f"{n_assets:,} images, first page (8 products)", _timed(gallery, args.runs)))

        def gallery_next(at: AppTest) -> None:
            at.session_state["gallery_page"] = at.session_state["gallery_page"] + 1

        rows.append(
            (
                "Gallery",
                f"{n_assets:,} images, paging (next 8 products each view)",
                _timed(gallery, args.runs, gallery_next),
            )
        )
        st.cache_resource.clear()

    print(
        f"{'page':<10} {'view':<56} {'wall median':>12} {'wall min':>9} {'cpu median':>11} {'first view':>11} "
        f"{'first cpu':>10}"
    )
    for page, what, (wall, cpu, first, first_cpu) in rows:
        print(
            f"{page:<10} {what:<56} {statistics.median(wall) * 1000:>10.0f}ms {min(wall) * 1000:>7.0f}ms "
            f"{statistics.median(cpu) * 1000:>9.0f}ms {first * 1000:>9.0f}ms {first_cpu * 1000:>8.0f}ms"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"({args.runs} views each after one warm-up view; AppTest.run() = one script run; "
        f"{os.cpu_count()} CPUs, load average {load:.1f} at the end)"
    )


if __name__ == "__main__":
    main()
