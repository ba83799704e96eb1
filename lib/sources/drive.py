"""Google Drive as a product source: folders (or single photos) become products.

Two modes, chosen per connection:
- "folders": every folder under the root that directly holds photos is a product (folder name -> product name,
  "SKU - Name" parsed); its photos, sorted by name, are the product's images (the first one is featured). A
  folder's parent folder, below the root, is its category.
- "images": every photo under the root is a product (file name without extension -> name, same SKU parsing);
  the folder it sits in is its category.
The tree is walked breadth-first (Drive has no recursive query), several parents per query, 1000 per page.
The walk is cached for a short while per connection and root so paging the Products screen stays cheap.
Folders and files that ImageGecko exported (appProperties `imagegecko_*`) are never read back as products.
"""

from __future__ import annotations

import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib import images
from lib.connections import mark_verified
from lib.display_text import clean
from lib.errors import AppError, ImageError, ImageTooLarge, ImageUnreadable, InputError, SourceNotFound
from lib.models import Connection
from lib.sources.base import Product, ProductPage, ProductQuery, SourceImage
from lib.sources.drive_client import FOLDER_MIME, IMAGE_MIMES, DriveClient, escape
from lib.sources.drive_connect import (  # re-exported: pages and the CLI import them from here
    EXPORT_MARKER,
    GENERATED_ROLE,
    MODES,
    SHARED_WITH_ME,
    DriveSettings,
    Folder,
    breadcrumbs,
    client_for,
    corpus_for,
    folder_id_from,
    is_generated,
    list_folders,
    list_shared_drives,
    save_drive,
    with_settings,
)

if TYPE_CHECKING:
    from lib.runtime import Runtime

__all__ = [
    "EXPORT_MARKER",
    "GENERATED_ROLE",
    "MODES",
    "SHARED_WITH_ME",
    "DriveSettings",
    "DriveSource",
    "Folder",
    "breadcrumbs",
    "client_for",
    "folder_id_from",
    "list_folders",
    "list_shared_drives",
    "open_source",
    "parse_name",
    "save_drive",
    "test_connection",
    "with_settings",
]

LISTING_TTL_SECONDS = 120.0
MAX_DEPTH = 6  # folder levels walked below the root
PARENTS_PER_QUERY = 20  # "'a' in parents or 'b' in parents ...": fewer calls, but short of "query too complex"
ENTRY_FIELDS = "id,name,mimeType,parents,size,md5Checksum,modifiedTime,appProperties,driveId,thumbnailLink"
PHOTO_FIELDS = "id,name,mimeType,size,md5Checksum,trashed,thumbnailLink"
THUMBNAIL_MAX_BYTES = 2 << 20
THUMBNAIL_REST_SECONDS = 600.0  # when even a fresh thumbnailLink fails, previews download photos for a while
INDEX_KEY = re.compile(r"[0-9a-f]{32}(-\d{1,4})?")  # an md5, optionally "-<side>"
# "SKU - Name": the SKU is one token with a digit (GK-MUG-001, 4711) or upper-case words joined by - _ . (WCR-MUG-RED);
# "Mug - Large" stays a name.
SKU_NAME = re.compile(
    r"^\s*(?P<sku>(?=\S*\d)[A-Za-z0-9][A-Za-z0-9._/#-]{0,63}|[A-Z0-9]+(?:[-_.][A-Z0-9]+)+)"
    r"\s+[-–—|]\s+(?P<name>\S.*?)\s*$"
)


def parse_name(text: str) -> tuple[str, str]:
    """'GK-MUG-001 - Marble mug' -> ('GK-MUG-001', 'Marble mug'); names without a SKU stay whole."""
    text = clean(text)  # a Drive name's NULs and bidi controls are never stored
    m = SKU_NAME.match(text)
    if m:
        return m.group("sku"), m.group("name")
    return "", text.strip()


def stem(filename: str) -> str:
    base, dot, ext = filename.rpartition(".")
    return base if dot and base and 1 <= len(ext) <= 5 and " " not in ext else filename


def test_connection(runtime: Runtime, connection: Connection) -> str:
    """List the chosen root folder; a plain sentence on success, a typed error with the fix otherwise."""
    assert connection.id is not None
    try:
        client = client_for(runtime, connection)
        cfg = DriveSettings.of(connection)
        root = client.get(cfg.root_folder_id, "id,name,mimeType,driveId,trashed", "the chosen folder")
        if root.get("mimeType") != FOLDER_MIME:
            raise InputError(f"“{root.get('name')}” is a file, not a folder. Choose the folder that holds the photos.")
        if root.get("trashed"):
            raise SourceNotFound(
                f"The folder “{root.get('name')}” is in the Drive trash. Restore it, or choose another folder."
            )
        corpus = corpus_for(cfg, root)
        q = (
            f"'{escape(root['id'])}' in parents and trashed = false and "
            f"(mimeType = '{FOLDER_MIME}' or mimeType contains 'image/')"
        )
        folders = images = 0
        for item in client.list_all(q, "id,mimeType", **corpus):
            if item.get("mimeType") == FOLDER_MIME:
                folders += 1
            elif item.get("mimeType") in IMAGE_MIMES:
                images += 1
    except AppError as exc:
        mark_verified(runtime.db, connection.id, exc.message)
        raise
    _forget_listing(runtime, connection)
    mark_verified(runtime.db, connection.id, None)
    try:  # the e-mail Drive knows this account by (user credentials files do not say)
        about = client.call(client.service.about().get(fields="user(emailAddress)"))
        who = about.get("user", {}).get("emailAddress") or client.creds.account
    except AppError:
        who = client.creds.account
    where = f"“{root.get('name', cfg.root_folder_id)}”"
    return f"Connected as {who}. {where} holds {_plural(folders, 'folder')} and {_plural(images, 'photo')}."


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


# The source ------------------------------------------------------------------------------------------------


@dataclass
class _Listing:
    products: list[Product]
    by_id: dict[str, Product]
    files: dict[str, dict[str, Any]]  # image id -> Drive metadata (md5 for the preview cache)
    root_name: str
    made_at: float = field(default_factory=time.monotonic)


_LISTINGS: dict[tuple[Any, ...], _Listing] = {}
_LISTINGS_LOCK = threading.Lock()
_THUMBNAILS_FAILED: dict[tuple[Any, ...], float] = {}  # listing key -> when a fresh thumbnailLink last failed


def _listing_key(runtime: Runtime, conn: Connection) -> tuple[Any, ...]:
    cfg = DriveSettings.of(conn)
    return (runtime.settings.db_url, conn.id, cfg.root_folder_id, cfg.mode, cfg.shared_drive_id)


def _forget_listing(runtime: Runtime, conn: Connection) -> None:
    with _LISTINGS_LOCK:
        _LISTINGS.pop(_listing_key(runtime, conn), None)


class DriveSource:
    kind = "drive"

    def __init__(self, runtime: Runtime, connection: Connection) -> None:
        self.runtime = runtime
        self.connection = connection
        self.cfg = DriveSettings.of(connection)
        self._local = threading.local()

    @property
    def client(self) -> DriveClient:
        """This thread's client: httplib2 is not thread-safe, and the screens fetch previews in parallel."""
        client: DriveClient | None = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = client_for(self.runtime, self.connection)
        return client

    # Listing
    def refresh(self) -> None:
        """Forget the cached walk (the page's "Refresh" button)."""
        _forget_listing(self.runtime, self.connection)

    def _listing(self) -> _Listing:
        cached = self._fresh_listing()
        if cached is not None:
            return cached
        listing = self._walk()
        with _LISTINGS_LOCK:
            _LISTINGS[_listing_key(self.runtime, self.connection)] = listing
        return listing

    def _walk(self) -> _Listing:
        client = self.client
        root = client.get(self.cfg.root_folder_id, "id,name,mimeType,driveId", "the chosen Drive folder")
        if root.get("mimeType") != FOLDER_MIME:
            raise InputError(
                f"“{root.get('name')}” is a file, not a folder. Choose another folder on the Connect page."
            )
        corpus = corpus_for(self.cfg, root)
        folders: dict[str, dict[str, Any]] = {root["id"]: root}
        images: dict[str, list[dict[str, Any]]] = {}  # folder id -> photos directly inside
        level, depth = [root["id"]], 0
        while level and depth < MAX_DEPTH:
            next_level: list[str] = []
            for i in range(0, len(level), PARENTS_PER_QUERY):
                batch = level[i : i + PARENTS_PER_QUERY]
                parents = " or ".join(f"'{escape(pid)}' in parents" for pid in batch)
                q = f"({parents}) and trashed = false and (mimeType = '{FOLDER_MIME}' or mimeType contains 'image/')"
                for item in client.list_all(q, ENTRY_FIELDS, **corpus):
                    if is_generated(item):
                        continue
                    parent = next((p for p in item.get("parents", []) if p in batch), None)
                    if parent is None:
                        continue
                    if item.get("mimeType") == FOLDER_MIME:
                        if item["id"] not in folders:
                            folders[item["id"]] = item
                            next_level.append(item["id"])
                    elif item.get("mimeType") in IMAGE_MIMES:
                        images.setdefault(parent, []).append(item)
            level, depth = next_level, depth + 1
        return self._products(root, folders, images)

    def _products(
        self, root: dict[str, Any], folders: dict[str, dict[str, Any]], images: dict[str, list[dict[str, Any]]]
    ) -> _Listing:
        def path(folder_id: str) -> tuple[str, ...]:
            names: list[str] = []
            node = folders.get(folder_id)
            while node is not None and node["id"] != root["id"]:
                names.append(node["name"])
                parents = node.get("parents") or []
                node = folders.get(parents[0]) if parents else None
            return tuple(reversed(names))

        products: list[Product] = []
        files: dict[str, dict[str, Any]] = {}
        for folder_id, photos in images.items():
            photos.sort(key=lambda f: (f["name"].lower(), f["id"]))
            for f in photos:
                files[f["id"]] = f
            where = path(folder_id)
            if self.cfg.mode == "folders":
                if folder_id == root["id"]:
                    continue  # loose photos in the root belong to no product folder
                sku, name = parse_name(folders[folder_id]["name"])
                products.append(
                    Product(
                        id=folder_id,
                        name=name,
                        sku=sku,
                        category=where[-2] if len(where) > 1 else "",
                        categories=where[:-1],
                        images=tuple(_image(f) for f in photos),
                    )
                )
            else:
                for f in photos:
                    sku, name = parse_name(stem(f["name"]))
                    products.append(
                        Product(
                            id=f["id"],
                            name=name,
                            sku=sku,
                            category=where[-1] if where else "",
                            categories=where,
                            images=(_image(f),),
                        )
                    )
        products.sort(key=lambda p: (p.category.lower(), p.name.lower(), p.id))
        return _Listing(products, {p.id: p for p in products}, files, str(root.get("name", "")))

    # ProductSource
    def list_products(self, query: ProductQuery) -> ProductPage:
        items = self._listing().products
        if query.ids:
            wanted = set(query.ids)
            items = [p for p in items if p.id in wanted]
        if query.search.strip():
            needle = query.search.strip().lower()
            items = [p for p in items if needle in p.name.lower() or needle in p.sku.lower()]
        if query.category:
            items = [p for p in items if query.category in (p.category, *p.categories)]
        per_page = max(1, query.per_page)
        page = max(1, query.page)
        start = (page - 1) * per_page
        return ProductPage(items=items[start : start + per_page], total=len(items), page=page, per_page=per_page)

    def categories(self) -> list[str]:
        return sorted({p.category for p in self._listing().products if p.category}, key=str.lower)

    def get_product(self, product_id: str) -> Product:
        product = self._listing().by_id.get(product_id)
        if product is not None:
            return product
        meta = self.client.get(product_id, "id,name,mimeType,trashed,parents,md5Checksum,size", "that product")
        if meta.get("trashed"):
            raise SourceNotFound(f"“{meta.get('name')}” is in the Drive trash.")
        if meta.get("mimeType") in IMAGE_MIMES:
            sku, name = parse_name(stem(meta["name"]))
            return Product(id=meta["id"], name=name, sku=sku, images=(_image(meta),))
        if meta.get("mimeType") == FOLDER_MIME:
            q = f"'{escape(meta['id'])}' in parents and trashed = false and mimeType contains 'image/'"
            photos = sorted(
                (
                    f
                    for f in self.client.list_all(q, ENTRY_FIELDS, **corpus_for(self.cfg, meta))
                    if f.get("mimeType") in IMAGE_MIMES and not is_generated(f)
                ),
                key=lambda f: (f["name"].lower(), f["id"]),
            )
            sku, name = parse_name(meta["name"])
            return Product(id=meta["id"], name=name, sku=sku, images=tuple(_image(f) for f in photos))
        raise SourceNotFound(f"“{meta.get('name')}” is neither a photo nor a folder.")

    def _photo(self, image: SourceImage) -> dict[str, Any]:
        """The photo's Drive metadata: from the cached walk when it is fresh, else asked for."""
        listing = self._fresh_listing()
        meta = listing.files.get(image.ref) if listing is not None else None
        if meta is None:
            meta = self.client.get(image.ref, PHOTO_FIELDS, f"the photo {image.name}")
        return meta

    def fetch_image(self, image: SourceImage) -> bytes:
        """The photo's bytes: from the local cache when Drive's md5 says it is unchanged, else downloaded."""
        limit = self.runtime.settings.max_image_bytes
        meta = self._photo(image)
        name = self._readable(image, meta)
        cached = self._cached(meta.get("md5Checksum"))
        if cached is not None:
            return cached
        data = self.client.download(meta["id"], max_bytes=limit, name=name)
        images.check_for(self.runtime.settings, data, min_side=1)  # before it is cached: a bomb is never stored
        self._remember(meta.get("md5Checksum"), data)
        return data

    def _readable(self, image: SourceImage, meta: dict[str, Any]) -> str:
        """The photo's name; raises the error that says why it cannot be used (trashed, not a photo, too big)."""
        limit = self.runtime.settings.max_image_bytes
        name = str(meta.get("name") or image.name or image.ref)
        if meta.get("trashed"):
            raise SourceNotFound(f"The photo “{name}” is in the Drive trash. Restore it, or pick another product.")
        if meta.get("mimeType") not in IMAGE_MIMES:
            raise ImageUnreadable(
                f"“{name}” is not a photo we can read ({meta.get('mimeType')}). Use JPEG, PNG or WebP."
            )
        if int(meta.get("size") or 0) > limit:
            raise ImageTooLarge(
                f"“{name}” is larger than {limit // (1 << 20)} MB, the limit for one photo. Export a "
                "smaller version to Drive."
            )
        return name

    def preview(self, image: SourceImage, side: int = 384) -> bytes:
        """A JPEG whose long side is at most `side`, for the screens. Made from Drive's own thumbnail (a small
        download) unless the photo itself is already here; the photo is downloaded only when Drive has no
        thumbnail. Kept per content (md5) and side, so a photo changed in Drive gets a new preview."""
        blobs = self.runtime.blobs
        meta = self._photo(image)
        self._readable(image, meta)
        md5 = meta.get("md5Checksum")
        key = f"{md5}-{side}" if md5 else None
        sha = self._lookup("drive-preview", key)
        if sha is not None:
            return blobs.thumbnail(sha, side)
        whole = self._cached(md5)
        small = None if whole is not None else self._drive_thumbnail(image, meta, side)
        if small is not None:
            try:
                images.check_for(self.runtime.settings, small, min_side=1)
                sha = blobs.put(small)
                thumb = blobs.thumbnail(sha, side)
            except ImageError:
                small = None
        if small is None or sha is None:
            sha = blobs.put(whole if whole is not None else self.fetch_image(image))
            thumb = blobs.thumbnail(sha, side)
        self._store("drive-preview", key, sha)
        return thumb

    def _drive_thumbnail(self, image: SourceImage, meta: dict[str, Any], side: int) -> bytes | None:
        link = meta.get("thumbnailLink")
        key = _listing_key(self.runtime, self.connection)
        failed_at = _THUMBNAILS_FAILED.get(key)
        if not link or (failed_at is not None and time.monotonic() - failed_at < THUMBNAIL_REST_SECONDS):
            return None
        data = self.client.thumbnail(link, side=side, max_bytes=THUMBNAIL_MAX_BYTES)
        if data is None:  # the link expired (they last hours): ask Drive for a fresh one, once
            fresh = self.client.get(image.ref, "id,thumbnailLink", f"the photo {image.name}").get("thumbnailLink")
            if fresh and fresh != link:
                data = self.client.thumbnail(fresh, side=side, max_bytes=THUMBNAIL_MAX_BYTES)
            if data is None:  # not the link's age: stop paying three calls per preview for a while
                _THUMBNAILS_FAILED[key] = time.monotonic()
        return data

    def _fresh_listing(self) -> _Listing | None:
        with _LISTINGS_LOCK:
            cached = _LISTINGS.get(_listing_key(self.runtime, self.connection))
        if cached is not None and time.monotonic() - cached.made_at < LISTING_TTL_SECONDS:
            return cached
        return None

    # Small indexes beside the blob store: Drive's md5 of a photo -> sha256 of the stored photo ("drive-md5"),
    # md5 and side -> sha256 of the picture its preview is made from ("drive-preview").
    def _index_path(self, index: str, key: str) -> Path:
        return self.runtime.settings.home / "cache" / index / key[:2] / key

    def _lookup(self, index: str, key: str | None) -> str | None:
        if not key or not INDEX_KEY.fullmatch(key):
            return None
        try:
            sha = self._index_path(index, key).read_text().strip()
        except OSError:
            return None
        return sha if self.runtime.blobs.exists(sha) else None

    def _store(self, index: str, key: str | None, sha: str) -> None:
        if not key or not INDEX_KEY.fullmatch(key):
            return
        target = self._index_path(index, key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "w") as fh:
                fh.write(sha)
            os.replace(tmp, target)
        except OSError:
            pass  # only a cache

    def _cached(self, md5: str | None) -> bytes | None:
        sha = self._lookup("drive-md5", md5)
        try:
            return self.runtime.blobs.get(sha) if sha is not None else None
        except AppError:
            return None

    def _remember(self, md5: str | None, data: bytes) -> None:
        self._store("drive-md5", md5, self.runtime.blobs.put(data))


def _image(meta: dict[str, Any]) -> SourceImage:
    return SourceImage(ref=meta["id"], name=meta.get("name", ""), id=meta["id"], mime=meta.get("mimeType"))


def open_source(runtime: Runtime, connection: Connection | None) -> DriveSource:
    if connection is None:
        raise InputError("No Google Drive connection is set up. Add one on the Connect page.")
    return DriveSource(runtime, connection)
