"""A loopback WooCommerce + WordPress server for tests, faithful to /work/shared/reference/woocommerce/ (a real
WordPress 6.9 / WooCommerce 9.9.5 store) and reference/api-contracts.md §2.

What it speaks, through the real `woocommerce` client (requests) and httpx:
- `GET /wp-json/` (index with `namespaces`), `GET /wp-json/wp/v2/users/me` (capabilities with `context=edit`).
- wc/v3 products: list (page/per_page 1..100, `X-WP-Total`/`X-WP-TotalPages` as strings, a `Link` header built
  from the request's own query string, so it carries the OAuth nonce and signature as a real store's does; past the
  end `200 []`), filters search/category/status (default any, trash excluded)/stock_status/include/exclude/type/sku
  (products and variations, type `variation` with its `parent_id`, case ignored, as a real store's meta query),
  orderby id/title/include/date. The default `orderby=date` has no tie-breaker, as observed: products
  created in the same second come back in a different order on each page, so walking pages repeats and skips.
- single product GET/PUT/DELETE (a variation's id: GET answers the variation, PUT 404
  `woocommerce_rest_invalid_product_id` "To manipulate product variations you should use ..."), POST create,
  `/products/batch` (100 items max, per-item errors in a 200),
  `/products/categories`, `/products/attributes`, variations list (newest first by default) and single variation
  GET/PUT (`context=edit` shows a removed variation image as null, `view` shows the parent's featured image).
- Image lists: `images` replaces the whole list; `[]`/`null` clear it; an invalid id (missing, or not an image)
  rejects the whole update with 400 `woocommerce_product_invalid_image_id` (other fields are not saved);
  `{"src": url}` sideloads a new attachment (only this server's own upload URLs can be fetched).
- Authentication: OAuth 1.0a over http with real HMAC-SHA256/SHA1 verification (base string rebuilt as
  woocommerce/oauth.py builds it), nonce replay and a 15-minute timestamp window; Basic or query ck/cs over http
  ignored (anonymous, as a real store does); read-only keys refused on writes; Application Passwords (Basic
  user:password) on wc/v3 and wp/v2, refused over http unless `local_site=True` (WP_ENVIRONMENT_TYPE=local).
  Unauthenticated requests get the controllers' own answers (a missing product is 404 before auth, PUT 400).
  HTTPS is not emulated (the reference's https rows are therefore not covered here).
- wp/v2/media: raw body + Content-Disposition or multipart `file` (+ title/alt_text/caption fields); 201 with
  Location; duplicate file names get -1, -2; content sniffing (PNG bytes named .jpg are stored as .png);
  400 rest_upload_no_content_disposition / rest_upload_no_data, 500 rest_upload_sideload_error, 401
  rest_cannot_create, 400 for users without upload_files; `POST /wp/v2/media/{id}` updates alt_text/title; list
  with search (title, caption, description and, as WordPress 6.8, the file name) and `slug`; page past the end 400;
  JPEG/WebP uploads over 2560 px are attached as a `-scaled` copy, the uploaded name kept in
  `media_details.original_image` (both files served);
  DELETE without force 501. Files are served under /wp-content/uploads/ (chunked, without a Content-Length, when
  `chunked_files` is set, as CDNs often do).
Fault switches (`inject`): an error status (e.g. 429 with Retry-After, 5xx) before or after the request is applied,
a dropped connection (socket closed without an answer) before or after applying it, a slow answer; for the next N
requests matching a method and a path pattern, or a random fraction of them. Counters: `counts["uploads"]`,
`counts["product_updates"]`, `counts["variation_updates"]`; `requests` is a log of what arrived.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import itertools
import json
import math
import random
import re
import socket
import threading
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from tests.emulators.base import LoopbackEmulator

CONSUMER_KEY = "ck_4f1e0c2d9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
CONSUMER_SECRET = "cs_9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b"
READ_ONLY_KEY = "ck_read0000000000000000000000000000000000"
READ_ONLY_SECRET = "cs_read0000000000000000000000000000000000"
WP_USER = "shopmanager"
APP_PASSWORD = "abcd EFGH 1234 ijkl MNOP 5678"
VIEWER_USER = "viewer"  # a subscriber: valid application password, cannot upload media
VIEWER_PASSWORD = "zzzz yyyy xxxx wwww vvvv uuuu"
UPLOAD_DIR = "2026/11"
NONCE_WINDOW = 15 * 60

# WooCommerce's own words (with its HTML entities) when products/<id> is asked to change a variation.
VARIATION_VIA_PRODUCTS = (
    "To manipulate product variations you should use the /products/&lt;product_id&gt;/variations/&lt;id&gt; endpoint."
)
BIG_IMAGE_THRESHOLD = 2560  # WordPress's big_image_size_threshold: larger JPEG/WebP uploads get a -scaled copy
SEED_DATE = "2026-11-23T09:32:10"
FILLER_DATE = "2026-11-23T09:32:13"  # twelve products created in the same second: date order has ties

ALLOWED_UPLOAD_EXT = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "jpe": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "webp": "image/webp",
    "bmp": "image/bmp",
    "txt": "text/plain",
    "csv": "text/csv",
    "pdf": "application/pdf",
}
SNIFF = (
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)
INTERMEDIATE_SIZES = (
    ("medium", 300, 300),
    ("thumbnail", 150, 150),
    ("medium_large", 768, 0),
    ("woocommerce_thumbnail", 300, 300),
    ("woocommerce_single", 600, 0),
    ("woocommerce_gallery_thumbnail", 100, 100),
)


class WPError(Exception):
    """A WordPress REST error: `{"code", "message", "data": {"status", ...}}`."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.data = status, code, message, data

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": {"status": self.status, **self.data}}


def invalid_param(
    name: str,
    message: str,
    code: str = "rest_invalid_param",
    detail_code: str = "rest_invalid_type",
    detail_data: Any = None,
) -> WPError:
    return WPError(
        400,
        code,
        f"Invalid parameter(s): {name}",
        params={name: message},
        details={name: {"code": detail_code, "message": message, "data": detail_data}},
    )


def out_of_bounds(name: str, message: str) -> WPError:
    return invalid_param(name, message, detail_code="rest_out_of_bounds")


@lru_cache(maxsize=64)
def image_bytes(rgb: tuple[int, int, int], size: tuple[int, int] = (512, 512), fmt: str = "JPEG") -> bytes:
    """A product-like photo: a coloured rounded block on a white background."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, (255, 255, 255))
    w, h = size
    ImageDraw.Draw(img).rounded_rectangle((w * 0.3, h * 0.25, w * 0.7, h * 0.8), radius=int(w * 0.05), fill=rgb)
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


@dataclass
class Fault:
    method: str  # "*" or an HTTP method
    path: re.Pattern[str]
    mode: str  # status | status_after | drop | drop_after | slow
    status: int = 500
    times: int | None = 1  # None = every matching request (subject to `rate`)
    rate: float | None = None  # fail this fraction of matching requests (seeded)
    retry_after: float | None = None
    delay: float = 0.0
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method == "*" or self.method == method) and bool(self.path.search(path))


@dataclass
class Principal:
    kind: str | None = None  # oauth | app_password | None (anonymous)
    key: str | None = None
    user: str | None = None
    can_write: bool = True


@dataclass
class Req:
    method: str
    path: str
    query: list[tuple[str, str]]
    params: dict[str, str]
    headers: Any
    body: bytes
    host: str
    principal: Principal = field(default_factory=Principal)

    @property
    def context(self) -> str:
        return self.params.get("context", "view")


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-able, or bytes for files
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json; charset=UTF-8"
    chunked: bool = False  # sent with Transfer-Encoding: chunked (no Content-Length), as CDNs often serve files


class WooEmulator(LoopbackEmulator):
    """`with WooEmulator() as emu:`; `emu.url` is the store's base URL (no trailing slash)."""

    def __init__(
        self, *, local_site: bool = True, woocommerce: bool = True, seed: bool = True, rng_seed: int = 7
    ) -> None:
        self.local_site = local_site  # WP_ENVIRONMENT_TYPE=local: Application Passwords work over http
        self.woocommerce = woocommerce  # False = a WordPress site without WooCommerce (no wc/v3 namespace)
        self.lock = threading.RLock()
        self.keys: dict[str, dict[str, str]] = {
            CONSUMER_KEY: {"secret": CONSUMER_SECRET, "permissions": "read_write"},
            READ_ONLY_KEY: {"secret": READ_ONLY_SECRET, "permissions": "read"},
        }
        self.users: dict[str, dict[str, Any]] = {
            WP_USER: {
                "id": 1,
                "password": APP_PASSWORD,
                "roles": ["shop_manager"],
                "caps": {"upload_files": True, "edit_products": True, "manage_woocommerce": True},
            },
            VIEWER_USER: {"id": 2, "password": VIEWER_PASSWORD, "roles": ["subscriber"], "caps": {"read": True}},
        }
        self.products: dict[int, dict[str, Any]] = {}
        self.variations: dict[int, dict[str, Any]] = {}
        self.media: dict[int, dict[str, Any]] = {}
        self.categories: dict[int, dict[str, Any]] = {
            15: {"id": 15, "name": "Uncategorized", "slug": "uncategorized", "parent": 0}
        }
        self.errors: list[str] = []  # emulator bugs (answered 500): tests may assert it stays empty
        self.nonces: dict[tuple[str, str], float] = {}
        self.faults: list[Fault] = []
        self.counts: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self.clock = time.time  # tests may move time (OAuth timestamp window)
        self.chunked_files = False  # serve /wp-content/uploads/ files chunked, without a Content-Length
        self._rng = random.Random(rng_seed)
        self._ids = itertools.count(10)
        self._stop = threading.Event()
        if seed:
            self.seed()

    # Lifecycle (`with` and url: LoopbackEmulator) ------------------------------------------------------
    def start(self) -> WooEmulator:
        return self._serve(_Handler, "woo-emulator", server_class=_Server)

    def stop(self) -> None:
        self._stop.set()  # slow answers (inject mode="slow") stop waiting
        super().stop()

    # Fault switches ------------------------------------------------------------------------------------
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
        """Fail matching requests. mode: status (answer `status`, nothing applied), status_after (applied, then
        `status`), drop (socket closed, nothing applied), drop_after (applied, then closed), slow (applied,
        answer delayed by `delay` seconds)."""
        if mode not in {"status", "status_after", "drop", "drop_after", "slow"}:
            raise ValueError(mode)
        fault = Fault(method.upper(), re.compile(path), mode, status, times, rate, retry_after, delay)
        with self.lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.lock:
            self.faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times is not None and fault.times <= 0:
                    continue
                if not fault.matches(method, path):
                    continue
                if fault.rate is not None and self._rng.random() >= fault.rate:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                fault.hits += 1
                return fault
        return None

    # Seed data -----------------------------------------------------------------------------------------
    def seed(self) -> None:
        """A catalogue shaped like the reference store: simple with image, simple with gallery, a draft, a variable
        product with six variations (own images), and twelve fillers created in the same second."""
        for cid, name, slug in (
            (15, "Uncategorized", "uncategorized"),
            (16, "Apparel", "apparel"),
            (17, "Home", "home"),
        ):
            self.categories[cid] = {"id": cid, "name": name, "slug": slug, "parent": 0}
        self._ids = itertools.count(10)
        mug = self.add_media(
            "wcreal-mug-red.jpg",
            image_bytes((200, 30, 40)),
            title="Wcreal Mug Red",
            alt="wcreal-mug-red on white",
            date="2026-11-23T09:32:07",
        )
        lamp = self.add_media(
            "wcreal-lamp-green.jpg",
            image_bytes((40, 160, 70)),
            title="Wcreal Lamp Green",
            alt="wcreal-lamp-green on white",
            date="2026-11-23T09:32:07",
        )
        cap = self.add_media(
            "wcreal-cap-blue.png",
            image_bytes((30, 60, 200), fmt="PNG"),
            title="Wcreal Cap Blue",
            alt="wcreal-cap-blue on white",
            date="2026-11-23T09:32:08",
        )
        cap2 = self.add_media(
            "wcreal-cap-blue-side.png",
            image_bytes((30, 60, 160), fmt="PNG"),
            title="Wcreal Cap Blue Side",
            alt="wcreal-cap-blue side view",
            date="2026-11-23T09:32:08",
        )
        tee = self.add_media(
            "wcreal-tee.png",
            image_bytes((120, 120, 120), fmt="PNG"),
            title="Wcreal Tee",
            alt="wcreal-tee on white",
            date="2026-11-23T09:32:09",
        )
        tee_red = self.add_media(
            "wcreal-tee-red.jpg",
            image_bytes((210, 40, 40)),
            title="Wcreal Tee Red",
            alt="wcreal-tee-red on white",
            date="2026-11-23T09:32:10",
        )
        tee_blue = self.add_media(
            "wcreal-tee-blue.jpg",
            image_bytes((40, 60, 210)),
            title="Wcreal Tee Blue",
            alt="wcreal-tee-blue on white",
            date="2026-11-23T09:32:10",
        )
        self._ids = itertools.count(17)
        self.add_product(
            "Red Mug",
            sku="WCR-MUG-RED",
            price="12.50",
            categories=[17],
            images=[mug],
            description="<p>A red mug on a white background.</p>\n",
            short_description="<p>Glazed <strong>stoneware</strong> mug &amp; saucer,\n350&nbsp;ml</p>\n",
            stock_quantity=25,
        )
        self.add_product(
            "Green Lamp", sku="WCR-LAMP-GREEN", price="49.00", categories=[17], images=[lamp], stock_status="outofstock"
        )
        self.add_product(
            "Blue Cap",
            sku="WCR-CAP-BLUE",
            price="19.99",
            categories=[16],
            images=[cap, cap2],
            date="2026-11-23T09:32:11",
        )
        self.add_product(
            "Draft Vase", sku="WCR-VASE", price="30.00", categories=[17], status="draft", date="2026-11-23T09:32:11"
        )
        tee_id = self.add_product(
            "Classic Tee",
            sku="WCR-TEE",
            price="20.00",
            categories=[16],
            images=[tee],
            type="variable",
            date="2026-11-23T09:32:11",
            description="<p>Variable product: global Color attribute x local Size attribute.</p>\n",
            attributes=[
                {
                    "id": 1,
                    "name": "Color",
                    "slug": "pa_color",
                    "position": 0,
                    "visible": True,
                    "variation": True,
                    "options": ["Blue", "Red"],
                },
                {
                    "id": 0,
                    "name": "Size",
                    "slug": "Size",
                    "position": 1,
                    "visible": True,
                    "variation": True,
                    "options": ["S", "M", "L"],
                },
            ],
        )
        for color, image in (("Red", tee_red), ("Blue", tee_blue)):
            for size in ("S", "M", "L"):
                self.add_variation(
                    tee_id,
                    {"Color": color, "Size": size},
                    sku=f"WCR-TEE-{color.upper()}-{size}",
                    image=image,
                    price="24.00" if color == "Blue" else "20.00",
                )
        for n in range(1, 13):
            self.add_product(
                f"Filler Item {n:02d}", sku=f"WCR-FILLER-{n:02d}", price="1.00", categories=[17], date=FILLER_DATE
            )

    def _new_id(self) -> int:
        with self.lock:
            new = next(self._ids)
            while new in self.products or new in self.variations or new in self.media:
                new = next(self._ids)
            return new

    def add_media(
        self,
        filename: str,
        data: bytes,
        *,
        title: str | None = None,
        alt: str = "",
        mime: str | None = None,
        date: str | None = None,
        caption: str = "",
    ) -> int:
        """Store a file as WordPress would (unique name, sniffed type); returns the attachment id."""
        with self.lock:
            name, mime = self._storable_name(filename, data, mime)
            name = self._unique_filename(name)
            stem = name.rsplit(".", 1)[0]
            mid = self._new_id()
            width = height = 0
            if mime.startswith("image/"):
                try:
                    from PIL import Image

                    with Image.open(io.BytesIO(data)) as im:
                        width, height = im.size
                except Exception:  # a broken image is still stored, as WordPress does
                    pass
            original: str | None = None
            original_data: bytes | None = None
            if mime in ("image/jpeg", "image/webp") and max(width, height) > BIG_IMAGE_THRESHOLD:
                # WordPress keeps the upload and attaches a copy scaled to 2560 px, `<name>-scaled.<ext>`; the
                # uploaded name survives only in media_details.original_image.
                original, original_data = name, data
                data, width, height = _scaled(data, mime)
                name = f"{stem}-scaled.{name.rpartition('.')[2]}"
            self.media[mid] = {
                "id": mid,
                "file": name,
                "original_file": original,
                "original_data": original_data,
                "mime": mime,
                "data": data,
                "title": title if title is not None else stem,
                "alt": alt,
                "caption": caption,
                "description": "",
                "slug": self._unique_slug(stem),
                "post": None,
                "date": date or self._now(),
                "modified": date or self._now(),
                "width": width,
                "height": height,
            }
            self.counts["media_created"] += 1
            return mid

    def add_product(
        self,
        name: str,
        *,
        sku: str = "",
        price: str = "",
        categories: list[int] | None = None,
        images: list[int] | None = None,
        type: str = "simple",
        status: str = "publish",
        stock_status: str = "instock",
        description: str = "",
        short_description: str = "",
        attributes: list[dict[str, Any]] | None = None,
        date: str = SEED_DATE,
        stock_quantity: int | None = None,
    ) -> int:
        with self.lock:
            pid = self._new_id()
            self.products[pid] = {
                "id": pid,
                "name": name,
                "slug": _slugify(name),
                "sku": sku,
                "type": type,
                "status": status,
                "price": price,
                "regular_price": "" if type == "variable" else price,
                "description": description,
                "short_description": short_description,
                "categories": list(categories or [15]),
                "image_ids": list(images or []),
                "attributes": attributes or [],
                "variations": [],
                "stock_status": stock_status,
                "stock_quantity": stock_quantity,
                "date": date,
                "modified": date,
            }
            for mid in images or []:
                if self.media[mid]["post"] is None:
                    self.media[mid]["post"] = pid
            return pid

    def add_variation(
        self,
        parent_id: int,
        attrs: dict[str, str],
        *,
        sku: str = "",
        price: str = "",
        image: int | None = None,
        stock_status: str = "instock",
    ) -> int:
        with self.lock:
            vid = self._new_id()
            parent = self.products[parent_id]
            self.variations[vid] = {
                "id": vid,
                "parent_id": parent_id,
                "sku": sku,
                "price": price,
                "attrs": dict(attrs),
                "image_id": image,
                "stock_status": stock_status,
                "status": "publish",
                "date": SEED_DATE,
                "modified": SEED_DATE,
            }
            parent["variations"].append(vid)
            return vid

    # Helpers tests use to look at the store ------------------------------------------------------------
    def image_ids(self, product_id: int | str) -> list[int]:
        with self.lock:
            return list(self.products[int(product_id)]["image_ids"])

    def variation_image(self, variation_id: int | str) -> int | None:
        with self.lock:
            return self.variations[int(variation_id)]["image_id"]  # type: ignore[no-any-return]

    def media_named(self, prefix: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.media.values() if m["file"].startswith(prefix)]

    # Internals -----------------------------------------------------------------------------------------
    def _now(self) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(self.clock()))

    def _storable_name(self, filename: str, data: bytes, mime: str | None) -> tuple[str, str]:
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", filename.strip().replace(" ", "-")).strip("-.") or "file"
        stem, dot, ext = name.rpartition(".")
        if not dot:
            raise WPError(500, "rest_upload_sideload_error", "Sorry, you are not allowed to upload this file type.")
        sniffed = _sniff(data)
        if sniffed:
            smime, sext = sniffed
            if ALLOWED_UPLOAD_EXT.get(ext.lower()) != smime:
                ext = sext  # the content wins over the name (PNG bytes named .jpg are stored as .png)
            return f"{stem}.{ext}", smime
        allowed = ALLOWED_UPLOAD_EXT.get(ext.lower())
        if allowed is None:
            raise WPError(500, "rest_upload_sideload_error", "Sorry, you are not allowed to upload this file type.")
        return name, allowed

    def _unique_filename(self, name: str) -> str:
        taken = {m["file"].lower() for m in self.media.values()}
        taken |= {m["original_file"].lower() for m in self.media.values() if m["original_file"]}
        if name.lower() not in taken:
            return name
        stem, _, ext = name.rpartition(".")
        for n in itertools.count(1):
            candidate = f"{stem}-{n}.{ext}"
            if candidate.lower() not in taken:
                return candidate
        raise AssertionError("unreachable")

    def _unique_slug(self, stem: str) -> str:
        base = _slugify(stem)
        taken = {m["slug"] for m in self.media.values()} | {p["slug"] for p in self.products.values()}
        if base not in taken:
            return base
        for n in itertools.count(2):
            if f"{base}-{n}" not in taken:
                return f"{base}-{n}"
        raise AssertionError("unreachable")

    def _is_image(self, mid: int) -> bool:
        m = self.media.get(mid)
        return m is not None and m["mime"].startswith("image/")

    # Rendering -----------------------------------------------------------------------------------------
    def _upload_url(self, base: str, m: dict[str, Any]) -> str:
        # A media item may live elsewhere (a CDN, or an address a hostile store hands out): its `src` then says where.
        return m.get("src") or f"{base}/wp-content/uploads/{UPLOAD_DIR}/{m['file']}"

    def _image_obj(self, base: str, mid: int) -> dict[str, Any]:
        m = self.media[mid]
        return {
            "id": mid,
            "date_created": m["date"],
            "date_created_gmt": m["date"],
            "date_modified": m["modified"],
            "date_modified_gmt": m["modified"],
            "src": self._upload_url(base, m),
            "name": m["title"],
            "alt": m["alt"],
        }

    def _cat_obj(self, cid: int) -> dict[str, Any]:
        c = self.categories.get(cid, self.categories.get(15))
        assert c is not None
        return {"id": c["id"], "name": c["name"], "slug": c["slug"]}

    def render_product(self, base: str, p: dict[str, Any]) -> dict[str, Any]:
        images = [self._image_obj(base, i) for i in p["image_ids"] if i in self.media]
        return {
            "id": p["id"],
            "name": p["name"],
            "slug": p["slug"],
            "permalink": f"{base}/product/{p['slug']}/",
            "date_created": p["date"],
            "date_created_gmt": p["date"],
            "date_modified": p["modified"],
            "date_modified_gmt": p["modified"],
            "type": p["type"],
            "status": p["status"],
            "featured": False,
            "catalog_visibility": "visible",
            "description": p["description"],
            "short_description": p["short_description"],
            "sku": p["sku"],
            "price": p["price"],
            "regular_price": p["regular_price"],
            "sale_price": "",
            "date_on_sale_from": None,
            "date_on_sale_from_gmt": None,
            "date_on_sale_to": None,
            "date_on_sale_to_gmt": None,
            "on_sale": False,
            "purchasable": True,
            "total_sales": 0,
            "virtual": False,
            "downloadable": False,
            "downloads": [],
            "download_limit": -1,
            "download_expiry": -1,
            "external_url": "",
            "button_text": "",
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": p["stock_quantity"] is not None,
            "stock_quantity": p["stock_quantity"],
            "backorders": "no",
            "backorders_allowed": False,
            "backordered": False,
            "low_stock_amount": None,
            "sold_individually": False,
            "weight": "",
            "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_required": True,
            "shipping_taxable": True,
            "shipping_class": "",
            "shipping_class_id": 0,
            "reviews_allowed": True,
            "average_rating": "0.00",
            "rating_count": 0,
            "upsell_ids": [],
            "cross_sell_ids": [],
            "parent_id": 0,
            "purchase_note": "",
            "categories": [self._cat_obj(c) for c in p["categories"]],
            "brands": [],
            "tags": [],
            "images": images,
            "attributes": p["attributes"],
            "default_attributes": [],
            "variations": list(p["variations"]),
            "grouped_products": [],
            "menu_order": 0,
            "price_html": f'<span class="woocommerce-Price-amount amount"><bdi>{p["price"]}</bdi></span>',
            "related_ids": [],
            "meta_data": [],
            "stock_status": p["stock_status"],
            "has_options": p["type"] == "variable",
            "post_password": "",
            "global_unique_id": "",
            "_links": {
                "self": [{"href": f"{base}/wp-json/wc/v3/products/{p['id']}"}],
                "collection": [{"href": f"{base}/wp-json/wc/v3/products"}],
            },
        }

    def _variation_as_product(self, v: dict[str, Any]) -> dict[str, Any]:
        """A variation as the products endpoint sees it (a `?sku=` hit, or `GET products/<variation id>`)."""
        parent = self.products[v["parent_id"]]
        options = ", ".join(v["attrs"][a["name"]] for a in parent["attributes"] if a["name"] in v["attrs"])
        return {
            **{k: parent[k] for k in ("categories", "description", "short_description", "slug")},
            "id": v["id"],
            "name": f"{parent['name']} - {options}" if options else parent["name"],
            "sku": v["sku"],
            "type": "variation",
            "status": v["status"],
            "price": v["price"],
            "regular_price": v["price"],
            "image_ids": [v["image_id"]] if v["image_id"] else [],
            "attributes": [],
            "variations": [],
            "stock_status": v["stock_status"],
            "stock_quantity": None,
            "date": v["date"],
            "modified": v["modified"],
            "parent_id": v["parent_id"],
            "variation_attrs": [
                {"id": a["id"], "name": a["name"], "option": v["attrs"][a["name"]]}
                for a in parent["attributes"]
                if a["name"] in v["attrs"]
            ],
        }

    def _render_any(self, base: str, p: dict[str, Any]) -> dict[str, Any]:
        body = self.render_product(base, p)
        if p["type"] == "variation":
            body["parent_id"] = p["parent_id"]
            body["attributes"] = p["variation_attrs"]
            body["permalink"] = f"{base}/?post_type=product_variation&p={p['id']}"
            body["_links"]["up"] = [{"href": f"{base}/wp-json/wc/v3/products/{p['parent_id']}"}]
        return body

    def render_variation(self, base: str, v: dict[str, Any], context: str) -> dict[str, Any]:
        parent = self.products[v["parent_id"]]
        image: dict[str, Any] | None = None
        if v["image_id"] and v["image_id"] in self.media:
            image = self._image_obj(base, v["image_id"])
        elif context != "edit" and parent["image_ids"]:
            image = self._image_obj(base, parent["image_ids"][0])  # view context falls back to the parent's
        attrs = []
        for a in parent["attributes"]:
            if a["name"] in v["attrs"]:
                attrs.append(
                    {"id": a["id"], "name": a["name"], "slug": a["slug"].lower(), "option": v["attrs"][a["name"]]}
                )
        query = "&".join(f"attribute_{a['slug'].lower()}={a['option'].lower()}" for a in attrs)
        return {
            "id": v["id"],
            "type": "variation",
            "date_created": v["date"],
            "date_created_gmt": v["date"],
            "date_modified": v["modified"],
            "date_modified_gmt": v["modified"],
            "description": "",
            "permalink": f"{base}/product/{parent['slug']}/?{query}",
            "sku": v["sku"],
            "global_unique_id": "",
            "price": v["price"],
            "regular_price": v["price"],
            "sale_price": "",
            "on_sale": False,
            "status": v["status"],
            "purchasable": True,
            "virtual": False,
            "downloadable": False,
            "downloads": [],
            "download_limit": -1,
            "download_expiry": -1,
            "tax_status": "taxable",
            "tax_class": "",
            "manage_stock": False,
            "stock_quantity": None,
            "stock_status": v["stock_status"],
            "backorders": "no",
            "backorders_allowed": False,
            "backordered": False,
            "low_stock_amount": None,
            "weight": "",
            "dimensions": {"length": "", "width": "", "height": ""},
            "shipping_class": "",
            "shipping_class_id": 0,
            "image": image,
            "attributes": attrs,
            "menu_order": 0,
            "meta_data": [],
            "name": ", ".join(a["option"] for a in attrs),
            "parent_id": v["parent_id"],
            "_links": {
                "self": [{"href": f"{base}/wp-json/wc/v3/products/{v['parent_id']}/variations/{v['id']}"}],
                "up": [{"href": f"{base}/wp-json/wc/v3/products/{v['parent_id']}"}],
            },
        }

    def render_media(self, base: str, m: dict[str, Any], context: str) -> dict[str, Any]:
        src = self._upload_url(base, m)
        stem, _, ext = m["file"].rpartition(".")
        sizes: dict[str, Any] = {}
        if m["mime"].startswith("image/") and m["width"]:
            for size_name, w, h in INTERMEDIATE_SIZES:
                if m["width"] > w:
                    hh = h or round(m["height"] * w / m["width"])
                    sizes[size_name] = {
                        "file": f"{stem}-{w}x{hh}.{ext}",
                        "width": w,
                        "height": hh,
                        "mime_type": m["mime"],
                        "source_url": f"{src.rsplit('.', 1)[0]}-{w}x{hh}.{ext}",
                    }
            sizes["full"] = {
                "file": m["file"],
                "width": m["width"],
                "height": m["height"],
                "mime_type": m["mime"],
                "source_url": src,
            }
        edit = context == "edit"
        title = {"raw": m["title"], "rendered": m["title"]} if edit else {"rendered": m["title"]}
        body = {
            "id": m["id"],
            "date": m["date"],
            "date_gmt": m["date"],
            "guid": {"rendered": src, "raw": src} if edit else {"rendered": src},
            "modified": m["modified"],
            "modified_gmt": m["modified"],
            "slug": m["slug"],
            "status": "inherit",
            "type": "attachment",
            "link": f"{base}/{m['slug']}/",
            "title": title,
            "author": 1,
            "featured_media": 0,
            "comment_status": "open",
            "ping_status": "closed",
            "template": "",
            "meta": [],
            "description": {"rendered": f'<p class="attachment">{m["description"]}</p>\n'},
            "caption": {"rendered": f"<p>{m['caption']}</p>\n" if m["caption"] else ""},
            "alt_text": m["alt"],
            "media_type": "image" if m["mime"].startswith("image/") else "file",
            "mime_type": m["mime"],
            "media_details": {
                "width": m["width"],
                "height": m["height"],
                "file": f"{UPLOAD_DIR}/{m['file']}",
                "filesize": len(m["data"]),
                "sizes": sizes,
                **({"original_image": m["original_file"]} if m["original_file"] else {}),
            }
            if m["width"]
            else {"filesize": len(m["data"])},
            "post": m["post"],
            "source_url": src,
            "_links": {
                "self": [{"href": f"{base}/wp-json/wp/v2/media/{m['id']}"}],
                "collection": [{"href": f"{base}/wp-json/wp/v2/media"}],
            },
        }
        if edit:
            body["description"]["raw"] = m["description"]
            body["caption"]["raw"] = m["caption"]
            body["permalink_template"] = f"{base}/?attachment_id={m['id']}"
            body["generated_slug"] = m["slug"]
            body["missing_image_sizes"] = []
        return body

    # Authentication ------------------------------------------------------------------------------------
    def authenticate(self, req: Req, namespace: str) -> Principal:
        """Who is calling, as WordPress + WooCommerce decide it; raises the 401s a real store answers."""
        basic = _basic_credentials(req.headers.get("Authorization", ""))
        if namespace == "wc":
            if basic is not None:
                user, password = basic
                account = self.users.get(user)
                if account is not None and self.local_site and _same_app_password(password, account["password"]):
                    return Principal("app_password", user=user, can_write=bool(account["caps"].get("edit_products")))
                # ck:cs over http, wrong application passwords: the request stays anonymous
            if any(k.startswith("oauth_") for k in req.params):
                return self._oauth(req)
            return Principal()
        # wp/v2: only WordPress users (Application Passwords)
        if basic is not None:
            user, password = basic
            account = self.users.get(user)
            if account is None:
                raise WPError(
                    401,
                    "invalid_username",
                    "<strong>Error:</strong> Unknown username. Check again or try your email address.",
                )
            if not self.local_site:
                return Principal()  # Application Passwords are unavailable over http on a non-local site
            if not _same_app_password(password, account["password"]):
                raise WPError(401, "incorrect_password", "The provided password is an invalid application password.")
            return Principal("app_password", user=user)
        return Principal()

    def _oauth(self, req: Req) -> Principal:
        p = req.params
        for name in (
            "oauth_consumer_key",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
        ):
            if not p.get(name):
                raise WPError(401, "woocommerce_rest_authentication_error", f"{name} parameter is missing.")
        key = self.keys.get(p["oauth_consumer_key"])
        if key is None:
            raise WPError(401, "woocommerce_rest_authentication_error", "Consumer key is invalid.")
        expected = oauth_signature(
            req.method, f"http://{req.host}{req.path}", p, key["secret"], p["oauth_signature_method"]
        )
        if expected is None:
            raise WPError(
                401, "woocommerce_rest_authentication_error", "Invalid signature - signature method is invalid."
            )
        if not hmac.compare_digest(expected, p["oauth_signature"]):
            raise WPError(
                401, "woocommerce_rest_authentication_error", "Invalid signature - provided signature does not match."
            )
        try:
            stamp = int(p["oauth_timestamp"])
        except ValueError as exc:
            raise WPError(401, "woocommerce_rest_authentication_error", "Invalid timestamp.") from exc
        now = self.clock()
        if abs(now - stamp) > NONCE_WINDOW:
            raise WPError(401, "woocommerce_rest_authentication_error", "Invalid timestamp.")
        with self.lock:
            for k in [k for k, at in self.nonces.items() if at < now - NONCE_WINDOW]:
                del self.nonces[k]
            nonce_key = (p["oauth_consumer_key"], p["oauth_nonce"])
            if nonce_key in self.nonces:
                raise WPError(
                    401, "woocommerce_rest_authentication_error", "Invalid nonce - nonce has already been used."
                )
            self.nonces[nonce_key] = stamp
        can_write = key["permissions"] in ("write", "read_write")
        if req.method in ("POST", "PUT", "PATCH", "DELETE") and not can_write:
            raise WPError(
                401, "woocommerce_rest_authentication_error", "The API key provided does not have write permissions."
            )
        return Principal("oauth", key=p["oauth_consumer_key"], can_write=can_write)

    # Routing -------------------------------------------------------------------------------------------
    def handle(self, req: Req) -> Reply:
        base = f"http://{req.host}"
        path = req.path
        if path.startswith("/wp-content/uploads/"):
            return self._serve_upload(path)
        if not path.startswith("/wp-json"):
            return Reply(
                404,
                b"<!doctype html><title>Page not found</title><h1>Oops! That page can&rsquo;t be found.</h1>",
                content_type="text/html; charset=UTF-8",
            )
        route = path[len("/wp-json") :].rstrip("/") or "/"
        if route == "/":
            return Reply(200, self._index(base))
        if route.startswith("/wc/") and not self.woocommerce:
            raise WPError(404, "rest_no_route", "No route was found matching the URL and request method.")
        if route.startswith("/wc/v3/"):
            req.principal = self.authenticate(req, "wc")
            return self._wc(req, route[len("/wc/v3") :], base)
        if route.startswith("/wp/v2/"):
            req.principal = self.authenticate(req, "wp")
            return self._wp(req, route[len("/wp/v2") :], base)
        raise WPError(404, "rest_no_route", "No route was found matching the URL and request method.")

    def _index(self, base: str) -> dict[str, Any]:
        namespaces = ["oembed/1.0", "wp/v2", "wp-site-health/v1", "wp-block-editor/v1"]
        if self.woocommerce:
            namespaces[1:1] = ["wc/store/v1", "wc-admin", "wc-analytics", "wc/v1", "wc/v2", "wc/v3"]
        return {
            "name": "ImageGecko Test Shop",
            "description": "Just another WordPress site",
            "url": base,
            "home": base,
            "gmt_offset": "0",
            "timezone_string": "",
            "namespaces": namespaces,
            "authentication": {
                "application-passwords": {"endpoints": {"authorization": f"{base}/wp-admin/authorize-application.php"}}
            },
            "routes": {},
            "_links": {"help": [{"href": "https://developer.wordpress.org/rest-api/"}]},
        }

    def _serve_upload(self, path: str) -> Reply:
        name = path.rsplit("/", 1)[-1]
        with self.lock:
            for m in self.media.values():
                if m["file"] == name:
                    return Reply(200, m["data"], content_type=m["mime"], chunked=self.chunked_files)
                if m["original_file"] == name:  # the upload itself stays on disk beside its -scaled copy
                    return Reply(200, m["original_data"], content_type=m["mime"], chunked=self.chunked_files)
        return Reply(404, b"<!doctype html><title>Not Found</title>", content_type="text/html; charset=UTF-8")

    # wc/v3 ---------------------------------------------------------------------------------------------
    def _wc(self, req: Req, route: str, base: str) -> Reply:
        m = req.method
        if route == "/products":
            if m == "GET":
                self._need_auth(req, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
                return self._list_products(req, base)
            if m == "POST":
                self._need_auth(
                    req, "woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."
                )
                body = _json_body(req)
                with self.lock:
                    product = self._create_product(body)
                return Reply(
                    201,
                    self.render_product(base, product),
                    {"Location": f"{base}/wp-json/wc/v3/products/{product['id']}"},
                )
            raise _no_route()
        if route == "/products/batch" and m in ("POST", "PUT", "PATCH"):
            self._need_auth(
                req, "woocommerce_rest_cannot_batch", "Sorry, you are not allowed to batch manipulate this resource."
            )
            return self._batch(_json_body(req), base)
        if route == "/products/categories" and m == "GET":
            self._need_auth(req, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
            with self.lock:
                by_id = req.params.get("orderby") == "id"  # the default order is by name
                cats = sorted(
                    self.categories.values(),
                    key=lambda c: c["id"] if by_id else c["name"].lower(),
                    reverse=req.params.get("order", "asc").lower() == "desc",
                )
                counts = Counter(c for p in self.products.values() if p["status"] != "trash" for c in p["categories"])
                items = [
                    {
                        **c,
                        "description": "",
                        "display": "default",
                        "image": None,
                        "menu_order": 0,
                        "count": counts[c["id"]],
                    }
                    for c in cats
                ]
            return self._page(req, base, items)
        if route == "/products/attributes" and m == "GET":
            self._need_auth(req, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
            return Reply(
                200,
                [
                    {
                        "id": 1,
                        "name": "Color",
                        "slug": "pa_color",
                        "type": "select",
                        "order_by": "menu_order",
                        "has_archives": False,
                    }
                ],
                {"X-WP-Total": "1", "X-WP-TotalPages": "1"},
            )
        match = re.fullmatch(r"/products/(\d+)", route)
        if match:
            return self._product(req, int(match[1]), base)
        match = re.fullmatch(r"/products/(\d+)/variations", route)
        if match and m == "GET":
            return self._list_variations(req, int(match[1]), base)
        match = re.fullmatch(r"/products/(\d+)/variations/(\d+)", route)
        if match:
            return self._variation(req, int(match[1]), int(match[2]), base)
        raise _no_route()

    def _need_auth(self, req: Req, code: str, message: str) -> None:
        if req.principal.kind is None:
            raise WPError(401, code, message)

    def _list_products(self, req: Req, base: str) -> Reply:
        q = req.params
        page, per_page = _paging(q)
        with self.lock:
            items = [p for p in self.products.values() if p["status"] != "trash"]
            status = q.get("status", "any")
            if status != "any":
                items = [p for p in items if p["status"] == status]
            if q.get("search"):
                needle = q["search"].lower()
                items = [
                    p
                    for p in items
                    if needle in p["name"].lower()
                    or needle in p["description"].lower()
                    or needle in p["short_description"].lower()
                ]
            if q.get("category"):
                wanted = {int(c) for c in q["category"].split(",") if c.strip().isdigit()}
                items = [p for p in items if wanted & set(p["categories"])]
            if q.get("stock_status"):
                items = [p for p in items if p["stock_status"] == q["stock_status"]]
            if q.get("type"):
                items = [p for p in items if p["type"] == q["type"]]
            if q.get("sku"):
                # WooCommerce asks for product and product_variation posts with a meta_query IN on _sku, and the
                # database's collation ignores case: a variation's SKU finds the variation (type "variation").
                skus = {s.strip().lower() for s in q["sku"].split(",") if s.strip()}
                items = [p for p in items if p["sku"].lower() in skus]
                items += [self._variation_as_product(v) for v in self.variations.values() if v["sku"].lower() in skus]
            include = [int(i) for i in q.get("include", "").split(",") if i.strip().isdigit()]
            if include:
                items = [p for p in items if p["id"] in include]
            exclude = {int(i) for i in q.get("exclude", "").split(",") if i.strip().isdigit()}
            items = [p for p in items if p["id"] not in exclude]
            orderby = q.get("orderby", "date")
            desc = q.get("order", "desc").lower() != "asc"
            if orderby == "id":
                items.sort(key=lambda p: p["id"], reverse=desc)
            elif orderby in ("title", "slug"):
                items.sort(key=lambda p: (p["name"].lower(), p["id"]), reverse=desc)
            elif orderby == "include" and include:
                items.sort(key=lambda p: include.index(p["id"]))
            elif orderby in ("date", "modified"):
                # No tie-breaker, as MySQL: rows created in the same second come back in an order that changes
                # from one page to the next (the reference store returned 17 rows with 15 distinct products).
                items.sort(key=lambda p: (p["date"], _tie(p["id"], page)), reverse=desc)
            else:
                raise invalid_param(
                    "orderby",
                    "orderby is not one of date, id, include, title, slug, price, popularity, rating, and menu_order.",
                    detail_code="rest_not_in_enum",
                )
            rendered = [self._render_any(base, p) for p in items]
        return self._page(req, base, rendered, page=page, per_page=per_page)

    def _page(
        self, req: Req, base: str, items: list[Any], page: int | None = None, per_page: int | None = None
    ) -> Reply:
        if page is None or per_page is None:
            page, per_page = _paging(req.params)
        total = len(items)
        pages = math.ceil(total / per_page) if total else 0
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        links = []
        if page > 1 and pages:
            links.append(f'<{_page_link(base, req, min(page - 1, pages))}>; rel="prev"')
        if pages > page:
            links.append(f'<{_page_link(base, req, page + 1)}>; rel="next"')
        if links:
            headers["Link"] = ", ".join(links)
        return Reply(200, chunk, headers)

    def _product(self, req: Req, pid: int, base: str) -> Reply:
        m = req.method
        with self.lock:
            product = self.products.get(pid)
            variation = self.variations.get(pid) if product is None else None
            if m == "GET":
                if variation is not None:  # wc_get_product() loads variations too: the product schema, type variation
                    self._need_auth(req, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
                    return Reply(200, self._render_any(base, self._variation_as_product(variation)))
                if product is None:
                    raise WPError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
                self._need_auth(req, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
                return Reply(200, self.render_product(base, product))
            if m in ("PUT", "PATCH", "POST"):
                if variation is not None:
                    self._need_auth(
                        req, "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."
                    )
                    raise WPError(404, "woocommerce_rest_invalid_product_id", VARIATION_VIA_PRODUCTS)
                if product is None:
                    raise WPError(400, "woocommerce_rest_product_invalid_id", "Invalid ID.")
                self._need_auth(
                    req, "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."
                )
                self._update_product(product, _json_body(req), base)
                return Reply(200, self.render_product(base, product))
            if m == "DELETE":
                if product is None:
                    raise WPError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
                self._need_auth(
                    req, "woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."
                )
                body = self.render_product(base, product)
                if req.params.get("force") in ("true", "1"):
                    del self.products[pid]
                    for mid in product["image_ids"]:  # attachments survive, detached
                        if mid in self.media and self.media[mid]["post"] == pid:
                            self.media[mid]["post"] = None
                else:
                    product["status"] = "trash"
                return Reply(200, body)
        raise _no_route()

    def _create_product(self, body: dict[str, Any]) -> dict[str, Any]:
        _check_types(body)
        if body.get("type", "simple") not in ("simple", "grouped", "external", "variable"):
            raise invalid_param(
                "type", "type is not one of simple, grouped, external, and variable.", detail_code="rest_not_in_enum"
            )
        sku = body.get("sku", "")
        if sku and any(p["sku"] == sku for p in self.products.values()):
            existing = next(p for p in self.products.values() if p["sku"] == sku)
            raise WPError(
                400,
                "product_invalid_sku",
                "Invalid or duplicated SKU.",
                resource_id=existing["id"],
                unique_sku=f"{sku}-1",
            )
        images = self._image_list(body.get("images", []), "woocommerce_product_invalid_image_id", "")
        pid = self.add_product(
            body.get("name") or "Product",
            sku=sku,
            price=body.get("regular_price", ""),
            type=body.get("type", "simple"),
            status=body.get("status", "publish"),
            description=body.get("description", ""),
            short_description=body.get("short_description", ""),
            categories=[int(c["id"]) for c in body.get("categories", []) if "id" in c] or None,
            date=self._now(),
        )
        self.products[pid]["image_ids"] = images  # attachments stay unattached on create, as observed
        return self.products[pid]

    def _update_product(self, product: dict[str, Any], body: dict[str, Any], base: str) -> None:
        """All-or-nothing, as WooCommerce: validate everything, then apply."""
        _check_types(body)
        new_images: list[int] | None = None
        if "images" in body:
            new_images = self._image_list(body["images"], "woocommerce_product_invalid_image_id", base)
        if (
            "sku" in body
            and body["sku"]
            and any(p["sku"] == body["sku"] and p is not product for p in self.products.values())
        ):
            raise WPError(400, "product_invalid_sku", "Invalid or duplicated SKU.")
        for name in ("name", "sku", "status", "description", "short_description", "stock_status"):
            if name in body and body[name] is not None:
                product[name] = body[name]
        if "regular_price" in body:
            product["regular_price"] = product["price"] = body["regular_price"]
        if "categories" in body:
            product["categories"] = [int(c["id"]) for c in body["categories"] if "id" in c]
        if new_images is not None:
            product["image_ids"] = new_images
            for mid in new_images:
                if self.media[mid]["post"] is None:
                    self.media[mid]["post"] = product["id"]
            self._apply_image_meta(body["images"] or [], new_images)
            self.counts["product_updates"] += 1
        product["modified"] = self._now()

    def _image_list(self, images: Any, code: str, base: str) -> list[int]:
        if images is None:
            return []
        if not isinstance(images, list):
            raise invalid_param("images", "images is not of type array.")
        ids: list[int] = []
        for entry in images:
            if not isinstance(entry, dict):
                raise invalid_param("images[0]", "images[0] is not of type object.")
            raw_id = entry.get("id", 0)
            try:
                mid = int(raw_id or 0)
            except (TypeError, ValueError):
                mid = 0
            if mid == 0 and entry.get("src"):
                mid = self._sideload(str(entry["src"]), base)
            elif mid == 0 and not entry:
                continue  # an empty object is skipped
            if not self._is_image(mid):
                raise WPError(400, code, f"#{mid} is an invalid image ID.")
            ids.append(mid)
        return ids

    def _apply_image_meta(self, entries: list[Any], ids: list[int]) -> None:
        for entry, mid in zip([e for e in entries if e], ids, strict=False):
            if isinstance(entry, dict):
                if entry.get("alt") is not None:
                    self.media[mid]["alt"] = str(entry["alt"])
                if entry.get("name"):
                    self.media[mid]["title"] = str(entry["name"])

    def _sideload(self, src: str, base: str) -> int:
        """`{"src": url}` always makes a new attachment. Only this server's own uploads can be fetched."""
        name = src.rsplit("/", 1)[-1]
        parts = urlsplit(src)
        local = f"{parts.scheme}://{parts.netloc}" == base and parts.path.startswith("/wp-content/uploads/")
        found = next((m for m in self.media.values() if m["file"] == name), None) if local else None
        if found is None:
            raise WPError(
                400, "woocommerce_product_image_upload_error", f"Error getting remote image {src}. Error: Not Found"
            )
        self.counts["uploads"] += 1
        return self.add_media(name, found["data"], title=name.rsplit(".", 1)[0], date=self._now())

    def _batch(self, body: dict[str, Any], base: str) -> Reply:
        total = sum(len(body.get(k) or []) for k in ("create", "update", "delete"))
        if total > 100:
            raise WPError(
                413,
                "woocommerce_rest_request_entity_too_large",
                "Unable to accept more than 100 items for this request.",
            )
        out: dict[str, list[Any]] = {}
        with self.lock:
            if "create" in body:
                out["create"] = []
                for item in body["create"]:
                    try:
                        item = {
                            **item,
                            **({"regular_price": str(item["regular_price"])} if "regular_price" in item else {}),
                        }  # numbers accepted in batch
                        out["create"].append(self.render_product(base, self._create_product(item)))
                    except WPError as err:
                        out["create"].append({"id": 0, "error": err.body()})
            if "update" in body:
                out["update"] = []
                for item in body["update"]:
                    pid = int(item.get("id", 0) or 0)
                    product = self.products.get(pid)
                    if product is None:
                        out["update"].append(
                            {
                                "id": pid,
                                "error": WPError(400, "woocommerce_rest_product_invalid_id", "Invalid ID.").body(),
                            }
                        )
                        continue
                    try:
                        self._update_product(product, {k: v for k, v in item.items() if k != "id"}, base)
                        out["update"].append(self.render_product(base, product))
                    except WPError as err:
                        out["update"].append({"id": pid, "error": err.body()})
            if "delete" in body:
                out["delete"] = []
                for pid in body["delete"]:
                    product = self.products.pop(int(pid), None)
                    if product is None:
                        out["delete"].append(
                            {
                                "id": pid,
                                "error": WPError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.").body(),
                            }
                        )
                    else:
                        out["delete"].append(self.render_product(base, product))
        return Reply(200, out)

    def _list_variations(self, req: Req, pid: int, base: str) -> Reply:
        with self.lock:
            product = self.products.get(pid)
            if product is None:
                raise WPError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
            self._need_auth(req, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
            page, per_page = _paging(req.params)
            items = [self.variations[v] for v in product["variations"]]
            desc = req.params.get("order", "desc").lower() != "asc"
            if req.params.get("orderby", "date") == "id":
                items.sort(key=lambda v: v["id"], reverse=desc)
            else:
                items.sort(key=lambda v: (v["date"], v["id"]), reverse=desc)  # newest first
            rendered = [self.render_variation(base, v, req.context) for v in items]
        return self._page(req, base, rendered, page=page, per_page=per_page)

    def _variation(self, req: Req, pid: int, vid: int, base: str) -> Reply:
        with self.lock:
            v = self.variations.get(vid)
            if v is None or v["parent_id"] != pid:
                raise WPError(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
            if req.method == "GET":
                self._need_auth(req, "woocommerce_rest_cannot_view", "Sorry, you cannot view this resource.")
                return Reply(200, self.render_variation(base, v, req.context))
            if req.method in ("PUT", "PATCH", "POST"):
                self._need_auth(
                    req, "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."
                )
                body = _json_body(req)
                if "image" in body:
                    image = body["image"]
                    mid = 0
                    if isinstance(image, dict) and image.get("src") and not image.get("id"):
                        mid = self._sideload(str(image["src"]), base)
                    elif isinstance(image, dict):
                        try:
                            mid = int(image.get("id") or 0)
                        except (TypeError, ValueError):
                            mid = 0
                    if mid and not self._is_image(mid):
                        raise WPError(400, "woocommerce_variation_invalid_image_id", f"#{mid} is an invalid image ID.")
                    v["image_id"] = mid or None  # null, {} and {"id": 0} remove it
                    if mid and self.media[mid]["post"] is None:
                        self.media[mid]["post"] = vid
                    self.counts["variation_updates"] += 1
                if "sku" in body:
                    v["sku"] = body["sku"]
                v["modified"] = self._now()
                return Reply(200, self.render_variation(base, v, "view"))
        raise _no_route()

    # wp/v2 ---------------------------------------------------------------------------------------------
    def _wp(self, req: Req, route: str, base: str) -> Reply:
        m = req.method
        if route == "/users/me" and m == "GET":
            if req.principal.kind is None:
                raise WPError(401, "rest_not_logged_in", "You are not currently logged in.")
            account = self.users[req.principal.user or ""]
            body: dict[str, Any] = {
                "id": account["id"],
                "name": req.principal.user,
                "slug": req.principal.user,
                "url": "",
                "description": "",
                "link": f"{base}/author/{req.principal.user}/",
            }
            if req.context == "edit":
                body.update(
                    {"username": req.principal.user, "roles": account["roles"], "capabilities": dict(account["caps"])}
                )
            return Reply(200, body)
        if route == "/media":
            if m == "GET":
                return self._list_media(req, base)
            if m == "POST":
                return self._upload(req, base)
            raise _no_route()
        match = re.fullmatch(r"/media/(\d+)", route)
        if match:
            return self._media_item(req, int(match[1]), base)
        raise _no_route()

    def _need_user(self, req: Req, code: str, message: str) -> dict[str, Any]:
        if req.principal.kind is None:
            raise WPError(401, code, message)
        return self.users[req.principal.user or ""]

    def _upload(self, req: Req, base: str) -> Reply:
        account = self._need_user(req, "rest_cannot_create", "Sorry, you are not allowed to create posts as this user.")
        if not account["caps"].get("upload_files"):
            raise WPError(400, "rest_cannot_create", "Sorry, you are not allowed to upload media on this site.")
        ctype = req.headers.get("Content-Type", "")
        fields: dict[str, str] = {}
        if ctype.startswith("multipart/form-data"):
            data, filename, fields = _multipart(ctype, req.body)
            if data is None:
                raise WPError(400, "rest_upload_no_data", "No data supplied.")
        else:
            data = req.body
            if not data:
                raise WPError(400, "rest_upload_no_data", "No data supplied.")
            disposition = req.headers.get("Content-Disposition", "")
            match = re.search(r"filename\*?=(?:UTF-8'')?\"?([^\";]+)\"?", disposition)
            if not match:
                raise WPError(400, "rest_upload_no_content_disposition", "No Content-Disposition supplied.")
            filename = unquote(match[1])
        params = {**req.params, **fields}
        with self.lock:
            mid = self.add_media(
                filename or "file",
                data,
                title=params.get("title"),
                alt=params.get("alt_text", ""),
                caption=params.get("caption", ""),
                date=self._now(),
            )
            self.counts["uploads"] += 1
            body = self.render_media(base, self.media[mid], "edit")
        return Reply(201, body, {"Location": f"{base}/wp-json/wp/v2/media/{mid}"})

    def _list_media(self, req: Req, base: str) -> Reply:
        q = req.params
        if req.context == "edit" and req.principal.kind is None:
            raise WPError(401, "rest_forbidden_context", "Sorry, you are not allowed to edit posts in this post type.")
        page, per_page = _paging(q)
        with self.lock:
            items = list(self.media.values())
            if q.get("search"):
                # Every term must appear in the title, caption, description or (WordPress 6.8, as observed) the
                # attached file's path, which for a big image is the -scaled copy's.
                terms = q["search"].lower().split()
                items = [
                    m
                    for m in items
                    if all(
                        t in f"{m['title']} {m['caption']} {m['description']} {UPLOAD_DIR}/{m['file']}".lower()
                        for t in terms
                    )
                ]
            if q.get("slug"):
                slugs = set(q["slug"].split(","))
                items = [m for m in items if m["slug"] in slugs]
            if q.get("media_type"):
                items = [m for m in items if (m["mime"].startswith("image/")) == (q["media_type"] == "image")]
            if q.get("parent"):
                items = [m for m in items if str(m["post"] or 0) == q["parent"]]
            desc = q.get("order", "desc").lower() != "asc"
            if q.get("orderby") == "id":
                items.sort(key=lambda m: m["id"], reverse=desc)
            else:
                items.sort(key=lambda m: (m["date"], m["id"]), reverse=desc)
            total = len(items)
            pages = math.ceil(total / per_page) if total else 0
            if page > pages and total > 0:
                raise WPError(
                    400,
                    "rest_post_invalid_page_number",
                    "The page number requested is larger than the number of pages available.",
                )
            rendered = [self.render_media(base, m, req.context) for m in items]
        return self._page(req, base, rendered, page=page, per_page=per_page)

    def _media_item(self, req: Req, mid: int, base: str) -> Reply:
        with self.lock:
            media = self.media.get(mid)
            if media is None:
                raise WPError(404, "rest_post_invalid_id", "Invalid post ID.")
            if req.method == "GET":
                return Reply(200, self.render_media(base, media, req.context if req.principal.kind else "view"))
            if req.method in ("POST", "PUT", "PATCH"):
                self._need_user(req, "rest_cannot_edit", "Sorry, you are not allowed to edit this post.")
                body = _json_body(req) if req.body else {}
                body = {**req.params, **body}
                if "alt_text" in body:
                    media["alt"] = str(body["alt_text"])
                if "title" in body:
                    title = body["title"]
                    media["title"] = str(title.get("raw", "") if isinstance(title, dict) else title)
                if "caption" in body:
                    media["caption"] = str(body["caption"])
                if "description" in body:
                    media["description"] = str(body["description"])
                media["modified"] = self._now()
                self.counts["media_updates"] += 1
                return Reply(200, self.render_media(base, media, "edit"))
            if req.method == "DELETE":
                self._need_user(req, "rest_cannot_delete", "Sorry, you are not allowed to delete this post.")
                if req.params.get("force") not in ("true", "1"):
                    raise WPError(
                        501,
                        "rest_trash_not_supported",
                        "The post does not support trashing. Set 'force=true' to delete.",
                    )
                previous = self.render_media(base, media, "edit")
                del self.media[mid]
                return Reply(200, {"deleted": True, "previous": previous})
        raise _no_route()


# OAuth 1.0a, as WooCommerce checks it (and as woocommerce/oauth.py signs it) ---------------------------------


def _normalize(value: str) -> str:
    return quote(unquote(str(value))).replace("%", "%25")


def oauth_signature(method: str, url: str, params: dict[str, str], secret: str, sig_method: str) -> str | None:
    """base64(HMAC(secret + "&", METHOD & rawurlencode(url) & sorted k%3Dv joined by %26)), oauth_signature left out."""
    algo = {"HMAC-SHA256": hashlib.sha256, "HMAC-SHA1": hashlib.sha1}.get(sig_method)
    if algo is None:
        return None
    pairs = sorted((k, v) for k, v in params.items() if k != "oauth_signature")
    query = "%26".join(f"{_normalize(k)}%3D{_normalize(v)}" for k, v in pairs)
    base = f"{method.upper()}&{quote(url, '')}&{query}"
    digest = hmac.new(f"{secret}&".encode(), base.encode(), algo).digest()
    return base64.b64encode(digest).decode()


# Small helpers -----------------------------------------------------------------------------------------------


def _slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "item"


def _scaled(data: bytes, mime: str) -> tuple[bytes, int, int]:
    """The copy WordPress attaches instead of a big upload: longest side 2560 px, same format."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        im.thumbnail((BIG_IMAGE_THRESHOLD, BIG_IMAGE_THRESHOLD))
        buf = io.BytesIO()
        im.save(buf, "WEBP" if mime == "image/webp" else "JPEG", quality=82)
        return buf.getvalue(), im.width, im.height


def _tie(pid: int, page: int) -> int:
    return int(hashlib.md5(f"{pid}:{page}".encode()).hexdigest()[:8], 16)


def _sniff(data: bytes) -> tuple[str, str] | None:
    for magic, mime, ext in SNIFF:
        if data.startswith(magic):
            return mime, ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def _basic_credentials(header: str) -> tuple[str, str] | None:
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _same_app_password(given: str, stored: str) -> bool:
    # WordPress strips spaces (and anything not a letter or digit) before comparing Application Passwords.
    def norm(s: str) -> str:
        return re.sub(r"[^A-Za-z0-9]", "", s)

    return hmac.compare_digest(norm(given), norm(stored))


def _paging(q: dict[str, str]) -> tuple[int, int]:
    try:
        page = int(q.get("page", "1"))
    except ValueError as exc:
        raise invalid_param("page", "page is not of type integer.") from exc
    try:
        per_page = int(q.get("per_page", "10"))
    except ValueError as exc:
        raise invalid_param("per_page", "per_page is not of type integer.") from exc
    if page < 1:
        raise out_of_bounds("page", "page must be greater than or equal to 1")
    if not 1 <= per_page <= 100:
        raise out_of_bounds("per_page", "per_page must be between 1 (inclusive) and 100 (inclusive)")
    return page, per_page


def _page_link(base: str, req: Req, page: int) -> str:
    """WordPress's add_query_arg over the request's own query (keys in first-seen order, last value wins)."""
    params: OrderedDict[str, str] = OrderedDict()
    for k, v in req.query:
        params[k] = v
    params["page"] = str(page)
    return f"{base}{req.path}?{urlencode(params)}"


def _json_body(req: Req) -> dict[str, Any]:
    if not req.body:
        return {}
    try:
        body = json.loads(req.body)
    except ValueError as exc:
        raise WPError(400, "rest_invalid_json", "Invalid JSON body passed.") from exc
    if not isinstance(body, dict):
        raise WPError(400, "rest_invalid_json", "Invalid JSON body passed.")
    return body


def _check_types(body: dict[str, Any]) -> None:
    for name in ("regular_price", "sale_price", "sku", "name"):
        if name in body and body[name] is not None and not isinstance(body[name], str):
            raise invalid_param(name, f"{name} is not of type string.", detail_data={"param": name})


def _no_route() -> WPError:
    return WPError(404, "rest_no_route", "No route was found matching the URL and request method.")


def _multipart(ctype: str, body: bytes) -> tuple[bytes | None, str, dict[str, str]]:
    msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
    data: bytes | None = None
    filename = ""
    fields: dict[str, str] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "file":
            data = payload or None
            filename = part.get_filename() or "file"
        elif name:
            fields[str(name)] = payload.decode("utf-8", "replace")
    return data, filename, fields


class _Server(ThreadingHTTPServer):
    RequestHandlerClass: type[_Handler]  # bound to its emulator by LoopbackEmulator._serve

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # the client hung up (a timeout on its side): nothing to report
            return
        self.RequestHandlerClass.emulator.errors.append(repr(exc))


class _Handler(BaseHTTPRequestHandler):
    emulator: WooEmulator
    protocol_version = "HTTP/1.1"
    server_version = "Apache"
    sys_version = ""

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle + delayed ACK add ~40 ms per keep-alive call.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        emu = self.emulator
        parts = urlsplit(self.path)
        query = parse_qsl(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        req = Req(
            self.command,
            parts.path,
            query,
            dict(query),
            self.headers,
            body,
            self.headers.get("Host", f"127.0.0.1:{self.server.server_address[1]}"),
        )
        record: dict[str, Any] = {
            "method": req.method,
            "path": req.path,
            "query": query,
            "nonce": req.params.get("oauth_nonce"),
        }
        with emu.lock:
            emu.requests.append(record)
            emu.counts["requests"] += 1
        fault = emu._take_fault(req.method, req.path)
        if fault and fault.mode == "drop":
            record["status"] = "dropped"
            return self._drop()
        if fault and fault.mode == "status":
            record["status"] = fault.status
            return self._send(_fault_reply(fault))
        try:
            reply = emu.handle(req)
        except WPError as err:
            reply = Reply(err.status, err.body())
        except Exception as exc:  # a bug in the emulator: answer as PHP would, and keep it for the tests to see
            emu.errors.append(f"{req.method} {req.path}: {exc!r}")
            reply = Reply(
                500,
                {
                    "code": "internal_server_error",
                    "message": "There has been a critical error on this website.",
                    "data": {"status": 500},
                },
            )
        record["status"] = reply.status
        record["auth"] = req.principal.kind
        if fault and fault.mode == "drop_after":
            record["status"] = "dropped after applying"
            return self._drop()
        if fault and fault.mode == "status_after":
            record["status"] = fault.status
            return self._send(_fault_reply(fault))
        if fault and fault.mode == "slow":
            if emu._stop.wait(fault.delay):
                return self._drop()
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        if isinstance(reply.body, bytes | bytearray):
            data = bytes(reply.body)
        else:
            data = json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", reply.content_type)
            if reply.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", str(len(data)))
            headers = dict(reply.headers)
            if reply.content_type.startswith("application/json") and "Link" not in headers:
                headers["Link"] = f'<http://{self.headers.get("Host", "")}/wp-json/>; rel="https://api.w.org/"'
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if reply.chunked:
                for i in range(0, len(data), 16384):
                    part = data[i : i + 16384]
                    self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
            self.close_connection = True

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve


def _fault_reply(fault: Fault) -> Reply:
    headers = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(int(math.ceil(fault.retry_after)))
    if fault.status == 429:
        body = {
            "code": "rest_too_many_requests",
            "message": "Too many requests. Please wait and try again.",
            "data": {"status": 429},
        }
    elif fault.status >= 500:
        body = {
            "code": "internal_server_error",
            "message": "<p>There has been a critical error on this website.</p>",
            "data": {"status": fault.status},
        }
    else:
        body = {"code": "injected", "message": "Injected fault.", "data": {"status": fault.status}}
    return Reply(fault.status, body, headers)


class PlainServer(LoopbackEmulator):
    """A plain http server that is not WordPress (for the 'not a store' check): every path answers an HTML page,
    or, with `redirect_to`, a 301 to that address (an http site moved to https)."""

    def __init__(self, redirect_to: str | None = None) -> None:
        self.redirect_to = redirect_to

    def start(self) -> PlainServer:
        return self._serve(_PlainHandler, "plain-server")


class _PlainHandler(BaseHTTPRequestHandler):
    emulator: PlainServer

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        body = b"<!doctype html><title>Welcome</title><p>It works!</p>"
        redirect_to = self.emulator.redirect_to
        if redirect_to:
            self.send_response(301)
            self.send_header("Location", redirect_to.rstrip("/") + self.path)
        else:
            self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_PUT = do_POST = do_GET
