"""The connector registry: every Kind has exactly one connector, and every connector answers a test with a list of
Checks (a failure is a Check, not an exception), whatever it connects to."""

from __future__ import annotations

import pytest

from lib.checks import Check
from lib.connections import get_connection, save_connection
from lib.connectors import registry
from lib.connectors.providers import GeminiForm
from lib.errors import InputError, ProviderAuthError
from lib.generation import gemini
from lib.kinds import Kind
from lib.runtime import Runtime


def test_every_kind_has_one_connector_of_the_right_sort() -> None:
    assert set(registry.SOURCES) | set(registry.PROVIDERS) == set(Kind)
    assert not set(registry.SOURCES) & set(registry.PROVIDERS)
    assert all(c.kind == k for k, c in {**registry.SOURCES, **registry.PROVIDERS}.items())
    assert set(registry.store_kinds()) == {Kind.DEMO, Kind.WOOCOMMERCE, Kind.SHOPIFY}


def test_unknown_and_misplaced_kinds_are_sentences(rt: Runtime) -> None:
    with pytest.raises(InputError, match="Unknown product source 'shopfiy'"):
        rt.source("shopfiy")
    with pytest.raises(InputError, match="Google Gemini is not a product source"):
        rt.source(Kind.GEMINI)
    with pytest.raises(InputError, match="Demo store is not an image provider"):
        rt.provider(Kind.DEMO)
    with pytest.raises(InputError, match="Images from Google Drive cannot be published to a store"):
        rt.publish_target(Kind.DRIVE)
    with pytest.raises(InputError, match="No WooCommerce connection is set up"):
        rt.source(Kind.WOOCOMMERCE)


@pytest.mark.parametrize("kind", [Kind.DEMO, Kind.UPLOAD, Kind.STUDIO])
def test_built_in_kinds_check_without_a_connection(rt: Runtime, kind: Kind) -> None:
    checks = registry.connector(kind).check(rt, None)
    assert checks and all(isinstance(c, Check) for c in checks)
    assert all(c.ok and c.detail for c in checks)
    with pytest.raises(InputError, match="needs no setup"):
        registry.connector(kind).save(rt, form=None)


def test_a_refused_gemini_key_is_a_failed_check_remembered_on_the_connection(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise ProviderAuthError("Google rejected this API key.")

    monkeypatch.setattr(gemini, "test_key", refuse)
    conn = save_connection(rt.db, rt.vault, kind=Kind.GEMINI, name="Gemini", secret={"api_key": "bad"})
    assert conn.id is not None
    [check] = registry.provider(Kind.GEMINI).check(rt, conn)
    assert not check.ok and check.detail == "Google rejected this API key."
    assert get_connection(rt.db, conn.id).last_error == "Google rejected this API key."


def test_saving_a_gemini_key_forgets_the_cached_provider(rt: Runtime) -> None:
    first = rt.provider(Kind.GEMINI)
    assert rt.provider("gemini") is first  # cached, whichever way the kind is spelled
    registry.provider(Kind.GEMINI).save(rt, form=GeminiForm(api_key="k"))
    assert rt.provider(Kind.GEMINI) is not first
