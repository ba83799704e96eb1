"""The fidelity benchmark's labelled set: products on white, faithful re-renders and drifted images.

Products: the demo catalogue's drawings (default colours and a second colourway) and "uploads" of four kinds
drawn here: labelled bottles (real words on the label), textiles (woven, striped, folded), glass (tinted,
see-through, highlights) and low-texture objects (matte, one colour).

A faithful image re-renders the product as a generator does: a small wobble, ±6° hue, ±10 % saturation,
±25 % light, a moved highlight, a slight blur, then the product placed at another scale, position and mild
perspective on a studio scene, saved as JPEG. A drifted image applies one change to the product first
(recolour of a region, label text replaced / garbled / removed, stretch, warp, another product, 25 % missing,
an extra logo), then re-renders it the same way.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import shutil
import tempfile
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from lib.drawing import KINDS, draw, palette_for, shifted
from lib.drawing.scenes import background
from lib.generation.prompts import PRESETS
from lib.generation.studio import cut_out

SIDE = 1024
DRIFTS = ("recolour", "text_replaced", "text_garbled", "text_removed", "stretch", "warp", "swap", "missing", "logo")
TEXT_DRIFTS = ("text_replaced", "text_garbled", "text_removed")
_BRANDS = ("AURORA", "SOLENNE", "KESTREL", "MARLOWE", "VERDANT", "OKAPI", "LUMEN", "BRISA", "TALLIS", "NORDIK")
_LINES = (
    ("Night Serum", "30 ml"),
    ("Olive Oil", "500 ml"),
    ("Body Wash", "250 ml"),
    ("Cold Brew", "330 ml"),
    ("Hand Soap", "400 ml"),
    ("Sea Salt", "200 g"),
    ("Face Toner", "150 ml"),
    ("Hot Sauce", "150 ml"),
)
_OTHER = ("HALCYON", "PERIWIG", "ZEPHYRA", "QUILLON", "DRAVEN", "MOXIE", "CORVID", "FENWICK")


@dataclass(frozen=True)
class Product:
    id: str
    group: str  # demo | bottle | textile | glass | low_texture
    png: bytes  # the photo on white
    words: tuple[str, ...] = ()  # label words drawn (bottles)
    redraw: dict[str, bytes] = field(default_factory=dict)  # drift -> the photo with its label changed


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


@lru_cache(maxsize=8)
def _font(size: int, bold: bool) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in (
        "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
        if bold
        else "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    ):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def _cylinder_shade(w: int, h: int, rgb: tuple[int, int, int], spec: float = 0.35) -> np.ndarray:
    x = np.linspace(-1, 1, w, dtype=np.float32)
    lam = 0.45 + 0.55 * np.sqrt(np.clip(1 - x**2, 0, 1)) + spec * np.exp(-(((x + 0.45) / 0.12) ** 2))
    col = np.clip(np.array(rgb, np.float32)[None, :] * lam[:, None], 0, 255)
    return np.repeat(col[None, :, :], h, axis=0)


def bottle(rng: np.random.Generator, brand: str, line: tuple[str, str], *, blank: bool = False) -> Image.Image:
    """A labelled bottle: shaded body, a cap, a paper label with a brand, a product name and a size."""
    # hashlib, not hash(): Python salts str hashes per process, so the same bottle came out in other colours
    seed = int.from_bytes(hashlib.sha256(repr((brand, line)).encode()).digest()[:4], "big")
    r2 = np.random.default_rng(seed)
    body_c = tuple(int(v) for v in r2.integers(30, 200, 3))
    cap_c = tuple(int(v) for v in r2.integers(10, 120, 3))
    label_c = (int(r2.integers(232, 250)), int(r2.integers(228, 246)), int(r2.integers(215, 240)))
    ink = tuple(int(v) for v in r2.integers(10, 70, 3))
    w = int(r2.integers(300, 380))
    x0 = (SIDE - w) // 2
    top, bot = 300, 900
    im = np.full((SIDE, SIDE, 3), 255, np.uint8)
    body = Image.new("L", (SIDE, SIDE), 0)
    d = ImageDraw.Draw(body)
    d.rounded_rectangle((x0, top, x0 + w, bot), radius=50, fill=255)
    d.rounded_rectangle((x0 + w * 0.3, 200, x0 + w * 0.7, top + 30), radius=16, fill=255)
    bm = np.asarray(body) > 0
    im[bm] = _cylinder_shade(SIDE, SIDE, body_c)[bm]  # type: ignore[arg-type]
    cap = np.zeros((SIDE, SIDE), bool)
    cap[140:215, int(x0 + w * 0.27) : int(x0 + w * 0.73)] = True
    im[cap] = _cylinder_shade(SIDE, SIDE, cap_c, spec=0.2)[cap]  # type: ignore[arg-type]
    pil = Image.fromarray(im)
    d = ImageDraw.Draw(pil)
    lx0, lx1, ly0, ly1 = x0 + 18, x0 + w - 18, 450, 780
    d.rectangle((lx0, ly0, lx1, ly1), fill=label_c)
    if not blank:
        f1 = _font(int(min(64, (lx1 - lx0) / (0.68 * len(brand)))), True)
        d.text(((lx0 + lx1) / 2, ly0 + 70), brand, fill=ink, font=f1, anchor="mm")
        d.text(((lx0 + lx1) / 2, ly0 + 170), line[0], fill=ink, font=_font(34, False), anchor="mm")
        d.text(((lx0 + lx1) / 2, ly0 + 260), line[1], fill=ink, font=_font(30, True), anchor="mm")
    return pil


def textile(rng: np.random.Generator) -> Image.Image:
    """A folded towel or scarf: a woven stripe or check pattern with fold shading."""
    a = np.array(rng.integers(20, 230, 3), np.float32)
    b = np.array(rng.integers(20, 230, 3), np.float32)
    w, h = int(rng.integers(520, 700)), int(rng.integers(380, 560))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = float(rng.uniform(28, 70))
    if rng.random() < 0.5:
        t = (np.sin(xx / period * 2 * math.pi) > 0.3).astype(np.float32)
    else:
        t = ((np.sin(xx / period * 2 * math.pi) > 0) ^ (np.sin(yy / period * 2 * math.pi) > 0)).astype(np.float32)
    weave = 1 + 0.06 * np.sin(xx * 1.7) * np.sin(yy * 1.9)
    folds = 0.85 + 0.15 * np.cos(yy / h * math.pi * float(rng.uniform(2, 4)))
    rgb = (a * t[..., None] + b * (1 - t[..., None])) * (weave * folds)[..., None]
    im = np.full((SIDE, SIDE, 3), 255, np.uint8)
    y0, x0 = (SIDE - h) // 2, (SIDE - w) // 2
    im[y0 : y0 + h, x0 : x0 + w] = np.clip(rgb, 0, 240).astype(np.uint8)
    return Image.fromarray(im)


def glass(rng: np.random.Generator) -> Image.Image:
    """A tinted glass jar or bottle: light body with a darker rim, a liquid line and bright highlights."""
    tint = np.array(rng.integers(120, 220, 3), np.float32)
    w = int(rng.integers(300, 420))
    x0, top, bot = (SIDE - w) // 2, 260, 880
    m = Image.new("L", (SIDE, SIDE), 0)
    ImageDraw.Draw(m).rounded_rectangle((x0, top, x0 + w, bot), radius=int(w * 0.25), fill=255)
    mask = np.asarray(m) > 0
    x = np.linspace(-1, 1, w, dtype=np.float32)
    edge = np.clip(np.abs(x) ** 6, 0, 1)
    col = 225 - (225 - tint[None, :]) * (0.35 + 0.65 * edge[:, None])
    col = col + 30 * np.exp(-(((x + 0.5) / 0.06) ** 2))[:, None] + 18 * np.exp(-(((x - 0.55) / 0.04) ** 2))[:, None]
    im = np.full((SIDE, SIDE, 3), 255, np.float32)
    full = np.repeat(col[None], SIDE, axis=0)
    im[:, x0 : x0 + w][mask[:, x0 : x0 + w]] = full[mask[:, x0 : x0 + w]]
    liquid = int(rng.integers(500, 700))
    liq = mask.copy()
    liq[:liquid] = False
    im[liq] = im[liq] * (0.55 + 0.3 * tint / 255.0)
    im[mask] = np.minimum(im[mask], 238)
    pil = Image.fromarray(np.clip(im, 0, 255).astype(np.uint8))
    ImageDraw.Draw(pil).rectangle(
        (x0 + w * 0.28, top - 70, x0 + w * 0.72, top + 8), fill=tuple(int(v) for v in rng.integers(20, 90, 3))
    )
    return pil


def low_texture(rng: np.random.Generator) -> Image.Image:
    """A matte one-colour object (a stone, a speaker, a vase) with only soft shading."""
    c = np.array(rng.integers(30, 220, 3), np.float32)
    w, h = int(rng.integers(360, 620)), int(rng.integers(360, 640))
    m = Image.new("L", (SIDE, SIDE), 0)
    box = ((SIDE - w) // 2, (SIDE - h) // 2, (SIDE + w) // 2, (SIDE + h) // 2)
    if rng.random() < 0.5:
        ImageDraw.Draw(m).ellipse(box, fill=255)
    else:
        ImageDraw.Draw(m).rounded_rectangle(box, radius=int(min(w, h) * 0.2), fill=255)
    mask = np.asarray(m) > 0
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    shade = 0.7 + 0.35 * (1 - ((xx - SIDE * 0.42) ** 2 + (yy - SIDE * 0.4) ** 2) / (SIDE * 0.5) ** 2)
    im = np.full((SIDE, SIDE, 3), 255, np.float32)
    im[mask] = np.clip(c[None, :] * shade[mask][:, None], 0, 235)
    return Image.fromarray(im.astype(np.uint8))


def _garble(word: str, rng: np.random.Generator) -> str:
    look = {"O": "0", "A": "4", "E": "3", "I": "1", "S": "5", "R": "P", "U": "V", "N": "M", "L": "I", "K": "X"}
    chars = list(word)
    idx = rng.choice(len(chars), size=max(1, len(chars) // 3), replace=False)
    for i in idx:
        chars[i] = look.get(chars[i].upper(), "X")
    return "".join(chars)


def products(per_group: int, seed: int = 7, demo: int | None = None) -> list[Product]:
    """The demo catalogue's first `demo` drawings (all by default) in two colourways, and `per_group` uploads
    of each kind."""
    rng = np.random.default_rng(seed)
    out: list[Product] = []
    for i, kind in enumerate(KINDS[:demo]):
        out.append(Product(f"demo-{kind}", "demo", _png(draw(kind))))
        pal = palette_for(kind)
        turned = {k: shifted(v, 0.15 + 0.1 * (i % 5), 1.1) for k, v in pal.items()}
        out.append(Product(f"demo-{kind}-b", "demo", _png(draw(kind, turned))))
    for i in range(per_group):
        brand = _BRANDS[i % len(_BRANDS)]
        line = _LINES[i % len(_LINES)]
        other = _OTHER[i % len(_OTHER)]
        redraw = {
            "text_replaced": _png(bottle(rng, other, line)),
            "text_garbled": _png(bottle(rng, _garble(brand, rng), (_garble(line[0], rng), line[1]))),
            "text_removed": _png(bottle(rng, brand, line, blank=True)),
        }
        words = (brand, *line[0].split())
        out.append(Product(f"bottle-{i}", "bottle", _png(bottle(rng, brand, line)), words, redraw))
        out.append(Product(f"textile-{i}", "textile", _png(textile(rng))))
        out.append(Product(f"glass-{i}", "glass", _png(glass(rng))))
        out.append(Product(f"low-{i}", "low_texture", _png(low_texture(rng))))
    return out


# Re-rendering ------------------------------------------------------------------------------------


def _rgba(png: bytes) -> tuple[np.ndarray, np.ndarray]:
    cut = cut_out(png)
    return cut.rgb.astype(np.float32), cut.alpha.astype(np.float32)


def _relight(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    hsv = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-6, 6) * 256 / 360) % 256
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.9, 1.1), 0, 255)
    out = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB_FULL).astype(np.float32)
    return out * rng.uniform(0.75, 1.25)


def _highlight(rgb: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = alpha.shape
    ys, xs = np.nonzero(alpha > 0.9)
    if not len(ys):
        return rgb
    k = rng.integers(len(ys))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = rng.uniform(0.04, 0.1) * max(h, w)
    blob = np.exp(-(((yy - ys[k]) ** 2 + (xx - xs[k]) ** 2) / (2 * r * r))) * rng.uniform(0.1, 0.25)
    return rgb + (255 - rgb) * blob[..., None]


def _displace(rgb: np.ndarray, alpha: np.ndarray, amp: float, cell: float, rng: np.random.Generator):
    h, w = alpha.shape
    gh, gw = max(2, int(h / cell)), max(2, int(w / cell))
    dx = cv2.resize(rng.uniform(-1, 1, (gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC) * amp
    dy = cv2.resize(rng.uniform(-1, 1, (gh, gw)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC) * amp
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    mx, my = gx + dx, gy + dy
    return (
        cv2.remap(rgb, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        cv2.remap(alpha, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0),
    )


def rerender(rgb: np.ndarray, alpha: np.ndarray, rng: np.random.Generator, style_index: int) -> bytes:
    """A faithful re-render of the product (see the module docstring), as JPEG bytes."""
    rgb = _relight(rgb, rng)
    rgb = _highlight(rgb, alpha, rng)
    h, w = alpha.shape
    target = rng.uniform(0.4, 0.75) * SIDE
    f = target / max(h, w)
    nw, nh = max(8, int(w * f)), max(8, int(h * f))
    rgb = cv2.resize(np.clip(rgb, 0, 255), (nw, nh), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (nw, nh), interpolation=cv2.INTER_AREA)
    rgb, alpha = _displace(rgb, alpha, rng.uniform(1.0, 3.5), max(nw, nh) / 4, rng)
    sigma = rng.uniform(0.0, 1.0)
    if sigma > 0.3:
        rgb = cv2.GaussianBlur(rgb, (0, 0), sigma)
    # Mild perspective: corners moved by up to 5 % of the product's size.
    src = np.float32([[0, 0], [nw, 0], [nw, nh], [0, nh]])
    jit = rng.uniform(-0.05, 0.05, (4, 2)).astype(np.float32) * np.float32([nw, nh])
    x0 = rng.uniform(0.05 * SIDE, SIDE - nw - 0.05 * SIDE) if SIDE - nw > 0.1 * SIDE else 0
    y0 = rng.uniform(0.05 * SIDE, SIDE - nh - 0.05 * SIDE) if SIDE - nh > 0.1 * SIDE else 0
    dst = src + jit + np.float32([x0, y0])
    P = cv2.getPerspectiveTransform(src, dst)
    style = list(PRESETS)[style_index % len(PRESETS)]
    bg, _ = background(PRESETS[style].render, SIDE, SIDE, style_index % 4)
    prod = cv2.warpPerspective(rgb, P, (SIDE, SIDE), flags=cv2.INTER_LINEAR)
    a = cv2.warpPerspective(alpha, P, (SIDE, SIDE), flags=cv2.INTER_LINEAR)[..., None]
    out = bg.astype(np.float32) * (1 - a) + prod * a
    buf = io.BytesIO()
    Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)).save(buf, "JPEG", quality=int(rng.integers(82, 94)))
    return buf.getvalue()


# Drifts ------------------------------------------------------------------------------------------


def _recolour(rgb: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ys, _ = np.nonzero(alpha > 0.5)
    top, bot = ys.min(), ys.max()
    band = rng.uniform(0.25, 0.4) * (bot - top)
    start = top + rng.uniform(0, (bot - top) - band)
    sel = np.zeros(alpha.shape, bool)
    sel[int(start) : int(start + band)] = True
    hsv = cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(60, 196)) % 256
    hsv[..., 1] = np.maximum(hsv[..., 1], 150)
    hsv[..., 2] = np.clip(hsv[..., 2], 60, 230)
    new = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB_FULL).astype(np.float32)
    return np.where(sel[..., None], new, rgb)


def _missing(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = alpha.shape
    ang = rng.uniform(0, 2 * math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    proj = (xx - w / 2) * math.cos(ang) + (yy - h / 2) * math.sin(ang)
    inside = alpha > 0.5
    cut = np.quantile(proj[inside], 0.75)
    out = alpha.copy()
    out[proj > cut] = 0
    return out


def _logo(rgb: np.ndarray, alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = alpha.shape
    size = int(rng.uniform(0.18, 0.28) * min(h, w))
    ys, xs = np.nonzero(cv2.erode((alpha > 0.9).astype(np.uint8), np.ones((size, size), np.uint8)))
    if not len(ys):
        ys, xs = np.nonzero(alpha > 0.9)
    k = rng.integers(len(ys))
    cy, cx = int(ys[k]), int(xs[k])
    mean = rgb[alpha > 0.9].mean(axis=0)
    ink = tuple(int(v) for v in (255 - mean)) if abs(mean.mean() - 128) > 40 else (230, 40, 40)
    pil = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    d = ImageDraw.Draw(pil)
    r = size // 2
    if rng.random() < 0.5:
        d.ellipse((cx - r, cy - r, cx + r, cy + r), outline=ink, width=max(3, r // 6))
        d.text((cx, cy), "GK", fill=ink, font=_font(int(r * 0.9), True), anchor="mm")
    else:
        pts = [
            (
                cx + r * math.cos(a * math.pi / 5 - math.pi / 2) * (1 if a % 2 == 0 else 0.45),
                cy + r * math.sin(a * math.pi / 5 - math.pi / 2) * (1 if a % 2 == 0 else 0.45),
            )
            for a in range(10)
        ]
        d.polygon(pts, fill=ink)
    return np.asarray(pil).astype(np.float32)


def _pad(rgb: np.ndarray, alpha: np.ndarray, f: float) -> tuple[np.ndarray, np.ndarray]:
    p = int(f * max(alpha.shape))
    return (
        cv2.copyMakeBorder(rgb, p, p, p, p, cv2.BORDER_CONSTANT, value=(255, 255, 255)),
        cv2.copyMakeBorder(alpha, p, p, p, p, cv2.BORDER_CONSTANT, value=0),
    )


def drifted(
    product: Product, drift: str, others: list[Product], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray] | None:
    """The product's cut-out with one drift applied (None when the drift does not apply to it)."""
    if drift in TEXT_DRIFTS:
        return _rgba(product.redraw[drift]) if drift in product.redraw else None
    if drift == "swap":
        pick = [o for o in others if o.group != product.group or o.id.split("-")[1] != product.id.split("-")[1]]
        other = pick[int(rng.integers(len(pick)))]
        return _rgba(other.png)
    rgb, alpha = _rgba(product.png)
    if drift == "recolour":
        return _recolour(rgb, alpha, rng), alpha
    if drift == "missing":
        return rgb, _missing(alpha, rng)
    if drift == "logo":
        return _logo(rgb, alpha, rng), alpha
    if drift == "stretch":
        h, w = alpha.shape
        k = rng.uniform(1.2, 1.3)
        nw, nh = (int(w * k), h) if rng.random() < 0.5 else (w, int(h * k))
        return cv2.resize(rgb, (nw, nh)), cv2.resize(alpha, (nw, nh))
    if drift == "warp":
        rgb, alpha = _pad(rgb, alpha, 0.1)
        return _displace(rgb, alpha, rng.uniform(0.05, 0.08) * max(alpha.shape), max(alpha.shape) / 2.5, rng)
    raise ValueError(drift)


def faithful(product: Product) -> tuple[np.ndarray, np.ndarray]:
    return _rgba(product.png)


# The labelled set, cached ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    product: str
    group: str
    calibration: bool  # the product is in the calibration split (else held out)
    label: str  # "faithful" or a drift
    source: bytes  # the product photo on white
    image: bytes  # the generated image (JPEG)


_CODE = ("bench/fidelity_set.py", "lib/drawing", "lib/generation/studio.py", "lib/generation/prompts.py")


def _key(params: dict[str, int]) -> str:
    """Parameters and the drawing code: a change to either builds the set again."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    for rel in _CODE:
        for f in sorted((root / rel).rglob("*.py")) if (root / rel).is_dir() else [root / rel]:
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    return Path(os.environ.get("FIDELITY_SET_DIR") or Path(tempfile.gettempdir()) / "imagegecko-fidelity-set")


def labelled_set(per_group: int, faithful_n: int, seed: int, demo: int | None = None, log=None) -> list[Sample]:
    """Products split in two by kind (alternately), each with `faithful_n` faithful re-renders and one image per
    drift that applies to it. Built once per parameters and drawing code, then read from a temporary directory."""
    params = {"per_group": per_group, "faithful": faithful_n, "seed": seed, "demo": len(KINDS[:demo])}
    where = cache_dir() / _key(params)
    index = where / "index.json"
    if index.exists():
        rows = json.loads(index.read_text())
        sources = {r["product"]: (where / f"{r['product']}.png").read_bytes() for r in rows}
        return [
            Sample(
                r["product"],
                r["group"],
                r["calibration"],
                r["label"],
                sources[r["product"]],
                (where / r["image"]).read_bytes(),
            )
            for r in rows
        ]
    prods = products(per_group, seed, demo)
    rng = np.random.default_rng(seed)
    out: list[Sample] = []
    by_group: dict[str, int] = defaultdict(int)
    for n, p in enumerate(prods):
        calib = by_group[p.group] % 2 == 0
        by_group[p.group] += 1
        jobs: list[tuple[str, tuple[np.ndarray, np.ndarray]]] = [("faithful", faithful(p))] * faithful_n
        for d in DRIFTS:
            got = drifted(p, d, prods, rng)
            if got is not None:
                jobs.append((d, got))
        for i, (label, (rgb, alpha)) in enumerate(jobs):
            out.append(Sample(p.id, p.group, calib, label, p.png, rerender(rgb, alpha, rng, n * 7 + i)))
        if log:
            log(f"built {n + 1}/{len(prods)} {p.id}")
    where.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=where.parent, prefix=".building-"))
    for p in prods:
        (tmp / f"{p.id}.png").write_bytes(p.png)
    rows = []
    for k, s in enumerate(out):
        name = f"{k:05d}-{s.product}-{s.label}.jpg"
        (tmp / name).write_bytes(s.image)
        rows.append(
            {"product": s.product, "group": s.group, "calibration": s.calibration, "label": s.label, "image": name}
        )
    (tmp / "index.json").write_text(json.dumps(rows))
    try:
        os.replace(tmp, where)  # whole or not at all: an interrupted build leaves no half set behind
    except OSError:  # another run finished first
        shutil.rmtree(tmp, ignore_errors=True)
    return out
