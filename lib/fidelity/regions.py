"""Regions of the product that differ from the photo, each told apart as a recolour, a missing part or
something added on top.

Pixels whose CIEDE2000 difference stays large after the relight correction form connected regions. A region is
a *missing part* when its pixels look like the scene around the product rather than like the product (or lie
outside the generated frame), *something added* when it carries edges the photo does not have there (a logo,
printed text), and a *colour change* otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from lib.fidelity.colour import ColourComparison

DE_BAD = 14.0  # CIEDE2000 above which a pixel counts as different (after the relight correction)
# An inside patch this far from the photo's colour is ink put on it (a moved highlight only whitens a little)
STARK_DE = 35.0
MIN_REGION = 0.004  # regions smaller than this share of the product are noise
_EDGE = 28.0  # Sobel magnitude (on L*, 0..100 scaled x2.55) that counts as an edge


@dataclass(frozen=True)
class Region:
    kind: str  # colour | missing | added
    share: float  # of the product's area
    box: tuple[int, int, int, int]  # work coordinates
    mean_de: float
    src_lab: tuple[float, float, float]  # the photo's mean colour there (relit)
    gen_lab: tuple[float, float, float]


def _grad(l_chan: np.ndarray) -> np.ndarray:
    x = (l_chan * 2.55).astype(np.float32)
    return np.hypot(cv2.Sobel(x, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(x, cv2.CV_32F, 0, 1, ksize=3))


def find(
    cmp: ColourComparison, mask: np.ndarray, valid: np.ndarray, warped_lab: np.ndarray, rng_seed: int = 0
) -> list[Region]:
    area = float(mask.sum())
    if area == 0:
        return []
    de = cv2.GaussianBlur(cmp.delta_e, (0, 0), 1.5)
    bad = ((de > DE_BAD) & mask) | (mask & ~valid)
    bad = cv2.morphologyEx(bad.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    bad = cv2.morphologyEx(bad, cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) & mask.astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bad, connectivity=8)
    if n <= 1:
        return []
    rng = np.random.default_rng(rng_seed)
    # Scene colours: a ring just outside the product in the (homography-warped) generated image.
    m8 = mask.astype(np.uint8)
    ring = cv2.dilate(m8, np.ones((13, 13), np.uint8)).astype(bool) & ~cv2.dilate(m8, np.ones((5, 5), np.uint8)).astype(
        bool
    )
    ring &= valid
    scene = warped_lab[ring]
    product = cmp.src_lab[mask]
    scene = scene[rng.choice(len(scene), min(256, len(scene)), replace=False)] if len(scene) else scene
    product = product[rng.choice(len(product), min(256, len(product)), replace=False)]
    rim = m8.astype(bool) & ~cv2.erode(m8, np.ones((9, 9), np.uint8)).astype(bool)
    src_edges = cv2.dilate((_grad(cmp.src_lab[..., 0]) > _EDGE / 2).astype(np.uint8), np.ones((5, 5), np.uint8))
    src_grad = _grad(cmp.src_lab[..., 0])
    gen_grad = _grad(cmp.gen_lab[..., 0])
    gen_edges = gen_grad > _EDGE
    out = []
    for i in range(1, n):
        x, y, w, h, count = (int(v) for v in stats[i])
        share = count / area
        if share < MIN_REGION:
            continue
        sel = labels == i
        gen_px = cmp.gen_lab[sel]
        outside = float((~valid[sel]).mean())
        if len(scene):
            sub = gen_px[rng.choice(len(gen_px), min(400, len(gen_px)), replace=False)]
            d_scene = np.linalg.norm(sub[:, None, :] - scene[None, :, :], axis=2).min(axis=1)
            d_prod = np.linalg.norm(sub[:, None, :] - product[None, :, :], axis=2).min(axis=1)
            scene_like = float((d_scene + 3.0 < d_prod).mean())
        else:
            scene_like = 0.0
        new_edges = float((gen_edges[sel] & ~src_edges[sel].astype(bool)).mean())
        # A recolour keeps the product's shading and edges; a missing part shows the scene's instead.
        a, b = src_grad[sel], gen_grad[sel]
        kept = float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-3 and b.std() > 1e-3 else 0.0
        # A part goes missing from the outline in: a scene-like patch the product surrounds is something added
        # in the scene's colours (a logo's ink), not a hole. Such a patch counts as added on fewer new edges too:
        # a thin ring's inside is closed into its region, while a band recoloured across the product reaches
        # the outline.
        at_rim = bool(rim[sel].any())
        mean_de = float(cmp.delta_e[sel].mean())
        if outside > 0.5 or (max(scene_like, outside) > 0.55 and kept < 0.5 and at_rim):
            kind = "missing"
        elif share < 0.3 and (new_edges > (0.12 if at_rim else 0.05) or (not at_rim and mean_de > STARK_DE)):
            kind = "added"
        else:
            kind = "colour"
        out.append(
            Region(
                kind=kind,
                share=share,
                box=(x, y, x + w, y + h),
                mean_de=mean_de,
                src_lab=tuple(float(v) for v in cmp.src_lab[sel].mean(axis=0)),  # type: ignore[arg-type]
                gen_lab=tuple(float(v) for v in gen_px.mean(axis=0)),  # type: ignore[arg-type]
            )
        )
    return out
