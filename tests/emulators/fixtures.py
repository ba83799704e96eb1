"""pytest fixtures for the Drive and WooCommerce emulators, shared by the tests of lib/sources, lib/export and
lib/publish (a plugin: tests/conftest.py registers it, as tests/test_export.py and tests/test_publish.py are not
under tests/sources). The emulator modules themselves stay free of pytest: bench/ imports them too."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from lib import publish
from lib.sources import drive_client, shopify_client, shopify_target, wc_client
from tests.emulators.base import OFF_POLICY_REQUESTS
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


# The whole run's outbound figures -------------------------------------------------------------------------------
# 1. Requests that reached an off-policy emulator (tests/emulators/trap.py): a host the outbound policy forbids.
#    Any is a leak: the run fails.
# 2. Connections this process opened to an address that is not loopback (an audit hook on socket.connect): the
#    tests' "no internet" rule, reported beside it.
NON_LOOPBACK_CONNECTS: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "socket.connect" or len(args) < 2 or not isinstance(args[1], tuple):
        return
    host = str(args[1][0])
    try:
        if ipaddress.ip_address(host.split("%", 1)[0]).is_loopback:
            return
    except ValueError:
        pass
    NON_LOOPBACK_CONNECTS.append(f"{host}:{args[1][1]}")


sys.addaudithook(_audit)


def pytest_sessionfinish(session: pytest.Session) -> None:
    figures = {"off_policy": len(OFF_POLICY_REQUESTS), "non_loopback": len(NON_LOOPBACK_CONNECTS)}
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: the controller adds the workers' figures up
        workeroutput["outbound_figures"] = figures
        workeroutput["off_policy_requests"] = [list(r) for r in OFF_POLICY_REQUESTS[:20]]
        return
    totals = session.config.stash.setdefault(_TOTALS, {"off_policy": 0, "non_loopback": 0, "samples": []})
    totals["off_policy"] += figures["off_policy"]
    totals["non_loopback"] += figures["non_loopback"]
    totals["samples"] += [list(r) for r in OFF_POLICY_REQUESTS[:20]]
    if totals["off_policy"]:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)  # an xdist hook: absent when the run is not distributed
def pytest_testnodedown(node: Any, error: Any) -> None:
    out = getattr(node, "workeroutput", {}) or {}
    figures = out.get("outbound_figures")
    if figures:
        totals = node.config.stash.setdefault(_TOTALS, {"off_policy": 0, "non_loopback": 0, "samples": []})
        totals["off_policy"] += figures["off_policy"]
        totals["non_loopback"] += figures["non_loopback"]
        totals["samples"] += out.get("off_policy_requests", [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    totals = config.stash.get(_TOTALS, None)
    if totals is None:
        return
    terminalreporter.write_line(
        f"outbound: {totals['off_policy']} requests reached hosts outside the policy (off-policy emulators' "
        f"request logs); {totals['non_loopback']} connections to non-loopback addresses"
    )
    for sample in totals["samples"][:20]:
        terminalreporter.write_line(f"  off-policy request: {sample}")


_TOTALS = pytest.StashKey[dict[str, Any]]()


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
