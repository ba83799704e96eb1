"""Procedural textures for studio scenes (numpy + Pillow, vectorised): value noise, fractal noise, and the walls and
surfaces the presets name. Every function returns float32 RGB in 0..1 and is deterministic for its rng.

Surfaces are drawn flat ("texture space": u across, v in depth) and put into perspective by `perspective()`.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

RGB = tuple[int, int, int]


def col(c: RGB) -> np.ndarray:
    return np.asarray(c, dtype=np.float32) / 255.0


def noise(h: int, w: int, cell_y: float, cell_x: float | None, rng: np.random.Generator) -> np.ndarray:
    """Smooth value noise in about 0..1 with features of cell_y x cell_x px (bicubic-upscaled random grid)."""
    cell_x = cell_y if cell_x is None else cell_x
    gh = int(math.ceil(h / cell_y)) + 3
    gw = int(math.ceil(w / cell_x)) + 3
    grid = rng.random((gh, gw), dtype=np.float32)
    big = Image.fromarray(grid, mode="F").resize((int(gw * cell_x), int(gh * cell_y)), Image.Resampling.BICUBIC)
    oy, ox = int(cell_y), int(cell_x)
    return np.asarray(big, dtype=np.float32)[oy : oy + h, ox : ox + w]


def fbm(
    h: int, w: int, cell: float, rng: np.random.Generator, octaves: int = 4, aspect: float = 1.0, gain: float = 0.5
) -> np.ndarray:
    """Fractal noise, normalised to 0..1. `aspect` > 1 stretches features horizontally."""
    # Smooth noise does not need full resolution: work at 1/f size (the finest octave keeps >= 4 px cells) and
    # upsample once. This is most of what makes backgrounds cheap.
    finest = cell / 2 ** (octaves - 1) * min(1.0, aspect)
    f = 1
    while f < 8 and finest / (f * 2) >= 4 and h // (f * 2) >= 8 and w // (f * 2) >= 8:
        f *= 2
    if f > 1:
        small = fbm(-(-h // f), -(-w // f), cell / f, rng, octaves, aspect, gain)
        big = Image.fromarray(np.ascontiguousarray(small, dtype=np.float32), mode="F").resize(
            (w, h), Image.Resampling.BILINEAR
        )
        return np.asarray(big, dtype=np.float32)
    out = np.zeros((h, w), dtype=np.float32)
    amp, total = 1.0, 0.0
    for _ in range(octaves):
        if cell < 1.5:
            break
        out += amp * noise(h, w, cell, cell * aspect, rng)
        total += amp
        amp *= gain
        cell /= 2.0
    out /= max(total, 1e-6)
    lo, hi = (float(v) for v in np.percentile(out[::4, ::4], (1, 99)))  # a subsample is enough, 16x cheaper
    return np.clip((out - lo) / max(hi - lo, 1e-6), 0, 1).astype(np.float32, copy=False)


def blur(arr: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur of a float image (2-D or RGB), done by Pillow per channel in float mode."""
    if radius <= 0:
        return arr
    # Pillow blurs 8-bit images only; 8 bits are plenty for the soft things blurred here.
    mode = "L" if arr.ndim == 2 else "RGB"
    im = Image.fromarray(np.clip(arr * 255 + 0.5, 0, 255).astype(np.uint8), mode)
    return np.asarray(im.filter(ImageFilter.GaussianBlur(radius)), dtype=np.float32) / 255.0


def smoothstep(e0: float, e1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - e0) / (e1 - e0), 0, 1)
    return t * t * (3 - 2 * t)


def vertical(h: int, w: int, top: RGB, bottom: RGB) -> np.ndarray:
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    return np.broadcast_to(col(top) + (col(bottom) - col(top)) * t, (h, w, 3)).copy()


def tint(base: np.ndarray, amount: np.ndarray, accent: RGB) -> np.ndarray:
    """Blend towards `accent` by a per-pixel amount."""
    return base + (col(accent) - base) * amount[..., None]


# Walls ---------------------------------------------------------------------------------------


def wall_plaster(h: int, w: int, c0: RGB, c1: RGB, rng: np.random.Generator) -> np.ndarray:
    img = vertical(h, w, c0, c1)
    n = fbm(h, w, max(h, w) / 5, rng, octaves=5)
    return img * (0.975 + 0.05 * n)[..., None]


def wall_concrete(h: int, w: int, c0: RGB, c1: RGB, rng: np.random.Generator, scale: float) -> np.ndarray:
    img = vertical(h, w, c0, c1)
    blotch = fbm(h, w, 260 * scale, rng, octaves=5)
    stain = fbm(h, w, 90 * scale, rng, octaves=3, aspect=0.35)  # streaks run down the wall
    speck = rng.standard_normal((h, w), dtype=np.float32)
    shade = 0.9 + 0.16 * blotch - 0.05 * smoothstep(0.6, 0.9, stain) + 0.025 * speck
    img = img * shade[..., None]
    # Formwork panels: faint seams and the tie holes of poured concrete.
    pw, ph = int(420 * scale), int(210 * scale)
    ys, xs = np.ogrid[:h, :w]
    seam = ((xs % pw) < max(1, int(2 * scale))) | ((ys % ph) < max(1, int(2 * scale)))
    img[seam] *= 0.93
    r = max(2.0, 7 * scale)
    for cy in range(ph // 2, h, ph):
        for cx in range(pw // 4, w + pw, pw // 2):
            y0, y1, x0, x1 = (
                max(0, int(cy - 2 * r)),
                min(h, int(cy + 2 * r)),
                max(0, int(cx - 2 * r)),
                min(w, int(cx + 2 * r)),
            )
            if y1 <= y0 or x1 <= x0:
                continue
            yy, xx = np.ogrid[y0:y1, x0:x1]
            d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
            img[y0:y1, x0:x1] *= (1 - 0.35 * smoothstep(r, r * 0.6, d))[..., None]
    return img


def wall_linen(h: int, w: int, c0: RGB, c1: RGB, rng: np.random.Generator, scale: float) -> np.ndarray:
    img = vertical(h, w, c0, c1)
    return img * linen_weave(h, w, rng, scale, folds=True)[..., None]


def linen_weave(h: int, w: int, rng: np.random.Generator, scale: float, folds: bool) -> np.ndarray:
    """Multiplicative brightness of a linen weave: thread noise in rows and columns, slubs, soft folds."""
    rows = noise(h, 1, max(1.0, 1.6 * scale), 1, rng)[:, :1] - 0.5
    cols_ = noise(1, w, 1, max(1.0, 1.6 * scale), rng)[:1, :] - 0.5
    slub = fbm(h, w, 40 * scale, rng, octaves=2, aspect=6.0) - 0.5
    thread = 0.018 if folds else 0.05  # a backdrop is further away: its weave barely shows
    out = 1 + thread * rows + thread * cols_ + (0.012 if folds else 0.04) * slub
    if folds:
        fold = fbm(h, w, 260 * scale, rng, octaves=2, aspect=0.25)
        out = out * (0.94 + 0.09 * fold)
    return out


def wall_tiles(h: int, w: int, c0: RGB, c1: RGB, rng: np.random.Generator, scale: float) -> np.ndarray:
    img = vertical(h, w, c0, c1)
    t = max(24, int(150 * scale))
    g = max(2, int(5 * scale))
    ys, xs = np.ogrid[:h, :w]
    ty, tx = ys // t, xs // t
    # Each tile a little different (handmade glaze), with a soft gloss gradient.
    per = rng.uniform(-0.025, 0.025, size=(h // t + 2, w // t + 2)).astype(np.float32)
    shade = 1 + per[ty, tx]
    fy, fx = (ys % t) / t, (xs % t) / t
    shade = shade + 0.03 * (0.5 - fy) - 0.015 * np.abs(fx - 0.5)
    img = img * shade[..., None]
    grout = ((ys % t) < g) | ((xs % t) < g)
    img = np.where(grout[..., None], col((198, 200, 198)), img)
    return img


def wall_garden(h: int, w: int, c0: RGB, c1: RGB, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Out-of-focus garden: layered greens, warm sky light through the top, bokeh glints; all very soft."""
    img = vertical(h, w, (238, 232, 200), (214, 220, 170))
    foliage = fbm(h, w, 300 * scale, rng, octaves=3)
    depth = np.linspace(-0.45, 0.3, h, dtype=np.float32)[:, None]  # more leaves lower down
    mask = smoothstep(0.2, 0.75, foliage + depth)
    shade = fbm(h, w, 160 * scale, rng, octaves=2)
    green = tint(np.broadcast_to(col(c0), (h, w, 3)).copy(), shade, c1)
    img = img + (green - img) * (0.35 + 0.65 * mask)[..., None]
    bokeh = np.zeros((h, w), dtype=np.float32)
    for _ in range(int(60 * (w * h) / (1024 * 1024)) + 12):
        cx, cy = rng.uniform(0, w), rng.uniform(0, h * 0.8)
        r = rng.uniform(10, 30) * scale
        y0, y1, x0, x1 = max(0, int(cy - r)), min(h, int(cy + r)), max(0, int(cx - r)), min(w, int(cx + r))
        if y1 <= y0 or x1 <= x0:
            continue
        yy, xx = np.ogrid[y0:y1, x0:x1]
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        bokeh[y0:y1, x0:x1] = np.maximum(bokeh[y0:y1, x0:x1], rng.uniform(0.25, 0.7) * smoothstep(r, r * 0.85, d))
    img = blur(img, 22 * scale)
    img = img + (col((255, 248, 222)) - img) * (blur(bokeh, 2 * scale) * 0.5)[..., None]
    return img


def wall_sweep(h: int, w: int, c0: RGB, c1: RGB, rng: np.random.Generator) -> np.ndarray:
    return vertical(h, w, c0, c1)


def wall_dark(h: int, w: int, c0: RGB, c1: RGB, rng: np.random.Generator, scale: float) -> np.ndarray:
    img = vertical(h, w, c0, c1)
    n = fbm(h, w, 200 * scale, rng, octaves=5)
    return img * (0.9 + 0.2 * n)[..., None]


def window_light(h: int, w: int, light_x: float, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Brightness added by sunlight through a four-pane window, falling on the wall as skewed quads."""
    out = Image.new("L", (w, h), 0)
    from PIL import ImageDraw

    d = ImageDraw.Draw(out)
    side = -1 if light_x < 0 else 1
    cx = w * (0.5 + 0.25 * -side)  # the patch falls on the side opposite the window
    pane_w, pane_h, gap = 150 * scale, 190 * scale, 18 * scale
    skew = 90 * scale * side
    top = h * 0.08
    for i in range(2):
        for j in range(2):
            x0 = cx - pane_w - gap / 2 + i * (pane_w + gap)
            y0 = top + j * (pane_h + gap)
            sk0, sk1 = skew * (y0 / h), skew * ((y0 + pane_h) / h)
            d.polygon(
                [(x0 + sk0, y0), (x0 + pane_w + sk0, y0), (x0 + pane_w + sk1, y0 + pane_h), (x0 + sk1, y0 + pane_h)],
                fill=255,
            )
    arr = np.asarray(out.filter(ImageFilter.GaussianBlur(9 * scale)), dtype=np.float32) / 255.0
    return arr


# Surfaces (texture space) ---------------------------------------------------------------------


def surface_marble(h: int, w: int, base: RGB, vein: RGB, rng: np.random.Generator, scale: float) -> np.ndarray:
    img = np.broadcast_to(col(base), (h, w, 3)).copy()
    cloud = fbm(h, w, 340 * scale, rng, octaves=5)
    img = tint(img, smoothstep(0.45, 1.0, cloud) * 0.12, vein)
    # Long veins: a diagonal stripe field bent by two scales of noise; their width wanders along them.
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    warp = fbm(h, w, 420 * scale, rng, octaves=3)
    wiggle = fbm(h, w, 70 * scale, rng, octaves=3)
    t = (xs * 0.62 + ys * 0.78) / (620 * scale) + 0.7 * warp + 0.12 * wiggle
    dist = np.abs(np.sin(np.pi * t))
    strength = fbm(h, w, 300 * scale, rng, octaves=2)
    width = 0.01 + 0.04 * strength**2
    veins = np.exp(-dist / width) * (0.35 + 0.65 * strength)
    halo = np.exp(-dist / (width * 6 + 0.05)) * 0.25  # the soft grey cloud each vein sits in
    # Faint hairline branches from ridged noise.
    ridge = 1 - np.abs(2 * fbm(h, w, 260 * scale, rng, octaves=4) - 1)
    hair = ridge**80 * smoothstep(0.3, 0.8, strength)
    amount = np.clip(0.6 * veins + halo * strength + 0.18 * hair, 0, 0.7)
    return tint(img, amount, vein)


def surface_wood(
    h: int,
    w: int,
    base: RGB,
    dark: RGB,
    rng: np.random.Generator,
    scale: float,
    plank: float = 230.0,
    along_depth: bool = True,
) -> np.ndarray:
    """Planks with grain. along_depth: planks run away from the viewer (table top); else across (deck slats)."""
    if not along_depth:
        return surface_wood(w, h, base, dark, rng, scale, plank, True).transpose(1, 0, 2).copy()
    pw = max(8, int(plank * scale))
    xs = np.arange(w, dtype=np.float32)[None, :]
    idx = (xs // pw).astype(int)
    nplanks = w // pw + 2
    local = (xs % pw) / pw
    warp = fbm(h, w, 60 * scale, rng, octaves=3, aspect=0.08)  # grain wanders slowly along the plank
    phase = rng.uniform(0, 50, nplanks).astype(np.float32)[idx]
    freq = rng.uniform(5, 9, nplanks).astype(np.float32)[idx]
    rings = 0.5 + 0.5 * np.sin((local * freq + warp * 2.2 + phase) * 2 * math.pi)
    rings = rings**3
    fibre = noise(h, w, max(1.0, 40 * scale), max(1.0, 1.2 * scale), rng)  # fine streaks along the plank
    tone = rng.uniform(-0.08, 0.08, nplanks).astype(np.float32)[idx]
    amount = np.clip(0.35 * rings + 0.18 * (fibre - 0.5) + 0.25 + tone, 0, 1)
    img = tint(np.broadcast_to(col(base), (h, w, 3)).copy(), amount * 0.6, dark)
    # Dark seams between planks and staggered end joints.
    seam = (xs % pw) < max(1.0, 2.2 * scale)
    img = img * np.where(seam, 0.55, 1.0)[..., None]
    ys = np.arange(h, dtype=np.float32)[:, None]
    joint_at = rng.uniform(0, h, nplanks).astype(np.float32)[idx]
    joint = np.abs(ys - joint_at) < max(1.0, 1.5 * scale)
    img = img * np.where(joint, 0.6, 1.0)[..., None]
    return img


def surface_concrete(h: int, w: int, base: RGB, accent: RGB, rng: np.random.Generator, scale: float) -> np.ndarray:
    img = np.broadcast_to(col(base), (h, w, 3)).copy()
    blotch = fbm(h, w, 320 * scale, rng, octaves=5)
    img = tint(img, blotch * 0.45, accent)
    speck = rng.standard_normal((h, w), dtype=np.float32)
    pores = rng.random((h, w), dtype=np.float32) < 0.004
    shade = 1 + 0.03 * speck - 0.25 * pores
    return img * shade[..., None]


def surface_linen(h: int, w: int, base: RGB, accent: RGB, rng: np.random.Generator, scale: float) -> np.ndarray:
    img = np.broadcast_to(col(base), (h, w, 3)).copy()
    wrinkles = fbm(h, w, 180 * scale, rng, octaves=3, aspect=2.5)
    img = tint(img, smoothstep(0.55, 0.95, wrinkles) * 0.5, accent)
    return img * linen_weave(h, w, rng, scale, folds=False)[..., None]


def surface_slate(h: int, w: int, base: RGB, accent: RGB, rng: np.random.Generator, scale: float) -> np.ndarray:
    img = np.broadcast_to(col(base), (h, w, 3)).copy()
    strata = fbm(h, w, 30 * scale, rng, octaves=3, aspect=12.0)
    cloud = fbm(h, w, 250 * scale, rng, octaves=4)
    img = tint(img, strata * 0.6, accent)
    speck = rng.standard_normal((h, w), dtype=np.float32)
    return img * (0.9 + 0.2 * cloud + 0.03 * speck)[..., None]


def surface_stone(h: int, w: int, base: RGB, accent: RGB, rng: np.random.Generator, scale: float) -> np.ndarray:
    """Light honed limestone: soft clouds and fine fossil flecks."""
    img = np.broadcast_to(col(base), (h, w, 3)).copy()
    cloud = fbm(h, w, 220 * scale, rng, octaves=5)
    img = tint(img, cloud * 0.35, accent)
    fleck = blur((rng.random((h, w), dtype=np.float32) < 0.006).astype(np.float32), 0.8 * scale)
    return img * (1 - 0.6 * np.clip(fleck * 3, 0, 1))[..., None]


def surface_plain(h: int, w: int, base: RGB, accent: RGB, rng: np.random.Generator) -> np.ndarray:
    return np.broadcast_to(col(base), (h, w, 3)).copy()


# Perspective ---------------------------------------------------------------------------------


def _perspective_coeffs(dst: list[tuple[float, float]], src: list[tuple[float, float]]) -> list[float]:
    """Coefficients for Image.transform(PERSPECTIVE) mapping output points `dst` to input points `src`."""
    a = []
    b = []
    for (x, y), (u, v) in zip(dst, src, strict=True):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        b.extend([u, v])
    return [float(c) for c in np.linalg.solve(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))]


def perspective(tex: np.ndarray, out_w: int, out_h: int, near: float = 0.5, shift: float = 0.0) -> np.ndarray:
    """Lay a flat texture (far edge = its top row) on a floor seen from the front: the far edge spans the whole
    texture width, the near edge `near` of it, so lines running into depth converge."""
    th, tw = tex.shape[:2]
    im = Image.fromarray(np.clip(tex * 255 + 0.5, 0, 255).astype(np.uint8), "RGB")
    cx = tw / 2 + shift * tw
    src: list[tuple[float, float]] = [(0, 0), (tw, 0), (cx + tw * near / 2, th), (cx - tw * near / 2, th)]
    dst: list[tuple[float, float]] = [(0, 0), (out_w, 0), (out_w, out_h), (0, out_h)]
    out = im.transform(
        (out_w, out_h), Image.Transform.PERSPECTIVE, _perspective_coeffs(dst, src), Image.Resampling.BICUBIC
    )
    return np.asarray(out, dtype=np.float32) / 255.0
