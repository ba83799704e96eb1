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
from urllib.parse import urlsplit

from lib import events
from lib.connections import mark_verified, read_secret, save_connection
from lib.errors import AppError, ImageTooLarge, ImageUnreadable, InputError, SourceNotFound
from lib.models import Connection
from lib.sources.base import Product, ProductPage, ProductQuery, SourceImage
from lib.sources.drive_client import (
    FOLDER_MIME,
    IMAGE_MIMES,
    DriveClient,
    DriveCredentials,
    escape,
    parse_credentials,
)

if TYPE_CHECKING:
    from lib.runtime import Runtime

MODES = ("folders", "images")
LISTING_TTL_SECONDS = 120.0
MAX_DEPTH = 6  # folder levels walked below the root
PARENTS_PER_QUERY = 20  # "'a' in parents or 'b' in parents ...": fewer calls, but short of "query too complex"
ENTRY_FIELDS = "id,name,mimeType,parents,size,md5Checksum,modifiedTime,appProperties,driveId"
# "SKU - Name": the SKU is one token with a digit (GK-MUG-001, 4711) or upper-case words joined by - _ . (WCR-MUG-RED);
# "Mug - Large" stays a name.
SKU_NAME = re.compile(r"^\s*(?P<sku>(?=\S*\d)[A-Za-z0-9][A-Za-z0-9._/#-]{0,63}|[A-Z0-9]+(?:[-_.][A-Z0-9]+)+)"
                      r"\s+[-–—|]\s+(?P<name>\S.*?)\s*$")
GENERATED_ROLE = ("imagegecko_role", "generated")
EXPORT_MARKER = "imagegecko_asset"


def parse_name(text: str) -> tuple[str, str]:
    """'GK-MUG-001 - Marble mug' -> ('GK-MUG-001', 'Marble mug'); names without a SKU stay whole."""
    m = SKU_NAME.match(text)
    if m:
        return m.group("sku"), m.group("name")
    return "", text.strip()


def stem(filename: str) -> str:
    base, dot, ext = filename.rpartition(".")
    return base if dot and base and 1 <= len(ext) <= 5 and " " not in ext else filename


def folder_id_from(value: str) -> str:
    """Accepts a bare folder id or a Drive folder URL (https://drive.google.com/drive/folders/<id>?usp=...)."""
    value = value.strip()
    if value.startswith(("http://", "https://")):
        parts = urlsplit(value)
        m = re.search(r"/folders/([A-Za-z0-9_-]+)", parts.path) or re.search(r"[?&]id=([A-Za-z0-9_-]+)", value)
        if not m:
            raise InputError("That link is not a Drive folder link. Open the folder in Drive and copy its address.")
        return m.group(1)
    if value and not re.fullmatch(r"[A-Za-z0-9_-]+", value):
        raise InputError("That is not a Drive folder id (letters, digits, - and _ only).")
    return value or "root"


@dataclass(frozen=True)
class Folder:
    id: str
    name: str
    drive_id: str | None = None


@dataclass(frozen=True)
class DriveSettings:
    root_folder_id: str
    mode: str
    shared_drive_id: str | None = None

    @classmethod
    def of(cls, conn: Connection) -> DriveSettings:
        s = conn.settings or {}
        return cls(str(s.get("root_folder_id") or "root"), str(s.get("mode") or "folders"),
                   s.get("shared_drive_id") or None)


# Connection management -------------------------------------------------------------------------------------

def save_drive(runtime: Runtime, *, credentials_json: str, root_folder_id: str, mode: str, name: str | None = None,
               shared_drive_id: str | None = None, connection_id: int | None = None) -> Connection:
    """Validate and save a Drive connection (the credentials encrypted). Nothing is saved when input is bad."""
    creds = parse_credentials(credentials_json)
    if mode not in MODES:
        raise InputError("Choose how photos become products: one product per folder, or one per photo.")
    root = folder_id_from(root_folder_id)
    if creds.type == "service_account" and root == "root":
        raise InputError("Give the id of a folder shared with the service account ("
                         f"{creds.account}): a service account has no My Drive of its own to browse.")
    settings: dict[str, Any] = {"root_folder_id": root, "mode": mode}
    if shared_drive_id:
        settings["shared_drive_id"] = folder_id_from(shared_drive_id)
    if creds.type == "service_account":
        settings["account"] = creds.account  # shown on the page ("share the folder with ...")
    label = (name or "").strip() or f"Google Drive ({creds.account})"
    return save_connection(runtime.db, runtime.vault, kind="drive", name=label,
                           secret={"credentials_json": credentials_json, "type": creds.type},
                           settings=settings, connection_id=connection_id)


def connection_credentials(runtime: Runtime, conn: Connection) -> DriveCredentials:
    secret = read_secret(runtime.vault, conn)
    if not secret.get("credentials_json"):
        raise InputError("This Drive connection has no credentials. Upload them again on the Connect page.")
    return parse_credentials(secret["credentials_json"])


def client_for(runtime: Runtime, conn: Connection, *, job_id: int | None = None) -> DriveClient:
    """A fresh client (one per thread of work) that records each request in the job log."""
    def sink(method: str, url: str, status: int | None, ms: float, error: str | None) -> None:
        try:
            with runtime.db.transaction() as s:
                events.record(s, "request", error or f"drive {method}", job_id=job_id, service="drive",
                              method=method, url=url, status_code=status, duration_ms=round(ms, 1))
        except Exception:  # the request log must never break the request itself
            pass

    return DriveClient(runtime.settings, connection_credentials(runtime, conn), sink)


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
            raise SourceNotFound(f"The folder “{root.get('name')}” is in the Drive trash. Restore it, or choose "
                                 "another folder.")
        corpus = _corpus(cfg, root)
        q = (f"'{escape(root['id'])}' in parents and trashed = false and "
             f"(mimeType = '{FOLDER_MIME}' or mimeType contains 'image/')")
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


def _corpus(cfg: DriveSettings, root: dict[str, Any]) -> dict[str, Any]:
    """Items in a shared drive are only listed with corpora=drive and its driveId."""
    drive_id = cfg.shared_drive_id or root.get("driveId")
    return {"corpora": "drive", "driveId": drive_id} if drive_id else {"corpora": "user"}


# Folder picker -----------------------------------------------------------------------------------------------

SHARED_WITH_ME = "shared-with-me"


def list_folders(runtime: Runtime, connection: Connection, parent_id: str) -> list[Folder]:
    """The folders directly inside `parent_id` ("root" = My Drive, a shared drive's id, or SHARED_WITH_ME = the
    folders others shared with this account: where a service account starts), by name."""
    client = client_for(runtime, connection)
    if parent_id == SHARED_WITH_ME:
        q = f"sharedWithMe = true and mimeType = '{FOLDER_MIME}' and trashed = false"
        shared = [Folder(f["id"], f["name"], f.get("driveId")) for f in client.list_all(q, "id,name,driveId")]
        return sorted(shared, key=lambda f: f.name.lower())
    parent = client.get(folder_id_from(parent_id), "id,name,driveId", "that folder")
    corpus = _corpus(DriveSettings("", "folders"), parent)
    q = f"'{escape(parent['id'])}' in parents and mimeType = '{FOLDER_MIME}' and trashed = false"
    out = [Folder(f["id"], f["name"], f.get("driveId")) for f in client.list_all(q, "id,name,driveId,appProperties",
                                                                                  orderBy="name", **corpus)
           if not _is_generated(f)]
    return sorted(out, key=lambda f: f.name.lower())


def list_shared_drives(runtime: Runtime, connection: Connection) -> list[Folder]:
    client = client_for(runtime, connection)
    out: list[Folder] = []
    token: str | None = None
    while True:
        resp = client.call(client.service.drives().list(pageSize=100, pageToken=token, fields="nextPageToken, drives"
                                                                                             "(id,name)"))
        out += [Folder(d["id"], d["name"], d["id"]) for d in resp.get("drives", [])]
        token = resp.get("nextPageToken")
        if not token:
            return out


def breadcrumbs(runtime: Runtime, connection: Connection, folder_id: str) -> list[Folder]:
    """From the top-most folder this account can see down to `folder_id` (inclusive)."""
    client = client_for(runtime, connection)
    trail: list[Folder] = []
    current: str | None = folder_id_from(folder_id)
    while current and len(trail) < 32:
        try:
            meta = client.get(current, "id,name,parents,driveId", "that folder")
        except SourceNotFound:
            if not trail:
                raise
            break  # the parent is not shared with us: the trail starts at the first folder we can see
        name = meta.get("name", "")
        if meta.get("driveId") and meta["id"] == meta["driveId"]:
            try:
                name = client.call(client.service.drives().get(driveId=meta["id"], fields="name"))["name"]
            except AppError:
                pass
        trail.append(Folder(meta["id"], name, meta.get("driveId")))
        parents = meta.get("parents") or []
        current = parents[0] if parents else None
    return list(reversed(trail))


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


def _listing_key(runtime: Runtime, conn: Connection) -> tuple[Any, ...]:
    cfg = DriveSettings.of(conn)
    return (runtime.settings.db_url, conn.id, cfg.root_folder_id, cfg.mode, cfg.shared_drive_id)


def _forget_listing(runtime: Runtime, conn: Connection) -> None:
    with _LISTINGS_LOCK:
        _LISTINGS.pop(_listing_key(runtime, conn), None)


def _is_generated(item: dict[str, Any]) -> bool:
    props = item.get("appProperties") or {}
    return props.get(GENERATED_ROLE[0]) == GENERATED_ROLE[1] or EXPORT_MARKER in props


class DriveSource:
    kind = "drive"

    def __init__(self, runtime: Runtime, connection: Connection) -> None:
        self.runtime = runtime
        self.connection = connection
        self.cfg = DriveSettings.of(connection)
        self._client: DriveClient | None = None

    @property
    def client(self) -> DriveClient:
        if self._client is None:
            self._client = client_for(self.runtime, self.connection)
        return self._client

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
            raise InputError(f"“{root.get('name')}” is a file, not a folder. Choose another folder on the Connect "
                             "page.")
        corpus = _corpus(self.cfg, root)
        folders: dict[str, dict[str, Any]] = {root["id"]: root}
        images: dict[str, list[dict[str, Any]]] = {}  # folder id -> photos directly inside
        level, depth = [root["id"]], 0
        while level and depth < MAX_DEPTH:
            next_level: list[str] = []
            for i in range(0, len(level), PARENTS_PER_QUERY):
                batch = level[i:i + PARENTS_PER_QUERY]
                parents = " or ".join(f"'{escape(pid)}' in parents" for pid in batch)
                q = (f"({parents}) and trashed = false and "
                     f"(mimeType = '{FOLDER_MIME}' or mimeType contains 'image/')")
                for item in client.list_all(q, ENTRY_FIELDS, **corpus):
                    if _is_generated(item):
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

    def _products(self, root: dict[str, Any], folders: dict[str, dict[str, Any]],
                  images: dict[str, list[dict[str, Any]]]) -> _Listing:
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
                products.append(Product(id=folder_id, name=name, sku=sku, category=where[-2] if len(where) > 1 else "",
                                        categories=where[:-1], images=tuple(_image(f) for f in photos)))
            else:
                for f in photos:
                    sku, name = parse_name(stem(f["name"]))
                    products.append(Product(id=f["id"], name=name, sku=sku, category=where[-1] if where else "",
                                            categories=where, images=(_image(f),)))
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
        return ProductPage(items=items[start:start + per_page], total=len(items), page=page, per_page=per_page)

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
            photos = sorted((f for f in self.client.list_all(q, ENTRY_FIELDS, **_corpus(self.cfg, meta))
                             if f.get("mimeType") in IMAGE_MIMES and not _is_generated(f)),
                            key=lambda f: (f["name"].lower(), f["id"]))
            sku, name = parse_name(meta["name"])
            return Product(id=meta["id"], name=name, sku=sku, images=tuple(_image(f) for f in photos))
        raise SourceNotFound(f"“{meta.get('name')}” is neither a photo nor a folder.")

    def fetch_image(self, image: SourceImage) -> bytes:
        """The photo's bytes: from the local cache when Drive's md5 says it is unchanged, else downloaded."""
        limit = self.runtime.settings.max_image_bytes
        listing = self._fresh_listing()
        meta = listing.files.get(image.ref) if listing is not None else None  # the walk already has the metadata
        if meta is None:
            meta = self.client.get(image.ref, "id,name,mimeType,size,md5Checksum,trashed", f"the photo {image.name}")
        name = meta.get("name") or image.name or image.ref
        if meta.get("trashed"):
            raise SourceNotFound(f"The photo “{name}” is in the Drive trash. Restore it, or pick another product.")
        if meta.get("mimeType") not in IMAGE_MIMES:
            raise ImageUnreadable(f"“{name}” is not a photo we can read ({meta.get('mimeType')}). Use JPEG, PNG or "
                                  "WebP.")
        if int(meta.get("size") or 0) > limit:
            raise ImageTooLarge(f"“{name}” is larger than {limit // (1 << 20)} MB, the limit for one photo. Export a "
                                "smaller version to Drive.")
        cached = self._cached(meta.get("md5Checksum"))
        if cached is not None:
            return cached
        data = self.client.download(meta["id"], max_bytes=limit, name=name)
        self._remember(meta.get("md5Checksum"), data)
        return data

    def preview(self, image: SourceImage, side: int = 384) -> bytes:
        """A JPEG thumbnail, made from a download cached in the blob store (thumbnailLink expires and needs auth)."""
        return self.runtime.blobs.thumbnail(self.runtime.blobs.put(self.fetch_image(image)), side)

    def _fresh_listing(self) -> _Listing | None:
        with _LISTINGS_LOCK:
            cached = _LISTINGS.get(_listing_key(self.runtime, self.connection))
        if cached is not None and time.monotonic() - cached.made_at < LISTING_TTL_SECONDS:
            return cached
        return None

    # md5 -> sha256 index beside the blob store, so a photo Drive says is unchanged is not downloaded again.
    def _index_path(self, md5: str) -> Path:
        return self.runtime.settings.home / "cache" / "drive-md5" / md5[:2] / md5

    def _cached(self, md5: str | None) -> bytes | None:
        if not md5 or not re.fullmatch(r"[0-9a-f]{32}", md5):
            return None
        try:
            sha = self._index_path(md5).read_text().strip()
            return self.runtime.blobs.get(sha) if self.runtime.blobs.exists(sha) else None
        except (OSError, AppError):
            return None

    def _remember(self, md5: str | None, data: bytes) -> None:
        sha = self.runtime.blobs.put(data)
        if not md5 or not re.fullmatch(r"[0-9a-f]{32}", md5):
            return
        target = self._index_path(md5)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            with os.fdopen(fd, "w") as fh:
                fh.write(sha)
            os.replace(tmp, target)
        except OSError:
            pass  # only a cache


def _image(meta: dict[str, Any]) -> SourceImage:
    return SourceImage(ref=meta["id"], name=meta.get("name", ""), id=meta["id"], mime=meta.get("mimeType"))


def open_source(runtime: Runtime, connection: Connection | None) -> DriveSource:
    if connection is None:
        raise InputError("No Google Drive connection is set up. Add one on the Connect page.")
    return DriveSource(runtime, connection)


def with_settings(conn: Connection, **changes: Any) -> Connection:
    """An unsaved copy of the connection with other settings (e.g. browse another root before saving it)."""
    data = conn.model_dump()
    data["settings"] = {**(conn.settings or {}), **changes}
    return Connection(**data)
