"""A Shopify shop as a product source (Admin GraphQL, pinned version) and, through `shopify_target`, a publish target.

Ids the app sees are Shopify's numeric ids as strings ("8123456789"); global ids (`gid://shopify/Product/…`) are
built at the edge. Products page with cursors: a page number is reached by walking cheap id-only pages from the
nearest cursor already known, so paging a large shop never refetches what it skipped. Listing documents are sized
to stay under Shopify's 1000-point single-query limit; variants are fetched in small batches for the products
that have them. Text from the shop is plain text (descriptions come without HTML) and is shown as text only.
Connecting (checklist, saving credentials) lives in `shopify_check.py`.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lib import events
from lib.connections import read_secret
from lib.errors import InputError, SourceNotFound
from lib.sources.base import Product, ProductPage, ProductQuery, SourceImage, Variation
from lib.sources.shopify_client import ShopifyClient, ShopifyCredentials, normalize_shop, shop_policy
from lib.sources.shopify_ids import gid, num, search_value
from lib.sources.shopify_target import ShopifyTarget

if TYPE_CHECKING:
    from lib.models import Connection
    from lib.runtime import Runtime

KIND = "shopify"
PER_PAGE_MAX = 30  # with media and collections, 30 products stay under the 1000-point single-query limit
VARIANT_BATCH = 3  # products per variants query (each asks for up to 50 variants)
STATUSES = ("active", "draft", "archived", "unlisted")

MEDIA_FIELDS = "media(first: 20) { nodes { id ... on MediaImage { status image { url } } } }"
PRODUCT_FIELDS = f"""
  id title status productType vendor tags description(truncateAt: 300) hasOnlyDefaultVariant
  variantsCount {{ count }}
  collections(first: 5) {{ nodes {{ title }} }}
  {MEDIA_FIELDS}
"""
VARIANT_FIELDS = """
  id title sku selectedOptions { name value }
  media(first: 1) { nodes { id ... on MediaImage { status image { url } } } }
"""
LIST_PRODUCTS = f"""
query ListProducts($first: Int!, $after: String, $query: String) {{
  products(first: $first, after: $after, query: $query, sortKey: ID) {{
    nodes {{ {PRODUCT_FIELDS} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
  productsCount(query: $query) {{ count }}
}}"""
LIST_IDS = """
query ProductIds($first: Int!, $after: String, $query: String) {
  products(first: $first, after: $after, query: $query, sortKey: ID) {
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
}"""
PRODUCTS_BY_ID = f"""
query ProductsById($ids: [ID!]!) {{
  nodes(ids: $ids) {{ ... on Product {{ {PRODUCT_FIELDS} }} }}
}}"""
VARIANTS = f"""
query ProductVariants($ids: [ID!]!) {{
  nodes(ids: $ids) {{
    ... on Product {{
      id
      variants(first: 50) {{ nodes {{ {VARIANT_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }}
    }}
  }}
}}"""
MORE_VARIANTS = f"""
query MoreVariants($id: ID!, $after: String) {{
  product(id: $id) {{
    variants(first: 100, after: $after) {{ nodes {{ {VARIANT_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }}
  }}
}}"""
COLLECTIONS = """
query Collections($after: String) {
  collections(first: 250, after: $after, sortKey: TITLE) {
    nodes { id title }
    pageInfo { hasNextPage endCursor }
  }
}"""
PRODUCT_TYPES = """
query ProductTypes($after: String) {
  productTypes(first: 250, after: $after) { nodes pageInfo { hasNextPage endCursor } }
}"""


def client_for(runtime: Runtime, connection: Connection | None) -> ShopifyClient:
    """A client for a saved shop that records its requests in the job log."""
    if connection is None:
        raise InputError("No Shopify shop is connected. Add one on the Connect page.")
    secret = read_secret(runtime.vault, connection)
    creds = ShopifyCredentials(
        shop_url=connection.base_url or "",
        access_token=str(secret.get("access_token", "")),
        client_id=str(connection.settings.get("client_id") or ""),
        client_secret=str(secret.get("client_secret", "")),
    )
    ref: list[weakref.ReferenceType[ShopifyClient]] = []

    def sink(service: str, method: str, url: str, status: int | None, ms: float, error: str | None) -> None:
        owner = ref[0]() if ref else None
        with runtime.db.transaction() as s:
            events.record(
                s,
                "request",
                error or f"{service} {method}",
                job_id=getattr(owner, "job_id", None),
                service=service,
                method=method,
                url=url,
                status_code=status,
                duration_ms=round(ms, 1),
            )

    st = runtime.settings
    client = ShopifyClient(
        creds,
        timeout=st.http_timeout_seconds,
        retries=st.http_retries,
        max_image_bytes=st.max_image_bytes,
        sink=sink,
        policy=shop_policy(normalize_shop(creds.shop_url), image_hosts=list(st.image_hosts)),
    )
    client.job_id = None  # type: ignore[attr-defined]  # publish sets it so requests land in the job's log
    ref.append(weakref.ref(client))
    return client


def _image(node: dict[str, Any] | None) -> SourceImage | None:
    if not node or not (node.get("image") or {}).get("url"):
        return None
    url = str(node["image"]["url"])
    name = urlsplit(url).path.rsplit("/", 1)[-1]
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    mime = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
    return SourceImage(ref=url, name=name, id=num(str(node["id"])), mime=mime.get(ext))


def _variation(node: dict[str, Any]) -> Variation:
    attrs = {str(o["name"]): str(o["value"]) for o in node.get("selectedOptions") or []}
    media = (node.get("media") or {}).get("nodes") or []
    return Variation(
        id=num(node["id"]),
        name=str(node.get("title") or "") or ", ".join(attrs.values()),
        sku=str(node.get("sku") or ""),
        attributes=attrs,
        image=_image(media[0]) if media else None,
    )


def product_from_node(node: dict[str, Any], variants: list[dict[str, Any]] | None = None) -> Product:
    """A Product from a `products` node (and its variants). A product with only Shopify's default variant is a
    simple product whose SKU is that variant's."""
    collections = tuple(str(c["title"]) for c in (node.get("collections") or {}).get("nodes") or [] if c.get("title"))
    images = tuple(i for i in (_image(m) for m in (node.get("media") or {}).get("nodes") or []) if i is not None)
    simple = bool(node.get("hasOnlyDefaultVariant"))
    variations = tuple(_variation(v) for v in variants or [])
    attributes = {"Vendor": str(node.get("vendor") or "")} if node.get("vendor") else {}
    if node.get("productType"):
        attributes["Product type"] = str(node["productType"])
    return Product(
        id=num(node["id"]),
        name=str(node.get("title") or "") or f"Product {num(node['id'])}",
        sku=variations[0].sku if simple and variations else "",
        category=collections[0] if collections else str(node.get("productType") or ""),
        categories=collections,
        short_description=str(node.get("description") or ""),
        status=str(node.get("status") or "ACTIVE").lower(),
        type="simple" if simple else "variable",
        images=images,
        variations=() if simple else variations,
        attributes=attributes,
    )


class ShopifySource:
    """ProductSource over the Admin GraphQL API."""

    kind = KIND

    def __init__(self, client: ShopifyClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._cursors: dict[tuple[str, int], dict[int, str | None]] = {}  # (query, per page) -> page -> after
        self._collections: dict[str, str] | None = None

    # Listing ---------------------------------------------------------------------------------------------
    def search_query(self, query: ProductQuery) -> str | None:
        """The shop's search string for these filters, or None when a filter matches nothing (an unknown
        collection)."""
        parts = []
        words = query.search.strip()
        if words:
            parts.append(search_value(words))
        if query.category:
            cid = query.category if str(query.category).isdigit() else self._collection_map().get(query.category)
            if cid is None:
                return None
            parts.append(f"collection_id:{cid}")
        if query.product_type:
            parts.append(f"product_type:{search_value(query.product_type)}")
        status = {"publish": "active", "any": ""}.get(query.status, query.status).lower()
        if status:
            if status not in STATUSES:
                raise InputError(f"Shopify products are active, draft, archived or unlisted, not {query.status!r}.")
            parts.append(f"status:{status}")
        return " ".join(parts)

    def list_products(self, query: ProductQuery) -> ProductPage:
        per_page = max(1, min(PER_PAGE_MAX, query.per_page))
        page = max(1, query.page)
        if query.ids:
            ids = [i for i in query.ids if str(i).isdigit()]
            products = self._by_ids(ids)
            start = (page - 1) * per_page
            return ProductPage(products[start : start + per_page], len(products), page, per_page)
        q = self.search_query(query)
        if q is None:
            return ProductPage([], 0, page, per_page)
        after = self._cursor(q, per_page, page)
        data = self.client.graphql(LIST_PRODUCTS, {"first": per_page, "after": after, "query": q or None})
        conn = data["products"]
        with self._lock:
            self._cursors.setdefault((q, per_page), {1: None})[page + 1] = conn["pageInfo"]["endCursor"]
        total = int((data.get("productsCount") or {}).get("count") or 0)
        return ProductPage(self._with_variants(conn["nodes"]), total, page, per_page)

    def _cursor(self, q: str, per_page: int, page: int) -> str | None:
        """The `after` cursor of a page: known ones are kept; the rest are walked to with id-only pages."""
        with self._lock:
            known = dict(self._cursors.setdefault((q, per_page), {1: None}))
        start = max(p for p in known if p <= page)
        after = known[start]
        for p in range(start, page):
            data = self.client.graphql(LIST_IDS, {"first": per_page, "after": after, "query": q or None})
            info = data["products"]["pageInfo"]
            after = info["endCursor"]
            with self._lock:
                self._cursors[(q, per_page)][p + 1] = after
            if not info["hasNextPage"]:
                break
        return after

    def _by_ids(self, ids: list[str]) -> list[Product]:
        nodes: list[dict[str, Any]] = []
        for i in range(0, len(ids), PER_PAGE_MAX):
            chunk = [gid("Product", x) for x in ids[i : i + PER_PAGE_MAX]]
            data = self.client.graphql(PRODUCTS_BY_ID, {"ids": chunk})
            nodes += [n for n in data["nodes"] if n]
        return self._with_variants(nodes)

    def _with_variants(self, nodes: list[dict[str, Any]]) -> list[Product]:
        wanted = [n["id"] for n in nodes if not n.get("hasOnlyDefaultVariant")]
        simple = [n["id"] for n in nodes if n.get("hasOnlyDefaultVariant")]
        variants = self.variants(wanted + simple)  # simple products: their one variant carries the SKU
        return [product_from_node(n, variants.get(n["id"], [])) for n in nodes]

    def variants(self, product_gids: list[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = {}
        for i in range(0, len(product_gids), VARIANT_BATCH):
            data = self.client.graphql(VARIANTS, {"ids": product_gids[i : i + VARIANT_BATCH]})
            for node in data["nodes"]:
                if not node:
                    continue
                conn = node["variants"]
                found = list(conn["nodes"])
                while conn["pageInfo"]["hasNextPage"]:
                    more = self.client.graphql(
                        MORE_VARIANTS, {"id": node["id"], "after": conn["pageInfo"]["endCursor"]}
                    )
                    conn = more["product"]["variants"]
                    found += conn["nodes"]
                out[node["id"]] = found
        return out

    def get_product(self, product_id: str) -> Product:
        if not str(product_id).isdigit():
            raise SourceNotFound(f"Product {product_id!r} does not exist in the shop.")
        found = self._by_ids([str(product_id)])
        if not found:
            raise SourceNotFound(f"Product {product_id} does not exist in the shop.")
        return found[0]

    def fetch_image(self, image: SourceImage) -> bytes:
        return self.client.download(image.ref)

    def preview(self, image: SourceImage, side: int) -> bytes:
        """A small version from Shopify's CDN, which resizes on request (`width`, `height`)."""
        sep = "&" if "?" in image.ref else "?"
        return self.client.download(f"{image.ref}{sep}width={side}&height={side}")

    # Filters ---------------------------------------------------------------------------------------------
    def categories(self) -> list[str]:
        """Collections, by title."""
        return list(self._collection_map())

    def product_types(self) -> list[str]:
        out: list[str] = []
        after = None
        while True:
            conn = self.client.graphql(PRODUCT_TYPES, {"after": after})["productTypes"]
            out += [str(t) for t in conn["nodes"] if t]
            if not conn["pageInfo"]["hasNextPage"]:
                return out
            after = conn["pageInfo"]["endCursor"]

    def _collection_map(self) -> dict[str, str]:
        with self._lock:
            if self._collections is not None:
                return dict(self._collections)
        found: dict[str, str] = {}
        after = None
        while True:
            conn = self.client.graphql(COLLECTIONS, {"after": after})["collections"]
            for c in conn["nodes"]:
                found.setdefault(str(c["title"]), num(c["id"]))
            if not conn["pageInfo"]["hasNextPage"]:
                break
            after = conn["pageInfo"]["endCursor"]
        with self._lock:
            self._collections = found
        return dict(found)


def open_source(runtime: Runtime, connection: Connection | None) -> ShopifySource:
    return ShopifySource(client_for(runtime, connection))


def open_target(runtime: Runtime, connection: Connection | None) -> ShopifyTarget:
    return ShopifyTarget(client_for(runtime, connection))
