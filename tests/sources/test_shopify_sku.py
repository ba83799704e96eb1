"""Drive photos published to the Shopify shop's product with the same SKU (lib.sku_publish), and rolled back,
against the Drive and Shopify emulators through their real clients."""

from __future__ import annotations

import pytest

from lib import publish
from lib.errors import InputError
from lib.models import Asset, AssetKind, ItemStatus, Job, JobItem, PublicationState, ReviewState
from lib.sku_publish import plan_sku_publish, publish_to_store
from lib.sources.base import ProductQuery
from lib.sources.drive import save_drive
from lib.sources.shopify_check import save_shopify
from tests.emulators.drive import jpeg_bytes, service_account_json
from tests.emulators.shopify import ADMIN_TOKEN

PHOTO = jpeg_bytes((200, 40, 40), (512, 512))


@pytest.fixture
def rt_settings(drive_emu, shopify_waits):
    return {"drive_root_url": drive_emu.url, "http_timeout_seconds": 2.0, "http_retries": 2}


@pytest.fixture
def shop(rt, shopify_emu):
    return save_shopify(rt, shop=shopify_emu.url, access_token=ADMIN_TOKEN, name="Gecko")


def drive_job(rt, drive_emu, folders: tuple[str, ...]) -> int:
    """Drive product folders named `SKU - Name`, and a finished job with one approved image for each."""
    root = drive_emu.add_folder("Catalogue")
    for name in folders:
        drive_emu.add_file("front.jpg", drive_emu.add_folder(name, root), PHOTO)
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=root, mode="folders")
    products = rt.source("drive", conn.id).list_products(ProductQuery()).items
    with rt.db.transaction() as s:
        job = Job(
            source_kind="drive",
            connection_id=conn.id,
            provider="studio",
            model="studio-v1",
            style="oak_table",
            status="succeeded",
            item_count=len(products),
        )
        s.add(job)
        s.flush()
        for n, product in enumerate(products):
            item = JobItem(job_id=job.id, product_id=product.id, product=product.to_dict(), status=ItemStatus.SUCCEEDED)
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
        assert job.id is not None
        return job.id


def test_drive_photos_go_to_the_shopify_product_with_the_same_sku_and_roll_back(rt, drive_emu, shopify_emu, shop):
    job_id = drive_job(rt, drive_emu, ("SH-MUG-RED - Red mug", "SH-TEE-BLK-M - Black tee", "GK-NEW-001 - New lamp"))
    mug = shopify_emu.product_by_title("Red Mug")["id"]
    tee = shopify_emu.product_by_title("Classic Tee")["id"]
    before = {mug: shopify_emu.product_media(mug), tee: shopify_emu.product_media(tee)}
    variant_before = list(shopify_emu.variant_by_sku("SH-TEE-BLK-M")["media"])

    plan = plan_sku_publish(rt, job_id, "featured", store_kind="shopify")
    assert {m.sku: m.store_product_id for m in plan.matches} == {"SH-MUG-RED": str(mug), "SH-TEE-BLK-M": str(tee)}
    assert {m.sku: m.store_variation_id for m in plan.matches}["SH-TEE-BLK-M"] == str(
        shopify_emu.variant_by_sku("SH-TEE-BLK-M")["id"]
    )
    assert len(plan.unmatched) == 1 and "SKU GK-NEW-001" in plan.unmatched[0]
    assert shopify_emu.product_media(mug) == before[mug]  # planning changes nothing

    report = publish_to_store(rt, job_id, "featured", store_kind="shopify")
    assert len(report.publications) == 2
    assert all(p.state == PublicationState.DONE and p.store_kind == "shopify" for p in report.publications)
    by_product = {int(p.product_id): p for p in report.publications}
    new_mug = int(by_product[mug].remote_media_id or 0)
    assert shopify_emu.product_media(mug) == [new_mug, *before[mug]]  # the product's SKU: its main image
    # A variant's SKU: that variant's image (attached to the product, as Shopify shows variant media).
    black_m = shopify_emu.variant_by_sku("SH-TEE-BLK-M")
    new_tee = int(by_product[tee].remote_media_id or 0)
    assert black_m["media"] == [new_tee] and shopify_emu.product_media(tee) == [*before[tee], new_tee]

    again = publish_to_store(rt, job_id, "featured", store_kind="shopify")
    assert [p.id for p in again.publications] == [p.id for p in report.publications]
    assert shopify_emu.counts["uploads"] == 2

    rolled = publish.rollback(rt, job_id=job_id)
    assert shopify_emu.variant_by_sku("SH-TEE-BLK-M")["media"] == variant_before
    assert sorted(rolled.restored) == sorted([str(mug), str(tee)])
    assert shopify_emu.product_media(mug) == before[mug] and shopify_emu.product_media(tee) == before[tee]


def test_no_shop_connected_is_a_sentence(rt, drive_emu):
    job_id = drive_job(rt, drive_emu, ("SH-MUG-RED - Red mug",))
    with pytest.raises(InputError) as err:
        publish_to_store(rt, job_id, "featured", store_kind="shopify")
    assert "No Shopify shop is connected" in err.value.message
