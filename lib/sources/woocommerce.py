"""A WooCommerce store as a product source (wc/v3) and a publish target (wp/v2/media + wc/v3 image lists).

Listing always pages server-side with `orderby=id`: the default date order has no tie-breaker, and products created
in the same second repeat and go missing across pages (reference/woocommerce/README.md). Product text arrives as
HTML and leaves as plain text. Every outbound call is recorded as a "request" Event with its auth stripped.
Connecting (checklist, saving credentials) lives in `wc_check.py` and is re-exported here.
"""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from typing import TYPE_CHECKING, Any

from lib import events
from lib.connections import read_secret
from lib.errors import AppError, InputError, PublishError, SourceAuthError, SourceNotFound
from lib.outbound import OutboundPolicy
from lib.sku_match import SkuHit, pick
from lib.sources.base import Product, ProductPage, ProductQuery, SourceImage, Variation
from lib.sources.wc_check import Check, check_connection, save_woocommerce, test_connection
from lib.sources.wc_client import WooClient, WooCredentials, plain_text

if TYPE_CHECKING:
    from lib.models import Connection
    from lib.runtime import Runtime

KIND = "woocommerce"
PER_PAGE_MAX = 100
__all__ = [
    "Check",
    "WooSource",
    "WooTarget",
    "check_connection",
    "client_for",
    "open_source",
    "open_target",
    "save_woocommerce",
    "test_connection",
]


def client_for(runtime: Runtime, connection: Connection | None) -> WooClient:
    """A client for a saved store connection that records its requests in the job log."""
    if connection is None:
        raise InputError("No WooCommerce store is connected. Add one on the Connect page.")
    secret = read_secret(runtime.vault, connection)
    creds = WooCredentials(
        url=connection.base_url or "",
        consumer_key=str(secret.get("consumer_key", "")),
        consumer_secret=str(secret.get("consumer_secret", "")),
        wp_user=str(connection.settings.get("wp_user") or secret.get("wp_user") or ""),
        app_password=str(secret.get("app_password", "")),
    )
    settings = runtime.settings
    ref: list[weakref.ReferenceType[WooClient]] = []  # a weak link: no cycle keeps the client's sockets alive

    def sink(service: str, method: str, url: str, status: int | None, ms: float, error: str | None) -> None:
        owner = ref[0]() if ref else None
        job_id = getattr(owner, "job_id", None)
        with runtime.db.transaction() as s:
            events.record(
                s,
                "request",
                error or f"{service} {method}",
                job_id=job_id,
                service=service,
                method=method,
                url=url,
                status_code=status,
                duration_ms=round(ms, 1),
            )

    client = WooClient(
        creds,
        timeout=settings.http_timeout_seconds,
        retries=settings.http_retries,
        max_image_bytes=settings.max_image_bytes,
        sink=sink,
        policy=OutboundPolicy.for_store(
            creds.url,
            image_hosts=settings.image_hosts,
            private_store_hosts=settings.private_store_hosts,
            what="That image address",
        ),
    )
    client.job_id = None  # type: ignore[attr-defined]  # publish sets it so requests land in the job's log
    ref.append(weakref.ref(client))
    return client


def _image(data: dict[str, Any] | None) -> SourceImage | None:
    if not data or not data.get("id") or not data.get("src"):
        return None
    src = str(data["src"])
    return SourceImage(
        ref=src,
        name=plain_text(data.get("name")) or src.rsplit("/", 1)[-1],
        id=str(data["id"]),
        mime=_mime_from_name(src),
    )


def _mime_from_name(name: str) -> str | None:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "png": "image/png",
        "webp": "image/webp",
        "gif": "image/gif",
    }.get(ext)


def _variation(data: dict[str, Any]) -> Variation:
    attrs = {plain_text(a.get("name")): plain_text(a.get("option")) for a in data.get("attributes") or []}
    name = plain_text(data.get("name")) or ", ".join(attrs.values()) or f"Variation {data['id']}"
    return Variation(
        id=str(data["id"]), name=name, sku=str(data.get("sku") or ""), attributes=attrs, image=_image(data.get("image"))
    )


def product_from_json(data: dict[str, Any], variations: list[dict[str, Any]] = ()) -> Product:  # type: ignore[assignment]
    """A wc/v3 product (and its variations) as the app's Product, every text field as plain text."""
    categories = tuple(plain_text(c.get("name")) for c in data.get("categories") or [] if c.get("name"))
    short = plain_text(data.get("short_description"))
    if not short:  # the prompt wants a line about the product; the long description's start will do
        short = plain_text(data.get("description"))[:300]
    attributes = {
        plain_text(a.get("name")): ", ".join(plain_text(o) for o in a.get("options") or [])
        for a in data.get("attributes") or []
        if a.get("name")
    }
    images = tuple(i for i in (_image(d) for d in data.get("images") or []) if i is not None)
    return Product(
        id=str(data["id"]),
        name=plain_text(data.get("name")) or f"Product {data['id']}",
        sku=str(data.get("sku") or ""),
        category=categories[0] if categories else "",
        categories=categories,
        short_description=short,
        stock_status=str(data.get("stock_status") or "instock"),
        status=str(data.get("status") or "publish"),
        type=str(data.get("type") or "simple"),
        images=images,
        variations=tuple(_variation(v) for v in variations),
        attributes=attributes,
    )


class WooSource:
    """ProductSource over wc/v3."""

    kind = KIND

    def __init__(self, client: WooClient) -> None:
        self.client = client
        self._categories: dict[str, int] | None = None
        self._lock = threading.Lock()

    def list_products(self, query: ProductQuery) -> ProductPage:
        per_page = max(1, min(PER_PAGE_MAX, query.per_page))
        params: dict[str, Any] = {"page": max(1, query.page), "per_page": per_page, "orderby": "id", "order": "asc"}
        if query.search.strip():
            params["search"] = query.search.strip()
        if query.category:
            category_id = self._category_id(query.category)
            if category_id is None:
                return ProductPage([], 0, query.page, per_page)
            params["category"] = category_id
        if query.status:
            params["status"] = query.status
        if query.stock_status:
            params["stock_status"] = query.stock_status
        if query.ids:
            ids = [i for i in query.ids if str(i).isdigit()]
            if not ids:
                return ProductPage([], 0, query.page, per_page)
            params["include"] = ",".join(ids)
        data, headers = self.client.wc_get("products", params)
        total = int(headers.get("X-WP-Total") or len(data))
        items = [self._with_variations(p) for p in data]
        return ProductPage(items, total, query.page, per_page)

    def get_product(self, product_id: str) -> Product:
        if not str(product_id).isdigit():
            raise SourceNotFound(f"Product {product_id!r} does not exist in the store.")
        data, _ = self.client.wc_get(f"products/{product_id}", what=f"Product {product_id}")
        return self._with_variations(data)

    def fetch_image(self, image: SourceImage) -> bytes:
        return self.client.download(image.ref)

    def categories(self) -> list[str]:
        return list(self._category_map())

    def variations(self, product_id: str) -> list[dict[str, Any]]:
        """All variations of a variable product, paged by id."""
        out: list[dict[str, Any]] = []
        page = 1
        while True:
            data, headers = self.client.wc_get(
                f"products/{product_id}/variations",
                {"page": page, "per_page": PER_PAGE_MAX, "orderby": "id", "order": "asc"},
                what=f"Product {product_id}",
            )
            out.extend(data)
            if not data or page >= int(headers.get("X-WP-TotalPages") or 1):
                return out
            page += 1

    def _with_variations(self, data: dict[str, Any]) -> Product:
        variations = self.variations(str(data["id"])) if data.get("type") == "variable" else []
        return product_from_json(data, variations)

    def _category_map(self) -> dict[str, int]:
        with self._lock:
            if self._categories is None:
                found: dict[str, int] = {}
                page = 1
                while True:
                    data, headers = self.client.wc_get(
                        "products/categories", {"page": page, "per_page": PER_PAGE_MAX, "orderby": "id", "order": "asc"}
                    )
                    for c in data:
                        found.setdefault(plain_text(c.get("name")), int(c["id"]))
                    if not data or page >= int(headers.get("X-WP-TotalPages") or 1):
                        break
                    page += 1
                self._categories = found
            return dict(self._categories)

    def _category_id(self, category: str) -> int | None:
        """Categories come as a term id (the API's filter) or as a name from `categories()`."""
        if str(category).isdigit():
            return int(category)
        return self._category_map().get(category)


class WooTarget:
    """PublishTarget: media uploads through WordPress (Application Password), image lists through wc/v3."""

    kind = KIND

    def __init__(self, client: WooClient) -> None:
        self.client = client

    @property
    def job_id(self) -> int | None:
        return getattr(self.client, "job_id", None)

    @job_id.setter
    def job_id(self, value: int | None) -> None:
        self.client.job_id = value  # type: ignore[attr-defined]

    def product_image_ids(self, product_id: str) -> list[str]:
        data, _ = self.client.wc_get(f"products/{product_id}", what=f"Product {product_id}")
        return [str(i["id"]) for i in data.get("images") or [] if i.get("id")]

    def variation_image_id(self, product_id: str, variation_id: str) -> str | None:
        # context=edit: after a removal the view context shows the parent's featured image instead of null.
        data, _ = self.client.wc_get(
            f"products/{product_id}/variations/{variation_id}",
            {"context": "edit"},
            what=f"Variation {variation_id} of product {product_id}",
        )
        image = data.get("image")
        return str(image["id"]) if isinstance(image, dict) and image.get("id") else None

    def find_media(self, filename: str) -> str | None:
        """Media already uploaded under exactly this file name. WordPress's search looks at titles, not file names,
        so the slug WordPress made from the file name is asked too."""
        stem = filename.rsplit(".", 1)[0]
        for params in ({"search": stem}, {"slug": _wp_slug(stem)}):
            items = self.client.wp_get("media", {**params, "per_page": PER_PAGE_MAX, "orderby": "id", "order": "asc"})
            for m in items or []:
                original = (m.get("media_details") or {}).get("original_image")
                if _stored_name(m) == filename or original == filename:  # a big image is stored as -scaled
                    return str(m["id"])
        return None

    def upload_media(self, data: bytes, *, filename: str, mime: str, alt_text: str, title: str) -> str:
        """One POST (never retried here: a lost answer may still have stored the file; publish looks it up
        with find_media before trying again), then the alt text and title (idempotent, retried)."""
        if not data:
            raise PublishError("There is no image data to upload.")
        if not (self.client.creds.wp_user and self.client.creds.app_password):
            raise SourceAuthError(
                "Uploading images needs a WordPress user and Application Password (store keys "
                "cannot upload media). Add them to the store on the Connect page."
            )
        body, _, status = self.client.wp_call(
            "POST",
            "media",
            content=data,
            headers={"Content-Type": mime, "Content-Disposition": f'attachment; filename="{filename}"'},
        )
        if status != 201 or not body.get("id"):
            raise PublishError(f"WordPress did not store {filename} (HTTP {status}).")
        media_id = str(body["id"])
        self.set_media_text(media_id, alt_text=alt_text, title=title)
        return media_id

    def set_media_text(self, media_id: str, *, alt_text: str, title: str) -> None:
        self.client.retrying(
            lambda: self.client.wp_call("POST", f"media/{media_id}", json={"alt_text": alt_text, "title": title})
        )

    def set_product_images(self, product_id: str, image_ids: list[str]) -> list[str]:
        data, _ = self.client.wc_call(
            "PUT",
            f"products/{product_id}",
            data={"images": [{"id": int(i)} for i in image_ids]},
            what=f"Product {product_id}",
        )
        return [str(i["id"]) for i in data.get("images") or [] if i.get("id")]

    def set_variation_image(self, product_id: str, variation_id: str, image_id: str | None) -> str | None:
        payload = {"image": {"id": int(image_id)} if image_id else {"id": 0}}  # {"id": 0} removes it
        data, _ = self.client.wc_call(
            "PUT",
            f"products/{product_id}/variations/{variation_id}",
            data=payload,
            what=f"Variation {variation_id} of product {product_id}",
        )
        if not image_id:
            return None  # the answer is in view context, which shows the parent's image after a removal
        image = data.get("image")
        return str(image["id"]) if isinstance(image, dict) and image.get("id") else None

    def sku_hits(self, sku: str) -> list[SkuHit]:
        """Everything the store lists for `?sku=`: products and variations (a variation's parent is its
        `parent_id`), matched ignoring case, as a real store does."""
        if not sku or "," in sku:  # wc/v3 reads a comma as a list of SKUs
            return []
        data, _ = self.client.wc_get("products", {"sku": sku, "per_page": PER_PAGE_MAX})
        hits = []
        for p in data or []:
            is_variation = p.get("type") == "variation" and p.get("parent_id")
            hits.append(
                SkuHit(
                    str(p["parent_id"]) if is_variation else str(p["id"]),
                    str(p["id"]) if is_variation else None,
                    plain_text(p.get("name")) or f"Product {p['id']}",
                    str(p.get("sku") or ""),
                )
            )
        return hits

    def product_for_sku(self, sku: str) -> SkuHit | None:
        """The product or variation with this SKU (exact spelling preferred), or None; an InputError in one
        sentence when the SKU is ambiguous."""
        return pick(sku, self.sku_hits(sku))

    def find_upload(self, filename: str, *, data: bytes, prefer: frozenset[str] = frozenset()) -> str | None:
        """Media in the library holding exactly these bytes under our file name (or a copy WordPress renamed:
        `-1`, `-2`, or `-scaled` for images over 2560 px, whose uploaded name is kept in
        `media_details.original_image`). The content is checked (size, or the bytes' hash for a scaled copy),
        so a namesake with other content is never taken. Among several, the ones in `prefer` (our own recorded
        uploads) come first, then the oldest."""
        stem, _, ext = filename.rpartition(".")
        named = re.compile(rf"{re.escape(stem)}(?:-\d+)?(?:-scaled)?\.{re.escape(ext)}", re.IGNORECASE)
        seen: dict[str, dict[str, Any]] = {}
        for params in ({"search": stem}, {"slug": _wp_slug(stem)}):
            items = self.client.wp_get("media", {**params, "per_page": PER_PAGE_MAX, "orderby": "id", "order": "asc"})
            for m in items or []:
                original = str((m.get("media_details") or {}).get("original_image") or "")
                if named.fullmatch(_stored_name(m)) or (original and named.fullmatch(original)):
                    seen.setdefault(str(m["id"]), m)
        digest = hashlib.sha256(data).hexdigest()
        order = sorted(seen, key=lambda i: (i not in prefer, int(i) if i.isdigit() else 0))
        for media_id in order:
            if self._same_content(seen[media_id], data, digest):
                return media_id
        return None

    def _same_content(self, media: dict[str, Any], data: bytes, digest: str) -> bool:
        details = media.get("media_details") or {}
        original = details.get("original_image")
        if not original and isinstance(details.get("filesize"), int):
            return bool(details["filesize"] == len(data))
        # A scaled copy's size says nothing about the upload: the uploaded file sits beside it, fetch and hash it.
        url = str(media.get("source_url") or "")
        if original:
            url = f"{url.rsplit('/', 1)[0]}/{original}"
        try:
            stored = self.client.download(url, max_bytes=max(len(data) * 2, 1 << 20))
        except AppError:
            return False
        return hashlib.sha256(stored).hexdigest() == digest


def _stored_name(media: dict[str, Any]) -> str:
    file = (media.get("media_details") or {}).get("file") or media.get("source_url") or ""
    return str(file).rsplit("/", 1)[-1]


def _wp_slug(stem: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", stem.lower()).strip("-")


def open_source(runtime: Runtime, connection: Connection | None) -> WooSource:
    return WooSource(client_for(runtime, connection))


def open_target(runtime: Runtime, connection: Connection | None) -> WooTarget:
    return WooTarget(client_for(runtime, connection))
