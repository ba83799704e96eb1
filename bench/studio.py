"""Studio engine figures: speed per 1024 px image, cut-out accuracy, distinct regenerates.

    .venv/bin/python bench/studio.py [--products 16] [--variants 4] [--size 1024] [--regenerates 20] [--speed-only]

1. Speed: every demo product x `--variants` variants in its category's style (an "auto" job), rendered in job order
   through generate() (JPEG encode included), one thread. Caches warm up as in a real job (the first variant of a
   product cuts it out; backgrounds are shared across products). Prints median and p95 ms per image, the cold
   first render, the renders that drew their background, and the figures per style (where the tail comes from).
2. Cut-out accuracy: mask IoU against the true silhouette for every drawn demo product (holes, glass, white parts)
   and for a set of drawn test photos with known masks (rings, straps, a white label with print).
3. Regenerates: `--regenerates` renders of one product with seeds 1..N; how many distinct pictures (by SHA-256 and
   by a visible difference: mean absolute pixel difference > 2 levels against every other).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.drawing import KINDS, draw, silhouette  # noqa: E402
from lib.generation.base import GenerationRequest  # noqa: E402
from lib.generation.prompts import build_prompt, product_info, resolve_style  # noqa: E402
from lib.generation.studio import StudioEngine, cache_stats, clear_caches, cut_out  # noqa: E402
from lib.sources.base import ProductQuery  # noqa: E402
from lib.sources.demo import DemoSource  # noqa: E402


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _iou(data: bytes, truth: np.ndarray) -> float:
    cut = cut_out(data)
    mask = np.zeros(truth.shape, dtype=bool)
    x0, y0, x1, y1 = cut.box
    mask[y0:y1, x0:x1] = cut.alpha > 0.5
    return float((mask & truth).sum() / max(1, (mask | truth).sum()))


def _test_photos(side: int = 1024) -> list[tuple[str, Image.Image, np.ndarray]]:
    """Drawn photos with exact masks: a ring with a hole, a bag with two strap gaps, a white label with print, a
    white box with a shaded edge, a thin hoop (holes bigger than the product)."""
    out = []
    s = side / 1024

    def pair(name: str, fill: list[tuple[str, tuple, tuple]]) -> None:
        im = Image.new("RGB", (side, side), "white")
        mask = Image.new("L", (side, side), 0)
        d, m = ImageDraw.Draw(im), ImageDraw.Draw(mask)
        for kind, box, colour in fill:
            box = tuple(v * s for v in box)
            getattr(d, kind)(box, fill=colour)
            getattr(m, kind)(box, fill=0 if colour == (255, 255, 255) and name != "white label" else 255)
        out.append((name, im, np.asarray(mask) > 127))

    pair("ring", [("ellipse", (250, 250, 774, 774), (150, 60, 40)), ("ellipse", (400, 400, 624, 624), (255, 255, 255))])
    pair(
        "bag with straps",
        [
            ("rectangle", (250, 450, 774, 880), (60, 90, 70)),
            ("rectangle", (300, 200, 360, 460), (40, 40, 40)),
            ("rectangle", (300, 200, 480, 250), (40, 40, 40)),
            ("rectangle", (420, 200, 480, 460), (40, 40, 40)),
            ("rectangle", (544, 200, 604, 460), (40, 40, 40)),
            ("rectangle", (544, 200, 724, 250), (40, 40, 40)),
            ("rectangle", (664, 200, 724, 460), (40, 40, 40)),
        ],
    )
    pair(
        "white label",
        [
            ("rectangle", (300, 200, 724, 860), (30, 60, 120)),
            ("rectangle", (360, 400, 664, 660), (255, 255, 255)),
            ("rectangle", (400, 450, 620, 470), (30, 30, 30)),
        ],
    )
    pair(
        "white box",
        [("rectangle", (300, 300, 724, 800), (200, 200, 196)), ("rectangle", (310, 310, 714, 790), (246, 246, 244))],
    )
    pair(
        "hoop", [("ellipse", (200, 200, 824, 824), (200, 160, 60)), ("ellipse", (230, 230, 794, 794), (255, 255, 255))]
    )
    return out


def speed(args: argparse.Namespace) -> None:
    source = DemoSource(None)
    products = [p for p in source.list_products(ProductQuery(per_page=100)).items if not p.variations][: args.products]
    engine = StudioEngine()
    clear_caches()
    times: list[float] = []
    cpu: list[float] = []
    by_style: dict[str, list[float]] = {}
    cold_cpu: list[float] = []  # renders that drew their background (a miss of the background cache)
    cold = 0.0
    for product in products:
        info = product_info(product)
        data = source.fetch_image(product.images[0])
        style = resolve_style("auto", info.category)
        prompt = build_prompt(info, style)
        for v in range(args.variants):
            req = GenerationRequest(
                source_image=data,
                prompt=prompt,
                product=info,
                style=style,
                model="studio-v1",
                output_size=args.size,
                variant_index=v,
            )
            misses = cache_stats()["background"]["misses"]
            t, c = time.perf_counter(), time.thread_time()
            engine.generate(req)
            ms = (time.perf_counter() - t) * 1000
            cpu.append((time.thread_time() - c) * 1000)
            by_style.setdefault(style, []).append(cpu[-1])
            if cache_stats()["background"]["misses"] > misses:
                cold_cpu.append(cpu[-1])
            if not times and not cold:
                cold = ms
            times.append(ms)

    def p95(xs: list[float]) -> float:
        xs = sorted(xs)
        return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]

    print(f"## speed: {len(times)} images ({len(products)} products x {args.variants} variants, auto), {args.size} px")
    print(f"{'':24} {'wall':>8} {'CPU':>8}   (CPU: this thread's time; wall includes waiting on a loaded machine)")
    print(f"{'median ms/image':24} {statistics.median(times):8.0f} {statistics.median(cpu):8.0f}")
    print(f"{'p95 ms/image':24} {p95(times):8.0f} {p95(cpu):8.0f}")
    print(f"{'mean ms/image':24} {statistics.mean(times):8.0f} {statistics.mean(cpu):8.0f}")
    print(f"{'first (cold) ms':24} {cold:8.0f}")
    cold_median = statistics.median(cold_cpu or [0])
    print(f"{'drew its background':24} {len(cold_cpu):8d} images, CPU median {cold_median:.0f} ms")
    print("CPU ms by style (images, median, p95, max):")
    for name, xs in sorted(by_style.items()):
        print(f"  {name:22} {len(xs):4d} {statistics.median(xs):8.0f} {p95(xs):8.0f} {max(xs):8.0f}")
    stats = cache_stats()
    print(f"{'cut-out cache':24} {stats['cutout']}")
    print(f"{'background cache':24} {stats['background']}")


def accuracy(side: int) -> None:
    print(f"\n## cut-out accuracy (mask IoU, alpha > 0.5 vs the true mask), {side} px")
    scores = []
    for kind in KINDS:
        truth = np.asarray(silhouette(kind, size=side)) > 127
        score = _iou(_png(draw(kind, size=side)), truth)
        scores.append(score)
        print(f"{'demo ' + kind:24} {score:8.4f}")
    for name, im, truth in _test_photos(side):
        score = _iou(_png(im), truth)
        scores.append(score)
        print(f"{'drawn ' + name:24} {score:8.4f}")
    print(f"{'minimum':24} {min(scores):8.4f}")
    print(f"{'mean':24} {statistics.mean(scores):8.4f}")


def regenerates(n: int, size: int) -> None:
    source = DemoSource(None)
    product = source.get_product("1")
    info = product_info(product)
    data = source.fetch_image(product.images[0])
    engine = StudioEngine()
    images = []
    for seed in range(1, n + 1):
        req = GenerationRequest(
            source_image=data,
            prompt=build_prompt(info, "auto"),
            product=info,
            style="auto",
            model="studio-v1",
            output_size=size,
            seed=seed,
        )
        images.append(engine.generate(req).data)
    shas = {hashlib.sha256(d).hexdigest() for d in images}
    arrays = [np.asarray(Image.open(io.BytesIO(d)).convert("L").reduce(4), dtype=np.float32) for d in images]
    distinct = sum(
        all(np.abs(arrays[i] - arrays[j]).mean() > 2 for j in range(len(arrays)) if j != i) for i in range(len(arrays))
    )
    print(f"\n## regenerates of {product.name} (seeds 1..{n}), {size} px")
    print(f"{'distinct by SHA-256':24} {len(shas):8d} of {n}")
    print(f"{'visibly distinct':24} {distinct:8d} of {n}   (mean abs difference > 2 levels to every other)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=16)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--regenerates", type=int, default=20)
    parser.add_argument("--speed-only", action="store_true", help="skip the accuracy and regenerate sections")
    args = parser.parse_args()
    speed(args)
    if args.speed_only:
        return
    accuracy(args.size)
    regenerates(args.regenerates, args.size)


if __name__ == "__main__":
    main()
