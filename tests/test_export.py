"""Exporting approved images back to Google Drive, through the real client against the loopback emulator."""

from __future__ import annotations

import pytest
from sqlmodel import select

from lib.errors import DriveQuotaError, InputError, SourceUnavailable
from lib.export import export_approved, export_name
from lib.models import Asset, AssetKind, Event, ItemStatus, Job, JobItem, ReviewState
from lib.sources import drive_client
from lib.sources.base import ProductQuery
from lib.sources.drive import save_drive
from tests.emulators.drive import authorized_user_json, jpeg_bytes, service_account_json

pytestmark = pytest.mark.usefixtures("drive_waits")

PHOTO = jpeg_bytes((30, 90, 200), (320, 320))


@pytest.fixture
def rt_settings(drive_emu):
    return {"drive_root_url": drive_emu.url}


@pytest.fixture
def shop(drive_emu):
    """A shared drive (where a service account may create files) with two product folders."""
    drive = drive_emu.add_shared_drive("Shop photos")
    root = drive_emu.add_folder("Catalogue", drive)
    mug = drive_emu.add_folder("GK-MUG-001 - Marble mug", root)
    drive_emu.add_file("front.jpg", mug, PHOTO)
    vase = drive_emu.add_folder("Baker's vase \\ large", root)  # no SKU; a quote and a backslash in the name
    drive_emu.add_file("side.jpg", vase, PHOTO)
    return {"root": root, "mug": mug, "vase": vase, "drive": drive}


def approved_job(
    rt,
    conn_id: int | None,
    source_kind: str = "drive",
    *,
    only: str | None = None,
    size=(640, 640),
    noisy: bool = False,
    style: str = "marble_counter",
) -> tuple[int, list[int]]:
    """A finished job with one generated asset per product of the source (the worker's end state); all approved,
    or `only` those whose name contains it (the others rejected). Asset ids follow the products' order."""
    products = rt.source("drive", conn_id).list_products(ProductQuery(per_page=100)).items
    states = [ReviewState.APPROVED if only is None or only in p.name else ReviewState.REJECTED for p in products]
    asset_ids = []
    with rt.db.transaction() as s:
        job = Job(
            source_kind=source_kind,
            connection_id=conn_id,
            provider="studio",
            model="studio-v1",
            style=style,
            status="succeeded",
            item_count=len(products),
        )
        s.add(job)
        s.flush()
        for n, (product, state) in enumerate(zip(products, states, strict=True)):
            item = JobItem(
                job_id=job.id,
                product_id=product.id,
                product={**product.to_dict(), "style": style},
                status=ItemStatus.SUCCEEDED,
            )
            s.add(item)
            s.flush()
            data = noisy_jpeg(size) if noisy else jpeg_bytes((20 * n, 100, 150), size)
            asset = Asset(
                sha256=rt.blobs.put(data),
                kind=AssetKind.GENERATED,
                mime="image/jpeg",
                size_bytes=len(data),
                job_id=job.id,
                item_id=item.id,
                product_id=product.id,
                alt_text=f"{product.name} on a marble counter",
                review_state=state,
            )
            s.add(asset)
            s.flush()
            asset_ids.append(asset.id)
        return job.id, asset_ids


def noisy_jpeg(size) -> bytes:
    """A photo that does not compress away (grain), to make an upload of several chunks."""
    import io
    import random

    from PIL import Image

    im = Image.frombytes("RGB", size, random.Random(7).randbytes(size[0] * size[1] * 3))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def exported_files(emu):
    return [f for f in emu.files.values() if "imagegecko_asset" in f.app_properties and not f.trashed]


def test_file_names_use_sku_style_and_variant():
    assert (
        export_name({"sku": "GK-MUG-001", "name": "Mug"}, "marble_counter", 0, "image/jpeg")
        == "GK-MUG-001_marble_counter_v1.jpg"
    )
    assert export_name({"name": "Tea / pot: 2"}, "oak_table", 2, "image/webp") == "Tea-pot-2_oak_table_v3.webp"
    product = {"sku": "TEE", "variations": [{"id": "7", "sku": "TEE-RED-M"}]}
    assert export_name(product, "model_worn", 0, "image/jpeg", "7") == "TEE-RED-M_model_worn_v1.jpg"


def test_approved_images_go_to_a_generated_folder_beside_the_originals(rt, drive_emu, shop):
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=shop["root"], mode="folders")
    job_id, assets = approved_job(rt, conn.id, only="Marble mug")
    results = export_approved(rt, job_id)

    assert len(results) == 1 and results[0].created
    mug_generated = [f for f in drive_emu.children(shop["mug"]) if f.name == "generated"]
    assert len(mug_generated) == 1 and mug_generated[0].app_properties == {"imagegecko_role": "generated"}
    [file] = drive_emu.children(mug_generated[0].id)
    assert file.name == "GK-MUG-001_marble_counter_v1.jpg" and file.id == results[0].file_id
    with rt.db.session() as s:
        asset = s.get(Asset, results[0].asset_id)
    assert file.content == rt.blobs.get(asset.sha256)
    assert file.app_properties["imagegecko_asset"] == str(asset.id)
    assert file.app_properties["imagegecko_sha"] == asset.sha256
    assert file.description == "Marble mug on a marble counter"
    assert not [f for f in drive_emu.children(shop["vase"]) if f.name == "generated"]  # the rejected one stays home
    with rt.db.session() as s:
        logged = s.exec(select(Event).where(Event.job_id == job_id, Event.kind == "info")).all()
    assert [e.message for e in logged] == ["exported: GK-MUG-001_marble_counter_v1.jpg"]


def test_exporting_again_finds_the_files_instead_of_making_new_ones(rt, drive_emu, shop):
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=shop["root"], mode="folders")
    job_id, _ = approved_job(rt, conn.id)
    first = export_approved(rt, job_id)
    uploads = drive_emu.calls["upload.multipart"]
    folders = drive_emu.calls["files.create"]
    again = export_approved(rt, job_id)

    assert [r.file_id for r in again] == [r.file_id for r in first]
    assert [r.created for r in again] == [False, False]
    assert drive_emu.calls["upload.multipart"] == uploads and drive_emu.calls["files.create"] == folders
    assert len(exported_files(drive_emu)) == 2
    assert len(drive_emu.find("generated")) == 2  # one per product folder, found again by name and appProperties


def test_an_interrupted_export_resumes_without_duplicates(rt, drive_emu, shop, monkeypatch):
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=shop["root"], mode="folders")
    job_id, _ = approved_job(rt, conn.id)
    # The first upload succeeds; the second keeps failing past every retry.
    calls_before = drive_emu.calls["upload.multipart"]

    def fail_second_upload():
        drive_emu.fail_next(rt.settings.http_retries + 1, op="upload.multipart", status=503, reason="backendError")

    original = drive_client.DriveClient.create_file

    def create_then_break(self, **kw):
        out = original(self, **kw)
        fail_second_upload()
        return out

    with monkeypatch.context() as m:
        m.setattr(drive_client.DriveClient, "create_file", create_then_break)
        with pytest.raises(SourceUnavailable):
            export_approved(rt, job_id)
    assert len(exported_files(drive_emu)) == 1
    assert drive_emu.calls["upload.multipart"] - calls_before == 1 + rt.settings.http_retries + 1

    results = export_approved(rt, job_id)
    assert sorted(r.created for r in results) == [False, True]
    assert len(exported_files(drive_emu)) == 2


def test_names_with_quotes_are_found_again(rt, drive_emu, shop):
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=shop["root"], mode="folders")
    job_id, _ = approved_job(rt, conn.id)
    names = sorted(r.name for r in export_approved(rt, job_id))
    assert names == ["Baker's-vase-large_marble_counter_v1.jpg", "GK-MUG-001_marble_counter_v1.jpg"]
    assert all(not r.created for r in export_approved(rt, job_id))


def test_an_existing_file_with_the_same_name_is_kept(rt, drive_emu, shop):
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=shop["root"], mode="folders")
    target = drive_emu.add_folder("For the website", shop["root"])
    drive_emu.add_file("GK-MUG-001_marble_counter_v1.jpg", target, b"someone else's file")
    job_id, assets = approved_job(rt, conn.id, only="Marble mug")
    [result] = export_approved(rt, job_id, folder_id=target)
    assert result.name == f"GK-MUG-001_marble_counter_v1_a{result.asset_id}.jpg" and result.folder_id == target
    assert drive_emu.content(drive_emu.find("GK-MUG-001_marble_counter_v1.jpg")[0].id) == b"someone else's file"
    assert export_approved(rt, job_id, folder_id=target)[0].file_id == result.file_id


def test_exports_never_come_back_as_products(rt, drive_emu, shop):
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=shop["root"], mode="images")
    job_id, _ = approved_job(rt, conn.id)
    export_approved(rt, job_id)
    source = rt.source("drive", conn.id)
    source.refresh()
    assert source.list_products(ProductQuery()).total == 2


def test_a_service_account_cannot_export_into_my_drive(rt, drive_emu):
    root = drive_emu.add_folder("Catalogue")  # in the merchant's My Drive
    drive_emu.add_file("GK-1 - Cup.jpg", root, PHOTO)
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=root, mode="images")
    job_id, _ = approved_job(rt, conn.id)
    with pytest.raises(DriveQuotaError) as err:
        export_approved(rt, job_id)
    assert "shared drive" in err.value.message and "user credentials" in err.value.message
    assert exported_files(drive_emu) == []

    user = save_drive(rt, credentials_json=authorized_user_json(drive_emu), root_folder_id=root, mode="images")
    [done] = export_approved(rt, job_id, connection_id=user.id)
    assert done.created and done.name == "GK-1_marble_counter_v1.jpg"


def test_large_images_use_a_resumable_upload(rt, drive_emu, shop, monkeypatch):
    monkeypatch.setattr(drive_client, "RESUMABLE_THRESHOLD", 100_000)
    monkeypatch.setattr(drive_client, "UPLOAD_CHUNK", 256 * 1024)
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=shop["root"], mode="folders")
    job_id, _ = approved_job(rt, conn.id, only="Marble mug", size=(500, 500), noisy=True)
    [result] = export_approved(rt, job_id)
    with rt.db.session() as s:
        asset = s.get(Asset, result.asset_id)
    assert asset.size_bytes > 256 * 1024
    assert drive_emu.calls["upload.resumable"] == 1
    assert drive_emu.calls["upload.chunk"] == -(-asset.size_bytes // (256 * 1024))
    assert drive_emu.content(result.file_id) == rt.blobs.get(asset.sha256)


def test_rate_limited_uploads_are_retried(rt, drive_emu, shop, drive_waits):
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=shop["root"], mode="folders")
    job_id, _ = approved_job(rt, conn.id)
    drive_emu.fail_next(2, op="upload.multipart", reason="userRateLimitExceeded")
    assert all(r.created for r in export_approved(rt, job_id))
    assert len(drive_waits) == 2 and len(exported_files(drive_emu)) == 2


def test_jobs_from_other_sources_need_a_chosen_folder(rt, drive_emu, shop):
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=shop["root"], mode="folders")
    job_id, _ = approved_job(rt, conn.id, source_kind="demo")
    with pytest.raises(InputError, match="choose the Drive folder"):
        export_approved(rt, job_id)
    with pytest.raises(InputError, match="not a folder"):
        export_approved(rt, job_id, folder_id=drive_emu.children(shop["mug"])[0].id)
    assert len(export_approved(rt, job_id, folder_id=shop["root"])) == 2
