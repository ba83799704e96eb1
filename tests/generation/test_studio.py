"""The offline studio engine: the product's own pixels survive, every preset renders at every aspect ratio at the
right size, variants differ, the same request gives the same bytes, white parts inside a product are kept."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from lib.config import Settings
from lib.drawing import draw
from lib.drawing.scenes import background
from lib.errors import ProviderPermanent
from lib.generation.base import ASPECT_RATIOS, GenerationRequest, ImageProvider, ProductInfo, aspect_size
from lib.generation.prompts import PRESETS
from lib.generation.studio import StudioEngine, border_connected, clear_caches, cut_out, preset_preview
from lib.runtime import Runtime


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def mug_png() -> bytes:
    return png(draw("mug", size=1024))


@pytest.fixture(scope="module")
def small_mug_png() -> bytes:
    return png(draw("mug", size=256))


def request(source: bytes, style: str = "marble_counter", **kw) -> GenerationRequest:
    info = kw.pop("product", ProductInfo(name="Stoneware Mug", category="Kitchen"))
    prompt = kw.pop("prompt", "")
    return GenerationRequest(source_image=source, prompt=prompt, product=info, style=style, model="studio-v1", **kw)


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float32)


def test_engine_is_an_image_provider_opened_by_the_runtime(tmp_path):
    rt = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))
    engine = rt.provider("studio")
    assert isinstance(engine, StudioEngine)
    assert isinstance(engine, ImageProvider)
    assert engine.name == "studio"
    assert engine.models() == ["studio-v1"]
    assert engine.estimate_cost("studio-v1", 500) == 0.0


def test_the_products_pixels_survive(mug_png):
    engine = StudioEngine()
    req = request(mug_png, "oak_table")
    comp = engine.render(req)
    out = decode(engine.generate(req).data)  # through JPEG, as the merchant gets it
    x0, y0, x1, y1 = comp.placement.box
    cut = comp.cutout
    # The source photo, cropped where the cut-out came from and resampled to the placed size.
    src = Image.open(io.BytesIO(mug_png)).convert("RGB").crop(cut.box)
    src = np.asarray(src.resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS), dtype=np.float32)
    alpha = (
        np.asarray(Image.fromarray((cut.alpha * 255).astype(np.uint8)).resize((x1 - x0, y1 - y0)), dtype=np.float32)
        / 255
    )
    inside = alpha > 0.999
    # Stay clear of the feathered rim.
    inside[2:-2, 2:-2] &= inside[:-4, 2:-2] & inside[4:, 2:-2] & inside[2:-2, :-4] & inside[2:-2, 4:]
    assert inside.mean() > 0.4
    region = out[y0:y1, x0:x1]
    diff = np.abs(region - src)[inside]
    assert diff.mean(axis=0).max() < 12, diff.mean(axis=0)

    # No extra blur: the product's detail (gradient energy) is kept.
    def detail(a: np.ndarray) -> float:
        m = a.mean(axis=2)
        g = np.abs(np.diff(m, axis=1))[:-1, :] + np.abs(np.diff(m, axis=0))[:, :-1]
        return float(g[inside[:-1, :-1]].mean())

    assert detail(region) > 0.85 * detail(src)
    # And the white background is gone: the frame corners show the scene, not the photo's white.
    assert out[:20, :20].mean() < 250 and out[-20:, -20:].mean() < 250


@pytest.mark.parametrize("label", [(255, 255, 255), (249, 248, 246)])
def test_white_inside_a_product_is_kept(label):
    im = Image.new("RGB", (400, 400), "white")
    d = ImageDraw.Draw(im)
    d.rectangle((100, 80, 300, 330), fill=(30, 60, 120))
    d.rectangle((150, 150, 250, 250), fill=label)  # a white label inside the outline
    if label == (255, 255, 255):  # as white as the backdrop: what tells it from a hole is the print on it
        d.rectangle((170, 226, 230, 232), fill=(40, 40, 40))
    cut = cut_out(png(im))
    x0, y0 = cut.box[:2]
    region = cut.alpha[150 - y0 + 3 : 250 - y0 - 3, 150 - x0 + 3 : 250 - x0 - 3]
    assert region.min() == 1.0
    assert cut.alpha[0, 0] == 0.0
    # In the finished picture the label is still white-ish (only the scene's slight light tint).
    engine = StudioEngine(min_side=256)
    comp = engine.render(request(png(im), "dark_moody", output_size=256))
    bx0, by0, bx1, by1 = comp.placement.box
    arr = np.asarray(comp.image, dtype=np.float32)
    s = (bx1 - bx0) / (cut.box[2] - cut.box[0])
    cx, cy = bx0 + (200 - x0) * s, by0 + (200 - y0) * s
    centre = arr[int(cy) - 3 : int(cy) + 3, int(cx) - 3 : int(cx) + 3]
    assert centre.min() > 225


def test_white_dial_of_the_demo_watch_is_kept():
    cut = cut_out(png(draw("watch", size=512)))
    x0, y0 = cut.box[:2]
    assert cut.alpha[256 - y0, 256 - x0 + 30] == 1.0  # the dial, beside the centre pin


def test_border_connected_ignores_enclosed_regions():
    near = np.ones((7, 9), dtype=bool)
    near[1:6, 2:7] = False  # a ring of product
    near[3, 4] = True  # a hole inside it
    bg = border_connected(near)
    assert bg[0, 0] and bg[6, 8] and bg[3, 0]
    assert not bg[3, 4]
    assert not bg[1:6, 2:7].any()


@pytest.mark.parametrize("style", list(PRESETS))
def test_every_preset_renders_at_every_aspect_ratio(style, small_mug_png):
    engine = StudioEngine(min_side=160, max_side=160)
    for aspect in ASPECT_RATIOS:
        result = engine.generate(request(small_mug_png, style, aspect_ratio=aspect, output_size=160))
        im = Image.open(io.BytesIO(result.data))
        assert im.format == "JPEG"
        assert im.size == aspect_size(aspect, 160) == (result.width, result.height)
        x0, y0, x1, y1 = result.usage["placement"]
        assert 0 <= x0 < x1 <= im.width and 0 <= y0 < y1 <= im.height, (aspect, result.usage)


def test_apparel_hangs_on_a_hanger_in_the_model_style(small_mug_png):
    tee = png(draw("tee", size=256))
    engine = StudioEngine(min_side=200, max_side=200)
    worn = engine.render(
        request(tee, "model_worn", output_size=200, product=ProductInfo(name="Classic Tee", category="Apparel & Bags"))
    )
    assert worn.placement.mode == "hanger"
    mug = engine.render(request(small_mug_png, "model_worn", output_size=200))
    assert mug.placement.mode == "plinth"


@pytest.mark.parametrize(("asked", "long_side"), [(512, 1024), (1024, 1024), (2048, 2048), (4096, 2048)])
def test_output_sizes(asked, long_side, small_mug_png):
    result = StudioEngine().generate(request(small_mug_png, "pastel_studio", aspect_ratio="4:5", output_size=asked))
    assert (result.width, result.height) == aspect_size("4:5", long_side)
    assert Image.open(io.BytesIO(result.data)).size == (result.width, result.height)
    assert result.cost == 0.0 and result.mime == "image/jpeg" and result.model == "studio-v1"


def test_variants_differ_and_the_same_request_gives_the_same_bytes(small_mug_png):
    engine = StudioEngine(min_side=256)
    first = engine.generate(request(small_mug_png, output_size=256, variant_index=0))
    again = engine.generate(request(small_mug_png, output_size=256, variant_index=0))
    assert first.data == again.data
    # Also from a cold start: the caches must not change the picture.
    clear_caches()
    cold = engine.generate(request(small_mug_png, output_size=256, variant_index=0))
    assert cold.data == first.data
    others = [engine.generate(request(small_mug_png, output_size=256, variant_index=i)) for i in (1, 2, 3)]
    arrays = [decode(r.data) for r in [first, *others]]
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            assert np.abs(arrays[i] - arrays[j]).mean() > 3, (i, j)
    seeded = engine.generate(request(small_mug_png, output_size=256, variant_index=0, seed=7))
    assert seeded.data != first.data


def test_photos_the_engine_cannot_use_fail_with_a_plain_message():
    engine = StudioEngine(min_side=128)
    with pytest.raises(ProviderPermanent, match="could not read"):
        engine.generate(request(b"not an image", output_size=128))
    with pytest.raises(ProviderPermanent, match="blank"):
        engine.generate(request(png(Image.new("RGB", (300, 300), "white")), output_size=128))
    dark = Image.new("RGB", (300, 300), (40, 90, 40))
    with pytest.raises(ProviderPermanent, match="white background"):
        engine.generate(request(png(dark), output_size=128))
    with pytest.raises(ProviderPermanent, match="7:3"):
        engine.generate(request(png(draw("mug", size=256)), aspect_ratio="7:3", output_size=128))


def test_a_decompression_bomb_given_straight_to_the_engine_is_a_permanent_error():
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    side = 30_000  # 900 megapixels in the header, a few bytes on disk
    bomb = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
    with pytest.raises(ProviderPermanent, match="too many pixels"):
        StudioEngine(min_side=128).generate(request(bomb, output_size=128))


def test_transparent_png_sources_are_flattened_onto_white():
    im = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    ImageDraw.Draw(im).ellipse((80, 80, 220, 220), fill=(200, 40, 40, 255))
    cut = cut_out(png(im))
    assert cut.alpha.max() == 1.0 and cut.alpha[0, 0] == 0.0


def test_preset_preview_is_a_small_jpeg():
    data = preset_preview("concrete_loft", 160)
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG" and im.size == (160, 160)
    assert preset_preview("concrete_loft", 160) is data  # cached


def test_the_cut_out_recovers_every_demo_products_exact_silhouette():
    from lib.drawing import KINDS, silhouette

    for kind in KINDS:
        cut = cut_out(png(draw(kind, size=384)))
        truth = np.asarray(silhouette(kind, size=384), dtype=np.float32) / 255
        alpha = np.zeros_like(truth)
        x0, y0, x1, y1 = cut.box
        alpha[y0:y1, x0:x1] = cut.alpha
        solid = truth > 0.999
        for _ in range(3):  # away from the feathered rim
            solid[1:] &= solid[:-1]
            solid[:-1] &= solid[1:]
            solid[:, 1:] &= solid[:, :-1]
            solid[:, :-1] &= solid[:, 1:]
        assert (alpha[solid] < 0.99).mean() < 0.001, f"{kind}: part of the product was cut away"
        assert (alpha[truth < 0.001] > 0.5).mean() < 0.0005, f"{kind}: backdrop kept as product"


# Seeds, scale, placement, props, direction, caches -------------------------------------------------


def demo_request(kind: str, name: str, category: str, style: str, side: int = 384, **kw) -> GenerationRequest:
    return request(
        png(draw(kind, size=side)),
        style,
        product=ProductInfo(name=name, category=category),
        output_size=side,
        **kw,
    )


def test_a_new_seed_gives_a_new_picture_and_the_same_seed_the_same_bytes(small_mug_png):
    engine = StudioEngine(min_side=256)
    pictures = [engine.generate(request(small_mug_png, output_size=256, seed=seed)).data for seed in range(6)]
    assert len(set(pictures)) == 6
    arrays = [decode(p) for p in pictures]
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            assert np.abs(arrays[i] - arrays[j]).mean() > 2, (i, j)  # visibly different, not just re-encoded
    clear_caches()
    assert engine.generate(request(small_mug_png, output_size=256, seed=3)).data == pictures[3]


def test_the_cut_out_opens_the_mugs_handle_and_matches_the_true_mask():
    from lib.drawing import silhouette

    side = 512
    cut = cut_out(png(draw("mug", size=side)))
    truth = np.asarray(silhouette("mug", size=side), dtype=np.float32) / 255 > 0.5
    alpha = np.zeros(truth.shape, dtype=bool)
    x0, y0, x1, y1 = cut.box
    alpha[y0:y1, x0:x1] = cut.alpha > 0.5
    iou = (truth & alpha).sum() / (truth | alpha).sum()
    assert iou >= 0.98, iou
    # The opening inside the handle (design space 648..742 x 446..574, at half scale) is backdrop, not product.
    hole = (slice(255, 280), slice(340, 360))
    assert not truth[hole].any()
    assert not alpha[hole].any()


def test_white_products_and_glass_keep_their_shape():
    from lib.drawing import silhouette

    for kind in ("white_jug", "glass_bottle"):
        cut = cut_out(png(draw(kind, size=512)))
        truth = np.asarray(silhouette(kind, size=512), dtype=np.float32) / 255 > 0.5
        alpha = np.zeros(truth.shape, dtype=bool)
        x0, y0, x1, y1 = cut.box
        alpha[y0:y1, x0:x1] = cut.alpha > 0.5
        assert (truth & alpha).sum() / (truth | alpha).sum() >= 0.98, kind


def test_a_wall_clock_hangs_on_the_wall_above_the_surface():
    engine = StudioEngine(min_side=384)
    comp = engine.render(demo_request("wall_clock", "Walnut Wall Clock", "Home & Lighting", "oak_table"))
    _, scene = background(comp_params("oak_table"), 384, 384, comp.placement.scene_variant)
    assert comp.placement.mode == "wall"
    assert comp.placement.box[3] < scene.horizon  # its bottom edge is above where the table starts


def comp_params(style: str):
    return PRESETS[style].render


def test_a_watch_lies_flat_and_a_lamp_stands_taller_than_its_props():
    engine = StudioEngine(min_side=384)
    watch = engine.render(demo_request("watch", "Field Watch", "Accessories", "concrete_loft"))
    assert watch.placement.mode == "flat"
    x0, y0, x1, y1 = watch.placement.box
    assert (x1 - x0) > (y1 - y0)  # lying down, seen from above the table: wider than tall
    lamp = engine.render(demo_request("desk_lamp", "Swing-Arm Desk Lamp", "Home & Lighting", "oak_table"))
    mug = engine.render(demo_request("mug", "Stoneware Mug", "Kitchen", "oak_table"))
    # Same scene, real sizes: a 45 cm lamp is drawn at a smaller scale (px per cm) than a 10 cm mug, so the props
    # beside it (a cup, books) are small next to it.
    assert lamp.placement.px_per_cm < mug.placement.px_per_cm / 2


def test_props_are_never_of_the_products_own_kind():
    engine = StudioEngine(min_side=256)
    seen: set[str] = set()
    for seed in range(12):
        comp = engine.render(demo_request("mug", "Stoneware Mug", "Kitchen", "marble_counter", 256, seed=seed))
        assert "cup" not in comp.placement.props
        seen.update(comp.placement.props)
    assert len(seen) >= 4  # chosen from a larger set, not the same two every time


def test_the_extra_direction_changes_what_the_engine_can_change(small_mug_png):
    from lib.generation.prompts import build_prompt

    engine = StudioEngine(min_side=256)
    info = ProductInfo(name="Stoneware Mug", category="Kitchen")
    plain_req = request(small_mug_png, output_size=256, prompt=build_prompt(info, "marble_counter"))
    steered = request(
        small_mug_png,
        output_size=256,
        prompt=build_prompt(info, "marble_counter", "warm and dark, sage backdrop, with a plant"),
    )
    a, b = engine.render(plain_req), engine.render(steered)
    assert "plant" in b.placement.props
    assert {"warm", "dark", "sage backdrop", "plant"} <= set(b.placement.understood)
    assert np.asarray(b.image, dtype=np.float32).mean() < np.asarray(a.image, dtype=np.float32).mean()
    bare = engine.render(
        request(small_mug_png, output_size=256, prompt=build_prompt(info, "marble_counter", "no props"))
    )
    assert bare.placement.props == ()


def test_variants_of_one_product_cut_it_out_once_even_in_parallel(mug_png):
    import threading

    clear_caches()
    from lib.generation import studio

    engine = StudioEngine(min_side=256)
    barrier = threading.Barrier(4)
    results: list[bytes] = []

    def run(i: int) -> None:
        barrier.wait()
        results.append(engine.generate(request(mug_png, output_size=256, variant_index=i)).data)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4
    stats = studio.cache_stats()["cutout"]
    assert stats["misses"] == 1 and stats["hits"] + stats["waits"] == 3
