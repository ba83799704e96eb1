"""The embedded demo store: a sample catalogue with code-drawn product photos, and a store that takes "publish" and
"rollback" so the whole flow can be shown with no keys and no network.

Image ids and refs
  catalogue images   id "demo-<pid>-<n>"   ref "demo://<pid>/<n>"           (drawn on demand, cached)
  variation images   id "demo-<pid>-v<k>"  ref "demo://variation/<vid>"     (variation ids are "<pid>-<k>")
  uploaded media     id "m<n>"             ref "demo-media://<n>"          (DemoMedia row -> blob store)

The store's current image lists live in the DemoImageList table (a row only once a list was changed), so they
survive restarts; `DemoSource` shows products with those lists, like a real store would after publishing.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from PIL import Image
from sqlmodel import col, select

from lib.drawing import KINDS, draw, palette_for, render_png, shifted
from lib.errors import PublishError, SourceNotFound
from lib.models import DemoImageList, DemoMedia, utcnow
from lib.sources.base import Product, ProductPage, ProductQuery, SourceImage, Variation

KIND = "demo"
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class DemoItem:
    id: str
    name: str
    sku: str
    category: str
    drawing: str
    description: str
    stock_status: str = "instock"
    attributes: dict[str, str] = field(default_factory=dict)
    palette: tuple[tuple[str, RGB], ...] = ()
    mirrored_gallery: bool = False  # a second image: the same product seen from the other side
    variations: tuple[tuple[str, RGB], ...] = ()  # (colour name, main colour) for a variable product

    @property
    def type(self) -> str:
        return "variable" if self.variations else "simple"


KITCHEN, HOME, APPAREL, BATH = "Kitchen", "Home & Lighting", "Apparel & Bags", "Bath & Beauty"

CATALOGUE: tuple[DemoItem, ...] = (
    DemoItem(
        "1",
        "Stoneware Mug",
        "GK-MUG-001",
        KITCHEN,
        "mug",
        "Hand-glazed stoneware mug with a speckled clay foot. Holds 350 ml; dishwasher safe.",
        attributes={"Material": "Stoneware", "Capacity": "350 ml", "Colour": "Teal"},
        mirrored_gallery=True,
    ),
    DemoItem(
        "2",
        "Insulated Steel Bottle",
        "GK-BTL-002",
        KITCHEN,
        "steel_bottle",
        "Double-wall vacuum bottle: cold for 24 hours, hot for 12. Brushed steel, 750 ml.",
        attributes={"Material": "Stainless steel", "Capacity": "750 ml"},
    ),
    DemoItem(
        "3",
        "Kyusu Clay Teapot",
        "GK-TEA-003",
        KITCHEN,
        "teapot",
        "Japanese-style clay teapot with a side handle and a built-in strainer. 500 ml.",
        stock_status="onbackorder",
        attributes={"Material": "Red clay", "Capacity": "500 ml"},
    ),
    DemoItem(
        "4",
        "Swing-Arm Desk Lamp",
        "GK-LMP-004",
        HOME,
        "desk_lamp",
        "Adjustable steel desk lamp with a mustard cone shade and a weighted base. E27 bulb.",
        attributes={"Material": "Powder-coated steel", "Colour": "Mustard"},
    ),
    DemoItem(
        "5",
        "Amber Jar Candle",
        "GK-CDL-005",
        HOME,
        "candle",
        "Soy wax candle in an amber glass jar, cedar and fig. About 50 hours of burn time.",
        attributes={"Scent": "Cedar & fig", "Burn time": "50 h"},
        mirrored_gallery=True,
    ),
    DemoItem(
        "6",
        "Terracotta Planter with Pilea",
        "GK-PLT-006",
        HOME,
        "planter",
        "Unglazed terracotta pot, 14 cm, with a young Chinese money plant (Pilea peperomioides).",
        attributes={"Material": "Terracotta", "Diameter": "14 cm"},
    ),
    DemoItem(
        "7",
        "Walnut Wall Clock",
        "GK-CLK-007",
        HOME,
        "wall_clock",
        "Silent-sweep wall clock with a walnut frame and a crisp white dial. 30 cm.",
        stock_status="outofstock",
        attributes={"Material": "Walnut", "Diameter": "30 cm"},
    ),
    DemoItem(
        "8",
        "Everyday Runner Sneaker",
        "GK-SNK-008",
        APPAREL,
        "sneaker",
        "Lightweight knit running shoe with a cushioned off-white sole and contrast heel.",
        attributes={"Colour": "Navy / Orange", "Upper": "Recycled knit"},
    ),
    DemoItem(
        "9",
        "Canvas Market Tote",
        "GK-TOT-009",
        APPAREL,
        "tote_bag",
        "Heavy organic-cotton canvas tote with leather-look handles and a printed leaf badge.",
        attributes={"Material": "Organic cotton canvas"},
    ),
    DemoItem(
        "10",
        "Trail Daypack",
        "GK-BPK-010",
        APPAREL,
        "backpack",
        "20 L water-resistant daypack with a padded laptop sleeve and a zip front pocket.",
        stock_status="onbackorder",
        attributes={"Volume": "20 L", "Colour": "Olive"},
    ),
    DemoItem(
        "11",
        "Field Watch",
        "GK-WCH-011",
        APPAREL,
        "watch",
        "38 mm steel field watch with a white dial and a tan leather strap. Water resistant to 50 m.",
        attributes={"Case": "38 mm steel", "Strap": "Leather"},
    ),
    DemoItem(
        "12",
        "Classic Tee",
        "GK-TEE-012",
        APPAREL,
        "tee",
        "Heavyweight organic-cotton t-shirt with a relaxed fit and a ribbed crew neck.",
        attributes={"Material": "Organic cotton", "Colour": "Navy, Sage, Rust, Heather Grey"},
        variations=(
            ("Navy", (40, 58, 96)),
            ("Sage", (128, 152, 118)),
            ("Rust", (168, 82, 48)),
            ("Heather Grey", (132, 134, 138)),
        ),
    ),
    DemoItem(
        "13",
        "Amber Soap Pump",
        "GK-SOP-013",
        BATH,
        "soap_pump",
        "Refillable amber glass pump bottle with a gentle olive-oil hand soap. 300 ml.",
        attributes={"Capacity": "300 ml", "Scent": "Olive leaf"},
    ),
    DemoItem(
        "14",
        "Hydrating Face Serum",
        "GK-SRM-014",
        BATH,
        "serum",
        "Hyaluronic acid serum in a blue glass dropper bottle. Fragrance free, 30 ml.",
        stock_status="outofstock",
        attributes={"Capacity": "30 ml"},
    ),
    DemoItem(
        "15",
        "Cold-Pressed Olive Oil",
        "GK-OIL-015",
        KITCHEN,
        "glass_bottle",
        "Early-harvest extra virgin olive oil in a clear glass bottle with a cork stopper. 500 ml.",
        attributes={"Capacity": "500 ml", "Material": "Glass"},
    ),
    DemoItem(
        "16",
        "White Porcelain Jug",
        "GK-JUG-016",
        KITCHEN,
        "white_jug",
        "Glazed white porcelain milk jug with an open loop handle. Holds 600 ml.",
        attributes={"Material": "Porcelain", "Capacity": "600 ml", "Colour": "White"},
    ),
)
_BY_ID = {item.id: item for item in CATALOGUE}
CATEGORIES = tuple(dict.fromkeys(item.category for item in CATALOGUE))
_COLOUR_WORDS = ("Coral", "Amber", "Olive", "Sage", "Teal", "Ocean", "Indigo", "Plum", "Rose", "Clay")


def _generated(index: int) -> DemoItem:
    """Product number `index` (> len(CATALOGUE)) of an extended benchmark catalogue: a known drawing in a new
    colourway. Pure arithmetic, so listing 10,000 of them draws nothing."""
    base, turn, word, name, sku, stock = _generated_text(index)
    key = _main_colour_key(base.drawing)
    colour = shifted(palette_for(base.drawing)[key], turn, 1.1)
    return DemoItem(
        str(index),
        name,
        sku,
        base.category,
        base.drawing,
        base.description,
        stock,
        dict(base.attributes, Colour=word),
        ((key, colour),),
    )


def _generated_text(index: int) -> tuple[DemoItem, float, str, str, str, str]:
    """(base item, hue turn, colour word, name, SKU, stock) of generated product `index`: all that search and
    filters need, without the colour maths of a whole DemoItem."""
    base = CATALOGUE[(index - 1) % len(CATALOGUE)]
    turn = (index * 0.6180339887) % 1.0
    word = _COLOUR_WORDS[int(turn * len(_COLOUR_WORDS)) % len(_COLOUR_WORDS)]
    stock = "outofstock" if index % 11 == 0 else "onbackorder" if index % 17 == 0 else "instock"
    code = base.sku.split("-")[1]
    return base, turn, word, f"{word} {base.name} No. {index}", f"GK-{code}-{index:05d}", stock


def _main_colour_key(kind: str) -> str:
    from lib.drawing.products import DRAWINGS

    return DRAWINGS[kind][2]


@lru_cache(maxsize=8)
def _index(size: int) -> tuple[tuple[str, str, str, str], ...]:
    """(id, lower-cased search text, category, stock) for every product: what filters need, built once per size
    (and only when a filter is on: a plain listing is a range of ids)."""
    rows = [
        (item.id, f"{item.name} {item.sku} {item.description}".lower(), item.category, item.stock_status)
        for item in CATALOGUE[:size]
    ]
    for i in range(len(CATALOGUE) + 1, size + 1):
        base, _, _, name, sku, stock = _generated_text(i)
        rows.append((str(i), f"{name} {sku} {base.description}".lower(), base.category, stock))
    return tuple(rows)


def _item(product_id: str, size: int) -> DemoItem:
    item = _BY_ID.get(product_id)
    if item is not None:
        return item
    if product_id.isdigit() and len(CATALOGUE) < int(product_id) <= size:
        return _generated(int(product_id))
    raise SourceNotFound(f"Demo product {product_id} does not exist.")


def _variation_id(pid: str, k: int) -> str:
    return f"{pid}-{k}"


def _image_ref(image_id: str) -> str:
    """The fetchable ref for a store image id (see the module docstring)."""
    if m := re.fullmatch(r"demo-(\d+)-(\d+)", image_id):
        return f"demo://{m[1]}/{m[2]}"
    if m := re.fullmatch(r"demo-(\d+)-v(\d+)", image_id):
        return f"demo://variation/{_variation_id(m[1], int(m[2]))}"
    if m := re.fullmatch(r"m(\d+)", image_id):
        return f"demo-media://{m[1]}"
    raise SourceNotFound(f"Demo image {image_id} does not exist.")


def _ref(image: SourceImage) -> str:
    return image.ref or (_image_ref(image.id) if image.id else "")


class _Catalogue:
    """Shared by source and store: the product data for a catalogue of `size` products."""

    def __init__(self, runtime: Any, size: int | None) -> None:
        self.runtime = runtime
        self.size = max(len(CATALOGUE), size or len(CATALOGUE))

    def item(self, product_id: str) -> DemoItem:
        return _item(str(product_id), self.size)

    def default_images(self, item: DemoItem) -> list[str]:
        return [f"demo-{item.id}-{n}" for n in range(2 if item.mirrored_gallery else 1)]

    def default_variation_image(self, item: DemoItem, variation_id: str) -> str:
        k = self._variation_number(item, variation_id)
        return f"demo-{item.id}-v{k}"

    @staticmethod
    def _variation_number(item: DemoItem, variation_id: str) -> int:
        m = re.fullmatch(rf"{re.escape(item.id)}-(\d+)", str(variation_id))
        if not m or not 1 <= int(m[1]) <= len(item.variations):
            raise SourceNotFound(f"Variation {variation_id} of demo product {item.id} does not exist.")
        return int(m[1])

    def image_exists(self, image_id: str) -> bool:
        if m := re.fullmatch(r"demo-(\d+)-(\d+)", image_id):
            try:
                return int(m[2]) < len(self.default_images(self.item(m[1])))
            except SourceNotFound:
                return False
        if m := re.fullmatch(r"demo-(\d+)-v(\d+)", image_id):
            try:
                return 1 <= int(m[2]) <= len(self.item(m[1]).variations)
            except SourceNotFound:
                return False
        if m := re.fullmatch(r"m(\d+)", image_id):
            return self._media(int(m[1])) is not None
        return False

    def _media(self, media_id: int) -> DemoMedia | None:
        if self.runtime is None:
            return None
        with self.runtime.db.session() as s:
            return s.get(DemoMedia, media_id)

    def stored_lists(self, product_ids: list[str]) -> dict[tuple[str, str], list[str]]:
        """The image lists the store holds for these products (only ones that were changed)."""
        if self.runtime is None or not product_ids:
            return {}
        with self.runtime.db.session() as s:
            rows = s.exec(select(DemoImageList).where(col(DemoImageList.product_id).in_(product_ids))).all()
        return {(r.product_id, r.variation_id): list(r.image_ids) for r in rows}


class DemoSource(_Catalogue):
    """ProductSource over the demo catalogue (ids "1", "2", ...)."""

    kind = KIND

    def __init__(self, runtime: Any = None, size: int | None = None, *, image_size: int = 1024) -> None:
        super().__init__(runtime, size)
        self.image_size = image_size

    # Listing --------------------------------------------------------------------------------
    def list_products(self, query: ProductQuery) -> ProductPage:
        needle = (query.search or "").strip().lower()
        category = (query.category or "").strip().lower()
        ids = {str(i) for i in query.ids} if query.ids else None
        stock = query.stock_status
        if query.status and query.status not in ("publish", "any"):
            return ProductPage([], 0, query.page, query.per_page)
        per_page = max(1, query.per_page)
        page = max(1, query.page)
        if ids is None and not category and not needle and not stock:  # every product in id order: no index needed
            first = (page - 1) * per_page + 1
            chunk, total = [str(i) for i in range(first, min(first + per_page, self.size + 1))], self.size
        else:
            matched = []
            for pid, text, cat, stock_status in _index(self.size):
                if ids is not None and pid not in ids:
                    continue
                if category and cat.lower() != category:
                    continue
                if needle and needle not in text:
                    continue
                if stock and stock_status != stock:
                    continue
                matched.append(pid)
            chunk, total = matched[(page - 1) * per_page : page * per_page], len(matched)
        stored = self.stored_lists(chunk)
        return ProductPage([self._product(self.item(pid), stored) for pid in chunk], total, page, per_page)

    def get_product(self, product_id: str) -> Product:
        item = self.item(str(product_id))
        return self._product(item, self.stored_lists([item.id]))

    def categories(self) -> list[str]:
        return list(CATEGORIES)

    def _product(self, item: DemoItem, stored: dict[tuple[str, str], list[str]]) -> Product:
        ids = stored.get((item.id, ""), self.default_images(item))
        images = tuple(self._source_image(i, item) for i in ids)
        variations = []
        for k, (colour, _rgb) in enumerate(item.variations, start=1):
            vid = _variation_id(item.id, k)
            vids = stored.get((item.id, vid), [self.default_variation_image(item, vid)])
            variations.append(
                Variation(
                    id=vid,
                    name=f"{item.name} – {colour}",
                    sku=f"{item.sku}-{colour[:3].upper()}",
                    attributes={"Colour": colour},
                    image=self._source_image(vids[0], item) if vids else None,
                )
            )
        return Product(
            id=item.id,
            name=item.name,
            sku=item.sku,
            category=item.category,
            categories=(item.category,),
            short_description=item.description,
            stock_status=item.stock_status,
            status="publish",
            type=item.type,
            images=images,
            variations=tuple(variations),
            attributes=dict(item.attributes),
        )

    def _source_image(self, image_id: str, item: DemoItem) -> SourceImage:
        ref = _image_ref(image_id)
        if ref.startswith("demo-media://"):
            media = self._media(int(image_id[1:]))
            name = media.filename if media else image_id
            return SourceImage(ref=ref, name=name, id=image_id, mime=_mime_for(name))
        return SourceImage(
            ref=ref, name=f"{item.sku.lower()}-{image_id.rsplit('-', 1)[-1]}.png", id=image_id, mime="image/png"
        )

    # Images ---------------------------------------------------------------------------------
    def fetch_image(self, image: SourceImage) -> bytes:
        drawing = self._drawing(image)
        if drawing is not None:
            kind, palette, mirror = drawing
            return render_png(kind, palette, self.image_size, mirror)
        media_id = _ref(image).removeprefix("demo-media://")
        media = self._media(int(media_id))
        if media is None:
            raise SourceNotFound(f"Demo media {media_id} does not exist.")
        return self.runtime.blobs.get(media.sha256)

    def preview_image(self, image: SourceImage, side: int) -> Image.Image | None:
        """A catalogue photo drawn at `side` px: the pixels fetch_image would give at that size, without a PNG
        round trip (lib.catalog's grid thumbnails). None for uploaded media, which fetch_image reads."""
        drawing = self._drawing(image)
        if drawing is None:
            return None
        kind, palette, mirror = drawing
        return draw(kind, dict(palette), side, mirror=mirror)

    def _drawing(self, image: SourceImage) -> tuple[str, tuple[tuple[str, RGB], ...], bool] | None:
        """(drawing kind, palette items, mirrored) of a catalogue image; None for an uploaded medium's ref.
        Raises SourceNotFound for a ref that names neither."""
        ref = _ref(image)
        if m := re.fullmatch(r"demo://(\d+)/(\d+)", ref):
            item = self.item(m[1])
            n = int(m[2])
            if n >= len(self.default_images(item)):
                raise SourceNotFound(f"Demo product {item.id} has no image {n}.")
            return item.drawing, item.palette, n == 1
        if m := re.fullmatch(r"demo://variation/(\d+)-(\d+)", ref):
            item = self.item(m[1])
            k = self._variation_number(item, f"{m[1]}-{m[2]}")
            key = _main_colour_key(item.drawing)
            return item.drawing, ((key, item.variations[k - 1][1]),), False
        if re.fullmatch(r"demo-media://(\d+)", ref):
            return None
        raise SourceNotFound(f"Not a demo image: {ref[:100]!r}.")


class DemoStore(_Catalogue):
    """PublishTarget over the DemoImageList / DemoMedia tables. Like WooCommerce, replacing a product's image list
    never deletes media, and a list naming an unknown image id is refused as a whole."""

    kind = KIND

    def __init__(self, runtime: Any, size: int | None = None) -> None:
        if runtime is None:
            raise ValueError("the demo store keeps its image lists in the job log: it needs a runtime")
        super().__init__(runtime, size)

    def product_image_ids(self, product_id: str) -> list[str]:
        item = self.item(str(product_id))
        return self.stored_lists([item.id]).get((item.id, ""), self.default_images(item))

    def variation_image_id(self, product_id: str, variation_id: str) -> str | None:
        item = self.item(str(product_id))
        default = self.default_variation_image(item, variation_id)
        ids = self.stored_lists([item.id]).get((item.id, str(variation_id)), [default])
        return ids[0] if ids else None

    def find_media(self, filename: str) -> str | None:
        with self.runtime.db.session() as s:
            row = s.exec(select(DemoMedia).where(DemoMedia.filename == filename).order_by(col(DemoMedia.id))).first()
        return f"m{row.id}" if row else None

    def upload_media(self, data: bytes, *, filename: str, mime: str, alt_text: str, title: str) -> str:
        try:
            with Image.open(io.BytesIO(data)) as im:
                im.verify()
        except Exception as exc:
            raise PublishError(f"The demo store only accepts images; {filename} is not one.") from exc
        sha = self.runtime.blobs.put(data)
        with self.runtime.db.transaction() as s:
            name = _free_filename(s, filename)
            row = DemoMedia(sha256=sha, filename=name, alt_text=alt_text, title=title)
            s.add(row)
            s.flush()
            return f"m{row.id}"

    def set_product_images(self, product_id: str, image_ids: list[str]) -> list[str]:
        item = self.item(str(product_id))
        ids = [str(i) for i in image_ids]
        self._check(ids)
        self._save(item.id, "", ids)
        return ids

    def set_variation_image(self, product_id: str, variation_id: str, image_id: str | None) -> str | None:
        item = self.item(str(product_id))
        self._variation_number(item, str(variation_id))
        ids = [str(image_id)] if image_id else []
        self._check(ids)
        self._save(item.id, str(variation_id), ids)
        return ids[0] if ids else None

    def media(self, image_id: str) -> DemoMedia | None:
        """The uploaded media row behind an id like "m12" (None for catalogue images)."""
        m = re.fullmatch(r"m(\d+)", image_id)
        return self._media(int(m[1])) if m else None

    def reset(self) -> int:
        """Put every product's images back to the catalogue's (between two demos). Media stay."""
        with self.runtime.db.transaction() as s:
            rows = s.exec(select(DemoImageList)).all()
            for r in rows:
                s.delete(r)
            return len(rows)

    def _check(self, ids: list[str]) -> None:
        for image_id in ids:
            if not self.image_exists(image_id):
                raise PublishError(f"#{image_id} is an invalid image ID; the demo store changed nothing.")

    def _save(self, product_id: str, variation_id: str, ids: list[str]) -> None:
        with self.runtime.db.transaction() as s:
            row = s.exec(
                select(DemoImageList).where(
                    DemoImageList.product_id == product_id, DemoImageList.variation_id == variation_id
                )
            ).first()
            if row is None:
                row = DemoImageList(product_id=product_id, variation_id=variation_id)
            row.image_ids = list(ids)
            row.updated_at = utcnow()
            s.add(row)


def _free_filename(session: Any, filename: str) -> str:
    """WordPress-style: a taken file name gets -1, -2, ... before its extension."""
    stem, dot, ext = filename.rpartition(".")
    if not dot:
        stem, ext = filename, ""
    taken = {r for r in session.exec(select(DemoMedia.filename).where(col(DemoMedia.filename).startswith(stem))).all()}
    if filename not in taken:
        return filename
    n = 1
    while True:
        candidate = f"{stem}-{n}{dot}{ext}"
        if candidate not in taken:
            return candidate
        n += 1


def _mime_for(name: str) -> str:
    lower = name.lower()
    if lower.endswith(".png"):
        return "image/png"
    if lower.endswith(".webp"):
        return "image/webp"
    return "image/jpeg"


def open_source(runtime: Any, connection: Any = None) -> DemoSource:
    return DemoSource(runtime)


def open_target(runtime: Any, connection: Any = None) -> DemoStore:
    return DemoStore(runtime)


__all__ = ["CATALOGUE", "CATEGORIES", "DemoItem", "DemoSource", "DemoStore", "KINDS", "open_source", "open_target"]
