"""Colour: how far the generated product's colours are from the photo's, after allowing for the scene's light.

A generator relights the product (brighter, warmer, a few degrees of hue, a little more or less saturation).
The photo's colours are first brought to the generated image's light with a global correction clamped to what a
relight does (lightness ±30 %, chroma ±15 %, hue ±8°), then compared pixel by pixel with CIEDE2000. What the
clamp cannot absorb (a cap turned from blue to green) stays as a region of large difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, lab2rgb
from skimage.color import rgb2lab as _sk_rgb2lab

MAX_LIGHT = 0.30
MAX_CHROMA = 0.15
MAX_HUE_DEG = 8.0
SHIFT_PX = 2  # the misregistration a colour comparison forgives, in working pixels

# Basic colour terms with a typical sRGB value: enough to say "blue in the photo, green here".
_NAMES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("black", (20, 20, 20)),
    ("dark grey", (70, 70, 70)),
    ("grey", (128, 128, 128)),
    ("light grey", (195, 195, 195)),
    ("white", (245, 245, 245)),
    ("red", (200, 30, 30)),
    ("dark red", (120, 25, 25)),
    ("orange", (235, 130, 30)),
    ("brown", (120, 75, 40)),
    ("beige", (220, 200, 160)),
    ("yellow", (235, 215, 40)),
    ("olive", (120, 120, 40)),
    ("green", (50, 150, 50)),
    ("dark green", (25, 80, 35)),
    ("teal", (30, 125, 130)),
    ("light blue", (130, 180, 230)),
    ("blue", (40, 80, 200)),
    ("navy", (25, 35, 90)),
    ("purple", (120, 50, 150)),
    ("pink", (235, 130, 170)),
    ("magenta", (200, 40, 160)),
)
_NAME_LAB = _sk_rgb2lab(np.array([[c for _, c in _NAMES]], dtype=np.float64) / 255.0)[0]


def colour_name(rgb: np.ndarray | tuple[float, float, float]) -> str:
    """The nearest basic colour word for an sRGB colour (0..255)."""
    lab = _sk_rgb2lab(np.asarray(rgb, dtype=np.float64).reshape(1, 1, 3) / 255.0)[0, 0]
    d = deltaE_ciede2000(np.broadcast_to(lab, _NAME_LAB.shape), _NAME_LAB)
    return _NAMES[int(np.argmin(d))][0]


@dataclass(frozen=True)
class ColourComparison:
    delta_e: np.ndarray  # float32 (h, w): CIEDE2000 after the relight correction, 0 outside the mask
    src_lab: np.ndarray  # the photo's colours brought to the generated light
    gen_lab: np.ndarray
    light: float  # the relight found (1.0 = same), before clamping
    hue_deg: float
    chroma: float


def _lch(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return lab[..., 0], np.hypot(lab[..., 1], lab[..., 2]), np.arctan2(lab[..., 2], lab[..., 1])


def rgb2lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) of a uint8 RGB image, float32: OpenCV's conversion, a tenth of scikit-image's time and within
    0.3 of its values."""
    return cv2.cvtColor(rgb.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)


def compare(src_rgb: np.ndarray, gen_rgb: np.ndarray, mask: np.ndarray) -> ColourComparison:
    """Per-pixel colour difference inside `mask` (both images in the same frame, uint8 RGB)."""
    src_lab = rgb2lab(src_rgb)
    gen_lab = rgb2lab(gen_rgb)
    sl, sc, sh = _lch(src_lab[mask])
    gl, gc, gh = _lch(gen_lab[mask])
    light = float(np.median(gl + 2.0) / max(np.median(sl + 2.0), 1e-3)) if sl.size else 1.0
    chromatic = (sc > 12) & (gc > 12)
    if chromatic.sum() > 20:
        chroma = float(np.median(gc[chromatic]) / max(np.median(sc[chromatic]), 1e-3))
        turn = np.angle(np.exp(1j * (gh[chromatic] - sh[chromatic])))
        hue = float(np.degrees(np.median(turn)))
    else:
        chroma, hue = 1.0, 0.0
    k_l = float(np.clip(light, 1 - MAX_LIGHT, 1 + MAX_LIGHT))
    k_c = float(np.clip(chroma, 1 - MAX_CHROMA, 1 + MAX_CHROMA))
    turn_r = float(np.radians(np.clip(hue, -MAX_HUE_DEG, MAX_HUE_DEG)))
    L, C, h = _lch(src_lab)
    fixed = np.stack(
        [np.clip(L * k_l, 0, 100), C * k_c * np.cos(h + turn_r), C * k_c * np.sin(h + turn_r)], axis=-1
    ).astype(np.float32)
    # Each generated pixel against the photo's colours within SHIFT_PX of it (per-channel range of the relit
    # photo there): a re-render wobbles by a pixel or two, which must not turn every edge of a pattern into a
    # difference, while a recolour, a new mark or the scene showing through stays far from all of them.
    k = np.ones((2 * SHIFT_PX + 1, 2 * SHIFT_PX + 1), np.uint8)
    nearest = np.clip(gen_lab, cv2.erode(fixed, k), cv2.dilate(fixed, k))
    de = np.zeros(mask.shape, dtype=np.float32)
    de[mask] = deltaE_ciede2000(nearest[mask], gen_lab[mask])
    return ColourComparison(delta_e=de, src_lab=fixed, gen_lab=gen_lab, light=light, hue_deg=hue, chroma=chroma)


def lab_to_rgb255(lab: np.ndarray) -> np.ndarray:
    return np.clip(lab2rgb(np.asarray(lab, dtype=np.float64).reshape(1, 1, 3)) * 255.0, 0, 255).reshape(3)
