"""A Shopify shop through the screens, against the loopback emulator: connect with the checklist (secrets never shown
again), browse it, generate, publish from the Gallery and roll back."""

from __future__ import annotations

from lib import jobs, ui
from lib.connections import list_connections, read_secret
from lib.sources.shopify_check import save_shopify
from lib.worker import run_until_idle
from tests.emulators.shopify import ADMIN_TOKEN, NO_FILES_TOKEN
from tests.ui.conftest import assert_ok, page


def _fill(at, emu, token: str) -> None:
    at.text_input(key="connect_shopify_name").input("Emulated shop")
    at.text_input(key="connect_shopify_shop").input(emu.url)
    at.radio(key="connect_shopify_way").set_value("Admin API access token").run()
    at.text_input(key="connect_shopify_token").input(token)


def test_checklist_names_the_missing_scope_and_how_to_fix_it(home, shopify_emu, shopify_waits) -> None:
    at = page("connect").run()
    _fill(at, shopify_emu, NO_FILES_TOKEN)
    at.button(key="connect_shopify_check").click().run()
    assert_ok(at)
    lines = [m.value.replace("\\", "") for m in at.markdown]  # shown escaped (write\\_files)
    assert any("Scope write_products" in v and "check_circle" in v for v in lines)
    assert any("Scope write_files" in v and ":material/cancel:" in v for v in lines)
    assert any(c.value.startswith("Fix:") and "write\\_files" in c.value for c in at.caption)


def test_save_shop_then_browse_generate_publish_and_roll_back(home, rt, shopify_emu, shopify_waits) -> None:
    at = page("connect").run()
    _fill(at, shopify_emu, ADMIN_TOKEN)
    at.button(key="connect_shopify_check").click().run()
    assert not [m.value for m in at.markdown if ":material/cancel:" in m.value]
    at.button(key="connect_shopify_save").click().run()
    assert_ok(at)
    [conn] = list_connections(rt.db, "shopify")
    assert read_secret(rt.vault, conn) == {"access_token": ADMIN_TOKEN}
    text = " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.success, *at.text_input, *at.text])
    assert ADMIN_TOKEN not in text  # never shown again

    products = page("products").run()
    products.selectbox(key="prod_source").set_value(f"shopify:{conn.id}").run()
    assert_ok(products)
    picks = [c.key for c in products.checkbox if c.key.startswith(f"prod_pick_shopify:{conn.id}_") and "/" not in c.key]
    picks = picks[:2]
    assert len(picks) == 2
    for key in picks:
        products.checkbox(key=key).check().run()
    book = products.session_state[ui.SELECTIONS]

    gen = page("generate", **{ui.SELECTIONS: book}).run()
    gen.button(key="gen_launch").click().run()
    assert_ok(gen)
    job_id = gen.session_state[ui.CURRENT_JOB]
    run_until_idle(rt)
    assert jobs.get_job(rt.db, job_id).status == "succeeded"

    pids = sorted({int(i.product_id) for i in jobs.job_items(rt.db, job_id)})
    before = {pid: shopify_emu.product_media(pid) for pid in pids}
    gal = page("gallery").run()
    gal.button(key="gallery_approve_all").click().run()
    gal.button(key="gallery_publish").click().run()
    gal.button(key="gallery_publish_confirm").click().run()
    assert_ok(gal)
    run_until_idle(rt)  # the worker runs the store job the page queued
    gal.run()
    assert_ok(gal)
    assert any("Published 2 images" in s.value for s in gal.success)
    for pid in pids:
        now = shopify_emu.product_media(pid)
        assert now[0] not in before[pid] and now[1:] == before[pid]

    gal.button(key="gallery_rollback_job").click().run()
    assert_ok(gal)
    run_until_idle(rt)  # the worker runs the store job the page queued
    gal.run()
    assert_ok(gal)
    assert any("Restored the old images of 2 products" in s.value for s in gal.success)
    assert {pid: shopify_emu.product_media(pid) for pid in pids} == before


def test_products_page_filters_a_shop_by_product_type(home, rt, shopify_emu, shopify_waits) -> None:
    conn = save_shopify(rt, shop=shopify_emu.url, access_token=ADMIN_TOKEN, name="Gecko")
    products = page("products").run()
    products.selectbox(key="prod_source").set_value(f"shopify:{conn.id}").run()
    products.selectbox(key="prod_type").set_value("Lamps").run()
    assert_ok(products)
    lamp = shopify_emu.product_by_title("Green Lamp")["id"]
    keys = [c.key for c in products.checkbox if c.key.startswith(f"prod_pick_shopify:{conn.id}_")]
    assert keys and all(k.endswith(f"_{lamp}") for k in keys)
