"""Small scene props for the studio engine (a plant, a cup, books, a vase, a towel, soap, stones, fruit, a
candle, a fruit bowl, a chopping board, a notebook, a storage jar), drawn on transparent canvases and cropped
tight. They sit behind the product, a little out of focus."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np
from PIL import Image

from lib.drawing.canvas import Canvas, cylinder, flat, leaf, rotated_ellipse, scale, sphere, times, vgrad

PROP_KINDS = (
    "plant",
    "cup",
    "book",
    "vase",
    "towel",
    "soap",
    "stones",
    "fruit",
    "candle",
    "bowl",
    "board",
    "notebook",
    "jar",
)


def _plant(c: Canvas, rng: np.random.Generator) -> None:
    pot = [(232, 228, 220), (60, 62, 64), (196, 120, 84)][int(rng.integers(3))]
    green = [(82, 128, 76), (104, 140, 110), (64, 110, 70)][int(rng.integers(3))]
    for i in range(14):
        ang = -70 + 140 * i / 13 + rng.uniform(-8, 8)
        length = rng.uniform(260, 430)
        a = math.radians(ang)
        ex, ey = 512 + math.sin(a) * length, 640 - math.cos(a) * length
        c.fill(c.mask(("line", [(512, 640), (ex, ey)], 6)), flat(scale(green, 0.7)))
        for t in np.linspace(0.35, 1.0, 5):
            lx, ly = 512 + math.sin(a) * length * t, 640 - math.cos(a) * length * t
            for side in (-1, 1):
                shape = leaf(lx, ly, 70 * (1.2 - t * 0.5), 22, ang + side * 50)
                c.fill(c.mask(("poly", shape)), flat(scale(green, rng.uniform(0.85, 1.15))), rim=0.3, rim_width=6)
    c.fill(
        c.mask(("poly", [(380, 620), (644, 620), (610, 900), (414, 900)])),
        cylinder(380, 644, pot, light=-0.4, ambient=0.5, spec=0.2),
        rim=0.2,
    )
    c.fill(c.mask(("ellipse", (380, 600, 644, 640))), flat(scale(pot, 0.8)))


def _cup(c: Canvas, rng: np.random.Generator) -> None:
    glaze = [(238, 234, 226), (190, 170, 140), (120, 140, 150)][int(rng.integers(3))]
    c.fill(c.mask(("ellipse", (260, 820, 764, 900))), vgrad(820, 900, scale(glaze, 1.02), scale(glaze, 0.75)))
    c.fill(
        c.mask(("ellipse", (600, 640, 720, 780)), ("-ellipse", (625, 670, 690, 750))),
        sphere(660, 710, 60, 70, glaze, ambient=0.55),
    )
    c.fill(
        c.mask(("rrect", (360, 600, 664, 860), 70), ("-rect", (0, 0, 1024, 630)), ("ellipse", (360, 600, 664, 660))),
        cylinder(360, 664, glaze, light=-0.4, ambient=0.5, spec=0.35),
    )
    c.fill(c.mask(("ellipse", (360, 600, 664, 660))), flat(scale(glaze, 1.05)))
    c.fill(c.mask(("ellipse", (376, 608, 648, 652))), vgrad(608, 652, (70, 44, 30), (110, 70, 44)))


def _book(c: Canvas, rng: np.random.Generator) -> None:
    covers = [(60, 80, 110), (160, 70, 60), (210, 190, 150), (80, 110, 90), (40, 40, 44), (190, 150, 90)]
    y: float = 900
    for _ in range(int(rng.integers(2, 4))):
        th = rng.uniform(70, 110)
        x0 = 200 + rng.uniform(-30, 30)
        x1 = 824 + rng.uniform(-30, 30)
        cover = covers[int(rng.integers(len(covers)))]
        c.fill(
            c.mask(("rrect", (x0, y - th, x1, y), 8)),
            vgrad(y - th, y, scale(cover, 1.1), scale(cover, 0.8)),
            rim=0.2,
            rim_width=4,
        )
        c.fill(
            c.mask(("rect", (x0 + 12, y - th + 10, x1 - 6, y - 10))), vgrad(y - th, y, (246, 240, 226), (214, 206, 190))
        )
        for k in range(3):
            yy = y - th + 16 + k * (th - 30) / 3
            c.fill(c.mask(("line", [(x0 + 14, yy), (x1 - 8, yy)], 1.5)), flat((200, 192, 176)), opacity=0.6)
        y -= th


def _vase(c: Canvas, rng: np.random.Generator) -> None:
    glaze = [(226, 220, 208), (150, 160, 150), (70, 72, 78)][int(rng.integers(3))]
    stem = (120, 100, 70)
    for ang in (-18, 4, 22):
        a = math.radians(ang)
        ex, ey = 512 + math.sin(a) * 520, 560 - math.cos(a) * 520
        c.fill(c.mask(("line", [(512, 600), (ex, ey)], 5)), flat(stem))
        for t in np.linspace(0.3, 0.95, 7):
            lx, ly = 512 + math.sin(a) * 520 * t, 560 - math.cos(a) * 520 * t
            c.fill(
                c.mask(("ellipse", (lx - 16, ly - 16, lx + 16, ly + 16))), flat((210, 190, 150)), rim=0.3, rim_width=4
            )
    c.fill(
        c.mask(("ellipse", (360, 560, 664, 900)), ("rrect", (470, 480, 554, 620), 20)),
        sphere(512, 720, 152, 170, glaze, ambient=0.5, spec=0.3),
    )
    c.fill(c.mask(("ellipse", (466, 470, 558, 500))), flat(scale(glaze, 0.6)))


def _towel(c: Canvas, rng: np.random.Generator) -> None:
    cloth = [(236, 232, 222), (200, 214, 210), (222, 206, 190)][int(rng.integers(3))]
    stripe = scale(cloth, 0.8)
    for i, (y0, y1) in enumerate([(770, 900), (640, 772)]):
        x0, x1 = 170 + i * 30, 854 - i * 10
        c.fill(
            c.mask(("rrect", (x0, y0, x1, y1), 50)),
            vgrad(y0, y1, scale(cloth, 1.04), scale(cloth, 0.85)),
            rim=0.35,
            rim_width=14,
        )
        c.fill(c.mask(("rect", (x0 + 40, y0 + 40, x1 - 40, y0 + 56))), flat(stripe), opacity=0.8)


def _soap(c: Canvas, rng: np.random.Generator) -> None:
    soap = [(232, 222, 200), (200, 214, 190), (226, 196, 200)][int(rng.integers(3))]
    wood = (168, 124, 84)
    c.fill(c.mask(("rrect", (180, 800, 844, 890), 30)), vgrad(800, 890, scale(wood, 1.1), scale(wood, 0.75)))
    c.fill(
        c.mask(("rrect", (300, 700, 724, 820), 50)),
        vgrad(700, 820, scale(soap, 1.08), scale(soap, 0.85)),
        rim=0.3,
        rim_width=12,
    )


def _stones(c: Canvas, rng: np.random.Generator) -> None:
    y = 900
    for i in range(3):
        rx = 260 - i * 55 + rng.uniform(-20, 20)
        ry = 80 - i * 10
        shade_c = [(150, 146, 140), (110, 108, 104), (190, 186, 178)][int(rng.integers(3))]
        cx = 512 + rng.uniform(-30, 30)
        c.fill(
            c.mask(("ellipse", (cx - rx, y - 2 * ry, cx + rx, y))),
            sphere(cx, y - ry, rx, ry, shade_c, ambient=0.5, spec=0.15),
            rim=0.2,
        )
        y -= 2 * ry - 14


def _fruit(c: Canvas, rng: np.random.Generator) -> None:
    colour = [(236, 200, 60), (240, 150, 50), (150, 180, 70)][int(rng.integers(3))]
    for cx, cy, r in [(380, 780, 130), (640, 790, 120), (510, 700, 115)][: int(rng.integers(2, 4))]:
        c.fill(
            c.mask(("poly", rotated_ellipse(cx, cy, r * 1.12, r, rng.uniform(-20, 20)))),
            sphere(cx, cy, r, r, colour, ambient=0.5, spec=0.3, spec_size=0.25),
            rim=0.2,
        )
        c.fill(c.mask(("ellipse", (cx - 8, cy - r - 6, cx + 8, cy - r + 10))), flat((90, 110, 50)))


def _candle(c: Canvas, rng: np.random.Generator) -> None:
    wax = [(240, 232, 214), (60, 60, 62), (200, 180, 150)][int(rng.integers(3))]
    c.fill(c.mask(("rrect", (400, 480, 624, 900), 12)), cylinder(400, 624, wax, ambient=0.55, spec=0.2))
    c.fill(c.mask(("ellipse", (400, 462, 624, 500))), flat(scale(wax, 0.9)))
    c.fill(c.mask(("line", [(512, 480), (512, 446)], 5)), flat((30, 30, 30)))
    flame = c.mask(("poly", leaf(512, 452, 90, 20, 0)))
    c.fill(c.soft(flame, 14), flat((255, 200, 110)), opacity=0.5)
    c.fill(flame, vgrad(360, 452, (255, 240, 190), (250, 160, 50)))


def _bowl(c: Canvas, rng: np.random.Generator) -> None:
    glaze = [(236, 230, 218), (120, 138, 128), (184, 110, 80)][int(rng.integers(3))]
    fruit = [(236, 196, 60), (222, 120, 50), (140, 170, 70)][int(rng.integers(3))]
    for cx, r in [(420, 90), (590, 84), (505, 80)]:
        c.fill(
            c.mask(("ellipse", (cx - r, 700 - 2 * r + 40, cx + r, 740))),
            sphere(cx, 700 - r + 40, r, r, fruit, ambient=0.5, spec=0.3, spec_size=0.22),
        )
    c.fill(
        c.mask(("pie", (250, 560, 774, 900), 0, 180)),
        sphere(512, 700, 262, 190, glaze, light=(-0.45, -0.2), ambient=0.5, spec=0.35),
        rim=0.25,
    )
    c.fill(c.mask(("ellipse", (250, 690, 774, 740))), flat(scale(glaze, 1.06)), opacity=0.9)
    c.fill(c.mask(("rrect", (430, 880, 594, 910), 10)), flat(scale(glaze, 0.7)))


def _board(c: Canvas, rng: np.random.Generator) -> None:
    """A wooden chopping board standing on its edge, leaning on the wall."""
    wood = [(196, 150, 100), (150, 104, 66), (222, 190, 146)][int(rng.integers(3))]
    c.fill(
        c.mask(
            ("rrect", (340, 160, 690, 910), 60), ("rrect", (470, 40, 560, 200), 40), ("-ellipse", (492, 80, 538, 126))
        ),
        times(
            cylinder(340, 690, wood, light=-0.3, ambient=0.62, spec=0.12),
            c.noise(0.04, int(rng.integers(100)), grain=6),
        ),
        rim=0.3,
        rim_width=8,
    )
    for k in range(5):
        x = 380 + k * 70 + rng.uniform(-12, 12)
        c.fill(c.mask(("line", [(x, 200), (x + rng.uniform(-20, 20), 880)], 3)), flat(scale(wood, 0.82)), opacity=0.5)


def _notebook(c: Canvas, rng: np.random.Generator) -> None:
    """A closed notebook lying flat with a pencil on it (seen from the scene's low angle)."""
    cover = [(40, 44, 52), (176, 90, 66), (200, 186, 160), (70, 96, 86)][int(rng.integers(4))]
    c.fill(c.mask(("poly", [(200, 840), (820, 840), (780, 760), (250, 760)])), flat((238, 232, 218)))
    c.fill(
        c.mask(("poly", [(196, 830), (824, 830), (784, 748), (246, 748)])),
        vgrad(748, 830, scale(cover, 1.12), scale(cover, 0.9)),
    )
    c.fill(c.mask(("rect", (196, 830, 824, 850))), vgrad(830, 850, scale(cover, 0.8), scale(cover, 0.6)))
    c.fill(c.mask(("line", [(330, 800), (700, 770)], 10)), flat((232, 190, 70)))
    c.fill(c.mask(("line", [(700, 770), (724, 768)], 10)), flat((60, 56, 50)))


def _jar(c: Canvas, rng: np.random.Generator) -> None:
    """A glass storage jar with a wooden lid, holding pasta, beans or coffee."""
    fill_c = [(232, 206, 140), (110, 70, 44), (200, 120, 80)][int(rng.integers(3))]
    x0, x1 = 380, 644
    c.fill(
        c.mask(("rrect", (x0, 420, x1, 900), 40)), cylinder(x0, x1, (226, 232, 230), ambient=0.8, spec=0.5), opacity=0.5
    )
    c.fill(
        c.mask(("rrect", (x0 + 10, 520, x1 - 10, 890), 34)),
        times(cylinder(x0, x1, fill_c, light=-0.4, ambient=0.55, spec=0.1), c.noise(0.12, 5, grain=5)),
    )
    c.fill(c.mask(("rect", (x0 + 30, 440, x0 + 52, 860))), flat((250, 252, 250)), opacity=0.55)
    c.fill(c.mask(("rrect", (x0 - 6, 370, x1 + 6, 430), 14)), cylinder(x0, x1, (176, 130, 86), ambient=0.55, spec=0.2))


_DRAW: dict[str, Callable[[Canvas, np.random.Generator], None]] = {
    "plant": _plant,
    "cup": _cup,
    "book": _book,
    "vase": _vase,
    "towel": _towel,
    "soap": _soap,
    "stones": _stones,
    "fruit": _fruit,
    "candle": _candle,
    "bowl": _bowl,
    "board": _board,
    "notebook": _notebook,
    "jar": _jar,
}


@lru_cache(maxsize=64)
def prop(kind: str, seed: int, size: int = 512) -> Image.Image:
    """An RGBA prop drawing cropped to its content (bottom edge = where it stands). Drawn without supersampling
    (5x cheaper): the engine scales it and blurs it by at least 2.5 px for depth of field, which hides the steps."""
    c = Canvas(size, ss=1, transparent=True)
    _DRAW[kind](c, np.random.default_rng(seed))
    im = c.image()
    bbox = im.getchannel("A").getbbox()
    return im.crop(bbox) if bbox else im
