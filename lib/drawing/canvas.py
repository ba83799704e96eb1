"""A tiny supersampled painter for product drawings: shapes become masks (drawn by Pillow at 2x), masks are filled
with shaded colour fields (numpy), and the result is downsampled once, which gives clean anti-aliased edges.

Coordinates are in output pixels of a 1024 x 1024 design space and scaled to the real size, so every drawing
is written once and renders at any size. Only the bounding box of each shape is touched, to keep it fast.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

RGB = tuple[int, int, int]
Shader = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (X, Y) in design px -> (h, w, 3) floats 0..1
DESIGN = 1024.0


def rgb(c: RGB | Sequence[float]) -> np.ndarray:
    return np.asarray(c, dtype=np.float32) / 255.0


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def scale(c: RGB, k: float) -> RGB:
    return tuple(max(0, min(255, int(round(x * k)))) for x in c)  # type: ignore[return-value]


def rotated_ellipse(cx: float, cy: float, rx: float, ry: float, angle_deg: float, n: int = 48) -> list[tuple]:
    a = math.radians(angle_deg)
    ca, sa = math.cos(a), math.sin(a)
    pts = []
    for i in range(n):
        t = 2 * math.pi * i / n
        x, y = rx * math.cos(t), ry * math.sin(t)
        pts.append((cx + x * ca - y * sa, cy + x * sa + y * ca))
    return pts


def leaf(cx: float, cy: float, length: float, width: float, angle_deg: float, n: int = 24) -> list[tuple]:
    """A pointed leaf from (cx, cy) outwards along angle_deg (0 = up)."""
    a = math.radians(angle_deg)
    ux, uy = math.sin(a), -math.cos(a)  # along the leaf
    px, py = -uy, ux  # across
    left, right = [], []
    for i in range(n + 1):
        t = i / n
        w = width * math.sin(math.pi * t) ** 0.8 * (1 - 0.25 * t)
        bx, by = cx + ux * length * t, cy + uy * length * t
        left.append((bx + px * w, by + py * w))
        right.append((bx - px * w, by - py * w))
    return left + right[::-1]


@dataclass
class Mask:
    a: np.ndarray  # float32 0..1, (h, w), supersampled
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in supersampled px
    rims: dict[float, np.ndarray] = field(default_factory=dict, repr=False, compare=False)  # blur radius -> inner


class Canvas:
    def __init__(self, size: int = 1024, ss: int = 2, *, transparent: bool = False) -> None:
        self.size = size
        self.ss = ss
        self.k = size * ss / DESIGN  # design px -> supersampled px
        n = size * ss
        self.n = n
        # A transparent canvas keeps premultiplied colour plus coverage, so edges carry no white fringe.
        # One plane per channel (3, n, n): blending a (h, w) coverage into it runs along whole rows, several times
        # faster than into interleaved (n, n, 3) pixels, with the same arithmetic per value.
        self.img = np.zeros((3, n, n), dtype=np.float32) if transparent else np.ones((3, n, n), dtype=np.float32)
        self.alpha = np.zeros((n, n), dtype=np.float32) if transparent else None

    # Shapes ---------------------------------------------------------------------------------
    def mask(self, *ops: tuple) -> Mask:
        """ops: ("ellipse", box) ("rect", box) ("rrect", box, r) ("poly", pts) ("line", pts, width)
        ("pie", box, a0, a1); a kind starting with "-" cuts the shape out instead of adding it.

        Small canvases (previews) share masks: shapes do not depend on colours, so a page of thumbnails, where
        each drawing comes back in several colourways, draws each shape once. Shared masks are read-only.
        """
        if self.n > _MASK_CACHE_SIDE:
            return self._mask(ops)
        try:
            key = (self.n, tuple(tuple(tuple(x) if isinstance(x, list) else x for x in op) for op in ops))
            found = _MASKS.get(key)
        except TypeError:  # unhashable points (numpy arrays): draw it
            return self._mask(ops)
        if found is None:
            found = self._mask(ops)
            found.a.flags.writeable = False
            _MASKS.put(key, found)
        return found

    def _mask(self, ops: tuple[tuple, ...]) -> Mask:
        k = self.k
        xs: list[float] = []
        ys: list[float] = []
        for op in ops:
            if op[0].startswith("-"):
                continue
            pad = op[2] / 2 + 2 if op[0] == "line" else 2
            for x, y in self._points(op):
                xs.append(x - pad)
                xs.append(x + pad)
                ys.append(y - pad)
                ys.append(y + pad)
        x0 = max(0, int(math.floor(min(xs) * k)) - 2)
        y0 = max(0, int(math.floor(min(ys) * k)) - 2)
        x1 = min(self.n, int(math.ceil(max(xs) * k)) + 2)
        y1 = min(self.n, int(math.ceil(max(ys) * k)) + 2)
        im = Image.new("L", (max(1, x1 - x0), max(1, y1 - y0)), 0)
        d = ImageDraw.Draw(im)

        def tr(pts: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
            return [(x * k - x0, y * k - y0) for x, y in pts]

        for op in ops:
            kind = op[0].lstrip("-")
            fill = 0 if op[0].startswith("-") else 255
            if kind == "ellipse":
                d.ellipse(tr(_box_pts(op[1])), fill=fill)
            elif kind == "rect":
                d.rectangle(tr(_box_pts(op[1])), fill=fill)
            elif kind == "rrect":
                d.rounded_rectangle(tr(_box_pts(op[1])), radius=op[2] * k, fill=fill)
            elif kind == "poly":
                d.polygon(tr(op[1]), fill=fill)
            elif kind == "line":
                d.line(tr(op[1]), fill=fill, width=max(1, int(round(op[2] * k))), joint="curve")
                r = op[2] * k / 2  # round caps
                for x, y in tr([op[1][0], op[1][-1]]):
                    d.ellipse([x - r, y - r, x + r, y + r], fill=fill)
            elif kind == "pie":
                d.pieslice(tr(_box_pts(op[1])), op[2], op[3], fill=fill)
            else:
                raise ValueError(kind)
        return Mask(np.asarray(im, dtype=np.float32) / 255.0, (x0, y0, x1, y1))

    @staticmethod
    def _points(op: tuple) -> list[tuple[float, float]]:
        kind = op[0].lstrip("-")
        if kind in ("ellipse", "rect", "rrect", "pie"):
            return _box_pts(op[1])
        return list(op[1])

    def intersect(self, m: Mask, clip: Mask) -> Mask:
        """m limited to where clip is."""
        out = m.a.copy()
        x0, y0, x1, y1 = m.box
        cx0, cy0, cx1, cy1 = clip.box
        ix0, iy0, ix1, iy1 = max(x0, cx0), max(y0, cy0), min(x1, cx1), min(y1, cy1)
        region = np.zeros_like(out)
        if ix1 > ix0 and iy1 > iy0:
            region[iy0 - y0 : iy1 - y0, ix0 - x0 : ix1 - x0] = clip.a[iy0 - cy0 : iy1 - cy0, ix0 - cx0 : ix1 - cx0]
        return Mask(out * region, m.box)

    # Painting -------------------------------------------------------------------------------
    def grid(self, m: Mask) -> tuple[np.ndarray, np.ndarray]:
        x0, y0, x1, y1 = m.box
        xs = (np.arange(x0, x1, dtype=np.float32) + 0.5) / self.k
        ys = (np.arange(y0, y1, dtype=np.float32) + 0.5) / self.k
        return xs[None, :], ys[:, None]

    def fill(
        self, m: Mask, color: RGB | Shader, *, rim: float = 0.0, rim_width: float = 10.0, opacity: float = 1.0
    ) -> None:
        """Paint colour (or a shader of design coordinates) through the mask. `rim` darkens the shape's edge
        (a soft falloff that makes flat shapes read as rounded)."""
        x0, y0, x1, y1 = m.box
        if x1 <= x0 or y1 <= y0:
            return
        # Shaders give (..., 3) colours; seen as (3, h, w) planes (a view, no copy) to match the canvas. float32
        # in keeps every step's arithmetic exactly what a float32 copy would give.
        raw = color(*self.grid(m)) if callable(color) else rgb(color)
        col = np.moveaxis(np.broadcast_to(np.asarray(raw, dtype=np.float32), (y1 - y0, x1 - x0, 3)), -1, 0)
        if rim > 0:
            radius = rim_width * self.k
            inner = m.rims.get(radius)
            if inner is None:  # depends on the shape only: kept with the (possibly shared) mask
                blur = Image.fromarray((m.a * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius))
                inner = m.rims[radius] = np.asarray(blur, dtype=np.float32) / 255.0
            col = col * (1 - rim * np.clip(1 - (inner - 0.5) * 2, 0, 1))
        a = m.a if opacity == 1.0 else m.a * opacity  # x * 1.0 == x: skip the pass
        region = self.img[:, y0:y1, x0:x1]
        region *= 1 - a
        region += col * a
        if self.alpha is not None:
            cover = self.alpha[y0:y1, x0:x1]
            cover *= 1 - a
            cover += a

    def soft(self, m: Mask, radius: float) -> Mask:
        """The mask blurred by radius design px (for glows and soft highlights)."""
        pad = int(radius * self.k * 3) + 2
        x0, y0, x1, y1 = m.box
        nx0, ny0 = max(0, x0 - pad), max(0, y0 - pad)
        nx1, ny1 = min(self.n, x1 + pad), min(self.n, y1 + pad)
        big = np.zeros((ny1 - ny0, nx1 - nx0), dtype=np.float32)
        big[y0 - ny0 : y1 - ny0, x0 - nx0 : x1 - nx0] = m.a
        im = Image.fromarray((big * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius * self.k))
        return Mask(np.asarray(im, dtype=np.float32) / 255.0, (nx0, ny0, nx1, ny1))

    def noise(self, amount: float, seed: int, grain: float = 1.5) -> Shader:
        """A shader modifier factor: multiplicative fine noise (stoneware speckle, canvas)."""
        cell = max(1, int(grain * self.k))
        side = self.n // cell + 2
        small = _noise_field(seed, side) if side <= _NOISE_CACHE_SIDE else _make_noise(seed, side)

        def f(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
            xi = np.clip((X * self.k / cell).astype(int), 0, small.shape[1] - 1)
            yi = np.clip((Y * self.k / cell).astype(int), 0, small.shape[0] - 1)
            return (1 + amount * small[yi, xi])[..., None]

        return f

    def image(self) -> Image.Image:
        if self.alpha is not None:
            a = self.alpha[None]
            rgb_ = np.where(a > 1e-4, self.img / np.maximum(a, 1e-4), 0)
            planes = np.clip(np.concatenate([rgb_, a], axis=0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
            im = Image.merge("RGBA", [Image.fromarray(p) for p in planes])
            if self.ss > 1:
                im = im.convert("RGBa").reduce(self.ss).convert("RGBA")
            return im
        arr = self.img * 255.0  # the same float32 steps as np.clip(img * 255 + 0.5, 0, 255), in one buffer
        arr += 0.5
        np.clip(arr, 0, 255, out=arr)
        im = Image.merge("RGB", [Image.fromarray(p) for p in arr.astype(np.uint8)])
        if self.ss > 1:
            im = im.reduce(self.ss)  # box average = exact supersampling
        return im


_NOISE_CACHE_SIDE = 600  # fields up to 1.4 MB (previews) are kept; full-size renders make theirs each time
_MASK_CACHE_SIDE = 512  # canvases up to 256 px at 2x; the 14 demo drawings' masks at 224 px take ~7 MB


class _MaskCache:
    """A least-recently-used store of masks shared by every canvas and thread, bounded in bytes."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.used = 0
        self.data: dict[tuple, Mask] = {}
        self.lock = threading.Lock()

    @staticmethod
    def _cost(mask: Mask) -> int:
        return 2 * mask.a.nbytes  # the coverage, and room for the rim blurs kept with it

    def get(self, key: tuple) -> Mask | None:
        with self.lock:
            found = self.data.pop(key, None)
            if found is not None:
                self.data[key] = found  # most recent last
            return found

    def put(self, key: tuple, mask: Mask) -> None:
        with self.lock:
            old = self.data.pop(key, None)
            self.used += self._cost(mask) - (self._cost(old) if old is not None else 0)
            self.data[key] = mask
            while self.used > self.budget and self.data:
                self.used -= self._cost(self.data.pop(next(iter(self.data))))

    def clear(self) -> None:
        with self.lock:
            self.data.clear()
            self.used = 0


_MASKS = _MaskCache(32 * 1024 * 1024)


def _make_noise(seed: int, side: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((side, side)).astype(np.float32)


@lru_cache(maxsize=16)
def _noise_field(seed: int, side: int) -> np.ndarray:
    """`_make_noise`, once per (seed, side): a page of previews meets the same few seeds again and again, and a
    450 x 450 field costs more than most shapes."""
    noise = _make_noise(seed, side)
    noise.flags.writeable = False  # shared between drawings (and threads)
    return noise


def clear_caches() -> None:
    _noise_field.cache_clear()
    _MASKS.clear()


def _box_pts(box: Sequence[float]) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1, y1)]


# Shaders -------------------------------------------------------------------------------------


def flat(c: RGB) -> Shader:
    col = rgb(c)

    def f(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return np.broadcast_to(col, (Y.shape[0], X.shape[1], 3))

    return f


def cylinder(
    x0: float,
    x1: float,
    c: RGB,
    *,
    light: float = -0.35,
    ambient: float = 0.5,
    spec: float = 0.35,
    spec_width: float = 0.09,
    spec2: float = 0.0,
) -> Shader:
    """A vertical cylinder between x0 and x1: Lambert shading from a light at `light` (-1 left..1 right) and a
    specular stripe; `spec2` adds a weak reflection on the far side."""
    col = rgb(c)
    lz = math.sqrt(max(0.0, 1 - light * light))

    def f(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        t = np.clip((X - x0) / max(1e-3, x1 - x0) * 2 - 1, -0.999, 0.999)
        nz = np.sqrt(1 - t * t)
        diff = np.clip(t * light + nz * lz, 0, 1)
        shade = ambient + (1 - ambient) * diff
        hl = spec * np.exp(-(((t - light * 0.55) / spec_width) ** 2))
        if spec2:
            hl = hl + spec2 * np.exp(-(((t + light * 0.8) / (spec_width * 0.7)) ** 2))
        out = col * shade[..., None] + hl[..., None] * (1 - col * 0.3)
        return np.broadcast_to(out, (Y.shape[0], X.shape[1], 3))

    return f


def sphere(
    cx: float,
    cy: float,
    rx: float,
    ry: float,
    c: RGB,
    *,
    light: tuple[float, float] = (-0.45, -0.5),
    ambient: float = 0.45,
    spec: float = 0.45,
    spec_size: float = 0.18,
) -> Shader:
    col = rgb(c)
    planes, glint = col[:, None, None], (1 - col * 0.3)[:, None, None]
    lx, ly = light
    lz = math.sqrt(max(0.0, 1 - lx * lx - ly * ly))

    def f(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        u = (X - cx) / rx
        v = (Y - cy) / ry
        r2 = np.clip(u * u + v * v, 0, 0.999)
        nz = np.sqrt(1 - r2)
        diff = np.clip(u * lx + v * ly + nz * lz, 0, 1)
        shade = ambient + (1 - ambient) * diff
        d2 = (u - lx * 0.6) ** 2 + (v - ly * 0.6) ** 2
        hl = spec * np.exp(-d2 / (spec_size**2))
        # Worked out per channel plane (fast, the canvas's own layout), handed back as the usual (h, w, 3) view.
        return np.moveaxis(planes * shade + hl * glint, 0, -1)

    return f


def vgrad(y0: float, y1: float, c0: RGB, c1: RGB) -> Shader:
    a, b = rgb(c0), rgb(c1)

    def f(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        t = np.clip((Y - y0) / max(1e-3, y1 - y0), 0, 1)[..., None]
        return np.broadcast_to(a + (b - a) * t, (Y.shape[0], X.shape[1], 3))

    return f


def hgrad(x0: float, x1: float, c0: RGB, c1: RGB) -> Shader:
    a, b = rgb(c0), rgb(c1)

    def f(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        t = np.clip((X - x0) / max(1e-3, x1 - x0), 0, 1)[..., None]
        return np.broadcast_to(a + (b - a) * t, (Y.shape[0], X.shape[1], 3))

    return f


def times(shader: Shader, *factors: Shader) -> Shader:
    def f(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        out = shader(X, Y)
        for g in factors:
            out = out * g(X, Y)
        return out

    return f


def vshade(y0: float, y1: float, top: float, bottom: float) -> Shader:
    """A multiplicative vertical brightness ramp (for use with `times`)."""

    def f(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        t = np.clip((Y - y0) / max(1e-3, y1 - y0), 0, 1)
        return (top + (bottom - top) * t)[..., None]

    return f
