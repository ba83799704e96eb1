"""Where each measure starts to be a finding (flag) and where it means the product was redrawn (major).

Set by `bench/fidelity.py` on its calibration split (re-rendered faithful images: at most 5 % may be flagged) and
copied here; the benchmark reports them on a held-out split. Units: stretch = anisotropy - 1; warp = % of the
product's long side; colour, missing, added = share of the product's area; text = share of the label's words.
"""

from __future__ import annotations

THRESHOLDS: dict[str, tuple[float, float]] = {
    "stretch": (0.2082, 0.4165),
    "warp": (10.1884, 20.3767),
    "colour": (0.0538, 0.1075),
    "missing": (0.018, 0.036),
    "added": (0.005, 0.01),
    "text": (0.01, 0.02),
}
