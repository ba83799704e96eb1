"""Drive photos published to the connected WooCommerce store, matched by SKU, through lib.publish (and rolled back),
against the Drive and WooCommerce emulators through their real clients."""

from __future__ import annotations

import pytest

from lib import publish
from lib.errors import InputError
from lib.models import Asset, AssetKind, ItemStatus, Job, JobItem, PublicationState, ReviewState
from lib.sku_publish import plan_sku_publish, publish_to_store
from lib.sources.base import ProductQuery
from lib.sources.drive import save_drive
from lib.sources.woocommerce import save_woocommerce
from tests.emulators.drive import jpeg_bytes, service_account_json
from tests.emulators.woocommerce import APP_PASSWORD, CONSUMER_KEY, CONSUMER_SECRET, WP_USER

PHOTO = jpeg_bytes((200, 40, 40), (512, 512))


pytestmark = pytest.mark.usefixtures("no_store_waits")


@pytest.fixture
def shop(rt, woo_emu):
    return save_woocommerce(
        rt,
        url=woo_emu.url,
        key=CONSUMER_KEY,
        secret=CONSUMER_SECRET,
        wp_user=WP_USER,
        app_password=APP_PASSWORD,
        name="Shop",
    )


@pytest.fixture
def rt_settings(drive_emu):
    return {"drive_root_url": drive_emu.url, "http_timeout_seconds": 2.0, "http_retries": 2}


def drive_job(rt, drive_emu) -> int:
    """Two Drive product folders, one whose SKU the store has (WCR-MUG-RED) and one it does not; a finished job with
    one approved image for each (as the worker and the gallery leave it)."""
    root = drive_emu.add_folder("Catalogue")
    for name in ("WCR-MUG-RED - Red mug", "GK-NEW-001 - New lamp"):
        drive_emu.add_file("front.jpg", drive_emu.add_folder(name, root), PHOTO)
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=root, mode="folders")
    products = rt.source("drive", conn.id).list_products(ProductQuery()).items
    with rt.db.transaction() as s:
        job = Job(
            source_kind="drive",
            connection_id=conn.id,
            provider="studio",
            model="studio-v1",
            style="marble_counter",
            status="succeeded",
            item_count=len(products),
        )
        s.add(job)
        s.flush()
        for n, product in enumerate(products):
            item = JobItem(
                job_id=job.id,
                product_id=product.id,
                product={**product.to_dict(), "style": "oak_table"},
                status=ItemStatus.SUCCEEDED,
            )
            s.add(item)
            s.flush()
            data = jpeg_bytes((30 * n, 120, 90), (800, 800))
            s.add(
                Asset(
                    sha256=rt.blobs.put(data),
                    kind=AssetKind.GENERATED,
                    size_bytes=len(data),
                    width=800,
                    height=800,
                    job_id=job.id,
                    item_id=item.id,
                    product_id=product.id,
                    alt_text=f"{product.name} on an oak table",
                    review_state=ReviewState.APPROVED,
                )
            )
        return job.id


def test_drive_images_go_to_the_store_product_with_the_same_sku_and_roll_back(rt, drive_emu, woo_emu, shop):
    job_id = drive_job(rt, drive_emu)
    red_mug = next(pid for pid, p in woo_emu.products.items() if p["sku"] == "WCR-MUG-RED")
    before = woo_emu.image_ids(red_mug)

    report = publish_to_store(rt, job_id, "featured")

    [unmatched] = report.unmatched
    assert unmatched.endswith(" of “New lamp” (GK-NEW-001): the store has no product or variation with SKU GK-NEW-001.")
    [pub] = report.publications
    assert pub.state == PublicationState.DONE and pub.product_id == str(red_mug) and pub.store_kind == "woocommerce"
    after = woo_emu.image_ids(red_mug)
    assert after[0] == int(pub.remote_media_id) and after[1:] == before  # new featured; the old one kept in gallery
    assert woo_emu.media[after[0]]["alt"] == "Red mug on an oak table"

    again = publish_to_store(rt, job_id, "featured")  # a retry changes nothing at the store
    assert woo_emu.image_ids(red_mug) == after and again.publications[0].id == pub.id

    report = publish.rollback(rt, job_id=job_id)
    assert report.restored == [str(red_mug)] and woo_emu.image_ids(red_mug) == before
    assert woo_emu.errors == []


def test_publishing_needs_a_store(rt, drive_emu):
    job_id = drive_job(rt, drive_emu)
    with pytest.raises(InputError, match="No WooCommerce store is connected"):
        publish_to_store(rt, job_id)


def test_the_plan_says_what_publishing_would_change_and_changes_nothing(rt, drive_emu, woo_emu, shop):
    job_id = drive_job(rt, drive_emu)
    red_mug = next(pid for pid, p in woo_emu.products.items() if p["sku"] == "WCR-MUG-RED")
    before = woo_emu.image_ids(red_mug)

    plan = plan_sku_publish(rt, job_id, "featured")

    assert woo_emu.image_ids(red_mug) == before and woo_emu.counts["uploads"] == 0
    assert woo_emu.counts["product_updates"] == 0
    assert plan.store_name == "Shop" and plan.already == 0
    [match] = plan.matches
    assert (match.name, match.sku, match.store_product_id) == ("Red mug", "WCR-MUG-RED", str(red_mug))
    assert match.change == (
        f"The new image becomes the featured image; the current one moves into the gallery "
        f"({len(before)} image{'' if len(before) == 1 else 's'} → {len(before) + 1})."
    )
    assert plan.unmatched == publish_to_store(rt, job_id, "featured").unmatched  # the same sentences as publishing
    assert len(woo_emu.image_ids(red_mug)) == len(before) + 1  # (that publish did change the store)

    again = plan_sku_publish(rt, job_id, "featured")
    assert again.matches == [] and again.already == 1  # what is published is not offered again


def test_the_variation_role_leaves_out_photos_whose_sku_is_a_product(rt, drive_emu, woo_emu, shop):
    job_id = drive_job(rt, drive_emu)
    plan = plan_sku_publish(rt, job_id, "variation")
    assert plan.matches == [] and len(plan.unmatched) == 2
    assert any("SKU WCR-MUG-RED is a product in the store, not a variation" in u for u in plan.unmatched)
    with pytest.raises(InputError, match="^Nothing was published. Image #"):
        publish_to_store(rt, job_id, "variation")
    assert woo_emu.counts["uploads"] == 0
