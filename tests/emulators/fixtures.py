"""pytest fixtures for the Drive and WooCommerce emulators, shared by the tests of lib/sources, lib/export and
lib/publish (a plugin: tests/conftest.py registers it, as tests/test_export.py and tests/test_publish.py are not
under tests/sources). The emulator modules themselves stay free of pytest: bench/ imports them too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lib import publish
from lib.sources import drive_client, shopify_client, shopify_target, wc_client
from tests.emulators.drive import DriveEmulator
from tests.emulators.shopify import FakeClock, ShopifyEmulator
from tests.emulators.woocommerce import WooEmulator


@pytest.fixture
def drive_emu() -> Iterator[DriveEmulator]:
    with DriveEmulator(page_cap=100) as emu:
        yield emu


@pytest.fixture
def drive_waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Drive retry back-off waits are recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(drive_client, "SLEEP", recorded.append)
    return recorded


@pytest.fixture
def woo_emu() -> Iterator[WooEmulator]:
    with WooEmulator() as emu:
        yield emu
    assert emu.errors == []  # no request tripped over a bug in the emulator


@pytest.fixture
def no_store_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Drive, store and publish retry back-offs are not slept (for tests that time nothing)."""
    for module in (drive_client, wc_client, publish):
        monkeypatch.setattr(module, "SLEEP", lambda s: None)


@pytest.fixture
def shopify_emu() -> Iterator[ShopifyEmulator]:
    with ShopifyEmulator() as emu:
        yield emu
    assert emu.errors == []  # no request tripped over a bug in the emulator


@pytest.fixture
def shopify_waits(monkeypatch: pytest.MonkeyPatch, shopify_emu: ShopifyEmulator) -> list[float]:
    """Shopify waits (pacing, retries, polling) are recorded instead of slept, and move the shop's clock (its cost
    bucket refills and its tokens age by exactly the time the client waited)."""
    clock = FakeClock()
    shopify_emu.clock = clock
    recorded: list[float] = []

    def wait(seconds: float) -> None:
        recorded.append(seconds)
        clock.advance(seconds)

    for module in (shopify_client, shopify_target, publish):
        monkeypatch.setattr(module, "SLEEP", wait)
    monkeypatch.setattr(shopify_client, "CLOCK", clock)
    monkeypatch.setattr(shopify_client, "TOKENS", shopify_client._TokenCache())  # no token from another test
    return recorded
