"""From Drive photos to lifestyle shots and back: a job made from Drive products, run by the real worker with the
studio engine, approved, and exported to Drive; also through the CLI."""

from __future__ import annotations

import hashlib
import json

import pytest

from lib import jobs
from lib.cli import main as cli
from lib.export import export_approved
from lib.models import ItemStatus
from lib.sources.base import ProductQuery
from lib.sources.drive import save_drive
from lib.worker import run_until_idle
from tests.emulators.drive import jpeg_bytes, service_account_json

pytestmark = pytest.mark.usefixtures("drive_waits")

MUG = jpeg_bytes((180, 60, 40), (512, 512))
VASE = jpeg_bytes((40, 90, 170), (600, 480))


@pytest.fixture
def rt_settings(drive_emu):
    return {"drive_root_url": drive_emu.url, "poll_seconds": 0.05, "backoff_base_seconds": 0.0}


@pytest.fixture
def shop(drive_emu):
    drive = drive_emu.add_shared_drive("Shop photos")
    root = drive_emu.add_folder("Catalogue", drive)
    kitchen = drive_emu.add_folder("Kitchen", root)
    mug = drive_emu.add_folder("GK-MUG-001 - Marble mug", kitchen)
    drive_emu.add_file("01 front.jpg", mug, MUG)
    drive_emu.add_file("02 back.jpg", mug, jpeg_bytes((10, 10, 10), (512, 512)))
    vase = drive_emu.add_folder("GK-VAS-002 - Blue vase", kitchen)
    drive_emu.add_file("vase.jpg", vase, VASE)
    return {"root": root, "mug": mug, "vase": vase}


def test_a_job_from_drive_products_runs_and_exports_back(rt, drive_emu, shop):
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=shop["root"], mode="folders")
    products = rt.source("drive", conn.id).list_products(ProductQuery()).items
    spec = jobs.JobSpec(source_kind="drive", connection_id=conn.id, style="marble_counter")
    job = jobs.create_job(rt, spec=spec, selections=[jobs.Selection(p) for p in products])
    run_until_idle(rt, concurrency=2)

    items = jobs.job_items(rt.db, job.id)
    assert [i.status for i in items] == [ItemStatus.SUCCEEDED] * 2, [i.error_message for i in items]
    by_product = {i.product_id: i for i in items}
    # The featured (first by name) photo was the one fetched from Drive for each product.
    assert by_product[shop["mug"]].source_sha == hashlib.sha256(MUG).hexdigest()
    assert by_product[shop["vase"]].source_sha == hashlib.sha256(VASE).hexdigest()

    assert jobs.approve_all(rt.db, job_id=job.id) == 2
    results = export_approved(rt, job.id)
    assert sorted(r.name for r in results) == ["GK-MUG-001_marble_counter_v1.jpg", "GK-VAS-002_marble_counter_v1.jpg"]
    generated = [f for f in drive_emu.children(shop["mug"]) if f.name == "generated"]
    [exported] = drive_emu.children(generated[0].id)
    asset = next(a for a in jobs.approved_assets(rt.db, job.id) if a.product_id == shop["mug"])
    assert exported.content == rt.blobs.get(asset.sha256) and exported.content[:3] == b"\xff\xd8\xff"
    assert all(not r.created for r in export_approved(rt, job.id))  # retry: nothing new in Drive
    assert len([f for f in drive_emu.files.values() if "imagegecko_asset" in f.app_properties]) == 2


def test_the_cli_generates_from_drive_by_sku(rt, drive_emu, shop, capsys):
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=shop["root"], mode="folders")
    assert (
        cli(
            [
                "--json",
                "generate",
                "--source",
                "drive",
                "--connection",
                str(conn.id),
                "--products",
                "GK-VAS-002",
                "--style",
                "oak_table",
                "--yes",
            ],
            rt=rt,
        )
        == 0
    )
    job_id = json.loads(capsys.readouterr().out)["job_id"]
    assert cli(["worker", "--until-idle"], rt=rt) == 0
    [item] = jobs.job_items(rt.db, job_id)
    assert item.status == ItemStatus.SUCCEEDED and item.product["sku"] == "GK-VAS-002"
    assert cli(["approve", "--job", str(job_id), "--all"], rt=rt) == 0
    [result] = export_approved(rt, job_id)
    assert result.name == "GK-VAS-002_oak_table_v1.jpg"


def test_a_photo_deleted_from_drive_fails_its_item_with_a_sentence(rt, drive_emu, shop):
    conn = save_drive(rt, credentials_json=service_account_json(drive_emu), root_folder_id=shop["root"], mode="folders")
    products = rt.source("drive", conn.id).list_products(ProductQuery(search="GK-VAS-002")).items
    job = jobs.create_job(
        rt, spec=jobs.JobSpec(source_kind="drive", connection_id=conn.id), selections=[jobs.Selection(products[0])]
    )
    for f in drive_emu.children(shop["vase"]):
        del drive_emu.files[f.id]
    run_until_idle(rt, concurrency=1)
    [item] = jobs.job_items(rt.db, job.id)
    assert item.status == ItemStatus.FAILED
    assert "cannot find the photo vase.jpg" in item.error_message
