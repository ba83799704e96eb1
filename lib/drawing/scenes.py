"""Studio backgrounds: a preset's wall, surface, horizon, light and vignette rendered at a given size.

A background depends only on (preset, size, scene variant), so the studio engine caches it and renders each
product on top; `Scene` tells the engine where the surface is and where the light comes from.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageFilter

from lib.drawing import textures as tx
from lib.drawing.cache import SingleFlightCache

if TYPE_CHECKING:
    from lib.generation.prompts import SceneParams

SCENE_VARIANTS = 4  # backgrounds per preset and size that variants cycle through (and the cache holds)
_HORIZON_JITTER = (0.0, 0.025, -0.02, 0.012)
_LIGHT_JITTER = (1.0, 0.7, 1.25, 0.85)


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    horizon: int  # first row of the surface
    floor_bottom: int  # last row products may stand on (the shelf edge, or the frame bottom)
    light_x: float  # -1 left .. 1 right
    warmth: float
    surface_rgb: tuple[float, float, float]  # mean colour of the surface near the middle (0..1)
    wall_rgb: tuple[float, float, float]
    accent: tuple[int, int, int]  # the variant's wall colour (plinths take a shade of it)


def _seed(*parts: object) -> int:
    return zlib.crc32(repr(parts).encode())


# 3 MB each at 1024 px, 12.6 MB at 2048. An auto-style job meets every preset (10 x 4 scene variants = 120 MB at
# 1024 px): a budget that holds them all, so the cache does not thrash, and still bounds a long-running worker.
BACKGROUNDS: SingleFlightCache[tuple[np.ndarray, Scene]] = SingleFlightCache(
    144 * 1024 * 1024, lambda entry: entry[0].nbytes
)


def background(params: SceneParams, width: int, height: int, variant: int) -> tuple[np.ndarray, Scene]:
    """The rendered background (uint8 H x W x 3, read-only) and its geometry (cached; computed once even when
    several threads ask at the same time)."""
    return BACKGROUNDS.get(
        (params, width, height, variant % SCENE_VARIANTS),
        lambda: _background(params, width, height, variant % SCENE_VARIANTS),
    )


def clear_backgrounds() -> None:
    BACKGROUNDS.clear()


def _background(params: SceneParams, width: int, height: int, variant: int) -> tuple[np.ndarray, Scene]:
    """Rendered at half size and upscaled, then grained at full size: everything in a scene is soft (the wall and
    the far surface under depth of field, textures drawn at half scale, light and vignette smooth), so half size
    looks the same and costs a quarter; a miss of this cache was the engine's slowest render (its p95)."""
    hw, hh = max(1, (width + 1) // 2), max(1, (height + 1) // 2)
    small, hy, floor_bottom, light_x = _scene(params, hw, hh, variant, max(width, height) / 2048.0)
    up = Image.fromarray(small, "RGB").resize((width, height), Image.Resampling.BICUBIC)
    # A little grain (the product is composited on top, untouched by it), from one field per size, cut at a
    # variant's own offset.
    field = _grain(width, height)
    offset = _seed("grain", params, variant)
    gy, gx = offset % GRAIN_PAD, (offset >> 8) % GRAIN_PAD
    out16 = np.asarray(up, dtype=np.int16) + field[gy : gy + height, gx : gx + width, None]
    out = np.clip(out16, 0, 255).astype(np.uint8)
    out.setflags(write=False)
    fy = height / hh
    hy_full = int(round(hy * fy))
    h, w = height, width
    fh = h - hy_full
    mid = out[min(h - 1, hy_full + int(0.5 * fh)) - 2 : min(h, hy_full + int(0.5 * fh)) + 2, w // 3 : 2 * w // 3]
    wall_mid = out[max(0, hy_full // 2 - 2) : hy_full // 2 + 2, w // 3 : 2 * w // 3]
    c0 = params.palette[variant % SCENE_VARIANTS % len(params.palette)] if params.palette else params.wall_colors[0]
    scene = Scene(
        width=w,
        height=h,
        horizon=hy_full,
        floor_bottom=h - 1 if floor_bottom >= hh - 1 else int(round(floor_bottom * fy)),
        light_x=light_x,
        warmth=params.warmth,
        surface_rgb=tuple(float(x) for x in mid.reshape(-1, 3).mean(axis=0) / 255.0),  # type: ignore[arg-type]
        wall_rgb=tuple(float(x) for x in wall_mid.reshape(-1, 3).mean(axis=0) / 255.0),  # type: ignore[arg-type]
        accent=c0,
    )
    return out, scene


GRAIN_PAD = 64
GRAIN_LEVELS = 0.007 * 255  # standard deviation of the grain, in 8-bit levels


@lru_cache(maxsize=4)
def _grain(width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(_seed("grain", width, height))
    field = np.round(rng.standard_normal((height + GRAIN_PAD, width + GRAIN_PAD), dtype=np.float32) * GRAIN_LEVELS)
    out = field.astype(np.int16)
    out.setflags(write=False)
    return out


def _scene(params: SceneParams, width: int, height: int, variant: int, s: float) -> tuple[np.ndarray, int, int, float]:
    """The background at this size, without grain: (uint8 image, horizon row, last row to stand on, light_x)."""
    p = params
    v = variant % SCENE_VARIANTS
    rng = np.random.default_rng(_seed(p.wall, p.surface, p.wall_colors, v))
    w, h = width, height
    hy = int(round(h * min(0.85, max(0.4, p.horizon + _HORIZON_JITTER[v]))))
    light_x = float(np.clip(p.light_x * _LIGHT_JITTER[v], -1, 1))
    c0, c1 = p.wall_colors
    s0, s1 = p.surface_colors
    if p.palette:
        base = p.palette[v % len(p.palette)]
        c0, c1 = base, _shade(base, 0.94)
        s0, s1 = _shade(base, 0.97), _shade(base, 0.9)

    # Wall ------------------------------------------------------------------------------------
    wall = _wall(p.wall, h, w, c0, c1, rng, s)

    # Surface ---------------------------------------------------------------------------------
    fh = h - hy
    img = wall
    if fh > 0:
        # Drawn at half the on-screen scale of the near edge: 4x cheaper, and the near edge is a touch soft
        # anyway (depth of field of a product shot).
        tw, th = int(w), int(max(w, h) * 0.55)
        flat_tex = _surface(p.surface, th, tw, s0, s1, rng, s / 2)
        floor = tx.perspective(flat_tex, w, fh, near=0.5)
        # Light falls off towards the viewer a little: the area around the product is the brightest.
        depth = np.linspace(0, 1, fh, dtype=np.float32)[:, None, None]
        floor = floor * (1.02 - 0.08 * depth)
        img = wall.copy()
        if p.edge == "soft":
            band = max(4, int(0.07 * h))
            rows = np.arange(h, dtype=np.float32)[:, None, None]
            t = tx.smoothstep(hy - band, hy + band, rows)
            lower = np.concatenate([np.repeat(floor[:1], hy, axis=0), floor], axis=0)
            img = wall * (1 - t) + lower * t
            img = img * (1 - 0.03 * np.exp(-(((rows - hy) / band) ** 2)))  # the faint shade in a cove
        else:
            img[hy:] = floor
            rows = np.arange(hy, dtype=np.float32)[:, None, None]
            img[:hy] *= 1 - 0.13 * np.exp(-(hy - rows) / (0.025 * h))  # wall darker where it meets the surface
            edge = max(1, int(round(1.5 * s)))
            img[hy : hy + edge] *= 0.8  # the seam
            img[hy + edge : hy + edge + max(1, int(2 * s))] *= 1.04  # the counter's back edge catches light

    floor_bottom = h - 1
    if p.surface == "shelf" and fh > 0:
        floor_bottom = _shelf_front(img, wall, hy, h, s0, rng, s)

    # Light: every brightness term folds into one (h, w) gain map, applied once (full-frame float ops dominate
    # the cost of a background).
    xs = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    ys = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    gain = 1 + 0.08 * light_x * xs
    if p.wall == "dark":
        cx = 0.15 * light_x
        d2 = (xs - cx) ** 2 * 1.4 + ((ys - hy / h) * h / w * 2.2) ** 2
        gain = gain * (1 + 1.25 * np.exp(-d2 / 0.35))
    else:
        d2 = (xs + 0.35 * light_x) ** 2 + ((ys - 0.45) * 1.4) ** 2
        gain = gain * (0.97 + 0.07 * np.exp(-d2 / 0.6))
    r2 = xs**2 * 0.9 + ((ys - 0.5) * 2) ** 2 * 0.9
    gain = gain * (1 - p.vignette * np.clip(r2 / 2, 0, 1) ** 1.4)
    if p.wall == "window":
        patch = tx.window_light(h, w, light_x, rng, s)
        patch[hy:] = 0
        img += (tx.col((255, 246, 226)) - img) * (patch * 0.55)[..., None]
        gain[:hy] *= 1 - 0.06 * (1 - patch[:hy])
        floor_rows = (np.arange(h)[:, None] >= hy).astype(np.float32)
        streak = tx.blur(floor_rows * (np.abs(xs + 0.45 * light_x) < 0.35), 30 * s)
        gain = gain * (1 + 0.1 * streak)
    if p.dapple:
        # Sun flecks through a canopy: the table mostly in soft shade, with warm bright patches.
        sun = _sun_flecks(h, w, hy, rng, s)
        gain = gain * (0.88 + 0.26 * sun)
        img *= 1 + 0.05 * sun[..., None] * np.array([1, 0.6, -0.4], dtype=np.float32)
    img *= gain[..., None]
    warm = p.warmth
    img *= np.array([1 + 0.05 * warm, 1 + 0.012 * warm, 1 - 0.05 * warm], dtype=np.float32) * p.brightness

    # Depth of field: the wall and the far surface a little soft (blurred at half size: 4x cheaper, same look).
    sharp_from = min(h, int(hy + 0.45 * max(1, fh)) + 1)
    if sharp_from > 0:
        top = img[:sharp_from]
        img8 = Image.fromarray(np.clip(top * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")
        half = img8.resize((max(1, w // 2), max(1, sharp_from // 2)), Image.Resampling.BILINEAR)
        soft = (
            np.asarray(
                half.filter(ImageFilter.GaussianBlur(1.3 * s)).resize((w, sharp_from), Image.Resampling.BILINEAR),
                dtype=np.float32,
            )
            / 255.0
        )
        rows = np.arange(sharp_from, dtype=np.float32)[:, None, None]
        t = 1 - tx.smoothstep(hy - 2, hy + 0.45 * max(1, fh), rows)
        top += (soft - top) * t

    return np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8), hy, floor_bottom, light_x


def _sun_flecks(h: int, w: int, hy: int, rng: np.random.Generator, s: float) -> np.ndarray:
    """Sunlight through leaves lands as soft elliptical flecks (images of the sun), flattened by perspective and
    bunched where the canopy has gaps. Returns 0..1 light on the surface (0.5 on the wall)."""
    from PIL import ImageDraw

    out = Image.new("L", (w, h), 0)
    d = ImageDraw.Draw(out)
    gaps = tx.fbm(max(1, h // 8), max(1, w // 8), 14 * s, rng, octaves=2)
    depth = max(1, h - hy)
    for _ in range(int(420 * w / 1024)):
        y = hy + depth * rng.random() ** 0.8
        x = rng.uniform(0, w)
        if gaps[min(gaps.shape[0] - 1, int(y / 8)), min(gaps.shape[1] - 1, int(x / 8))] < 0.45:
            continue
        near = (y - hy) / depth  # 0 at the back edge, 1 at the front
        rx = (6 + 22 * near) * s * rng.uniform(0.6, 1.4)
        ry = rx * (0.25 + 0.3 * near)
        d.ellipse((x - rx, y - ry, x + rx, y + ry), fill=int(rng.uniform(150, 255)))
    sun = np.asarray(out.filter(ImageFilter.GaussianBlur(2.2 * s)), dtype=np.float32) / 255.0
    sun[:hy] = 0.5
    return sun


def _shade(c: tuple[int, int, int], k: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, round(x * k)))) for x in c)  # type: ignore[return-value]


def _wall(kind: str, h: int, w: int, c0: tuple, c1: tuple, rng: np.random.Generator, s: float) -> np.ndarray:
    if kind == "concrete":
        return tx.wall_concrete(h, w, c0, c1, rng, s)
    if kind == "linen":
        return tx.wall_linen(h, w, c0, c1, rng, s)
    if kind == "tiles":
        return tx.wall_tiles(h, w, c0, c1, rng, s)
    if kind == "garden":
        return tx.wall_garden(h, w, c0, c1, rng, s)
    if kind == "dark":
        return tx.wall_dark(h, w, c0, c1, rng, s)
    if kind == "sweep":
        return tx.wall_sweep(h, w, c0, c1, rng)
    return tx.wall_plaster(h, w, c0, c1, rng)  # plaster, window


def _surface(kind: str, h: int, w: int, c0: tuple, c1: tuple, rng: np.random.Generator, s: float) -> np.ndarray:
    if kind == "marble":
        return tx.surface_marble(h, w, c0, c1, rng, s)
    if kind == "wood":
        return tx.surface_wood(h, w, c0, c1, rng, s)
    if kind == "deck":
        return tx.surface_wood(h, w, c0, c1, rng, s, plank=150, along_depth=False)
    if kind == "concrete":
        return tx.surface_concrete(h, w, c0, c1, rng, s)
    if kind == "linen":
        return tx.surface_linen(h, w, c0, c1, rng, s)
    if kind == "slate":
        return tx.surface_slate(h, w, c0, c1, rng, s)
    if kind == "shelf":
        return tx.surface_stone(h, w, c0, c1, rng, s)
    return tx.surface_plain(h, w, c0, c1, rng)  # sweep


def _shelf_front(
    img: np.ndarray, wall: np.ndarray, hy: int, h: int, c0: tuple, rng: np.random.Generator, s: float
) -> int:
    """A shelf: its top ends in a lit front edge, below which the tiles are in the shelf's shadow."""
    top = hy + int(0.72 * (h - hy))
    face = max(4, int(0.045 * h))
    img[top : top + face] = tx.col(c0) * np.linspace(1.02, 0.86, min(face, h - top), dtype=np.float32)[:, None, None]
    img[top : top + 1] *= 1.08
    below = top + face
    if below < h:
        rows = np.linspace(0, 1, h - below, dtype=np.float32)[:, None, None]
        img[below:] = wall[below:] * (0.62 + 0.25 * rows)
    return top - 1
