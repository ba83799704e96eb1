"""A Drive job in the Gallery, against the Drive and WooCommerce emulators through their real clients: save the
approved images back to Drive (beside the originals or in a chosen folder, never twice), and publish them to the
connected store by SKU, with the confirmation dialog, then roll back."""

from __future__ import annotations

import pytest

from lib import jobs, publish
from lib.config import Settings
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from lib.sources.drive import save_drive
from lib.sources.woocommerce import save_woocommerce
from lib.worker import run_until_idle
from tests.emulators import drive as drive_emulator
from tests.emulators import woocommerce as woo_emulator
from tests.ui.conftest import assert_ok, page

MARKER = "imagegecko_asset"
STORE_WRITES = ("media_created", "product_updates", "uploads", "variation_updates", "media_updates")


pytestmark = pytest.mark.usefixtures("no_store_waits")  # retry back-offs are not slept (nothing here is timed)


@pytest.fixture
def drive(monkeypatch):
    with drive_emulator.DriveEmulator(page_cap=100) as emu:
        monkeypatch.setenv("DRIVE_ROOT_URL", emu.url)  # the pages' runtime talks to the emulator too
        yield emu


@pytest.fixture
def rt(home, drive):
    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=home, embedded_worker=False))


@pytest.fixture
def shop(rt, drive):
    """A shared drive (where a service account may create files) with two product folders: one whose SKU the
    WooCommerce emulator has (WCR-MUG-RED), one it has not; a finished studio job over both, shown in the gallery."""
    shared = drive.add_shared_drive("Shop photos")
    root = drive.add_folder("Catalogue", shared)
    folders = {}
    for n, name in enumerate(("WCR-MUG-RED - Red mug", "GK-NEW-001 - New lamp")):
        folders[name.split(" - ")[0]] = folder = drive.add_folder(name, root)
        drive.add_file("front.jpg", folder, drive_emulator.jpeg_bytes((180, 40 * n, 40), (480, 480)))
    conn = save_drive(
        rt, credentials_json=drive_emulator.service_account_json(drive), root_folder_id=root, mode="folders"
    )
    products = rt.source("drive", conn.id).list_products(ProductQuery()).items
    job = jobs.create_job(
        rt,
        spec=jobs.JobSpec(source_kind="drive", connection_id=conn.id, style="marble_counter"),
        selections=[jobs.Selection(p) for p in products],
    )
    run_until_idle(rt)
    assert [i.status for i in jobs.job_items(rt.db, job.id)] == ["succeeded"] * 2
    return {"shared": shared, "root": root, "job": job.id, **folders}


def exported(drive):
    return [f for f in drive.files.values() if MARKER in f.app_properties and not f.trashed]


def work(at, rt) -> None:
    """The worker runs the store job the page queued (the tests' app has none embedded); the page reruns."""
    run_until_idle(rt)
    at.run()
    assert_ok(at)


def approved_gallery():
    at = page("gallery").run()
    assert_ok(at)
    at.button(key="gallery_approve_all").click().run()
    assert_ok(at)
    return at


def test_save_to_drive_beside_the_originals_twice_makes_no_duplicate(home, rt, drive, shop) -> None:
    at = approved_gallery()
    assert at.radio(key="gallery_export_where").value == "beside"  # the default
    at.button(key="gallery_export").click().run()
    assert_ok(at)
    assert exported(drive) == []  # queued: the worker saves them
    assert any(s.value.startswith("Saving 2 images to Drive as job") for s in at.success)
    work(at, rt)
    assert not at.error, [e.value for e in at.error]
    files = exported(drive)
    assert sorted(f.name for f in files) == ["GK-NEW-001_marble_counter_v1.jpg", "WCR-MUG-RED_marble_counter_v1.jpg"]
    for sku in ("WCR-MUG-RED", "GK-NEW-001"):
        [generated] = [f for f in drive.children(shop[sku]) if f.name == "generated"]
        assert [f.name for f in drive.children(generated.id)] == [f"{sku}_marble_counter_v1.jpg"]
    assert any("Saved 2 images" in s.value for s in at.success), [s.value for s in at.success]

    at.button(key="gallery_export").click().run()  # again: finds its files instead of making new ones
    assert_ok(at)
    work(at, rt)
    assert sorted(f.id for f in exported(drive)) == sorted(f.id for f in files)
    assert any("Saved 0 images" in s.value and "2 were already there" in s.value for s in at.success)


def test_save_to_drive_into_a_chosen_folder(home, rt, drive, shop) -> None:
    target = drive.add_folder("Lifestyle shots", shop["shared"])
    at = approved_gallery()
    at.radio(key="gallery_export_where").set_value("folder").run()
    at.button(key="gallery_export").click().run()  # no folder given yet
    assert_ok(at)
    assert [e.value for e in at.error] == ["Paste the link (or id) of the Drive folder to save the images to."]
    at.text_input(key="gallery_export_folder").input("https://example.com/not-drive").run()
    at.button(key="gallery_export").click().run()
    assert [e.value for e in at.error] == [
        "That link is not a Drive folder link. Open the folder in Drive and copy its address."
    ]
    assert exported(drive) == []

    at.text_input(key="gallery_export_folder").input(
        f"https://drive.google.com/drive/folders/{target}?usp=sharing"
    ).run()
    at.button(key="gallery_export").click().run()
    assert_ok(at)
    work(at, rt)
    assert not at.error, [e.value for e in at.error]
    assert sorted(f.name for f in drive.children(target)) == [
        "GK-NEW-001_marble_counter_v1.jpg",
        "WCR-MUG-RED_marble_counter_v1.jpg",
    ]
    assert not [f for f in drive.files.values() if f.name == "generated"]  # nothing beside the originals
    assert any("the chosen folder" in s.value for s in at.success)


def _connect_store(rt, woo):
    return save_woocommerce(
        rt,
        url=woo.url,
        key=woo_emulator.CONSUMER_KEY,
        secret=woo_emulator.CONSUMER_SECRET,
        wp_user=woo_emulator.WP_USER,
        app_password=woo_emulator.APP_PASSWORD,
        name="Emulated shop",
    )


def _publish_by_sku(at, rt) -> tuple[list[str], list[str], list[str]]:
    """Open the dialog, read it (captions as shown, warnings, texts), confirm, let the worker publish."""
    at.button(key="gallery_sku_publish").click().run()
    assert_ok(at)
    [dialog] = at.get("dialog")
    captions = [c.value.replace("\\", "") for c in dialog.caption]  # markdown escapes are not shown
    lines = (captions, [w.value for w in dialog.warning], [t.value for t in dialog.text])
    at.button(key="gallery_sku_confirm").click().run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    assert any(s.value.startswith("Publishing 1 image to Emulated shop as job") for s in at.success)
    work(at, rt)
    return lines


def test_publish_by_sku_to_the_store_then_roll_back(home, rt, drive, shop, woo_emu) -> None:
    _connect_store(rt, woo_emu)
    red_mug = next(pid for pid, p in woo_emu.products.items() if p["sku"] == "WCR-MUG-RED")
    before = woo_emu.image_ids(red_mug)
    at = approved_gallery()
    assert at.radio(key="gallery_sku_role").value == "featured"

    captions, warnings, texts = _publish_by_sku(at, rt)
    n = len(before)
    assert (
        f"SKU WCR-MUG-RED → store product #{red_mug}. The new image becomes the featured image; the current one "
        f"moves into the gallery ({n} image{'s' if n != 1 else ''} → {n + 1})."
    ) in captions
    assert texts[0] == "Red mug"  # the product that changes, as text
    assert warnings == ["1 image will not be published, because no store product matches:"]
    assert any(  # in plain words
        t.endswith("of “New lamp” (GK-NEW-001): the store has no product or variation with SKU GK-NEW-001.")
        for t in texts
    )
    after = woo_emu.image_ids(red_mug)
    assert after[1:] == before and after[0] not in before
    [said] = [s.value for s in at.warning]  # a warning: one image was left out
    assert "Published 1 image to Emulated shop." in said and "GK-NEW-001" in said

    at.button(key=f"gallery_rb_{shop['WCR-MUG-RED']}_None").click().run()  # the Drive product's own rollback
    assert_ok(at)
    work(at, rt)
    assert woo_emu.image_ids(red_mug) == before

    at.radio(key="gallery_sku_role").set_value("gallery").run()  # once more, to the gallery; undo the whole job
    _publish_by_sku(at, rt)
    assert woo_emu.image_ids(red_mug)[:-1] == before
    at.button(key="gallery_rollback_job").click().run()
    assert_ok(at)
    work(at, rt)
    assert woo_emu.image_ids(red_mug) == before


def test_publish_by_sku_when_nothing_matches_changes_nothing(home, rt, drive, shop, woo_emu) -> None:
    _connect_store(rt, woo_emu)
    [lamp] = [e for e in jobs.gallery(rt.db, shop["job"]) if e.product_id == shop["GK-NEW-001"]]
    jobs.set_review(
        rt.db, asset_ids=[lamp.assets[0].id], state="approved"
    )  # only the lamp: no store product has its SKU
    writes = {k: woo_emu.counts[k] for k in STORE_WRITES}  # (seeding the store counts too)
    at = page("gallery").run()
    at.button(key="gallery_sku_publish").click().run()
    assert_ok(at)
    [dialog] = at.get("dialog")
    [sentence] = [t.value for t in dialog.text]
    assert sentence == (
        f"Image #{lamp.assets[0].id} of “New lamp” (GK-NEW-001): the store has no product or variation with SKU "
        "GK-NEW-001."
    )
    assert [i.value for i in dialog.info] == ["Nothing to change in the store."]
    assert not [b for b in dialog.button if b.key == "gallery_sku_confirm"]
    at.button(key="gallery_sku_cancel").click().run()
    assert_ok(at)
    assert not at.get("dialog")
    assert {k: woo_emu.counts[k] for k in STORE_WRITES} == writes
    assert publish.product_publications(rt.db, shop["job"]) == []


def test_without_a_store_the_gallery_says_how_to_publish_by_sku(home, rt, drive, shop) -> None:
    at = approved_gallery()
    assert not [b for b in at.button if b.key == "gallery_sku_publish"]
    assert any("Connect a WooCommerce store" in c.value for c in at.caption)
