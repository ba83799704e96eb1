"""The headless CLI: JSON shapes, and refusals that change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from lib import cli, jobs
from lib.models import Event, Publication
from lib.runtime import Runtime
from lib.sources.drive import save_drive
from lib.sources.woocommerce import save_woocommerce
from tests.conftest import ScriptedProvider, make_runtime
from tests.emulators.drive import DriveEmulator, service_account_json
from tests.emulators.woocommerce import APP_PASSWORD, CONSUMER_KEY, CONSUMER_SECRET, WP_USER, WooEmulator
from tests.test_export import PHOTO, approved_job, exported_files


def run(rt: Runtime, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object, str]:
    code = cli.main(list(argv), rt=rt)
    out, err = capsys.readouterr()
    data = json.loads(out) if "--json" in argv and out.strip() else out
    return code, data, err


def test_demo_runs_a_job_to_completion(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    code, data, _ = run(rt, capsys, "--json", "demo", "--products", "2", "--variants", "2", "--style", "oak_table")
    assert code == 0
    assert set(data) == {"job_id", "items", "succeeded", "failed", "assets"}
    assert (data["items"], data["succeeded"], data["failed"]) == (4, 4, 0)
    assert len(data["assets"]) == 4 and all(
        Path(p).is_file() and Path(p).stat().st_size > 10_000 for p in data["assets"]
    )


def test_demo_products_counts_products_and_runs_only_its_own_job(
    rt: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    provider = ScriptedProvider()
    rt.set_provider("studio", provider)
    code, data, _ = run(rt, capsys, "--json", "generate", "--source", "demo", "--products", "GK-MUG-001", "--yes")
    other = data["job_id"]
    code, data, _ = run(rt, capsys, "--json", "demo", "--products", "14")
    assert code == 0
    items = jobs.job_items(rt.db, data["job_id"])
    # every one of the 14 products; the variable tee (product 12) with each of its 4 variations
    assert sorted({i.product_id for i in items}, key=int) == [str(n) for n in range(1, 15)]
    assert sorted(i.variation_id for i in items if i.product_id == "12") == ["12-1", "12-2", "12-3", "12-4"]
    assert (data["items"], data["succeeded"]) == (17, 17) and provider.calls == 17
    # the job queued before it was left for a worker
    assert [i.status for i in jobs.job_items(rt.db, other)] == ["queued"]
    assert jobs.get_job(rt.db, other).status == "queued"


def test_generate_then_worker_then_jobs(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    rt.set_provider("studio", ScriptedProvider())
    code, data, _ = run(
        rt,
        capsys,
        "generate",
        "--source",
        "demo",
        "--products",
        "GK-MUG-001,2",
        "--provider",
        "studio",
        "--variants",
        "2",
        "--aspect",
        "4:5",
        "--yes",
        "--json",
    )
    assert code == 0 and data["items"] == 4
    job_id = data["job_id"]
    code, data, _ = run(rt, capsys, "jobs", "--job", str(job_id), "--json")
    assert data["job"]["aspect_ratio"] == "4:5"
    assert [i["status"] for i in data["items"]] == ["queued"] * 4
    assert set(data["items"][0]) >= {"id", "status", "stage", "attempts", "error"}
    code, data, _ = run(rt, capsys, "worker", "--until-idle", "--json")
    assert code == 0 and data["succeeded"] == 4
    code, data, _ = run(rt, capsys, "jobs", "--job", str(job_id), "--json")
    assert [i["status"] for i in data["items"]] == ["succeeded"] * 4
    code, data, _ = run(rt, capsys, "approve", "--job", str(job_id), "--items", str(data["items"][0]["id"]), "--json")
    assert data == {"approved": 1}
    code, data, _ = run(rt, capsys, "jobs", "--json")
    assert data["total"] == 1 and data["jobs"][0]["id"] == job_id


def test_generate_a_category_in_one_style(rt: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    code, data, _ = run(
        rt,
        capsys,
        "--json",
        "generate",
        "--source",
        "demo",
        "--category",
        "Bath & Beauty",
        "--provider",
        "studio",
        "--style",
        "dark_moody",
        "--aspect",
        "16:9",
        "--yes",
    )
    assert code == 0 and data["items"] == 2
    job = jobs.get_job(rt.db, data["job_id"])
    assert (job.style, job.aspect_ratio, job.provider) == ("dark_moody", "16:9", "studio")
    items = jobs.job_items(rt.db, job.id)
    assert sorted(i.product_id for i in items) == ["13", "14"]  # the soap pump and the serum
    assert {i.product["category"] for i in items} == {"Bath & Beauty"}
    assert {i.product["style"] for i in items} == {"dark_moody"}


def test_generate_with_reference_asks_gemini_to_match_the_first_approved_shot(
    rt: Runtime, capsys: pytest.CaptureFixture[str]
) -> None:
    for flags in (["--reference"], []):
        code, made, _ = run(
            rt,
            capsys,
            "--json",
            "generate",
            "--source",
            "demo",
            "--products",
            "GK-MUG-001",
            "--provider",
            "gemini",
            "--variants",
            "2",
            *flags,
            "--yes",
        )
        assert code == 0
        _, shown, _ = run(rt, capsys, "--json", "jobs", "--job", str(made["job_id"]))
        assert shown["job"]["options"] == ({"use_reference": True} if flags else {})


@pytest.mark.parametrize(
    ("argv", "mode"),
    [
        (["--provider", "gemini", "--variants", "2"], "batch"),  # 2 products × 2 variants: at the threshold of 4
        (["--provider", "gemini"], "online"),  # 2 images, under it
        (["--provider", "gemini", "--variants", "2", "--mode", "online"], "online"),
        (["--provider", "gemini", "--mode", "batch"], "batch"),
        (["--provider", "studio", "--variants", "2"], "online"),  # no batch API
    ],
)
def test_generate_uses_batch_mode_from_the_batch_threshold_unless_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], mode: str
) -> None:
    rt = make_runtime(tmp_path / "data", batch_threshold=4)
    code, data, _ = run(rt, capsys, "--json", "generate", "--source", "demo", "--products", "1,2", *argv, "--yes")
    assert code == 0 and data["mode"] == mode
    job = jobs.get_job(rt.db, data["job_id"])
    assert job.mode == mode
    price = rt.settings.price(job.model).per_image(batch=mode == "batch") if job.provider == "gemini" else 0.0
    assert job.estimated_cost == pytest.approx(price * job.item_count, rel=1e-3)  # batch at the batch price
    rt.db.dispose()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "--source", "demo", "--products", "NOPE-1", "--yes"], "No product with id or SKU NOPE-1"),
        (
            ["generate", "--source", "demo", "--products", "2", "--reference", "--yes"],
            "Reference shots are only used by Gemini",
        ),
        (["generate", "--source", "demo", "--category", "Kitchen"], "Add --yes"),
        (["generate", "--source", "demo", "--variants", "9", "--yes"], "between 1 and 4"),
        (["generate", "--source", "woocommerce", "--yes"], "No WooCommerce connection"),
        (["approve", "--job", "42", "--all"], "Job 42 does not exist"),
    ],
)
def test_refusals_print_one_sentence_and_change_nothing(
    rt: Runtime, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, _, err = run(rt, capsys, *argv)
    assert code == 2 and message in err and "Traceback" not in err
    assert jobs.list_jobs(rt.db) == ([], 0)


# export: approved images to Google Drive, against the loopback Drive emulator ---------------------------------


@pytest.fixture
def drive_rt(tmp_path: Path, drive_emu: DriveEmulator) -> Iterator[Runtime]:
    runtime = make_runtime(tmp_path / "drive-data", drive_root_url=drive_emu.url)
    yield runtime
    runtime.db.dispose()


def shop_folder(emu: DriveEmulator) -> str:
    """A catalogue folder in a shared drive (where a service account may create files), two products in it."""
    root = emu.add_folder("Catalogue", emu.add_shared_drive("Shop photos"))
    emu.add_file("front.jpg", emu.add_folder("GK-MUG-001 - Marble mug", root), PHOTO)
    emu.add_file("side.jpg", emu.add_folder("GK-VAS-002 - Vase", root), PHOTO)
    return root


def drive_contents(emu: DriveEmulator) -> list[tuple[str, str, tuple[str, ...], bool]]:
    return sorted((f.id, f.name, tuple(f.parents), f.trashed) for f in emu.files.values())


def test_export_twice_puts_each_image_in_drive_once(
    drive_rt: Runtime, drive_emu: DriveEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    root = shop_folder(drive_emu)
    conn = save_drive(drive_rt, credentials_json=service_account_json(drive_emu), root_folder_id=root, mode="folders")
    job_id, _ = approved_job(drive_rt, conn.id)

    code, first, _ = run(drive_rt, capsys, "export", "--job", str(job_id), "--json")
    assert code == 0 and (first["created"], first["already_there"]) == (2, 0)
    assert sorted(f["name"] for f in first["files"]) == [
        "GK-MUG-001_marble_counter_v1.jpg",
        "GK-VAS-002_marble_counter_v1.jpg",
    ]
    after_first = drive_contents(drive_emu)

    code, text, _ = run(drive_rt, capsys, "export", "--job", str(job_id))
    assert code == 0 and "Exported 0 images to Drive; 2 were already there." in text
    code, again, _ = run(drive_rt, capsys, "export", "--job", str(job_id), "--json")
    assert code == 0 and (again["created"], again["already_there"]) == (0, 2)
    assert [f["file_id"] for f in again["files"]] == [f["file_id"] for f in first["files"]]
    assert drive_contents(drive_emu) == after_first and len(exported_files(drive_emu)) == 2


def test_export_to_a_chosen_folder(
    drive_rt: Runtime, drive_emu: DriveEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    root = shop_folder(drive_emu)
    conn = save_drive(drive_rt, credentials_json=service_account_json(drive_emu), root_folder_id=root, mode="folders")
    target = drive_emu.add_folder("For the website", root)
    job_id, _ = approved_job(drive_rt, conn.id, source_kind="demo")
    code, data, _ = run(drive_rt, capsys, "--json", "export", "--job", str(job_id), "--folder", target)
    assert code == 0 and data["created"] == 2
    assert sorted(f.name for f in drive_emu.children(target)) == sorted(f["name"] for f in data["files"])


def refused_export(
    case: str, rt: Runtime, emu: DriveEmulator, root: str, capsys: pytest.CaptureFixture[str]
) -> list[str]:
    """The `export` arguments of each refused case, after setting up what the case needs."""
    if case == "unknown job":
        return ["export", "--job", "999"]
    if case == "no drive connection":  # a demo job, approved, and Drive never connected
        rt.set_provider("studio", ScriptedProvider(echo_source=True))  # faithful images: approve --all takes them
        _, made, _ = run(rt, capsys, "--json", "generate", "--source", "demo", "--products", "GK-MUG-001", "--yes")
        run(rt, capsys, "worker", "--until-idle")
        run(rt, capsys, "approve", "--job", str(made["job_id"]), "--all")
        return ["export", "--job", str(made["job_id"]), "--folder", root]
    conn = save_drive(rt, credentials_json=service_account_json(emu), root_folder_id=root, mode="folders")
    if case == "nothing approved":
        job_id, _ = approved_job(rt, conn.id, only="a name no product has")
        return ["export", "--job", str(job_id)]
    job_id, _ = approved_job(rt, conn.id, source_kind="demo")
    photo = next(f.id for f in emu.files.values() if f.name == "front.jpg")
    folder = {"folder is a photo": [photo], "folder does not exist": ["no-such-folder-id"]}.get(case, [])
    return ["export", "--job", str(job_id), *(["--folder", *folder] if folder else [])]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unknown job", "Job 999 does not exist"),
        ("not from drive, no folder", "choose the Drive folder to export them to"),
        ("folder is a photo", "is not a folder we can export to"),
        ("folder does not exist", "Google Drive cannot find the export folder"),
        ("nothing approved", "has no approved images to export"),
        ("no drive connection", "No Google Drive connection is set up"),
    ],
)
def test_export_refusals_print_one_sentence_and_change_nothing(
    drive_rt: Runtime, drive_emu: DriveEmulator, capsys: pytest.CaptureFixture[str], case: str, message: str
) -> None:
    argv = refused_export(case, drive_rt, drive_emu, shop_folder(drive_emu), capsys)
    before = drive_contents(drive_emu)

    code, _, err = run(drive_rt, capsys, *argv)

    assert code == 2 and message in err and "Traceback" not in err and err.count("\n") == 1
    assert drive_contents(drive_emu) == before and exported_files(drive_emu) == []
    with drive_rt.db.session() as s:
        assert s.exec(select(Event).where(Event.kind == "info", Event.service == "drive")).all() == []


# publish, for a Drive job: to the WooCommerce store, matching products by SKU --------------------------------


def sku_folders(emu: DriveEmulator) -> str:
    """Two Drive product folders: one whose SKU the WooCommerce emulator has (WCR-MUG-RED), one it does not."""
    root = emu.add_folder("Catalogue")
    for name in ("WCR-MUG-RED - Red mug", "GK-NEW-001 - New lamp"):
        emu.add_file("front.jpg", emu.add_folder(name, root), PHOTO)
    return root


def connect_store(rt: Runtime, woo: WooEmulator, *, activate: bool = True) -> int:
    conn = save_woocommerce(
        rt,
        url=woo.url,
        key=CONSUMER_KEY,
        secret=CONSUMER_SECRET,
        wp_user=WP_USER,
        app_password=APP_PASSWORD,
        name="Shop",
        activate=activate,
    )
    assert conn.id is not None
    return conn.id


def test_publish_sends_a_drive_jobs_images_to_the_store_product_with_the_same_sku_and_rolls_back(
    drive_rt: Runtime, drive_emu: DriveEmulator, woo_emu: WooEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    conn = save_drive(
        drive_rt,
        credentials_json=service_account_json(drive_emu),
        root_folder_id=sku_folders(drive_emu),
        mode="folders",
    )
    job_id, _ = approved_job(drive_rt, conn.id)
    store = connect_store(drive_rt, woo_emu, activate=False)  # not the active store: --connection picks it
    red_mug = next(pid for pid, p in woo_emu.products.items() if p["sku"] == "WCR-MUG-RED")
    before = woo_emu.image_ids(red_mug)

    code, data, _ = run(
        drive_rt, capsys, "--json", "publish", "--job", str(job_id), "--role", "featured", "--connection", str(store)
    )

    assert code == 1  # not everything was published: the lamp's SKU is not in the store
    assert data["unmatched"] == [
        "Image #1 of “New lamp” (GK-NEW-001): the store has no product or variation with SKU GK-NEW-001."
    ]
    [pub] = data["publications"]
    assert (pub["product_id"], pub["state"], pub["store"], pub["connection_id"]) == (
        str(red_mug),
        "done",
        "woocommerce",
        store,
    )
    assert woo_emu.image_ids(red_mug) == [int(pub["media_id"]), *before]  # new featured; the old one kept

    code, text, _ = run(
        drive_rt, capsys, "publish", "--job", str(job_id), "--role", "featured", "--connection", str(store)
    )
    assert "not published: Image #1 of “New lamp” (GK-NEW-001): the store has no product or variation" in text
    assert woo_emu.image_ids(red_mug) == [int(pub["media_id"]), *before]  # again: nothing more at the store

    code, data, _ = run(drive_rt, capsys, "--json", "rollback", "--job", str(job_id))
    assert code == 0 and data["restored"] == [str(red_mug)] and woo_emu.image_ids(red_mug) == before


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no store", "No WooCommerce store is connected"),
        (
            "no sku matches",
            "Nothing was published. Image #1 of “New lamp” (GK-NEW-001): the store has no product or variation "
            "with SKU GK-NEW-001.",
        ),
        ("a drive connection", "is not a WooCommerce store"),
        ("a store job with --connection", "--connection is only for Drive and upload jobs"),
    ],
)
def test_publish_refusals_for_drive_jobs_print_one_sentence_and_change_nothing(
    drive_rt: Runtime,
    drive_emu: DriveEmulator,
    woo_emu: WooEmulator,
    capsys: pytest.CaptureFixture[str],
    case: str,
    message: str,
) -> None:
    conn = save_drive(
        drive_rt,
        credentials_json=service_account_json(drive_emu),
        root_folder_id=sku_folders(drive_emu),
        mode="folders",
    )
    job_id, _ = approved_job(
        drive_rt,
        conn.id,
        only="New lamp" if case == "no sku matches" else None,
        source_kind="demo" if case == "a store job with --connection" else "drive",
    )
    extra: list[str] = []
    if case != "no store":
        store = connect_store(drive_rt, woo_emu)
        extra = {
            "a drive connection": ["--connection", str(conn.id)],
            "a store job with --connection": ["--connection", str(store)],
        }.get(case, [])
    before = ({pid: list(p["image_ids"]) for pid, p in woo_emu.products.items()}, set(woo_emu.media))

    code, _, err = run(drive_rt, capsys, "--json", "publish", "--job", str(job_id), "--role", "featured", *extra)

    assert code == 2 and message in err and "Traceback" not in err and err.count("\n") == 1
    assert ({pid: list(p["image_ids"]) for pid, p in woo_emu.products.items()}, set(woo_emu.media)) == before
    with drive_rt.db.session() as s:
        assert s.exec(select(Publication)).all() == []
