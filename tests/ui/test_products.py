"""Products page: pick from the demo store, keep the selection across pages and filters, upload photos."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from lib import ui
from lib.catalog import SelectionBook
from tests.ui.conftest import assert_ok, page


def _book(at) -> SelectionBook:
    return at.session_state[ui.SELECTIONS]


def test_demo_catalogue_renders_with_checkboxes(home) -> None:
    at = page("products").run()
    assert_ok(at)
    keys = [c.key for c in at.checkbox]
    assert "prod_pick_demo_1" in keys
    assert any("Nothing selected" in m.value for m in at.markdown)


def test_selection_survives_paging_and_filtering(home) -> None:
    at = page("products", prod_per_page=12).run()
    at.checkbox(key="prod_pick_demo_1").check().run()
    at.checkbox(key="prod_pick_demo_3").check().run()
    assert_ok(at)
    assert sorted(_book(at).active.items) == ["1", "3"]
    at.button(key="prod_next").click().run()  # page 2
    assert_ok(at)
    assert "prod_pick_demo_1" not in [c.key for c in at.checkbox]
    second = [c.key for c in at.checkbox if c.key.startswith("prod_pick_demo_")][0]
    at.checkbox(key=second).check().run()
    at.text_input(key="prod_search").input("zzz-no-such-product").run()  # filter hides everything
    assert_ok(at)
    assert any("No products match" in s.value for s in at.subheader)
    at.text_input(key="prod_search").input("").run()
    assert_ok(at)
    assert len(_book(at).active) == 3
    assert at.checkbox(key="prod_pick_demo_1").value is True  # back on page 1, still ticked
    assert any("3 products selected" in m.value for m in at.markdown)


def test_select_page_and_clear(home) -> None:
    at = page("products", prod_per_page=12).run()
    at.button(key="prod_select_page").click().run()
    assert len(_book(at).active) == 12
    at.button(key="prod_clear").click().run()
    assert_ok(at)
    assert len(_book(at).active) == 0
    assert at.checkbox(key="prod_pick_demo_1").value is False


def test_variations_are_listed_under_their_product_and_selectable(home) -> None:
    at = page("products", prod_per_page=48).run()
    var_keys = [c.key for c in at.checkbox if "/" in c.key]
    assert len(var_keys) >= 3, "the demo store has a variable product with at least 3 variations"
    at.checkbox(key=var_keys[0]).check().run()
    assert_ok(at)
    assert _book(at).active.variation_count == 1
    assert any("1 variation selected" in m.value for m in at.markdown)


def test_category_filter(home) -> None:
    at = page("products").run()
    categories = [o for o in at.selectbox(key="prod_category").options if o != "All categories"]
    at.selectbox(key="prod_category").set_value(categories[0]).run()
    assert_ok(at)
    assert all(categories[0] in c.value for c in at.caption if "SKU" in c.value)


def test_uploads_source_turns_photos_into_products(home) -> None:
    pytest.importorskip("lib.images")
    at = page("products").run()
    at.selectbox(key="prod_source").set_value("upload").run()
    assert_ok(at)
    assert any("No uploads yet" in s.value for s in at.subheader)

    def jpeg(colour: tuple[int, int, int]) -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (700, 700), colour).save(buf, "JPEG")
        return buf.getvalue()

    uploader = at.get("file_uploader")[0]
    uploader.upload("white-vase.jpg", jpeg((255, 255, 255)), "image/jpeg")
    uploader.upload("broken.jpg", b"not really a jpeg", "image/jpeg")
    at.run()
    at.button(key="prod_upload_add").click().run()
    assert_ok(at)
    assert any("broken.jpg" in w.value for w in at.warning)
    assert any(t.value == "White vase" for t in at.text)


def test_product_names_are_shown_as_text_never_as_html(home, rt) -> None:
    pytest.importorskip("lib.images")
    from lib.sources import upload

    buf = io.BytesIO()
    Image.new("RGB", (700, 700), (255, 255, 255)).save(buf, "JPEG")
    [p] = upload.add_uploads(rt, [("x.jpg", buf.getvalue())])
    name = '<img src=x onerror="alert(1)"> **Bold** Mug'
    upload.rename(rt, p.id, name, sku="<b>SKU</b>")
    at = page("products").run()
    at.selectbox(key="prod_source").set_value("upload").run()
    assert_ok(at)
    assert name in [t.value for t in at.text]  # st.text: shown exactly as typed
    markdown = [m.value for m in [*at.markdown, *at.caption]]
    assert not any("<img" in v or "<b>" in v for v in markdown)  # anything markdown-rendered is escaped


def test_list_view_shows_the_same_selection(home) -> None:
    at = page("products").run()
    at.checkbox(key="prod_pick_demo_2").check().run()
    at.segmented_control(key="prod_view").set_value("List").run()
    assert_ok(at)
    assert at.checkbox(key="prod_pick_demo_2").value is True
    assert "GK-BTL-002" in [t.value for t in at.text]  # the SKU column
