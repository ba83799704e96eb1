"""Publishing to the WooCommerce emulator: images per second and uploads per image, without and with faults.

    .venv/bin/python -m bench.publish [--images 200] [--fault-rate 0.2] [--concurrency 4] [--real-waits]

Each scenario uses a fresh emulator holding N simple products (one image each), a job with one approved 1024 px
generated image per product, and `publish_job(..., "featured")` through the real clients (woocommerce + httpx, OAuth
1.0a verified by the emulator). With faults, that fraction of all store requests answers HTTP 500: half of them
before the store applies the request, half after (the upload stored or the image list changed, the answer lost),
which is what makes "exactly one upload per image" hard. "fewer imgs" counts products that lost an image they
had before (must be 0). A last table has two data folders (two databases) publish the same images to one store:
uploads per distinct image must stay 1.0. Publications that still fail after the in-run retries are
picked up by running publish again (counted as "runs"). Retry back-off waits are skipped and reported (their sum)
unless --real-waits is given, in which case they are slept as in production.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

from PIL import Image

from lib import publish
from lib.config import Settings
from lib.models import Asset, AssetKind, Job, JobItem, PublicationState, ReviewState
from lib.runtime import Runtime
from lib.sources import wc_client
from lib.sources.woocommerce import open_source, save_woocommerce
from tests.emulators.woocommerce import (
    APP_PASSWORD,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    WP_USER,
    WooEmulator,
    image_bytes,
)


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1024, 1024), ((i * 53) % 256, (i * 97) % 256, (i * 31) % 256)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _approved_job(rt: Runtime, emu: WooEmulator, pids: list[int]) -> int:
    """A finished job with one approved 1024 px image per product (image i is the same bytes in every folder)."""
    conn = save_woocommerce(
        rt, url=emu.url, key=CONSUMER_KEY, secret=CONSUMER_SECRET, wp_user=WP_USER, app_password=APP_PASSWORD
    )
    source = open_source(rt, conn)
    products = [source.get_product(str(pid)) for pid in pids]
    blobs = [rt.blobs.put(_jpeg(i)) for i in range(len(pids))]
    with rt.db.transaction() as s:
        job = Job(
            source_kind="woocommerce",
            connection_id=conn.id,
            provider="studio",
            model="studio-v1",
            style="marble_counter",
            item_count=len(pids),
            status="succeeded",
        )
        s.add(job)
        s.flush()
        for product, sha in zip(products, blobs, strict=True):
            item = JobItem(job_id=job.id, product_id=product.id, product=product.to_dict(), status="succeeded")
            s.add(item)
            s.flush()
            s.add(
                Asset(
                    sha256=sha,
                    kind=AssetKind.GENERATED,
                    job_id=job.id,
                    item_id=item.id,
                    product_id=product.id,
                    alt_text=f"{product.name} on a table",
                    width=1024,
                    height=1024,
                    review_state=ReviewState.APPROVED,
                )
            )
        assert job.id is not None
        return job.id


def _scenario(n: int, fault_rate: float, concurrency: int, real_waits: bool) -> dict[str, float | int | str]:
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        if real_waits:
            time.sleep(seconds)

    publish.SLEEP = wc_client.SLEEP = wait
    with tempfile.TemporaryDirectory() as tmp, WooEmulator(seed=False) as emu:
        photo = emu.add_media("photo.jpg", image_bytes((90, 90, 90)))
        pids = [
            emu.add_product(f"Bench Item {i:03d}", sku=f"BENCH-{i:03d}", price="1.00", images=[photo]) for i in range(n)
        ]
        rt = Runtime.build(
            Settings.load(secrets_file=None, imagegecko_home=Path(tmp), private_store_hosts=["127.0.0.1"])
        )
        job_id = _approved_job(rt, emu, pids)
        requests_before = emu.counts["requests"]
        if fault_rate:
            half = fault_rate / 2
            emu.inject("*", r"^/wp-json/", status=500, mode="status", times=None, rate=half)
            emu.inject("*", r"^/wp-json/", status=500, mode="status_after", times=None, rate=half / (1 - half))
        runs = 0
        start = time.perf_counter()
        while True:
            runs += 1
            pubs = publish.publish_job(rt, job_id, "featured", concurrency=concurrency)
            if all(p.state == PublicationState.DONE for p in pubs) or runs >= 10:
                break
        seconds = time.perf_counter() - start
        faults = sum(f.hits for f in emu.faults)
        emu.clear_faults()
        correct = sum(
            1
            for pid, p in zip(pids, pubs, strict=True)
            if p.state == PublicationState.DONE and emu.image_ids(pid) == [int(p.remote_media_id), photo]
        )
        fewer = sum(1 for pid in pids if photo not in emu.image_ids(pid))  # lost the image it had before
        stored = sum(1 for m in emu.media.values() if "-ai-" in m["file"])
        rt.db.dispose()
        return {
            "scenario": f"{fault_rate:.0%} 5xx" if fault_rate else "no faults",
            "images": n,
            "runs": runs,
            "seconds": seconds,
            "per_second": n / seconds,
            "uploads_per_image": emu.counts["uploads"] / n,
            "media_per_image": stored / n,
            "requests": emu.counts["requests"] - requests_before,
            "faults": faults,
            "correct": correct,
            "fewer": fewer,
            "waits": sum(waits),
        }


def _folders(n: int) -> dict[str, float | int]:
    """Two data folders (a laptop and a server, each its own database) publish the same approved images to one
    store: the second finds every image in the media library (by name and content) instead of uploading it."""
    publish.SLEEP = wc_client.SLEEP = lambda s: None
    with tempfile.TemporaryDirectory() as tmp, WooEmulator(seed=False) as emu:
        photo = emu.add_media("photo.jpg", image_bytes((90, 90, 90)))
        pids = [emu.add_product(f"Item {i:03d}", sku=f"TWO-{i:03d}", price="1.00", images=[photo]) for i in range(n)]
        for home in ("laptop", "server"):
            rt = Runtime.build(
                Settings.load(secrets_file=None, imagegecko_home=Path(tmp) / home, private_store_hosts=["127.0.0.1"])
            )
            job_id = _approved_job(rt, emu, pids)
            publish.publish_job(rt, job_id, "gallery")
            rt.db.dispose()
        stored = sum(1 for m in emu.media.values() if "-ai-" in m["file"])
        return {"images": n, "uploads_per_image": emu.counts["uploads"] / n, "media_per_image": stored / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=publish.DEFAULT_CONCURRENCY)
    parser.add_argument("--real-waits", action="store_true", help="sleep the retry back-off as production does")
    args = parser.parse_args()
    rows = [
        _scenario(args.images, 0.0, args.concurrency, args.real_waits),
        _scenario(args.images, args.fault_rate, args.concurrency, args.real_waits),
    ]
    print(f"concurrency {args.concurrency}; back-off waits {'slept' if args.real_waits else 'skipped'}")
    header = (
        f"{'scenario':<10} {'images':>6} {'runs':>4} {'seconds':>8} {'images/s':>8} {'uploads/img':>11} "
        f"{'media/img':>9} {'requests':>8} {'5xx sent':>8} {'lists ok':>9} {'fewer imgs':>10} {'back-off':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['scenario']:<10} {r['images']:>6} {r['runs']:>4} {r['seconds']:>8.2f} {r['per_second']:>8.1f} "
            f"{r['uploads_per_image']:>11.2f} {r['media_per_image']:>9.2f} {r['requests']:>8} {r['faults']:>8} "
            f"{r['correct']:>5}/{r['images']:<3} {r['fewer']:>10} {r['waits']:>8.1f}s"
        )
    two = _folders(min(args.images, 50))
    print()
    print("two data folders publishing the same approved images to one store")
    print(f"{'images':>6} {'uploads/img':>11} {'media/img':>9}")
    print(f"{two['images']:>6} {two['uploads_per_image']:>11.2f} {two['media_per_image']:>9.2f}")


if __name__ == "__main__":
    main()
