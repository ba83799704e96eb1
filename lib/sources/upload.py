"""The Uploads source: photos dropped in the browser become products you can name.

Each accepted file is decoded through `lib.images.decode_for` (so corrupt files and decompression bombs are
refused before they reach the job log), stored once in the blob store, and recorded as an UploadedProduct.
Product ids are the table's ids as strings; an image's `ref` is the blob's sha256.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePath
from typing import TYPE_CHECKING

from sqlalchemy import func, or_
from sqlmodel import col, select

from lib.display_text import clean
from lib.errors import AppError, InputError, SourceNotFound
from lib.models import UploadedProduct
from lib.sources.base import Product, ProductPage, ProductQuery, SourceImage

if TYPE_CHECKING:
    from lib.runtime import Runtime

KIND = "upload"
MAX_NAME = 120


@dataclass(frozen=True)
class Refused:
    filename: str
    message: str  # a sentence the merchant can act on


class UploadResult(list[UploadedProduct]):
    """The products made from the accepted files; `.refused` says why each other file was not taken."""

    def __init__(self, added: list[UploadedProduct], refused: list[Refused], notes: list[str] | None = None) -> None:
        super().__init__(added)
        self.refused = refused
        self.notes = notes or []  # what was changed on a file that was taken (an animation flattened)


def _frames(data: bytes) -> int:
    """How many frames the file holds (header only): an animated GIF, WebP or PNG has more than one."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return int(getattr(im, "n_frames", 1) or 1)
    except Exception:  # decode_for already accepted it; a header we cannot count is one frame
        return 1


def name_from_filename(filename: str) -> str:
    """'blue-mug_01.JPG' -> 'Blue mug 01': a readable starting name the merchant can edit."""
    stem = clean(PurePath(filename or "").stem)
    words = re.sub(r"[_\-.]+", " ", stem).strip()
    words = re.sub(r"\s+", " ", words)
    return (words[:1].upper() + words[1:])[:MAX_NAME] if words else "Uploaded product"


def _clean_name(name: str) -> str:
    name = clean(name)
    if not name:
        raise InputError("Give the product a name.")
    if len(name) > MAX_NAME:
        raise InputError(f"Product names can be {MAX_NAME} characters at most.")
    return name


def add_uploads(runtime: Runtime, files: list[tuple[str, bytes]]) -> UploadResult:
    """Validate each (filename, bytes) and add the good ones. One bad file never blocks the others."""
    from lib import images  # lazy: keeps this module importable while lib.images evolves

    added: list[UploadedProduct] = []
    refused: list[Refused] = []
    notes: list[str] = []
    for filename, data in files:
        label = filename or "(unnamed file)"
        if not data:
            refused.append(Refused(label, "The file is empty."))
            continue
        try:
            intake = images.decode_for(runtime.settings, data)
        except AppError as exc:
            refused.append(Refused(label, exc.message))
            continue
        sha = runtime.blobs.put(data)
        with runtime.db.transaction() as s:
            existing = s.exec(select(UploadedProduct).where(UploadedProduct.sha256 == sha)).first()
            if existing is not None:
                refused.append(Refused(label, f"This photo is already uploaded as “{existing.name}”."))
                continue
            product = UploadedProduct(
                name=name_from_filename(label), sha256=sha, width=intake.width, height=intake.height
            )
            s.add(product)
            s.flush()
            s.refresh(product)
        added.append(product)
        if _frames(data) > 1:
            notes.append(f"{label}: an animated image; it was flattened to its first frame, a still photo.")
    return UploadResult(added, refused, notes)


def rename(
    runtime: Runtime, product_id: str | int, name: str, sku: str | None = None, category: str | None = None
) -> UploadedProduct:
    """Change an uploaded product's name (and optionally SKU and category)."""
    name = _clean_name(name)
    with runtime.db.transaction() as s:
        product = s.get(UploadedProduct, int(product_id))
        if product is None:
            raise SourceNotFound("That uploaded product no longer exists.")
        product.name = name
        if sku is not None:
            product.sku = " ".join(sku.split())[:64]
        if category is not None:
            product.category = " ".join(category.split())[:64] or "Uploads"
        s.add(product)
        return product


def remove(runtime: Runtime, product_id: str | int) -> None:
    """Forget an uploaded product (its blob stays: jobs made from it still show their source)."""
    with runtime.db.transaction() as s:
        product = s.get(UploadedProduct, int(product_id))
        if product is not None:
            s.delete(product)


def to_product(row: UploadedProduct) -> Product:
    return Product(
        id=str(row.id),
        name=row.name,
        sku=row.sku,
        category=row.category,
        categories=(row.category,),
        short_description=row.description,
        images=(SourceImage(ref=row.sha256, name=row.name, id=row.sha256[:12]),),
    )


class UploadSource:
    """ProductSource over the UploadedProduct table."""

    kind = KIND

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def list_products(self, query: ProductQuery) -> ProductPage:
        per_page = max(1, min(query.per_page, 200))
        page = max(1, query.page)
        where = []
        if query.search.strip():
            like = f"%{query.search.strip()}%"
            where.append(or_(col(UploadedProduct.name).ilike(like), col(UploadedProduct.sku).ilike(like)))
        if query.category:
            where.append(col(UploadedProduct.category) == query.category)
        if query.ids:
            where.append(col(UploadedProduct.id).in_([int(i) for i in query.ids if str(i).isdigit()]))
        if query.stock_status and query.stock_status != "instock":
            return ProductPage([], 0, page, per_page)  # uploads have no stock: they count as in stock
        with self.runtime.db.session() as s:
            total = s.exec(select(func.count()).select_from(UploadedProduct).where(*where)).one()
            rows = s.exec(
                select(UploadedProduct)
                .where(*where)
                .order_by(col(UploadedProduct.id).desc())
                .offset((page - 1) * per_page)
                .limit(per_page)
            ).all()
        return ProductPage([to_product(r) for r in rows], int(total), page, per_page)

    def get_product(self, product_id: str) -> Product:
        if not str(product_id).isdigit():
            raise SourceNotFound("That uploaded product no longer exists.")
        with self.runtime.db.session() as s:
            row = s.get(UploadedProduct, int(product_id))
        if row is None:
            raise SourceNotFound("That uploaded product no longer exists.")
        return to_product(row)

    def fetch_image(self, image: SourceImage) -> bytes:
        return self.runtime.blobs.get(image.ref)

    def categories(self) -> list[str]:
        with self.runtime.db.session() as s:
            rows = s.exec(select(UploadedProduct.category).distinct().order_by(UploadedProduct.category)).all()
        return [r for r in rows if r]


def open_source(runtime: Runtime, connection: object | None = None) -> UploadSource:
    return UploadSource(runtime)
