"""Cut-out and registration: find the source product in a generated image and bring it into the source's frame.

The source is the studio engine's cut-out of the white-background photo (white parts inside the product stay),
reduced to a working size. SIFT features inside the product's mask are matched to the generated image (ratio
test), a MAGSAC homography maps the product into it, and the generated image is warped back into the source's
frame. DIS optical flow then measures what a homography cannot explain (a warp) and aligns the last few pixels
(a re-render wobbles), so the colour and part checks compare like with like.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from lib.errors import ImageUnreadable
from lib.fidelity.shape import anisotropy
from lib.generation.studio import cut_out

WORK_SIDE = 320  # the source product's long side for the comparisons
GEN_SIDE = 768  # the generated image's long side for feature matching
OCR_SIDE = 900  # the source product's long side for reading its label
MIN_INLIERS = 10
# A flat product (a watch, a wallet) is often shown lying on a surface seen from about 35 degrees above: its depth
# foreshortened to about this share. Not a stretch: when the product cannot be found as it is, it is looked for
# again in the image stretched back by this much, and its shape is judged as if seen from above.
LYING_FLAT = 0.55
_SIFT_FEATURES = 1500
_cv_lock = threading.Lock()


@dataclass(frozen=True)
class SourceView:
    """The source product at working size (cached per source photo)."""

    sha: str
    rgb: np.ndarray  # uint8 (h, w, 3): the cut-out crop, background white
    mask: np.ndarray  # bool (h, w): product pixels
    ocr_rgb: np.ndarray  # uint8: the same crop at OCR size
    points: np.ndarray  # float32 (n, 2): SIFT keypoints in work coordinates
    descriptors: np.ndarray | None
    # Where the crop sits in the source photo (fractions x0, y0, x1, y1), so a finding can say where it is there too.
    frame: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)

    def photo_box(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A box in work coordinates as fractions of the source photo."""
        h, w = self.rgb.shape[:2]
        fx0, fy0, fx1, fy1 = self.frame
        sx, sy = (fx1 - fx0) / max(1, w), (fy1 - fy0) / max(1, h)
        out = (fx0 + box[0] * sx, fy0 + box[1] * sy, fx0 + box[2] * sx, fy0 + box[3] * sy)
        return (round(out[0], 4), round(out[1], 4), round(out[2], 4), round(out[3], 4))

    @property
    def ocr_scale(self) -> float:
        return self.ocr_rgb.shape[0] / self.rgb.shape[0]


@dataclass(frozen=True)
class GeneratedView:
    rgb: np.ndarray  # uint8, long side GEN_SIDE at most
    size: tuple[int, int]  # the generated image's full size (w, h)
    full: Image.Image  # the full-resolution image (label reading)


@dataclass(frozen=True)
class Registration:
    homography: np.ndarray  # 3x3: source work coordinates -> generated view coordinates
    inliers: int  # feature matches that agree (0 when the product was found by its colours)
    warped: np.ndarray  # uint8 (h, w, 3): the generated image in the source frame (homography only)
    aligned: np.ndarray  # the same, after the optical-flow refinement
    flow: np.ndarray  # float32 (h, w, 2): residual motion after the homography, in work pixels
    valid: np.ndarray  # bool (h, w): source pixels whose warped position lies inside the generated image
    lying_flat: float = 1.0  # the image's vertical foreshortening undone to find the product (1: none)

    @property
    def shape_homography(self) -> np.ndarray:
        """The homography with the foreshortening of a product lying flat taken out (what a stretch is judged on)."""
        return np.diag([1.0, 1.0 / self.lying_flat, 1.0]) @ self.homography


def _sift() -> Any:
    # The type stubs lag the bindings (SIFT left contrib years ago).
    return cv2.SIFT_create(nfeatures=_SIFT_FEATURES, contrastThreshold=0.02)  # type: ignore[attr-defined]


def _resize_to(img: np.ndarray, side: int, interpolation: int = cv2.INTER_AREA) -> np.ndarray:
    h, w = img.shape[:2]
    f = side / max(h, w)
    if abs(f - 1.0) < 1e-3:
        return img
    return cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=interpolation)


_cache: OrderedDict[str, SourceView] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 16


def source_view(source_png: bytes) -> SourceView:
    """The source product prepared for comparisons (cached by the normalised source's hash)."""
    sha = hashlib.sha256(source_png).hexdigest()
    with _cache_lock:
        if sha in _cache:
            _cache.move_to_end(sha)
            return _cache[sha]
    view = _prepare(sha, source_png)
    with _cache_lock:
        _cache[sha] = view
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return view


def _prepare(sha: str, source_png: bytes) -> SourceView:
    cut = cut_out(source_png)
    a = cut.alpha
    # White where the product is not, so resampling never drags scene colours into the product.
    rgb = (cut.rgb.astype(np.float32) * a[..., None] + 255.0 * (1 - a[..., None])).astype(np.uint8)
    work = _resize_to(rgb, WORK_SIDE)
    mask = _resize_to((a * 255).astype(np.uint8), WORK_SIDE) > 127
    ocr = _resize_to(rgb, OCR_SIDE, cv2.INTER_AREA if max(rgb.shape[:2]) > OCR_SIDE else cv2.INTER_CUBIC)
    gray = cv2.cvtColor(work, cv2.COLOR_RGB2GRAY)
    feat_mask = cv2.dilate(mask.astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
    with _cv_lock:
        kps, desc = _sift().detectAndCompute(gray, feat_mask)
    pts = np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2)
    (bx0, by0, bx1, by1), (sw, sh) = cut.box, cut.source_size
    frame = (bx0 / max(1, sw), by0 / max(1, sh), bx1 / max(1, sw), by1 / max(1, sh))
    return SourceView(sha=sha, rgb=work, mask=mask, ocr_rgb=ocr, points=pts, descriptors=desc, frame=frame)


def generated_view(data: bytes) -> GeneratedView:
    try:
        opened = Image.open(io.BytesIO(data))
        opened.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageUnreadable("The generated image could not be read for the fidelity check.") from exc
    im = opened.convert("RGB")
    small = _resize_to(np.asarray(im), GEN_SIDE) if max(im.size) > GEN_SIDE else np.asarray(im)
    return GeneratedView(rgb=np.ascontiguousarray(small), size=im.size, full=im)


def register(src: SourceView, gen: GeneratedView) -> Registration | None:
    """The product's place in the generated image, or None when it cannot be found there."""
    found = _find(src, gen)
    flat = 1.0
    if found is None:  # lying on a surface? look again with the depth stretched back
        h0, w0 = gen.rgb.shape[:2]
        upright = cv2.resize(gen.rgb, (w0, round(h0 / LYING_FLAT)), interpolation=cv2.INTER_CUBIC)
        found = _find(src, GeneratedView(rgb=upright, size=gen.size, full=gen.full))
        if found is None:
            return None
        flat = LYING_FLAT
        found = (np.diag([1.0, LYING_FLAT, 1.0]) @ found[0], found[1])
    H, inliers = found
    h, w = src.mask.shape
    warped = cv2.warpPerspective(
        gen.rgb, H, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    inside = cv2.warpPerspective(
        np.full(gen.rgb.shape[:2], 255, np.uint8), H, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    )
    flow = _flow(src.rgb, warped, src.mask)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    aligned = cv2.remap(warped, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return Registration(
        homography=H, inliers=inliers, warped=warped, aligned=aligned, flow=flow, valid=inside > 0, lying_flat=flat
    )


def _find(src: SourceView, gen: GeneratedView) -> tuple[np.ndarray, int] | None:
    """The homography (source work -> generated view) and its feature inliers (0 when found by colour)."""
    found = _by_features(src, gen)
    if found is not None:
        return found
    colour_fit = _by_colour(src, gen)  # low-texture products (matte, glass, plain cloth) have too few features
    return None if colour_fit is None else (colour_fit, 0)


def _by_features(src: SourceView, gen: GeneratedView) -> tuple[np.ndarray, int] | None:
    if src.descriptors is None or len(src.points) < MIN_INLIERS:
        return None
    gray = cv2.cvtColor(gen.rgb, cv2.COLOR_RGB2GRAY)
    with _cv_lock:
        kps, desc = _sift().detectAndCompute(gray, None)
    if desc is None or len(kps) < MIN_INLIERS:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(src.descriptors, desc, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None
    a = src.points[[m.queryIdx for m in good]]
    b = np.array([kps[m.trainIdx].pt for m in good], dtype=np.float32)
    with _cv_lock:  # MAGSAC samples with OpenCV's global RNG: seeded, so a check never depends on the ones before
        cv2.setRNGSeed(0)
        H, inl = cv2.findHomography(a, b, cv2.USAC_MAGSAC, 4.0, maxIters=2000, confidence=0.995)
    if H is None or inl is None or int(inl.sum()) < MIN_INLIERS or not _plausible(H, src.mask.shape, gen.rgb.shape):
        return None
    return H, int(inl.sum())


def _by_colour(src: SourceView, gen: GeneratedView) -> np.ndarray | None:
    """Find the product by its colours (a ratio histogram back-projected), place it by its area and centre,
    then refine the fit with ECC on the product's shading."""
    m8 = src.mask.astype(np.uint8)
    prod = _hsv_hist(src.rgb, src.mask)
    scene = _hsv_hist(gen.rgb, None)
    ratio = np.minimum(prod / np.maximum(scene, 1e-6), 1.0).astype(np.float32)
    back = (ratio[_hsv_bins(gen.rgb)] * 255).astype(np.uint8)
    back = cv2.GaussianBlur(back, (0, 0), 3)
    blob = (back > 64).astype(np.uint8)
    n, labels, stats, cents = cv2.connectedComponentsWithStats(blob)
    if n <= 1:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    area = float(stats[best, cv2.CC_STAT_AREA])
    if area < 0.005 * blob.size:
        return None
    ys, xs = np.nonzero(src.mask)
    s = float(np.sqrt(area / max(len(xs), 1)))
    cx, cy = cents[best]
    H0 = np.array([[s, 0, cx - s * xs.mean()], [0, s, cy - s * ys.mean()], [0, 0, 1]], dtype=np.float32)
    tmpl = cv2.cvtColor(src.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    img = cv2.cvtColor(gen.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-4)
    # Affine, not a homography: a smooth product gives ECC too little to pin eight parameters.
    ones = np.full(img.shape, 255, np.uint8)
    tmask = cv2.dilate(m8 * 255, np.ones((7, 7), np.uint8))
    try:
        cc, A = cv2.findTransformECCWithMask(tmpl, img, tmask, ones, H0[:2].copy(), cv2.MOTION_AFFINE, crit, 5)
    except cv2.error:
        return None
    H = np.vstack([A.astype(np.float64), [0.0, 0.0, 1.0]])
    if cc < 0.5 or not _plausible(H, src.mask.shape, gen.rgb.shape):
        return None
    return H


_BINS = (18, 8, 8)


def _hsv_bins(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.int32)
    return hsv[..., 0] * _BINS[0] // 180, hsv[..., 1] * _BINS[1] // 256, hsv[..., 2] * _BINS[2] // 256


def _hsv_hist(rgb: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    h, s_, v = _hsv_bins(rgb)
    if mask is not None:
        h, s_, v = h[mask], s_[mask], v[mask]
    hist = np.zeros(_BINS, dtype=np.float64)
    np.add.at(hist, (h.ravel(), s_.ravel(), v.ravel()), 1.0)
    return hist / max(float(hist.sum()), 1.0)


def _plausible(H: np.ndarray, src_shape: tuple[int, ...], gen_shape: tuple[int, ...]) -> bool:
    """A homography that folds the product over, or shrinks it to a speck, found something else."""
    h, w = src_shape[:2]
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32).reshape(-1, 1, 2)
    q = cv2.perspectiveTransform(corners, H).reshape(-1, 2)
    if not cv2.isContourConvex(q.astype(np.float32)):
        return False
    area = cv2.contourArea(q.astype(np.float32))
    gh, gw = gen_shape[:2]
    if not 0.003 * gw * gh < area < 4.0 * gw * gh:
        return False
    return anisotropy(H, src_shape)[0] < 0.6


def _flow(src_rgb: np.ndarray, warped: np.ndarray, mask: np.ndarray) -> np.ndarray:
    a = cv2.cvtColor(src_rgb, cv2.COLOR_RGB2GRAY)
    b = cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY)
    # Outside the product the source is white and the scene is anything: give the flow the same pixels there.
    outside = ~cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    b = b.copy()
    b[outside] = a[outside]
    dis = cv2.DISOpticalFlow_create(  # type: ignore[attr-defined]
        cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
    )
    return dis.calc(a, b, None)
