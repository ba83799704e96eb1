"""Product browsing for the Products page: which source, which filters, which page, and what is selected.

Search, category and stock status go to the source (server-side paging). "White background only" and "no
generated image yet" are not something a store can answer, so those scan the source page by page and keep the
products that pass, up to a scan budget; the page then says how far it looked. Photos are checked only as far as
the page needs. White-background scores and thumbnails are computed once per image, from a small preview, and
kept in a bounded in-process cache.

The selection is plain data (`SelectionState`, `SelectionBook`) so it survives paging and filtering and is
tested without Streamlit.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PIL import Image
from sqlalchemy import func
from sqlmodel import col, select

from lib import images
from lib.connections import list_connections
from lib.errors import AppError
from lib.jobs import Selection
from lib.kinds import Kind
from lib.models import Asset, AssetKind, Job, ReviewState
from lib.sources.base import Product, ProductQuery, ProductSource, SourceImage
from lib.sources.demo import DemoSource

if TYPE_CHECKING:
    from lib.runtime import Runtime

WHITE_MIN = 0.85  # the share of near-white border pixels that counts as "on white" (lib.images.validate)
THUMB_SIDE = 224
SCAN_CHUNK = 100
DEFAULT_SCAN_BUDGET = 600  # products looked at per view when a local filter is on
WHITE_BATCH = 8  # photos checked together when a page needs only a few more matches
CHECK_LIMIT = 36  # photos the Generate page validates before launch

STOCK_LABELS = {"": "Any stock", "instock": "In stock", "outofstock": "Out of stock", "onbackorder": "On backorder"}


# Sources ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceRef:
    """Where products come from: a kind and, for stores and Drives, the saved connection."""

    kind: Kind
    connection_id: int | None = None
    label: str = ""

    @property
    def key(self) -> str:
        return self.kind if self.connection_id is None else f"{self.kind}:{self.connection_id}"

    @classmethod
    def from_key(cls, key: str, label: str = "") -> SourceRef:
        kind, _, cid = key.partition(":")
        return cls(Kind.parse(kind, "product source"), int(cid) if cid else None, label)


DEMO = SourceRef(Kind.DEMO, None, Kind.DEMO.label)
UPLOADS = SourceRef(Kind.UPLOAD, None, Kind.UPLOAD.label)


def source_options(runtime: Runtime) -> list[SourceRef]:
    """Demo store first, then saved stores and Drives (active one first), then Uploads."""
    refs = [DEMO]
    for kind, prefix in ((Kind.WOOCOMMERCE, "Store"), (Kind.SHOPIFY, "Shop"), (Kind.DRIVE, "Drive")):
        conns = sorted(list_connections(runtime.db, kind), key=lambda c: (not c.is_active, c.id or 0))
        refs += [SourceRef(kind, c.id, f"{prefix}: {c.name}") for c in conns]
    refs.append(UPLOADS)
    return refs


def open_source(runtime: Runtime, ref: SourceRef, *, demo_size: int | None = None) -> ProductSource:
    """The ProductSource for a ref (`demo_size`: a generated demo catalogue of that many products, for benchmarks)."""
    if ref.kind == Kind.DEMO and demo_size:
        return DemoSource(runtime, size=demo_size)
    return runtime.source(ref.kind, ref.connection_id)


# Filters and browsing --------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    search: str = ""
    category: str = ""
    stock_status: str = ""
    white_only: bool = False
    not_generated: bool = False
    product_type: str = ""  # sources that have one (Shopify)
    status: str = ""  # "" = the source's default (Shopify: active, draft, archived)

    @property
    def local(self) -> bool:
        """True when some filter has to be applied here rather than by the source."""
        return self.white_only or self.not_generated

    def query(self, page: int, per_page: int) -> ProductQuery:
        return ProductQuery(
            search=self.search.strip(),
            category=self.category,
            stock_status=self.stock_status,
            product_type=self.product_type,
            status=self.status,
            page=page,
            per_page=per_page,
        )


@dataclass
class BrowsePage:
    products: list[Product]
    page: int
    per_page: int
    total: int  # exact total, or matches found so far when `exact` is False
    exact: bool = True
    has_next: bool = False
    scanned: int = 0  # products looked at (local filters)
    source_total: int = 0
    generated: dict[str, int] = field(default_factory=dict)  # product id -> generated images (not rejected)

    @property
    def pages(self) -> int:
        if self.exact:
            return max(1, -(-self.total // self.per_page))
        return self.page + (1 if self.has_next else 0)

    @property
    def summary(self) -> str:
        if self.exact:
            return f"{self.total:,} product{'s' if self.total != 1 else ''}"
        return f"{self.total:,}+ matching products (looked at {self.scanned:,} of {self.source_total:,})"


def generated_counts(runtime: Runtime, ref: SourceRef, product_ids: Iterable[str] | None = None) -> dict[str, int]:
    """How many generated (not rejected) images each product of this source has, across all jobs."""
    ids = None if product_ids is None else [str(i) for i in product_ids]
    if ids == []:
        return {}
    query = (
        select(Asset.product_id, func.count())
        .join(Job, col(Job.id) == col(Asset.job_id))
        .where(
            col(Asset.kind) == AssetKind.GENERATED,
            col(Asset.review_state) != ReviewState.REJECTED,
            col(Job.source_kind) == ref.kind,
        )
        .group_by(col(Asset.product_id))
    )
    if ref.connection_id is not None:
        query = query.where(col(Job.connection_id) == ref.connection_id)
    if ids is not None:
        query = query.where(col(Asset.product_id).in_(ids))
    with runtime.db.session() as s:
        return {str(pid): int(n) for pid, n in s.exec(query).all() if pid is not None}


def browse(
    runtime: Runtime,
    source: ProductSource,
    ref: SourceRef,
    filters: Filters,
    *,
    page: int = 1,
    per_page: int = 24,
    scan_budget: int = DEFAULT_SCAN_BUDGET,
) -> BrowsePage:
    """One page of products that pass the filters."""
    page = max(1, page)
    if not filters.local:
        result = source.list_products(filters.query(page, per_page))
        return BrowsePage(
            list(result.items),
            page,
            per_page,
            result.total,
            True,
            page < result.pages,
            len(result.items),
            result.total,
            generated_counts(runtime, ref, [p.id for p in result.items]),
        )

    done = generated_counts(runtime, ref) if filters.not_generated else {}

    def keep(product: Product) -> bool:
        if filters.not_generated and done.get(product.id):
            return False
        if filters.white_only:
            facts = image_facts(runtime, source, ref, product.featured)
            return facts is not None and (facts.white_score or 0.0) >= WHITE_MIN
        return True

    want = page * per_page + 1  # one more than needed tells whether there is a next page
    matched: list[Product] = []
    scanned, source_total, src_page, exhausted = 0, 0, 1, False
    while len(matched) < want and scanned < scan_budget:
        chunk = source.list_products(filters.query(src_page, SCAN_CHUNK))
        source_total = chunk.total
        pos = 0
        while pos < len(chunk.items) and len(matched) < want:
            if filters.white_only:
                # Photos are checked only as far as the page needs (a batch at a time, in parallel), not a whole
                # chunk: each check draws or downloads a photo.
                batch = chunk.items[pos : pos + max(want - len(matched), WHITE_BATCH)]
                prefetch_facts(runtime, source, ref, [p for p in batch if not done.get(p.id)])
            else:
                batch = chunk.items[pos:]
            for product in batch:
                scanned += 1
                if keep(product):
                    matched.append(product)
            pos += len(batch)
        if pos < len(chunk.items):  # enough matches before the chunk's end
            break
        if src_page >= chunk.pages or not chunk.items:
            exhausted = True
            break
        src_page += 1
    items = matched[(page - 1) * per_page : page * per_page]
    exact = exhausted
    return BrowsePage(
        items,
        page,
        per_page,
        len(matched),
        exact,
        len(matched) > page * per_page,
        scanned,
        source_total,
        {p.id: done.get(p.id, 0) for p in items} if done else generated_counts(runtime, ref, [p.id for p in items]),
    )


def categories(source: ProductSource) -> list[str]:
    try:
        return sorted({c for c in source.categories() if c}, key=str.lower)
    except AppError:
        return []


def product_types(source: ProductSource) -> list[str]:
    """The source's product types, for sources that have them (Shopify); [] otherwise."""
    lister = getattr(source, "product_types", None)
    if lister is None:
        return []
    try:
        return sorted({t for t in lister() if t}, key=str.lower)
    except AppError:
        return []


# Image facts (thumbnail + white score), cached per image ---------------------------------------


@dataclass(frozen=True)
class ImageFacts:
    """What the grid needs about a product photo, from a small preview of it."""

    thumbnail: bytes  # small JPEG for the grid
    white_score: float | None  # share of near-white border pixels; None: not measured


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
        return None

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


# Facts depend only on the image, so one cache serves every session of the process.
_FACTS = _LRU(5000)
_CHECKS = _LRU(5000)
_FAILED = object()
PREVIEW_SIDE = 224
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="catalog-preview")  # downloads: waits on the network
# Drawing previews is CPU work that mostly holds the GIL: more threads than CPUs only contend.
_DRAW_POOL = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1), thread_name_prefix="catalog-draw")


def _preview(source: ProductSource, image: SourceImage) -> Image.Image:
    """A small RGB version of the photo: drawn at preview size by sources that draw their photos, a preview from
    sources that can make one cheaply (Drive's thumbnails), else the photo itself decoded at a reduced scale."""
    drawn = getattr(source, "preview_image", None)
    if callable(drawn):
        im = drawn(image, PREVIEW_SIDE)
        if im is not None:
            return im if im.mode == "RGB" else im.convert("RGB")
    preview = getattr(source, "preview", None)
    data = preview(image, PREVIEW_SIDE) if callable(preview) else source.fetch_image(image)
    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))  # JPEG: decode at a reduced scale
        return im.convert("RGB")


def _facts_key(runtime: Runtime, ref: SourceRef, image: SourceImage) -> tuple[str, str, str]:
    return (runtime.cache_scope, ref.key, image.ref)


def _compute_facts(source: ProductSource, image: SourceImage) -> ImageFacts | None:
    try:
        rgb = _preview(source, image)
    except AppError:
        return None
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    score = float(images.white_score(rgb))
    rgb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.save(buf, "JPEG", quality=82, optimize=True)
    return ImageFacts(buf.getvalue(), score)


def image_facts(
    runtime: Runtime, source: ProductSource, ref: SourceRef, image: SourceImage | None
) -> ImageFacts | None:
    """Thumbnail and white-background score of a source photo, or None if it cannot be read."""
    if image is None:
        return None
    key = _facts_key(runtime, ref, image)
    cached = _FACTS.get(key)
    if cached is None:
        cached = _compute_facts(source, image) or _FAILED
        _FACTS.put(key, cached)
    return None if cached is _FAILED else cached


def prefetch_facts(runtime: Runtime, source: ProductSource, ref: SourceRef, products: Iterable[Product]) -> None:
    """Compute the facts of a page's photos in parallel (remote stores: many downloads at once)."""
    todo = [
        p.featured
        for p in products
        if p.featured is not None and _FACTS.get(_facts_key(runtime, ref, p.featured)) is None
    ]
    if len(todo) > 1:
        pool = _DRAW_POOL if callable(getattr(source, "preview_image", None)) else _POOL
        list(pool.map(lambda img: image_facts(runtime, source, ref, img), todo))


def clear_caches() -> None:
    _FACTS.clear()
    _CHECKS.clear()


# Selection ------------------------------------------------------------------------------------


def item_key(product_id: str, variation_id: str | None = None) -> str:
    return product_id if variation_id is None else f"{product_id}/{variation_id}"


@dataclass
class Picked:
    product: dict[str, Any]  # Product.to_dict(): enough to create a job without asking the source again
    variation_id: str | None = None

    @property
    def label(self) -> str:
        name = str(self.product.get("name", ""))
        if self.variation_id is None:
            return name
        for v in self.product.get("variations", ()):
            if str(v.get("id")) == self.variation_id:
                return f"{name} — {v.get('name') or self.variation_id}"
        return f"{name} — variation {self.variation_id}"


@dataclass
class SelectionState:
    """What is selected in one source, in the order it was picked."""

    source_key: str
    items: dict[str, Picked] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def has(self, product_id: str, variation_id: str | None = None) -> bool:
        return item_key(product_id, variation_id) in self.items

    def add(self, product: Product, variation_id: str | None = None) -> None:
        if variation_id is not None:
            product.variation(variation_id)  # KeyError for an id the product does not have
        self.items.setdefault(item_key(product.id, variation_id), Picked(product.to_dict(), variation_id))

    def remove(self, product_id: str, variation_id: str | None = None) -> None:
        self.items.pop(item_key(product_id, variation_id), None)

    def set(self, product: Product, variation_id: str | None, on: bool) -> None:
        if on:
            self.add(product, variation_id)
        else:
            self.remove(product.id, variation_id)

    def add_all(self, products: Iterable[Product]) -> int:
        before = len(self.items)
        for p in products:
            self.add(p)
        return len(self.items) - before

    def remove_all(self, products: Iterable[Product]) -> None:
        for p in products:
            self.remove(p.id)
            for v in p.variations:
                self.remove(p.id, v.id)

    def clear(self) -> None:
        self.items.clear()

    @property
    def product_count(self) -> int:
        return len({k.split("/", 1)[0] for k in self.items})

    @property
    def variation_count(self) -> int:
        return sum(1 for p in self.items.values() if p.variation_id is not None)

    def summary(self) -> str:
        n = len(self.items)
        if not n:
            return "Nothing selected"
        v = self.variation_count
        parts = [f"{n - v} product{'s' if n - v != 1 else ''}"] if n - v else []
        if v:
            parts.append(f"{v} variation{'s' if v != 1 else ''}")
        return " and ".join(parts) + " selected"

    def pairs(self) -> list[tuple[Product, str | None]]:
        return [(Product.from_dict(p.product), p.variation_id) for p in self.items.values()]

    def as_job_selections(self, skip: Iterable[str] = ()) -> list[Selection]:
        """lib.jobs.Selection objects, leaving out the given item keys."""
        skipped = set(skip)
        return [
            Selection(product=Product.from_dict(p.product), variation_id=p.variation_id)
            for k, p in self.items.items()
            if k not in skipped
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_key": self.source_key,
            "items": [{"product": p.product, "variation_id": p.variation_id} for p in self.items.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SelectionState:
        state = cls(str(data["source_key"]))
        for it in data.get("items", ()):
            state.items[item_key(str(it["product"]["id"]), it.get("variation_id"))] = Picked(
                dict(it["product"]), it.get("variation_id")
            )
        return state


@dataclass
class SelectionBook:
    """One selection per source, so switching to another source and back keeps what was picked."""

    current: str = DEMO.key
    by_source: dict[str, SelectionState] = field(default_factory=dict)

    def for_source(self, key: str) -> SelectionState:
        if key not in self.by_source:
            self.by_source[key] = SelectionState(key)
        return self.by_source[key]

    @property
    def active(self) -> SelectionState:
        return self.for_source(self.current)

    def switch(self, key: str) -> SelectionState:
        self.current = key
        return self.active


# Validation report for Generate ---------------------------------------------------------------


@dataclass(frozen=True)
class SourceCheck:
    key: str  # selection item key
    label: str
    ok: bool
    problem: str | None
    white_score: float | None
    width: int
    height: int


def check_selection(
    runtime: Runtime, source: ProductSource, ref: SourceRef, selection: SelectionState, limit: int = CHECK_LIMIT
) -> tuple[list[SourceCheck], int]:
    """Validate the photo each selected item would start from (too small, not on white, unreadable).

    Checks at most `limit` photos (in parallel) so the page stays quick; returns the checks and how many
    selected items were left unchecked (the worker still validates every photo when the job runs).
    """
    todo: list[tuple[str, str, SourceImage | None]] = []
    for key, picked in list(selection.items.items())[:limit]:
        product = Product.from_dict(picked.product)
        image = product.featured
        if picked.variation_id is not None:
            try:
                image = product.variation(picked.variation_id).image or image
            except KeyError:
                pass
        todo.append((key, picked.label, image))

    def one(entry: tuple[str, str, SourceImage | None]) -> SourceCheck:
        key, label, image = entry
        if image is None:
            return SourceCheck(key, label, False, "This product has no photo.", None, 0, 0)
        return _check_image(runtime, source, ref, key, label, image)

    checks = list(_POOL.map(one, todo))
    return checks, max(0, len(selection.items) - limit)


def _check_image(
    runtime: Runtime, source: ProductSource, ref: SourceRef, key: str, label: str, image: SourceImage
) -> SourceCheck:
    cache_key = _facts_key(runtime, ref, image)
    found = _CHECKS.get(cache_key)
    if found is None:
        try:
            data = source.fetch_image(image)
        except AppError as exc:
            found = images.Validation(False, exc.message, None, 0, 0)
        else:
            found = images.validate(runtime.settings, data)
            _CHECKS.put(cache_key, found)  # a failed download is not remembered: it may work next time
    return SourceCheck(key, label, bool(found.ok), found.problem, found.white_score, found.width, found.height)
