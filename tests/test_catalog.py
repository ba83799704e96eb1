"""Product browsing: server-side paging, local filters, and a selection that survives paging and filtering."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from lib import catalog
from lib.catalog import Filters, SelectionBook, SelectionState, SourceRef
from lib.config import Settings
from lib.models import Asset, AssetKind, Job, ReviewState
from lib.runtime import Runtime
from lib.sources.base import Product, ProductPage, ProductQuery, SourceImage, Variation


def _photo(white: bool, side: int = 600) -> bytes:
    img = Image.new("RGB", (side, side), (255, 255, 255) if white else (90, 120, 160))
    ImageDraw.Draw(img).ellipse((side // 4, side // 4, 3 * side // 4, 3 * side // 4), fill=(200, 40, 40))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


class FakeSource:
    """An in-memory ProductSource: even ids are on white, odd ids on a blue backdrop."""

    kind = "demo"

    def __init__(self, n: int) -> None:
        self.calls = 0
        self.products = [
            Product(
                id=str(i),
                name=f"Product {i}",
                sku=f"SKU-{i}",
                category="Mugs" if i % 3 else "Lamps",
                stock_status="instock" if i % 4 else "outofstock",
                images=(SourceImage(ref=f"img://{i}"),),
                type="variable" if i == 2 else "simple",
                variations=(Variation("2-1", "Red", image=SourceImage(ref="img://2-1")), Variation("2-2", "Blue"))
                if i == 2
                else (),
            )
            for i in range(1, n + 1)
        ]

    def list_products(self, query: ProductQuery) -> ProductPage:
        self.calls += 1
        rows = [
            p
            for p in self.products
            if (not query.search or query.search.lower() in p.name.lower())
            and (not query.category or p.category == query.category)
            and (not query.stock_status or p.stock_status == query.stock_status)
        ]
        start = (query.page - 1) * query.per_page
        return ProductPage(rows[start : start + query.per_page], len(rows), query.page, query.per_page)

    def get_product(self, product_id: str) -> Product:
        return self.products[int(product_id) - 1]

    def fetch_image(self, image: SourceImage) -> bytes:
        pid = int(image.ref.split("//")[1].split("-")[0])
        return _photo(white=pid % 2 == 0)

    def categories(self) -> list[str]:
        return ["Mugs", "Lamps"]


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    catalog.clear_caches()
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=tmp_path))


def _generated(rt: Runtime, product_ids: list[str], *, state: str = ReviewState.PENDING, kind: str = "demo") -> None:
    with rt.db.transaction() as s:
        job = Job(source_kind=kind, provider="studio", model="studio-v1", style="auto")
        s.add(job)
        s.flush()
        for pid in product_ids:
            s.add(Asset(sha256="0" * 64, kind=AssetKind.GENERATED, job_id=job.id, product_id=pid, review_state=state))


REF = SourceRef("demo", None, "Demo store")


def test_plain_filters_page_at_the_source(rt: Runtime) -> None:
    src = FakeSource(60)
    page = catalog.browse(rt, src, REF, Filters(category="Mugs"), page=2, per_page=10)
    assert page.exact and page.total == 40 and page.pages == 4
    assert [p.id for p in page.products][:3] == ["16", "17", "19"]
    assert page.has_next
    assert src.calls == 1  # one source request per view: paging is the source's job


def test_generated_counts_and_not_generated_filter(rt: Runtime) -> None:
    src = FakeSource(30)
    _generated(rt, ["1", "1", "3"])
    _generated(rt, ["5"], state=ReviewState.REJECTED)  # rejected images do not count
    _generated(rt, ["7"], kind="upload")  # another source's product 7 is not this one
    page = catalog.browse(rt, src, REF, Filters(), per_page=10)
    assert page.generated == {"1": 2, "3": 1}
    fresh = catalog.browse(rt, src, REF, Filters(not_generated=True), per_page=10)
    ids = [p.id for p in fresh.products]
    assert "1" not in ids and "3" not in ids and "5" in ids and "7" in ids
    assert fresh.exact and fresh.total == 28


def test_local_filter_paging_reports_how_far_it_looked(rt: Runtime) -> None:
    src = FakeSource(1000)
    page = catalog.browse(rt, src, REF, Filters(not_generated=True), page=1, per_page=24, scan_budget=200)
    assert len(page.products) == 24 and page.has_next
    # It stops once it has one more than the page needs: no full catalogue scan for page 1.
    assert page.scanned == 100 and not page.exact
    assert "looked at 100 of 1,000" in page.summary


def test_white_background_only(rt: Runtime) -> None:
    src = FakeSource(12)
    page = catalog.browse(rt, src, REF, Filters(white_only=True), per_page=24)
    assert [p.id for p in page.products] == ["2", "4", "6", "8", "10", "12"]
    facts = catalog.image_facts(rt, src, REF, src.products[0].featured)
    assert facts is not None and facts.white_score is not None and facts.white_score < catalog.WHITE_MIN
    assert facts.thumbnail[:2] == b"\xff\xd8"  # a JPEG thumbnail for the grid


def test_white_background_only_checks_only_the_photos_a_page_needs(rt: Runtime) -> None:
    src = FakeSource(1000)
    fetched: list[str] = []
    fetch = src.fetch_image
    src.fetch_image = lambda image: fetched.append(image.ref) or fetch(image)  # type: ignore[method-assign]
    page = catalog.browse(rt, src, REF, Filters(white_only=True), page=1, per_page=10)
    assert [p.id for p in page.products] == [str(i) for i in range(2, 21, 2)]
    assert page.has_next and not page.exact and page.total >= 11
    # At least one match more than the page (11: among the first 22 photos), checked a batch at a time: not a
    # whole chunk of 100 photos.
    assert page.scanned == len(fetched) == len(set(fetched)) < catalog.SCAN_CHUNK
    assert f"looked at {page.scanned} of 1,000" in page.summary
    # The next page checks only photos not seen yet.
    before = len(fetched)
    second = catalog.browse(rt, src, REF, Filters(white_only=True), page=2, per_page=10)
    assert [p.id for p in second.products] == [str(i) for i in range(22, 41, 2)]
    assert len(set(fetched)) == len(fetched) and len(fetched) - before < catalog.SCAN_CHUNK


def test_demo_thumbnails_are_drawn_at_preview_size(rt: Runtime) -> None:
    from lib.sources.demo import DemoSource

    src = DemoSource(rt)
    src.fetch_image = lambda image: pytest.fail("a drawn photo needs no full-size render")  # type: ignore[method-assign]
    facts = catalog.image_facts(rt, src, REF, src.get_product("3").featured)
    assert facts is not None and facts.white_score == 1.0
    with Image.open(io.BytesIO(facts.thumbnail)) as im:
        assert im.size == (catalog.THUMB_SIDE, catalog.THUMB_SIDE)


def test_selection_survives_paging_and_filtering() -> None:
    src = FakeSource(60)
    state = SelectionState("demo")
    first = src.list_products(ProductQuery(per_page=10)).items
    state.add_all(first[:3])
    state.add(src.get_product("2"), "2-1")  # a variation, under its product
    second = src.list_products(ProductQuery(page=2, per_page=10)).items
    state.add(second[0])
    # A filter that hides everything selected changes nothing in the selection.
    state.remove_all([])
    assert len(state) == 5
    assert state.has("2", "2-1") and state.has("11") and state.has("1")
    assert state.summary() == "4 products and 1 variation selected"
    assert state.product_count == 4  # product 2 and its variation count as one product
    state.remove("1")
    assert not state.has("1") and len(state) == 4


def test_select_page_then_clear_the_page_only_touches_that_page() -> None:
    src = FakeSource(30)
    state = SelectionState("demo")
    p1 = src.list_products(ProductQuery(per_page=10)).items
    p2 = src.list_products(ProductQuery(page=2, per_page=10)).items
    assert state.add_all(p1) == 10
    state.add_all(p2[:2])
    state.add(src.get_product("2"), "2-2")
    state.remove_all(p1)  # includes product 2's variations
    assert sorted(state.items) == ["11", "12"]


def test_selection_round_trips_and_becomes_job_selections() -> None:
    src = FakeSource(5)
    state = SelectionState("demo")
    state.add(src.get_product("2"), "2-1")
    state.add(src.get_product("4"))
    copy = SelectionState.from_dict(state.to_dict())
    assert copy.to_dict() == state.to_dict()
    sels = copy.as_job_selections(skip={"4"})
    assert [(s.product.id, s.variation_id) for s in sels] == [("2", "2-1")]
    assert sels[0].product.variation("2-1").name == "Red"


def test_unknown_variation_is_refused() -> None:
    state = SelectionState("demo")
    with pytest.raises(KeyError):
        state.add(FakeSource(3).get_product("1"), "nope")


def test_book_keeps_one_selection_per_source() -> None:
    src = FakeSource(5)
    book = SelectionBook()
    book.active.add(src.get_product("1"))
    book.switch("upload")
    assert len(book.active) == 0
    book.switch("demo")
    assert book.active.has("1")


def test_source_options_list_demo_stores_drives_and_uploads(rt: Runtime) -> None:
    from lib.connections import save_connection

    save_connection(rt.db, rt.vault, kind="woocommerce", name="Shop A", secret={"consumer_key": "ck"})
    save_connection(rt.db, rt.vault, kind="woocommerce", name="Shop B", secret={"consumer_key": "ck"})
    labels = [r.label for r in catalog.source_options(rt)]
    assert labels[0] == "Demo store" and labels[-1] == "Uploads"
    assert labels[1] == "Store: Shop B"  # the active store comes first
    ref = SourceRef.from_key(catalog.source_options(rt)[1].key)
    assert ref.kind == "woocommerce" and ref.connection_id is not None


def test_an_unknown_source_kind_is_a_sentence_not_a_crash(rt: Runtime) -> None:
    from lib.errors import InputError

    with pytest.raises(InputError, match="Unknown product source 'nowhere'"):
        catalog.open_source(rt, catalog.SourceRef.from_key("nowhere:3"))
    with pytest.raises(InputError, match="Google Gemini is not a product source"):
        rt.source("gemini")


def test_check_selection_flags_problem_photos(rt: Runtime) -> None:
    src = FakeSource(4)
    state = SelectionState("demo")
    state.add(src.get_product("1"))  # blue backdrop
    state.add(src.get_product("2"), "2-1")  # variation photo: white (product 2)
    checks, unchecked = catalog.check_selection(rt, src, REF, state)
    assert unchecked == 0
    by_key = {c.key: c for c in checks}
    assert not by_key["1"].ok and by_key["1"].problem
    assert by_key["2/2-1"].ok


def test_check_selection_reports_too_small_and_unreadable_photos(rt: Runtime) -> None:

    class Mixed(FakeSource):
        def fetch_image(self, image: SourceImage) -> bytes:
            pid = image.ref.split("//")[1]
            if pid == "1":
                return _photo(white=True, side=120)  # far below the smallest usable side
            if pid == "2":
                return b"this is not an image"
            return _photo(white=True)

    src = Mixed(4)
    state = SelectionState("demo")
    for pid in ("1", "2", "4"):
        state.add(src.get_product(pid))
    checks, _ = catalog.check_selection(rt, src, REF, state)
    by_key = {c.key: c for c in checks}
    small, unreadable, good = by_key["1"], by_key["2"], by_key["4"]
    assert not small.ok and "at least" in (small.problem or "") and (small.width, small.height) == (120, 120)
    assert not unreadable.ok and unreadable.problem and unreadable.width == 0
    assert good.ok and good.problem is None
