"""The fidelity check on real drawings: the studio engine's output is faithful (it keeps the product's pixels by
construction), and each kind of drift a generator makes comes back as a finding a merchant can read."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from bench.fidelity_set import Product, bottle, drifted, faithful, low_texture, products, rerender, textile
from lib.drawing import render_png
from lib.fidelity import Check, Verdict
from lib.fidelity import text as ocr
from lib.fidelity.check import check
from lib.fidelity.verdict import Finding, Severity, verdict_of
from lib.generation.base import GenerationRequest, ProductInfo
from lib.generation.studio import StudioEngine
from lib.images import product_bbox
from tests.emulators.woocommerce import image_bytes


@pytest.mark.parametrize(
    ("kind", "style"), [("mug", "kitchen_window"), ("serum", "bathroom_shelf"), ("watch", "concrete_loft")]
)
def test_studio_images_come_out_faithful(kind: str, style: str) -> None:
    src = render_png(kind)
    req = GenerationRequest(
        source_image=src, prompt="", product=ProductInfo(name=kind), style=style, model="studio-v1", variant_index=1
    )
    report = check(src, StudioEngine().generate(req).data)
    assert report.verdict == Verdict.FAITHFUL, report.summary
    assert report.findings == ()


@pytest.mark.parametrize("style", ["oak_table", "marble_counter"])
def test_a_featureless_block_placed_by_the_studio_comes_out_faithful(style: str) -> None:
    src = image_bytes((30, 60, 200), fmt="PNG")  # the WooCommerce emulator's product photo: one flat blue block
    req = GenerationRequest(
        source_image=src, prompt="", product=ProductInfo(name="block"), style=style, model="studio-v1", variant_index=1
    )
    report = check(src, StudioEngine().generate(req).data)
    assert report.verdict == Verdict.FAITHFUL, report.summary


def test_a_block_of_another_colour_is_not_the_product() -> None:
    src = image_bytes((30, 60, 200), fmt="PNG")
    req = GenerationRequest(
        source_image=image_bytes((200, 60, 30), fmt="PNG"),
        prompt="",
        product=ProductInfo(name="block"),
        style="oak_table",
        model="studio-v1",
    )
    assert check(src, StudioEngine().generate(req).data).verdict == Verdict.REDRAWN


def _bottle_product() -> Product:
    # The uploads only: the demo catalogue's 32 drawings took half a minute to draw and are not needed here.
    return next(p for p in products(1, demo=0) if p.group == "bottle")


def _image(product: Product, drift: str | None, seed: int = 3, others: list[Product] | None = None) -> bytes:
    rng = np.random.default_rng(seed)
    if drift is None:
        rgb, alpha = faithful(product)
    else:
        rgb, alpha = drifted(product, drift, others or [product], rng)  # type: ignore[misc]
    return rerender(rgb, alpha, rng, seed)


@pytest.mark.parametrize("render", [0, 1])
def test_a_striped_cloth_re_rendered_comes_out_faithful(render: int) -> None:
    # Its stripes have one grey and the fit by silhouette left them half a stripe off: every stripe read as
    # recoloured. The fit is now refined on the cloth's own pattern.
    src = _png(textile(np.random.default_rng(2)))
    report = check(src, _rerender_seeded(src, 200 + render, 2 + render))
    assert report.verdict == Verdict.FAITHFUL, report.summary


@pytest.mark.parametrize(("seed", "render"), [(0, 1), (4, 1)])
def test_a_grey_object_on_a_light_scene_is_found(seed: int, render: int) -> None:
    # Its colours are the scene's too, so the colour search alone did not find it.
    src = _png(low_texture(np.random.default_rng(seed)))
    report = check(src, _rerender_seeded(src, 100 * seed + render, seed + render))
    assert report.verdict == Verdict.FAITHFUL, report.summary


def test_a_product_in_another_colour_is_named_in_colour_words() -> None:
    src = render_png("mug")  # teal glaze
    other = render_png("mug", (("glaze", (200, 40, 40)),))  # the same mug glazed red
    req = GenerationRequest(
        source_image=other, prompt="", product=ProductInfo(name="mug"), style="oak_table", model="studio-v1"
    )
    report = check(src, StudioEngine().generate(req).data)
    assert report.verdict == Verdict.REDRAWN
    colour = [f for f in report.findings if f.check == Check.COLOUR]
    assert colour, report.summary
    assert "teal in the photo" in colour[0].message and "red here" in colour[0].message
    assert colour[0].region is not None  # the gallery zooms there
    # ... and shows the same part of the mug in the photo, where the mug sits there (not where it sits in the scene).
    photo = Image.open(io.BytesIO(src)).convert("RGB")
    bx0, by0, bx1, by1 = product_bbox(photo) or (0, 0, 0, 0)
    px0, py0, px1, py1 = colour[0].data["source_region"]
    cx, cy = (px0 + px1) / 2 * photo.width, (py0 + py1) / 2 * photo.height
    assert bx0 <= cx <= bx1 and by0 <= cy <= by1
    assert 0.0 <= px0 < px1 <= 1.0 and 0.0 <= py0 < py1 <= 1.0


def test_another_product_is_redrawn() -> None:
    p = _bottle_product()
    jug = Product("demo-white_jug", "demo", render_png("white_jug"))  # another product of the catalogue
    report = check(p.png, _image(p, "swap", others=[jug]))
    assert report.verdict == Verdict.REDRAWN


def test_a_missing_quarter_is_a_missing_part() -> None:
    p = _bottle_product()
    report = check(p.png, _image(p, "missing"))
    assert report.verdict == Verdict.REDRAWN
    assert any(f.check in (Check.MISSING, Check.COLOUR) for f in report.findings), report.summary


@pytest.mark.skipif(not ocr.available(), reason="tesseract language data (Debian tesseract-ocr-eng) not installed")
def test_label_text_changes_are_reported_with_the_words_read() -> None:
    rng = np.random.default_rng(0)
    src = Product("b", "bottle", _png(bottle(rng, "AURORA", ("Night Serum", "30 ml"))))
    changed = _png(bottle(rng, "AUR0PA", ("Night Serum", "30 ml")))
    same = check(src.png, _rerender_png(src.png, 1))
    assert not [f for f in same.findings if f.check == Check.TEXT], same.summary
    report = check(src.png, _rerender_png(changed, 1))
    text = [f for f in report.findings if f.check == Check.TEXT]
    assert text, report.summary
    assert "AURORA" in text[0].message
    assert report.verdict != Verdict.FAITHFUL


def test_verdict_follows_the_worst_finding_and_findings_survive_json() -> None:
    minor = Finding(Check.ADDED, Severity.MINOR, "Something was added.", 1.2, (0.1, 0.2, 0.3, 0.4))
    major = Finding(Check.SHAPE, Severity.MAJOR, "Stretched.", 3.0)
    assert verdict_of([]) == Verdict.FAITHFUL
    assert verdict_of([minor]) == Verdict.CHECK
    assert verdict_of([minor, major]) == Verdict.REDRAWN
    assert Finding.from_json(minor.to_json()) == minor


def _png(im: object) -> bytes:
    from bench.fidelity_set import _png as to_png

    return to_png(im)  # type: ignore[arg-type]


def _rerender_png(png: bytes, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    p = Product("x", "bottle", png)
    rgb, alpha = faithful(p)
    return rerender(rgb, alpha, rng, seed)


def _rerender_seeded(png: bytes, rng_seed: int, style_index: int) -> bytes:
    rgb, alpha = faithful(Product("x", "upload", png))
    return rerender(rgb, alpha, np.random.default_rng(rng_seed), style_index)


def test_a_stretched_product_is_reported_stretched() -> None:
    p = _bottle_product()
    # A stretch of 20-30 % re-rendered in a perspective that happens to shorten the same side can measure under
    # the flag (this bottle's renders 2 and 3 do, at 13 %); the benchmark counts how often.
    report = check(p.png, _image(p, "stretch", seed=0))
    assert report.verdict != Verdict.FAITHFUL
    assert any(f.check == Check.SHAPE and "stretched" in f.message for f in report.findings), report.summary


def test_a_logo_put_on_the_product_is_something_added() -> None:
    p = _bottle_product()
    report = check(p.png, _image(p, "logo"))
    assert any(f.check == Check.ADDED for f in report.findings), report.summary
