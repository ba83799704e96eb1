"""A WooCommerce store through the screens, against the loopback emulator: connect with the checklist, browse it,
generate, publish and roll back."""

from __future__ import annotations

import pytest

from lib import jobs, ui
from lib.connections import list_connections, read_secret
from lib.worker import run_until_idle
from tests.emulators import woocommerce as emulator
from tests.ui.conftest import assert_ok, page


@pytest.fixture
def emu():
    with emulator.WooEmulator() as e:
        yield e


def _fill_store_form(at, emu, secret: str) -> None:
    at.text_input(key="connect_woo_name").input("Emulated shop")
    at.text_input(key="connect_woo_url").input(emu.url)
    at.text_input(key="connect_woo_ck").input(emulator.CONSUMER_KEY)
    at.text_input(key="connect_woo_cs").input(secret)
    at.text_input(key="connect_woo_user").input(emulator.WP_USER)
    at.text_input(key="connect_woo_app").input(emulator.APP_PASSWORD)


def test_checklist_shows_what_failed_and_how_to_fix_it(home, emu) -> None:
    at = page("connect").run()
    _fill_store_form(at, emu, "cs_wrong_secret")
    at.button(key="connect_woo_check").click().run()
    assert_ok(at)
    lines = [m.value for m in at.markdown]
    assert any("WooCommerce store" in v and "check_circle" in v for v in lines)
    assert any("API key valid" in v and ":material/cancel:" in v for v in lines)
    assert any(c.value.startswith("Fix:") for c in at.caption)


def test_save_store_then_browse_generate_publish_and_roll_back(home, rt, emu) -> None:
    at = page("connect").run()
    _fill_store_form(at, emu, emulator.CONSUMER_SECRET)
    at.button(key="connect_woo_check").click().run()
    assert not [m.value for m in at.markdown if ":material/cancel:" in m.value]
    at.button(key="connect_woo_save").click().run()
    assert_ok(at)
    [conn] = list_connections(rt.db, "woocommerce")
    secret = read_secret(rt.vault, conn)
    text = " ".join(str(e.value) for e in [*at.markdown, *at.caption, *at.success, *at.text_input])
    assert emulator.CONSUMER_SECRET not in text and secret["app_password"] not in text  # never shown again
    assert conn.name == "Emulated shop" and conn.is_active

    products = page("products").run()
    products.selectbox(key="prod_source").set_value(f"woocommerce:{conn.id}").run()
    assert_ok(products)
    picks = [
        c.key for c in products.checkbox if c.key.startswith(f"prod_pick_woocommerce:{conn.id}_") and "/" not in c.key
    ][:2]
    assert len(picks) == 2
    for key in picks:
        products.checkbox(key=key).check().run()
    book = products.session_state[ui.SELECTIONS]
    assert len(book.active) == 2

    gen = page("generate", **{ui.SELECTIONS: book}).run()
    gen.button(key="gen_launch").click().run()
    assert_ok(gen)
    job_id = gen.session_state[ui.CURRENT_JOB]
    run_until_idle(rt)
    assert jobs.get_job(rt.db, job_id).status == "succeeded"

    pids = [i.product_id for i in jobs.job_items(rt.db, job_id)]
    store = rt.publish_target("woocommerce", conn.id)  # reads the store over its REST API
    before = {pid: store.product_image_ids(pid) for pid in pids}
    gal = page("gallery").run()
    gal.button(key="gallery_approve_all").click().run()
    # The emulator's photos are plain blocks the fidelity check may not recognise: Approve all leaves an image it
    # calls redrawn for a look, and approving one on its card asks once, so a person approves it with two clicks.
    for item in jobs.job_items(rt.db, job_id):
        if gal.button(key=f"gallery_ok_{item.result_asset_id}").disabled:
            continue
        gal.button(key=f"gallery_ok_{item.result_asset_id}").click().run()
        gal.button(key=f"gallery_ok_{item.result_asset_id}").click().run()
    gal.button(key="gallery_publish").click().run()
    assert any("will change in the WooCommerce" in m.value for m in gal.markdown)
    gal.button(key="gallery_publish_confirm").click().run()
    assert_ok(gal)
    assert any("Publishing 2 images to the WooCommerce" in s.value for s in gal.success)
    run_until_idle(rt)  # the worker runs the store job the page queued
    gal.run()
    assert_ok(gal)
    assert any("Published 2 images" in s.value for s in gal.success)
    for pid in pids:
        now = store.product_image_ids(pid)
        assert now[0] not in before[pid] and now[1:] == before[pid]

    gal.button(key="gallery_rollback_job").click().run()
    assert_ok(gal)
    run_until_idle(rt)  # the worker runs the store job the page queued
    gal.run()
    assert_ok(gal)
    assert any("Restored the old images of 2 products" in s.value for s in gal.success)
    assert {pid: store.product_image_ids(pid) for pid in pids} == before


def test_an_unreachable_store_is_named_on_products_with_the_way_to_connect(home, rt) -> None:
    with emulator.WooEmulator() as gone:
        at = page("connect").run()
        _fill_store_form(at, gone, emulator.CONSUMER_SECRET)
        at.button(key="connect_woo_check").click().run()
        at.button(key="connect_woo_save").click().run()
        [conn] = list_connections(rt.db, "woocommerce")
    # The emulator has stopped: the saved, active store no longer answers.
    products = page("products").run()
    products.selectbox(key="prod_source").set_value(f"woocommerce:{conn.id}").run()
    [error] = products.error
    assert "Emulated shop could not be reached." in error.value
    # The way to fix it: a link to Connect (a caption when the page runs on its own, as here).
    assert any("Emulated shop on the Connect page" in str(c.value) for c in products.caption)


def test_saving_a_store_that_fails_its_test_asks_first(home, rt, emu) -> None:
    at = page("connect").run()
    _fill_store_form(at, emu, "cs_wrong_secret")
    at.button(key="connect_woo_save").click().run()  # no test run before: Save tests first
    assert_ok(at)
    assert list_connections(rt.db, "woocommerce") == []  # nothing saved silently
    assert [w.value for w in at.warning] == ["This store failed its test. Save anyway?"]
    assert any("API key valid" in m.value and ":material/cancel:" in m.value for m in at.markdown)

    at.button(key="connect_woo_save_no").click().run()  # "Don't save": the question goes, nothing is saved
    assert not at.warning and list_connections(rt.db, "woocommerce") == []

    at.button(key="connect_woo_check").click().run()  # tested, failed, then Save: asked again
    at.button(key="connect_woo_save").click().run()
    assert [w.value for w in at.warning] == ["This store failed its test. Save anyway?"]
    at.button(key="connect_woo_save_anyway").click().run()
    assert_ok(at)
    [conn] = list_connections(rt.db, "woocommerce")
    assert conn.name == "Emulated shop" and conn.last_error and conn.last_error.startswith("API key valid")
    assert any("Saved Emulated shop though its test failed" in s.value for s in at.success)


def test_a_store_that_passes_its_test_is_saved_at_once(home, rt, emu) -> None:
    at = page("connect").run()
    _fill_store_form(at, emu, emulator.CONSUMER_SECRET)
    at.button(key="connect_woo_save").click().run()
    assert_ok(at)
    [conn] = list_connections(rt.db, "woocommerce")
    assert conn.verified_at is not None and conn.last_error is None  # the test's outcome is kept: "working"
    assert not at.warning and any("Saved Emulated shop. It is now the active store." in s.value for s in at.success)
