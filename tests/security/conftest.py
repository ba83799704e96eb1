"""Fixtures of the security suite: a store connected the way an admin connects one on a local network (its own
host:port listed, nothing else), trap hosts that must never be reached, and a resolver patched at the socket
boundary so that invented DNS names resolve to 127.0.0.1 as a hostile DNS answer would."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.runtime import Runtime
from lib.sources import wc_client
from lib.sources.woocommerce import save_woocommerce
from tests.conftest import make_runtime
from tests.emulators import fixtures as emulator_fixtures
from tests.emulators.trap import TrapServer
from tests.emulators.woocommerce import APP_PASSWORD, CONSUMER_KEY, CONSUMER_SECRET, WP_USER, WooEmulator

# Names a hostile DNS would answer with a loopback address (resolved by the patched getaddrinfo below).
REBOUND_NAMES = ("shop.rebind.example", "cdn.rebind.example")


@pytest.fixture(autouse=True)
def hostile_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if isinstance(host, str) and host.lower().rstrip(".") in REBOUND_NAMES:
            host = "127.0.0.1"
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(autouse=True)
def no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wc_client, "SLEEP", lambda s: None)


@pytest.fixture
def trap() -> Iterator[TrapServer]:
    with TrapServer() as server:
        yield server
    assert server.hits == 0, server.requests_seen  # a host outside the policy was reached


def non_loopback_connects() -> int:
    """How many connections to non-loopback addresses this process has made so far (the audit hook of
    tests/emulators/fixtures.py): compared before and after an action that must not leave the machine."""
    return len(emulator_fixtures.NON_LOOPBACK_CONNECTS)


def store_runtime(home: Path, woo: WooEmulator, **settings: object) -> Runtime:
    """A runtime whose admin listed exactly this store's host:port as a local store, and a store connected."""
    port = woo.url.rsplit(":", 1)[1]
    overrides: dict[str, object] = {
        "private_store_hosts": [f"127.0.0.1:{port}"],
        "http_timeout_seconds": 2.0,
        "http_retries": 0,
        "embedded_worker": False,
        **settings,
    }
    rt = make_runtime(home, **overrides)
    save_woocommerce(
        rt, url=woo.url, key=CONSUMER_KEY, secret=CONSUMER_SECRET, wp_user=WP_USER, app_password=APP_PASSWORD
    )
    return rt
