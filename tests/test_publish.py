"""Publishing approved images to a store and rolling back, on the WooCommerce emulator (through the real clients)
and on the embedded demo store. Fault cases: a 5xx on the update after the upload, a timeout, an upload whose answer
is lost, and a process killed between the upload and recording it."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sqlmodel import select

from lib import cli, publish
from lib.connections import list_connections
from lib.errors import InputError, PublishError, SourceAuthError
from lib.models import Asset, AssetKind, Event, Job, JobItem, Publication, PublicationState, ReviewState
from lib.sources import wc_client
from lib.sources.base import Product
from lib.sources.demo import DemoSource, DemoStore
from lib.sources.woocommerce import open_source, open_target, save_woocommerce
from tests.conftest import ScriptedProvider, make_runtime
from tests.emulators.woocommerce import (
    APP_PASSWORD,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    READ_ONLY_KEY,
    READ_ONLY_SECRET,
    WP_USER,
)


class Killed(BaseException):
    """The process dies: nothing after this point runs (not even `except Exception` handlers)."""


@pytest.fixture
def waits(monkeypatch):
    recorded: list[float] = []
    monkeypatch.setattr(wc_client, "SLEEP", recorded.append)
    monkeypatch.setattr(publish, "SLEEP", recorded.append)
    monkeypatch.setattr(publish, "HOOKS", {})
    return recorded


@pytest.fixture
def rt_settings(waits):
    return {"http_timeout_seconds": 1.0, "http_retries": 2}


@pytest.fixture
def conn(rt, woo_emu):
    return save_woocommerce(
        rt,
        url=woo_emu.url,
        key=CONSUMER_KEY,
        secret=CONSUMER_SECRET,
        wp_user=WP_USER,
        app_password=APP_PASSWORD,
        name="Shop",
    )


def jpeg(seed: int, size: tuple[int, int] = (640, 640)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, ((seed * 53) % 256, (seed * 97) % 256, (seed * 31) % 256)).save(buf, "JPEG")
    return buf.getvalue()


def noisy_jpeg(size: tuple[int, int]) -> bytes:
    """A photo-like image with detail everywhere, so the output quality setting shows in the file size."""
    import random

    rng = random.Random(4)
    im = Image.frombytes("RGB", size, bytes(rng.getrandbits(8) for _ in range(size[0] * size[1] * 3)))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def make_job(
    rt,
    kind: str,
    connection_id: int | None,
    picks: list[tuple[Product, str | None]],
    *,
    approve: bool = True,
    size: tuple[int, int] = (640, 640),
    image: bytes | None = None,
) -> tuple[int, list[int]]:
    """A finished job with one generated (approved) image per pick, as the worker leaves it."""
    blobs = [(rt.blobs.put(data), len(data)) for data in (image or jpeg(i + 1, size) for i in range(len(picks)))]
    with rt.db.transaction() as s:
        job = Job(
            source_kind=kind,
            connection_id=connection_id,
            provider="studio",
            model="studio-v1",
            style="marble_counter",
            item_count=len(picks),
            status="succeeded",
        )
        s.add(job)
        s.flush()
        ids = []
        for (product, variation_id), (sha, n) in zip(picks, blobs, strict=True):
            item = JobItem(
                job_id=job.id,
                product_id=product.id,
                variation_id=variation_id,
                product=product.to_dict(),
                status="succeeded",
            )
            s.add(item)
            s.flush()
            asset = Asset(
                sha256=sha,
                kind=AssetKind.GENERATED,
                mime="image/jpeg",
                size_bytes=n,
                width=size[0],
                height=size[1],
                job_id=job.id,
                item_id=item.id,
                product_id=product.id,
                variation_id=variation_id,
                alt_text=f"{product.name} on a marble counter",
                review_state=ReviewState.APPROVED if approve else ReviewState.PENDING,
            )
            s.add(asset)
            s.flush()
            item.result_asset_id = asset.id
            s.add(item)
            ids.append(asset.id)
        return job.id, ids


@pytest.fixture
def woo(rt, conn):
    source = open_source(rt, conn)
    return {pid: source.get_product(pid) for pid in ("17", "18", "19", "21")}


def uploads(emu) -> int:
    return emu.counts["uploads"]


def ids(emu, pid) -> list[str]:
    return [str(i) for i in emu.image_ids(pid)]


# Roles -------------------------------------------------------------------------------------------------------


def test_featured_keeps_the_old_featured_in_the_gallery(rt, woo_emu, conn, woo):
    job_id, (asset_id,) = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.DONE and pub.error is None
    media = woo_emu.media[int(pub.remote_media_id)]
    with rt.db.session() as s:
        sha = s.get(Asset, asset_id).sha256
    assert media["file"] == f"wcr-mug-red-ai-{sha[:8]}.jpg" == pub.remote_filename
    assert media["alt"] == "Red Mug on a marble counter" and "Red Mug" in media["title"]
    assert media["mime"] == "image/jpeg"
    assert ids(woo_emu, 17) == [pub.remote_media_id, "10"]
    assert pub.before_images == ["10"] and pub.after_images == [pub.remote_media_id, "10"]
    assert uploads(woo_emu) == 1 and woo_emu.counts["product_updates"] == 1


def test_featured_can_replace_the_old_featured(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["19"], None)])
    (pub,) = publish.publish_job(rt, job_id, "featured", keep_old_featured=False)
    assert ids(woo_emu, 19) == [pub.remote_media_id, "13"]
    assert 12 in woo_emu.media  # the old image stays in the media library


def test_gallery_appends(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["19"], None)])
    (pub,) = publish.publish_job(rt, job_id, "gallery")
    assert ids(woo_emu, 19) == ["12", "13", pub.remote_media_id]


def test_variation_image(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["21"], "27")])
    (pub,) = publish.publish_job(rt, job_id, "variation")
    assert pub.state == PublicationState.DONE
    assert str(woo_emu.variation_image(27)) == pub.remote_media_id
    assert pub.before_variation_image == "16" and pub.after_variation_image == pub.remote_media_id
    assert ids(woo_emu, 21) == ["14"]  # the parent's list is untouched
    assert woo_emu.media[int(pub.remote_media_id)]["file"].startswith("wcr-tee-blue-l-ai-")


def test_variation_role_needs_a_variation(rt, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    with pytest.raises(InputError):
        publish.publish_job(rt, job_id, "variation")
    with pytest.raises(InputError):
        publish.publish_job(rt, job_id, "banner")


def test_only_approved_images_are_published(rt, woo_emu, conn, woo):
    job_id, (asset_id,) = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)], approve=False)
    with pytest.raises(InputError):
        publish.publish_assets(rt, [asset_id], "featured")
    with pytest.raises(InputError):
        publish.publish_job(rt, job_id, "featured")
    assert uploads(woo_emu) == 0 and ids(woo_emu, 17) == ["10"]


def test_publishing_again_changes_nothing(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    (first,) = publish.publish_job(rt, job_id, "featured")
    (again,) = publish.publish_job(rt, job_id, "featured")
    assert again.id == first.id and uploads(woo_emu) == 1 and ids(woo_emu, 17) == [first.remote_media_id, "10"]
    plan = publish.plan_publish(rt, [first.asset_id], "featured")
    assert plan.changes == [] and plan.already == 1


def test_output_format_and_size_follow_the_settings(tmp_path, waits, woo_emu):
    rt = make_runtime(tmp_path / "webp", output_format="webp", output_max_side=512)
    conn = save_woocommerce(
        rt, url=woo_emu.url, key=CONSUMER_KEY, secret=CONSUMER_SECRET, wp_user=WP_USER, app_password=APP_PASSWORD
    )
    mug = open_source(rt, conn).get_product("17")
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(mug, None)], size=(1500, 1000))
    (pub,) = publish.publish_job(rt, job_id, "gallery")
    media = woo_emu.media[int(pub.remote_media_id)]
    assert media["file"].endswith(".webp") and media["mime"] == "image/webp"
    assert (media["width"], media["height"]) == (512, 341)
    rt.db.dispose()


def test_output_quality_and_the_default_long_side(tmp_path, waits, woo_emu):
    photo = noisy_jpeg((3000, 2000))
    sizes = {}
    for quality, pid in ((40, "17"), (95, "18")):
        rt = make_runtime(tmp_path / f"q{quality}", output_quality=quality)
        conn = save_woocommerce(
            rt, url=woo_emu.url, key=CONSUMER_KEY, secret=CONSUMER_SECRET, wp_user=WP_USER, app_password=APP_PASSWORD
        )
        product = open_source(rt, conn).get_product(pid)
        job_id, _ = make_job(rt, "woocommerce", conn.id, [(product, None)], size=(3000, 2000), image=photo)
        (pub,) = publish.publish_job(rt, job_id, "gallery")
        media = woo_emu.media[int(pub.remote_media_id)]
        assert media["file"].endswith(".jpg") and media["mime"] == "image/jpeg"
        assert (media["width"], media["height"]) == (2048, 1365)  # default long side 2048 px
        sizes[quality] = len(media["data"])
        rt.db.dispose()
    assert sizes[40] < sizes[95] * 0.6


def test_every_step_is_recorded(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    publish.publish_job(rt, job_id, "featured")
    with rt.db.session() as s:
        steps = [e.message for e in s.exec(select(Event).where(Event.job_id == job_id, Event.kind == "publish"))]
        requests = s.exec(select(Event).where(Event.job_id == job_id, Event.kind == "request")).all()
    assert steps[0].startswith("snapshot") and any(m.startswith("uploaded as media") for m in steps)
    assert steps[-1] == "published"
    assert {e.service for e in requests} == {"woocommerce", "wordpress"}
    text = " ".join(f"{e.url} {e.message} {e.data}" for e in requests)
    assert "oauth_" not in text and CONSUMER_SECRET not in text and APP_PASSWORD not in text


def test_read_only_key_stops_with_a_clear_error(rt, woo_emu, woo):
    conn = save_woocommerce(
        rt,
        url=woo_emu.url,
        key=READ_ONLY_KEY,
        secret=READ_ONLY_SECRET,
        wp_user=WP_USER,
        app_password=APP_PASSWORD,
        name="RO",
    )
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["18"], None)])
    with pytest.raises(SourceAuthError) as err:
        publish.publish_job(rt, job_id, "featured")
    assert "read-only" in err.value.message
    assert ids(woo_emu, 17) == ["10"] and ids(woo_emu, 18) == ["11"]
    pubs = publish.product_publications(rt.db, job_id)
    assert pubs and all(p.state == PublicationState.FAILED for p in pubs)
    assert all(p.remote_media_id for p in pubs)  # uploaded with the Application Password: reused on the next run


# Faults ------------------------------------------------------------------------------------------------------


def test_5xx_on_the_update_after_the_upload(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    woo_emu.inject("PUT", r"/products/17$", status=500, times=None)
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.FAILED and "internal error" in pub.error
    assert pub.remote_media_id and uploads(woo_emu) == 1
    assert ids(woo_emu, 17) == ["10"]  # nothing lost
    woo_emu.clear_faults()
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.DONE
    assert uploads(woo_emu) == 1 and ids(woo_emu, 17) == [pub.remote_media_id, "10"]


def test_transient_5xx_is_retried_within_the_run(rt, woo_emu, conn, woo, waits):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    woo_emu.inject("PUT", r"/products/17$", status=503, times=1)
    woo_emu.inject("POST", r"/wp/v2/media$", status=502, times=1)
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.DONE and uploads(woo_emu) == 1
    assert ids(woo_emu, 17) == [pub.remote_media_id, "10"] and len(waits) == 2


def test_rate_limits_during_publish_wait_as_the_store_asks(rt, woo_emu, conn, woo, waits):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    woo_emu.inject("POST", r"/wp/v2/media$", status=429, retry_after=7)
    woo_emu.inject("PUT", r"/products/17$", status=429, retry_after=11)
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.DONE and uploads(woo_emu) == 1 and woo_emu.counts["product_updates"] == 1
    assert sorted(waits) == [7, 11] and ids(woo_emu, 17) == [pub.remote_media_id, "10"]


def test_timeout_on_the_update_that_the_store_applied(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    woo_emu.inject("PUT", r"/products/17$", mode="slow", delay=5)
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.DONE
    assert woo_emu.counts["product_updates"] == 1  # the retry read the list first and saw ours: no second update
    assert uploads(woo_emu) == 1 and ids(woo_emu, 17) == [pub.remote_media_id, "10"]


@pytest.mark.parametrize("mode", ["status_after", "drop_after"])
def test_upload_whose_answer_was_lost_is_not_repeated(rt, woo_emu, conn, woo, mode):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["19"], None)])
    woo_emu.inject("POST", r"/wp/v2/media$", mode=mode, status=500)
    (pub,) = publish.publish_job(rt, job_id, "gallery")
    assert pub.state == PublicationState.DONE
    assert uploads(woo_emu) == 1 and len(woo_emu.media_named("wcr-cap-blue-ai-")) == 1
    assert ids(woo_emu, 19) == ["12", "13", pub.remote_media_id]


def test_alt_text_that_could_not_be_set_is_set_on_the_next_run(rt, woo_emu, conn, woo, waits):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    woo_emu.inject("POST", r"^/wp-json/wp/v2/media/\d+$", status=503, times=None)  # the upload works, the text not
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.FAILED and ids(woo_emu, 17) == ["10"]
    (media,) = woo_emu.media_named("wcr-mug-red-ai-")
    assert media["alt"] == "" and uploads(woo_emu) == 1
    woo_emu.clear_faults()
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.DONE and pub.remote_media_id == str(media["id"]) and uploads(woo_emu) == 1
    assert media["alt"] == "Red Mug on a marble counter" and "Red Mug" in media["title"]
    assert ids(woo_emu, 17) == [pub.remote_media_id, "10"]


def test_killed_between_upload_and_recording(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["21"], "27")])

    def die(pub, media_id):
        raise Killed

    publish.HOOKS["after_upload"] = die
    with pytest.raises(Killed):
        publish.publish_job(rt, job_id, "featured")
    (pub,) = [p for p in publish.product_publications(rt.db, job_id) if p.product_id == "17"]
    assert pub.state == PublicationState.PENDING and pub.remote_media_id is None  # the upload was never recorded
    assert len(woo_emu.media_named("wcr-mug-red-ai-")) == 1 and ids(woo_emu, 17) == ["10"]
    del publish.HOOKS["after_upload"]
    pubs = publish.publish_job(rt, job_id, "featured")
    assert [p.state for p in pubs] == [PublicationState.DONE] * 2
    assert uploads(woo_emu) == 2  # one per image: the first was found by its file name, not uploaded again
    assert pubs[0].id == pub.id and ids(woo_emu, 17) == [pubs[0].remote_media_id, "10"]
    assert pubs[0].before_images == ["10"] and ids(woo_emu, 21) == [pubs[1].remote_media_id, "14"]
    assert woo_emu.errors == []


def test_killed_after_the_update_before_done(rt, woo_emu, conn, woo, monkeypatch):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    real = publish._save

    def save(rt_, pub, message, **changes):
        if changes.get("state") == PublicationState.DONE:
            raise Killed
        return real(rt_, pub, message, **changes)

    monkeypatch.setattr(publish, "_save", save)
    with pytest.raises(Killed):
        publish.publish_job(rt, job_id, "featured")
    monkeypatch.setattr(publish, "_save", real)
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.DONE and uploads(woo_emu) == 1 and woo_emu.counts["product_updates"] == 1
    assert ids(woo_emu, 17) == [pub.remote_media_id, "10"]
    publish.rollback(rt, job_id=job_id)
    assert ids(woo_emu, 17) == ["10"]


def keeps_only_the_first_image(emu, monkeypatch):
    """The store (a plugin, say) saves only the first image of any list it is sent, and answers 200."""
    real = emu._image_list
    monkeypatch.setattr(emu, "_image_list", lambda images, code, base: real(images, code, base)[:1])
    return real


def test_the_list_is_read_back_and_a_store_that_kept_another_is_reported(rt, woo_emu, conn, woo, monkeypatch, waits):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    real = keeps_only_the_first_image(woo_emu, monkeypatch)
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.FAILED and uploads(woo_emu) == 1
    assert pub.error == (
        f"The store did not keep the image list we sent: the product shows image "
        f"#{pub.remote_media_id} instead of images #{pub.remote_media_id}, #10 (in this order). "
        "Check the product in the store."
    )
    assert pub.after_images == [pub.remote_media_id, "10"]  # the intent, recorded before the update
    assert woo_emu.counts["product_updates"] == 3  # re-sent on each in-run retry, never taken as someone's edit
    (again,) = publish.publish_job(rt, job_id, "featured")  # the next run does not accept the short list either
    assert again.state == PublicationState.FAILED and again.before_images == ["10"] and uploads(woo_emu) == 1
    monkeypatch.setattr(woo_emu, "_image_list", real)  # the plugin is gone
    (done,) = publish.publish_job(rt, job_id, "featured")
    assert done.state == PublicationState.DONE and ids(woo_emu, 17) == [done.remote_media_id, "10"]
    assert uploads(woo_emu) == 1 and done.before_images == ["10"]
    assert publish.rollback(rt, job_id=job_id).restored == ["17"] and ids(woo_emu, 17) == ["10"]


def test_a_short_list_is_not_accepted_after_a_failure_of_another_kind(rt, woo_emu, conn, woo, monkeypatch, waits):
    """Run 1: the store keeps a list without the old image. Run 2: the store fails with 5xx. Run 3 must still not
    take the short list (our image in it) as somebody's edit: the product would be left with fewer images."""
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    real = keeps_only_the_first_image(woo_emu, monkeypatch)
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.FAILED and ids(woo_emu, 17) == [pub.remote_media_id]
    woo_emu.inject("PUT", r"/products/17$", status=500, times=None)
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.FAILED and "HTTP 500" in pub.error
    woo_emu.clear_faults()
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.FAILED, "the short list is still the store's doing, not an edit"
    monkeypatch.setattr(woo_emu, "_image_list", real)
    (done,) = publish.publish_job(rt, job_id, "featured")
    assert done.state == PublicationState.DONE and ids(woo_emu, 17) == [done.remote_media_id, "10"]
    assert uploads(woo_emu) == 1


def test_rollback_after_the_store_kept_another_list_asks_first(rt, woo_emu, conn, woo, monkeypatch, waits):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    real = keeps_only_the_first_image(woo_emu, monkeypatch)
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.FAILED
    monkeypatch.setattr(woo_emu, "_image_list", real)
    report = publish.rollback(rt, job_id=job_id)  # the store holds neither the snapshot nor what we set
    assert report.conflicts and "image #10 removed" in report.conflicts[0][1]
    assert ids(woo_emu, 17) == [pub.remote_media_id]
    report = publish.rollback(rt, job_id=job_id, force=True)
    assert report.restored == ["17"] and ids(woo_emu, 17) == ["10"]


def test_a_variation_image_is_read_back_too(rt, woo_emu, conn, woo, monkeypatch, waits):
    """The store answers 200 to the variation update but keeps the old image (a stale read looks the same)."""
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["21"], "27")])
    real = woo_emu.render_variation

    def stale(base, v, context):
        return {**real(base, v, context), "image": woo_emu._image_obj(base, 16)}

    monkeypatch.setattr(woo_emu, "render_variation", stale)
    (pub,) = publish.publish_job(rt, job_id, "variation")
    assert pub.state == PublicationState.FAILED and pub.before_variation_image == "16"
    assert pub.error.startswith("The store did not keep the image we set on the variation: it shows image #16")
    monkeypatch.setattr(woo_emu, "render_variation", real)
    (pub,) = publish.publish_job(rt, job_id, "variation")
    assert pub.state == PublicationState.DONE and str(woo_emu.variation_image(27)) == pub.remote_media_id
    assert uploads(woo_emu) == 1 and pub.before_variation_image == "16"
    assert publish.rollback(rt, job_id=job_id).restored == ["21"] and woo_emu.variation_image(27) == 16


def test_failed_snapshot_is_reported_and_changes_nothing(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    woo_emu.inject("GET", r"/products/17$", status=500, times=None)
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.FAILED and pub.remote_filename is None and uploads(woo_emu) == 0
    woo_emu.clear_faults()
    (pub2,) = publish.publish_job(rt, job_id, "featured")
    assert pub2.id != pub.id and pub2.state == PublicationState.DONE and pub2.before_images == ["10"]
    report = publish.rollback(rt, job_id=job_id)
    assert report.restored == ["17"] and ids(woo_emu, 17) == ["10"]


# Rollback ----------------------------------------------------------------------------------------------------


def test_rollback_restores_exactly(rt, woo_emu, conn, woo):
    woo_emu.variations[26]["image_id"] = None  # a variation with no image of its own
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["19"], None)])
    var_job, _ = make_job(rt, "woocommerce", conn.id, [(woo["21"], "27"), (woo["21"], "26")])
    publish.publish_job(rt, job_id, "featured", keep_old_featured=False)
    publish.publish_job(rt, var_job, "variation")
    assert ids(woo_emu, 19)[1:] == ["13"] and woo_emu.variation_image(26) is not None
    report = publish.rollback(rt, job_id=job_id)
    assert sorted(report.restored) == ["17", "19"] and report.conflicts == []
    assert ids(woo_emu, 17) == ["10"] and ids(woo_emu, 19) == ["12", "13"]
    report = publish.rollback(rt, job_id=var_job)
    assert report.restored == ["21"]
    assert woo_emu.variation_image(27) == 16 and woo_emu.variation_image(26) is None
    assert all(p.state == PublicationState.ROLLED_BACK for p in publish.product_publications(rt.db, job_id))
    assert uploads(woo_emu) == 4 and len(woo_emu.media) == 7 + 4  # rollback deletes no media


def test_rollback_of_several_publications_of_one_product(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["19"], None), (woo["19"], None), (woo["19"], None)])
    pubs = publish.publish_job(rt, job_id, "gallery")
    assert ids(woo_emu, 19) == ["12", "13"] + [p.remote_media_id for p in pubs]
    report = publish.rollback(rt, job_id=job_id)
    assert report.restored == ["19"] and ids(woo_emu, 19) == ["12", "13"]  # the earliest snapshot wins


def test_rollback_reports_a_conflict_and_overwrites_only_when_forced(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["18"], None)])
    (mug, lamp) = publish.publish_job(rt, job_id, "featured")
    woo_emu.products[17]["image_ids"].append(12)  # the merchant adds an image in the store
    report = publish.rollback(rt, job_id=job_id)
    assert report.restored == ["18"] and ids(woo_emu, 18) == ["11"]
    assert len(report.conflicts) == 1 and report.conflicts[0][0] == "17"
    assert report.conflicts[0][1] == (
        "“Red Mug” (WCR-MUG-RED): changed in the store after we published (image #12 added). Rolling back would "
        "undo that."
    )
    assert ids(woo_emu, 17) == [mug.remote_media_id, "10", "12"]  # untouched
    report = publish.rollback(rt, job_id=job_id, product_ids=["17"], force=True)
    assert report.restored == ["17"] and ids(woo_emu, 17) == ["10"]


def test_variation_conflict(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["21"], "27")])
    publish.publish_job(rt, job_id, "variation")
    woo_emu.variations[27]["image_id"] = 15
    report = publish.rollback(rt, job_id=job_id)
    assert report.conflicts and "variation" in report.conflicts[0][1] and woo_emu.variation_image(27) == 15
    publish.rollback(rt, job_id=job_id, force=True)
    assert woo_emu.variation_image(27) == 16


def test_cli_rollback_reports_store_errors_beside_conflicts(rt, woo_emu, conn, woo, waits, capsys):
    import json

    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["19"], None)])
    publish.publish_job(rt, job_id, "featured")
    woo_emu.products[19]["image_ids"].append(11)  # the merchant edits one product meanwhile
    woo_emu.inject("PUT", r"/products/17$", status=500, times=None)  # the store keeps failing the other
    code = cli.main(["rollback", "--job", str(job_id), "--json"], rt=rt)
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and data["restored"] == []
    assert [c["product_id"] for c in data["conflicts"]] == ["19"]
    assert [e["product_id"] for e in data["errors"]] == ["17"] and "HTTP 500" in data["errors"][0]["message"]


def test_rollback_retries_transient_errors(rt, woo_emu, conn, woo, waits):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    publish.publish_job(rt, job_id, "featured")
    woo_emu.inject("PUT", r"/products/17$", mode="drop_after")
    report = publish.rollback(rt, job_id=job_id)
    assert report.restored == ["17"] and ids(woo_emu, 17) == ["10"] and report.errors == []


def test_rollback_the_store_keeps_refusing_is_an_error_not_a_quiet_report(rt, woo_emu, conn, woo, waits):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["18"], None)])
    mug, lamp = publish.publish_job(rt, job_id, "featured")
    woo_emu.inject("PUT", r"/products/18$", status=500, times=None)
    with pytest.raises(PublishError) as err:
        publish.rollback(rt, job_id=job_id)
    assert err.value.message == (
        "Restored 1 product. “Green Lamp” (WCR-LAMP-GREEN) was not rolled back: The store had an internal "
        "error (HTTP 500). Try again in a moment. Roll back again to finish (what was "
        "restored stays restored)."
    )
    assert ids(woo_emu, 17) == ["10"] and ids(woo_emu, 18) == [lamp.remote_media_id, "11"]
    with pytest.raises(PublishError) as err:
        publish.rollback(rt, job_id=job_id)
    assert err.value.message.startswith("“Green Lamp” (WCR-LAMP-GREEN) was not rolled back")
    woo_emu.clear_faults()
    assert publish.rollback(rt, job_id=job_id).restored == ["18"] and ids(woo_emu, 18) == ["11"]


def test_rollback_of_a_failed_publication_that_never_changed_the_store(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    woo_emu.inject("PUT", r"/products/17$", status=500, times=None)
    publish.publish_job(rt, job_id, "featured")
    woo_emu.clear_faults()
    report = publish.rollback(rt, job_id=job_id)
    assert report.restored == ["17"] and report.conflicts == [] and ids(woo_emu, 17) == ["10"]
    assert woo_emu.counts["product_updates"] == 0


def test_rollback_needs_a_scope(rt):
    with pytest.raises(InputError):
        publish.rollback(rt)


def test_publish_after_rollback_reuses_the_uploaded_media(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    (first,) = publish.publish_job(rt, job_id, "featured")
    publish.rollback(rt, job_id=job_id)
    (second,) = publish.publish_job(rt, job_id, "gallery")
    assert second.id != first.id and second.remote_media_id == first.remote_media_id
    assert uploads(woo_emu) == 1 and ids(woo_emu, 17) == ["10", first.remote_media_id]


def test_media_deleted_from_the_library_is_uploaded_again(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    (first,) = publish.publish_job(rt, job_id, "featured")
    publish.rollback(rt, job_id=job_id)
    del woo_emu.media[int(first.remote_media_id)]  # the merchant cleans up the media library
    (second,) = publish.publish_job(rt, job_id, "featured")
    assert second.state == PublicationState.DONE and second.remote_media_id != first.remote_media_id
    assert ids(woo_emu, 17) == [second.remote_media_id, "10"] and uploads(woo_emu) == 2


def test_media_deleted_while_a_publication_was_unfinished(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    woo_emu.inject("PUT", r"/products/17$", status=500, times=None)
    (pub,) = publish.publish_job(rt, job_id, "featured")
    woo_emu.clear_faults()
    del woo_emu.media[int(pub.remote_media_id)]
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.FAILED and "invalid image ID" in pub.error and ids(woo_emu, 17) == ["10"]
    (pub,) = publish.publish_job(rt, job_id, "featured")
    assert pub.state == PublicationState.DONE and ids(woo_emu, 17) == [pub.remote_media_id, "10"]


# Planning ----------------------------------------------------------------------------------------------------


def test_plan_describes_the_change_without_making_it(rt, woo_emu, conn, woo):
    _, assets = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["19"], None)])
    plan = publish.plan_publish(rt, assets, "featured")
    assert [(c.product_id, c.product_name, c.before) for c in plan] == [
        ("17", "“Red Mug” (WCR-MUG-RED)", ["10"]),
        ("19", "“Blue Cap” (WCR-CAP-BLUE)", ["12", "13"]),
    ]
    assert "moves into the gallery (1 image → 2)" in plan[0].after_description
    assert "replaces" in publish.plan_publish(rt, assets, "featured", keep_old_featured=False)[1].after_description
    assert "end of the gallery (2 images → 3)" in publish.plan_publish(rt, assets, "gallery")[1].after_description
    _, var_assets = make_job(rt, "woocommerce", conn.id, [(woo["21"], "27")])
    (change,) = publish.plan_publish(rt, var_assets, "variation")
    assert change.variation_id == "27"
    assert "image of variation “Blue, L” (WCR-TEE-BLUE-L) of “Classic Tee”" in change.after_description
    assert uploads(woo_emu) == 0 and woo_emu.counts["product_updates"] == 0


# The demo store ----------------------------------------------------------------------------------------------


def test_publish_and_rollback_on_the_demo_store(rt):
    demo = DemoSource(rt)
    mug, tee = demo.get_product("1"), demo.get_product("12")
    store = DemoStore(rt)
    before = store.product_image_ids("1")
    assert before == ["demo-1-0", "demo-1-1"]
    job_id, assets = make_job(rt, "demo", None, [(mug, None), (mug, None)])
    plan = publish.plan_publish(rt, assets, "featured")
    assert len(plan) == 2 and plan[0].before == before
    pubs = publish.publish_job(rt, job_id, "featured")
    assert [p.state for p in pubs] == [PublicationState.DONE] * 2
    m1, m2 = pubs[0].remote_media_id, pubs[1].remote_media_id
    assert store.product_image_ids("1") == [m2, m1, "demo-1-0", "demo-1-1"]
    assert demo.get_product("1").featured.id == m2  # the source shows what the store now holds
    assert store.media(m1).filename == pubs[0].remote_filename
    var_job, _ = make_job(rt, "demo", None, [(tee, "12-2")])
    (vpub,) = publish.publish_job(rt, var_job, "variation")
    assert store.variation_image_id("12", "12-2") == vpub.remote_media_id
    store.set_product_images("1", [m2, m1, "demo-1-0", "demo-1-1", "demo-1-0"])  # someone edits the product
    report = publish.rollback(rt, job_id=job_id)
    assert report.conflicts and report.conflicts[0][0] == "1"
    report = publish.rollback(rt, job_id=job_id, force=True)
    assert report.restored == ["1"] and store.product_image_ids("1") == before
    assert publish.rollback(rt, job_id=var_job).restored == ["12"]
    assert store.variation_image_id("12", "12-2") == "demo-12-v2"


def test_demo_store_publication_survives_a_kill(rt):
    demo = DemoSource(rt)
    job_id, _ = make_job(rt, "demo", None, [(demo.get_product("4"), None)])
    publish.HOOKS["after_upload"] = lambda pub, media_id: (_ for _ in ()).throw(Killed())
    with pytest.raises(Killed):
        publish.publish_job(rt, job_id, "gallery")
    publish.HOOKS.clear()
    (pub,) = publish.publish_job(rt, job_id, "gallery")
    store = DemoStore(rt)
    assert store.product_image_ids("4") == ["demo-4-0", pub.remote_media_id]
    with rt.db.session() as s:
        from lib.models import DemoMedia

        assert len(s.exec(select(DemoMedia)).all()) == 1  # uploaded once


def test_images_from_elsewhere_go_to_the_store_product_with_the_same_sku(rt, woo_emu, conn, woo):
    photo = Product(id="upload-7", name="Red mug photo", sku="WCR-MUG-RED", category="Uploads")
    nobody = Product(id="upload-8", name="Unknown", sku="NOPE-1", category="Uploads")
    job_id, (asset_id,) = make_job(rt, "upload", None, [(photo, None)])
    (pub,) = publish.publish_assets(rt, [asset_id], "gallery", store_kind="woocommerce")
    assert pub.product_id == "17" and pub.connection_id == conn.id and ids(woo_emu, 17) == ["10", pub.remote_media_id]
    _, (other,) = make_job(rt, "upload", None, [(nobody, None)])
    with pytest.raises(InputError):
        publish.publish_assets(rt, [other], "gallery", store_kind="woocommerce")


def test_publications_are_listed_per_job(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["18"], None)])
    publish.publish_job(rt, job_id, "gallery")
    pubs = publish.product_publications(rt.db, job_id)
    assert sorted(p.product_id for p in pubs) == ["17", "18"]
    with rt.db.session() as s:
        assert len(s.exec(select(Publication)).all()) == 2


# The headless CLI against the store ---------------------------------------------------------------------------


def test_cli_connect_generate_approve_publish_rollback_with_json(rt, woo_emu, capsys, monkeypatch):
    import json

    def run(*argv: str) -> tuple[int, object, str]:
        code = cli.main([*argv, "--json"], rt=rt)
        out, err = capsys.readouterr()
        return code, json.loads(out) if out.strip() else None, err

    # Secrets come from the environment, never from arguments (tests/security/test_cli_secrets.py).
    monkeypatch.setenv("WOOCOMMERCE_CONSUMER_KEY", CONSUMER_KEY)
    monkeypatch.setenv("WP_APP_PASSWORD", APP_PASSWORD)
    store = ["--url", woo_emu.url, "--wp-user", WP_USER]
    monkeypatch.setenv("WOOCOMMERCE_CONSUMER_SECRET", "cs_wrong")
    code, data, err = run("connect", "woocommerce", *store, "--name", "Shop")
    assert code == 2 and data is None and "API key valid" in err and list_connections(rt.db, "woocommerce") == []
    monkeypatch.setenv("WOOCOMMERCE_CONSUMER_SECRET", CONSUMER_SECRET)
    code, data, _ = run("connect", "woocommerce", *store, "--name", "Shop")
    assert code == 0 and data["kind"] == "woocommerce" and data["name"] == "Shop"

    rt.set_provider("studio", ScriptedProvider(echo_source=True))  # faithful images: approve --all takes them
    code, data, _ = run("generate", "--source", "woocommerce", "--products", "17,WCR-CAP-BLUE", "--yes")
    assert code == 0 and data["items"] == 2
    job = str(data["job_id"])
    code, data, _ = run("generate", "--source", "woocommerce", "--products", "WCR-TEE-BLUE-L", "--yes")
    assert code == 0 and data["items"] == 1
    var_job = str(data["job_id"])
    code, data, _ = run("generate", "--source", "woocommerce", "--category", "16", "--yes")
    assert code == 0 and data["items"] == 1 + 6  # Blue Cap, and each variation of the Classic Tee
    code, data, _ = run("worker", "--until-idle")
    assert code == 0 and data["failed"] == 0
    for j in (job, var_job):
        assert run("approve", "--job", j, "--all")[1]["approved"] >= 1

    code, data, _ = run("publish", "--job", job, "--role", "featured")
    assert code == 0
    pubs = {p["product_id"]: p for p in data["publications"]}
    assert {p["state"] for p in pubs.values()} == {"done"}
    assert ids(woo_emu, 17) == [pubs["17"]["media_id"], "10"]
    assert ids(woo_emu, 19) == [pubs["19"]["media_id"], "12", "13"]
    code, data, _ = run("publish", "--job", var_job, "--role", "variation")
    assert code == 0 and str(woo_emu.variation_image(27)) == data["publications"][0]["media_id"]
    assert uploads(woo_emu) == 3

    code, data, _ = run("rollback", "--job", job, "--products", "17")
    assert (code, data["restored"], data["conflicts"], data["errors"]) == (0, ["17"], [], [])
    assert ids(woo_emu, 17) == ["10"] and ids(woo_emu, 19) == [pubs["19"]["media_id"], "12", "13"]
    woo_emu.products[19]["image_ids"].append(11)  # the merchant adds an image in the store
    code, data, _ = run("rollback", "--job", job)
    assert code == 1 and data["restored"] == [] and data["conflicts"][0]["product_id"] == "19"
    code, data, _ = run("rollback", "--job", job, "--force")
    assert code == 0 and data["restored"] == ["19"] and ids(woo_emu, 19) == ["12", "13"]
    code, data, _ = run("rollback", "--job", var_job)
    assert code == 0 and data["restored"] == ["21"] and woo_emu.variation_image(27) == 16


# What a real store showed (issue 14): variation SKUs, the store re-read, one upload per image, big images --------


def test_photos_with_a_variation_sku_go_to_that_variation(rt, woo_emu, conn, woo, capsys):
    import json

    photo = Product(id="upload-1", name="Red tee photo", sku="wcr-tee-red-s", category="Uploads")
    job_id, _ = make_job(rt, "upload", None, [(photo, None)])
    code = cli.main(["publish", "--job", str(job_id), "--role", "featured", "--json"], rt=rt)
    [pub] = json.loads(capsys.readouterr().out)["publications"]
    assert code == 0
    assert (pub["product_id"], pub["variation_id"], pub["role"], pub["state"]) == ("21", "22", "variation", "done")
    assert pub["label"] == "“Red tee photo” (wcr-tee-red-s)"
    assert str(woo_emu.variation_image(22)) == pub["media_id"] and ids(woo_emu, 21) == ["14"]
    assert not any(r["path"].endswith("/products/22") and r["method"] == "PUT" for r in woo_emu.requests)
    assert publish.rollback(rt, job_id=job_id).restored == ["21"] and woo_emu.variation_image(22) == 15


def test_choosing_products_by_variation_sku_and_in_any_case(rt, woo_emu, conn, capsys):
    import json

    def items(products: str) -> list[tuple[str, str | None]]:
        code = cli.main(["generate", "--source", "woocommerce", "--products", products, "--yes", "--json"], rt=rt)
        job_id = json.loads(capsys.readouterr().out)["job_id"]
        assert code == 0
        with rt.db.session() as s:
            rows = s.exec(select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.id)).all()
        return [(i.product_id, i.variation_id) for i in rows]

    assert items("WCR-TEE,WCR-TEE-RED-S,wcr-mug-red") == [("21", str(v)) for v in range(22, 28)] + [("17", None)]
    assert items("wcr-tee-blue-m") == [("21", "26")]


def test_an_image_removed_in_the_store_is_put_back_by_publishing_again(rt, woo_emu, conn, woo):
    job_id, (asset_id,) = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    (first,) = publish.publish_job(rt, job_id, "featured")
    woo_emu.products[17]["image_ids"] = [10]  # a person removes it from the product

    [change] = publish.plan_publish(rt, [asset_id], "featured").changes
    assert change.after_description.startswith(
        f"Image #{asset_id} was published earlier but is no longer on “Red Mug” (WCR-MUG-RED) (removed in the "
        "store since): publishing puts it back. The new image becomes the featured image"
    )
    (again,) = publish.publish_job(rt, job_id, "featured")
    assert again.id != first.id and again.state == PublicationState.DONE
    assert ids(woo_emu, 17) == [first.remote_media_id, "10"] and uploads(woo_emu) == 1  # the media was reused

    del woo_emu.media[int(first.remote_media_id)]  # now the media is deleted too
    woo_emu.products[17]["image_ids"] = [10]
    (third,) = publish.publish_job(rt, job_id, "featured")
    assert uploads(woo_emu) == 2 and ids(woo_emu, 17) == [third.remote_media_id, "10"]

    assert publish.rollback(rt, job_id=job_id).restored == ["17"] and ids(woo_emu, 17) == ["10"]


def test_a_product_deleted_in_the_store_is_said_in_the_plan(rt, woo_emu, conn, woo):
    job_id, (asset_id,) = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    publish.publish_job(rt, job_id, "featured")
    del woo_emu.products[17]
    plan = publish.plan_publish(rt, [asset_id], "featured")
    assert plan.changes == [] and plan.skipped == [
        f"“Red Mug” (WCR-MUG-RED) is no longer in the store, so image #{asset_id} cannot go there."
    ]


def test_two_data_folders_upload_each_image_once(tmp_path, waits, woo_emu):
    image = jpeg(5)
    pubs = []
    for home in ("laptop", "server"):
        other = make_runtime(tmp_path / home, http_timeout_seconds=1.0, http_retries=2)
        store = save_woocommerce(
            other, url=woo_emu.url, key=CONSUMER_KEY, secret=CONSUMER_SECRET, wp_user=WP_USER, app_password=APP_PASSWORD
        )
        mug = open_source(other, store).get_product("17")
        job_id, _ = make_job(other, "woocommerce", store.id, [(mug, None)], image=image)
        pubs += publish.publish_job(other, job_id, "gallery")
        other.db.dispose()
    assert uploads(woo_emu) == 1 and pubs[0].remote_media_id == pubs[1].remote_media_id
    assert ids(woo_emu, 17) == ["10", pubs[0].remote_media_id]


def test_the_library_lookup_checks_the_content_and_prefers_our_own_upload(rt, woo_emu, conn):
    target = open_target(rt, conn)
    name, data = "wcr-mug-red-ai-0badf00d.jpg", jpeg(9)
    woo_emu.add_media(name, jpeg(10))  # a namesake with other content is never taken
    assert target.find_upload(name, data=data) is None
    first = woo_emu.add_media(name, data)  # stored as -1
    second = woo_emu.add_media(name, data)  # stored as -2
    assert woo_emu.media[second]["file"] == "wcr-mug-red-ai-0badf00d-2.jpg"
    assert target.find_upload(name, data=data) == str(first)
    assert target.find_upload(name, data=data, prefer=frozenset({str(second)})) == str(second)


def test_big_images_are_found_again_through_their_scaled_copy(tmp_path, waits, woo_emu):
    image = jpeg(3, (3000, 2000))
    pubs = []
    for home in ("laptop", "server"):
        other = make_runtime(tmp_path / home, http_timeout_seconds=2.0, http_retries=2, output_max_side=3000)
        store = save_woocommerce(
            other, url=woo_emu.url, key=CONSUMER_KEY, secret=CONSUMER_SECRET, wp_user=WP_USER, app_password=APP_PASSWORD
        )
        mug = open_source(other, store).get_product("17")
        job_id, _ = make_job(other, "woocommerce", store.id, [(mug, None)], image=image, size=(3000, 2000))
        pubs += publish.publish_job(other, job_id, "gallery")
        other.db.dispose()
    media = woo_emu.media[int(pubs[0].remote_media_id)]
    assert media["file"].endswith("-scaled.jpg") and media["original_file"] == pubs[0].remote_filename
    assert uploads(woo_emu) == 1 and pubs[1].remote_media_id == pubs[0].remote_media_id


def test_conflicts_name_each_variation_and_every_change(rt, woo_emu, conn, woo):
    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["21"], "27"), (woo["21"], "26")])
    pubs = publish.publish_job(rt, job_id, "variation")
    woo_emu.variations[27]["image_id"] = 15
    woo_emu.variations[26]["image_id"] = None
    report = publish.rollback(rt, job_id=job_id)
    assert sorted(sentence for _, sentence in report.conflicts) == [
        f"variation “Blue, L” (WCR-TEE-BLUE-L) of “Classic Tee”: changed in the store after we published (its "
        f"image went from image #{pubs[0].remote_media_id} to image #15). Rolling back would undo that.",
        f"variation “Blue, M” (WCR-TEE-BLUE-M) of “Classic Tee”: changed in the store after we published (its "
        f"image went from image #{pubs[1].remote_media_id} to no image). Rolling back would undo that.",
    ]


def test_a_later_job_of_ours_is_told_apart_from_a_persons_edit(rt, woo_emu, conn, woo):
    first_job, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)])
    later_job, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None)], image=jpeg(7))
    publish.publish_job(rt, first_job, "gallery")
    (later,) = publish.publish_job(rt, later_job, "gallery")
    [(product_id, sentence)] = publish.rollback(rt, job_id=first_job).conflicts
    assert sentence == (
        f"“Red Mug” (WCR-MUG-RED): job {later_job} of this app published to it after this one (image "
        f"#{later.remote_media_id} added). Roll back job {later_job} first; rolling back this one now would undo it."
    )
    assert publish.rollback(rt, job_id=later_job).restored == ["17"]
    assert publish.rollback(rt, job_id=first_job).restored == ["17"] and ids(woo_emu, 17) == ["10"]


def test_a_mixed_job_publishes_what_fits_the_role_and_says_what_it_left_out(rt, woo_emu, conn, woo, capsys):
    import json

    job_id, (mug_asset, _) = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["21"], "27")])
    code = cli.main(["publish", "--job", str(job_id), "--role", "variation", "--json"], rt=rt)
    data = json.loads(capsys.readouterr().out)
    assert code == 1 and [p["variation_id"] for p in data["publications"]] == ["27"]
    assert data["skipped"] == [
        f"Image #{mug_asset} of “Red Mug” (WCR-MUG-RED) was made for the product itself, not a variation: publish "
        "it as the featured or a gallery image."
    ]
    assert ids(woo_emu, 17) == ["10"]


def test_the_cli_publishes_or_rejects_single_items(rt, woo_emu, conn, woo, capsys):
    import json

    job_id, _ = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["18"], None)])
    items = [i.id for i in JobItem_rows(rt, job_id)]
    assert cli.main(["reject", "--job", str(job_id), "--items", str(items[1])], rt=rt) == 0
    capsys.readouterr()
    code = cli.main(["publish", "--job", str(job_id), "--role", "gallery", "--items", str(items[1])], rt=rt)
    assert code == 2 and "no approved images" in capsys.readouterr().err and ids(woo_emu, 18) == ["11"]
    code = cli.main(["publish", "--job", str(job_id), "--role", "gallery", "--items", str(items[0]), "--json"], rt=rt)
    [pub] = json.loads(capsys.readouterr().out)["publications"]
    assert code == 0 and pub["product_id"] == "17" and ids(woo_emu, 18) == ["11"]


def JobItem_rows(rt, job_id):  # noqa: N802
    with rt.db.session() as s:
        return list(s.exec(select(JobItem).where(JobItem.job_id == job_id).order_by(JobItem.id)).all())


def test_dropping_the_old_main_image_publishes_one_main_image_per_product(rt, woo_emu, conn, woo):
    _, (first, second) = make_job(rt, "woocommerce", conn.id, [(woo["17"], None), (woo["17"], None)])
    left_out = (
        f"Only one image can be the main image of “Red Mug” (WCR-MUG-RED): image #{first} becomes it, and image "
        f"#{second} is left out (not uploaded). To show both, keep the old main image or publish the second to the "
        "gallery."
    )
    plan = publish.plan_publish(rt, [first, second], "featured", keep_old_featured=False)
    assert len(plan.changes) == 1 and plan.skipped == [left_out]
    outcome = publish.publish_images(rt, [first, second], "featured", keep_old_featured=False)
    [pub] = outcome.publications
    assert outcome.skipped == [left_out] and uploads(woo_emu) == 1 and ids(woo_emu, 17) == [pub.remote_media_id]
