"""Publishing to a Shopify shop and rolling back, through lib.publish, the real httpx client and the Shopify emulator:
featured (first in the media order, the old one kept after it), gallery, variant image; staged upload → fileCreate →
READY → attach/reorder → read back; FAILED media in words; a republish uploads nothing; images over Shopify's limits
scaled; exact rollback of the media order and each variant's media; a person's edit is not overwritten unasked."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from lib import publish
from lib.errors import PublishError
from lib.models import PublicationState
from lib.sources.shopify import open_source
from lib.sources.shopify_check import save_shopify
from lib.sources.shopify_target import fit_limits
from tests.emulators.shopify import ADMIN_TOKEN, NO_FILES_TOKEN
from tests.test_publish import make_job


@pytest.fixture
def rt_settings(shopify_waits):
    return {"http_timeout_seconds": 2.0, "http_retries": 2}


@pytest.fixture
def conn(rt, shopify_emu):
    return save_shopify(rt, shop=shopify_emu.url, access_token=ADMIN_TOKEN, name="Gecko")


@pytest.fixture
def shop(rt, shopify_emu, conn):
    source = open_source(rt, conn)
    return {t: source.get_product(str(shopify_emu.product_by_title(t)["id"])) for t in ("Red Mug", "Classic Tee")}


def media(emu, product) -> list[str]:
    return [str(m) for m in emu.product_media(int(product.id))]


def variant_media(emu, product) -> dict[str, list[int]]:
    return {v.id: emu.variant_media_ids(int(v.id)) for v in product.variations}


def test_featured_goes_first_and_keeps_the_old_one_after_it(rt, shopify_emu, conn, shop):
    mug = shop["Red Mug"]
    before = media(shopify_emu, mug)
    _, assets = make_job(rt, "shopify", conn.id, [(mug, None)])
    [pub] = publish.publish_assets(rt, assets, "featured")
    assert pub.state == PublicationState.DONE, pub.error
    after = media(shopify_emu, mug)
    assert after == [pub.remote_media_id, *before]
    made = shopify_emu.media[int(pub.remote_media_id or 0)]
    assert made["status"] == "READY" and made["filename"] == pub.remote_filename
    assert made["alt"] == "Red Mug on a marble counter"
    assert shopify_emu.counts["uploads"] == 1 and shopify_emu.counts["token_sent_to_storage"] == 0
    assert shopify_emu.counts["reorders_applied"] == 1  # the client waited for the reorder job


def test_gallery_appends_and_a_republish_uploads_nothing(rt, shopify_emu, conn, shop):
    mug = shop["Red Mug"]
    before = media(shopify_emu, mug)
    job_id, assets = make_job(rt, "shopify", conn.id, [(mug, None)])
    [pub] = publish.publish_assets(rt, assets, "gallery")
    assert media(shopify_emu, mug) == [*before, pub.remote_media_id]
    assert publish.publish_assets(rt, assets, "gallery")[0].id == pub.id
    assert shopify_emu.counts["uploads"] == 1 and shopify_emu.counts["files_created"] == 1
    # After a rollback, publishing again finds the file by its name and attaches it without uploading.
    publish.rollback(rt, job_id=job_id)
    assert media(shopify_emu, mug) == before
    [again] = publish.publish_assets(rt, assets, "gallery")
    assert again.state == PublicationState.DONE and again.remote_media_id == pub.remote_media_id
    assert shopify_emu.counts["uploads"] == 1


def test_file_names_carry_the_content_hash(rt, shopify_emu, conn, shop):
    mug = shop["Red Mug"]
    _, assets = make_job(rt, "shopify", conn.id, [(mug, None), (mug, None)])
    pubs = publish.publish_assets(rt, assets, "gallery")
    names = [p.remote_filename for p in pubs]
    assert len(set(names)) == 2 and all(n and n.startswith("sh-mug-red-ai-") for n in names)


def test_variant_image_and_exact_rollback_of_every_variant(rt, shopify_emu, conn, shop):
    tee = shop["Classic Tee"]
    white_m = tee.variations[3]  # has no image yet
    black_s = tee.variations[0]  # has one
    before_list, before_variants = media(shopify_emu, tee), variant_media(shopify_emu, tee)
    job_id, assets = make_job(rt, "shopify", conn.id, [(tee, white_m.id), (tee, black_s.id)])
    pubs = publish.publish_assets(rt, assets, "variation")
    assert [p.state for p in pubs] == [PublicationState.DONE] * 2, [p.error for p in pubs]
    now = variant_media(shopify_emu, tee)
    assert now[white_m.id] == [int(pubs[0].remote_media_id or 0)]
    assert now[black_s.id] == [int(pubs[1].remote_media_id or 0)]
    assert now[tee.variations[1].id] == before_variants[tee.variations[1].id]  # the other Black variant untouched
    assert media(shopify_emu, tee) == before_list + [pubs[0].remote_media_id, pubs[1].remote_media_id]
    report = publish.rollback(rt, job_id=job_id)
    assert report.restored == [tee.id] and not report.conflicts
    assert media(shopify_emu, tee) == before_list
    assert variant_media(shopify_emu, tee) == before_variants


def test_rollback_restores_ids_and_order_exactly(rt, shopify_emu, conn, shop):
    mug = shop["Red Mug"]
    before = media(shopify_emu, mug)
    job_id, assets = make_job(rt, "shopify", conn.id, [(mug, None), (mug, None)])
    publish.publish_assets(rt, assets[:1], "featured")
    publish.publish_assets(rt, assets[1:], "gallery")
    assert len(media(shopify_emu, mug)) == len(before) + 2
    publish.rollback(rt, job_id=job_id)
    assert media(shopify_emu, mug) == before


def test_a_persons_reorder_is_a_conflict_not_overwritten_unless_confirmed(rt, shopify_emu, conn, shop):
    mug = shop["Red Mug"]
    before = media(shopify_emu, mug)
    job_id, assets = make_job(rt, "shopify", conn.id, [(mug, None)])
    publish.publish_assets(rt, assets, "featured")
    edited = list(reversed(shopify_emu.product_media(int(mug.id))))
    shopify_emu.set_product_media(int(mug.id), edited)
    report = publish.rollback(rt, job_id=job_id)
    assert report.conflicts and "reordered" in report.conflicts[0][1]
    assert shopify_emu.product_media(int(mug.id)) == edited
    publish.rollback(rt, job_id=job_id, force=True)
    assert media(shopify_emu, mug) == before


def test_a_persons_variant_edit_is_a_conflict(rt, shopify_emu, conn, shop):
    tee = shop["Classic Tee"]
    white_m = tee.variations[3]
    job_id, assets = make_job(rt, "shopify", conn.id, [(tee, white_m.id)])
    [pub] = publish.publish_assets(rt, assets, "variation")
    black = shopify_emu.variant_by_sku("SH-TEE-BLK-S")["media"][0]
    shopify_emu.set_variant_media(int(white_m.id), [black])
    report = publish.rollback(rt, job_id=job_id)
    assert report.conflicts and "variation" in report.conflicts[0][1]
    assert shopify_emu.variant_media_ids(int(white_m.id)) == [black]
    assert pub.remote_media_id


def test_replacing_a_featured_image_that_a_variant_shows_is_refused_in_words(rt, shopify_emu, conn, shop):
    tee = shop["Classic Tee"]
    before_list, before_variants = media(shopify_emu, tee), variant_media(shopify_emu, tee)
    shopify_emu.set_product_media(
        int(tee.id),
        [
            shopify_emu.variant_by_sku("SH-TEE-BLK-S")["media"][0],
            *[
                m
                for m in shopify_emu.product_media(int(tee.id))
                if m != shopify_emu.variant_by_sku("SH-TEE-BLK-S")["media"][0]
            ],
        ],
    )
    before_list = media(shopify_emu, tee)
    _, assets = make_job(rt, "shopify", conn.id, [(tee, None)])
    [pub] = publish.publish_assets(rt, assets, "featured", keep_old_featured=False)
    assert pub.state == PublicationState.FAILED and "variant" in (pub.error or "")
    assert variant_media(shopify_emu, tee) == before_variants
    assert media(shopify_emu, tee)[: len(before_list)] == before_list  # nothing taken off the product


def test_failed_media_processing_is_an_error_in_words(rt, shopify_emu, conn, shop):
    mug = shop["Red Mug"]
    before = media(shopify_emu, mug)
    shopify_emu.media_failures.append("IMAGE_PROCESSING_FAILURE")
    _, assets = make_job(rt, "shopify", conn.id, [(mug, None)])
    [pub] = publish.publish_assets(rt, assets, "featured")
    assert pub.state == PublicationState.FAILED
    assert "could not process" in (pub.error or "") and pub.remote_filename in (pub.error or "")
    assert media(shopify_emu, mug) == before
    # Publishing again deletes the failed file and uploads anew under the same name.
    [again] = publish.publish_assets(rt, assets, "featured")
    assert again.state == PublicationState.DONE, again.error
    assert len(shopify_emu.media_named(again.remote_filename or "-")) == 1


def test_a_lost_file_create_answer_is_not_a_second_file(rt, shopify_emu, conn, shop):
    mug = shop["Red Mug"]
    shopify_emu.inject("POST", r"#fileCreate", mode="drop_after")
    _, assets = make_job(rt, "shopify", conn.id, [(mug, None)])
    [pub] = publish.publish_assets(rt, assets, "gallery")
    assert pub.state == PublicationState.DONE, pub.error
    assert shopify_emu.counts["files_created"] == 1


def test_throttling_and_5xx_during_publish_are_ridden_out(rt, shopify_emu, conn, shop):
    mug = shop["Red Mug"]
    shopify_emu.inject("POST", r"#productReorderMedia", status=503)
    shopify_emu.inject("POST", r"#fileUpdate", status=429, retry_after=1)
    _, assets = make_job(rt, "shopify", conn.id, [(mug, None)])
    [pub] = publish.publish_assets(rt, assets, "featured")
    assert pub.state == PublicationState.DONE, pub.error
    assert media(shopify_emu, mug)[0] == pub.remote_media_id


def test_missing_write_files_scope_stops_with_a_sentence(rt, shopify_emu, shop):
    conn = save_shopify(rt, shop=shopify_emu.url, access_token=NO_FILES_TOKEN, name="No files")
    _, assets = make_job(rt, "shopify", conn.id, [(shop["Red Mug"], None)])
    with pytest.raises(Exception) as err:
        publish.publish_assets(rt, assets, "featured", connection_id=conn.id)
    assert "write_files" in str(err.value)


def test_large_images_are_scaled_to_shopifys_limits_not_dropped():
    buf = io.BytesIO()
    Image.new("RGB", (6000, 3000), (200, 30, 40)).save(buf, "JPEG", quality=80)
    data, mime, note = fit_limits(buf.getvalue(), "image/jpeg")
    with Image.open(io.BytesIO(data)) as im:
        assert im.width <= 4472 and im.width * im.height <= 20_000_000
    assert mime == "image/jpeg" and note and "6000×3000" in note
    small = io.BytesIO()
    Image.new("RGB", (800, 600)).save(small, "PNG")
    assert fit_limits(small.getvalue(), "image/png") == (small.getvalue(), "image/png", None)
    thin = io.BytesIO()
    Image.new("RGB", (5000, 40)).save(thin, "PNG")
    with pytest.raises(PublishError):
        fit_limits(thin.getvalue(), "image/png")


def test_a_large_output_is_published_scaled(tmp_path, shopify_emu, shopify_waits):
    from tests.conftest import make_runtime

    rt = make_runtime(tmp_path / "big", output_max_side=6000, http_retries=2)
    try:
        conn = save_shopify(rt, shop=shopify_emu.url, access_token=ADMIN_TOKEN)
        mug = open_source(rt, conn).get_product(str(shopify_emu.product_by_title("Red Mug")["id"]))
        _, assets = make_job(rt, "shopify", conn.id, [(mug, None)], size=(5000, 5000))
        [pub] = publish.publish_assets(rt, assets, "gallery")
        assert pub.state == PublicationState.DONE, pub.error
        made = shopify_emu.media[int(pub.remote_media_id or 0)]
        assert made["width"] <= 4472 and made["width"] * made["height"] <= 20_000_000
    finally:
        rt.db.dispose()
