"""Images from Drive (or uploads) published to the WooCommerce or Shopify product or variation with the same SKU.

Those photos have no store product of their own, so the SKU (parsed from `SKU - Name` folder or file names) finds
it, through the store's own `?sku=` lookup: products and variations, case ignored, the exact spelling preferred,
an ambiguous SKU said in a sentence (lib.sku_match). A photo whose SKU is a variation's becomes that variation's
image. The plan (for the confirmation dialog) and the publication go through the same resolution in lib.publish,
so what the merchant confirms is what is done: snapshot, upload once, verify, and
`lib.publish.rollback(job_id=...)` undoes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lib import publish
from lib.connections import active_connection, get_connection
from lib.errors import InputError
from lib.export import approved_images
from lib.models import Connection

if TYPE_CHECKING:
    from lib.runtime import Runtime


@dataclass(frozen=True)
class SkuMatch:
    """An approved image and the store product with its SKU, with what publishing it would do there."""

    asset_id: int
    name: str  # the source product's name (shown as text)
    sku: str
    store_product_id: str
    change: str  # one sentence
    store_variation_id: str | None = None


@dataclass(frozen=True)
class SkuPublishPlan:
    connection_id: int
    store_name: str
    matches: list[SkuMatch]
    unmatched: list[str]  # one sentence per approved image left out (no SKU, no match, ambiguous, does not fit)
    already: int  # approved images already published to this store and still shown there (left out)


@dataclass(frozen=True)
class StorePublishReport:
    publications: list[Any]  # lib.models.Publication, one per published image (see lib.publish)
    unmatched: list[str]  # one sentence per approved image left out


STORES = {"woocommerce": "WooCommerce store", "shopify": "Shopify shop"}


def _store(
    runtime: Runtime, job_id: int, connection_id: int | None, store_kind: str = "woocommerce"
) -> tuple[Connection, list[int]]:
    """The store to publish to (the given connection, WooCommerce or Shopify, else the active one of `store_kind`),
    and the job's approved images."""
    job, assets, _ = approved_images(runtime, job_id)
    if job.source_kind in STORES:
        raise InputError("This job's photos came from the store itself: publish it from the gallery.")
    if not assets:
        raise InputError(f"Job {job_id} has no approved images to publish. Approve some in the gallery first.")
    if connection_id is None:
        if store_kind not in STORES:
            raise InputError(f"Photos go by SKU to a WooCommerce store or a Shopify shop, not {store_kind!r}.")
        store = active_connection(runtime.db, store_kind)
        if store is None:
            raise InputError(f"No {STORES[store_kind]} is connected. Add one on the Connect page.")
    elif (store := get_connection(runtime.db, connection_id)).kind not in STORES:
        raise InputError(f"Connection {connection_id} ({store.name}) is not a store. Choose the store to publish to.")
    return store, [a.id for a in assets if a.id is not None]


def plan_sku_publish(
    runtime: Runtime,
    job_id: int,
    role: str = "featured",
    *,
    keep_old_featured: bool = True,
    connection_id: int | None = None,
    store_kind: str = "woocommerce",
) -> SkuPublishPlan:
    """What `publish_to_store` would change: for each approved image, the store product (or variation) with the
    same SKU and its images before → after; images left out in plain sentences. Reads the store, changes nothing."""
    store, asset_ids = _store(runtime, job_id, connection_id, store_kind)
    plan = publish.plan_publish(
        runtime,
        asset_ids,
        role,
        keep_old_featured=keep_old_featured,
        store_kind=store.kind,
        connection_id=store.id,
    )
    matches = [
        SkuMatch(c.asset_id or 0, c.name, c.sku, c.product_id, c.after_description, c.variation_id)
        for c in plan.changes
    ]
    assert store.id is not None
    return SkuPublishPlan(store.id, store.name, matches, plan.skipped, plan.already)


def publish_to_store(
    runtime: Runtime,
    job_id: int,
    role: str = "featured",
    *,
    connection_id: int | None = None,
    keep_old_featured: bool = True,
    store_kind: str = "woocommerce",
) -> StorePublishReport:
    """Publish the job's approved images to the store's products with their SKUs. Images that cannot go (no
    SKU, no match) are listed, not published, so one missing SKU does not hold back the rest."""
    store, asset_ids = _store(runtime, job_id, connection_id, store_kind)
    outcome = publish.publish_images(
        runtime,
        asset_ids,
        role,
        keep_old_featured=keep_old_featured,
        store_kind=store.kind,
        connection_id=store.id,
    )
    return StorePublishReport(outcome.publications, outcome.skipped)
