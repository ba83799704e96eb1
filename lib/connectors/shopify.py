"""The Shopify connector: a shop by its myshopify.com address, with an Admin API token or a Dev Dashboard app's
client id and secret (lib/sources/shopify_check.py saves and tests; lib/sources/shopify.py opens)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from lib.checks import Check
from lib.connectors.base import SourceConnector
from lib.errors import InputError
from lib.kinds import Kind
from lib.sources import shopify, shopify_check

if TYPE_CHECKING:
    from lib.models import Connection
    from lib.runtime import Runtime
    from lib.sources.base import ProductSource, PublishTarget


@dataclass(frozen=True)
class ShopifyForm:
    shop: str
    access_token: str = ""
    client_id: str = ""
    client_secret: str = ""
    name: str = ""


class ShopifyConnector(SourceConnector[ShopifyForm]):
    kind: ClassVar[Kind] = Kind.SHOPIFY
    publishes: ClassVar[bool] = True

    def save(self, runtime: Runtime, *, form: ShopifyForm, connection_id: int | None = None) -> Connection:
        if connection_id is not None:
            raise InputError("A saved shop is changed by removing it and adding it again.")
        return shopify_check.save_shopify(
            runtime,
            shop=form.shop,
            access_token=form.access_token,
            client_id=form.client_id,
            client_secret=form.client_secret,
            name=form.name,
        )

    def check_form(self, runtime: Runtime, form: ShopifyForm) -> list[Check]:
        return shopify_check.check_connection(
            form.shop,
            form.access_token,
            form.client_id,
            form.client_secret,
            timeout=runtime.settings.http_timeout_seconds,
            private_hosts=runtime.settings.private_store_hosts,
        )

    def check(self, runtime: Runtime, connection: Connection | None) -> list[Check]:
        if connection is None:
            raise InputError("No Shopify shop is connected. Add one on the Connect page.")
        return shopify_check.test_connection(runtime, connection)

    def open_source(self, runtime: Runtime, connection: Connection | None) -> ProductSource:
        return shopify.open_source(runtime, connection)

    def open_target(self, runtime: Runtime, connection: Connection | None) -> PublishTarget:
        return shopify.open_target(runtime, connection)
