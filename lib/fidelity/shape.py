"""Shape: a stretch (the homography makes the product's width and height longer by different amounts), a
distortion (the homography's departure from a similarity: a smooth warp of the whole product it absorbed) and a
warp (what is left after the homography: the optical flow's motion inside the product, which a faithful
re-render keeps to a few pixels)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ShapeMeasures:
    stretch: float  # 0.2 = width 20 % longer than the height, relative to the photo (or the reverse)
    stretch_axis: str  # "wider" | "taller"
    warp: float  # residual motion, % of the product's long side (90th percentile inside the product)
    warp_box: tuple[int, int, int, int] | None  # where the motion is largest (work coordinates)
    distortion: float = 0.0  # the homography's departure from a similarity, % of the product's long side (95th pct)


def _jacobian(H: np.ndarray, x: float, y: float) -> np.ndarray:
    """The homography's local linear part (2x2) at (x, y)."""
    d = H[2, 0] * x + H[2, 1] * y + H[2, 2]
    u = (H[0, 0] * x + H[0, 1] * y + H[0, 2]) / d
    v = (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / d
    return np.array(
        [
            [(H[0, 0] - u * H[2, 0]) / d, (H[0, 1] - u * H[2, 1]) / d],
            [(H[1, 0] - v * H[2, 0]) / d, (H[1, 1] - v * H[2, 1]) / d],
        ]
    )


def anisotropy(H: np.ndarray, shape: tuple[int, ...]) -> tuple[float, str]:
    """The homography's local stretch at the image's centre and whether it makes the product wider or taller."""
    h, w = shape[:2]
    _, s, vt = np.linalg.svd(_jacobian(H, w / 2.0, h / 2.0))
    axis = "wider" if abs(vt[0, 0]) >= abs(vt[0, 1]) else "taller"
    return float(s[0] / max(s[1], 1e-9)) - 1.0, axis


def stretch(H: np.ndarray, mask: np.ndarray) -> tuple[float, str]:
    """How much longer the product's width comes out than its height, relative to the photo (or the reverse), at
    its centre: the lengths the homography gives the photo's own x and y axes. A rotation changes neither; a
    shear or a tilt in perspective changes them only slightly, where the largest-over-smallest scale of the
    whole map counts them fully (a faithful re-render seen a little askew read as stretched by up to a quarter)."""
    ys, xs = np.nonzero(mask)
    h, w = mask.shape[:2]
    x, y = (float(xs.mean()), float(ys.mean())) if len(xs) else (w / 2.0, h / 2.0)
    sx, sy = np.linalg.norm(_jacobian(H, x, y), axis=0)
    if sx >= sy:
        return float(sx / max(sy, 1e-9)) - 1.0, "wider"
    return float(sy / max(sx, 1e-9)) - 1.0, "taller"


def distortion(H: np.ndarray, mask: np.ndarray) -> float:
    """How far the homography puts the product's points from where the best similarity (a move, turn and zoom)
    puts them, % of the product's long side (95th percentile over the product). A smooth warp of the whole product
    is mostly absorbed by the homography, as a mix of stretch, shear and perspective that neither the stretch nor
    the flow's residual sees; a faithful re-render seen a little askew departs by a few percent only."""
    ys, xs = np.nonzero(mask)
    if len(xs) < 3:
        return 0.0
    pick = np.linspace(0, len(xs) - 1, min(2000, len(xs))).astype(int)
    p = np.c_[xs[pick], ys[pick]].astype(np.float64)
    q = cv2.perspectiveTransform(p.reshape(-1, 1, 2), H).reshape(-1, 2)
    # q ~ [[a, -b], [b, a]] p + t, least squares
    n = len(p)
    rows = np.r_[
        np.c_[p[:, 0], -p[:, 1], np.ones(n), np.zeros(n)],
        np.c_[p[:, 1], p[:, 0], np.zeros(n), np.ones(n)],
    ]
    target = np.r_[q[:, 0], q[:, 1]]
    sol = np.linalg.lstsq(rows, target, rcond=None)[0]
    res = (target - rows @ sol).reshape(2, -1)
    scale = max(float(np.hypot(sol[0], sol[1])), 1e-9)
    side = max(float(np.ptp(xs)), float(np.ptp(ys)), 1.0)
    return 100.0 * float(np.percentile(np.hypot(res[0], res[1]), 95)) / scale / side


def measure(H: np.ndarray, flow: np.ndarray, mask: np.ndarray, src_gray: np.ndarray) -> ShapeMeasures:
    stretch_, axis = stretch(H, mask)
    # Flow is only trustworthy where the photo has texture; flat areas let it drift freely.
    gx = cv2.Sobel(src_gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(src_gray, cv2.CV_32F, 0, 1, ksize=3)
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    textured = inner & (np.hypot(gx, gy) > 20)
    rim = np.zeros_like(inner)
    if textured.sum() < 0.05 * inner.sum():
        # A featureless product (one matte colour, a flat block): its outline is the only thing that pins the
        # motion down (the comparison puts the photo's white around it in both images).
        m8 = mask.astype(np.uint8)
        rim = cv2.dilate(m8, np.ones((5, 5), np.uint8)).astype(bool) & ~cv2.erode(m8, np.ones((5, 5), np.uint8)).astype(
            bool
        )
        textured |= rim
    if textured.sum() < 50:
        textured = inner
    # Only the motion across an edge is measured: along a straight edge (a sole, a stripe) the flow slides freely,
    # as any motion estimate does (the aperture problem), and that slide is not a change of shape. A warp moves
    # edges of every direction, so it shows across some of them.
    if rim.any():  # across the outline there
        soft = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 2.0)
        gx = np.where(rim, cv2.Sobel(soft, cv2.CV_32F, 1, 0, ksize=3), gx)
        gy = np.where(rim, cv2.Sobel(soft, cv2.CV_32F, 0, 1, ksize=3), gy)
    # And less the product's common motion: a fit a few pixels off (a striped cloth placed a stripe over) moves the
    # whole product alike, a warp moves its parts apart.
    if textured.any():
        flow = flow - np.median(flow[textured], axis=0)
    norm = np.maximum(np.hypot(gx, gy), 1e-6)
    mag = np.abs(flow[..., 0] * gx + flow[..., 1] * gy) / norm
    side = float(max(mask.shape))
    if not textured.any():
        return ShapeMeasures(stretch_, axis, 0.0, None, distortion(H, mask))
    p90 = float(np.percentile(mag[textured], 90))
    big = textured & (mag >= max(p90, 1.0))
    box = None
    if big.any():
        ys, xs = np.nonzero(big)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return ShapeMeasures(
        stretch=stretch_,
        stretch_axis=axis,
        warp=100.0 * p90 / side,
        warp_box=box,
        distortion=distortion(H, mask),
    )
