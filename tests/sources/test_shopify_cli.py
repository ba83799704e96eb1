"""The CLI with a Shopify shop: connect (secrets from the environment, never arguments), generate from the shop,
publish, roll back; and Drive → Shopify by SKU with --store shopify. Against the Shopify emulator."""

from __future__ import annotations

import json

import pytest

from lib import cli
from lib.connections import list_connections
from tests.conftest import ScriptedProvider
from tests.emulators.shopify import ADMIN_TOKEN, CLIENT_ID, CLIENT_SECRET


@pytest.fixture
def run(rt, capsys, shopify_waits):
    def run(*argv: str) -> tuple[int, object, str]:
        code = cli.main([*argv, "--json"], rt=rt)
        out, err = capsys.readouterr()
        return code, json.loads(out) if out.strip() else None, err

    return run


def test_connect_generate_publish_rollback(rt, shopify_emu, run, monkeypatch):
    shop = ["--shop", shopify_emu.url]
    code, data, err = run("connect", "shopify", *shop, "--token", ADMIN_TOKEN)
    assert code == 2 and "--token" in err and list_connections(rt.db, "shopify") == []
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", "shpat_wrong")
    code, data, err = run("connect", "shopify", *shop)
    assert code == 2 and "Access token valid" in err and list_connections(rt.db, "shopify") == []
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", ADMIN_TOKEN)
    code, data, _ = run("connect", "shopify", *shop, "--name", "Gecko")
    assert code == 0 and data["kind"] == "shopify" and data["name"] == "Gecko"

    rt.set_provider("studio", ScriptedProvider(echo_source=True))  # faithful images: approve --all takes them
    code, data, err = run("generate", "--source", "shopify", "--products", "SH-MUG-RED", "--yes")
    assert code == 0 and data["items"] == 1, err
    job = str(data["job_id"])
    assert run("worker", "--until-idle")[0] == 0
    assert run("approve", "--job", job, "--all")[1]["approved"] == 1
    mug = shopify_emu.product_by_title("Red Mug")["id"]
    before = shopify_emu.product_media(mug)
    code, data, _ = run("publish", "--job", job, "--role", "featured")
    assert code == 0 and data["publications"][0]["state"] == "done"
    assert shopify_emu.product_media(mug) == [int(data["publications"][0]["media_id"]), *before]
    code, data, _ = run("rollback", "--job", job)
    assert code == 0 and data["restored"] == [str(mug)] and shopify_emu.product_media(mug) == before


def test_connect_with_client_credentials(rt, shopify_emu, run, monkeypatch):
    monkeypatch.setenv("SHOPIFY_CLIENT_SECRET", CLIENT_SECRET)
    code, data, err = run("connect", "shopify", "--shop", shopify_emu.url, "--client-id", CLIENT_ID)
    assert code == 0, err
    [conn] = list_connections(rt.db, "shopify")
    assert conn.settings == {"client_id": CLIENT_ID} and CLIENT_SECRET.encode() not in (conn.secret_blob or b"")
