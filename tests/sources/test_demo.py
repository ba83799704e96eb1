"""The demo catalogue (products, drawings, filters, paging) and the demo store (publish / rollback semantics)."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image

import lib.sources.demo as demo
from lib import drawing
from lib.config import Settings
from lib.errors import PublishError, SourceNotFound
from lib.runtime import Runtime
from lib.sources.base import ProductQuery, ProductSource, PublishTarget, SourceImage
from lib.sources.demo import CATALOGUE, DemoSource, DemoStore


@pytest.fixture
def rt(tmp_path):
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))


@pytest.fixture
def source(rt):
    return rt.source("demo")


@pytest.fixture
def store(rt):
    return rt.publish_target("demo")


def all_products(src: DemoSource, **kw) -> list:
    return src.list_products(ProductQuery(per_page=100, **kw)).items


def jpeg(color=(200, 30, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, "JPEG")
    return buf.getvalue()


def test_the_catalogue_is_a_believable_store(source):
    assert isinstance(source, ProductSource) and source.kind == "demo"
    products = all_products(source)
    assert len(products) >= 12
    assert [p.id for p in products] == [str(i) for i in range(1, len(products) + 1)]
    assert len(set(source.categories())) >= 3
    assert {p.category for p in products} == set(source.categories())
    assert len({p.sku for p in products}) == len(products)
    assert all(p.name and p.short_description and p.sku.startswith("GK-") for p in products)
    stock = {p.stock_status for p in products}
    assert {"instock", "outofstock", "onbackorder"} <= stock
    assert all(p.images and p.featured is p.images[0] for p in products)


def test_every_product_photo_is_a_drawn_packshot_on_white(source):
    digests = set()
    for p in all_products(source):
        data = source.fetch_image(p.images[0])
        im = Image.open(io.BytesIO(data)).convert("RGB")
        assert im.size == (1024, 1024)
        arr = np.asarray(im)
        border = np.concatenate([arr[0], arr[-1], arr[:, 0], arr[:, -1]])
        assert (border.min(axis=1) >= 250).mean() == 1.0, p.name  # pure white, no shadow reaching the edge
        non_white = (arr.min(axis=2) < 235).mean()
        assert 0.05 < non_white < 0.7, p.name  # a product fills a sensible part of the frame
        assert len(np.unique(arr.reshape(-1, 3)[::97], axis=0)) > 50, p.name  # shaded, not flat colour
        digests.add(hashlib.sha256(data).hexdigest())
    assert len(digests) == len(CATALOGUE)


def test_images_are_deterministic_and_cached(source):
    img = source.get_product("1").images[0]
    assert source.fetch_image(img) == DemoSource(None).fetch_image(img)
    gallery = source.get_product("1").images
    assert len(gallery) == 2 and source.fetch_image(gallery[1]) != source.fetch_image(gallery[0])


def test_the_variable_product_has_variations_with_their_own_images(source):
    variable = [p for p in all_products(source) if p.type == "variable"]
    assert len(variable) == 1
    tee = variable[0]
    assert len(tee.variations) >= 3
    hashes = set()
    for v in tee.variations:
        assert v.image is not None and v.attributes.get("Colour")
        assert v.image.ref == f"demo://variation/{v.id}"
        hashes.add(hashlib.sha256(source.fetch_image(v.image)).hexdigest())
    assert len(hashes) == len(tee.variations)


def test_filters(source):
    mugs = all_products(source, search="MUG")
    assert [p.name for p in mugs] == ["Stoneware Mug"]
    assert [p.id for p in all_products(source, search="gk-tee-012")] == ["12"]
    kitchen = all_products(source, category="Kitchen")
    assert kitchen and all(p.category == "Kitchen" for p in kitchen)
    out = all_products(source, stock_status="outofstock")
    assert out and all(p.stock_status == "outofstock" for p in out)
    picked = all_products(source, ids=("3", "12", "999"))
    assert [p.id for p in picked] == ["3", "12"]
    assert all_products(source, status="draft") == []
    assert all_products(source, search="no such thing") == []


def test_paging_walks_every_product_once(source):
    seen = []
    first = source.list_products(ProductQuery(page=1, per_page=5))
    for page in range(1, first.pages + 1):
        result = source.list_products(ProductQuery(page=page, per_page=5))
        assert result.total == len(CATALOGUE)
        seen += [p.id for p in result.items]
    assert sorted(seen, key=int) == [p.id for p in all_products(source)]
    assert len(seen) == len(set(seen))
    past = source.list_products(ProductQuery(page=first.pages + 1, per_page=5))
    assert past.items == [] and past.total == len(CATALOGUE)


def test_a_large_catalogue_lists_without_drawing(monkeypatch):
    def no_drawing(*a, **k):
        raise AssertionError("listing must not draw images")

    monkeypatch.setattr(demo, "render_png", no_drawing)
    big = DemoSource(None, size=10_000)
    page = big.list_products(ProductQuery(page=400, per_page=24))
    assert page.total == 10_000 and len(page.items) == 24
    assert page.items[0].id == str(399 * 24 + 1)
    assert big.list_products(ProductQuery(search="no. 9999", per_page=10)).items[0].id == "9999"
    kitchen = big.list_products(ProductQuery(category="Kitchen", per_page=100))
    assert kitchen.total > 2000
    p = big.get_product("5000")
    assert p.name.endswith("No. 5000") and p.images[0].ref == "demo://5000/0"
    with pytest.raises(SourceNotFound):
        big.get_product("10001")


def test_a_plain_listing_needs_no_index_and_filters_match_every_product(monkeypatch):
    big = DemoSource(None, size=500)
    demo._index.cache_clear()
    with monkeypatch.context() as m:
        m.setattr(demo, "_index", lambda size: pytest.fail("a listing without filters must not build the index"))
        last = big.list_products(ProductQuery(page=21, per_page=24))
    assert last.total == 500 and [p.id for p in last.items] == [str(i) for i in range(481, 501)]
    assert big.list_products(ProductQuery(page=22, per_page=24)).items == []
    # The index holds exactly what each product shows: its name, SKU and description are searchable.
    for pid in ("3", "15", "321", "500"):
        p = big.get_product(pid)
        for text in (p.name, p.sku, p.short_description[:30]):
            assert pid in [x.id for x in all_products(big, search=text, ids=(pid,))], (pid, text)
        assert [x.id for x in all_products(big, ids=(pid,), category=p.category, stock_status=p.stock_status)] == [pid]


def test_previews_are_the_photo_drawn_small(source, store):
    product = source.get_product("1")
    small = DemoSource(None, image_size=96)
    for image in (*product.images, source.get_product("12").variation("12-3").image):
        drawn = source.preview_image(image, 96)
        with Image.open(io.BytesIO(small.fetch_image(image))) as im:
            assert drawn.size == (96, 96) and drawn.tobytes() == im.convert("RGB").tobytes()
    # Small drawings share shapes and noise between calls: drawn from cold and from warm caches, the same pixels.
    drawing.clear_caches()
    cold = source.preview_image(product.images[0], 96).tobytes()
    assert source.preview_image(product.images[0], 96).tobytes() == cold
    # Uploaded media are not drawings: no preview here, the caller reads the photo.
    media = store.upload_media(jpeg(), filename="m.jpg", mime="image/jpeg", alt_text="", title="")
    store.set_product_images("1", [media])
    assert source.preview_image(source.get_product("1").images[0], 96) is None
    with pytest.raises(SourceNotFound):
        source.preview_image(SourceImage(ref="demo://1/7"), 96)


def test_generated_products_have_their_own_colourway():
    big = DemoSource(None, size=40, image_size=128)
    a = big.fetch_image(big.get_product("15").images[0])  # a mug in another colour
    b = big.fetch_image(big.get_product("1").images[0])
    assert a != b


def test_unknown_products_and_images(source):
    with pytest.raises(SourceNotFound):
        source.get_product("999")
    with pytest.raises(SourceNotFound):
        source.fetch_image(SourceImage(ref="demo://1/7"))
    with pytest.raises(SourceNotFound):
        source.fetch_image(SourceImage(ref="https://example.com/x.png"))
    with pytest.raises(SourceNotFound):
        source.fetch_image(SourceImage(ref="demo://variation/12-9"))


def test_publish_and_rollback_in_the_demo_store(source, store):
    assert isinstance(store, PublishTarget) and store.kind == "demo"
    before = store.product_image_ids("1")
    assert before == ["demo-1-0", "demo-1-1"]
    data = jpeg()
    media = store.upload_media(
        data, filename="gk-mug-001-studio.jpg", mime="image/jpeg", alt_text="Mug on oak", title="Mug"
    )
    assert media.startswith("m")
    assert store.find_media("gk-mug-001-studio.jpg") == media
    assert store.find_media("other.jpg") is None
    now = store.set_product_images("1", [media, *before])
    assert now == store.product_image_ids("1") == [media, *before]
    # The shop (and the gallery) show the new featured image, served from the blob store.
    product = source.get_product("1")
    assert product.images[0].ref == f"demo-media://{media[1:]}"
    assert product.images[0].name == "gk-mug-001-studio.jpg"
    assert source.fetch_image(product.images[0]) == data
    listed = source.list_products(ProductQuery(ids=("1",))).items[0]
    assert listed.images[0].id == media
    # Rollback: the exact old list, media kept.
    assert store.set_product_images("1", before) == before
    assert [i.id for i in source.get_product("1").images] == before
    assert store.find_media("gk-mug-001-studio.jpg") == media


def test_an_unknown_image_id_rejects_the_whole_update(store):
    media = store.upload_media(jpeg(), filename="a.jpg", mime="image/jpeg", alt_text="", title="")
    with pytest.raises(PublishError, match="#999"):
        store.set_product_images("2", [media, "999"])
    assert store.product_image_ids("2") == ["demo-2-0"]
    with pytest.raises(PublishError):
        store.set_product_images("2", ["m424242"])
    with pytest.raises(PublishError):
        store.set_variation_image("12", "12-1", "demo-99-0")
    with pytest.raises(SourceNotFound):
        store.set_product_images("999", [media])
    # Any existing image may be used, like a WordPress media library.
    assert store.set_product_images("2", ["demo-1-0"]) == ["demo-1-0"]
    assert store.set_product_images("2", []) == []


def test_variation_images(source, store):
    assert store.variation_image_id("12", "12-2") == "demo-12-v2"
    media = store.upload_media(jpeg((20, 120, 60)), filename="tee-sage.jpg", mime="image/jpeg", alt_text="", title="")
    assert store.set_variation_image("12", "12-2", media) == media
    assert store.variation_image_id("12", "12-2") == media
    assert source.get_product("12").variation("12-2").image.id == media
    assert store.set_variation_image("12", "12-2", None) is None
    assert store.variation_image_id("12", "12-2") is None
    assert source.get_product("12").variation("12-2").image is None
    assert store.set_variation_image("12", "12-2", "demo-12-v2") == "demo-12-v2"
    with pytest.raises(SourceNotFound):
        store.variation_image_id("12", "12-99")


def test_duplicate_file_names_get_a_suffix_like_wordpress(store):
    first = store.upload_media(jpeg(), filename="shot.jpg", mime="image/jpeg", alt_text="", title="")
    second = store.upload_media(jpeg((1, 2, 3)), filename="shot.jpg", mime="image/jpeg", alt_text="", title="")
    assert first != second
    assert store.find_media("shot.jpg") == first
    assert store.find_media("shot-1.jpg") == second
    assert store.media(second).filename == "shot-1.jpg"


def test_the_store_refuses_files_that_are_not_images(store):
    with pytest.raises(PublishError, match="only accepts images"):
        store.upload_media(b"%PDF-1.4", filename="x.jpg", mime="image/jpeg", alt_text="", title="")


def test_the_store_survives_a_restart(tmp_path):
    settings = Settings.load(secrets_file=None, imagegecko_home=tmp_path)
    rt = Runtime.build(settings)
    store = DemoStore(rt)
    media = store.upload_media(jpeg(), filename="kept.jpg", mime="image/jpeg", alt_text="alt", title="t")
    store.set_product_images("4", [media])
    store.set_variation_image("12", "12-3", None)
    rt.db.dispose()

    again = Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))
    store2 = again.publish_target("demo")
    assert store2.product_image_ids("4") == [media]
    assert store2.variation_image_id("12", "12-3") is None
    assert store2.find_media("kept.jpg") == media
    src = again.source("demo")
    assert src.fetch_image(src.get_product("4").images[0]) == jpeg()
    # Between two demos, a reset puts the catalogue back (media stay).
    assert store2.reset() == 2
    assert store2.product_image_ids("4") == ["demo-4-0"]
    assert store2.find_media("kept.jpg") == media


def test_the_catalogue_has_photos_that_stress_a_cut_out(source):
    """A mug whose open handle shows the backdrop, a glass bottle and a white product, each lit like a packshot
    (shaded, not flat fills)."""
    by_name = {p.name: p for p in all_products(source)}
    photos = {
        name: np.asarray(Image.open(io.BytesIO(source.fetch_image(by_name[name].images[0]))).convert("RGB"))
        for name in ("Stoneware Mug", "Cold-Pressed Olive Oil", "White Porcelain Jug")
    }
    mug = photos["Stoneware Mug"]
    side = mug.shape[0]
    # The opening inside the handle (design space ~695, 510) is the white backdrop, ringed by glaze on both sides.
    y, x = int(510 * side / 1024), int(695 * side / 1024)
    assert mug[y, x].min() >= 250
    row = mug[y, int(600 * side / 1024) : int(840 * side / 1024)].mean(axis=1)
    assert row.min() < 150 and (row[-10:] >= 250).all()
    jug = photos["White Porcelain Jug"]
    body = jug[int(600 * side / 1024), int(420 * side / 1024) : int(560 * side / 1024)]
    assert body.mean() > 200 and body.min() < 250  # white, but shaded: not the backdrop's flat white
    for photo in photos.values():
        product = photo[photo.min(axis=2) < 245]
        assert len(np.unique(product // 4, axis=0)) > 100  # gradients and grain, not a few flat fills
