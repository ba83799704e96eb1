"""Products page: pick from the demo store, keep the selection across pages and filters, upload photos."""

from __future__ import annotations

import io

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


def _names(at) -> list[str]:
    return [t.value for t in at.text]


def test_search_and_stock_filters_go_to_the_source(home) -> None:
    at = page("products").run()
    everything = _names(at)
    at.text_input(key="prod_search").input("mug").run()
    assert_ok(at)
    assert _names(at) and all("mug" in n.lower() for n in _names(at))
    assert len(_names(at)) < len(everything)
    at.text_input(key="prod_search").input("").run()
    at.selectbox(key="prod_stock").set_value("outofstock").run()
    assert_ok(at)
    metas = [c.value for c in at.caption if c.value.startswith("SKU")]
    assert metas and all(m.endswith("Out of stock") for m in metas)
    assert len(metas) < len(everything)


def test_grid_shows_a_thumbnail_per_product_and_how_many_were_generated(home, rt) -> None:
    from tests.ui.conftest import make_job

    make_job(rt, ["1"], variants=2)
    at = page("products").run()
    assert_ok(at)
    assert len(at.get("image")) == len(_names(at))  # one thumbnail per card
    assert [m.value for m in at.markdown if "generated" in m.value] == [":green-badge[2 generated]"]
    at.segmented_control(key="prod_view").set_value("List").run()
    assert_ok(at)
    rows = [_names(at)[i : i + 5] for i in range(0, len(_names(at)), 5)]  # name, SKU, category, stock, generated
    assert len(at.get("image")) == len(rows)
    assert rows[0] == ["Stoneware Mug", "GK-MUG-001", "Kitchen", "In stock", "2"]
    assert {r[4] for r in rows[1:]} == {"0"}


def test_no_generated_image_yet_hides_products_that_have_one(home, rt) -> None:
    from lib.sources.demo import DemoSource
    from tests.ui.conftest import make_job

    done = DemoSource(rt).get_product("1").name
    make_job(rt, ["1"])
    at = page("products").run()
    assert done in _names(at)
    at.toggle(key="prod_new").set_value(True).run()
    assert_ok(at)
    assert done not in _names(at) and _names(at)


def _jpeg(side: int, colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (side, side), colour).save(buf, "JPEG")
    return buf.getvalue()


def test_white_background_only_keeps_photos_on_white(home, rt) -> None:
    from lib.sources import upload

    upload.add_uploads(
        rt, [("white-vase.jpg", _jpeg(700, (255, 255, 255))), ("grey-vase.jpg", _jpeg(700, (90, 90, 90)))]
    )
    at = page("products").run()
    at.selectbox(key="prod_source").set_value("upload").run()
    assert sorted(_names(at)) == ["Grey vase", "White vase"]
    at.toggle(key="prod_white").set_value(True).run()
    assert_ok(at)
    assert _names(at) == ["White vase"]


def test_an_uploaded_product_is_named_on_the_page(home, rt) -> None:
    from lib.sources import upload

    [p] = upload.add_uploads(rt, [("IMG_0042.jpg", _jpeg(700, (255, 255, 255)))])
    at = page("products").run()
    at.selectbox(key="prod_source").set_value("upload").run()
    assert _names(at) == ["IMG 0042"]  # a readable start, from the file name
    at.text_input(key=f"prod_rn_name_{p.id}").input("Blue stoneware vase")
    at.text_input(key=f"prod_rn_sku_{p.id}").input("VASE-01")
    at.button(key=f"prod_rn_save_{p.id}").click().run()
    assert_ok(at)
    assert _names(at) == ["Blue stoneware vase"]
    assert any("SKU VASE-01" in c.value for c in at.caption)
    assert rt.source("upload").get_product(str(p.id)).name == "Blue stoneware vase"
    at.text_input(key=f"prod_rn_name_{p.id}").input("   ")
    at.button(key=f"prod_rn_save_{p.id}").click().run()
    assert_ok(at)
    assert [e.value for e in at.error] == ["Give the product a name."]  # a sentence where the user acts


def test_a_store_that_does_not_answer_is_a_sentence(home, rt) -> None:
    from lib.connections import save_connection

    conn = save_connection(
        rt.db,
        rt.vault,
        kind="woocommerce",
        name="Closed shop",
        base_url="http://127.0.0.1:9",
        secret={"consumer_key": "ck_x", "consumer_secret": "cs_x"},
    )
    at = page("products").run()
    at.selectbox(key="prod_source").set_value(f"woocommerce:{conn.id}").run()
    assert_ok(at)
    assert len(at.error) == 1 and at.error[0].value.endswith(".")
