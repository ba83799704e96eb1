"""Which connector serves which Kind. To add a source, store or provider: write its connector class (the contract
is in base.py), import it here, and add one line to SOURCES or PROVIDERS."""

from __future__ import annotations

from typing import Any

from lib.connectors.base import Connector, ProviderConnector, SourceConnector
from lib.connectors.providers import GeminiConnector, StudioConnector
from lib.connectors.shopify import ShopifyConnector
from lib.connectors.sources import DemoConnector, DriveConnector, UploadConnector, WooConnector
from lib.errors import InputError
from lib.kinds import Kind

SOURCES: dict[Kind, SourceConnector[Any]] = {
    Kind.DEMO: DemoConnector(),
    Kind.WOOCOMMERCE: WooConnector(),
    Kind.SHOPIFY: ShopifyConnector(),
    Kind.DRIVE: DriveConnector(),
    Kind.UPLOAD: UploadConnector(),
}
PROVIDERS: dict[Kind, ProviderConnector[Any]] = {
    Kind.STUDIO: StudioConnector(),
    Kind.GEMINI: GeminiConnector(),
}


def source(kind: Kind | str) -> SourceConnector[Any]:
    connector = SOURCES.get(Kind.parse(kind, "product source"))
    if connector is None:
        raise InputError(f"{Kind(kind).label} is not a product source.")
    return connector


def provider(kind: Kind | str) -> ProviderConnector[Any]:
    connector = PROVIDERS.get(Kind.parse(kind, "image provider"))
    if connector is None:
        raise InputError(f"{Kind(kind).label} is not an image provider.")
    return connector


def connector(kind: Kind | str) -> Connector[Any]:
    found = SOURCES.get(Kind.parse(kind)) or PROVIDERS.get(Kind(kind))
    assert found is not None, f"every Kind has a connector: {kind}"
    return found


def store_kinds() -> tuple[Kind, ...]:
    """Kinds whose approved images can be published back (the Gallery's publish button)."""
    return tuple(kind for kind, c in SOURCES.items() if c.publishes)
