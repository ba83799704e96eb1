"""Shape: a stretch (the homography scales one axis more than the other) and a warp (what is left after the
homography: the optical flow's motion inside the product, which a faithful re-render keeps to a few pixels)."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class ShapeMeasures:
    stretch: float  # anisotropy - 1 (0.2 = one axis 20 % longer than the other, relative to the photo)
    stretch_axis: str  # "wider" | "taller"
    warp: float  # residual motion, % of the product's long side (90th percentile inside the product)
    warp_box: tuple[int, int, int, int] | None  # where the motion is largest (work coordinates)


def anisotropy(H: np.ndarray, shape: tuple[int, ...]) -> tuple[float, str]:
    """The homography's local stretch at the product's centre and whether it makes the product wider or taller."""
    h, w = shape[:2]
    x, y = w / 2.0, h / 2.0
    d = H[2, 0] * x + H[2, 1] * y + H[2, 2]
    u = (H[0, 0] * x + H[0, 1] * y + H[0, 2]) / d
    v = (H[1, 0] * x + H[1, 1] * y + H[1, 2]) / d
    J = np.array(
        [
            [(H[0, 0] - u * H[2, 0]) / d, (H[0, 1] - u * H[2, 1]) / d],
            [(H[1, 0] - v * H[2, 0]) / d, (H[1, 1] - v * H[2, 1]) / d],
        ]
    )
    _, s, vt = np.linalg.svd(J)
    axis = "wider" if abs(vt[0, 0]) >= abs(vt[0, 1]) else "taller"
    return float(s[0] / max(s[1], 1e-9)) - 1.0, axis


def measure(H: np.ndarray, flow: np.ndarray, mask: np.ndarray, src_gray: np.ndarray) -> ShapeMeasures:
    stretch, axis = anisotropy(H, mask.shape)
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
        return ShapeMeasures(stretch, axis, 0.0, None)
    p90 = float(np.percentile(mag[textured], 90))
    big = textured & (mag >= max(p90, 1.0))
    box = None
    if big.any():
        ys, xs = np.nonzero(big)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
    return ShapeMeasures(stretch=stretch, stretch_axis=axis, warp=100.0 * p90 / side, warp_box=box)
