"""Shopify ids at the edge: the app keeps numeric ids as strings ("8123"); the API wants global ids
(`gid://shopify/Product/8123`). Media of another kind than an image keep their kind ("Video/5")."""

from __future__ import annotations

IMAGE_KINDS = ("Product", "ProductVariant", "MediaImage", "Collection")


def gid(kind: str, value: str) -> str:
    value = str(value)
    return value if value.startswith("gid://") else f"gid://shopify/{kind}/{value}"


def num(global_id: str) -> str:
    """`gid://shopify/Product/12` → "12"; `gid://shopify/Video/5` → "Video/5"."""
    tail = str(global_id).removeprefix("gid://shopify/")
    kind, _, n = tail.partition("/")
    return n if kind in IMAGE_KINDS else tail


def media_gid(media_id: str) -> str:
    return gid("MediaImage", media_id) if str(media_id).isdigit() else f"gid://shopify/{media_id}"


def search_value(value: str) -> str:
    """A value in Shopify's search syntax: quoted, with quotes and backslashes escaped."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
