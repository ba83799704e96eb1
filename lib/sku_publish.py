"""Images from Drive (or uploads) published to the WooCommerce or Shopify product with the same SKU.

Those photos have no store product of their own, so the SKU (parsed from `SKU - Name` folder or file names) finds
it. The plan (what would change, for the confirmation dialog) and the publication itself go through one matching
step, so what the merchant confirms is what is done. Publishing goes through lib.publish: snapshot, upload once,
verify, and `lib.publish.rollback(job_id=...)` undoes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lib import publish
from lib.connections import active_connection, get_connection
from lib.errors import InputError
from lib.export import approved_images
from lib.models import Asset, Connection, PublicationState

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


@dataclass(frozen=True)
class SkuPublishPlan:
    connection_id: int
    store_name: str
    matches: list[SkuMatch]
    unmatched: list[str]  # one sentence per approved image that no store product matches
    already: int  # approved images already published to this store by this job (left out)


@dataclass(frozen=True)
class StorePublishReport:
    publications: list[Any]  # lib.models.Publication, one per published image (see lib.publish)
    unmatched: list[str]  # one sentence per approved image left out: no SKU, or no store product with that SKU


@dataclass(frozen=True)
class _Matched:
    store: Connection
    target: Any  # the store's PublishTarget
    hits: list[tuple[Asset, str, str, str]]  # (image, product name, sku, store product id)
    unmatched: list[str]


STORES = {"woocommerce": "WooCommerce store", "shopify": "Shopify shop"}


def _match(runtime: Runtime, job_id: int, connection_id: int | None, store_kind: str = "woocommerce") -> _Matched:
    """The store to publish to and, for each approved image of the job, the store product with its SKU. The store
    is the given connection (WooCommerce or Shopify), else the active one of `store_kind`."""
    job, assets, items = approved_images(runtime, job_id)
    if job.source_kind in STORES:
        raise InputError("This job's photos came from the store itself: publish it from the gallery.")
    if not assets:
        raise InputError(f"Job {job_id} has no approved images to publish. Approve some in the gallery first.")
    if connection_id is None:
        if store_kind not in STORES:
            raise InputError(
                f"Images can be published by SKU to a WooCommerce store or a Shopify shop, not {store_kind!r}."
            )
        store = active_connection(runtime.db, store_kind)
        if store is None:
            raise InputError(f"No {STORES[store_kind]} is connected. Add one on the Connect page.")
    elif (store := get_connection(runtime.db, connection_id)).kind not in STORES:
        raise InputError(f"Connection {connection_id} ({store.name}) is not a store. Choose the store to publish to.")
    target = runtime.publish_target(store.kind, store.id)
    where = "the Shopify shop" if store.kind == "shopify" else "the store"
    finder = getattr(target, "product_for_sku", None)
    found: dict[str, tuple[str, str | None] | None] = {}
    hits: list[tuple[Asset, str, str, str]] = []
    unmatched: list[str] = []
    for asset in assets:
        product = dict(items[asset.item_id].product) if asset.item_id in items else {}
        name = str(product.get("name") or f"Product {asset.product_id}")
        sku = str(product.get("sku") or "")
        if not sku:
            unmatched.append(f"“{name}” has no SKU (name the Drive folder or photo “SKU - Name”).")
            continue
        if sku not in found:
            found[sku] = finder(sku) if finder is not None else None
        hit = found[sku]
        if hit is None:
            unmatched.append(f"“{name}”: {where} has no product with SKU {sku}.")
            continue
        hits.append((asset, name, sku, hit[0]))
    return _Matched(store, target, hits, unmatched)


def plan_sku_publish(
    runtime: Runtime,
    job_id: int,
    role: str = "featured",
    *,
    keep_old_featured: bool = True,
    connection_id: int | None = None,
    store_kind: str = "woocommerce",
) -> SkuPublishPlan:
    """What `publish_to_store` would change: for each approved image, the store product with the same SKU and its
    image list before → after; images without a match in plain sentences. Reads the store, changes nothing."""
    if role not in ("featured", "gallery"):
        raise InputError("Publishing by SKU makes the image the product's main image or adds it to its gallery.")
    m = _match(runtime, job_id, connection_id, store_kind)
    done = {
        p.asset_id
        for p in publish.product_publications(runtime.db, job_id)
        if p.state == PublicationState.DONE and p.store_kind == m.store.kind and p.connection_id == m.store.id
    }
    lists: dict[str, list[str]] = {}
    matches: list[SkuMatch] = []
    for asset, name, sku, pid in m.hits:
        if asset.id in done:
            continue
        if pid not in lists:
            lists[pid] = list(m.target.product_image_ids(pid))
        before = lists[pid]
        after = publish.intended_images(role, before, f"new:{asset.id}", keep_old_featured=keep_old_featured)
        change = publish.describe_change(role, before, after, keep_old_featured=keep_old_featured)
        lists[pid] = after
        assert asset.id is not None
        matches.append(SkuMatch(asset.id, name, sku, pid, change))
    assert m.store.id is not None
    already = sum(1 for asset, *_ in m.hits if asset.id in done)
    return SkuPublishPlan(m.store.id, m.store.name, matches, m.unmatched, already)


def publish_to_store(
    runtime: Runtime,
    job_id: int,
    role: str = "featured",
    *,
    connection_id: int | None = None,
    keep_old_featured: bool = True,
    store_kind: str = "woocommerce",
) -> StorePublishReport:
    """Publish the job's approved images to the WooCommerce products with their SKUs. Images whose SKU the store
    does not have are listed, not published, so one missing SKU does not hold back the rest."""
    m = _match(runtime, job_id, connection_id, store_kind)
    matched = [asset.id for asset, *_ in m.hits if asset.id is not None]
    pubs = (
        publish.publish_assets(
            runtime,
            matched,
            role,
            keep_old_featured=keep_old_featured,
            store_kind=m.store.kind,
            connection_id=m.store.id,
        )
        if matched
        else []
    )
    return StorePublishReport(pubs, m.unmatched)
