"""Code-drawn product photos for the demo catalogue (white background, no shadow, anti-aliased).

`render(kind, palette_items, size)` is deterministic and cached: the same arguments give the same pixels.
"""

from __future__ import annotations

import io
import zlib

import numpy as np
from PIL import Image

from lib.drawing import canvas as _canvas
from lib.drawing.cache import SingleFlightCache
from lib.drawing.canvas import Canvas
from lib.drawing.products import DRAWINGS, Palette, palette_for, shifted

KINDS = tuple(DRAWINGS)


def draw(kind: str, palette: Palette | None = None, size: int = 1024, *, mirror: bool = False) -> Image.Image:
    """The product drawing as an RGB image of size x size on pure white, lit like a studio packshot."""
    if kind not in DRAWINGS:
        raise KeyError(f"no drawing called {kind!r}")
    fn = DRAWINGS[kind][0]
    canvas = Canvas(size, ss=2, transparent=True)
    fn(canvas, palette_for(kind, palette))
    im = _studio_finish(canvas.image(), zlib.crc32(kind.encode()))
    return im.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirror else im


def _studio_finish(rgba: Image.Image, seed: int) -> Image.Image:
    """What a camera adds to a drawing: the softbox's falloff across the product (key light high on the left),
    a touch of occlusion near where it stands, and sensor grain, all on the product only; the backdrop stays
    pure white, as a retouched packshot's does."""
    arr = np.asarray(rgba, dtype=np.float32) / 255.0
    rgb, a = arr[..., :3], arr[..., 3:]
    h, w = a.shape[:2]
    xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    ys = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    # Darker away from the key light, never brighter than drawn: a highlight must not melt into the backdrop.
    light = np.minimum(1.0, 0.975 - 0.035 * xs - 0.03 * ys)
    rows = np.nonzero(a[..., 0].max(axis=1) > 0.5)[0]
    if len(rows):
        bottom, top = float(rows[-1]), float(rows[0])
        t = np.clip(
            (np.arange(h, dtype=np.float32)[:, None] - bottom + 0.06 * (bottom - top)) / (0.06 * (bottom - top) + 1),
            0,
            1,
        )
        light = light * (1 - 0.07 * t)
    grain = np.random.default_rng(seed).standard_normal((h, w, 1)).astype(np.float32) * (1.3 / 255)
    lit = np.clip(rgb * light[..., None] + grain, 0, 1)
    out = 1 - a + lit * a
    return Image.fromarray(np.clip(out * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")


def silhouette(kind: str, palette: Palette | None = None, size: int = 1024) -> Image.Image:
    """The drawing's exact coverage as an "L" image (255 = product): the ground truth a cut-out should find."""
    canvas = Canvas(size, ss=2, transparent=True)
    DRAWINGS[kind][0](canvas, palette_for(kind, palette))
    return canvas.image().getchannel("A")


# Bounded in bytes (a 1024 px photo is 0.1-0.5 MB) and single flight: a job's variants of one product ask for its
# photo at once, and a job of more products than a count-bounded LRU held redrew every photo (a sequential scan
# evicts each entry before its turn comes back): drawing was two thirds of the worker's CPU on a 50-product job.
_PNGS: SingleFlightCache[bytes] = SingleFlightCache(64 * 1024 * 1024, len)


def render_png(
    kind: str, palette_items: tuple[tuple[str, tuple[int, int, int]], ...] = (), size: int = 1024, mirror: bool = False
) -> bytes:
    """PNG bytes of a drawing; palette given as sorted items so the call is hashable (and cached)."""

    def encode() -> bytes:
        im = draw(kind, dict(palette_items), size, mirror=mirror)
        buf = io.BytesIO()
        im.save(buf, "PNG", compress_level=4)
        return buf.getvalue()

    return _PNGS.get((kind, palette_items, size, mirror), encode)


def clear_caches() -> None:
    """Forget rendered photos, noise fields and shape masks (benchmarks measuring a cold start)."""
    _PNGS.clear()
    _canvas.clear_caches()


__all__ = ["KINDS", "clear_caches", "draw", "render_png", "palette_for", "shifted", "silhouette"]
