"""Connecting a WooCommerce store: the checklist a merchant sees, and saving credentials encrypted."""

from __future__ import annotations

import pytest

from lib.connections import get_connection, list_connections, read_secret
from lib.errors import InputError
from lib.sources.wc_check import Check
from lib.sources.wc_check import check_connection as _check_connection
from lib.sources.woocommerce import save_woocommerce
from lib.sources.woocommerce import test_connection as run_saved_check
from tests.emulators.woocommerce import (
    APP_PASSWORD,
    CONSUMER_KEY,
    CONSUMER_SECRET,
    READ_ONLY_KEY,
    READ_ONLY_SECRET,
    VIEWER_PASSWORD,
    VIEWER_USER,
    WP_USER,
    PlainServer,
    WooEmulator,
)


@pytest.fixture
def rt_settings():
    return {"http_timeout_seconds": 2.0}


def check_connection(*args, **kw):
    # The emulators are local stores: allowed as an admin allows one with the setting private_store_hosts.
    return _check_connection(*args, private_hosts=["127.0.0.1"], **kw)


def by_name(checks: list[Check]) -> dict[str, Check]:
    return {c.label: c for c in checks}


def failures(checks: list[Check]) -> list[str]:
    return [c.label for c in checks if not c.ok and not c.skipped]


def test_good_store_passes_every_check(woo_emu):
    checks = check_connection(woo_emu.url, CONSUMER_KEY, CONSUMER_SECRET, WP_USER, APP_PASSWORD, timeout=2)
    assert failures(checks) == []
    named = by_name(checks)
    assert list(named) == [
        "Store address",
        "Reachable",
        "WooCommerce store",
        "API key valid",
        "API key can write",
        "Application Password can upload media",
        "Secure connection",
    ]
    assert "OAuth 1.0a" in named["API key valid"].detail  # over http the client signs each request
    assert "17 in the store" in named["API key valid"].detail
    assert "local" in named["Secure connection"].detail
    # the write probe changed nothing
    assert woo_emu.counts["product_updates"] == 0 and len(woo_emu.products) == 17


def test_wrong_secret(woo_emu):
    checks = check_connection(woo_emu.url, CONSUMER_KEY, "cs_wrong", WP_USER, APP_PASSWORD, timeout=2)
    named = by_name(checks)
    assert failures(checks) == ["API key valid"]
    assert "Invalid signature" in named["API key valid"].detail
    assert "REST API" in named["API key valid"].advice
    assert named["API key can write"].skipped


def test_unknown_key(woo_emu):
    named = by_name(check_connection(woo_emu.url, "ck_nobody", "cs_nobody", WP_USER, APP_PASSWORD, timeout=2))
    assert not named["API key valid"].ok and "Consumer key is invalid" in named["API key valid"].detail


def test_read_only_key(woo_emu):
    checks = check_connection(woo_emu.url, READ_ONLY_KEY, READ_ONLY_SECRET, WP_USER, APP_PASSWORD, timeout=2)
    assert failures(checks) == ["API key can write"]
    assert "Read/Write" in by_name(checks)["API key can write"].advice


def test_bad_application_password(woo_emu):
    checks = check_connection(woo_emu.url, CONSUMER_KEY, CONSUMER_SECRET, WP_USER, "wrong pass word", timeout=2)
    assert failures(checks) == ["Application Password can upload media"]
    check = by_name(checks)["Application Password can upload media"]
    assert check.detail == "WordPress refused the Application Password."
    said = f"{check.detail} {check.advice}"
    assert said.count("Users › Profile › Application Passwords") == 1 and said.count("create a new") <= 1


def test_unknown_wordpress_user(woo_emu):
    named = by_name(check_connection(woo_emu.url, CONSUMER_KEY, CONSUMER_SECRET, "nobody", APP_PASSWORD, timeout=2))
    assert "user name" in named["Application Password can upload media"].detail


def test_user_who_cannot_upload(woo_emu):
    checks = check_connection(woo_emu.url, CONSUMER_KEY, CONSUMER_SECRET, VIEWER_USER, VIEWER_PASSWORD, timeout=2)
    assert failures(checks) == ["Application Password can upload media"]
    assert "Shop manager" in by_name(checks)["Application Password can upload media"].advice


def test_missing_application_password(woo_emu):
    checks = check_connection(woo_emu.url, CONSUMER_KEY, CONSUMER_SECRET, "", "", timeout=2)
    assert failures(checks) == ["Application Password can upload media"]


def test_application_password_over_http_on_a_non_local_site():
    with WooEmulator(local_site=False) as emu:
        named = by_name(check_connection(emu.url, CONSUMER_KEY, CONSUMER_SECRET, WP_USER, APP_PASSWORD, timeout=2))
    check = named["Application Password can upload media"]
    assert not check.ok and "http" in check.detail and "https://" in check.advice


def test_not_a_store():
    with PlainServer() as plain:
        checks = check_connection(plain.url, CONSUMER_KEY, CONSUMER_SECRET, WP_USER, APP_PASSWORD, timeout=2)
    named = by_name(checks)
    assert named["Reachable"].ok
    assert failures(checks) == ["WooCommerce store"]
    assert "not a WordPress" in named["WooCommerce store"].detail
    assert "another platform" in named["WooCommerce store"].advice  # advice for a shop that is not WordPress at all
    assert all(c.skipped for c in checks[3:])


def test_a_redirect_names_the_address_to_use():
    with PlainServer(redirect_to="https://shop.example.com") as moved:
        named = by_name(check_connection(moved.url, CONSUMER_KEY, CONSUMER_SECRET, WP_USER, APP_PASSWORD, timeout=2))
    assert not named["Reachable"].ok and "https://shop.example.com" in named["Reachable"].advice
    assert named["WooCommerce store"].skipped


def test_wordpress_without_woocommerce():
    with WooEmulator(woocommerce=False) as emu:
        named = by_name(check_connection(emu.url, CONSUMER_KEY, CONSUMER_SECRET, WP_USER, APP_PASSWORD, timeout=2))
    assert not named["WooCommerce store"].ok and "activate WooCommerce" in named["WooCommerce store"].advice


def test_unreachable_and_invalid_addresses():
    with PlainServer() as plain:
        url = plain.url  # closed right after: nothing listens there any more
    named = by_name(check_connection(url, "ck", "cs", "u", "p", timeout=1))
    assert not named["Reachable"].ok and named["Reachable"].advice
    assert named["WooCommerce store"].skipped
    named = by_name(check_connection("ftp://nope", "ck", "cs", "u", "p", timeout=1))
    assert not named["Store address"].ok and named["Store address"].advice
    for typed in ("my shop", "shop", "https://my shop.com"):  # not addresses: no tick, nothing fetched
        named = by_name(check_connection(typed, "ck", "cs", "u", "p", timeout=1))
        assert not named["Store address"].ok, typed
        assert named["Reachable"].skipped, typed


def test_plain_http_on_a_public_address_is_flagged():
    from lib.sources.wc_check import _is_local

    assert _is_local("127.0.0.1") and _is_local("shop.local") and not _is_local("shop.example.com")


def test_plain_http_on_a_public_site_fails_the_secure_check_with_the_https_fix(monkeypatch):
    from lib.sources import wc_check

    monkeypatch.setattr(wc_check, "_is_local", lambda host: False)  # the loopback store plays a public one
    with WooEmulator(local_site=False) as emu:
        named = by_name(check_connection(emu.url, CONSUMER_KEY, CONSUMER_SECRET, WP_USER, APP_PASSWORD, timeout=2))
    assert named["API key valid"].ok and "OAuth 1.0a" in named["API key valid"].detail
    secure = named["Secure connection"]
    assert not secure.ok and "Plain http" in secure.detail and "Application Passwords" in secure.detail
    assert "https://" in secure.advice


def test_the_connect_page_calling_convention(rt, woo_emu):
    checks = check_connection(
        rt,
        base_url=woo_emu.url,
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        wp_user=WP_USER,
        app_password=APP_PASSWORD,
    )
    assert failures(checks) == []


def test_save_encrypts_and_activates(rt, woo_emu):
    conn = save_woocommerce(
        rt, url=woo_emu.url + "/", key=CONSUMER_KEY, secret=CONSUMER_SECRET, wp_user=WP_USER, app_password=APP_PASSWORD
    )
    assert conn.is_active and conn.base_url == woo_emu.url and conn.name == "127.0.0.1"
    assert conn.settings == {"wp_user": WP_USER}
    assert CONSUMER_SECRET.encode() not in conn.secret_blob and APP_PASSWORD.encode() not in conn.secret_blob
    assert read_secret(rt.vault, conn) == {
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "app_password": APP_PASSWORD,
    }
    second = save_woocommerce(
        rt, base_url=woo_emu.url, consumer_key=CONSUMER_KEY, consumer_secret=CONSUMER_SECRET, name="Second shop"
    )
    assert [c.is_active for c in list_connections(rt.db, "woocommerce")] == [False, True]
    assert second.name == "Second shop"
    with pytest.raises(InputError):
        save_woocommerce(rt, url=woo_emu.url, key="", secret="cs")
    with pytest.raises(InputError):
        save_woocommerce(rt, url="not a url at all://", key="ck", secret="cs")


def test_saved_connection_check_is_remembered(rt, woo_emu):
    conn = save_woocommerce(
        rt, url=woo_emu.url, key=CONSUMER_KEY, secret="cs_wrong", wp_user=WP_USER, app_password=APP_PASSWORD
    )
    run_saved_check(rt, conn)
    stored = get_connection(rt.db, conn.id)
    assert stored.verified_at is not None and stored.last_error.startswith("API key valid")
    good = save_woocommerce(
        rt, url=woo_emu.url, key=CONSUMER_KEY, secret=CONSUMER_SECRET, wp_user=WP_USER, app_password=APP_PASSWORD
    )
    assert failures(run_saved_check(rt, good)) == []
    assert get_connection(rt.db, good.id).last_error is None
