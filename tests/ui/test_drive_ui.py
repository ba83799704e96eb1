"""Google Drive through the Connect and Products pages, against the loopback Drive emulator."""

from __future__ import annotations

import pytest

from lib.connections import list_connections
from tests.emulators import drive as emulator
from tests.ui.conftest import assert_ok, page


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


def _page_text(at) -> str:
    parts = [
        str(e.value)
        for kind in ("markdown", "caption", "text", "success", "error", "warning", "info")
        for e in getattr(at, kind)
    ]
    return "\n".join(parts).replace("\\", "")


def test_the_drive_card_explains_sharing_quota_and_user_credentials(home) -> None:
    at = page("connect").run()
    assert_ok(at)
    text = _page_text(at)
    assert "share your photo folder with the service account's e-mail address" in text
    assert "no storage quota" in text and "cannot create files in a personal My Drive" in text
    assert "shared drive" in text and "User credentials" in text and "authorized-user JSON" in text
    [uploader] = at.get("file_uploader")
    assert "authorized-user" in uploader.proto.label and "service-account" in uploader.proto.label


def test_user_credentials_save_a_drive_connection_on_my_drive(home, emu) -> None:
    from lib.connections import read_secret

    catalogue = emu.add_folder("Catalogue")  # in the user's own My Drive
    emu.add_file(
        "front.jpg", emu.add_folder("GK-MUG-001 - Blue mug", catalogue), emulator.jpeg_bytes((30, 90, 200), (320, 320))
    )
    user_file = emulator.authorized_user_json(emu)

    at = page("connect").run()
    at.get("file_uploader")[0].upload("user.json", user_file.encode(), "application/json")
    at.run()
    assert_ok(at)
    assert any("User credentials" in c.value for c in at.caption)  # the page says what the file is
    at.button(key="connect_drive_save").click().run()  # no folder: start at My Drive
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.success, "the connection test ran and passed"

    rt = home_runtime(home)
    [conn] = list_connections(rt.db, "drive")
    assert conn.settings["root_folder_id"] == "root" and conn.settings["auth"] == "authorized_user"
    secret = read_secret(rt.vault, conn)
    assert secret["type"] == "authorized_user" and secret["credentials_json"] == user_file
    assert b"refresh-token-for-tests" not in (conn.secret_blob or b"")  # saved encrypted
    assert "refresh-token-for-tests" not in _page_text(at)
    assert "user credentials" in _page_text(at)  # the saved card says how it signs in
