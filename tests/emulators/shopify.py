"""A loopback Shopify shop for tests: the Admin GraphQL API (2026-01) as /work/shared/reference/shopify.md describes it.

Documents are parsed, validated and executed by graphql-core against `shopify_admin_2026-01.graphql`, the part of
the real 2026-01 schema the app uses (definitions copied verbatim), so a misspelt field or a wrong argument type
fails here as it would at Shopify.

What it speaks:
- `POST /admin/api/{version}/graphql.json` with `X-Shopify-Access-Token`; a wrong or expired token is 401
  `{"errors": "[API] Invalid API key or access token (unrecognized login or wrong password)"}`; an unknown version 404.
- `POST /admin/oauth/access_token` (client-credentials grant, form-encoded): `{"access_token", "scope",
  "expires_in": 86399}`; tokens expire after 24 h of `clock` (tests move the clock, nobody sleeps).
- Scopes: a root field the token may not use resolves to null with an `ACCESS_DENIED` error (`"FileCreate access
  denied"` for mutations, as in the reference); write_X implies read_X.
- Cost: every answer carries `extensions.cost` (requested, actual, throttleStatus) from a leaky bucket (default
  1000 points, 50/s, refilled by `clock`): objects 1, connections 2 + first × node, mutations 10; a query
  costing more than is available is answered `THROTTLED` (HTTP 200, nothing charged, nothing done); the difference
  between requested and actual cost is refunded.
- Products: `products`/`productsCount` with a search query (free words, status:, product_type:, collection_id:,
  sku:, tag:, vendor:, title:), sortKey ID/TITLE/UPDATED_AT, cursors that survive inserts; `product`, `node(s)`,
  `productVariants(query: "sku:…")`, `collections`, `collection`, `productTypes`, `files(query: "filename:…")`.
- Media: `stagedUploadsCreate` hands out a signed POST target on this server (`/staged-uploads/`, form fields first,
  then `file`; a wrong signature or a file part before the fields is 403/400, as a signed GCS POST is). `fileCreate`
  makes a MediaImage in state UPLOADED; it moves on one state per GraphQL request the shop answers (UPLOADED →
  PROCESSING → READY, or FAILED with a `mediaErrors` code when the file is not an image, is over 20 MB or
  4472×4472 / 20 MP, or out of 1:100…100:1), so processing is asynchronous yet deterministic. `fileUpdate`
  (alt, referencesToAdd/Remove: attach to or detach from products; detaching clears the product's variants using
  it; the file stays in Files), `fileDelete`, `productReorderMedia` (a Job that is applied and done one request
  later, not at once), `productVariantAppendMedia` / `productVariantDetachMedia` with the MediaUserError codes.
- Images are served at `/cdn/shop/files/<name>?v=…`.
Fault switches (`inject`) as in the WooCommerce emulator: a status before or after applying, a dropped connection,
a slow answer, for the next N requests whose method and `path#rootFields` match. `counts` and `requests` record
what arrived; `errors` holds emulator bugs (tests assert it stays empty).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import io
import itertools
import json
import math
import random
import re
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    build_schema,
    execute,
    get_named_type,
    is_composite_type,
    parse,
    validate,
)
from graphql.utilities import value_from_ast_untyped

from tests.emulators.base import LoopbackEmulator
from tests.emulators.woocommerce import image_bytes

API_VERSION = "2026-01"
SUPPORTED_VERSIONS = ("2025-04", "2025-07", "2025-10", "2026-01")
SHOP = "gecko-test"
ADMIN_TOKEN = "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"  # a legacy custom app's token: every scope we need
READ_ONLY_TOKEN = "shpat_read0000000000000000000000000000"  # read_products only
NO_FILES_TOKEN = "shpat_nofiles00000000000000000000000000"  # read/write products, no write_files
CLIENT_ID = "3f9a1c2b7d6e5f4a3b2c1d0e9f8a7b6c"
CLIENT_SECRET = "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"
FULL_SCOPES = ("read_products", "write_products", "write_files")
TOKEN_LIFETIME = 86399
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
MAX_QUERY_COST = 1000
MAX_PAGE = 250
MAX_SIDE = 4472
MAX_PIXELS = 20_000_000
MAX_BYTES = 20 * 1024 * 1024
SCHEMA_FILE = Path(__file__).with_name("shopify_admin_2026-01.graphql")


@cache
def schema() -> GraphQLSchema:
    built = build_schema(SCHEMA_FILE.read_text())
    for name in ("Media", "File", "Node", "DisplayableError"):
        iface = built.get_type(name)
        assert isinstance(iface, GraphQLInterfaceType)
        iface.resolve_type = lambda value, info, t: value.typename  # type: ignore[method-assign,assignment]
    return built


def gid(kind: str, n: int | str) -> str:
    return f"gid://shopify/{kind}/{n}"


def parse_gid(value: Any, kind: str | None = None) -> int:
    m = re.fullmatch(r"gid://shopify/(\w+)/(\d+)", str(value))
    if not m or (kind is not None and m.group(1) != kind):
        raise GraphQLError(f"Invalid global id '{value}'", extensions={"code": "argumentLiteralsIncompatible"})
    return int(m.group(2))


@dataclass
class Fault:
    method: str
    path: re.Pattern[str]
    mode: str  # status | status_after | drop | drop_after | slow
    status: int = 500
    times: int | None = 1
    rate: float | None = None
    retry_after: float | None = None
    delay: float = 0.0
    hits: int = 0

    def matches(self, method: str, key: str) -> bool:
        return (self.method == "*" or self.method == method) and bool(self.path.search(key))


class FakeClock:
    """A clock tests move by hand (token expiry, the bucket's refill): `emu.clock = FakeClock()`."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += max(0.0, seconds)


# Views the GraphQL executor walks: attributes are fields, methods take the field's arguments --------------


class _MediaView:
    typename = "MediaImage"

    def __init__(self, emu: ShopifyEmulator, m: dict[str, Any]) -> None:
        self.emu, self.m = emu, m
        self.id = gid("MediaImage", m["id"])
        self.alt = m["alt"]
        self.mediaContentType = "IMAGE"
        self.status = m["status"]
        self.fileStatus = m["status"]
        self.mimeType = m["mime"]
        self.createdAt = self.updatedAt = m["created"]

    def image(self, info: Any) -> dict[str, Any] | None:
        if self.m["status"] != "READY":
            return None
        return {
            "id": gid("ImageSource", self.m["id"]),
            "url": self.emu.file_url(self.m),
            "width": self.m["width"],
            "height": self.m["height"],
            "altText": self.m["alt"],
        }

    def preview(self, info: Any) -> dict[str, Any]:
        return {"image": self.image(info), "status": self.m["status"]}

    def originalSource(self, info: Any) -> dict[str, Any]:  # noqa: N802
        return {"url": self.m["source"], "fileSize": len(self.m["data"] or b"")}

    def mediaErrors(self, info: Any) -> list[dict[str, Any]]:  # noqa: N802
        return list(self.m["errors"]) if self.m["status"] == "FAILED" else []

    def fileErrors(self, info: Any) -> list[dict[str, Any]]:  # noqa: N802
        return self.mediaErrors(info)


def _connection(items: list[Any], first: int | None, last: int | None, after: str | None, key: Any) -> dict[str, Any]:
    """A page of `items` (already sorted) after the cursor; cursors carry the sort key, so inserts do not shift
    them."""
    if first is None and last is None:
        raise GraphQLError("you must provide one of first or last", extensions={"code": "BAD_REQUEST"})
    n = first if first is not None else last
    assert n is not None
    if n < 0 or n > MAX_PAGE:
        raise GraphQLError(
            f"The 'first' and 'last' arguments must be between 0 and {MAX_PAGE}.", extensions={"code": "BAD_REQUEST"}
        )
    start = 0
    if after:
        try:
            mark = json.loads(base64.b64decode(after))
        except (ValueError, TypeError):
            raise GraphQLError(f"Invalid cursor for current pagination sort: {after}", extensions={}) from None
        start = next((i for i, it in enumerate(items) if json.loads(json.dumps(key(it))) > mark), len(items))
    page = items[start : start + n]
    end = base64.b64encode(json.dumps(key(page[-1])).encode()).decode() if page else None
    start_c = base64.b64encode(json.dumps(key(page[0])).encode()).decode() if page else None
    return {
        "nodes": page,
        "pageInfo": {
            "hasNextPage": start + n < len(items),
            "hasPreviousPage": start > 0,
            "endCursor": end,
            "startCursor": start_c,
        },
    }


class _VariantView:
    typename = "ProductVariant"

    def __init__(self, emu: ShopifyEmulator, v: dict[str, Any]) -> None:
        self.emu, self.v = emu, v
        self.id = gid("ProductVariant", v["id"])
        self.title = v["title"]
        self.sku = v["sku"]
        self.position = v["position"]
        self.selectedOptions = [{"name": k, "value": val} for k, val in v["options"].items()]
        self.displayName = f"{emu.products[v['product_id']]['title']} - {v['title']}"

    def product(self, info: Any) -> _ProductView:
        return _ProductView(self.emu, self.emu.products[self.v["product_id"]])

    def media(self, info: Any, first: int | None = None, last: int | None = None, after: str | None = None, **_: Any):  # type: ignore[no-untyped-def]
        views = [_MediaView(self.emu, self.emu.media[m]) for m in self.v["media"]]
        return _connection(views, first, last, after, key=lambda mv: mv.m["id"])


class _CollectionView:
    typename = "Collection"

    def __init__(self, emu: ShopifyEmulator, c: dict[str, Any]) -> None:
        self.emu, self.c = emu, c
        self.id = gid("Collection", c["id"])
        self.title = c["title"]
        self.handle = c["handle"]

    def products(
        self, info: Any, first: int | None = None, last: int | None = None, after: str | None = None, **kw: Any
    ):  # type: ignore[no-untyped-def]
        items = [p for p in self.emu.products.values() if self.c["id"] in p["collections"]]
        items.sort(key=lambda p: p["id"])
        return _connection([_ProductView(self.emu, p) for p in items], first, last, after, key=lambda pv: [pv.p["id"]])

    def productsCount(self, info: Any) -> dict[str, Any]:  # noqa: N802
        n = sum(1 for p in self.emu.products.values() if self.c["id"] in p["collections"])
        return {"count": n, "precision": "EXACT"}


class _ProductView:
    typename = "Product"

    def __init__(self, emu: ShopifyEmulator, p: dict[str, Any]) -> None:
        self.emu, self.p = emu, p
        self.id = gid("Product", p["id"])
        self.title = p["title"]
        self.handle = p["handle"]
        self.status = p["status"]
        self.productType = p["product_type"]
        self.vendor = p["vendor"]
        self.tags = list(p["tags"])
        self.updatedAt = p["updated"]
        self.hasOnlyDefaultVariant = len(p["variants"]) == 1 and self.emu.variants[p["variants"][0]]["title"] == (
            "Default Title"
        )

    def description(self, info: Any, truncateAt: int | None = None) -> str:  # noqa: N803
        text = html.unescape(re.sub(r"<[^>]+>", "", self.p["description_html"]))
        return text[:truncateAt] if truncateAt else text

    def featuredMedia(self, info: Any) -> _MediaView | None:  # noqa: N802
        return _MediaView(self.emu, self.emu.media[self.p["media"][0]]) if self.p["media"] else None

    def media(self, info: Any, first: int | None = None, last: int | None = None, after: str | None = None, **_: Any):  # type: ignore[no-untyped-def]
        views = [_MediaView(self.emu, self.emu.media[m]) for m in self.p["media"]]
        order = {m: i for i, m in enumerate(self.p["media"])}
        return _connection(views, first, last, after, key=lambda mv: order[mv.m["id"]])

    def variants(
        self, info: Any, first: int | None = None, last: int | None = None, after: str | None = None, **_: Any
    ):  # type: ignore[no-untyped-def]
        views = [_VariantView(self.emu, self.emu.variants[v]) for v in self.p["variants"]]
        return _connection(views, first, last, after, key=lambda vv: vv.v["position"])

    def variantsCount(self, info: Any) -> dict[str, Any]:  # noqa: N802
        return {"count": len(self.p["variants"]), "precision": "EXACT"}

    def collections(
        self, info: Any, first: int | None = None, last: int | None = None, after: str | None = None, **_: Any
    ):  # type: ignore[no-untyped-def]
        views = [_CollectionView(self.emu, self.emu.collections[c]) for c in sorted(self.p["collections"])]
        return _connection(views, first, last, after, key=lambda cv: cv.c["id"])


def _need(info: Any, scope: str, *, mutation: bool = False) -> None:
    granted: set[str] = info.context["scopes"]
    implied = granted | {s.replace("write_", "read_") for s in granted if s.startswith("write_")}
    if scope in implied:
        return
    name = info.field_name
    message = (
        f"{name[0].upper()}{name[1:]} access denied"
        if mutation
        else f"Access denied for {name} field. Required access: `{scope}` access scope."
    )
    raise GraphQLError(
        message,
        extensions={
            "code": "ACCESS_DENIED",
            "documentation": "https://shopify.dev/api/usage/access-scopes",
            "requiredAccess": f"`{scope}` access scope.",
        },
    )


class _Root:
    """QueryRoot and Mutation resolvers."""

    def __init__(self, emu: ShopifyEmulator) -> None:
        self.emu = emu

    # Queries -----------------------------------------------------------------------------------------------
    def shop(self, info: Any) -> dict[str, Any]:
        e = self.emu
        return {"id": gid("Shop", 1), "name": e.shop_name, "myshopifyDomain": f"{e.shop}.myshopify.com", "url": e.url}

    def currentAppInstallation(self, info: Any) -> dict[str, Any]:  # noqa: N802
        scopes = sorted(info.context["scopes"])
        return {"id": gid("AppInstallation", 1), "accessScopes": [{"handle": s, "description": s} for s in scopes]}

    def products(self, info: Any, query: str | None = None, sortKey: str = "ID", reverse: bool = False, **kw: Any):  # type: ignore[no-untyped-def]  # noqa: N803
        _need(info, "read_products")
        items = self.emu.search_products(query or "")
        key = _sort_key(sortKey)
        items.sort(key=key, reverse=bool(reverse))
        views = [_ProductView(self.emu, p) for p in items]
        return _connection(views, kw.get("first"), kw.get("last"), kw.get("after"), key=lambda pv: key(pv.p))

    def productsCount(self, info: Any, query: str | None = None, limit: int | None = None, **_: Any) -> dict[str, Any]:  # noqa: N802
        _need(info, "read_products")
        n = len(self.emu.search_products(query or ""))
        if limit is not None and n > limit:
            return {"count": limit, "precision": "AT_LEAST"}
        return {"count": n, "precision": "EXACT"}

    def productTypes(self, info: Any, first: int | None = None, after: str | None = None, **_: Any):  # type: ignore[no-untyped-def]  # noqa: N802
        _need(info, "read_products")
        types = sorted({p["product_type"] for p in self.emu.products.values() if p["product_type"]})
        return _connection(types, first, None, after, key=lambda t: t)

    def product(self, info: Any, id: str) -> _ProductView | None:  # noqa: A002
        _need(info, "read_products")
        p = self.emu.products.get(parse_gid(id, "Product"))
        return _ProductView(self.emu, p) if p else None

    def productVariants(self, info: Any, query: str | None = None, **kw: Any):  # type: ignore[no-untyped-def]  # noqa: N802
        _need(info, "read_products")
        terms = _terms(query or "")
        variants = sorted(self.emu.variants.values(), key=lambda v: v["id"])
        for name, value in terms:
            if name == "sku":
                variants = [v for v in variants if v["sku"].lower() == value.lower()]
            elif name == "product_id":
                variants = [v for v in variants if str(v["product_id"]) == value]
        views = [_VariantView(self.emu, v) for v in variants]
        return _connection(views, kw.get("first"), kw.get("last"), kw.get("after"), key=lambda vv: vv.v["id"])

    def collections(self, info: Any, query: str | None = None, **kw: Any):  # type: ignore[no-untyped-def]
        _need(info, "read_products")
        items = sorted(self.emu.collections.values(), key=lambda c: c["id"])
        for name, value in _terms(query or ""):
            if name in ("title", ""):
                items = [c for c in items if value.lower() in c["title"].lower()]
        views = [_CollectionView(self.emu, c) for c in items]
        return _connection(views, kw.get("first"), kw.get("last"), kw.get("after"), key=lambda cv: cv.c["id"])

    def collection(self, info: Any, id: str) -> _CollectionView | None:  # noqa: A002
        _need(info, "read_products")
        c = self.emu.collections.get(parse_gid(id, "Collection"))
        return _CollectionView(self.emu, c) if c else None

    def node(self, info: Any, id: str) -> Any:  # noqa: A002
        m = re.fullmatch(r"gid://shopify/(\w+)/(\d+)", str(id))
        if not m:
            raise GraphQLError(f"Invalid global id '{id}'", extensions={"code": "argumentLiteralsIncompatible"})
        kind, n = m.group(1), int(m.group(2))
        _need(info, "read_products")
        e = self.emu
        if kind == "Product" and n in e.products:
            return _ProductView(e, e.products[n])
        if kind == "ProductVariant" and n in e.variants:
            return _VariantView(e, e.variants[n])
        if kind == "MediaImage" and n in e.media:
            return _MediaView(e, e.media[n])
        if kind == "Collection" and n in e.collections:
            return _CollectionView(e, e.collections[n])
        return None

    def nodes(self, info: Any, ids: list[str]) -> list[Any]:
        return [self.node(info, i) for i in ids]

    def files(self, info: Any, query: str | None = None, **kw: Any):  # type: ignore[no-untyped-def]
        _need(info, "read_files")
        items = sorted(self.emu.media.values(), key=lambda m: m["id"])
        for name, value in _terms(query or ""):
            if name == "filename":
                if value.endswith("*"):
                    items = [m for m in items if m["filename"].lower().startswith(value[:-1].lower())]
                else:
                    items = [m for m in items if m["filename"].lower() == value.lower()]
            elif name == "status":
                items = [m for m in items if m["status"].lower() == value.lower()]
            elif name == "media_type":
                items = [m for m in items if value.upper() == "IMAGE"]
        views = [_MediaView(self.emu, m) for m in items]
        return _connection(views, kw.get("first"), kw.get("last"), kw.get("after"), key=lambda mv: mv.m["id"])

    def job(self, info: Any, id: str) -> dict[str, Any] | None:  # noqa: A002
        j = self.emu.jobs.get(str(id))
        return {"id": id, "done": j["done"]} if j else None

    # Mutations ---------------------------------------------------------------------------------------------
    def stagedUploadsCreate(self, info: Any, input: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N802, A002
        granted = info.context["scopes"]
        if not ({"write_files", "write_products"} & granted):
            _need(info, "write_files", mutation=True)
        targets, errors = [], []
        for i, item in enumerate(input):
            if item["resource"] not in ("IMAGE", "PRODUCT_IMAGE", "FILE"):
                errors.append({"field": ["input", str(i), "resource"], "message": "Resource type is not supported"})
                continue
            if not str(item.get("filename") or "").strip():
                errors.append({"field": ["input", str(i), "filename"], "message": "Filename can't be blank"})
                continue
            targets.append(self.emu.new_staged_target(item))
        return {"stagedTargets": targets, "userErrors": errors}

    def fileCreate(self, info: Any, files: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N802
        _need(info, "write_files", mutation=True)
        return self.emu.file_create(files)

    def fileUpdate(self, info: Any, files: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N802
        _need(info, "write_files", mutation=True)
        if any(f.get("referencesToAdd") or f.get("referencesToRemove") for f in files):
            _need(info, "write_products", mutation=True)
        return self.emu.file_update(files)

    def fileDelete(self, info: Any, fileIds: list[str]) -> dict[str, Any]:  # noqa: N802, N803
        _need(info, "write_files", mutation=True)
        return self.emu.file_delete(fileIds)

    def productReorderMedia(self, info: Any, id: str, moves: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N802, A002
        _need(info, "write_products", mutation=True)
        return self.emu.reorder(id, moves)

    def productVariantAppendMedia(
        self, info: Any, productId: str, variantMedia: list[dict[str, Any]]
    ) -> dict[str, Any]:  # noqa: N802, N803
        _need(info, "write_products", mutation=True)
        return self.emu.variant_media(productId, variantMedia, append=True)

    def productVariantDetachMedia(
        self, info: Any, productId: str, variantMedia: list[dict[str, Any]]
    ) -> dict[str, Any]:  # noqa: N802, N803
        _need(info, "write_products", mutation=True)
        return self.emu.variant_media(productId, variantMedia, append=False)


def _terms(query: str) -> list[tuple[str, str]]:
    """Shopify search syntax, the part the app uses: `name:value` (value may be quoted), free words; AND is
    implied."""
    out = []
    for m in re.finditer(r"""(?:(\w+):)?(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\S+))""", query):
        name, value = m.group(1) or "", m.group(2) or m.group(3) or m.group(4) or ""
        if not name and value.upper() in ("AND",):
            continue
        out.append((name.lower(), value.replace('\\"', '"').replace("\\'", "'")))
    return out


def _sort_key(sort_key: str) -> Any:
    if sort_key == "TITLE":
        return lambda p: [p["title"].lower(), p["id"]]
    if sort_key == "UPDATED_AT":
        return lambda p: [p["updated"], p["id"]]
    if sort_key == "PRODUCT_TYPE":
        return lambda p: [p["product_type"].lower(), p["id"]]
    return lambda p: [p["id"]]


# Query cost -------------------------------------------------------------------------------------------------


def query_cost(
    sch: GraphQLSchema, op: OperationDefinitionNode, fragments: dict[str, Any], variables: dict[str, Any]
) -> int:
    """Shopify's calculated cost, roughly: scalars 0, objects 1, connections 2 + first × the node's cost,
    mutations 10."""
    if op.operation == OperationType.MUTATION:
        return 10 * sum(1 for s in op.selection_set.selections if isinstance(s, FieldNode))
    root = sch.query_type
    assert root is not None
    return _selection_cost(root, op.selection_set, fragments, variables)


def _selection_cost(parent: Any, selection_set: Any, fragments: dict[str, Any], variables: dict[str, Any]) -> int:
    total = 0
    sch = schema()
    for sel in selection_set.selections if selection_set else ():
        if isinstance(sel, FieldNode):
            if sel.name.value.startswith("__") or not hasattr(parent, "fields"):
                continue
            fdef = parent.fields.get(sel.name.value)
            if fdef is None:
                continue
            named = get_named_type(fdef.type)
            if not is_composite_type(named):
                continue
            child = _selection_cost(named, sel.selection_set, fragments, variables)
            if named.name.endswith("Connection"):
                n = 0
                for arg in sel.arguments:
                    if arg.name.value in ("first", "last"):
                        n = int(value_from_ast_untyped(arg.value, variables) or 0)
                total += 2 + n * max(1, child)
            else:
                unwrapped = fdef.type.of_type if isinstance(fdef.type, GraphQLNonNull) else fdef.type
                total += (0 if isinstance(unwrapped, GraphQLList) else 1) + child
        elif isinstance(sel, InlineFragmentNode):
            cond = sch.get_type(sel.type_condition.name.value) if sel.type_condition else parent
            total += _selection_cost(cond, sel.selection_set, fragments, variables)
        elif isinstance(sel, FragmentSpreadNode):
            frag = fragments.get(sel.name.value)
            if frag is not None:
                total += _selection_cost(
                    sch.get_type(frag.type_condition.name.value), frag.selection_set, fragments, variables
                )
    return total


def _actual_cost(requested: int, data: Any, op: OperationDefinitionNode) -> int:
    """What the answer really cost: connections are charged for the nodes they returned (the rest is refunded)."""
    if op.operation == OperationType.MUTATION:
        return requested
    return min(requested, 1 + _returned_nodes(data))


def _returned_nodes(data: Any) -> int:
    if isinstance(data, dict):
        n = 0
        for k, v in data.items():
            if k == "nodes" and isinstance(v, list):
                n += 2 + len(v) + sum(_returned_nodes(x) for x in v)
            else:
                n += _returned_nodes(v)
        return n
    if isinstance(data, list):
        return sum(_returned_nodes(x) for x in data)
    return 0


# The shop ---------------------------------------------------------------------------------------------------


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=utf-8"


class ShopifyEmulator(LoopbackEmulator):
    """`with ShopifyEmulator() as emu:`; `emu.url` stands for https://{shop}.myshopify.com."""

    def __init__(
        self,
        *,
        seed: bool = True,
        bucket_max: float = 1000.0,
        restore_rate: float = 50.0,
        processing_steps: int = 2,
        reorder_steps: int = 2,
        rng_seed: int = 11,
        fillers: int = 30,
    ) -> None:
        self.lock = threading.RLock()
        self.shop = SHOP
        self.shop_name = "Gecko Test Shop"
        self.clock: Any = time.monotonic  # tests swap in a FakeClock
        self.tokens: dict[str, dict[str, Any]] = {
            ADMIN_TOKEN: {"scopes": set(FULL_SCOPES), "expires": None},
            READ_ONLY_TOKEN: {"scopes": {"read_products"}, "expires": None},
            NO_FILES_TOKEN: {"scopes": {"read_products", "write_products"}, "expires": None},
        }
        self.apps: dict[str, dict[str, Any]] = {CLIENT_ID: {"secret": CLIENT_SECRET, "scopes": set(FULL_SCOPES)}}
        self.products: dict[int, dict[str, Any]] = {}
        self.variants: dict[int, dict[str, Any]] = {}
        self.media: dict[int, dict[str, Any]] = {}
        self.collections: dict[int, dict[str, Any]] = {}
        self.staged: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.bucket_max = bucket_max
        self.restore_rate = restore_rate
        self._available = bucket_max
        self._bucket_at: float | None = None
        self.processing_steps = processing_steps
        self.reorder_steps = reorder_steps
        self.media_failures: list[str] = []  # the next created media fail with these codes, in order
        self.faults: list[Fault] = []
        self.counts: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._rng = random.Random(rng_seed)
        self._ids = itertools.count(1001)
        self._signing_key = b"emulator-gcs-signing-key"
        self._stop = threading.Event()
        self._url = ""
        if seed:
            self.seed(fillers=fillers)

    def start(self) -> ShopifyEmulator:
        self._serve(_Handler, "shopify-emulator", server_class=_Server)
        self._url = self.url
        return self

    def stop(self) -> None:
        self._stop.set()
        super().stop()

    @property
    def graphql_url(self) -> str:
        return f"{self.url}/admin/api/{API_VERSION}/graphql.json"

    # Fault switches ------------------------------------------------------------------------------------------
    def inject(
        self,
        method: str = "*",
        path: str = ".*",
        *,
        status: int = 500,
        mode: str = "status",
        times: int | None = 1,
        rate: float | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
    ) -> Fault:
        """Fail matching requests; `path` is matched against `<path>#<root fields>` (e.g. `#fileCreate`)."""
        if mode not in {"status", "status_after", "drop", "drop_after", "slow"}:
            raise ValueError(mode)
        fault = Fault(method.upper(), re.compile(path), mode, status, times, rate, retry_after, delay)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def _take_fault(self, method: str, key: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times is not None and fault.times <= 0:
                    continue
                if not fault.matches(method, key):
                    continue
                if fault.rate is not None and self._rng.random() >= fault.rate:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                fault.hits += 1
                return fault
        return None

    # Seed data and helpers a test uses to play a person editing in the admin ---------------------------------
    def seed(self, *, fillers: int = 30) -> None:
        kitchen = self.add_collection("Kitchen")
        apparel = self.add_collection("Apparel")
        self.add_collection("Sale")
        mug = self.add_media("mug-red.jpg", image_bytes((200, 30, 40)), alt="Red mug on white")
        mug_side = self.add_media("mug-red-side.jpg", image_bytes((180, 30, 40)), alt="Red mug, side")
        self.add_product(
            "Red Mug",
            product_type="Mugs",
            vendor="Gecko",
            tags=["new"],
            collections=[kitchen],
            media=[mug, mug_side],
            sku="SH-MUG-RED",
            description_html="<p>Glazed <strong>stoneware</strong> mug &amp; saucer, 350 ml</p>",
        )
        lamp = self.add_media("lamp-green.jpg", image_bytes((40, 160, 70)), alt="Green lamp")
        self.add_product("Green Lamp", product_type="Lamps", collections=[kitchen], media=[lamp], sku="SH-LAMP")
        self.add_product("Draft Vase", product_type="Vases", status="DRAFT", sku="SH-VASE")
        scene = self.add_media("scene-sofa.jpg", _scene_bytes(), alt="Sofa in a living room")
        self.add_product("Sofa", product_type="Furniture", media=[scene], sku="SH-SOFA")
        self.add_product("Old Cap", product_type="Hats", status="ARCHIVED", sku="SH-CAP-OLD")
        tee = self.add_media("tee.png", image_bytes((120, 120, 120), fmt="PNG"), alt="Tee")
        black = self.add_media("tee-black.jpg", image_bytes((20, 20, 20)), alt="Black tee")
        white = self.add_media("tee-white.jpg", image_bytes((235, 235, 235)), alt="White tee")
        self.add_product(
            "Classic Tee",
            product_type="Shirts",
            collections=[apparel],
            media=[tee, black, white],
            variants=[
                {
                    "title": "Black / S",
                    "sku": "SH-TEE-BLK-S",
                    "options": {"Color": "Black", "Size": "S"},
                    "media": [black],
                },
                {
                    "title": "Black / M",
                    "sku": "SH-TEE-BLK-M",
                    "options": {"Color": "Black", "Size": "M"},
                    "media": [black],
                },
                {
                    "title": "White / S",
                    "sku": "SH-TEE-WHT-S",
                    "options": {"Color": "White", "Size": "S"},
                    "media": [white],
                },
                {"title": "White / M", "sku": "SH-TEE-WHT-M", "options": {"Color": "White", "Size": "M"}, "media": []},
            ],
        )
        for n in range(1, fillers + 1):
            self.add_product(f"Filler {n:03d}", product_type="Fillers", sku=f"SH-FILL-{n:03d}")

    def _new_id(self) -> int:
        with self.lock:
            return next(self._ids)

    def _now_iso(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())

    def add_collection(self, title: str) -> int:
        cid = self._new_id()
        self.collections[cid] = {"id": cid, "title": title, "handle": _handle(title)}
        return cid

    def add_media(self, filename: str, data: bytes, *, alt: str = "", status: str = "READY") -> int:
        width, height, mime, _ = _inspect(data)
        mid = self._new_id()
        self.media[mid] = {
            "id": mid,
            "filename": filename,
            "alt": alt,
            "data": data,
            "mime": mime or "image/jpeg",
            "width": width,
            "height": height,
            "status": status,
            "steps": 0,
            "errors": [],
            "fail": None,
            "source": f"{self._url}/staged-uploads/seed/{filename}",
            "created": self._now_iso(),
            "version": self._new_id(),
        }
        return mid

    def add_product(
        self,
        title: str,
        *,
        product_type: str = "",
        vendor: str = "Gecko",
        tags: list[str] | None = None,
        status: str = "ACTIVE",
        collections: list[int] | None = None,
        media: list[int] | None = None,
        sku: str = "",
        variants: list[dict[str, Any]] | None = None,
        description_html: str = "",
    ) -> int:
        pid = self._new_id()
        self.products[pid] = {
            "id": pid,
            "title": title,
            "handle": _handle(title),
            "status": status,
            "product_type": product_type,
            "vendor": vendor,
            "tags": list(tags or []),
            "collections": list(collections or []),
            "media": list(media or []),
            "variants": [],
            "description_html": description_html,
            "updated": self._now_iso(),
        }
        for pos, v in enumerate(
            variants or [{"title": "Default Title", "sku": sku, "options": {"Title": "Default Title"}}], 1
        ):
            vid = self._new_id()
            self.variants[vid] = {
                "id": vid,
                "product_id": pid,
                "title": v["title"],
                "sku": v.get("sku", ""),
                "options": dict(v.get("options") or {}),
                "media": list(v.get("media") or []),
                "position": pos,
            }
            self.products[pid]["variants"].append(vid)
        return pid

    def product_media(self, pid: int) -> list[int]:
        with self.lock:
            return list(self.products[pid]["media"])

    def variant_media_ids(self, vid: int) -> list[int]:
        with self.lock:
            return list(self.variants[vid]["media"])

    def set_product_media(self, pid: int, media_ids: list[int]) -> None:
        """A person rearranging (or adding/removing) media in the admin."""
        with self.lock:
            self.products[pid]["media"] = list(media_ids)
            for vid in self.products[pid]["variants"]:
                self.variants[vid]["media"] = [m for m in self.variants[vid]["media"] if m in media_ids]

    def set_variant_media(self, vid: int, media_ids: list[int]) -> None:
        with self.lock:
            self.variants[vid]["media"] = list(media_ids)

    def product_by_title(self, title: str) -> dict[str, Any]:
        return next(p for p in self.products.values() if p["title"] == title)

    def variant_by_sku(self, sku: str) -> dict[str, Any]:
        return next(v for v in self.variants.values() if v["sku"] == sku)

    def media_named(self, prefix: str) -> list[dict[str, Any]]:
        return [m for m in self.media.values() if m["filename"].startswith(prefix)]

    def file_url(self, m: dict[str, Any]) -> str:
        return f"{self._url}/cdn/shop/files/{quote(m['filename'])}?v={m['version']}"

    def search_products(self, query: str) -> list[dict[str, Any]]:
        items = list(self.products.values())
        for name, value in _terms(query):
            low = value.lower()
            if name == "status":
                wanted = {s.strip().upper() for s in value.split(",")}
                items = [p for p in items if p["status"] in wanted]
            elif name == "product_type":
                items = [p for p in items if p["product_type"].lower() == low]
            elif name == "collection_id":
                items = [p for p in items if value.isdigit() and int(value) in p["collections"]]
            elif name == "sku":
                items = [p for p in items if any(self.variants[v]["sku"].lower() == low for v in p["variants"])]
            elif name == "tag":
                items = [p for p in items if low in (t.lower() for t in p["tags"])]
            elif name == "vendor":
                items = [p for p in items if p["vendor"].lower() == low]
            elif name == "title":
                items = [p for p in items if low.rstrip("*") in p["title"].lower()]
            elif name == "id":
                items = [p for p in items if str(p["id"]) == value]
            elif name == "":
                items = [p for p in items if self._matches_words(p, low.rstrip("*"))]
        return items

    def _matches_words(self, p: dict[str, Any], word: str) -> bool:
        hay = " ".join(
            [p["title"], p["product_type"], p["vendor"], *p["tags"], *(self.variants[v]["sku"] for v in p["variants"])]
        ).lower()
        return any(w.startswith(word) for w in re.split(r"[\s/-]+", hay)) or word in hay

    # The bucket ---------------------------------------------------------------------------------------------
    def _refill(self) -> float:
        now = self.clock()
        if self._bucket_at is not None:
            self._available = min(self.bucket_max, self._available + (now - self._bucket_at) * self.restore_rate)
        self._bucket_at = now
        return self._available

    def throttle_status(self) -> dict[str, float]:
        return {
            "maximumAvailable": float(self.bucket_max),
            "currentlyAvailable": round(self._available, 1),
            "restoreRate": float(self.restore_rate),
        }

    # Asynchronous work: one step per GraphQL request the shop answers ---------------------------------------
    def _tick(self) -> None:
        for m in self.media.values():
            if m["status"] in ("READY", "FAILED"):
                continue
            m["steps"] += 1
            if m["steps"] >= self.processing_steps:
                if m["fail"]:
                    m["status"] = "FAILED"
                    m["errors"] = [m["fail"]]
                else:
                    m["status"] = "READY"
            else:
                m["status"] = "PROCESSING"
        for job in self.jobs.values():
            if job["done"]:
                continue
            job["steps"] += 1
            if job["steps"] >= self.reorder_steps:
                job["apply"]()
                job["done"] = True

    # Media mutations ----------------------------------------------------------------------------------------
    def _sign(self, key: str) -> str:
        return hmac.new(self._signing_key, key.encode(), hashlib.sha256).hexdigest()

    def new_staged_target(self, item: dict[str, Any]) -> dict[str, Any]:
        filename = str(item["filename"])
        key = f"tmp/{self.shop}/files/{uuid.UUID(int=self._rng.getrandbits(128))}/{filename}"
        method = item.get("httpMethod") or "PUT"
        self.staged[key] = {"filename": filename, "mime": item["mimeType"], "data": None, "method": method}
        resource_url = f"{self._url}/staged-uploads/{quote(key)}"
        if method == "POST":
            return {
                "url": f"{self._url}/staged-uploads/",
                "resourceUrl": resource_url,
                "parameters": [
                    {"name": "Content-Type", "value": item["mimeType"]},
                    {"name": "success_action_status", "value": "201"},
                    {"name": "acl", "value": "private"},
                    {"name": "key", "value": key},
                    {"name": "x-goog-date", "value": "20261203T000000Z"},
                    {
                        "name": "x-goog-credential",
                        "value": "merchant-assets@shopify-tiers.iam.gserviceaccount.com/20261203/auto/storage/"
                        "goog4_request",
                    },
                    {"name": "x-goog-algorithm", "value": "GOOG4-RSA-SHA256"},
                    {"name": "x-goog-signature", "value": self._sign(key)},
                    {"name": "policy", "value": base64.b64encode(json.dumps({"key": key}).encode()).decode()},
                ],
            }
        return {
            "url": f"{resource_url}?X-Goog-Signature={self._sign(key)}",
            "resourceUrl": resource_url,
            "parameters": [{"name": "content_type", "value": item["mimeType"]}, {"name": "acl", "value": "private"}],
        }

    def file_create(self, files: list[dict[str, Any]]) -> dict[str, Any]:
        created, errors = [], []
        for i, f in enumerate(files):
            source = str(f.get("originalSource") or "")
            staged = self.staged.get(unquote(urlsplit(source).path).removeprefix("/staged-uploads/"))
            name = str(f.get("filename") or "") or unquote(source.rsplit("/", 1)[-1].split("?", 1)[0])
            if not source:
                errors.append(
                    {
                        "field": ["files", str(i), "originalSource"],
                        "message": "Original source can't be blank",
                        "code": "BLANK",
                    }
                )
                continue
            if "." not in name or name.rsplit(".", 1)[-1].lower() not in ("jpg", "jpeg", "png", "gif", "webp", "heic"):
                errors.append(
                    {
                        "field": ["files", str(i), "filename"],
                        "message": "Filename has an invalid extension",
                        "code": "INVALID_FILENAME_EXTENSION",
                    }
                )
                continue
            mode = f.get("duplicateResolutionMode") or "APPEND_UUID"
            existing = [m for m in self.media.values() if m["filename"].lower() == name.lower()]
            if existing and mode == "RAISE_ERROR":
                errors.append(
                    {
                        "field": ["files", str(i), "filename"],
                        "message": f"A file with the name {name} already exists",
                        "code": "FILENAME_ALREADY_EXISTS",
                    }
                )
                continue
            if existing and mode == "APPEND_UUID":
                stem, ext = name.rsplit(".", 1)
                name = f"{stem}_{uuid.UUID(int=self._rng.getrandbits(128))}.{ext}"
            data = staged["data"] if staged else None
            mid = self.add_media(name, data or b"", alt=str(f.get("alt") or ""), status="UPLOADED")
            m = self.media[mid]
            m["source"] = source
            m["fail"] = self._failure(data)
            self.counts["files_created"] += 1
            created.append(_MediaView(self, m))
        return {"files": created, "userErrors": errors}

    def _failure(self, data: bytes | None) -> dict[str, str] | None:
        if self.media_failures:
            code = self.media_failures.pop(0)
            return {"code": code, "details": "", "message": "Media failed to process."}
        if not data:
            return {"code": "IMAGE_DOWNLOAD_FAILURE", "details": "", "message": "Image could not be downloaded."}
        width, height, mime, ok = _inspect(data)
        if not ok or mime is None:
            return {
                "code": "UNSUPPORTED_IMAGE_FILE_TYPE",
                "details": "",
                "message": "Image file type is not supported.",
            }
        if len(data) > MAX_BYTES:
            return {
                "code": "INVALID_IMAGE_FILE_SIZE",
                "details": "",
                "message": "Image exceeds the maximum file size of 20 MB.",
            }
        if width > MAX_SIDE or height > MAX_SIDE or width * height > MAX_PIXELS:
            return {
                "code": "INVALID_IMAGE_RESOLUTION",
                "details": f"{width}x{height}",
                "message": "Image resolution exceeds the maximum of 20 megapixels.",
            }
        if max(width, height) > 100 * max(1, min(width, height)):
            return {
                "code": "INVALID_IMAGE_ASPECT_RATIO",
                "details": "",
                "message": "Aspect ratio must be between 100:1 and 1:100.",
            }
        return None

    def file_update(self, files: list[dict[str, Any]]) -> dict[str, Any]:
        updated, errors = [], []
        # Checked first: an invalid entry changes nothing.
        for i, f in enumerate(files):
            mid = parse_gid(f["id"])
            m = self.media.get(mid)
            if m is None:
                errors.append(
                    {"field": ["files", str(i), "id"], "message": "File does not exist.", "code": "FILE_DOES_NOT_EXIST"}
                )
                continue
            for ref in list(f.get("referencesToAdd") or []) + list(f.get("referencesToRemove") or []):
                pid = parse_gid(ref)
                if pid not in self.products:
                    errors.append(
                        {
                            "field": ["files", str(i), "referencesToAdd"],
                            "message": "The reference target does not exist.",
                            "code": "REFERENCE_TARGET_DOES_NOT_EXIST",
                        }
                    )
            if f.get("referencesToAdd") and m["status"] != "READY":
                errors.append(
                    {
                        "field": ["files", str(i), "referencesToAdd"],
                        "message": "Non-ready files cannot be referenced.",
                        "code": "NON_READY_STATE",
                    }
                )
            for ref in f.get("referencesToAdd") or []:
                pid = parse_gid(ref)
                if (
                    pid in self.products
                    and len(self.products[pid]["media"]) >= 250
                    and mid not in self.products[pid]["media"]
                ):
                    errors.append(
                        {
                            "field": ["files", str(i), "referencesToAdd"],
                            "message": "Exceeded the maximum number of media per product.",
                            "code": "PRODUCT_MEDIA_LIMIT_EXCEEDED",
                        }
                    )
        if errors:
            return {"files": None, "userErrors": errors}
        for f in files:
            mid = parse_gid(f["id"])
            m = self.media[mid]
            if f.get("alt") is not None:
                m["alt"] = str(f["alt"])
            for ref in f.get("referencesToAdd") or []:
                p = self.products[parse_gid(ref)]
                if mid not in p["media"]:
                    p["media"].append(mid)
                    self.counts["media_attached"] += 1
            for ref in f.get("referencesToRemove") or []:
                p = self.products[parse_gid(ref)]
                if mid in p["media"]:
                    p["media"].remove(mid)
                    self.counts["media_detached"] += 1
                for vid in p["variants"]:
                    if mid in self.variants[vid]["media"]:
                        self.variants[vid]["media"].remove(mid)
            updated.append(_MediaView(self, m))
        return {"files": updated, "userErrors": []}

    def file_delete(self, ids: list[str]) -> dict[str, Any]:
        mids = [parse_gid(i) for i in ids]
        missing = [i for i, mid in zip(ids, mids, strict=True) if mid not in self.media]
        if missing:
            return {
                "deletedFileIds": None,
                "userErrors": [
                    {"field": ["fileIds"], "message": "File does not exist.", "code": "FILE_DOES_NOT_EXIST"}
                ],
            }
        for mid in mids:
            del self.media[mid]
            for p in self.products.values():
                if mid in p["media"]:
                    p["media"].remove(mid)
            for v in self.variants.values():
                if mid in v["media"]:
                    v["media"].remove(mid)
        return {"deletedFileIds": list(ids), "userErrors": []}

    def reorder(self, product_gid: str, moves: list[dict[str, Any]]) -> dict[str, Any]:
        pid = parse_gid(product_gid, "Product")
        p = self.products.get(pid)
        if p is None:
            return {
                "job": None,
                "mediaUserErrors": [_mue("PRODUCT_DOES_NOT_EXIST", ["id"], "Product does not exist")],
                "userErrors": [{"field": ["id"], "message": "Product does not exist"}],
            }
        errors = []
        parsed = []
        for i, mv in enumerate(moves):
            mid = parse_gid(mv["id"])
            if mid not in p["media"]:
                errors.append(
                    _mue(
                        "MEDIA_DOES_NOT_EXIST_ON_PRODUCT", ["moves", str(i), "id"], "Media id does not exist on product"
                    )
                )
                continue
            try:
                pos = int(str(mv["newPosition"]))
            except ValueError:
                errors.append(_mue("INVALID", ["moves", str(i), "newPosition"], "New position is invalid"))
                continue
            parsed.append((mid, pos))
        if errors:
            return {
                "job": None,
                "mediaUserErrors": errors,
                "userErrors": [{"field": e["field"], "message": e["message"]} for e in errors],
            }

        def apply() -> None:
            order = p["media"]
            for mid, pos in parsed:
                if mid in order:
                    order.remove(mid)
                    order.insert(min(pos, len(order)), mid)
            self.counts["reorders_applied"] += 1

        job_id = gid("Job", uuid.UUID(int=self._rng.getrandbits(128)))
        self.jobs[job_id] = {"done": False, "steps": 0, "apply": apply}
        self.counts["reorders"] += 1
        return {"job": {"id": job_id, "done": False}, "mediaUserErrors": [], "userErrors": []}

    def variant_media(self, product_gid: str, pairs: list[dict[str, Any]], *, append: bool) -> dict[str, Any]:
        pid = parse_gid(product_gid, "Product")
        p = self.products.get(pid)
        if p is None:
            return {
                "product": None,
                "productVariants": None,
                "userErrors": [_mue("PRODUCT_DOES_NOT_EXIST", ["productId"], "Product does not exist")],
            }
        errors = []
        seen: set[int] = set()
        for i, pair in enumerate(pairs):
            vid = parse_gid(pair["variantId"], "ProductVariant")
            field_ = ["variantMedia", str(i)]
            if vid in seen:
                errors.append(
                    _mue(
                        "PRODUCT_VARIANT_SPECIFIED_MULTIPLE_TIMES",
                        [*field_, "variantId"],
                        "Variant specified more than once",
                    )
                )
            seen.add(vid)
            if vid not in p["variants"]:
                errors.append(
                    _mue(
                        "PRODUCT_VARIANT_DOES_NOT_EXIST_ON_PRODUCT",
                        [*field_, "variantId"],
                        f"Variant {vid} does not exist on the product",
                    )
                )
                continue
            mids = [parse_gid(m) for m in pair["mediaIds"]]
            if len(mids) > 1:
                errors.append(
                    _mue(
                        "TOO_MANY_MEDIA_PER_INPUT_PAIR",
                        [*field_, "mediaIds"],
                        "Only one mediaId is allowed per variant-media input pair",
                    )
                )
                continue
            for mid in mids:
                if mid not in self.media:
                    errors.append(_mue("MEDIA_DOES_NOT_EXIST", [*field_, "mediaIds"], f"Media {mid} does not exist"))
                elif mid not in p["media"]:
                    errors.append(
                        _mue(
                            "MEDIA_DOES_NOT_EXIST_ON_PRODUCT",
                            [*field_, "mediaIds"],
                            f"Media {mid} does not exist on the product",
                        )
                    )
                elif append and self.media[mid]["status"] != "READY":
                    errors.append(_mue("NON_READY_MEDIA", [*field_, "mediaIds"], "Media is not ready"))
                elif append and self.variants[vid]["media"]:
                    errors.append(
                        _mue(
                            "PRODUCT_VARIANT_ALREADY_HAS_MEDIA",
                            [*field_, "variantId"],
                            "Variant already has attached media",
                        )
                    )
                elif not append and mid not in self.variants[vid]["media"]:
                    errors.append(
                        _mue(
                            "MEDIA_IS_NOT_ATTACHED_TO_VARIANT",
                            [*field_, "mediaIds"],
                            "The specified media is not attached to the specified variant",
                        )
                    )
        if errors:
            return {"product": None, "productVariants": None, "userErrors": errors}
        changed = []
        for pair in pairs:
            v = self.variants[parse_gid(pair["variantId"])]
            for mid in (parse_gid(m) for m in pair["mediaIds"]):
                if append:
                    v["media"].append(mid)
                else:
                    v["media"].remove(mid)
            changed.append(_VariantView(self, v))
        self.counts["variant_media_appends" if append else "variant_media_detaches"] += 1
        return {"product": _ProductView(self, p), "productVariants": changed, "userErrors": []}

    # HTTP ---------------------------------------------------------------------------------------------------
    def handle(self, method: str, path: str, headers: Any, body: bytes, req_record: dict[str, Any]) -> Reply:
        if path == "/admin/oauth/access_token" and method == "POST":
            return self._token(headers, body)
        m = re.fullmatch(r"/admin/api/([^/]+)/graphql\.json", path)
        if m:
            if method != "POST":
                return Reply(405, {"errors": "Method Not Allowed"})
            if m.group(1) not in SUPPORTED_VERSIONS:
                return Reply(404, {"errors": "Not Found"})
            return self._graphql(headers, body, req_record)
        if path.startswith("/staged-uploads/"):
            return self._staged(method, path, headers, body)
        if path.startswith("/cdn/shop/files/") and method == "GET":
            name = unquote(path.removeprefix("/cdn/shop/files/"))
            found = next((x for x in self.media.values() if x["filename"] == name and x["status"] == "READY"), None)
            if found is None:
                return Reply(404, b"Not Found", content_type="text/plain")
            return Reply(200, found["data"], content_type=found["mime"])
        return Reply(404, b"<!DOCTYPE html><title>Page Not Found</title>", content_type="text/html; charset=utf-8")

    def _token(self, headers: Any, body: bytes) -> Reply:
        form = dict(parse_qsl(body.decode("utf-8", "replace")))
        if form.get("grant_type") != "client_credentials":
            return Reply(
                400, {"error": "unsupported_grant_type", "error_description": "The grant type is not supported."}
            )
        app = self.apps.get(form.get("client_id", ""))
        if app is None or not hmac.compare_digest(app["secret"], form.get("client_secret", "")):
            return Reply(400, {"error": "invalid_client", "error_description": "Client authentication failed."})
        token = "shpat_" + hashlib.sha256(f"{self._rng.random()}".encode()).hexdigest()[:32]
        self.tokens[token] = {"scopes": set(app["scopes"]), "expires": self.clock() + TOKEN_LIFETIME + 1}
        self.counts["tokens_issued"] += 1
        return Reply(
            200, {"access_token": token, "scope": ",".join(sorted(app["scopes"])), "expires_in": TOKEN_LIFETIME}
        )

    def _graphql(self, headers: Any, body: bytes, record: dict[str, Any]) -> Reply:
        token = headers.get("X-Shopify-Access-Token") or ""
        grant = self.tokens.get(token)
        if grant is None or (grant["expires"] is not None and self.clock() >= grant["expires"]):
            return Reply(401, {"errors": INVALID_TOKEN})
        try:
            payload = json.loads(body or b"{}")
            document = parse(str(payload["query"]))
        except (ValueError, KeyError, GraphQLError) as exc:
            message = exc.message if isinstance(exc, GraphQLError) else "Bad Request"
            return Reply(400, {"errors": [{"message": message}]})
        sch = schema()
        problems = validate(sch, document)
        if problems:
            return Reply(200, {"errors": [e.formatted for e in problems]})
        ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        name = payload.get("operationName")
        op = next((o for o in ops if name is None or (o.name and o.name.value == name)), None)
        if op is None:
            return Reply(200, {"errors": [{"message": "No operation named " + str(name)}]})
        fragments = {
            d.name.value: d
            for d in document.definitions
            if hasattr(d, "type_condition") and not isinstance(d, OperationDefinitionNode)
        }
        variables = dict(payload.get("variables") or {})
        requested = query_cost(sch, op, fragments, variables)
        with self.lock:
            self._tick()
            available = self._refill()
            if requested > MAX_QUERY_COST:
                return Reply(
                    200,
                    {
                        "errors": [
                            {
                                "message": f"Query cost is {requested}, which exceeds the single query max cost limit "
                                f"({MAX_QUERY_COST}).",
                                "extensions": {
                                    "code": "MAX_COST_EXCEEDED",
                                    "cost": requested,
                                    "maxCost": MAX_QUERY_COST,
                                },
                            }
                        ]
                    },
                )
            if requested > available:
                self.counts["throttled"] += 1
                record["throttled"] = True
                return Reply(
                    200,
                    {
                        "errors": [
                            {
                                "message": "Throttled",
                                "extensions": {
                                    "code": "THROTTLED",
                                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                                },
                            }
                        ],
                        "extensions": {
                            "cost": {
                                "requestedQueryCost": requested,
                                "actualQueryCost": None,
                                "throttleStatus": self.throttle_status(),
                            }
                        },
                    },
                )
            result = execute(
                sch,
                document,
                root_value=_Root(self),
                context_value={"scopes": grant["scopes"]},
                variable_values=variables,
                operation_name=name,
            )
            assert not hasattr(result, "__await__")
            data = result.data  # type: ignore[union-attr]
            actual = _actual_cost(requested, data, op)
            self._available -= actual
            for err in result.errors or []:  # type: ignore[union-attr]
                if err.original_error is not None and not isinstance(err.original_error, GraphQLError):
                    self.errors.append(f"{err.path}: {err.original_error!r}")
            out: dict[str, Any] = {"data": data}
            if result.errors:  # type: ignore[union-attr]
                out["errors"] = [e.formatted for e in result.errors]  # type: ignore[union-attr]
            out["extensions"] = {
                "cost": {
                    "requestedQueryCost": requested,
                    "actualQueryCost": actual,
                    "throttleStatus": self.throttle_status(),
                }
            }
            self.counts["graphql"] += 1
        return Reply(200, out)

    def _staged(self, method: str, path: str, headers: Any, body: bytes) -> Reply:
        if headers.get("X-Shopify-Access-Token"):
            self.counts["token_sent_to_storage"] += 1  # the storage host must never see the shop's token
        if method == "POST" and path == "/staged-uploads/":
            fields, file_data, order_ok = _form(headers.get("Content-Type", ""), body)
            key = fields.get("key", "")
            target = self.staged.get(key)
            if not order_ok:
                return Reply(
                    400,
                    b"<Error><Code>InvalidArgument</Code><Message>The file must be the last field.</Message></Error>",
                    content_type="application/xml",
                )
            if target is None or not hmac.compare_digest(fields.get("x-goog-signature", ""), self._sign(key)):
                return Reply(
                    403,
                    b"<Error><Code>AccessDenied</Code><Message>Invalid signature.</Message></Error>",
                    content_type="application/xml",
                )
            if file_data is None:
                return Reply(
                    400,
                    b"<Error><Code>InvalidArgument</Code><Message>No file.</Message></Error>",
                    content_type="application/xml",
                )
            target["data"] = file_data
            self.counts["uploads"] += 1
            return Reply(201, f"<PostResponse><Key>{key}</Key></PostResponse>".encode(), content_type="application/xml")
        if method == "PUT":
            key = unquote(path.removeprefix("/staged-uploads/"))
            target = self.staged.get(key)
            if target is None:
                return Reply(403, b"<Error><Code>AccessDenied</Code></Error>", content_type="application/xml")
            target["data"] = body
            self.counts["uploads"] += 1
            return Reply(200, b"", content_type="application/xml")
        return Reply(405, b"", content_type="application/xml")


def _mue(code: str, field_: list[str], message: str) -> dict[str, Any]:
    return {"code": code, "field": field_, "message": message}


def _handle(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def _inspect(data: bytes) -> tuple[int, int, str | None, bool]:
    """(width, height, mime, decodable) without decoding more than the header."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        return 0, 0, None, False
    try:
        with Image.open(io.BytesIO(data)) as im:
            mime = Image.MIME.get(im.format or "")
            return im.width, im.height, mime, True
    except Image.DecompressionBombError:
        # Past Pillow's own limit (far past the shop's): the shop judges size itself (INVALID_IMAGE_RESOLUTION).
        # Pillow's limit is process-wide, so it is left alone here.
        return 1 << 15, 1 << 15, "image/png", True
    except (UnidentifiedImageError, OSError):
        return 0, 0, None, False


def _scene_bytes() -> bytes:
    """A photo that is not on white (a lifestyle scene), for the "white background only" filter."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (512, 512), (90, 70, 50))
    ImageDraw.Draw(img).rectangle((100, 200, 420, 380), fill=(160, 40, 40))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _form(ctype: str, body: bytes) -> tuple[dict[str, str], bytes | None, bool]:
    """A multipart form: (text fields, the file, whether every field came before the file)."""
    if "multipart/form-data" not in ctype:
        return {}, None, True
    msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
    fields: dict[str, str] = {}
    data: bytes | None = None
    order_ok = True
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "file":
            data = payload
        else:
            if data is not None:
                order_ok = False
            fields[str(name)] = payload.decode("utf-8", "replace")
    return fields, data, order_ok


def _root_fields(body: bytes) -> str:
    try:
        doc = parse(str(json.loads(body)["query"]))
    except (ValueError, KeyError, GraphQLError, TypeError):
        return ""
    names = []
    for d in doc.definitions:
        if isinstance(d, OperationDefinitionNode):
            names += [s.name.value for s in d.selection_set.selections if isinstance(s, FieldNode)]
    return ",".join(names)


class _Server(ThreadingHTTPServer):
    RequestHandlerClass: type[_Handler]

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        self.RequestHandlerClass.emulator.errors.append(repr(exc))


class _Handler(BaseHTTPRequestHandler):
    emulator: ShopifyEmulator
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""

    def log_message(self, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        emu = self.emulator
        path = urlsplit(self.path).path
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        key = path + ("#" + _root_fields(body) if path.endswith("graphql.json") else "")
        record: dict[str, Any] = {"method": self.command, "path": path, "key": key}
        with emu.lock:
            emu.requests.append(record)
            emu.counts["requests"] += 1
        fault = emu._take_fault(self.command, key)
        if fault and fault.mode == "drop":
            record["status"] = "dropped"
            return self._drop()
        if fault and fault.mode == "status":
            record["status"] = fault.status
            return self._send(_fault_reply(fault))
        try:
            reply = emu.handle(self.command, path, self.headers, body, record)
        except Exception as exc:  # a bug in the emulator: 500, kept for the tests to see
            emu.errors.append(f"{self.command} {path}: {exc!r}")
            reply = Reply(500, {"errors": "Internal Server Error"})
        record["status"] = reply.status
        if fault and fault.mode == "drop_after":
            return self._drop()
        if fault and fault.mode == "status_after":
            record["status"] = fault.status
            return self._send(_fault_reply(fault))
        if fault and fault.mode == "slow" and emu._stop.wait(fault.delay):
            return self._drop()
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        data = bytes(reply.body) if isinstance(reply.body, bytes | bytearray) else json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Request-Id", str(uuid.uuid4()))
            if "/admin/api/" in self.path:
                self.send_header("X-Shopify-API-Version", API_VERSION)
            for k, v in reply.headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_DELETE = _serve


def _fault_reply(fault: Fault) -> Reply:
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = (
            f"{fault.retry_after:g}" if fault.retry_after < 1 else str(int(math.ceil(fault.retry_after)))
        )
    if fault.status == 429:
        return Reply(
            429,
            {
                "errors": "Exceeded 2 calls per second for api client. Reduce request rates to resume "
                "uninterrupted service."
            },
            headers,
        )
    if fault.status >= 500:
        return Reply(fault.status, {"errors": "Internal Server Error"}, headers)
    return Reply(fault.status, {"errors": "Injected fault."}, headers)
