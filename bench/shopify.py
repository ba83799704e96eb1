"""Publishing to the Shopify emulator under its cost bucket: images per second, THROTTLED answers, uploads per image;
then rollback exactness (media ids and order, and each variant's media) over every product.

    .venv/bin/python -m bench.shopify [--products 20] [--per-product 5] [--bucket 1000] [--rate 50] [--concurrency 4]

A fresh emulator holds N products with two images each (every fourth product has two variants, one showing the
second image); a job holds `per-product` approved 1024 px images per product. Half the products get their images
as featured (each new one first, the old ones kept after it), half as gallery images, through
`lib.publish.publish_assets` and the real httpx client. The bucket (default 1000 points, 50/s, as older Shopify
plans) refills in real time and every wait is really slept: the figures are wall-clock figures. Media processing
and reorder jobs advance one step per request the shop answers. Then everything is published again (uploads must
not grow) and rolled back, and each product's media list and variants are compared with the snapshot taken before.
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
from lib.sources.shopify import open_source
from lib.sources.shopify_check import save_shopify
from tests.emulators.shopify import ADMIN_TOKEN, ShopifyEmulator, image_bytes


def _jpeg(i: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (1024, 1024), ((i * 53) % 256, (i * 97) % 256, (i * 31) % 256)).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _state(emu: ShopifyEmulator, pid: int) -> tuple[list[int], dict[int, list[int]]]:
    p = emu.products[pid]
    return emu.product_media(pid), {v: emu.variant_media_ids(v) for v in p["variants"]}


def run(products: int, per_product: int, bucket: float, rate: float, concurrency: int) -> dict[str, float | int]:
    with tempfile.TemporaryDirectory() as tmp, ShopifyEmulator(seed=False, bucket_max=bucket, restore_rate=rate) as emu:
        pids = []
        for i in range(products):
            a = emu.add_media(f"bench-{i:03d}-a.jpg", image_bytes((90, 90, 90)))
            b = emu.add_media(f"bench-{i:03d}-b.jpg", image_bytes((60, 60, 60)))
            variants = (
                [
                    {"title": "Red", "sku": f"BENCH-{i:03d}-R", "options": {"Color": "Red"}, "media": [b]},
                    {"title": "Blue", "sku": f"BENCH-{i:03d}-B", "options": {"Color": "Blue"}, "media": []},
                ]
                if i % 4 == 0
                else None
            )
            pids.append(emu.add_product(f"Bench {i:03d}", sku=f"BENCH-{i:03d}", media=[a, b], variants=variants))
        before = {pid: _state(emu, pid) for pid in pids}
        rt = Runtime.build(
            Settings.load(secrets_file=None, imagegecko_home=Path(tmp), private_store_hosts=["127.0.0.1"])
        )
        conn = save_shopify(rt, shop=emu.url, access_token=ADMIN_TOKEN)
        source = open_source(rt, conn)
        items = [source.get_product(str(pid)) for pid in pids]
        n = products * per_product
        blobs = [rt.blobs.put(_jpeg(i)) for i in range(n)]
        featured: list[int] = []
        gallery: list[int] = []
        with rt.db.transaction() as s:
            job = Job(
                source_kind="shopify",
                connection_id=conn.id,
                provider="studio",
                model="studio-v1",
                style="marble_counter",
                item_count=n,
                status="succeeded",
            )
            s.add(job)
            s.flush()
            for index, sha in enumerate(blobs):
                product = items[index % products]
                item = JobItem(job_id=job.id, product_id=product.id, product=product.to_dict(), status="succeeded")
                s.add(item)
                s.flush()
                asset = Asset(
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
                s.add(asset)
                s.flush()
                assert asset.id is not None
                (featured if (index % products) % 2 == 0 else gallery).append(asset.id)
            job_id = job.id
        throttled_before = emu.counts["throttled"]
        start = time.perf_counter()
        pubs = publish.publish_assets(rt, featured, "featured", concurrency=concurrency)
        pubs += publish.publish_assets(rt, gallery, "gallery", concurrency=concurrency)
        seconds = time.perf_counter() - start
        throttled = emu.counts["throttled"] - throttled_before
        done = sum(1 for p in pubs if p.state == PublicationState.DONE)
        uploads = emu.counts["uploads"]
        expected_ok = sum(1 for pid in pids if len(emu.product_media(pid)) == len(before[pid][0]) + per_product)
        again = publish.publish_assets(rt, featured, "featured", concurrency=concurrency)
        again += publish.publish_assets(rt, gallery, "gallery", concurrency=concurrency)
        rb_start = time.perf_counter()
        report = publish.rollback(rt, job_id=job_id)
        rb_seconds = time.perf_counter() - rb_start
        exact = sum(1 for pid in pids if _state(emu, pid) == before[pid])
        rt.db.dispose()
        return {
            "images": n,
            "done": done,
            "seconds": seconds,
            "per_second": n / seconds,
            "throttled": throttled,
            "uploads_per_image": uploads / n,
            "uploads_after_republish": emu.counts["uploads"] / n,
            "lists_ok": expected_ok,
            "products": products,
            "restored": len(report.restored),
            "exact": exact,
            "rollback_seconds": rb_seconds,
            "requests": emu.counts["graphql"],
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=20)
    parser.add_argument("--per-product", type=int, default=5)
    parser.add_argument("--bucket", type=float, default=1000.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, default=publish.DEFAULT_CONCURRENCY)
    args = parser.parse_args()
    r = run(args.products, args.per_product, args.bucket, args.rate, args.concurrency)
    print(f"bucket {args.bucket:g} points, refill {args.rate:g}/s; concurrency {args.concurrency}; waits slept")
    rows = [
        ("images published", f"{r['done']}/{r['images']}"),
        ("seconds", f"{r['seconds']:.1f}"),
        ("images/s", f"{r['per_second']:.2f}"),
        ("THROTTLED answers received", str(r["throttled"])),
        ("uploads per image", f"{r['uploads_per_image']:.2f}"),
        ("uploads per image after republishing", f"{r['uploads_after_republish']:.2f}"),
        ("products with every image attached", f"{r['lists_ok']}/{r['products']}"),
        ("GraphQL requests answered", str(r["requests"])),
        ("rollback: products restored", f"{r['restored']}/{r['products']}"),
        ("rollback: exact (media ids, order, variants)", f"{r['exact']}/{r['products']}"),
        ("rollback seconds", f"{r['rollback_seconds']:.1f}"),
    ]
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{width}}  {v:>10}")


if __name__ == "__main__":
    main()
