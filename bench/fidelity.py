"""Product fidelity check: caught and false-flag rates per kind of drift, and time per image.

    .venv/bin/python bench/fidelity.py [--per-group 8] [--faithful 6] [--seed 7]

Builds its own labelled set (bench/fidelity_set.py): products from the demo catalogue and drawn uploads
(labelled bottles, textiles, glass, low-texture objects); faithful re-renders and drifted images of each.
Products are split in two: thresholds are calibrated on the calibration half only (at most 5 % of its faithful
images flagged, with a margin) and every rate is reported on the held-out half. "Caught" means a verdict other
than faithful. Prints the thresholds found, in the form lib/fidelity/thresholds.py holds them.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.fidelity_set import DRIFTS, Product, drifted, faithful, products, rerender  # noqa: E402
from lib.fidelity.check import Measured, judge, measure  # noqa: E402
from lib.fidelity.thresholds import THRESHOLDS  # noqa: E402
from lib.fidelity.verdict import Verdict  # noqa: E402

FLOORS = {"stretch": 0.05, "warp": 1.5, "colour": 0.01, "missing": 0.01, "added": 0.01, "text": 0.01}
TARGET = 0.03  # flagged share of calibration faithful images (the goal is 5 %: keep a margin)


@dataclass
class Case:
    product: Product
    label: str  # faithful | a drift
    measured: Measured
    seconds: float
    calibration: bool


def build(args: argparse.Namespace) -> list[Case]:
    prods = products(args.per_group, args.seed)
    rng = np.random.default_rng(args.seed)
    cases: list[Case] = []
    by_group: dict[str, int] = defaultdict(int)
    for n, p in enumerate(prods):
        calib = by_group[p.group] % 2 == 0
        by_group[p.group] += 1
        jobs: list[tuple[str, tuple[np.ndarray, np.ndarray]]] = []
        base = faithful(p)
        jobs += [("faithful", base)] * args.faithful
        for d in DRIFTS:
            got = drifted(p, d, prods, rng)
            if got is not None:
                jobs.append((d, got))
        for i, (label, (rgb, alpha)) in enumerate(jobs):
            img = rerender(rgb, alpha, rng, n * 7 + i)
            t = time.perf_counter()
            m = measure(p.png, img)
            cases.append(Case(p, label, m, time.perf_counter() - t, calib))
        print(f"  {n + 1}/{len(prods)} {p.id}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return cases


def flagged(c: Case, t: dict[str, tuple[float, float]]) -> bool:
    return judge(c.measured, t).verdict != Verdict.FAITHFUL


def calibrate(cases: list[Case]) -> dict[str, tuple[float, float]]:
    faith = [c for c in cases if c.calibration and c.label == "faithful" and c.measured.found]
    n_all = sum(1 for c in cases if c.calibration and c.label == "faithful")
    not_found = n_all - len(faith)
    values = {k: np.array([c.measured.values.get(k, 0.0) for c in faith]) for k in FLOORS}
    best: dict[str, tuple[float, float]] = {}
    for q in np.linspace(0.95, 1.0, 51):
        t = {}
        for k, v in values.items():
            flag = max(FLOORS[k], float(np.quantile(v, q)) * 1.0001) if len(v) else FLOORS[k]
            t[k] = (round(flag, 4), round(max(2 * flag, flag + FLOORS[k]), 4))
        rate = (sum(flagged(c, t) for c in faith) + not_found) / max(1, n_all)
        best = t
        if rate <= TARGET:
            break
    return best


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:5.1f} % ({a}/{b})" if b else "   n/a"


def report(cases: list[Case], t: dict[str, tuple[float, float]], title: str) -> None:
    held = [c for c in cases if not c.calibration]
    print(f"\n{title}: held-out split ({len({c.product.id for c in held})} products, {len(held)} images)")
    print(f"{'kind':<16} {'caught (drifted)':>22}")
    for d in DRIFTS:
        sel = [c for c in held if c.label == d]
        print(f"{d:<16} {pct(sum(flagged(c, t) for c in sel), len(sel)):>22}")
    drift = [c for c in held if c.label != "faithful"]
    print(f"{'all drifted':<16} {pct(sum(flagged(c, t) for c in drift), len(drift)):>22}")
    print(f"\n{'product group':<16} {'false flags (faithful)':>24}")
    faith = [c for c in held if c.label == "faithful"]
    for g in sorted({c.product.group for c in faith}):
        sel = [c for c in faith if c.product.group == g]
        print(f"{g:<16} {pct(sum(flagged(c, t) for c in sel), len(sel)):>24}")
    print(f"{'all faithful':<16} {pct(sum(flagged(c, t) for c in faith), len(faith)):>24}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-group", type=int, default=8, help="uploads drawn per kind (bottle, textile, ...)")
    parser.add_argument("--faithful", type=int, default=6, help="faithful re-renders per product")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--debug", action="store_true", help="list misses and false flags")
    args = parser.parse_args()
    cases = build(args)
    t = calibrate(cases)
    report(cases, t, "Calibrated thresholds")
    report(cases, THRESHOLDS, "Shipped thresholds (lib/fidelity/thresholds.py)")
    print("\nthresholds calibrated on the calibration split:")
    print("THRESHOLDS = {" + ", ".join(f'"{k}": {v}' for k, v in t.items()) + "}")
    secs = sorted(c.seconds for c in cases)
    p95 = secs[min(len(secs) - 1, int(0.95 * len(secs)))]
    print(
        f"\ntime per image (source cut-out cached after its first image): median {statistics.median(secs):.3f} s,"
        f" p95 {p95:.3f} s, over {len(secs)} images; 2 cores shared with 7 other engineers (under load)"
    )
    if args.debug:
        for c in cases:
            if c.calibration:
                continue
            f = flagged(c, t)
            if (c.label == "faithful") == f:
                r = judge(c.measured, t)
                vals = {k: round(v, 3) for k, v in c.measured.values.items()}
                print(f"{'FALSE FLAG' if f else 'MISS':<10} {c.label:<14} {c.product.id:<22} {vals} {r.summary[:160]}")


if __name__ == "__main__":
    main()
