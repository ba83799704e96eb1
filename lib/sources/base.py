"""Where products come from. One protocol (`ProductSource`) for reading and one (`PublishTarget`) for writing
images back; each source module implements them (demo, woocommerce, drive, upload)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class SourceImage:
    """An image at the source. `ref` is what the source needs to fetch it (URL, file id, sha256)."""

    ref: str
    name: str = ""
    id: str | None = None  # the store's media id, when it has one
    mime: str | None = None


@dataclass(frozen=True)
class Variation:
    id: str
    name: str
    sku: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    image: SourceImage | None = None


@dataclass(frozen=True)
class Product:
    id: str
    name: str
    sku: str = ""
    category: str = ""  # the main category's name
    categories: tuple[str, ...] = ()
    short_description: str = ""  # plain text (HTML already stripped)
    stock_status: str = "instock"  # instock | outofstock | onbackorder
    status: str = "publish"
    type: str = "simple"  # simple | variable
    images: tuple[SourceImage, ...] = ()  # images[0] is the featured image
    variations: tuple[Variation, ...] = ()
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def featured(self) -> SourceImage | None:
        return self.images[0] if self.images else None

    def variation(self, variation_id: str) -> Variation:
        for v in self.variations:
            if v.id == variation_id:
                return v
        raise KeyError(variation_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Product:
        def img(d: dict[str, Any] | None) -> SourceImage | None:
            return SourceImage(**d) if d else None

        return cls(
            id=str(data["id"]),
            name=data.get("name", ""),
            sku=data.get("sku", ""),
            category=data.get("category", ""),
            categories=tuple(data.get("categories", ())),
            short_description=data.get("short_description", ""),
            stock_status=data.get("stock_status", "instock"),
            status=data.get("status", "publish"),
            type=data.get("type", "simple"),
            images=tuple(SourceImage(**i) for i in data.get("images", ())),
            variations=tuple(
                Variation(
                    id=str(v["id"]),
                    name=v.get("name", ""),
                    sku=v.get("sku", ""),
                    attributes=dict(v.get("attributes", {})),
                    image=img(v.get("image")),
                )
                for v in data.get("variations", ())
            ),
            attributes=dict(data.get("attributes", {})),
        )


@dataclass(frozen=True)
class ProductQuery:
    search: str = ""
    category: str = ""  # category name (demo/upload/drive) or id (woocommerce); a collection (shopify)
    stock_status: str = ""
    product_type: str = ""  # shopify's product type (sources without one ignore it)
    status: str = ""
    page: int = 1
    per_page: int = 24
    ids: tuple[str, ...] = ()  # restrict to these product ids


@dataclass(frozen=True)
class ProductPage:
    items: list[Product]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@runtime_checkable
class ProductSource(Protocol):
    """Read products and their images.

    Optional, for the Products grid's thumbnails (lib.catalog): `preview(image, side) -> bytes`, a small picture
    the source can make cheaply, or `preview_image(image, side) -> PIL.Image.Image | None`, a new image of the
    photo drawn at that size, by a source that draws its photos (None: fall back to fetch_image).
    """

    kind: str  # demo | woocommerce | shopify | drive | upload

    def list_products(self, query: ProductQuery) -> ProductPage: ...

    def get_product(self, product_id: str) -> Product: ...

    def fetch_image(self, image: SourceImage) -> bytes: ...

    def categories(self) -> list[str]: ...


@runtime_checkable
class PublishTarget(Protocol):
    """Write images back to a store. Ids are strings (WooCommerce's are ints on the wire)."""

    kind: str

    def product_image_ids(self, product_id: str) -> list[str]:
        """The product's image ids in order; [0] is the featured image."""
        ...

    def variation_image_id(self, product_id: str, variation_id: str) -> str | None: ...

    def find_media(self, filename: str) -> str | None:
        """The id of media already uploaded under this exact file name, if any (retry safety)."""
        ...

    def upload_media(self, data: bytes, *, filename: str, mime: str, alt_text: str, title: str) -> str:
        """Upload once; returns the new media id."""
        ...

    def set_product_images(self, product_id: str, image_ids: list[str]) -> list[str]:
        """Replace the product's whole image list; returns the list the store now holds."""
        ...

    def set_variation_image(self, product_id: str, variation_id: str, image_id: str | None) -> str | None:
        """Set (or with None remove) a variation's image; returns what the store now holds."""
        ...
