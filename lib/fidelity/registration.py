"""Cut-out and registration: find the source product in a generated image and bring it into the source's frame.

The source is the studio engine's cut-out of the white-background photo (white parts inside the product stay),
reduced to a working size. SIFT features inside the product's mask are matched to the generated image (ratio
test), a MAGSAC homography maps the product into it, and the generated image is warped back into the source's
frame. A product with too few features is found by its colours and fitted by its silhouette instead. Either fit is
then refined by ECC on the product's own pattern (a stripe or a label placed to a pixel). DIS optical flow, on the
same pattern view with both images brought to one mean and contrast, then measures what a homography cannot
explain (a warp) and aligns the last few pixels (a re-render wobbles), so the colour and part checks compare like
with like.
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
# The generated image's long side for feature matching: a product filling half of it is then about the size of
# the source's working view, the scale SIFT matches best at (and SIFT's cost grows with the pixels).
GEN_SIDE = 512
ALIGN_SMOOTH = 0.03  # the flow's smoothing before it aligns the colours, as a share of the product's long side
OCR_SIDE = 900  # the source product's long side for reading its label
MIN_INLIERS = 10
# A flat product (a watch, a wallet) is often shown lying on a surface seen from about 35 degrees above: its depth
# foreshortened to about this share. Not a stretch: when the product cannot be found as it is, it is looked for
# again in the image stretched back by this much (and shrunk to as many pixels, which keeps the second search as
# cheap as the first), and its shape is judged as if seen from above.
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
    inner: np.ndarray | None = None  # uint8 (h, w): the mask eroded by a few pixels (255 inside)
    textured: float = 0.0  # share of the product's inner pixels with a clear edge along pattern_axis
    pattern_axis: tuple[float, float, float] = (0.299, 0.587, 0.114)  # the RGB direction the product varies most along

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


def clear_cache() -> None:
    """Forget prepared sources (benchmarks measuring a worker's first image of a product)."""
    with _cache_lock:
        _cache.clear()


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
    inner = cv2.erode(mask.astype(np.uint8) * 255, np.ones((5, 5), np.uint8))
    axis = _pattern_axis(work, inner > 0)
    pattern = _project(work, axis)
    grad = np.hypot(cv2.Sobel(pattern, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(pattern, cv2.CV_32F, 0, 1, ksize=3))
    textured = float((grad[inner > 0] > 40).mean()) if inner.any() else 0.0
    (bx0, by0, bx1, by1), (sw, sh) = cut.box, cut.source_size
    frame = (bx0 / max(1, sw), by0 / max(1, sh), bx1 / max(1, sw), by1 / max(1, sh))
    return SourceView(
        sha=sha,
        rgb=work,
        mask=mask,
        ocr_rgb=ocr,
        points=pts,
        descriptors=desc,
        frame=frame,
        inner=inner,
        textured=textured,
        pattern_axis=axis,
    )


def generated_view(data: bytes) -> GeneratedView:
    try:
        opened = Image.open(io.BytesIO(data))
        opened.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageUnreadable("The generated image could not be read for the fidelity check.") from exc
    im = opened.convert("RGB")
    small = _resize_to(np.asarray(im), GEN_SIDE) if max(im.size) > GEN_SIDE else np.asarray(im)
    return GeneratedView(rgb=np.ascontiguousarray(small), size=im.size, full=im)


@dataclass(frozen=True)
class _Features:
    points: np.ndarray  # float32 (n, 2)
    descriptors: np.ndarray | None


def _features(gen: GeneratedView) -> _Features:
    gray = cv2.cvtColor(gen.rgb, cv2.COLOR_RGB2GRAY)
    with _cv_lock:
        kps, desc = _sift().detectAndCompute(gray, None)
    return _Features(np.array([k.pt for k in kps], dtype=np.float32).reshape(-1, 2), desc)


def register(src: SourceView, gen: GeneratedView) -> Registration | None:
    """The product's place in the generated image, or None when it cannot be found there."""
    found = _find(src, gen)
    flat = 1.0
    if found is None:  # lying on a surface? look again with the depth stretched back
        h0, w0 = gen.rgb.shape[:2]
        k = float(np.sqrt(LYING_FLAT))
        upright = cv2.resize(gen.rgb, (round(w0 * k), round(h0 / k)), interpolation=cv2.INTER_AREA)
        found = _find(src, GeneratedView(rgb=upright, size=gen.size, full=gen.full))
        if found is None:
            return None
        flat = LYING_FLAT
        found = (np.diag([1.0 / k, k, 1.0]) @ found[0], found[1])
    H, inliers = found
    H = _refine(src, gen, H)
    h, w = src.mask.shape
    warped = cv2.warpPerspective(
        gen.rgb, H, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE
    )
    inside = cv2.warpPerspective(
        np.full(gen.rgb.shape[:2], 255, np.uint8), H, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP
    )
    flow = _flow(src, warped)
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    # The colours are compared after the flow's smooth part only: a re-render's wobble is smooth over the product,
    # while the flow also squeezes a new logo or mark away locally (it finds the photo's pixels beside it), which
    # must stay visible to the comparison.
    smooth = cv2.GaussianBlur(flow, (0, 0), ALIGN_SMOOTH * max(h, w))
    aligned = cv2.remap(
        warped, gx + smooth[..., 0], gy + smooth[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return Registration(
        homography=H, inliers=inliers, warped=warped, aligned=aligned, flow=flow, valid=inside > 0, lying_flat=flat
    )


def _find(src: SourceView, gen: GeneratedView) -> tuple[np.ndarray, int] | None:
    """The homography (source work -> generated view) and its feature inliers (0 when found by colour)."""
    found = _by_features(src, gen, _features(gen))
    if found is not None:
        return found
    colour_fit = _by_colour(src, gen)  # low-texture products (matte, glass, plain cloth) have too few features
    if colour_fit is None:  # and a grey or clear one shares its colours with a white or grey scene
        colour_fit = _by_outline(src, gen)
    return None if colour_fit is None else (colour_fit, 0)


MIN_OUTLINE_MATCH = 0.65  # normalised correlation of the photo (product on white) with the image, at its best place
MIN_OUTLINE_FIT = 0.78  # ECC correlation of the photo and the image over the product and a rim around it
_MATCH_SIDE = 160  # the image's long side for the template search


def _by_outline(src: SourceView, gen: GeneratedView) -> np.ndarray | None:
    """Find a grey or clear product, whose colours a white or grey scene also has, by its light and shape: the photo
    (the product on its white ground) searched for in the image at a few sizes by normalised correlation, which a
    relight's gain and offset do not change, then fitted with ECC (affine) on the product and a rim around it."""
    g = cv2.cvtColor(gen.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    f = _MATCH_SIDE / max(g.shape)
    small = cv2.resize(g, (max(1, round(g.shape[1] * f)), max(1, round(g.shape[0] * f))), interpolation=cv2.INTER_AREA)
    tmpl = cv2.cvtColor(src.rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    th, tw = tmpl.shape
    best: tuple[float, float, tuple[int, int]] | None = None
    for share in np.geomspace(0.3, 0.9, 10):  # the product's long side as a share of the image's
        k = share * _MATCH_SIDE / max(th, tw)
        t = cv2.resize(tmpl, (max(4, round(tw * k)), max(4, round(th * k))), interpolation=cv2.INTER_AREA)
        if t.shape[0] > small.shape[0] or t.shape[1] > small.shape[1]:
            continue
        _, score, _, at = cv2.minMaxLoc(cv2.matchTemplate(small, t, cv2.TM_CCOEFF_NORMED))
        if best is None or score > best[0]:
            best = (float(score), float(k), (int(at[0]), int(at[1])))
    if best is None or best[0] < MIN_OUTLINE_MATCH:
        return None
    _, k, (x, y) = best
    H0 = np.array([[k / f, 0, x / f], [0, k / f, y / f], [0, 0, 1]], dtype=np.float64)
    rim = cv2.dilate(src.mask.astype(np.uint8) * 255, np.ones((9, 9), np.uint8))
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-5)
    try:
        cc, A = cv2.findTransformECCWithMask(
            tmpl, g, rim, np.full(g.shape, 255, np.uint8), H0[:2].astype(np.float32), cv2.MOTION_AFFINE, crit, 5
        )
    except cv2.error:
        return None
    H = np.vstack([np.asarray(A, dtype=np.float64), [0.0, 0.0, 1.0]])
    if cc < MIN_OUTLINE_FIT or not _plausible(H, src.mask.shape, gen.rgb.shape):
        return None
    return H


def _by_features(src: SourceView, gen: GeneratedView, feats: _Features) -> tuple[np.ndarray, int] | None:
    if src.descriptors is None or len(src.points) < MIN_INLIERS:
        return None
    desc = feats.descriptors
    if desc is None or len(feats.points) < MIN_INLIERS:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(src.descriptors, desc, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < 0.8 * p[1].distance]
    if len(good) < MIN_INLIERS:
        return None
    a = src.points[[m.queryIdx for m in good]]
    b = feats.points[[m.trainIdx for m in good]]
    with _cv_lock:  # MAGSAC samples with OpenCV's global RNG: seeded, so a check never depends on the ones before
        cv2.setRNGSeed(0)
        H, inl = cv2.findHomography(a, b, cv2.USAC_MAGSAC, 4.0, maxIters=2000, confidence=0.995)
    if H is None or inl is None or int(inl.sum()) < MIN_INLIERS or not _plausible(H, src.mask.shape, gen.rgb.shape):
        return None
    return H, int(inl.sum())


def _by_colour(src: SourceView, gen: GeneratedView) -> np.ndarray | None:
    """Find a product with too few features (matte, glass, plain cloth, a flat block of colour) by its colours and
    outline: its hue and saturation (not its lightness, which the scene's light changes) back-projected as a ratio
    histogram give its silhouette in the image; the source's silhouette is placed on it by their moments, then
    fitted with ECC (affine) on the two silhouettes, which neither shading nor relighting disturbs."""
    prod = _hs_hist(src.rgb, src.mask)
    gen_bins = _hs_bins(gen.rgb)
    scene = np.bincount(gen_bins.ravel(), minlength=_NBINS).astype(np.float64)
    scene /= max(float(scene.sum()), 1.0)
    ratio = np.minimum(prod / np.maximum(scene, 1e-6), 1.0).astype(np.float32)
    back = cv2.GaussianBlur((ratio[gen_bins] * 255).astype(np.uint8), (0, 0), 2)
    blob = (back > 64).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(blob)
    if n <= 1:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[best, cv2.CC_STAT_AREA] < 0.005 * blob.size:
        return None
    # The silhouette with its holes filled (a highlight or a label of another colour is still the product).
    contours, _ = cv2.findContours((labels == best).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    sil = np.zeros(blob.shape, np.uint8)
    cv2.drawContours(sil, contours, -1, 255, thickness=cv2.FILLED)
    m_src = cv2.moments(src.mask.astype(np.uint8), binaryImage=True)
    m_gen = cv2.moments(sil, binaryImage=True)
    if m_src["m00"] <= 0 or m_gen["m00"] <= 0:
        return None
    k = float(np.sqrt(m_gen["m00"] / m_src["m00"]))
    sx, sy = m_src["m10"] / m_src["m00"], m_src["m01"] / m_src["m00"]
    gx, gy = m_gen["m10"] / m_gen["m00"], m_gen["m01"] / m_gen["m00"]
    H0 = np.array([[k, 0, gx - k * sx], [0, k, gy - k * sy], [0, 0, 1]], dtype=np.float64)
    # ECC at half size on softened silhouettes: the fit only has to be close, the optical flow aligns the rest.
    half, double = np.diag([0.5, 0.5, 1.0]), np.diag([2.0, 2.0, 1.0])
    fit = _ecc(
        cv2.GaussianBlur(cv2.resize(src.mask.astype(np.float32), None, fx=0.5, fy=0.5), (0, 0), 2),
        cv2.GaussianBlur(cv2.resize(sil.astype(np.float32) / 255.0, None, fx=0.5, fy=0.5), (0, 0), 2),
        half @ H0 @ double,
        50,
    )
    if fit is None:
        return None
    cc, H = fit[0], double @ fit[1] @ half
    if cc >= MIN_SILHOUETTE_FIT:  # then at full size, from there: the outline pins the shape to a pixel or so
        fine = _ecc(
            cv2.GaussianBlur(src.mask.astype(np.float32), (0, 0), 1.5),
            cv2.GaussianBlur(sil.astype(np.float32) / 255.0, (0, 0), 1.5),
            H,
            30,
        )
        H = H if fine is None else fine[1]  # did not converge: the half-size fit stands
    if cc < MIN_SILHOUETTE_FIT or not _plausible(H, src.mask.shape, gen.rgb.shape):
        return None
    return H


def _ecc(tmpl: np.ndarray, img: np.ndarray, init: np.ndarray, iterations: int) -> tuple[float, np.ndarray] | None:
    """ECC's affine fit of `tmpl` onto `img` from `init` (3x3): its correlation and the fit, None when it fails."""
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, iterations, 1e-5)
    everywhere = np.full(tmpl.shape, 255, np.uint8)
    try:
        cc, A = cv2.findTransformECCWithMask(
            tmpl,
            img,
            everywhere,
            np.full(img.shape, 255, np.uint8),
            init[:2].astype(np.float32),
            cv2.MOTION_AFFINE,
            crit,
            1,
        )
    except cv2.error:
        return None
    return float(cc), np.vstack([np.asarray(A, dtype=np.float64), [0.0, 0.0, 1.0]])


def _pattern_axis(rgb: np.ndarray, where: np.ndarray) -> tuple[float, float, float]:
    """The colour direction the product's edges are strongest along (unit RGB vector, pointing to lighter): the
    top eigenvector of the colour structure tensor summed over the product. Green and purple stripes of one grey
    differ along it; soft shading, which moves with the light, weighs little."""
    img = rgb.astype(np.float32)
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)[where]
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)[where]
    if len(gx) < 10:
        return (0.299, 0.587, 0.114)
    _, vecs = np.linalg.eigh(gx.T @ gx + gy.T @ gy)
    v = vecs[:, -1]
    v = v if v.sum() >= 0 else -v
    return (float(v[0]), float(v[1]), float(v[2]))


def _project(rgb: np.ndarray, axis: tuple[float, float, float]) -> np.ndarray:
    """The image along a colour direction, float32 on a 0..255 scale (cv2.transform: one pass)."""
    return cv2.transform(rgb.astype(np.float32), np.array([axis], dtype=np.float32))


def _refine(src: SourceView, gen: GeneratedView, H: np.ndarray) -> np.ndarray:
    """The fit refined on the product's own pattern: ECC (a homography) inside the product's mask, along the
    colour direction its edges are strongest in; ECC's correlation ignores a relight's gain and offset, and the
    mask keeps the scene out. Features and silhouettes place the product to a few
    pixels; a striped cloth or a printed label must be placed to a pixel for its colours to be compared (half a
    stripe off and every stripe reads as recoloured). A product without a pattern keeps its fit: ECC on soft
    shading would follow the moved highlight, not the product."""
    if src.textured < 0.05 or src.inner is None:
        return H
    # Along the colour direction the product varies most: orange and pink stripes have the same grey.
    tmpl = _project(src.rgb, src.pattern_axis)
    img = _project(gen.rgb, src.pattern_axis)
    try:
        _, fit = cv2.findTransformECCWithMask(
            tmpl,
            img,
            src.inner,
            np.full(img.shape, 255, np.uint8),
            (H / H[2, 2]).astype(np.float32),
            cv2.MOTION_HOMOGRAPHY,
            (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 40, 1e-4),
            5,
        )
    except cv2.error:  # did not converge: the first fit stands
        return H
    fit = np.asarray(fit, dtype=np.float64)
    h, w = src.mask.shape
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64).reshape(-1, 1, 2)
    moved = np.abs(cv2.perspectiveTransform(corners, fit) - cv2.perspectiveTransform(corners, H)).max()
    side = float(np.ptp(cv2.perspectiveTransform(corners, H).reshape(-1, 2), axis=0).max())
    # A refinement moves the product by a few pixels; one that moves a corner by a tenth of its size slid away.
    if moved > 0.1 * side or not _plausible(fit, src.mask.shape, gen.rgb.shape):
        return H
    return fit


MIN_SILHOUETTE_FIT = 0.85  # ECC correlation of the two silhouettes
_HS = (18, 8)  # hue, saturation bins
_NBINS = _HS[0] * _HS[1]


def _hs_bins(rgb: np.ndarray) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    return (hsv[..., 0].astype(np.int32) * _HS[0] // 180) * _HS[1] + hsv[..., 1].astype(np.int32) * _HS[1] // 256


def _hs_hist(rgb: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The product's hue-saturation histogram, each bin spread to its neighbours: a relight turns hue by a few
    degrees and moves saturation, which must not move a one-colour product out of its own bins."""
    hist = np.bincount(_hs_bins(rgb)[mask], minlength=_NBINS).astype(np.float64)
    hist = (hist / max(float(hist.sum()), 1.0)).reshape(_HS)
    spread = np.maximum(hist, np.maximum(np.roll(hist, 1, axis=0), np.roll(hist, -1, axis=0)))  # hue wraps
    spread[:, 1:] = np.maximum(spread[:, 1:], spread[:, :-1])
    spread[:, :-1] = np.maximum(spread[:, :-1], spread[:, 1:])
    return spread.ravel()


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


def _flow(src: SourceView, warped: np.ndarray) -> np.ndarray:
    mask = src.mask
    # Along the product's pattern direction, each image brought to the same mean and contrast inside the product:
    # the flow assumes constant brightness, which a relight breaks and a grey view of equal-grey colours lacks.
    inner = src.inner if src.inner is not None else mask.astype(np.uint8) * 255
    a, b = _matched(_project(src.rgb, src.pattern_axis), _project(warped, src.pattern_axis), inner)
    # Outside the product the source is white and the scene is anything: give the flow the same pixels there.
    outside = ~cv2.dilate(mask.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    b[outside] = a[outside]
    dis = cv2.DISOpticalFlow_create(  # type: ignore[attr-defined]
        cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
    )
    return dis.calc(a, b, None)


def _matched(a: np.ndarray, b: np.ndarray, inner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both as uint8, the product's mean at 128 in each and the second's contrast brought to the first's (within
    what a relight does). The gain is capped: a flat product's contrast is JPEG noise, not worth magnifying."""
    mean_a, std_a = (float(v[0, 0]) for v in cv2.meanStdDev(a, mask=inner))
    mean_b, std_b = (float(v[0, 0]) for v in cv2.meanStdDev(b, mask=inner))
    gain = 40.0 / max(std_a, 20.0)
    match = float(np.clip(std_a / max(std_b, 1e-3), 0.7, 1.4))
    out_a = np.clip((a - mean_a) * gain + 128.0, 0, 255).astype(np.uint8)
    out_b = np.clip((b - mean_b) * gain * match + 128.0, 0, 255).astype(np.uint8)
    return out_a, out_b
