"""Studio engine speed: milliseconds per 1024 px image, per preset.

    .venv/bin/python bench/studio.py [--renders 20] [--size 1024] [--aspect 1:1]

For each preset: the first render with empty caches ("cold": background, cut-out and props drawn), then the
median and 90th percentile of `--renders` renders of variants 0..N-1 (backgrounds cycle through 4 scene variants
and are cached, as in a real job), each through generate() including the JPEG encode. Products rotate over the
demo mug, sneaker and soap pump.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lib.drawing.props import prop  # noqa: E402
from lib.drawing.scenes import background  # noqa: E402
from lib.generation.base import GenerationRequest  # noqa: E402
from lib.generation.prompts import PRESETS, product_info  # noqa: E402
from lib.generation.studio import StudioEngine, cut_out  # noqa: E402
from lib.sources.demo import DemoSource  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--aspect", default="1:1")
    args = parser.parse_args()

    source = DemoSource(None)
    products = [source.get_product(pid) for pid in ("1", "8", "13")]
    sources = [(product_info(p), source.fetch_image(p.images[0])) for p in products]
    engine = StudioEngine()

    def request(style: str, i: int) -> GenerationRequest:
        info, data = sources[i % len(sources)]
        return GenerationRequest(
            source_image=data,
            prompt="",
            product=info,
            style=style,
            model="studio-v1",
            aspect_ratio=args.aspect,
            output_size=args.size,
            variant_index=i,
        )

    print(f"studio engine, {args.size} px long side, aspect {args.aspect}, {args.renders} renders per preset")
    print(f"{'preset':18} {'cold ms':>8} {'median ms':>10} {'p90 ms':>8} {'KB/image':>9}")
    medians = []
    for style in PRESETS:
        background.cache_clear()
        cut_out.cache_clear()
        prop.cache_clear()
        t = time.perf_counter()
        engine.generate(request(style, 0))
        cold = (time.perf_counter() - t) * 1000
        times, sizes = [], []
        for i in range(args.renders):
            t = time.perf_counter()
            result = engine.generate(request(style, i))
            times.append((time.perf_counter() - t) * 1000)
            sizes.append(len(result.data) / 1024)
        times.sort()
        median = statistics.median(times)
        p90 = times[min(len(times) - 1, int(round(0.9 * (len(times) - 1))))]
        medians.append(median)
        print(f"{style:18} {cold:8.0f} {median:10.0f} {p90:8.0f} {statistics.mean(sizes):9.0f}")
    print(f"{'all presets':18} {'':8} {statistics.median(medians):10.0f}   (median of the per-preset medians)")


if __name__ == "__main__":
    main()
