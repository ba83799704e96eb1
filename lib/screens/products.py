"""The Products screen: which source, which filters, which page; thumbnails; uploads and their names.
The browsing itself (filters, scan budget, photo facts, the selection) is lib/catalog.py."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlmodel import select

from lib import catalog
from lib.catalog import BrowsePage, Filters, SourceRef
from lib.kinds import Kind
from lib.models import Connection, Job
from lib.sources import upload
from lib.sources.base import Product, ProductSource

if TYPE_CHECKING:
    from lib.runtime import Runtime


def first_run(runtime: Runtime) -> bool:
    """No job and no saved connection yet: the pages show their getting-started hints."""
    with runtime.db.session() as s:
        return (
            s.exec(select(Job.id).limit(1)).first() is None and s.exec(select(Connection.id).limit(1)).first() is None
        )


class ProductsScreen:
    STOCK_LABELS = catalog.STOCK_LABELS
    DEFAULT_SOURCE = catalog.DEMO.key

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.ref: SourceRef = catalog.DEMO
        self._source: ProductSource | None = None

    @staticmethod
    def filters(
        search: str = "",
        category: str = "",
        stock: str = "",
        white_only: bool = False,
        not_generated: bool = False,
        product_type: str = "",
        status: str = "",
    ) -> Filters:
        return Filters(search, category, stock, white_only, not_generated, product_type, status)

    def first_run(self) -> bool:
        return first_run(self.runtime)

    def sources(self) -> list[SourceRef]:
        """Demo store first, then saved stores and Drives (active one first), then Uploads."""
        return catalog.source_options(self.runtime)

    def open(self, ref: SourceRef, *, demo_size: int | None = None) -> None:
        """Browse this source from now on (raises a typed error when it cannot be opened)."""
        self._source = catalog.open_source(self.runtime, ref, demo_size=demo_size)
        self.ref = ref

    @property
    def source(self) -> ProductSource:
        if self._source is None:
            self.open(self.ref)
        assert self._source is not None
        return self._source

    @property
    def is_upload(self) -> bool:
        return self.ref.kind == Kind.UPLOAD

    @property
    def is_local(self) -> bool:
        """The demo catalogue and uploads live here; any other source is a store or folder that may not answer."""
        return self.ref.kind in (Kind.DEMO, Kind.UPLOAD)

    @property
    def max_upload_mb(self) -> int:
        """The app's own limit per photo, so the uploader refuses what the app would refuse, not less."""
        return max(1, self.runtime.settings.max_image_bytes // (1024 * 1024))

    def categories(self) -> list[str]:
        return catalog.categories(self.source)

    def product_types(self) -> list[str]:
        """Product types, for sources that have them (Shopify); [] otherwise."""
        return catalog.product_types(self.source)

    def statuses(self) -> list[str]:
        """The statuses a source filters by ("" = its default), when it has them (Shopify)."""
        return ["", "active", "draft", "archived"] if self.ref.kind == Kind.SHOPIFY else []

    def browse(self, filters: Filters, *, page: int, per_page: int) -> BrowsePage:
        return catalog.browse(self.runtime, self.source, self.ref, filters, page=page, per_page=per_page)

    def prefetch_thumbnails(self, products: list[Product]) -> None:
        catalog.prefetch_facts(self.runtime, self.source, self.ref, products)

    def thumbnail(self, product: Product) -> bytes | None:
        facts = catalog.image_facts(self.runtime, self.source, self.ref, product.featured)
        return None if facts is None else facts.thumbnail

    def pick_key(self, product_id: str, variation_id: str | None = None) -> str:
        """The widget key of a product's (or variation's) checkbox on this source."""
        return f"prod_pick_{self.ref.key}_{catalog.item_key(product_id, variation_id)}"

    def stock_label(self, status: str) -> str:
        return self.STOCK_LABELS.get(status, status)

    def meta(self, product: Product) -> str:
        parts = [product.sku and f"SKU {product.sku}", product.category, self.stock_label(product.stock_status)]
        return " · ".join(p for p in parts if p)

    # Uploads

    def add_uploads(self, *, files: list[tuple[str, bytes]]) -> upload.UploadResult:
        return upload.add_uploads(self.runtime, files)

    def rename_upload(self, *, product_id: str, name: str, sku: str) -> None:
        upload.rename(self.runtime, product_id, name, sku)
