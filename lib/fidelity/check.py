"""The fidelity check: compare a generated image with the source product and say what changed.

`measure()` does the work (registration, colour, regions, shape, label text) and returns raw measures with
what is needed to describe them; `judge()` turns measures into findings against thresholds. The benchmark
calibrates thresholds on measures without measuring twice; `check()` is both in one call.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from lib.fidelity import colour, regions, shape, text
from lib.fidelity.registration import (
    GeneratedView,
    Registration,
    SourceView,
    generated_view,
    register,
    source_view,
)
from lib.fidelity.thresholds import THRESHOLDS
from lib.fidelity.verdict import Check, Finding, Report, Severity, grade, verdict_of

Box = tuple[float, float, float, float]


@dataclass
class Measured:
    """Raw measures of one generated image against its source, with what the messages need."""

    found: bool
    values: dict[str, float] = field(default_factory=dict)
    regions: list[regions.Region] = field(default_factory=list)
    shape: shape.ShapeMeasures | None = None
    text_changes: list[text.TextChange] = field(default_factory=list)
    text_words: int = 0  # stable words on the photo's label
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    # Mapping back to the generated image for regions (fractions of its size)
    _to_gen: np.ndarray | None = None
    _gen_size: tuple[int, int] = (1, 1)
    _ocr_scale: float = 1.0
    _src_box: tuple[int, int, int, int] = (0, 0, 1, 1)
    _source: SourceView | None = None

    def gen_box(self, box: tuple[float, float, float, float], scale: float = 1.0) -> Box | None:
        """A box in source work coordinates (divided by `scale` first) as fractions of the generated image."""
        if self._to_gen is None:
            return None
        x0, y0, x1, y1 = (v / scale for v in box)
        pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float32).reshape(-1, 1, 2)
        q = cv2.perspectiveTransform(pts, self._to_gen).reshape(-1, 2)
        w, h = self._gen_size
        fx0, fy0 = float(np.clip(q[:, 0].min() / w, 0, 1)), float(np.clip(q[:, 1].min() / h, 0, 1))
        fx1, fy1 = float(np.clip(q[:, 0].max() / w, 0, 1)), float(np.clip(q[:, 1].max() / h, 0, 1))
        return (round(fx0, 4), round(fy0, 4), round(fx1, 4), round(fy1, 4))

    def photo_box(self, box: tuple[float, float, float, float], scale: float = 1.0) -> Box | None:
        """A box in source work coordinates (divided by `scale` first) as fractions of the source photo: the
        gallery's compare shows the same part of the product there."""
        if self._source is None:
            return None
        return self._source.photo_box(tuple(v / scale for v in box))  # type: ignore[arg-type]

    def where(self, box: tuple[float, float, float, float]) -> str:
        """'at the top left', 'in the middle', ... of the product, from a work-coordinate box."""
        bx0, by0, bx1, by1 = self._src_box
        cx = ((box[0] + box[2]) / 2 - bx0) / max(1, bx1 - bx0)
        cy = ((box[1] + box[3]) / 2 - by0) / max(1, by1 - by0)
        row = "top" if cy < 0.34 else "bottom" if cy > 0.66 else "middle"
        col = "left" if cx < 0.34 else "right" if cx > 0.66 else ""
        if row == "middle" and not col:
            return "in the middle"
        if row == "middle":
            return f"on the {col}"
        return f"at the {row} {col}".rstrip()


_words_cache: OrderedDict[str, list[text.Word]] = OrderedDict()
_words_lock = threading.Lock()


def _source_words(src: SourceView) -> list[text.Word]:
    with _words_lock:
        if src.sha in _words_cache:
            return _words_cache[src.sha]
    words = text.stable_words(src.ocr_rgb)
    with _words_lock:
        _words_cache[src.sha] = words
        while len(_words_cache) > 32:
            _words_cache.popitem(last=False)
    return words


def clear_cache() -> None:
    """Forget the labels read (benchmarks measuring a worker's first image of a product)."""
    with _words_lock:
        _words_cache.clear()


def measure(source_png: bytes, generated: bytes) -> Measured:
    t0 = time.perf_counter()
    src = source_view(source_png)
    gen = generated_view(generated)
    reg = register(src, gen)
    if reg is None:
        m = Measured(found=False, seconds=time.perf_counter() - t0)
        return m
    m = _compare(src, gen, reg)
    m.seconds = time.perf_counter() - t0
    return m


def _compare(src: SourceView, gen: GeneratedView, reg: Registration) -> Measured:
    mask = src.mask
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    scale_full = gen.size[0] / gen.rgb.shape[1]
    to_gen = np.diag([scale_full, scale_full, 1.0]) @ reg.homography
    ys, xs = np.nonzero(mask)
    m = Measured(
        found=True,
        _to_gen=to_gen,
        _gen_size=gen.size,
        _ocr_scale=src.ocr_scale,
        _src_box=(int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1),
        _source=src,
    )
    cmp = colour.compare(src.rgb, reg.aligned, inner)
    warped_lab = colour.rgb2lab(reg.warped).astype(np.float32)
    m.regions = regions.find(cmp, inner, reg.valid, warped_lab)
    for kind in ("colour", "missing", "added"):
        m.values[kind] = float(sum(r.share for r in m.regions if r.kind == kind))
    m.shape = shape.measure(reg.shape_homography, reg.flow, mask, cv2.cvtColor(src.rgb, cv2.COLOR_RGB2GRAY))
    m.values["stretch"] = m.shape.stretch
    m.values["warp"] = m.shape.warp
    m.values["distortion"] = m.shape.distortion
    m.values["inliers"] = float(reg.inliers)
    m.values["light"] = cmp.light
    m.values["hue"] = cmp.hue_deg
    _read_label(src, gen, to_gen, m)
    return m


def _read_label(src: SourceView, gen: GeneratedView, to_gen: np.ndarray, m: Measured) -> None:
    if not text.available():
        m.notes.append("Label text was not read: the OCR engine (tesseract) is not installed.")
        return
    words = _source_words(src)
    m.text_words = len(words)
    if not words:
        m.values["text"] = 0.0
        return
    oh, ow = src.ocr_rgb.shape[:2]
    x0 = min(w.box[0] for w in words)
    y0 = min(w.box[1] for w in words)
    x1 = max(w.box[2] for w in words)
    y1 = max(w.box[3] for w in words)
    pad = int(0.25 * (y1 - y0)) + 12
    x0, y0, x1, y1 = max(0, x0 - pad), max(0, y0 - pad), min(ow, x1 + pad), min(oh, y1 + pad)
    s = 1.0 / src.ocr_scale
    # crop pixel -> OCR px -> work px -> full generated px
    crop_to_gen = to_gen @ np.diag([s, s, 1.0]) @ np.array([[1, 0, x0], [0, 1, y0], [0, 0, 1]], dtype=np.float64)
    full = np.asarray(gen.full)
    crop = cv2.warpPerspective(
        full,
        crop_to_gen,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    read = text.read(crop)
    shifted = [
        text.Word(w.text, w.key, w.conf, (w.box[0] - x0, w.box[1] - y0, w.box[2] - x0, w.box[3] - y0)) for w in words
    ]
    changes = text.compare_words(shifted, read)
    m.text_changes = [text.TextChange(c.before, c.after, _shift(c.box, x0, y0)) for c in changes]
    m.values["text"] = len(changes) / len(words)


def _shift(box: tuple[int, int, int, int], dx: int, dy: int) -> tuple[int, int, int, int]:
    return (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy)


# Judging -------------------------------------------------------------------------------------------


def judge(m: Measured, thresholds: dict[str, tuple[float, float]] | None = None) -> Report:
    t = thresholds or THRESHOLDS
    findings: list[Finding] = []
    if not m.found:
        findings.append(
            Finding(
                Check.NOT_FOUND,
                Severity.MAJOR,
                "The product in the photo could not be found in this image: another product, or redrawn beyond "
                "recognition.",
                score=1.0,
            )
        )
        return Report(verdict_of(findings), tuple(findings), dict(m.values), tuple(m.notes), m.seconds)
    findings += _region_findings(m, t)
    findings += _shape_findings(m, t)
    findings += _text_findings(m, t)
    findings.sort(key=lambda f: (f.severity != Severity.MAJOR, -f.score))
    return Report(verdict_of(findings), tuple(findings), dict(m.values), tuple(m.notes), m.seconds)


def _pct(x: float) -> str:
    return f"{round(100 * x)} %"


def _region_findings(m: Measured, t: dict[str, tuple[float, float]]) -> list[Finding]:
    out: list[Finding] = []
    for kind, check in (("colour", Check.COLOUR), ("missing", Check.MISSING), ("added", Check.ADDED)):
        flag, major = t[kind]
        sev = grade(m.values.get(kind, 0.0), flag, major)
        if sev is None:
            continue
        regs = sorted((r for r in m.regions if r.kind == kind), key=lambda r: -r.share)
        top = regs[0]
        where = m.where(top.box)
        if kind == "colour":
            before = colour.colour_name(colour.lab_to_rgb255(np.array(top.src_lab)))
            after = colour.colour_name(colour.lab_to_rgb255(np.array(top.gen_lab)))
            if before != after:
                msg = f"The product {where} is {before} in the photo, {after} here"
            else:
                msg = f"The product {where} is a different shade of {before} than in the photo"
            msg += f" (colour difference {top.mean_de:.0f} ΔE over {_pct(top.share)} of the product)."
        elif kind == "missing":
            msg = f"About {_pct(m.values[kind])} of the product is missing here, {where}."
        else:
            msg = (
                f"Something was added on the product {where} (a mark, logo or text the photo does not have, "
                f"{_pct(top.share)} of the product)."
            )
        box = m.gen_box(top.box)
        data: dict[str, Any] = {"share": m.values[kind], "source_region": m.photo_box(top.box)}
        out.append(Finding(check, sev, msg, score=round(m.values[kind] / flag, 3), region=box, data=data))
    return out


def _shape_findings(m: Measured, t: dict[str, tuple[float, float]]) -> list[Finding]:
    out: list[Finding] = []
    sh = m.shape
    if sh is None:
        return out
    sev = grade(sh.stretch, *t["stretch"])
    if sev is not None:
        msg = f"The product is stretched: about {_pct(sh.stretch)} {sh.stretch_axis} for its size than in the photo."
        out.append(
            Finding(Check.SHAPE, sev, msg, score=round(sh.stretch / t["stretch"][0], 3), data={"stretch": sh.stretch})
        )
    sev = grade(sh.distortion, *t["distortion"])
    if sev is not None:
        msg = (
            f"The product's proportions are distorted: parts of it sit up to {sh.distortion:.0f} % of its size "
            "away from where its photo, moved, turned and zoomed, puts them."
        )
        out.append(
            Finding(
                Check.SHAPE,
                sev,
                msg,
                score=round(sh.distortion / t["distortion"][0], 3),
                data={"distortion": sh.distortion},
            )
        )
    sev = grade(sh.warp, *t["warp"])
    if sev is not None:
        where = m.where(sh.warp_box) if sh.warp_box else "in places"
        msg = f"The product's shape is warped {where}: parts moved by up to {sh.warp:.0f} % of its size."
        box = m.gen_box(sh.warp_box) if sh.warp_box else None
        data = {"warp": sh.warp, "source_region": m.photo_box(sh.warp_box) if sh.warp_box else None}
        out.append(Finding(Check.SHAPE, sev, msg, score=round(sh.warp / t["warp"][0], 3), region=box, data=data))
    return out


def _text_findings(m: Measured, t: dict[str, tuple[float, float]]) -> list[Finding]:
    if not m.text_changes:
        return []
    share = m.values.get("text", 0.0)
    sev = grade(share, *t["text"])
    if sev is None:
        return []
    parts = []
    for c in m.text_changes[:4]:
        parts.append(f"“{c.before}” reads “{c.after}” here" if c.after else f"“{c.before}” is gone")
    more = f" and {len(m.text_changes) - 4} more" if len(m.text_changes) > 4 else ""
    msg = "The label text changed: " + "; ".join(parts) + more + "."
    xs0 = min(c.box[0] for c in m.text_changes)
    ys0 = min(c.box[1] for c in m.text_changes)
    xs1 = max(c.box[2] for c in m.text_changes)
    ys1 = max(c.box[3] for c in m.text_changes)
    box = m.gen_box((xs0, ys0, xs1, ys1), scale=m._ocr_scale)
    data = {
        "changes": [[c.before, c.after] for c in m.text_changes],
        "words": m.text_words,
        "source_region": m.photo_box((xs0, ys0, xs1, ys1), scale=m._ocr_scale),
    }
    return [Finding(Check.TEXT, sev, msg, score=round(share / t["text"][0], 3), region=box, data=data)]


def check(source_png: bytes, generated: bytes, thresholds: dict[str, tuple[float, float]] | None = None) -> Report:
    """Compare a generated image with its source product photo (normalised PNG bytes) and say what changed."""
    return judge(measure(source_png, generated), thresholds)
