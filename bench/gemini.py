"""Gemini figures against the loopback emulator (2 s per image call, 60 requests/minute quota):

  1. 100 items online through lib.worker: wall time vs the quota-bound minimum (100 s) and the ratio;
  2. the same 100 items in batch mode: API calls made and cost, against the online cost; how many alt texts the
     text model wrote while the batch was stored, and how long an idle worker took to write the rest.

    python -m bench.gemini [--online-only] [--draw-photos]   (two minutes or more; never run by tests)

The demo catalogue's photos are drawn before the online run's timer starts, as a store would already hold them
(--draw-photos draws them during the run instead); the online row also gives this process's CPU time, since on a
busy two-CPU machine the per-item CPU work (photo normalising, the fidelity check, thumbnails), not the quota, can
set the pace.

The real SDK (google-genai) talks HTTP to tests/emulators/gemini.py on 127.0.0.1; no network.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sqlmodel import select

from lib import jobs
from lib.config import Settings
from lib.models import ItemStatus, Job, JobItem
from lib.runtime import Runtime
from lib.sources import demo
from lib.sources.base import ProductQuery, SourceImage
from lib.worker import Worker, alt_texts, batch, start_embedded
from tests.emulators.gemini import GeminiEmulator

MODEL = "gemini-2.5-flash-image"


def _runtime(home: Path, emu: GeminiEmulator, rpm: float) -> Runtime:
    return Runtime.build(
        Settings.load(
            secrets_file=None,
            imagegecko_home=home,
            gemini_api_key=emu.api_key,
            gemini_base_url=emu.url,
            rate_limits={"gemini": rpm, "gemini_text": rpm},
            poll_seconds=0.05,
        )
    )


def _job(rt: Runtime, n: int, mode: str) -> Job:
    products = rt.source("demo").list_products(ProductQuery(per_page=n)).items[:n]
    assert len(products) == n, "the demo catalogue is too small"
    spec = jobs.JobSpec(source_kind="demo", provider="gemini", model=MODEL, style="marble_counter", mode=mode)
    return jobs.create_job(rt, spec=spec, selections=[jobs.Selection(p) for p in products])


def _summary(rt: Runtime, job_id: int) -> dict[str, Any]:
    with rt.db.session() as s:
        job = s.get(Job, job_id)
        items = list(s.exec(select(JobItem).where(JobItem.job_id == job_id)).all())
    assert job is not None
    return {
        "status": job.status,
        "succeeded": sum(i.status == ItemStatus.SUCCEEDED for i in items),
        "items": len(items),
        "cost": job.actual_cost,
        "attempts": sum(i.attempts for i in items),
    }


def _calls(emu: GeminiEmulator) -> Counter[str]:
    calls: Counter[str] = Counter()
    for _method, path, status in emu.log:
        if ":generateContent" in path:
            kind = "image" if "image" in path else "alt text"
            calls[f"generateContent ({kind})" + (f" {status}" if status != 200 else "")] += 1
    for route in (
        "batches.create",
        "batches.get",
        "batches.list",
        "files.upload.start",
        "files.upload.chunk",
        "files.download",
    ):
        if emu.counts[route]:
            calls[route] = emu.counts[route]
    return calls


def online(n: int, latency: float, rpm: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, GeminiEmulator(latency=latency, quota_rpm=rpm) as emu:
        emu.use_studio = False
        emu.text_latency = 0.5
        rt = _runtime(Path(tmp), emu, rpm)
        job = _job(rt, n, "online")
        source = rt.source("demo")
        for product in source.list_products(ProductQuery(per_page=n)).items[:n]:  # the store's files (see main)
            source.fetch_image(product.images[0])
        worker = Worker(rt)
        t0, c0 = time.monotonic(), time.process_time()
        worker.run(until_idle=True)
        wall, cpu = time.monotonic() - t0, time.process_time() - c0
        out = _summary(rt, job.id or 0)
        out.update(wall=wall, cpu=cpu, calls=_calls(emu), minimum=n / rpm * 60, in_flight=worker.target_in_flight())
        return out


def in_batch(n: int, latency: float, rpm: int) -> dict[str, Any]:
    batch.POLL_MIN_SECONDS = 1.0  # the emulator finishes on the second poll; real batches take minutes to hours
    with tempfile.TemporaryDirectory() as tmp, GeminiEmulator(latency=latency, quota_rpm=rpm) as emu:
        emu.use_studio = False
        emu.text_latency = 0.5  # alt text calls, as in the online run
        emu.batch_auto = True
        rt = _runtime(Path(tmp), emu, rpm)
        job = _job(rt, n, "batch")
        t0 = time.monotonic()
        Worker(rt).run(until_idle=True)
        wall = time.monotonic() - t0
        out = _summary(rt, job.id or 0)
        out.update(wall=wall, calls=_calls(emu), inline=not any(r.from_file for r in emu.batches.values()))
        out["alt_later"] = pending = alt_texts.pending_count(rt)
        t1 = time.monotonic()
        if pending:  # the app's worker, idle, writes them within the text model's rate limit
            embedded = start_embedded(rt)
            while alt_texts.pending_count(rt) and time.monotonic() - t1 < 600:
                embedded.worker.stop_event.wait(0.2)
            embedded.stop(timeout=60)
        out.update(alt_wall=time.monotonic() - t1, alt_left=alt_texts.pending_count(rt), calls_after=_calls(emu))
        return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--latency", type=float, default=2.0, help="seconds per image call")
    parser.add_argument("--rpm", type=int, default=60, help="requests per minute (quota and worker limit)")
    parser.add_argument("--online-only", action="store_true", help="skip the batch-mode run")
    parser.add_argument("--draw-photos", action="store_true", help="draw the demo photos during the run")
    args = parser.parse_args(argv)

    # The demo catalogue has 14 products; the benchmark needs `items` distinct ones (distinct requests,
    # so the identical-request cache does not skip any).
    real_open = demo.open_source
    size = max(args.items, 14)
    photos: dict[str, bytes] = {}

    class StorePhotos(demo.DemoSource):
        """The demo catalogue with its photos drawn before the run (--draw-photos: during it). A store sends files
        it already has; drawing a 1024 px photo costs about as much CPU as the fidelity check, and on two shared
        CPUs that work, not the Gemini path, would set the pace."""

        def fetch_image(self, image: SourceImage) -> bytes:
            if image.ref not in photos:
                photos[image.ref] = super().fetch_image(image)
            return photos[image.ref]

    opened = demo.DemoSource if args.draw_photos else StorePhotos
    demo.open_source = lambda runtime, connection=None: opened(runtime, size=size)
    try:
        on = online(args.items, args.latency, args.rpm)
        off = None if args.online_only else in_batch(args.items, args.latency, args.rpm)
    finally:
        demo.open_source = real_open

    print(
        f"Gemini emulator: {args.latency:g} s per image call, quota {args.rpm} requests/minute, "
        f"{args.items} items, model {MODEL}"
    )
    print()
    print(
        f"{'mode':<8} {'done':>8} {'wall s':>8} {'quota-min s':>12} {'ratio':>6} {'goal':>6} {'cost $':>8} "
        f"{'$ / image':>9}"
    )
    print(
        f"{'online':<8} {on['succeeded']:>4}/{on['items']:<3} {on['wall']:>8.1f} {on['minimum']:>12.1f} "
        f"{on['wall'] / on['minimum']:>6.2f} {'<=1.05':>6} {on['cost']:>8.3f} "
        f"{on['cost'] / max(1, on['succeeded']):>9.4f}"
    )
    print(
        f"online: this process used {on['cpu']:.1f} s of CPU in {on['wall']:.1f} s "
        f"({on['cpu'] / on['items']:.2f} s per item: photo, fidelity check, thumbnails); the ratio can only reach "
        "the goal when that CPU fits beside the quota's pace "
        f"(load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)"
    )
    print(f"online: {on['attempts']} attempts for {on['items']} items, worker in flight {on['in_flight']}")
    if off is None:
        return 0
    print(
        f"{'batch':<8} {off['succeeded']:>4}/{off['items']:<3} {off['wall']:>8.1f} {'-':>12} {'-':>6} "
        f"{off['cost']:>8.3f} {off['cost'] / max(1, off['succeeded']):>9.4f}"
    )
    print()
    print(f"{'API calls':<34} {'online':>8} {'batch':>8}")
    for key in sorted(set(on["calls"]) | set(off["calls"])):
        print(f"{key:<34} {on['calls'].get(key, 0):>8} {off['calls'].get(key, 0):>8}")
    print()
    print(
        f"batch alt texts: {off['items'] - off['alt_later']} written while storing, {off['alt_later']} left to "
        f"the template and written by the idle worker in {off['alt_wall']:.1f} s, {off['alt_left']} still "
        f"template; text calls in all: {sum(v for k, v in off['calls_after'].items() if 'alt text' in k)}"
    )
    print(
        f"batch: {'inline' if off['inline'] else 'JSONL file'}, its wall time is the emulator's (real batches "
        "take minutes to 24 h)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
