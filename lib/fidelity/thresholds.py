"""Where each measure starts to be a finding (flag) and where it means the product was redrawn (major).

Set by `bench/fidelity.py` on its calibration split (re-rendered faithful images: at most 5 % may be flagged) and
copied here; the benchmark reports them on a held-out split. Units: stretch = the product's width over its
height (or the reverse) relative to the photo, - 1; warp and distortion = % of the product's long side; colour,
missing, added = share of the product's area; text = share of the label's words.
"""

from __future__ import annotations

THRESHOLDS: dict[str, tuple[float, float]] = {
    "stretch": (0.1396, 0.2792),
    "warp": (10.1884, 20.3767),
    "distortion": (4.863, 9.726),
    "colour": (0.0538, 0.1075),
    "missing": (0.0249, 0.0497),
    "added": (0.005, 0.01),
    "text": (0.01, 0.02),
}
