"""The offline studio engine: a product photo on white becomes a composed lifestyle shot, with no network and no key.

1. Cut-out: pixels close to the border's white that are connected to the border are background (a run-length
   flood fill, vectorised), so white parts inside the product (labels, dials) stay. The edge is feathered by
   about a pixel and its colour is pushed out from the inside, so no white fringe shows on dark scenes.
2. Scene: the preset's background (wall, surface in perspective, horizon, light, vignette) from
   lib.drawing.scenes, cached per (preset, size, scene variant).
3. Composite: props behind, a plinth or a hanger where the preset has one, a cast shadow sheared away from the
   light and a dark contact shadow where the product touches the surface, a faint reflection on glossy surfaces,
   then the product itself, scaled once with Lanczos and only lightly tinted to the scene's light.

Everything is deterministic for a request: the same request gives the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import math
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, UnidentifiedImageError
from scipy import ndimage

from lib import allocator
from lib.drawing import draw
from lib.drawing.cache import SingleFlightCache
from lib.drawing.canvas import Canvas, flat, scale, vgrad
from lib.drawing.props import prop
from lib.drawing.scenes import BACKGROUNDS, SCENE_VARIANTS, Scene, background, clear_backgrounds
from lib.errors import ProviderPermanent
from lib.generation import direction
from lib.generation.base import ASPECT_RATIOS, GeneratedImage, GenerationRequest, ProductInfo, aspect_size
from lib.generation.product_sizes import FLAT, HANG, WALL, product_kind, props_for
from lib.generation.prompts import PRESETS, SceneParams, resolve_style
from lib.kinds import Kind

MODEL = "studio-v1"
JPEG_QUALITY = 92
WHITE_TOLERANCE = 16  # max channel distance from the border colour that still counts as background
HOLE_TOLERANCE = 4.0  # an enclosed region must match the backdrop this closely (mean) to be cut out as a hole
HOLE_EDGE_CONTRAST = 22.0  # and the ring around it must be this much darker (luma) than the backdrop
MAX_WORK_SIDE = 2048  # larger sources are reduced first: the output never needs more
FLAT_SQUASH = 0.55  # a flat item seen lying on the surface from about 35 degrees above
# Typical heights of the props, in cm (a stack for books and towels), so they scale with the product.
PROP_CM = {
    "plant": 28.0,
    "cup": 9.0,
    "book": 9.0,
    "vase": 26.0,
    "towel": 10.0,
    "soap": 6.0,
    "stones": 9.0,
    "fruit": 9.0,
    "candle": 11.0,
    "bowl": 8.0,
    "board": 34.0,
    "notebook": 3.0,
    "jar": 14.0,
}


# Cut-out --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cutout:
    rgb: np.ndarray  # uint8 (h, w, 3): the product, edge colour decontaminated
    alpha: np.ndarray  # float32 (h, w) in 0..1
    box: tuple[int, int, int, int]  # where this crop sits in the (possibly reduced) source image
    source_size: tuple[int, int]  # the size the box refers to
    source_scale: float  # reduced size / original size (1.0 when the source was small enough)


def _decode(data: bytes) -> tuple[Image.Image, float]:
    try:
        im: Image.Image = Image.open(io.BytesIO(data))
        im.load()
    except Image.DecompressionBombError as exc:  # the worker hands over checked photos; a direct caller may not
        raise ProviderPermanent(
            "This product photo has too many pixels for the studio engine. Resize it (for "
            "example to 4000 pixels on the long side) and try again.",
            detail=str(exc),
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ProviderPermanent("The studio engine could not read this product photo.", detail=str(exc)) from exc
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        flat_ = Image.new("RGB", rgba.size, (255, 255, 255))
        flat_.paste(rgba, mask=rgba.getchannel("A"))
        im = flat_
    elif im.mode != "RGB":
        im = im.convert("RGB")
    factor = 1.0
    if max(im.size) > MAX_WORK_SIDE:
        factor = MAX_WORK_SIDE / max(im.size)
        im = im.resize((max(1, round(im.width * factor)), max(1, round(im.height * factor))), Image.Resampling.LANCZOS)
    return im, factor


def border_connected(near: np.ndarray) -> np.ndarray:
    """Of the True pixels of `near`, those 4-connected to the image border (run-length union-find, no loops
    over pixels: rows become runs, overlapping runs of neighbouring rows are joined by label propagation)."""
    h, w = near.shape
    padded = np.zeros((h, w + 2), dtype=np.int8)
    padded[:, 1:-1] = near
    d = np.diff(padded, axis=1)
    sr, sc = np.nonzero(d == 1)  # run starts (row-major order)
    er, ec = np.nonzero(d == -1)  # run ends, exclusive
    out = np.zeros((h, w), dtype=bool)
    n = len(sr)
    if n == 0:
        return out
    w1 = w + 1
    start_key = sr.astype(np.int64) * w1 + sc
    end_key = er.astype(np.int64) * w1 + ec
    b = np.nonzero(sr > 0)[0]
    row_above = (sr[b].astype(np.int64) - 1) * w1
    lo = np.searchsorted(end_key, row_above + sc[b], side="right")
    hi = np.searchsorted(start_key, row_above + ec[b], side="left")
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    labels = np.arange(n)
    if total:
        bi = np.repeat(b, counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        ai = np.repeat(lo, counts) + (np.arange(total) - first)
        while True:
            m = np.minimum(labels[ai], labels[bi])
            new = labels.copy()
            np.minimum.at(new, ai, m)
            np.minimum.at(new, bi, m)
            new = new[new]
            new = new[new]
            if np.array_equal(new, labels):
                break
            labels = new
    on_border = (sr == 0) | (sr == h - 1) | (sc == 0) | (ec == w)
    keep = np.isin(labels, np.unique(labels[on_border]))
    delta = np.zeros((h, w + 1), dtype=np.int8)
    delta[sr[keep], sc[keep]] = 1
    delta[er[keep], ec[keep]] = -1
    return np.cumsum(delta, axis=1)[:, :w] > 0


def _enclosed_background(near: np.ndarray, dev: np.ndarray, lum: np.ndarray, ref_lum: float) -> np.ndarray:
    """Near-white regions the border flood cannot reach that are background seen through the product (the opening
    of a mug's handle, the gap between a bag's straps), as opposed to white parts of the product (a label, a clock
    face, a highlight). A region counts as background when it

    - matches the backdrop closely (mean distance <= HOLE_TOLERANCE, median <= 2: a product's white is shaded or
      off-white, a highlight is a gradient),
    - holds nothing (no islands of product inside it: a dial has hands, a label has text),
    - is bounded by a clear edge (the 2 px ring around it is darker: a specular highlight fades out instead).
    """
    labels, n = ndimage.label(near)
    out = np.zeros(near.shape, dtype=bool)
    if n == 0:
        return out
    h, w = near.shape
    on_border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    # Sizes and means by bincount (one pass each); the median, a sort per region, only for regions that pass them.
    flat_labels = labels.ravel()
    sizes = np.bincount(flat_labels, minlength=n + 1)[1:]
    means = np.bincount(flat_labels, weights=dev.ravel(), minlength=n + 1)[1:] / np.maximum(sizes, 1)
    min_area = max(6, int(0.00002 * h * w))
    passing = np.nonzero((sizes >= min_area) & (means <= HOLE_TOLERANCE))[0] + 1
    passing = passing[~np.isin(passing, on_border)]
    if not len(passing):
        return out
    medians = ndimage.median(dev, labels, passing)
    candidates = [int(i) for i, median in zip(passing, np.atleast_1d(medians), strict=True) if median <= 2]
    if not candidates:
        return out
    slices = ndimage.find_objects(labels)
    for i in candidates:
        sl = slices[i - 1]
        assert sl is not None
        y0, y1 = max(0, sl[0].start - 3), min(h, sl[0].stop + 3)
        x0, x1 = max(0, sl[1].start - 3), min(w, sl[1].stop + 3)
        comp = labels[y0:y1, x0:x1] == i
        filled = ndimage.binary_fill_holes(comp)
        if filled.sum() - comp.sum() > 2:  # something inside it: a surface of the product
            continue
        ring = ndimage.binary_dilation(comp, iterations=2) & ~comp
        if not ring.any() or ref_lum - float(lum[y0:y1, x0:x1][ring].mean()) < HOLE_EDGE_CONTRAST:
            continue
        out[y0:y1, x0:x1] |= comp
    return out


def _cut_out(data: bytes) -> Cutout:
    im, factor = _decode(data)
    arr = np.asarray(im)
    h, w = arr.shape[:2]
    border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]]).astype(np.int16)
    ref = np.median(border, axis=0)
    light_border = (np.abs(border - ref).max(axis=1) <= WHITE_TOLERANCE).mean()
    if ref.min() < 200 or light_border < 0.6:
        raise ProviderPermanent(
            "The studio engine needs the product on a plain white background; this photo's edges are not white. "
            "Use a packshot on white, or the AI engine for this photo."
        )
    # Channel by channel: a max over a last axis of 3 is numpy's slowest reduction (strided, tiny inner loop).
    ref16 = ref.astype(np.int16)
    dev = np.abs(arr[..., 0].astype(np.int16) - ref16[0])
    for c in (1, 2):
        np.maximum(dev, np.abs(arr[..., c].astype(np.int16) - ref16[c]), out=dev)
    near = dev <= WHITE_TOLERANCE
    background_ = border_connected(near)
    lum = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    ref_lum = float(ref @ np.array([0.299, 0.587, 0.114]))
    background_ |= _enclosed_background(near & ~background_, dev.astype(np.float32), lum, ref_lum)
    fg = ~background_
    if fg.sum() < max(16, 0.001 * h * w):
        raise ProviderPermanent("No product was found in this photo: it looks blank white.")
    rows = np.nonzero(fg.any(axis=1))[0]
    cols = np.nonzero(fg.any(axis=0))[0]
    pad = 3
    x0, y0 = max(0, cols[0] - pad), max(0, rows[0] - pad)
    x1, y1 = min(w, cols[-1] + 1 + pad), min(h, rows[-1] + 1 + pad)
    rgb = arr[y0:y1, x0:x1].astype(np.float32)
    f = fg[y0:y1, x0:x1]
    # Feather: erode one pixel (the anti-aliased rim still holds some white) and blur ~1 px.
    inner = f.copy()
    inner[1:] &= f[:-1]
    inner[:-1] &= f[1:]
    inner[:, 1:] &= f[:, :-1]
    inner[:, :-1] &= f[:, 1:]
    inner_im = Image.fromarray((inner * 255).astype(np.uint8), "L")
    alpha = np.asarray(inner_im.filter(ImageFilter.GaussianBlur(0.9)), dtype=np.float32) / 255.0
    alpha = np.clip(alpha * 1.25, 0, 1)  # fully opaque one pixel inside the rim
    # Edge colour: spread the inside colour outwards (normalised convolution), used where alpha < 1.
    wsum = np.asarray(inner_im.filter(ImageFilter.BoxBlur(2)), dtype=np.float32)[..., None]
    spread = np.asarray(
        Image.fromarray((rgb * inner[..., None]).astype(np.uint8), "RGB").filter(ImageFilter.BoxBlur(2)),
        dtype=np.float32,
    )
    spread = (spread * 255.0 / np.maximum(wsum, 1.0)).astype(np.float32)
    # Matting on the rim: an anti-aliased edge pixel is a mix of the product's colour and the backdrop's, so its
    # coverage is how far it moved from the backdrop towards the product (a projection). Where the product's own
    # colour is too close to the backdrop (white on white) the feathered mask above stays.
    outer = ndimage.binary_dilation(f, iterations=1)
    band = outer & ~inner
    ref32 = ref.astype(np.float32)
    reach = np.zeros(f.shape, dtype=np.float32)
    moved = np.zeros(f.shape, dtype=np.float32)
    for c in range(3):  # sums over the channels, one plane at a time (see dev above)
        towards = spread[..., c] - ref32[c]
        reach += towards * towards
        moved += (rgb[..., c] - ref32[c]) * towards
    use = band & (reach > 40.0**2) & (wsum[..., 0] > 0)
    cover = np.clip(moved / np.maximum(reach, 1.0), 0, 1)
    # The product's own outermost pixels vary in colour (stitching, shading): mostly covered means covered.
    cover = np.where(f & (cover > 0.6), 1.0, cover)
    alpha = np.where(use, cover, np.where(inner, 1.0, alpha)).astype(np.float32)
    edge = (alpha < 0.999)[..., None] & (wsum > 0)
    rgb = np.where(edge, np.clip(spread, 0, 255), rgb)
    return Cutout(
        rgb=np.clip(rgb + 0.5, 0, 255).astype(np.uint8),
        alpha=alpha,
        box=(x0, y0, x1, y1),
        source_size=(w, h),
        source_scale=factor,
    )


# Variants of a product run in parallel in the worker: single flight, so the first cuts and the others wait.
# A job's variants of one product run next to each other, so a few cut-outs are enough (one is 2-8 MB at 1024 px);
# 96 MB of them took a fifth of the 500 MB a worker may use.
_CUTOUTS: SingleFlightCache[Cutout] = SingleFlightCache(32 * 1024 * 1024, lambda c: c.rgb.nbytes + c.alpha.nbytes)


def cut_out(data: bytes) -> Cutout:
    """The product cut out of its white background (cached by content: variants of one product cut once)."""
    return _CUTOUTS.get(hashlib.sha256(data).digest(), lambda: _cut_out(data))


def clear_caches() -> None:
    """Forget cut-outs, backgrounds and props (tests of cold starts, benchmarks)."""
    _CUTOUTS.clear()
    clear_backgrounds()
    prop.cache_clear()


def cache_stats() -> dict[str, dict[str, int]]:
    return {"cutout": _CUTOUTS.stats.as_dict(), "background": BACKGROUNDS.stats.as_dict()}


# Layout -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    box: tuple[int, int, int, int]  # the product's crop in the output image (x0, y0, x1, y1)
    scale: float  # output px per (reduced) source px
    style: str
    scene_variant: int
    mode: str  # floor | plinth | hanger | wall | flat
    kind: str = ""  # what the engine took the product for (lib.generation.product_sizes)
    px_per_cm: float = 0.0  # the scale props were drawn at
    props: tuple[str, ...] = ()
    understood: tuple[str, ...] = ()  # what the extra direction changed


@dataclass
class Composite:
    image: Image.Image
    placement: Placement
    cutout: Cutout


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


class StudioEngine:
    """ImageProvider that composes the product into a procedurally rendered scene. Free and offline."""

    name: str = Kind.STUDIO
    cpu_bound = True  # renders on this machine: about one call per core (lib/worker/runner.py)

    def __init__(self, *, min_side: int = 1024, max_side: int = 2048, quality: int = JPEG_QUALITY) -> None:
        # min_side exists for tests and previews (small renders); the product's minimum is 1024.
        allocator.keep_frames()
        self.min_side = min_side
        self.max_side = max_side
        self.quality = quality

    def models(self) -> list[str]:
        return [MODEL]

    def estimate_cost(self, model: str, images: int, *, batch: bool = False) -> float:
        return 0.0

    def output_size(self, req: GenerationRequest) -> tuple[int, int]:
        if req.aspect_ratio not in ASPECT_RATIOS:
            raise ProviderPermanent(
                f"The studio engine cannot make {req.aspect_ratio} images. Choose one of {', '.join(ASPECT_RATIOS)}."
            )
        long_side = max(self.min_side, min(int(req.output_size), self.max_side))
        return aspect_size(req.aspect_ratio, long_side)

    def generate(self, req: GenerationRequest) -> GeneratedImage:
        comp = self.render(req)
        buf = io.BytesIO()
        comp.image.save(buf, "JPEG", quality=self.quality)
        p = comp.placement
        return GeneratedImage(
            data=buf.getvalue(),
            mime="image/jpeg",
            width=comp.image.width,
            height=comp.image.height,
            model=MODEL,
            cost=0.0,
            usage={
                "style": p.style,
                "scene_variant": p.scene_variant,
                "placement": list(p.box),
                "scale": round(p.scale, 5),
                "mode": p.mode,
                "seed": int(req.seed),
                "kind": p.kind,
                "props": list(p.props),
                "direction_used": list(p.understood),
            },
            request_id=hashlib.sha256(req.fingerprint(self.name).encode()).hexdigest()[:16],
        )

    # The composition ------------------------------------------------------------------------
    def render(self, req: GenerationRequest) -> Composite:
        width, height = self.output_size(req)
        style = resolve_style(req.style, req.product.category)
        steer = direction.parse(req.prompt)
        params = direction.apply(PRESETS[style].render, steer)
        cut = cut_out(req.source_image)
        # Everything random comes from the seed and the variant: the same pair gives the same picture, a new seed
        # (a regenerate, a re-run) a new one. A job's variants walk through the scene variants from a seeded start,
        # so one product's variants never share a backdrop.
        rng = _rng(style, int(req.variant_index), int(req.seed))
        start = int(_rng("scene", int(req.seed)).integers(SCENE_VARIANTS))
        scene_variant = (start + int(req.variant_index)) % SCENE_VARIANTS
        bg, scene = background(params, width, height, scene_variant)
        img = bg.astype(np.float32)
        img *= 1 / 255.0  # in place: a 1024 px frame in float32 is 12 MB, and each temporary one costs its pages
        kind = product_kind(req.product.name, req.product.category)

        rgb_src, alpha_src = cut.rgb, cut.alpha
        if kind.placement == FLAT and alpha_src.shape[0] > alpha_src.shape[1]:
            # A portrait flat item (a watch photographed strap up) is laid down on its side.
            rgb_src, alpha_src = np.rot90(rgb_src), np.rot90(alpha_src)
        ch, cw = alpha_src.shape
        aspect = cw / ch
        mode = "floor"
        if kind.placement == HANG and aspect < 1.6:
            mode = "hanger"
        elif kind.placement == WALL:
            mode = "wall"
        elif kind.placement == FLAT:
            mode = "flat"
        elif params.plinth or params.hanger:
            mode = "plinth"

        # Real-world scale: the frame spans about 2.3x the product's size at its depth (never less than 28 cm:
        # a mug is not a billboard), so props drawn at their own sizes in cm sit beside it believably.
        real = kind.height_cm
        frame_cm = min(130.0, max(28.0, real * 2.3)) * float(rng.uniform(0.9, 1.12))
        if mode == "flat":
            long_px = real * height / frame_cm
            pw = long_px if aspect >= 1 else long_px * aspect
            ph = (pw / aspect) * FLAT_SQUASH
        else:
            ph = real * height / frame_cm
            pw = ph * aspect
        x_f = float(rng.uniform(0.4, 0.6))
        depth_f = float(rng.uniform(0.42, 0.7))

        if mode == "hanger":
            rail_y = int(0.085 * height)
            top = rail_y + int(0.1 * height)
            ph = min(ph * 1.15, 0.82 * height - top, 0.7 * width / aspect)
            pw = ph * aspect
            cx = width * (0.5 + (x_f - 0.5) * 0.5)
            px0, py0 = int(round(cx - pw / 2)), top
            base = py0 + ph
        elif mode == "wall":
            room = scene.horizon - 0.1 * height  # the wall above the surface, with a margin
            k = min(1.0, 0.72 * room / ph, 0.55 * width / pw)
            ph, pw = ph * k, pw * k
            cy = 0.06 * height + room * float(rng.uniform(0.42, 0.55))
            cx = min(max(width * x_f, pw / 2 + 0.06 * width), width - pw / 2 - 0.06 * width)
            px0, py0 = int(round(cx - pw / 2)), int(round(cy - ph / 2))
            base = float(scene.horizon + 0.15 * (scene.floor_bottom - scene.horizon))  # props: near the wall
        else:
            if mode == "plinth":
                base = height - 0.2 * height - 0.03 * height
                base = max(base, scene.horizon + 0.05 * height)
            else:
                base = scene.horizon + depth_f * (scene.floor_bottom - scene.horizon)
            k = min(1.0, 0.62 * width / pw, (base - 0.07 * height) / ph)
            ph, pw = ph * k, pw * k
            cx = min(max(width * x_f, pw / 2 + 0.04 * width), width - pw / 2 - 0.04 * width)
            px0, py0 = int(round(cx - pw / 2)), int(round(base - ph))
        px_per_cm = (max(pw, pw / aspect) if mode == "flat" else ph) / real
        pw_i, ph_i = max(1, int(round(pw))), max(1, int(round(ph)))
        factor = ph_i / ch
        rgba = np.ascontiguousarray(np.dstack([rgb_src, np.clip(alpha_src * 255 + 0.5, 0, 255).astype(np.uint8)]))
        prod = Image.fromarray(rgba, "RGBA")
        if (pw_i, ph_i) != (cw, ch):
            prod = prod.resize((pw_i, ph_i), Image.Resampling.LANCZOS, reducing_gap=3.0)
        p_rgb = np.asarray(prod, dtype=np.float32)[..., :3] / 255.0
        p_a = np.asarray(prod, dtype=np.float32)[..., 3] / 255.0
        base_y = py0 + ph_i

        props: tuple[str, ...] = ()
        if mode in ("floor", "wall", "flat") and not steer.no_props:
            wanted = tuple(p for p in steer.props if p not in kind.not_props)
            candidates = props_for(req.product.category, params.props, kind)
            props = self._pick_props(rng, wanted, candidates)
        if props and mode != "wall":  # behind the product; below a wall piece they stand in front of the wall
            self._props(img, scene, params, rng, (px0, py0, pw_i, ph_i), props, px_per_cm, int(base), mode)
        if mode == "plinth":
            self._plinth(img, scene, params, (px0, py0, pw_i, ph_i), rng)
        if mode == "hanger":
            self._hanger(img, scene, (px0, py0, pw_i, ph_i), p_a, scene_variant)
        elif mode == "wall":
            self._drop_shadow(img, scene, p_a, px0, py0, offset=(0.018, 0.022), blur=0.008, strength=0.42)
        elif mode == "flat":
            self._drop_shadow(img, scene, p_a, px0, py0, offset=(0.006, 0.008), blur=0.004, strength=0.5)
            self._drop_shadow(img, scene, p_a, px0, py0, offset=(0.0, 0.002), blur=0.0015, strength=0.45)
        else:
            self._shadows(img, scene, params, p_a, px0, py0, base_y)
            if params.reflection > 0:
                self._reflection(img, p_rgb, p_a, px0, base_y, params.reflection)

        _over(img, self._relight(p_rgb, scene, params), p_a, px0, py0, wrap=0.18)
        if props and mode == "wall":
            self._props(img, scene, params, rng, (px0, py0, pw_i, ph_i), props, px_per_cm, int(base), mode)

        img *= 255.0
        img += 0.5
        np.clip(img, 0, 255, out=img)
        out = Image.fromarray(img.astype(np.uint8), "RGB")
        del img
        placement = Placement(
            box=(px0, py0, px0 + pw_i, py0 + ph_i),
            scale=factor,
            style=style,
            scene_variant=scene_variant,
            mode=mode,
            kind=kind.key,
            px_per_cm=px_per_cm,
            props=props,
            understood=tuple(steer.understood),
        )
        return Composite(out, placement, cut)

    @staticmethod
    def _relight(rgb: np.ndarray, scene: Scene, params: SceneParams) -> np.ndarray:
        """Gently toward the scene: its light's colour, a little bounce from the wall, brighter on the side the
        key light comes from, and the exposure of a dark scene. Small factors: the product must stay itself."""
        warm = scene.warmth
        light = np.array([1 + 0.035 * warm, 1 + 0.01 * warm, 1 - 0.035 * warm], dtype=np.float32)
        wall = np.asarray(scene.wall_rgb, dtype=np.float32)
        bounce = wall / max(1e-3, float(wall.mean()))
        lum = float(np.dot(scene.surface_rgb, (0.3, 0.55, 0.15)))
        exposure = float(np.clip(0.93 + 0.1 * lum, 0.94, 1.02)) * (0.97 + 0.03 * params.brightness)
        gain = light * (0.95 + 0.05 * bounce) * exposure
        h, w = rgb.shape[:2]
        ramp = 1 + 0.045 * scene.light_x * np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
        return np.clip(rgb * gain * ramp, 0, 1)

    @staticmethod
    def _pick_props(rng: np.random.Generator, wanted: tuple[str, ...], candidates: tuple[str, ...]) -> tuple[str, ...]:
        """Named props first; then one to three from the candidates, the preset's own favoured."""
        count = int(rng.choice([1, 2, 2, 3]))
        if wanted:
            return wanted[:3]
        if not candidates:
            return ()
        weights = np.linspace(1.6, 0.8, len(candidates))
        order = rng.choice(len(candidates), size=min(count, len(candidates)), replace=False, p=weights / weights.sum())
        return tuple(candidates[int(i)] for i in order)

    # Pieces ---------------------------------------------------------------------------------
    def _shadows(
        self,
        img: np.ndarray,
        scene: Scene,
        params: SceneParams,
        alpha: np.ndarray,
        px0: int,
        py0: int,
        base_y: int,
        strength: float = 1.0,
    ) -> None:
        H, W = img.shape[:2]
        ph, pw = alpha.shape
        sx = -scene.light_x * 0.6  # the shadow leans away from the light
        k = 0.34  # and lies back on the surface, foreshortened
        pad = int(0.06 * H) + 4
        ox0 = int(min(px0, px0 + ph * sx)) - pad
        ox1 = int(max(px0 + pw, px0 + pw + ph * sx)) + pad
        oy0 = int(base_y - ph * k) - pad
        oy1 = base_y + pad
        cx0, cy0, cx1, cy1 = max(0, ox0), max(0, oy0), min(W, ox1), min(H, oy1)
        if cx1 <= cx0 or cy1 <= cy0:
            return
        a8 = np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)
        if H < 512 or min(cx1 - cx0, cy1 - cy0) < 32:
            shadow = _shadow_map(a8, px0, py0, base_y, (cx0, cy0, cx1, cy1), H, sx, k, params.shadow)
        else:
            # Soft by nature (even the contact line is blurred by 0.5 % of the frame): drawn at half size on an
            # even grid and scaled up, so the warp and the five blurs see a quarter of the pixels.
            ex0, ey0 = cx0 - cx0 % 2, cy0 - cy0 % 2
            lx, ly = px0 % 2, py0 % 2
            a8 = np.pad(a8, ((ly, (ph + ly) % 2), (lx, (pw + lx) % 2)))
            small_a = np.asarray(Image.fromarray(a8, "L").reduce(2))
            sw, sh = (cx1 - ex0 + 1) // 2, (cy1 - ey0 + 1) // 2
            half = _shadow_map(
                small_a,
                (px0 - lx) // 2,
                (py0 - ly) // 2,
                base_y / 2,
                (ex0 // 2, ey0 // 2, ex0 // 2 + sw, ey0 // 2 + sh),
                H / 2,
                sx,
                k,
                params.shadow,
            )
            up = Image.fromarray(half, "F").resize((2 * sw, 2 * sh), Image.Resampling.BILINEAR)
            shadow = np.asarray(up, dtype=np.float32)[cy0 - ey0 : cy1 - ey0, cx0 - ex0 : cx1 - ex0]
        shadow = np.clip(shadow * strength, 0, 0.92)
        tint_ = np.array([0.9, 0.92, 0.97] if scene.warmth > 0 else [0.95, 0.95, 0.95], dtype=np.float32)
        region = img[cy0:cy1, cx0:cx1]
        region *= 1 - shadow[..., None] * tint_

    def _reflection(
        self, img: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, px0: int, base_y: int, amount: float
    ) -> None:
        H, W = img.shape[:2]
        ph, pw = alpha.shape
        depth = int(ph * 0.3)
        if depth < 2:
            return
        refl_rgb = rgb[::-1][:depth]
        refl_a = alpha[::-1][:depth] * amount * np.linspace(1, 0, depth, dtype=np.float32)[:, None] ** 1.5
        y0 = base_y - max(1, int(0.004 * H))
        _over(img, refl_rgb, refl_a, px0, y0)

    def _props(
        self,
        img: np.ndarray,
        scene: Scene,
        params: SceneParams,
        rng: np.random.Generator,
        box: tuple[int, int, int, int],
        kinds: tuple[str, ...],
        px_per_cm: float,
        base_y: int,
        mode: str,
    ) -> None:
        """Props at their real size (cm x the product's scale, smaller further back), beside and behind the product,
        out of focus in proportion to their distance from it (depth of field)."""
        H, W = img.shape[:2]
        px0, py0, pw, ph = box
        sides = [-1, 1, -1] if rng.random() < 0.5 else [1, -1, 1]
        for n, kind in enumerate(kinds):
            side = sides[n % 3]
            pim = prop(kind, int(rng.integers(0, 3)))
            back = float(rng.uniform(0.25, 0.6)) if mode != "wall" else float(rng.uniform(0.0, 0.3))
            if n == 2:
                back = min(0.9, back + 0.25)  # the third stands further back
            prop_base = base_y - back * (base_y - scene.horizon)
            persp = 1 - 0.35 * back
            target_h = PROP_CM[kind] * px_per_cm * persp
            if target_h < 0.03 * H:
                continue  # a speck at this scale (a cup beside a wardrobe): leave it out
            target_h = min(target_h, 0.72 * H, prop_base - 0.02 * H)
            f = target_h / pim.height
            tw, th = max(1, int(pim.width * f)), max(1, int(target_h))
            gap = float(rng.uniform(0.01, 0.07)) * W + (n // 2) * 0.6 * tw
            x = px0 - tw * 0.6 - gap if side < 0 else px0 + pw - tw * 0.4 + gap
            if mode == "wall":  # on the surface below a wall piece, not hidden behind it
                x = px0 + pw * (0.15 if side < 0 else 0.85) - tw / 2 + side * gap
            if x + tw * 0.6 < 0 or x + tw * 0.4 > W:
                continue
            small = pim.resize((tw, th), Image.Resampling.LANCZOS)
            # Out of focus by its distance from the product's plane, and a little hazy.
            small = small.filter(ImageFilter.GaussianBlur(max(0.6, 0.004 * H * (0.4 + back))))
            arr = np.asarray(small, dtype=np.float32) / 255.0
            prgb, pa = arr[..., :3], arr[..., 3]
            prgb = prgb * 0.94 + np.asarray(scene.wall_rgb, dtype=np.float32) * 0.06
            prgb = self._relight(prgb, scene, params)
            y0 = int(prop_base - th)
            self._shadows(img, scene, params, pa, int(x), y0, int(prop_base), strength=0.75)
            _over(img, prgb, pa, int(x), y0)

    def _drop_shadow(
        self,
        img: np.ndarray,
        scene: Scene,
        alpha: np.ndarray,
        px0: int,
        py0: int,
        *,
        offset: tuple[float, float],
        blur: float,
        strength: float,
    ) -> None:
        """A soft shadow of the silhouette on the surface right behind it (a clock on the wall, a watch lying on
        the table), pushed away from the light."""
        H, W = img.shape[:2]
        ph, pw = alpha.shape
        dx = int(round(-scene.light_x * offset[0] * W))
        dy = int(round(offset[1] * H))
        r = max(1.0, blur * H)
        pad = int(3 * r) + 2
        canvas = np.zeros((ph + 2 * pad, pw + 2 * pad), dtype=np.uint8)
        canvas[pad : pad + ph, pad : pad + pw] = np.clip(alpha * 255, 0, 255).astype(np.uint8)
        soft = np.asarray(Image.fromarray(canvas, "L").filter(ImageFilter.GaussianBlur(r)), dtype=np.float32) / 255
        x, y = px0 - pad + dx, py0 - pad + dy
        x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + soft.shape[1]), min(H, y + soft.shape[0])
        if x1 <= x0 or y1 <= y0:
            return
        sh = soft[y0 - y : y1 - y, x0 - x : x1 - x] * strength
        tint_ = np.array([0.92, 0.94, 0.98] if scene.warmth > 0 else [0.95, 0.95, 0.95], dtype=np.float32)
        img[y0:y1, x0:x1] *= 1 - sh[..., None] * tint_

    def _plinth(
        self,
        img: np.ndarray,
        scene: Scene,
        params: SceneParams,
        box: tuple[int, int, int, int],
        rng: np.random.Generator,
    ) -> None:
        H, W = img.shape[:2]
        px0, py0, pw, ph = box
        base_y = py0 + ph
        rx = float(np.clip(pw * 0.68, 0.14 * W, 0.42 * W))
        ry = rx * 0.16
        cx = px0 + pw / 2
        bottom = base_y + 0.2 * H + 0.03 * H
        colour = np.asarray(scale(scene.accent, 0.92 + 0.06 * float(rng.random())), dtype=np.float32) / 255
        # Drawn analytically at output resolution: coverage from signed distances gives clean anti-aliased edges
        # at a fraction of the cost of a supersampled canvas.
        x0, x1 = int(math.floor(cx - rx)) - 2, int(math.ceil(cx + rx)) + 2
        y0, y1 = int(math.floor(base_y - ry)) - 2, int(math.ceil(bottom + ry)) + 2
        X = np.arange(x0, x1, dtype=np.float32)[None, :] + 0.5
        Y = np.arange(y0, y1, dtype=np.float32)[:, None] + 0.5
        side_cov = np.clip(rx - np.abs(X - cx) + 0.5, 0, 1)
        body = side_cov * np.clip(Y - base_y + 0.5, 0, 1) * np.clip(bottom - Y + 0.5, 0, 1)
        top = _ellipse_coverage(X, Y, cx, base_y, rx, ry)
        foot = _ellipse_coverage(X, Y, cx, bottom, rx, ry)
        alpha = np.maximum(np.maximum(body, foot), top)
        t = np.clip((X - cx) / rx, -1, 1)
        nz = np.sqrt(1 - t * t)
        lx = scene.light_x * 0.6
        shade = 0.72 + 0.28 * np.clip(t * lx + nz * math.sqrt(1 - lx * lx), 0, 1)
        side_rgb = colour * shade[..., None] * np.ones_like(Y)[..., None]
        cap_t = np.clip((Y - (base_y - ry)) / (2 * ry), 0, 1)
        cap_rgb = colour * (1.07 - 0.07 * cap_t)[..., None] * np.ones_like(X)[..., None]
        rgb = side_rgb * (1 - top[..., None]) + cap_rgb * top[..., None]
        rgb = np.clip(rgb, 0, 1)
        # The plinth's own shadow on the sweep, then the plinth.
        self._shadows(img, scene, params, alpha, x0, y0, y1, strength=0.6)
        _over(img, rgb, alpha, x0, y0)

    def _hanger(
        self, img: np.ndarray, scene: Scene, box: tuple[int, int, int, int], alpha: np.ndarray, variant: int
    ) -> None:
        H, W = img.shape[:2]
        px0, py0, pw, ph = box
        rail_y = int(0.085 * H)
        thick = max(3, int(0.014 * H))
        metal = [(60, 60, 62), (176, 140, 84), (200, 200, 204), (150, 110, 70)][variant % 4]
        # The rail's soft shadow on the backdrop, then the rail.
        ys = np.arange(H, dtype=np.float32)[:, None, None]
        sh = np.exp(-(((ys - rail_y - 0.03 * H) / (0.012 * H)) ** 2)) * 0.18
        img *= 1 - sh
        t = np.linspace(-1, 1, thick, dtype=np.float32)[:, None, None]
        base = np.asarray(metal, dtype=np.float32) / 255.0
        bar = base * (0.65 + 0.45 * np.exp(-(((t + 0.4) / 0.35) ** 2))) * (1 - 0.25 * np.clip(t, 0, 1))
        img[rail_y - thick // 2 : rail_y - thick // 2 + thick] = bar
        # Hook and hanger, drawn on a transparent canvas around the product's shoulders.
        cx = px0 + pw / 2
        span = pw * 0.7  # shoulder to shoulder: the ends tuck under the garment
        side = int(span) + 8
        c = Canvas(side, ss=2, transparent=True)
        k = 1024.0 / side
        oy = rail_y - thick

        def d(x: float, y: float) -> tuple[float, float]:
            return ((x - (cx - side / 2)) * k, (y - oy) * k)

        wood = [(176, 130, 86), (230, 226, 218), (40, 40, 42), (176, 130, 86)][variant % 4]
        hook_top = d(cx, rail_y - thick * 0.2)
        neck = d(cx, py0 - 0.01 * H)
        r = (neck[1] - hook_top[1]) * 0.35
        hook = [
            (hook_top[0] + r * math.cos(a), hook_top[1] + r + r * math.sin(a))
            for a in np.linspace(math.pi * 1.05, math.pi * 2.25, 14)
        ]
        hook += [neck]
        c.fill(c.mask(("line", hook, max(3.0, 0.006 * H * k))), flat(scale(metal, 1.1)))
        shoulders = [d(cx - span / 2, py0 + 0.16 * ph), d(cx, py0 + 0.01 * ph), d(cx + span / 2, py0 + 0.16 * ph)]
        c.fill(
            c.mask(("line", shoulders, 0.02 * H * k)),
            vgrad(shoulders[1][1] - 10, shoulders[0][1] + 10, scale(wood, 1.1), scale(wood, 0.8)),
        )
        him = c.image()
        harr = np.asarray(him, dtype=np.float32) / 255.0
        hx, hy = int(round(cx - side / 2)), int(oy)
        # One soft drop shadow of hanger + product on the backdrop.
        comb = np.zeros((H, W), dtype=np.float32)
        _paste_max(comb, harr[..., 3], hx, hy)
        _paste_max(comb, alpha, px0, py0)
        dx, dy = int(-scene.light_x * 0.03 * W), int(0.025 * H)
        comb = np.roll(np.roll(comb, dy, axis=0), dx, axis=1)
        small = Image.fromarray((comb * 255).astype(np.uint8), "L").resize((W // 4, H // 4), Image.Resampling.BILINEAR)
        soft = (
            np.asarray(
                small.filter(ImageFilter.GaussianBlur(0.005 * H)).resize((W, H), Image.Resampling.BILINEAR),
                dtype=np.float32,
            )
            / 255.0
        )
        img *= (1 - 0.3 * soft)[..., None]
        _over(img, harr[..., :3], harr[..., 3], hx, hy)


def _shadow_map(
    a8: np.ndarray,
    px0: int,
    py0: int,
    base_y: float,
    region: tuple[int, int, int, int],
    H: float,
    sx: float,
    k: float,
    amount: float,
) -> np.ndarray:
    """The cast and contact shadow of a silhouette (uint8 alpha at px0, py0, standing on row base_y) over a
    region of the frame, as darkness 0..1: the cast shadow sheared by sx and laid back by k, soft far away and
    crisper near the base, and a dark contact line where the silhouette touches the surface."""
    cx0, cy0, cx1, cy1 = region
    rw, rh = cx1 - cx0, cy1 - cy0
    ph = a8.shape[0]
    a_im = Image.fromarray(a8, "L")
    coeffs = (1.0, sx / k, cx0 - px0 - sx * (base_y - cy0) / k, 0.0, 1.0 / k, ph - (base_y - cy0) / k)
    cast = a_im.transform((rw, rh), Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)
    # Soft far away, crisper near the contact: blend two blurs by distance from the base.
    near_b = np.asarray(cast.filter(ImageFilter.GaussianBlur(max(1.0, 0.006 * H))), dtype=np.float32) / 255
    small = cast.resize((max(1, rw // 4), max(1, rh // 4)), Image.Resampling.BILINEAR)
    far_b = (
        np.asarray(
            small.filter(ImageFilter.GaussianBlur(max(1.0, 0.012 * H))).resize((rw, rh), Image.Resampling.BILINEAR),
            dtype=np.float32,
        )
        / 255
    )
    ys = np.arange(cy0, cy1, dtype=np.float32)[:, None]
    t = np.clip((base_y - ys) / max(1.0, ph * k), 0, 1)
    shadow = (near_b * (1 - t) + far_b * t) * (1 - 0.6 * t) * amount

    # Contact shadow: where the silhouette's lowest pixels touch the surface.
    solid = a8 > 127
    has = solid.any(axis=0)
    foot = ph - 1 - np.argmax(solid[::-1], axis=0)
    touching = has & (foot >= ph - 1 - max(2, int(0.04 * ph)))
    cols = np.nonzero(touching)[0]
    if len(cols):
        xs = cols + px0 - cx0
        ok = (xs >= 0) & (xs < rw)
        xs, cols = xs[ok], cols[ok]
        fy = (foot[cols] + py0 - cy0).astype(np.float32)
        sig = max(1.0, 0.005 * H)
        line = np.zeros((rh, rw), dtype=np.float32)
        line[:, xs] = np.exp(-(((ys - cy0 - fy[None, :] - 0.3 * sig) / sig) ** 2))
        glow = np.zeros_like(line)
        glow[:, xs] = np.exp(-(((ys - cy0 - fy[None, :]) / (4 * sig)) ** 2))
        c_im = Image.fromarray(np.clip(line * 255, 0, 255).astype(np.uint8), "L")
        contact = np.asarray(c_im.filter(ImageFilter.GaussianBlur(sig)), dtype=np.float32) / 255
        a_im2 = Image.fromarray(np.clip(glow * 255, 0, 255).astype(np.uint8), "L")
        amb = np.asarray(a_im2.filter(ImageFilter.GaussianBlur(4 * sig)), dtype=np.float32) / 255
        shadow = 1 - (1 - shadow) * (1 - 0.8 * contact) * (1 - 0.35 * amb)
    return np.ascontiguousarray(shadow, dtype=np.float32)


def _ellipse_coverage(X: np.ndarray, Y: np.ndarray, cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    """Anti-aliased coverage of an ellipse: its signed distance (first-order estimate) through a 1 px ramp."""
    u, v = (X - cx) / rx, (Y - cy) / ry
    d = np.sqrt(u * u + v * v) + 1e-6
    grad = np.sqrt((u / rx) ** 2 + (v / ry) ** 2) / d + 1e-6
    return np.clip(0.5 - (d - 1) / grad, 0, 1)


def _paste_max(dst: np.ndarray, src: np.ndarray, x: int, y: int) -> None:
    H, W = dst.shape
    h, w = src.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 > x0 and y1 > y0:
        dst[y0:y1, x0:x1] = np.maximum(dst[y0:y1, x0:x1], src[y0 - y : y1 - y, x0 - x : x1 - x])


def _over(img: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x: int, y: int, wrap: float = 0.0) -> None:
    """Alpha-composite rgb/alpha onto img at (x, y), clipped to the frame. `wrap` lets a little of the scene
    bleed into the semi-transparent rim (light wrap), which seats the product in the scene."""
    H, W = img.shape[:2]
    h, w = alpha.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    a = alpha[y0 - y : y1 - y, x0 - x : x1 - x][..., None]
    src = rgb[y0 - y : y1 - y, x0 - x : x1 - x]
    region = img[y0:y1, x0:x1]
    if wrap:
        rim = np.clip((1 - a) * 2.5, 0, 1) * (a > 0)
        src = src * (1 - wrap * rim) + region * (wrap * rim)
    region *= 1 - a
    region += src * a


# Provider hooks -----------------------------------------------------------------------------------


def open_provider(runtime: Any) -> StudioEngine:
    quality = JPEG_QUALITY
    return StudioEngine(quality=quality)


_PREVIEW_PRODUCT = {
    "model_worn": ("tee", "Apparel"),
    "bathroom_shelf": ("soap_pump", "Bath"),
    "outdoor_sunlight": ("steel_bottle", "Outdoor"),
    "dark_moody": ("watch", "Accessories"),
    "oak_table": ("candle", "Home"),
    "concrete_loft": ("sneaker", "Shoes"),
    "linen_backdrop": ("teapot", "Kitchen"),
    "kitchen_window": ("teapot", "Kitchen"),
}


@lru_cache(maxsize=32)
def preset_preview(style: str, side: int = 256) -> bytes:
    """A small JPEG of the preset with a demo product (for the style picker)."""
    style = resolve_style(style)
    kind, category = _PREVIEW_PRODUCT.get(style, ("mug", "Kitchen"))
    buf = io.BytesIO()
    draw(kind, size=512).save(buf, "PNG")
    req = GenerationRequest(
        source_image=buf.getvalue(),
        prompt="",
        product=ProductInfo(name=kind, category=category),
        style=style,
        model=MODEL,
        output_size=side,
    )
    comp = StudioEngine(min_side=side, max_side=side).render(req)
    out = io.BytesIO()
    comp.image.save(out, "JPEG", quality=85)
    return out.getvalue()
