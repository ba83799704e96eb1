"""Google Drive through the Connect and Products pages, against the loopback Drive emulator."""

from __future__ import annotations

import pytest

from lib.connections import list_connections
from tests.ui.conftest import assert_ok, page

emulator = pytest.importorskip("tests.emulators.drive")


@pytest.fixture
def emu(monkeypatch):
    with emulator.DriveEmulator(page_cap=100) as e:
        monkeypatch.setenv("DRIVE_ROOT_URL", e.url)
        yield e


def test_connect_pick_a_folder_then_browse_its_products(home, emu) -> None:
    photo = emulator.jpeg_bytes((30, 90, 200), (320, 320))
    catalogue = emulator_root = emu.add_folder("Catalogue")
    kitchen = emu.add_folder("Kitchen", catalogue)
    for sku in ("GK-MUG-001 - Blue mug", "GK-MUG-002 - Red mug"):
        emu.add_file("front.jpg", emu.add_folder(sku, kitchen), photo)
    emu.unshare(emulator.MY_DRIVE_ROOT, emulator.SA_EMAIL)
    emu.share(emulator_root, emulator.SA_EMAIL)

    at = page("connect").run()
    at.get("file_uploader")[0].upload("key.json", emulator.service_account_json(emu).encode(), "application/json")
    at.run()
    at.text_input(key="connect_drive_folder").input(catalogue).run()
    at.button(key="connect_drive_save").click().run()
    assert_ok(at)
    assert any("Catalogue" in s.value for s in at.success), [s.value for s in at.success]  # the test ran

    [conn] = list_connections(home_runtime(home).db, "drive")
    at.toggle(key=f"connect_drive_browse_{conn.id}").set_value(True).run()
    assert_ok(at)
    at.button(key=f"connect_drive_go_{conn.id}_{kitchen}").click().run()
    assert_ok(at)
    at.button(key=f"connect_drive_use_{conn.id}").click().run()
    assert_ok(at)
    [conn] = list_connections(home_runtime(home).db, "drive")
    assert conn.settings["root_folder_id"] == kitchen

    products = page("products").run()
    products.selectbox(key="prod_source").set_value(f"drive:{conn.id}").run()
    assert_ok(products)
    names = [t.value for t in products.text]
    assert "Blue mug" in names and "Red mug" in names


def home_runtime(home):
    from lib.config import Settings
    from lib.runtime import Runtime

    return Runtime.build(Settings.load(secrets_file=None, imagegecko_home=home))
