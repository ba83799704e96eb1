"""A tiny supersampled painter for product drawings: shapes become masks (drawn by Pillow at 2x), masks are filled
with shaded colour fields (numpy), and the result is downsampled once, which gives clean anti-aliased edges.

Coordinates are in output pixels of a 1024 x 1024 design space and scaled to the real size, so every drawing
is written once and renders at any size. Only the bounding box of each shape is touched, to keep it fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

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


class Canvas:
    def __init__(self, size: int = 1024, ss: int = 2, *, transparent: bool = False) -> None:
        self.size = size
        self.ss = ss
        self.k = size * ss / DESIGN  # design px -> supersampled px
        n = size * ss
        self.n = n
        # A transparent canvas keeps premultiplied colour plus coverage, so edges carry no white fringe.
        self.img = np.zeros((n, n, 3), dtype=np.float32) if transparent else np.ones((n, n, 3), dtype=np.float32)
        self.alpha = np.zeros((n, n), dtype=np.float32) if transparent else None

    # Shapes ---------------------------------------------------------------------------------
    def mask(self, *ops: tuple) -> Mask:
        """ops: ("ellipse", box) ("rect", box) ("rrect", box, r) ("poly", pts) ("line", pts, width)
        ("pie", box, a0, a1); a kind starting with "-" cuts the shape out instead of adding it."""
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
            region[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = clip.a[iy0 - cy0:iy1 - cy0, ix0 - cx0:ix1 - cx0]
        return Mask(out * region, m.box)

    # Painting -------------------------------------------------------------------------------
    def grid(self, m: Mask) -> tuple[np.ndarray, np.ndarray]:
        x0, y0, x1, y1 = m.box
        xs = (np.arange(x0, x1, dtype=np.float32) + 0.5) / self.k
        ys = (np.arange(y0, y1, dtype=np.float32) + 0.5) / self.k
        return xs[None, :], ys[:, None]

    def fill(self, m: Mask, color: RGB | Shader, *, rim: float = 0.0, rim_width: float = 10.0,
             opacity: float = 1.0) -> None:
        """Paint colour (or a shader of design coordinates) through the mask. `rim` darkens the shape's edge
        (a soft falloff that makes flat shapes read as rounded)."""
        x0, y0, x1, y1 = m.box
        if x1 <= x0 or y1 <= y0:
            return
        if callable(color):
            X, Y = self.grid(m)
            col = np.broadcast_to(color(X, Y), (y1 - y0, x1 - x0, 3)).astype(np.float32)
        else:
            col = np.broadcast_to(rgb(color), (y1 - y0, x1 - x0, 3))
        if rim > 0:
            blur = Image.fromarray((m.a * 255).astype(np.uint8)).filter(
                ImageFilter.GaussianBlur(rim_width * self.k))
            inner = np.asarray(blur, dtype=np.float32) / 255.0
            col = col * (1 - rim * np.clip(1 - (inner - 0.5) * 2, 0, 1))[..., None]
        a = (m.a * opacity)[..., None]
        region = self.img[y0:y1, x0:x1]
        region *= 1 - a
        region += col * a
        if self.alpha is not None:
            cover = self.alpha[y0:y1, x0:x1]
            cover *= 1 - a[..., 0]
            cover += a[..., 0]

    def soft(self, m: Mask, radius: float) -> Mask:
        """The mask blurred by radius design px (for glows and soft highlights)."""
        pad = int(radius * self.k * 3) + 2
        x0, y0, x1, y1 = m.box
        nx0, ny0 = max(0, x0 - pad), max(0, y0 - pad)
        nx1, ny1 = min(self.n, x1 + pad), min(self.n, y1 + pad)
        big = np.zeros((ny1 - ny0, nx1 - nx0), dtype=np.float32)
        big[y0 - ny0:y1 - ny0, x0 - nx0:x1 - nx0] = m.a
        im = Image.fromarray((big * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(radius * self.k))
        return Mask(np.asarray(im, dtype=np.float32) / 255.0, (nx0, ny0, nx1, ny1))

    def noise(self, amount: float, seed: int, grain: float = 1.5) -> Shader:
        """A shader modifier factor: multiplicative fine noise (stoneware speckle, canvas)."""
        rng = np.random.default_rng(seed)
        cell = max(1, int(grain * self.k))
        small = rng.standard_normal((self.n // cell + 2, self.n // cell + 2)).astype(np.float32)

        def f(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
            xi = np.clip((X * self.k / cell).astype(int), 0, small.shape[1] - 1)
            yi = np.clip((Y * self.k / cell).astype(int), 0, small.shape[0] - 1)
            return (1 + amount * small[yi, xi])[..., None]

        return f

    def image(self) -> Image.Image:
        if self.alpha is not None:
            a = self.alpha[..., None]
            rgb_ = np.where(a > 1e-4, self.img / np.maximum(a, 1e-4), 0)
            arr = np.clip(np.concatenate([rgb_, a], axis=2) * 255.0 + 0.5, 0, 255).astype(np.uint8)
            im = Image.fromarray(arr, "RGBA")
            if self.ss > 1:
                im = im.convert("RGBa").reduce(self.ss).convert("RGBA")
            return im
        arr = np.clip(self.img * 255.0 + 0.5, 0, 255).astype(np.uint8)
        im = Image.fromarray(arr, "RGB")
        if self.ss > 1:
            im = im.reduce(self.ss)  # box average = exact supersampling
        return im


def _box_pts(box: Sequence[float]) -> list[tuple[float, float]]:
    x0, y0, x1, y1 = box
    return [(x0, y0), (x1, y1)]


# Shaders -------------------------------------------------------------------------------------

def flat(c: RGB) -> Shader:
    col = rgb(c)

    def f(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        return np.broadcast_to(col, (Y.shape[0], X.shape[1], 3))

    return f


def cylinder(x0: float, x1: float, c: RGB, *, light: float = -0.35, ambient: float = 0.5, spec: float = 0.35,
             spec_width: float = 0.09, spec2: float = 0.0) -> Shader:
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


def sphere(cx: float, cy: float, rx: float, ry: float, c: RGB, *, light: tuple[float, float] = (-0.45, -0.5),
           ambient: float = 0.45, spec: float = 0.45, spec_size: float = 0.18) -> Shader:
    col = rgb(c)
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
        return col * shade[..., None] + hl[..., None] * (1 - col * 0.3)

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
