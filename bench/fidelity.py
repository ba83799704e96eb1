"""Product fidelity check: caught and false-flag rates per kind of drift, and time per image.

    .venv/bin/python bench/fidelity.py [--quick] [--per-group 8] [--demo 16] [--faithful 6] [--seed 7]

Builds its own labelled set (bench/fidelity_set.py): products from the demo catalogue and drawn uploads
(labelled bottles, textiles, glass, low-texture objects); faithful re-renders and drifted images of each. The set
is built once per parameters and kept in a temporary directory (FIDELITY_SET_DIR, else
$TMPDIR/imagegecko-fidelity-set), so a second run only checks. `--quick` is a smaller set for trying changes.

Products are split in two: thresholds are calibrated on the calibration half only (at most 5 % of its faithful
images flagged, with a margin) and every rate is reported on the held-out half. "Caught" means a verdict other
than faithful. Prints the thresholds found, in the form lib/fidelity/thresholds.py holds them.

Time per image is the whole check as the worker runs it (`check()` on the stored source photo and the generated
image's bytes), in CPU seconds of this process, with every cache emptied before each product: its first image
pays for the source's cut-out and label reading, as in the worker.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fidelity_set import DRIFTS, Sample, cache_dir, labelled_set  # noqa: E402
from lib.fidelity import check as fidelity_check  # noqa: E402
from lib.fidelity import registration  # noqa: E402
from lib.fidelity.check import Measured, judge, measure  # noqa: E402
from lib.fidelity.thresholds import THRESHOLDS  # noqa: E402
from lib.fidelity.verdict import Verdict  # noqa: E402
from lib.generation import studio  # noqa: E402

# The lowest each threshold may go (regions below 0.4 % of the product are dropped as noise anyway; a warp is
# measured across edges, less the product's common motion, where a faithful label or drawing stays under 1 %; a
# distortion is the homography's own departure from a similarity, which a re-render's perspective alone makes a few %).
FLOORS = {
    "stretch": 0.05,
    "warp": 0.8,
    "distortion": 1.0,
    "colour": 0.005,
    "missing": 0.005,
    "added": 0.005,
    "text": 0.01,
}
TARGET = 0.03  # flagged share of calibration faithful images (the goal is 5 %: keep a margin)


@dataclass
class Case:
    sample: Sample
    measured: Measured
    cpu: float  # CPU seconds of the whole check
    wall: float

    @property
    def label(self) -> str:
        return self.sample.label

    @property
    def calibration(self) -> bool:
        return self.sample.calibration


def _forget() -> None:
    registration.clear_cache()
    fidelity_check.clear_cache()
    studio.clear_caches()


def run(samples: list[Sample]) -> list[Case]:
    cases: list[Case] = []
    last = None
    for n, s in enumerate(samples):
        if s.product != last:
            _forget()
            last = s.product
        t, c = time.perf_counter(), time.process_time()
        m = measure(s.source, s.image)
        judge(m)
        cases.append(Case(s, m, time.process_time() - c, time.perf_counter() - t))
        print(f"  checked {n + 1}/{len(samples)}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return cases


def flagged(c: Case, t: dict[str, tuple[float, float]]) -> bool:
    return judge(c.measured, t).verdict != Verdict.FAITHFUL


def calibrate(cases: list[Case]) -> dict[str, tuple[float, float]]:
    """Flag thresholds from the calibration split only: start where no faithful image is flagged, then lower one
    measure at a time, always the one that catches the most more drifted images per faithful image it flags,
    while at most TARGET of the faithful images found are flagged. Major = twice the flag."""
    calib = [c for c in cases if c.calibration and c.measured.found]
    faith = [c for c in calib if c.label == "faithful"]
    drift = [c for c in calib if c.label != "faithful"]
    # Thresholds only decide about products that were found: a faithful image not found is flagged whatever they
    # are (and reported as such), so it does not use up their budget.
    budget = int(TARGET * len(faith))
    fv = {k: np.array([c.measured.values.get(k, 0.0) for c in faith]) for k in FLOORS}
    dv = {k: np.array([c.measured.values.get(k, 0.0) for c in drift]) for k in FLOORS}
    flag = {k: max(FLOORS[k], float(v.max()) * 1.0001 if len(v) else FLOORS[k]) for k, v in fv.items()}

    def caught(fl: dict[str, float], vals: dict[str, np.ndarray]) -> np.ndarray:
        return np.any([vals[k] >= fl[k] for k in FLOORS], axis=0)

    while True:
        base_f, base_d = caught(flag, fv).sum(), caught(flag, dv).sum()
        best: tuple[float, str, float] | None = None
        for k in FLOORS:
            # Just above a faithful value below the current threshold, or the floor.
            below = np.unique(fv[k][(fv[k] < flag[k]) & (fv[k] * 1.0001 >= FLOORS[k])])
            for cand in [float(b) * 1.0001 for b in below] + [FLOORS[k]]:
                if cand >= flag[k] or cand < FLOORS[k]:
                    continue
                trial = {**flag, k: cand}
                extra_f = int(caught(trial, fv).sum() - base_f)
                if extra_f > budget - base_f:
                    continue
                gain = int(caught(trial, dv).sum() - base_d)
                score = gain / (extra_f + 0.5)
                if best is None or score > best[0] or (score == best[0] and gain > 0):
                    best = (score, k, cand)
        if best is None or best[0] <= 0:
            break
        flag[best[1]] = best[2]
    return {k: (round(v, 4), round(max(2 * v, v + FLOORS[k]), 4)) for k, v in flag.items()}


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:5.1f} % ({a}/{b})" if b else "   n/a"


def _times(cases: list[Case]) -> str:
    cpu = sorted(c.cpu for c in cases)
    if not cpu:
        return ""
    p95 = cpu[min(len(cpu) - 1, int(0.95 * len(cpu)))]
    return f"{statistics.median(cpu):.3f} / {p95:.3f}"


def report(cases: list[Case], t: dict[str, tuple[float, float]], title: str) -> None:
    held = [c for c in cases if not c.calibration]
    print(f"\n{title}: held-out split ({len({c.sample.product for c in held})} products, {len(held)} images)")
    print(f"{'kind':<16} {'caught (drifted)':>20}   {'CPU s median / p95':>18}")
    for d in DRIFTS:
        sel = [c for c in held if c.label == d]
        print(f"{d:<16} {pct(sum(flagged(c, t) for c in sel), len(sel)):>20}   {_times(sel):>18}")
    drift = [c for c in held if c.label != "faithful"]
    print(f"{'all drifted':<16} {pct(sum(flagged(c, t) for c in drift), len(drift)):>20}   {_times(drift):>18}")
    print(f"\n{'product group':<16} {'false flags (faithful)':>22} {'CPU s median / p95':>18}")
    faith = [c for c in held if c.label == "faithful"]
    for g in sorted({c.sample.group for c in faith}):
        sel = [c for c in faith if c.sample.group == g]
        print(f"{g:<16} {pct(sum(flagged(c, t) for c in sel), len(sel)):>22} {_times(sel):>18}")
    print(f"{'all faithful':<16} {pct(sum(flagged(c, t) for c in faith), len(faith)):>22} {_times(faith):>18}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-group", type=int, default=8, help="uploads drawn per kind (bottle, textile, ...)")
    parser.add_argument("--demo", type=int, default=16, help="demo catalogue drawings (two colourways each)")
    parser.add_argument("--faithful", type=int, default=6, help="faithful re-renders per product")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="a small set: --per-group 4 --demo 6 --faithful 4")
    parser.add_argument("--debug", action="store_true", help="list misses and false flags")
    parser.add_argument("--dump", type=Path, help="write every image's measures to this JSON file")
    args = parser.parse_args()
    if args.quick:
        args.per_group, args.demo, args.faithful = 4, 6, 4
    t0 = time.perf_counter()
    samples = labelled_set(
        args.per_group, args.faithful, args.seed, args.demo, log=lambda m: print(f"  {m}", file=sys.stderr, end="\r")
    )
    print(f"labelled set: {len(samples)} images in {time.perf_counter() - t0:.0f} s (cache {cache_dir()})")
    cases = run(samples)
    if args.dump:
        rows = [
            {
                "product": c.sample.product,
                "group": c.sample.group,
                "calibration": c.calibration,
                "label": c.label,
                "found": c.measured.found,
                "values": c.measured.values,
                "cpu": c.cpu,
            }
            for c in cases
        ]
        args.dump.write_text(json.dumps(rows))
    t = calibrate(cases)
    report(cases, t, "Calibrated thresholds")
    report(cases, THRESHOLDS, "Shipped thresholds (lib/fidelity/thresholds.py)")
    print("\nthresholds calibrated on the calibration split:")
    print("THRESHOLDS = {" + ", ".join(f'"{k}": {v}' for k, v in t.items()) + "}")
    cpu = sorted(c.cpu for c in cases)
    wall = sorted(c.wall for c in cases)
    first = {c.sample.product: c for c in reversed(cases)}.values()  # each product's first image (cold caches)
    print(
        f"\ntime per image, whole check, all {len(cases)} images: CPU median {statistics.median(cpu):.3f} s, "
        f"p95 {cpu[min(len(cpu) - 1, int(0.95 * len(cpu)))]:.3f} s; wall (under load) median "
        f"{statistics.median(wall):.3f} s, p95 {wall[min(len(wall) - 1, int(0.95 * len(wall)))]:.3f} s; "
        f"a product's first image (cold caches) CPU median {statistics.median(c.cpu for c in first):.3f} s"
    )
    if args.debug:
        by: dict[str, int] = defaultdict(int)
        for c in cases:
            if c.calibration:
                continue
            f = flagged(c, t)
            if (c.label == "faithful") == f:
                by[c.label] += 1
                r = judge(c.measured, t)
                vals = {k: round(v, 3) for k, v in c.measured.values.items()}
                kind = "FALSE FLAG" if f else "MISS"
                print(f"{kind:<10} {c.label:<14} {c.sample.product:<22} {vals} {r.summary[:160]}")


if __name__ == "__main__":
    main()
