"""Streamlit server memory while paging a 2,000-image gallery: a real `streamlit run app.py` and a real browser.

    .venv/bin/python -m bench.gallery_memory [--pages 100] [--products 500]

Seeds a data directory with one finished job of --products x 4 distinct generated images, starts the app on a free
loopback port, opens the Gallery in headless chromium and presses "Next" --pages times (wrapping back to the first
page at the end), waiting each time for the new page number. Prints the server's resident memory (VmRSS) after
page 1, 10, 25, 50 and the last, and the growth after the first 10 pages (goal <= 30 MB).
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _seed(home: Path, n_products: int, variants: int = 4) -> int:
    from sqlmodel import select

    from lib.config import Settings
    from lib.jobs import JobSpec, Selection, create_job
    from lib.models import Asset, AssetKind, ItemStatus, Job, JobItem, JobStatus, ReviewState, utcnow
    from lib.runtime import Runtime
    from lib.sources.base import ProductQuery
    from lib.sources.demo import DemoSource

    rt = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=home, embedded_worker=False))
    source = DemoSource(rt, size=n_products)
    products = []
    for page in range(1, n_products // 100 + 2):
        products += source.list_products(ProductQuery(page=page, per_page=100)).items
    products = products[:n_products]
    job = create_job(
        rt, spec=JobSpec(source_kind="demo", variants=variants), selections=[Selection(p) for p in products]
    )
    rng = np.random.default_rng(1)
    with rt.db.transaction() as s:
        items = list(s.exec(select(JobItem).where(JobItem.job_id == job.id)).all())
        for n, item in enumerate(items):
            # Every image distinct (a real job's are): a server that keeps what it showed cannot share bytes.
            arr = (rng.random((24, 24, 3)) * 255).astype(np.uint8)
            buf = io.BytesIO()
            Image.fromarray(arr).resize((384, 384), Image.Resampling.BILINEAR).save(buf, "JPEG", quality=80)
            sha = rt.blobs.put(buf.getvalue())
            asset = Asset(
                sha256=sha,
                kind=AssetKind.GENERATED,
                job_id=job.id,
                item_id=item.id,
                product_id=item.product_id,
                width=384,
                height=384,
                size_bytes=len(buf.getvalue()),
                review_state=ReviewState.APPROVED if n % 3 == 0 else ReviewState.PENDING,
                alt_text="A product on a marble counter",
            )
            s.add(asset)
            s.flush()
            item.status, item.result_asset_id, item.source_sha = ItemStatus.SUCCEEDED, asset.id, sha
            item.finished_at = utcnow()
            s.add(item)
        db_job = s.get(Job, job.id)
        assert db_job is not None
        db_job.status, db_job.finished_at, db_job.started_at = JobStatus.SUCCEEDED, utcnow(), utcnow()
        s.add(db_job)
    return len(items)


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--products", type=int, default=500)
    parser.add_argument(
        "--arenas", type=int, default=None, help="MALLOC_ARENA_MAX for the server (glibc heaps; default: unset)"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, _wait_healthy

    with tempfile.TemporaryDirectory() as d:
        home = Path(d)
        n = _seed(home, args.products)
        port = _free_port()
        env = dict(os.environ, IMAGEGECKO_HOME=str(home))
        if args.arenas:
            env["MALLOC_ARENA_MAX"] = str(args.arenas)
        cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)]
        cmd += ["--server.address", "127.0.0.1", "--server.headless", "true", "--server.fileWatcherType", "none"]
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        samples: dict[int, float] = {}
        try:
            _wait_healthy(url, proc)
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1440, "height": 1000})
                page.goto(url + "/gallery")
                page.get_by_text("page 1 of", exact=False).wait_for(timeout=300_000)
                samples[1] = _rss_mb(proc.pid)
                total_pages = -(-args.products // 8)
                current = 1
                t0 = time.monotonic()
                for view in range(2, args.pages + 1):
                    if current == total_pages:
                        page.get_by_role("button", name="Previous").first.click()
                        current -= 1
                    else:
                        page.get_by_role("button", name="Next").first.click()
                        current += 1
                    page.get_by_text(f"page {current} of", exact=False).wait_for(timeout=300_000)
                    samples[view] = _rss_mb(proc.pid)
                    if view % 10 == 0:
                        print(f"  view {view}: {samples[view]:.0f} MB", flush=True)
                wall = time.monotonic() - t0
                browser.close()
            with urllib.request.urlopen(url + "/_stcore/health", timeout=10):
                pass
            after_close = _rss_mb(proc.pid)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    print(f"Streamlit server paging a {n:,}-image gallery {args.pages} times ({wall:.0f} s)")
    print(f"{'after page view':>16} {'RSS MB':>8}")
    for k in (1, 10, 25, 50, args.pages):
        if k in samples:
            print(f"{k:>16} {samples[k]:8.0f}")
    print(f"{'browser closed':>16} {after_close:8.0f}")
    print(f"growth after the first 10 views: {samples[args.pages] - samples[10]:.0f} MB   (goal <= 30 MB)")


if __name__ == "__main__":
    main()
