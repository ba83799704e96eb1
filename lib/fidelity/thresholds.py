"""Where each measure starts to be a finding (flag) and where it means the product was redrawn (major).

Set by `bench/fidelity.py` on its calibration split (re-rendered faithful images: at most 5 % may be flagged) and
copied here; the benchmark reports them on a held-out split. Units: stretch = anisotropy - 1; warp = % of the
product's long side; colour, missing, added = share of the product's area; text = share of the label's words.
"""

from __future__ import annotations

THRESHOLDS: dict[str, tuple[float, float]] = {
    "stretch": (0.17, 0.3),
    "warp": (6.0, 12.0),
    "colour": (0.02, 0.06),
    "missing": (0.02, 0.06),
    "added": (0.01, 0.03),
    "text": (0.01, 0.5),
}
