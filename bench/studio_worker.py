"""The studio engine through the worker: CPU per image and peak memory for an auto-style job, against the engine
alone on the same requests (same products, styles, variants and seeds: the same pictures).

    .venv/bin/python bench/studio_worker.py [--products 50] [--variants 4] [--concurrency N] [--fidelity both|off|on]

Each side runs in its own process (so peak memory is its own): "engine" renders the job's requests one after the
other in one thread; "worker" queues the job (demo catalogue extended to --products colourways, style auto, 1024 px)
and runs a worker until idle, once with the product-fidelity check off (FIDELITY_CHECK=false: the pipeline alone,
the figure to hold against the engine) and once with it on (what a real job costs). CPU is the whole process's
user+system time over the run, divided by the images. Product photos are drawn before the clock starts in all of
them, so the figures are about the engine, the pipeline and the check.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _products(n: int):  # type: ignore[no-untyped-def]
    from lib.sources.base import ProductQuery
    from lib.sources.demo import DemoSource

    source = DemoSource(None, size=n + 8)
    items = [p for p in source.list_products(ProductQuery(per_page=n + 8)).items if not p.variations][:n]
    for p in items:
        source.fetch_image(p.images[0])
    return source, items


def run_engine(n: int, variants: int) -> dict:
    from lib.generation.base import GenerationRequest
    from lib.generation.prompts import build_prompt, product_info, resolve_style
    from lib.generation.studio import StudioEngine, cache_stats

    source, products = _products(n)
    reqs = []
    for p in products:
        info = product_info(p)
        style = resolve_style("auto", info.category)
        data = source.fetch_image(p.images[0])
        for v in range(variants):
            reqs.append(
                GenerationRequest(
                    source_image=data,
                    prompt=build_prompt(info, style),
                    product=info,
                    style=style,
                    model="studio-v1",
                    variant_index=v,
                    seed=v,  # what the worker sends a first run (lib/worker/pipeline.py): the same pictures
                )
            )
    engine = StudioEngine()
    c0, t0 = _cpu(), time.monotonic()
    gen = 0.0
    for r in reqs:
        g = time.thread_time()
        engine.generate(r)
        gen += time.thread_time() - g
    return {
        "images": len(reqs),
        "cpu_ms": (_cpu() - c0) * 1000 / len(reqs),
        "generate_ms": gen * 1000 / len(reqs),
        "wall_s": time.monotonic() - t0,
        "peak_mb": _peak_mb(),
        "caches": cache_stats(),
    }


def run_worker(n: int, variants: int, concurrency: int | None, fidelity: bool) -> dict:
    from lib import jobs
    from lib.config import Settings
    from lib.generation.studio import StudioEngine, cache_stats
    from lib.runtime import Runtime
    from lib.sources import demo
    from lib.worker import Worker

    source, products = _products(n)
    demo.open_source = lambda runtime, connection=None: demo.DemoSource(runtime, size=n + 8)  # type: ignore[assignment]
    # The engine's own call, timed as on the engine side (its thread's CPU), to split the worker's CPU into the
    # engine and what the pipeline adds around it.
    gen = [0.0]
    lock = threading.Lock()
    real = StudioEngine.generate

    def timed(self, req):  # type: ignore[no-untyped-def]
        g = time.thread_time()
        try:
            return real(self, req)
        finally:
            with lock:
                gen[0] += time.thread_time() - g

    StudioEngine.generate = timed  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as d:
        rt = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=Path(d), fidelity_check=fidelity))
        job = jobs.create_job(
            rt,
            spec=jobs.JobSpec(source_kind="demo", style="auto", variants=variants),
            selections=[jobs.Selection(p) for p in products],
        )
        c0, t0 = _cpu(), time.monotonic()
        Worker(rt, concurrency=concurrency).run(until_idle=True)
        wall = time.monotonic() - t0
        items = jobs.job_items(rt.db, job.id or 0)
        done = sum(1 for i in items if i.status == "succeeded")
        return {
            "images": done,
            "failed": len(items) - done,
            "cpu_ms": (_cpu() - c0) * 1000 / max(1, done),
            "generate_ms": gen[0] * 1000 / max(1, done),
            "wall_s": wall,
            "peak_mb": _peak_mb(),
            "caches": cache_stats(),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=None, help="worker items in flight (default: settings)")
    parser.add_argument(
        "--fidelity", choices=["both", "off", "on"], default="both", help="worker runs without / with the check"
    )
    parser.add_argument("--side", choices=["engine", "worker", "worker+fidelity"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side == "engine":
        print(json.dumps(run_engine(args.products, args.variants)))
        return
    if args.side:
        print(json.dumps(run_worker(args.products, args.variants, args.concurrency, args.side == "worker+fidelity")))
        return
    sides = ["engine"]
    sides += ["worker"] if args.fidelity in ("both", "off") else []
    sides += ["worker+fidelity"] if args.fidelity in ("both", "on") else []
    results = {}
    for side in sides:
        cmd = [
            sys.executable,
            __file__,
            "--side",
            side,
            "--products",
            str(args.products),
            "--variants",
            str(args.variants),
        ]
        if args.concurrency:
            cmd += ["--concurrency", str(args.concurrency)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results[side] = json.loads(out.strip().splitlines()[-1])
    e = results["engine"]
    names = {"engine": "engine alone", "worker": "worker, no fidelity", "worker+fidelity": "worker + fidelity"}
    print(f"auto-style job: {args.products} products x {args.variants} variants, 1024 px (wall: under load)")
    print(f"{'':22} {'images':>7} {'CPU ms/img':>11} {'x engine':>9} {'in generate':>12} {'wall s':>8} {'peak MB':>8}")
    for side, r in results.items():
        ratio = r["cpu_ms"] / e["cpu_ms"]
        print(
            f"{names[side]:22} {r['images']:7d} {r['cpu_ms']:11.0f} {ratio:9.2f} {r['generate_ms']:12.0f}"
            f" {r['wall_s']:8.1f} {r['peak_mb']:8.0f}"
        )
    print("goals: worker without the check <= 1.2 x engine; worker peak <= 500 MB")
    print("(CPU ms/img: the whole process's CPU over the run; in generate: the engine's generate() calls alone)")
    for side, r in results.items():
        if side != "engine":
            print(f"{names[side]} caches: {r['caches']}")
            if r.get("failed"):
                print(f"{names[side]} failed items: {r['failed']}")


if __name__ == "__main__":
    main()
