"""Code-drawn product photos for the demo catalogue (white background, no shadow, anti-aliased).

`render(kind, palette_items, size)` is deterministic and cached: the same arguments give the same pixels.
"""

from __future__ import annotations

import io
from functools import lru_cache

from PIL import Image

from lib.drawing import canvas as _canvas
from lib.drawing.canvas import Canvas
from lib.drawing.products import DRAWINGS, Palette, palette_for, shifted

KINDS = tuple(DRAWINGS)


def draw(kind: str, palette: Palette | None = None, size: int = 1024, *, mirror: bool = False) -> Image.Image:
    """The product drawing as an RGB image of size x size on pure white."""
    if kind not in DRAWINGS:
        raise KeyError(f"no drawing called {kind!r}")
    fn = DRAWINGS[kind][0]
    canvas = Canvas(size, ss=2)
    fn(canvas, palette_for(kind, palette))
    im = canvas.image()
    return im.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirror else im


def silhouette(kind: str, palette: Palette | None = None, size: int = 1024) -> Image.Image:
    """The drawing's exact coverage as an "L" image (255 = product): the ground truth a cut-out should find."""
    canvas = Canvas(size, ss=2, transparent=True)
    DRAWINGS[kind][0](canvas, palette_for(kind, palette))
    return canvas.image().getchannel("A")


@lru_cache(maxsize=48)
def render_png(
    kind: str, palette_items: tuple[tuple[str, tuple[int, int, int]], ...] = (), size: int = 1024, mirror: bool = False
) -> bytes:
    """PNG bytes of a drawing; palette given as sorted items so the call is hashable (and cached)."""
    im = draw(kind, dict(palette_items), size, mirror=mirror)
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=4)
    return buf.getvalue()


def clear_caches() -> None:
    """Forget rendered photos, noise fields and shape masks (benchmarks measuring a cold start)."""
    render_png.cache_clear()
    _canvas.clear_caches()


__all__ = ["KINDS", "clear_caches", "draw", "render_png", "palette_for", "shifted", "silhouette"]
