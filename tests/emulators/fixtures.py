"""pytest fixtures for the Drive and WooCommerce emulators, shared by the tests of lib/sources, lib/export and
lib/publish (a plugin: tests/conftest.py registers it, as tests/test_export.py and tests/test_publish.py are not
under tests/sources). The emulator modules themselves stay free of pytest: bench/ imports them too."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lib import publish
from lib.sources import drive_client, wc_client
from tests.emulators.drive import DriveEmulator
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
