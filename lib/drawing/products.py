"""The demo catalogue's product photos, drawn by code on white (no shadow on the white, so the studio cut-out
works). Each function paints one product into a 1024 x 1024 design space; `palette` overrides its colours.

Several products carry white or near-white parts inside their outline (labels, a clock face, a watch dial, a
sneaker midsole): those exercise the studio engine's border-connected cut-out, which must keep them.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from lib.drawing.canvas import (
    RGB,
    Canvas,
    cylinder,
    flat,
    hgrad,
    leaf,
    mix,
    rotated_ellipse,
    scale,
    sphere,
    times,
    vgrad,
    vshade,
)

Palette = dict[str, RGB]


def _text_lines(c: Canvas, x0: float, y0: float, x1: float, rows: list[float], color: RGB, h: float = 9) -> None:
    """Grey bars that read as printed text on a label."""
    for i, frac in enumerate(rows):
        y = y0 + i * h * 2.1
        c.fill(c.mask(("rrect", (x0, y, x0 + (x1 - x0) * frac, y + h), h / 2)), color)


# Kitchen -------------------------------------------------------------------------------------


def mug(c: Canvas, p: Palette) -> None:
    glaze, clay = p["glaze"], p["clay"]
    x0, x1, top, bot = 300, 660, 300, 740
    # Handle: an open ear on the right. Its opening shows the white backdrop, which a cut-out must remove.
    handle = c.mask(
        ("ellipse", (585, 380, 805, 640)), ("-ellipse", (560, 300, 640, 720)), ("-ellipse", (648, 446, 742, 574))
    )
    c.fill(handle, sphere(700, 510, 110, 130, glaze, light=(-0.3, -0.5), ambient=0.55, spec=0.3), rim=0.45)
    body = c.mask(
        ("rrect", (x0, top, x1, bot), 36), ("-rect", (0, 0, 1024, top + 30)), ("ellipse", (x0, top, x1, top + 60))
    )
    c.fill(body, cylinder(x0, x1, glaze, light=-0.4, ambient=0.45, spec=0.45, spec2=0.12))
    # Unglazed clay foot with speckles (stoneware look) below a wavy glaze line.
    wave = [(x, 668 + 7 * math.sin(x / 21.0) + 4 * math.sin(x / 9.0 + 1)) for x in range(x0 - 4, x1 + 8, 8)]
    foot = c.intersect(c.mask(("poly", wave + [(x1 + 4, 770), (x0 - 4, 770)])), body)
    c.fill(foot, times(cylinder(x0, x1, clay, light=-0.4, ambient=0.55, spec=0.1), c.noise(0.05, 3)))
    # Rim and the inside of the mug.
    c.fill(c.mask(("ellipse", (x0, top, x1, top + 60))), flat(scale(glaze, 1.12)))
    c.fill(
        c.mask(("ellipse", (x0 + 12, top + 7, x1 - 12, top + 55))),
        vgrad(top, top + 55, scale(glaze, 0.38), scale(glaze, 0.75)),
    )
    # A small stamped logo.
    c.fill(
        c.mask(("ellipse", (450, 500, 510, 560)), ("-ellipse", (458, 508, 502, 552))),
        flat(scale(glaze, 0.78)),
        opacity=0.8,
    )


def steel_bottle(c: Canvas, p: Palette) -> None:
    metal, cap, label, ink = p["metal"], p["cap"], p["label"], p["ink"]
    x0, x1 = 395, 629
    body = c.mask(("rrect", (x0, 250, x1, 880), 60))
    # rim: a darker silhouette edge, so no highlight runs into the white backdrop (it would cut out as background)
    c.fill(
        body,
        cylinder(x0, x1, metal, light=-0.35, ambient=0.35, spec=0.6, spec_width=0.07, spec2=0.25),
        rim=0.3,
        rim_width=8,
    )
    # Shoulder narrows into the neck.
    c.fill(
        c.mask(("poly", [(x0 + 10, 300), (440, 215), (584, 215), (x1 - 10, 300)])),
        cylinder(x0, x1, metal, light=-0.35, ambient=0.35, spec=0.6, spec_width=0.07),
    )
    c.fill(c.mask(("rrect", (446, 175, 578, 225), 10)), cylinder(446, 578, scale(metal, 0.85), spec=0.5))
    c.fill(c.mask(("rrect", (436, 95, 588, 190), 22)), cylinder(436, 588, cap, light=-0.35, ambient=0.4, spec=0.3))
    # Carry loop; its opening shows the loop's shaded inside (an open hole would stay white in a cut-out).
    c.fill(c.mask(("rrect", (478, 60, 546, 110), 24)), cylinder(478, 546, cap, spec=0.25))
    c.fill(c.mask(("rrect", (492, 70, 532, 98), 12)), vgrad(70, 98, scale(cap, 0.5), scale(cap, 0.8)))
    # Wrapped white label with printed lines: a white part inside the product outline.
    lab = c.mask(("rect", (x0 + 1, 470, x1 - 1, 700)))
    c.fill(lab, cylinder(x0, x1, label, light=-0.35, ambient=0.62, spec=0.15, spec_width=0.12))
    c.fill(c.mask(("ellipse", (480, 505, 544, 569))), flat(ink))
    c.fill(c.mask(("ellipse", (494, 519, 530, 555))), flat(label), opacity=0.9)
    _text_lines(c, 450, 600, 578, [1.0, 0.8, 0.6], scale(ink, 1.0), h=10)
    # Dark rings at the label's edges, like a sleeve.
    for y in (468, 698):
        c.fill(c.mask(("rect", (x0, y, x1, y + 4))), cylinder(x0, x1, scale(metal, 0.6), spec=0.2))


def teapot(c: Canvas, p: Palette) -> None:
    body_c, lid_c, wood = p["body"], p["lid"], p["wood"]
    # Straight side handle (kyusu style): no enclosed opening.
    c.fill(
        c.mask(("line", [(250, 540), (120, 420)], 56)),
        cylinder(100, 280, wood, ambient=0.5, spec=0.25),
        rim=0.35,
        rim_width=8,
    )
    c.fill(c.mask(("rrect", (238, 505, 300, 580), 14)), flat(scale(body_c, 0.7)), rim=0.3)
    # Spout.
    spout = c.mask(("poly", [(700, 520), (820, 420), (860, 395), (872, 412), (840, 440), (742, 610)]))
    c.fill(spout, sphere(770, 480, 120, 120, body_c, light=(-0.5, -0.6), ambient=0.5, spec=0.3), rim=0.4)
    c.fill(c.mask(("ellipse", (845, 388, 880, 418))), flat(scale(body_c, 0.45)))
    # Body.
    c.fill(
        c.mask(("ellipse", (270, 360, 750, 780))),
        sphere(505, 560, 240, 215, body_c, light=(-0.5, -0.55), ambient=0.45, spec=0.55, spec_size=0.16),
    )
    c.fill(c.mask(("rrect", (350, 748, 660, 782), 12)), flat(scale(body_c, 0.55)), rim=0.2)
    # Lid and knob.
    c.fill(c.mask(("ellipse", (375, 345, 635, 415))), flat(scale(body_c, 0.55)))
    c.fill(
        c.mask(("pie", (395, 300, 615, 420), 180, 360)),
        sphere(505, 360, 110, 60, lid_c, light=(-0.5, -0.7), ambient=0.5, spec=0.5),
    )
    c.fill(c.mask(("ellipse", (480, 280, 530, 330))), sphere(505, 305, 25, 25, lid_c, ambient=0.5, spec=0.6))
    # Glaze band.
    band = c.intersect(c.mask(("rect", (260, 610, 760, 632))), c.mask(("ellipse", (270, 360, 750, 780))))
    c.fill(band, sphere(505, 560, 240, 215, p["band"], light=(-0.5, -0.55), ambient=0.5, spec=0.2))


# Home & Lighting -----------------------------------------------------------------------------


def desk_lamp(c: Canvas, p: Palette) -> None:
    metal, shade_c, glow = p["metal"], p["shade"], p["glow"]
    # Weighted round base seen from the front.
    c.fill(c.mask(("ellipse", (250, 800, 570, 880))), flat(scale(metal, 0.55)))
    c.fill(c.mask(("rrect", (250, 790, 570, 842), 24)), cylinder(250, 570, metal, spec=0.45, ambient=0.45))
    c.fill(c.mask(("ellipse", (250, 770, 570, 812))), vgrad(770, 812, scale(metal, 1.25), scale(metal, 0.9)))
    # Two arm segments with joints.
    arm = [(410, 785), (330, 520), (560, 300)]
    c.fill(c.mask(("line", arm[:2], 26)), cylinder(300, 440, metal, spec=0.5, ambient=0.5), rim=0.35, rim_width=6)
    c.fill(c.mask(("line", arm[1:], 24)), vgrad(300, 520, scale(metal, 1.1), scale(metal, 0.8)), rim=0.35, rim_width=6)
    for x, y, r in [(410, 785, 26), (330, 520, 26), (560, 300, 24)]:
        c.fill(c.mask(("ellipse", (x - r, y - r, x + r, y + r))), sphere(x, y, r, r, metal, spec=0.6, ambient=0.5))
    # Conical shade tilted down-right, open end facing the desk.
    ang = math.radians(35)
    ax, ay = 560, 300

    def rot(x: float, y: float) -> tuple[float, float]:
        return (ax + x * math.cos(ang) - y * math.sin(ang), ay + x * math.sin(ang) + y * math.cos(ang))

    cone = [rot(20, -40), rot(20, 40), rot(250, 130), rot(250, -130)]
    c.fill(c.mask(("poly", cone)), hgrad(560, 800, scale(shade_c, 1.15), scale(shade_c, 0.7)), rim=0.3, rim_width=8)
    mouth = rotated_ellipse(*rot(250, 0), 42, 132, 35)
    c.fill(c.mask(("poly", mouth)), flat(scale(shade_c, 0.6)))
    inner = rotated_ellipse(*rot(252, 0), 34, 118, 35)
    gx, gy = rot(252, 0)
    c.fill(
        c.mask(("poly", inner)), sphere(gx, gy, 60, 110, glow, light=(0.0, 0.0), ambient=0.8, spec=0.4, spec_size=0.5)
    )
    c.fill(c.mask(("ellipse", (545, 280, 595, 330))), sphere(570, 305, 25, 25, metal, spec=0.6))


def candle(c: Canvas, p: Palette) -> None:
    glass, wax, label, ink = p["glass"], p["wax"], p["label"], p["ink"]
    x0, x1, top, bot = 335, 689, 330, 800
    c.fill(
        c.mask(("rrect", (x0, top, x1, bot), 40)),
        cylinder(x0, x1, glass, light=-0.4, ambient=0.55, spec=0.55, spec_width=0.06, spec2=0.3),
    )
    # Wax surface seen through the rim, wick and flame.
    c.fill(c.mask(("ellipse", (x0, top - 30, x1, top + 40))), flat(scale(glass, 1.1)))
    c.fill(
        c.mask(("ellipse", (x0 + 16, top - 18, x1 - 16, top + 30))), vgrad(top - 18, top + 30, wax, scale(wax, 0.85))
    )
    c.fill(c.mask(("line", [(512, 310), (514, 270)], 6)), flat((40, 34, 30)))
    flame = c.mask(("poly", leaf(513, 282, 120, 26, 0)))
    c.fill(c.soft(flame, 14), flat((255, 196, 90)), opacity=0.45)
    c.fill(flame, vgrad(170, 285, (255, 236, 170), (250, 150, 40)))
    c.fill(c.mask(("poly", leaf(513, 280, 50, 10, 0))), flat((120, 150, 230)), opacity=0.55)
    # Kraft label with printed lines.
    lab = c.mask(("rrect", (x0 + 40, 480, x1 - 40, 690), 10))
    c.fill(lab, cylinder(x0, x1, label, light=-0.4, ambient=0.7, spec=0.1))
    c.fill(c.mask(("rect", (420, 510, 604, 548))), flat(ink))
    _text_lines(c, 430, 575, 594, [1.0, 0.7, 0.85], scale(ink, 1.4), h=9)


def planter(c: Canvas, p: Palette) -> None:
    pot, leaf_c = p["pot"], p["leaf"]
    # Round pilea leaves on thin stems.
    stems = [
        (-62, 300),
        (-35, 380),
        (-15, 330),
        (10, 400),
        (30, 340),
        (55, 300),
        (-80, 220),
        (78, 230),
        (0, 280),
        (-48, 250),
        (42, 260),
        (-25, 200),
        (20, 190),
        (-58, 160),
        (60, 170),
        (-5, 140),
        (35, 110),
        (-38, 120),
        (70, 120),
        (-72, 110),
    ]
    rng = np.random.default_rng(7)
    # Dark inner foliage behind the leaves: without it, white backdrop would be enclosed between stems and leaves
    # (and stay white in a studio cut-out).
    inner = c.mask(
        ("poly", rotated_ellipse(512, 350, 235, 215, 0)), ("poly", [(270, 440), (754, 440), (690, 575), (334, 575)])
    )
    c.fill(inner, sphere(512, 330, 260, 260, scale(leaf_c, 0.55), light=(-0.3, -0.5), ambient=0.6, spec=0.05))
    leaves = []
    for ang, length in stems:
        a = math.radians(ang)
        ex, ey = 512 + math.sin(a) * length, 560 - math.cos(a) * length
        c.fill(
            c.mask(("line", [(512, 560), ((512 + ex) / 2 + ang * 0.3, (560 + ey) / 2), (ex, ey)], 7)),
            flat(scale(leaf_c, 0.85)),
        )
        r = 58 + rng.uniform(-10, 14)
        leaves.append((ex, ey, r, ang))
    for ex, ey, r, ang in sorted(leaves, key=lambda t: t[1]):
        shape = rotated_ellipse(ex, ey, r, r * 0.88, ang)
        c.fill(
            c.mask(("poly", shape)),
            sphere(ex, ey, r, r, leaf_c, light=(-0.4, -0.6), ambient=0.55, spec=0.25),
            rim=0.25,
            rim_width=8,
        )
        c.fill(
            c.mask(
                (
                    "line",
                    [
                        (ex, ey),
                        (ex - math.sin(math.radians(ang)) * r * 0.5, ey + math.cos(math.radians(ang)) * r * 0.5),
                    ],
                    4,
                )
            ),
            flat(scale(leaf_c, 1.35)),
            opacity=0.6,
        )
    # Terracotta pot: rim band and tapered body.
    body = c.mask(("poly", [(360, 600), (664, 600), (630, 890), (394, 890)]))
    c.fill(body, times(cylinder(360, 664, pot, light=-0.4, ambient=0.5, spec=0.12), c.noise(0.04, 11)), rim=0.15)
    c.fill(
        c.mask(("rrect", (340, 540, 684, 620), 8)),
        times(cylinder(340, 684, scale(pot, 1.06), light=-0.4, ambient=0.5, spec=0.15), c.noise(0.04, 12)),
    )
    c.fill(c.mask(("rect", (364, 618, 660, 630))), flat(scale(pot, 0.6)), opacity=0.6)


def wall_clock(c: Canvas, p: Palette) -> None:
    rim, face, ink, hand = p["rim"], p["face"], p["ink"], p["hand"]
    cx, cy, r = 512, 512, 360
    c.fill(
        c.mask(("ellipse", (cx - r, cy - r, cx + r, cy + r))),
        sphere(cx, cy, r, r, rim, light=(-0.5, -0.6), ambient=0.5, spec=0.35, spec_size=0.35),
    )
    fr = r - 38
    # The white face is enclosed by the rim: it must survive the studio cut-out.
    c.fill(
        c.mask(("ellipse", (cx - fr, cy - fr, cx + fr, cy + fr))),
        sphere(cx, cy - 40, fr * 1.3, fr * 1.3, face, light=(-0.3, -0.4), ambient=0.88, spec=0.05),
    )
    c.fill(
        c.soft(
            c.mask(
                ("ellipse", (cx - fr, cy - fr, cx + fr, cy + fr)),
                ("-ellipse", (cx - fr + 10, cy - fr + 14, cx + fr - 6, cy + fr - 4)),
            ),
            6,
        ),
        flat(scale(face, 0.6)),
        opacity=0.5,
    )
    for i in range(60):
        a = math.radians(i * 6)
        big = i % 5 == 0
        r0, r1 = fr - (52 if big else 26), fr - 14
        pts = [(cx + math.sin(a) * r0, cy - math.cos(a) * r0), (cx + math.sin(a) * r1, cy - math.cos(a) * r1)]
        c.fill(c.mask(("line", pts, 12 if big else 4)), flat(ink))
    for ang, length, width in [(300, 170, 18), (60, 250, 12)]:
        a = math.radians(ang)
        c.fill(
            c.mask(
                (
                    "line",
                    [
                        (cx - math.sin(a) * 30, cy + math.cos(a) * 30),
                        (cx + math.sin(a) * length, cy - math.cos(a) * length),
                    ],
                    width,
                )
            ),
            flat(hand),
        )
    a = math.radians(200)
    c.fill(
        c.mask(
            (
                "line",
                [(cx - math.sin(a) * 50, cy + math.cos(a) * 50), (cx + math.sin(a) * 270, cy - math.cos(a) * 270)],
                4,
            )
        ),
        flat(p["second"]),
    )
    c.fill(c.mask(("ellipse", (cx - 16, cy - 16, cx + 16, cy + 16))), sphere(cx, cy, 16, 16, hand, spec=0.6))


# Apparel & Bags ------------------------------------------------------------------------------


def sneaker(c: Canvas, p: Palette) -> None:
    upper, accent, sole, lace = p["upper"], p["accent"], p["sole"], p["lace"]
    # Outsole (dark) under an off-white midsole: the midsole is a near-white part inside the outline.
    c.fill(c.mask(("rrect", (120, 650, 910, 712), 26)), flat(scale(p["outsole"], 1.0)), rim=0.3, rim_width=6)
    mid = c.mask(("poly", [(122, 585), (905, 600), (918, 640), (900, 672), (130, 672), (112, 640)]))
    c.fill(mid, vgrad(585, 672, sole, scale(sole, 0.86)), rim=0.25, rim_width=6)
    c.fill(c.mask(("line", [(150, 640), (880, 648)], 3)), flat(scale(sole, 0.8)))
    upper_pts = [
        (128, 592),
        (132, 500),
        (150, 440),
        (185, 410),
        (250, 425),
        (300, 410),
        (345, 372),
        (400, 385),
        (520, 420),
        (640, 450),
        (760, 492),
        (850, 528),
        (900, 565),
        (905, 602),
    ]
    c.fill(
        c.mask(("poly", upper_pts)),
        times(vgrad(372, 600, scale(upper, 1.1), scale(upper, 0.85)), c.noise(0.025, 5)),
        rim=0.3,
        rim_width=10,
    )
    # Heel counter, toe cap and a side stripe in the accent colour.
    c.fill(
        c.mask(("poly", [(128, 592), (132, 500), (150, 440), (185, 410), (225, 420), (255, 592)])),
        vgrad(410, 592, scale(accent, 1.1), scale(accent, 0.85)),
        rim=0.25,
        rim_width=8,
    )
    c.fill(
        c.mask(("poly", [(770, 496), (850, 528), (900, 565), (905, 602), (750, 600)])),
        vgrad(496, 602, scale(upper, 0.95), scale(upper, 0.8)),
        rim=0.2,
        rim_width=8,
    )
    c.fill(
        c.mask(("poly", [(300, 575), (500, 470), (640, 490), (420, 588)])),
        vgrad(470, 588, scale(accent, 1.05), scale(accent, 0.85)),
        rim=0.2,
        rim_width=6,
    )
    # Collar opening and the tongue.
    c.fill(
        c.mask(("poly", [(185, 410), (250, 425), (300, 410), (330, 392), (290, 440), (200, 440)])),
        flat(scale(upper, 0.4)),
    )
    c.fill(
        c.mask(("poly", [(318, 396), (345, 350), (398, 356), (420, 420), (360, 412)])),
        vgrad(350, 420, scale(upper, 1.05), scale(upper, 0.8)),
        rim=0.3,
        rim_width=6,
    )
    # Laces and eyelets along the instep.
    for i in range(5):
        x = 388 + i * 60
        y = 400 + i * 16
        c.fill(c.mask(("ellipse", (x - 7, y + 22, x + 7, y + 36))), flat(scale(upper, 0.45)))
        c.fill(c.mask(("line", [(x - 22, y + 14), (x + 34, y - 2)], 13)), flat(lace), rim=0.3, rim_width=4)
    # Stitching along the upper.
    for i in range(22):
        x = 160 + i * 33
        c.fill(c.mask(("line", [(x, 575 - i * 0.2), (x + 16, 575 - i * 0.2)], 3)), flat(scale(upper, 0.7)), opacity=0.7)


def tote_bag(c: Canvas, p: Palette) -> None:
    canvas_c, strap, ink = p["canvas"], p["strap"], p["ink"]
    body = c.mask(("poly", [(250, 330), (774, 330), (800, 880), (224, 880)]))
    c.fill(
        body,
        times(
            hgrad(224, 800, scale(canvas_c, 1.04), scale(canvas_c, 0.9)),
            c.noise(0.035, 21, 1.0),
            vshade(330, 880, 1.02, 0.93),
        ),
        rim=0.18,
        rim_width=14,
    )
    # Hem at the top and soft vertical folds.
    c.fill(c.mask(("rect", (250, 330, 774, 372))), times(flat(scale(canvas_c, 0.93)), c.noise(0.035, 22, 1.0)))
    c.fill(c.mask(("line", [(250, 372), (774, 372)], 3)), flat(scale(canvas_c, 0.75)))
    for x, w in [(330, 30), (690, 40)]:
        c.fill(
            c.intersect(c.soft(c.mask(("line", [(x, 390), (x - 8, 860)], w)), 18), body),
            flat(scale(canvas_c, 0.82)),
            opacity=0.6,
        )
    # Handles folded down over the front.
    for xa, xb in [(330, 470), (554, 694)]:
        r = (xb - xa) / 2
        pts = [(xa, 340), (xa - 4, 420)]
        pts += [((xa + xb) / 2 - r * math.cos(t), 470 + r * 0.9 * math.sin(t)) for t in np.linspace(0, math.pi, 16)]
        pts += [(xb + 4, 420), (xb, 340)]
        loop = c.mask(("line", pts, 34))
        c.fill(c.intersect(c.soft(loop, 10), body), flat(scale(canvas_c, 0.7)), opacity=0.5)
        c.fill(loop, vgrad(340, 620, scale(strap, 1.05), scale(strap, 0.85)), rim=0.3, rim_width=6)
    # Printed motif: a leaf in a circle.
    c.fill(c.mask(("ellipse", (440, 650, 584, 794)), ("-ellipse", (452, 662, 572, 782))), flat(ink))
    c.fill(c.mask(("poly", leaf(512, 770, 100, 30, 20))), flat(ink))


def backpack(c: Canvas, p: Palette) -> None:
    fab, trim, zip_c = p["fabric"], p["trim"], p["zip"]
    # Shoulder straps peeking out at the sides.
    for x in (276, 748):
        c.fill(c.mask(("rrect", (x - 26, 420, x + 26, 740), 26)), cylinder(x - 26, x + 26, scale(fab, 0.7), spec=0.1))
    body = c.mask(("rrect", (290, 220, 734, 880), 150))
    # Top grab handle stands on a gusset of fabric, so no backdrop is enclosed under it.
    c.fill(c.mask(("poly", [(440, 240), (462, 200), (562, 200), (584, 240)])), flat(scale(fab, 0.55)))
    c.fill(c.mask(("line", [(452, 232), (470, 196), (554, 196), (572, 232)], 22)), flat(trim), rim=0.3, rim_width=5)
    c.fill(
        body,
        times(cylinder(290, 734, fab, light=-0.35, ambient=0.55, spec=0.12, spec_width=0.2), c.noise(0.03, 31, 1.0)),
        rim=0.3,
        rim_width=16,
    )
    # Main zip along the top curve.
    zip_pts = [(312, 520)] + [(512 - 200 * math.cos(t), 380 - 150 * math.sin(t)) for t in np.linspace(0.25, 2.89, 24)]
    zip_pts += [(712, 520)]
    c.fill(c.mask(("line", zip_pts, 9)), flat(zip_c))
    c.fill(c.mask(("line", zip_pts, 3)), flat(scale(zip_c, 1.6)), opacity=0.7)
    # Front pocket.
    pocket = c.mask(("rrect", (350, 560, 674, 830), 60))
    c.fill(
        pocket,
        times(cylinder(350, 674, scale(fab, 0.95), light=-0.35, ambient=0.6, spec=0.1), c.noise(0.03, 32, 1.0)),
        rim=0.35,
        rim_width=10,
    )
    c.fill(c.mask(("line", [(380, 600), (644, 600)], 8)), flat(zip_c))
    c.fill(c.mask(("rrect", (590, 596, 612, 650), 6)), flat(trim))
    # Leather patch with a stitched border.
    c.fill(
        c.mask(("rrect", (462, 660, 562, 730), 12)),
        vgrad(660, 730, scale(trim, 1.1), scale(trim, 0.85)),
        rim=0.25,
        rim_width=4,
    )
    c.fill(
        c.mask(("rrect", (470, 668, 554, 722), 8), ("-rrect", (474, 672, 550, 718), 6)),
        flat(scale(trim, 1.4)),
        opacity=0.6,
    )


def watch(c: Canvas, p: Palette) -> None:
    case, dial, strap, ink = p["case"], p["dial"], p["strap"], p["ink"]
    cx, cy = 512, 512
    # Leather strap above and below the case, with keeper holes.
    for y0, y1 in [(90, 380), (644, 940)]:
        c.fill(
            c.mask(("rrect", (422, y0, 602, y1), 40)),
            times(cylinder(422, 602, strap, light=-0.3, ambient=0.6, spec=0.15), c.noise(0.03, 41, 1.0)),
            rim=0.25,
            rim_width=8,
        )
        for i in range(12):
            y = y0 + 30 + i * ((y1 - y0 - 60) / 11)
            for x in (436, 588):
                c.fill(c.mask(("line", [(x, y), (x, y + 10)], 3)), flat(scale(strap, 1.5)), opacity=0.7)
    for y in (720, 770, 820):
        c.fill(c.mask(("ellipse", (502, y, 522, y + 20))), flat(scale(strap, 0.35)))
    # Lugs, crown and case.
    for sx in (-1, 1):
        for sy in (-1, 1):
            c.fill(
                c.mask(("rrect", (cx + sx * 85 - 22, cy + sy * 165 - 40, cx + sx * 85 + 22, cy + sy * 165 + 40), 12)),
                cylinder(cx + sx * 85 - 22, cx + sx * 85 + 22, case, spec=0.4),
                rim=0.35,
                rim_width=5,
            )
    c.fill(c.mask(("rrect", (685, 485, 730, 540), 10)), cylinder(685, 730, case, spec=0.4), rim=0.35, rim_width=5)
    c.fill(
        c.mask(("ellipse", (cx - 190, cy - 190, cx + 190, cy + 190))),
        sphere(cx, cy, 190, 190, case, light=(-0.5, -0.6), ambient=0.45, spec=0.5, spec_size=0.3),
        rim=0.35,
        rim_width=8,
    )
    c.fill(c.mask(("ellipse", (cx - 160, cy - 160, cx + 160, cy + 160))), flat(scale(case, 0.7)))
    # White dial: an enclosed white part the cut-out must keep.
    c.fill(
        c.mask(("ellipse", (cx - 148, cy - 148, cx + 148, cy + 148))),
        sphere(cx, cy - 30, 200, 200, dial, light=(-0.3, -0.5), ambient=0.9, spec=0.04),
    )
    for i in range(12):
        a = math.radians(i * 30)
        r0, r1 = (100, 132) if i % 3 else (92, 134)
        c.fill(
            c.mask(
                (
                    "line",
                    [(cx + math.sin(a) * r0, cy - math.cos(a) * r0), (cx + math.sin(a) * r1, cy - math.cos(a) * r1)],
                    9 if i % 3 == 0 else 5,
                )
            ),
            flat(ink),
        )
    for ang, length, width in [(310, 80, 10), (50, 118, 7)]:
        a = math.radians(ang)
        c.fill(c.mask(("line", [(cx, cy), (cx + math.sin(a) * length, cy - math.cos(a) * length)], width)), flat(ink))
    a = math.radians(165)
    c.fill(
        c.mask(
            (
                "line",
                [(cx - math.sin(a) * 25, cy + math.cos(a) * 25), (cx + math.sin(a) * 130, cy - math.cos(a) * 130)],
                3,
            )
        ),
        flat(p["second"]),
    )
    c.fill(c.mask(("ellipse", (cx - 9, cy - 9, cx + 9, cy + 9))), flat(ink))
    # Glass reflection.
    c.fill(c.mask(("poly", rotated_ellipse(cx - 50, cy - 70, 90, 34, -35))), flat((255, 255, 255)), opacity=0.18)


def tee(c: Canvas, p: Palette) -> None:
    cloth = p["cloth"]
    outline = [
        (330, 190),
        (430, 165),
        (470, 200),
        (554, 200),
        (594, 165),
        (694, 190),
        (890, 300),
        (830, 470),
        (740, 430),
        (745, 880),
        (279, 880),
        (284, 430),
        (194, 470),
        (134, 300),
    ]
    shirt = c.mask(("poly", outline))
    # Soft folds: a few diagonal bands of light and shadow.
    fold = c.noise(0.03, 51, 1.0)

    def folds(X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        w = 0.06 * np.sin((X * 0.6 + Y) / 70.0) + 0.04 * np.sin((X - Y * 0.4) / 45.0 + 1.3)
        return (1 + w)[..., None]

    c.fill(shirt, times(vgrad(160, 880, scale(cloth, 1.08), scale(cloth, 0.9)), folds, fold), rim=0.25, rim_width=14)
    # Inside of the back neckline, then the rib collar.
    c.fill(c.mask(("pie", (440, 150, 584, 250), 0, 180)), flat(scale(cloth, 0.55)))
    c.fill(
        c.mask(("pie", (430, 140, 594, 262), 0, 180), ("-pie", (446, 152, 578, 246), 0, 180)),
        flat(scale(cloth, 0.88)),
        rim=0.3,
        rim_width=3,
    )
    # Sleeve and hem stitching.
    for a, b in [((194, 470), (134, 300)), ((830, 470), (890, 300))]:
        ox = 10 if a[0] < 500 else -10
        c.fill(
            c.intersect(c.mask(("line", [(a[0] + ox, a[1] - 28), (b[0] + ox, b[1] - 28)], 3)), shirt),
            flat(scale(cloth, 0.75)),
        )
    c.fill(c.mask(("line", [(284, 850), (740, 850)], 3)), flat(scale(cloth, 0.75)))
    # Small woven chest label.
    c.fill(c.mask(("rrect", (600, 330, 650, 356), 4)), flat(p["tag"]))


# Bath & Beauty -------------------------------------------------------------------------------


def soap_pump(c: Canvas, p: Palette) -> None:
    glass, pump, label, ink = p["glass"], p["pump"], p["label"], p["ink"]
    x0, x1 = 360, 664
    c.fill(
        c.mask(("rrect", (x0, 360, x1, 900), 70)),
        cylinder(x0, x1, glass, light=-0.4, ambient=0.5, spec=0.6, spec_width=0.06, spec2=0.3),
    )
    c.fill(
        c.mask(("poly", [(x0 + 30, 400), (452, 330), (572, 330), (x1 - 30, 400)])),
        cylinder(x0, x1, glass, light=-0.4, ambient=0.5, spec=0.6, spec_width=0.06),
    )
    # Pump: collar, stem, head with nozzle.
    c.fill(c.mask(("rrect", (448, 280, 576, 350), 14)), times(cylinder(448, 576, pump, spec=0.4), c.noise(0.02, 61)))
    for y in range(290, 345, 10):
        c.fill(c.mask(("line", [(450, y), (574, y)], 2)), flat(scale(pump, 0.7)), opacity=0.6)
    c.fill(c.mask(("rect", (494, 200, 530, 285))), cylinder(494, 530, scale(pump, 1.1), spec=0.5))
    c.fill(c.mask(("rrect", (460, 150, 600, 210), 18)), cylinder(460, 600, pump, spec=0.45))
    c.fill(c.mask(("rrect", (590, 166, 690, 190), 10)), vgrad(166, 190, scale(pump, 1.1), scale(pump, 0.8)))
    # White label (enclosed by glass on every side).
    lab = c.mask(("rrect", (x0 + 40, 520, x1 - 40, 790), 8))
    c.fill(lab, cylinder(x0, x1, label, light=-0.4, ambient=0.7, spec=0.1, spec_width=0.15))
    c.fill(c.mask(("poly", leaf(512, 610, 60, 16, 0))), flat(p["accent"]))
    _text_lines(c, 440, 630, 584, [1.0], ink, h=14)
    _text_lines(c, 456, 672, 568, [1.0, 0.8, 0.9, 0.6], scale(ink, 1.6), h=7)


def serum(c: Canvas, p: Palette) -> None:
    glass, bulb, collar, label, ink = p["glass"], p["bulb"], p["collar"], p["label"], p["ink"]
    x0, x1 = 392, 632
    c.fill(
        c.mask(("rrect", (x0, 470, x1, 880), 44)),
        cylinder(x0, x1, glass, light=-0.4, ambient=0.45, spec=0.7, spec_width=0.06, spec2=0.35),
    )
    c.fill(
        c.mask(("poly", [(x0 + 20, 500), (462, 440), (562, 440), (x1 - 20, 500)])),
        cylinder(x0, x1, glass, light=-0.4, ambient=0.45, spec=0.7, spec_width=0.06),
    )
    c.fill(
        c.mask(("rrect", (440, 360, 584, 460), 10)), cylinder(440, 584, collar, light=-0.4, spec=0.7, spec_width=0.07)
    )
    c.fill(c.mask(("rrect", (462, 160, 562, 370), 50)), cylinder(462, 562, bulb, light=-0.4, spec=0.3, ambient=0.4))
    for y in range(300, 360, 12):
        c.fill(c.mask(("line", [(466, y), (558, y)], 3)), flat(scale(bulb, 0.6)), opacity=0.6)
    lab = c.mask(("rect", (x0 + 22, 600, x1 - 22, 800)))
    c.fill(lab, cylinder(x0, x1, label, light=-0.4, ambient=0.72, spec=0.1, spec_width=0.15))
    _text_lines(c, 448, 640, 576, [1.0], ink, h=16)
    _text_lines(c, 456, 690, 568, [1.0, 0.7, 0.9], scale(ink, 1.8), h=7)


def glass_bottle(c: Canvas, p: Palette) -> None:
    """A clear glass bottle of olive oil: tinted glass over the oil, a cork, a paper tag on a string."""
    glass, oil, cork = p["glass"], p["oil"], p["cork"]
    x0, x1 = 392, 632
    shoulder = [(x0, 470), (x0 + 10, 420), (470, 330), (476, 220), (548, 220), (554, 330), (x1 - 10, 420), (x1, 470)]
    bottle = c.mask(("rrect", (x0, 440, x1, 905), 46), ("poly", shoulder))
    # The glass: light tinted, darker at its edges where you look through more of it.
    c.fill(
        bottle, cylinder(x0, x1, glass, light=-0.3, ambient=0.78, spec=0.25, spec_width=0.06), rim=0.55, rim_width=14
    )
    level = c.intersect(c.mask(("rect", (x0, 520, x1, 905))), bottle)
    c.fill(level, cylinder(x0, x1, oil, light=-0.3, ambient=0.55, spec=0.15), rim=0.5, rim_width=12, opacity=0.9)
    c.fill(c.mask(("ellipse", (x0 + 6, 508, x1 - 6, 532))), flat(scale(oil, 1.25)), opacity=0.7)
    # Thick glass bottom and the long window reflections of a softbox.
    c.fill(c.mask(("rrect", (x0 + 8, 870, x1 - 8, 902), 16)), flat(scale(glass, 0.82)), opacity=0.7)
    c.fill(c.soft(c.mask(("rrect", (x0 + 30, 470, x0 + 52, 860), 10)), 4), flat((250, 252, 246)), opacity=0.75)
    c.fill(c.soft(c.mask(("rrect", (x1 - 44, 490, x1 - 34, 840), 5)), 3), flat((246, 248, 240)), opacity=0.45)
    # Neck lip and cork.
    c.fill(c.mask(("rrect", (466, 210, 558, 236), 8)), cylinder(466, 558, scale(glass, 0.9), spec=0.4), rim=0.4)
    c.fill(
        c.mask(("rrect", (474, 138, 550, 214), 10)),
        times(cylinder(474, 550, cork, light=-0.3, ambient=0.55, spec=0.1), c.noise(0.12, 11, grain=3)),
    )
    # A kraft paper tag on a string.
    c.fill(c.mask(("line", [(540, 250), (600, 330), (640, 560)], 3)), flat((90, 70, 50)))
    tag = c.mask(("poly", [(600, 560), (690, 560), (700, 580), (700, 690), (600, 690)]))
    c.fill(tag, vgrad(560, 690, (214, 186, 146), (190, 160, 120)), rim=0.2, rim_width=4)
    _text_lines(c, 614, 600, 686, [1.0, 0.7, 0.85], (90, 70, 50), h=7)


def white_jug(c: Canvas, p: Palette) -> None:
    """A white porcelain jug with an open loop handle: white product on white, and a hole showing the backdrop."""
    body_c = p["body"]
    x0, x1 = 330, 650
    handle = c.mask(("ellipse", (560, 340, 800, 700)), ("-ellipse", (612, 396, 744, 640)), ("-rect", (0, 0, 600, 1024)))
    c.fill(handle, sphere(690, 520, 120, 180, body_c, light=(-0.4, -0.5), ambient=0.62, spec=0.3), rim=0.55)
    outline = [(x0 + 40, 290), (x0 + 10, 360), (x0, 480), (x0 + 14, 700), (x0 + 50, 880), (x1 - 50, 880)]
    outline += [(x1 - 14, 700), (x1, 480), (x1 - 20, 340), (x1 - 30, 290)]
    spout = [(x0 + 50, 300), (260, 240), (250, 262), (x0 + 10, 380)]
    c.fill(c.mask(("poly", spout)), vgrad(240, 380, scale(body_c, 0.96), scale(body_c, 0.8)), rim=0.5, rim_width=8)
    c.fill(
        c.mask(("poly", outline)),
        cylinder(x0, x1, body_c, light=-0.45, ambient=0.7, spec=0.35, spec_width=0.08, spec2=0.1),
        rim=0.5,
        rim_width=16,
    )
    # The opening: a dark inside seen over the rim, then a glazed rim.
    c.fill(c.mask(("ellipse", (x0 + 36, 270, x1 - 28, 318))), flat(scale(body_c, 0.88)))
    c.fill(c.mask(("ellipse", (x0 + 48, 278, x1 - 40, 312))), vgrad(278, 312, scale(body_c, 0.62), scale(body_c, 0.82)))
    # Unglazed foot ring.
    c.fill(c.mask(("rrect", (x0 + 52, 866, x1 - 52, 892), 10)), flat(scale(body_c, 0.78)))


# Registry ------------------------------------------------------------------------------------

Drawer = Callable[[Canvas, Palette], None]

DRAWINGS: dict[str, tuple[Drawer, Palette, str]] = {
    # kind: (function, default palette, the palette entry that generated colourways change)
    "mug": (mug, {"glaze": (46, 120, 132), "clay": (226, 212, 190)}, "glaze"),
    "steel_bottle": (
        steel_bottle,
        {"metal": (176, 182, 190), "cap": (40, 44, 50), "label": (250, 250, 248), "ink": (32, 90, 70)},
        "ink",
    ),
    "teapot": (
        teapot,
        {"body": (150, 62, 48), "lid": (150, 62, 48), "wood": (120, 80, 46), "band": (60, 40, 34)},
        "body",
    ),
    "desk_lamp": (desk_lamp, {"metal": (52, 56, 62), "shade": (214, 178, 60), "glow": (255, 236, 190)}, "shade"),
    "candle": (
        candle,
        {"glass": (170, 110, 50), "wax": (246, 236, 214), "label": (214, 190, 150), "ink": (60, 46, 36)},
        "glass",
    ),
    "planter": (planter, {"pot": (196, 108, 72), "leaf": (70, 132, 62)}, "pot"),
    "wall_clock": (
        wall_clock,
        {
            "rim": (104, 72, 44),
            "face": (252, 251, 247),
            "ink": (34, 34, 36),
            "hand": (30, 30, 32),
            "second": (200, 40, 36),
        },
        "rim",
    ),
    "sneaker": (
        sneaker,
        {
            "upper": (60, 78, 116),
            "accent": (214, 96, 58),
            "sole": (246, 244, 238),
            "outsole": (54, 50, 48),
            "lace": (240, 238, 232),
        },
        "upper",
    ),
    "tote_bag": (tote_bag, {"canvas": (224, 206, 170), "strap": (150, 110, 70), "ink": (54, 90, 70)}, "ink"),
    "backpack": (backpack, {"fabric": (92, 110, 84), "trim": (140, 92, 56), "zip": (44, 44, 46)}, "fabric"),
    "watch": (
        watch,
        {
            "case": (196, 200, 206),
            "dial": (250, 249, 245),
            "strap": (120, 74, 44),
            "ink": (30, 32, 36),
            "second": (210, 60, 40),
        },
        "strap",
    ),
    "tee": (tee, {"cloth": (40, 58, 96), "tag": (210, 190, 150)}, "cloth"),
    "soap_pump": (
        soap_pump,
        {
            "glass": (176, 104, 48),
            "pump": (36, 36, 38),
            "label": (248, 247, 243),
            "ink": (40, 40, 40),
            "accent": (90, 130, 90),
        },
        "glass",
    ),
    "glass_bottle": (glass_bottle, {"glass": (206, 222, 200), "oil": (176, 160, 52), "cork": (186, 146, 100)}, "oil"),
    "white_jug": (white_jug, {"body": (244, 243, 239)}, "body"),
    "serum": (
        serum,
        {
            "glass": (64, 110, 160),
            "bulb": (30, 30, 32),
            "collar": (200, 170, 110),
            "label": (250, 249, 246),
            "ink": (36, 36, 40),
        },
        "glass",
    ),
}


def palette_for(kind: str, overrides: Palette | None = None) -> Palette:
    pal = dict(DRAWINGS[kind][1])
    if overrides:
        pal.update(overrides)
    return pal


def shifted(color: RGB, hue_turns: float, sat: float = 1.0) -> RGB:
    """The colour with its hue rotated (generated colourways for large benchmark catalogues)."""
    import colorsys

    r, g, b = (x / 255 for x in color)
    h, light, s = colorsys.rgb_to_hls(r, g, b)
    r2, g2, b2 = colorsys.hls_to_rgb((h + hue_turns) % 1.0, light, min(1.0, s * sat))
    return (int(r2 * 255), int(g2 * 255), int(b2 * 255))


__all__ = ["DRAWINGS", "Palette", "palette_for", "shifted", "mix"]
