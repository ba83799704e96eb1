"""Matching a SKU to one product or variation, as a store's own lookup finds them.

A real WooCommerce store answers `?sku=` with products *and* variations, and ignores case (`wcr-mug-red` finds
`WCR-MUG-RED`). The exact spelling wins; when that still leaves more than one item (or none spelled exactly and
several that differ only in case), nobody can tell which was meant, and the sentence says so instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from lib.errors import InputError


class SkuHit(NamedTuple):
    """What a SKU names in a store: a product, or a variation of `product_id`."""

    product_id: str
    variation_id: str | None
    name: str
    sku: str


def label(name: str, sku: str = "") -> str:
    """`“Red Mug” (WCR-MUG-RED)`: how messages name a product or variation (never by id alone)."""
    return f"“{name}” ({sku})" if sku else f"“{name}”"


def describe(hit: SkuHit) -> str:
    """`“Classic Tee - Red, S” (WCR-TEE-RED-S), variation 22 of product 21`."""
    what = f"product {hit.product_id}"
    if hit.variation_id:
        what = f"variation {hit.variation_id} of {what}"
    return f"{label(hit.name, hit.sku)}, {what}"


def pick(sku: str, hits: Iterable[SkuHit], *, where: str = "the store") -> SkuHit | None:
    """The one item with this SKU: exact spelling first, then ignoring case. None when nothing matches; an
    InputError naming every candidate when more than one does."""
    hits = list(hits)
    exact = [h for h in hits if h.sku == sku]
    loose = [h for h in hits if h.sku.lower() == sku.lower()]
    chosen = exact or loose
    if len(chosen) > 1:
        listed = "; ".join(describe(h) for h in chosen)
        raise InputError(
            f"SKU {sku} matches {len(chosen)} items in {where} ({listed}), so it is not clear which one is meant. "
            "Give each its own SKU in the store, or choose it by id."
        )
    return chosen[0] if chosen else None
