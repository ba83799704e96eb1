"""Approved images back to Google Drive.

Each approved generated asset of a job becomes one file: in a `generated` folder beside the original photo (made
once, found again by name and appProperties) or in a folder the merchant chose. Files are named by SKU (or product
name), style and variant: `GK-MUG-001_marble_counter_v1.jpg`.

Exports are idempotent: every file carries appProperties {"imagegecko_asset": <asset id>, "imagegecko_sha": <sha256>},
and before uploading we look for the file a previous (maybe interrupted) run made. A retry therefore finds the
file instead of creating a second one.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from lib import events
from lib.connections import active_connection, get_connection
from lib.errors import InputError, JobError, SourceNotFound
from lib.models import Asset, AssetKind, Connection, Job, JobItem, ReviewState
from lib.sources.drive_client import FOLDER_MIME, DriveClient, escape
from lib.sources.drive_connect import EXPORT_MARKER, GENERATED_ROLE, client_for

if TYPE_CHECKING:
    from lib.runtime import Runtime

GENERATED_FOLDER = "generated"
SHA_KEY = "imagegecko_sha"
JOB_KEY = "imagegecko_job"
EXTENSIONS = {"image/jpeg": ".jpg", "image/webp": ".webp", "image/png": ".png"}
_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')
# One export at a time per parent folder, so two exports in one process never make two `generated` folders.
_FOLDER_LOCK = threading.Lock()


@dataclass(frozen=True)
class ExportResult:
    asset_id: int
    file_id: str
    name: str
    folder_id: str
    created: bool  # False: a file from an earlier export of this asset was found and kept
    web_view_link: str | None = None


def export_name(
    product: dict[str, Any], style: str, variant_index: int, mime: str, variation_id: str | None = None
) -> str:
    """`<SKU or product name>_<style>_v<n>.<ext>`, safe as a file name on any system."""
    base = ""
    if variation_id is not None:
        variation = next((v for v in product.get("variations", ()) if str(v.get("id")) == variation_id), None)
        base = (variation or {}).get("sku") or ""
    base = base or product.get("sku") or product.get("name") or f"product-{product.get('id', '')}"
    safe = "-".join(_UNSAFE.sub(" ", str(base)).split()).strip(".-") or "product"
    style = "-".join(_UNSAFE.sub(" ", style or "image").split())
    return f"{safe[:80]}_{style}_v{variant_index + 1}{EXTENSIONS.get(mime, '.jpg')}"


def _drive_connection(runtime: Runtime, job: Job, connection_id: int | None) -> Connection:
    if connection_id is not None:
        conn = get_connection(runtime.db, connection_id)
    elif job.source_kind == "drive" and job.connection_id:
        conn = get_connection(runtime.db, job.connection_id)
    else:
        conn = active_connection(runtime.db, "drive")  # type: ignore[assignment]
    if conn is None or conn.kind != "drive":
        raise InputError("No Google Drive connection is set up. Add one on the Connect page.")
    return conn


def approved_images(runtime: Runtime, job_id: int) -> tuple[Job, list[Asset], dict[int | None, JobItem]]:
    """The job, its approved generated images (oldest first) and their items by id, read in one session."""
    with runtime.db.session() as s:
        job = s.get(Job, job_id)
        if job is None:
            raise JobError(f"Job {job_id} does not exist.")
        assets = list(
            s.exec(
                select(Asset)
                .where(
                    Asset.job_id == job_id,
                    Asset.kind == AssetKind.GENERATED,
                    Asset.review_state == ReviewState.APPROVED,
                )
                .order_by(col(Asset.id))
            ).all()
        )
        item_ids = [a.item_id for a in assets if a.item_id is not None]
        items = {i.id: i for i in s.exec(select(JobItem).where(col(JobItem.id).in_(item_ids))).all()}
    return job, assets, items


def export_approved(
    runtime: Runtime,
    job_id: int,
    *,
    folder_id: str | None = None,
    connection_id: int | None = None,
    asset_ids: list[int] | None = None,
) -> list[ExportResult]:
    """Upload the job's approved images (or those of them in `asset_ids`) to Drive (see module docstring). Safe to
    run again after any failure."""
    job, assets, items = approved_images(runtime, job_id)
    if asset_ids is not None:
        assets = [a for a in assets if a.id in set(asset_ids)]
    if not folder_id and job.source_kind != "drive":
        raise InputError("These photos did not come from Drive: choose the Drive folder to export them to.")
    if not assets:
        return []
    conn = _drive_connection(runtime, job, connection_id)
    exporter = _Exporter(runtime, client_for(runtime, conn, job_id=job_id), job)
    if folder_id:
        exporter.check_folder(folder_id)
    return [exporter.export(asset, items.get(asset.item_id), folder_id) for asset in assets]


class _Exporter:
    def __init__(self, runtime: Runtime, client: DriveClient, job: Job) -> None:
        self.runtime, self.client, self.job = runtime, client, job
        self._generated: dict[str, str] = {}  # parent folder id -> its `generated` folder id
        self._drive_of: dict[str, str | None] = {}  # folder id -> its shared drive (None: My Drive)

    def _corpus(self, folder: str) -> dict[str, Any]:
        # Shared-drive items are only listed with corpora=drive and the drive's id.
        drive_id = self._drive_of.get(folder)
        return {"corpora": "drive", "driveId": drive_id} if drive_id else {"corpora": "user"}

    def check_folder(self, folder_id: str) -> None:
        meta = self.client.get(folder_id, "id,name,mimeType,trashed,driveId", "the export folder")
        if meta.get("mimeType") != FOLDER_MIME or meta.get("trashed"):
            raise InputError(f"“{meta.get('name')}” is not a folder we can export to. Choose another folder.")
        self._drive_of[folder_id] = meta.get("driveId")

    def export(self, asset: Asset, item: JobItem | None, folder_id: str | None) -> ExportResult:
        assert asset.id is not None
        product = dict(item.product) if item is not None else {"id": asset.product_id}
        style = product.get("style") or self.job.style
        variant = item.variant_index if item is not None else 0
        name = export_name(product, style, variant, asset.mime, asset.variation_id)
        folder = folder_id or self._generated_beside(product, asset.variation_id)

        found = self._existing(folder, asset, name)
        if found.get("mine"):
            mine = found["mine"]
            result = ExportResult(asset.id, mine["id"], mine["name"], folder, False, mine.get("webViewLink"))
        else:
            if found.get("name_taken"):
                stem, dot, ext = name.rpartition(".")
                name = f"{stem}_a{asset.id}.{ext}"  # another image already has this name: keep both findable
            created = self.client.create_file(
                name=name,
                parent=folder,
                data=self.runtime.blobs.get(asset.sha256),
                mime=asset.mime,
                description=asset.alt_text,
                app_properties={EXPORT_MARKER: str(asset.id), SHA_KEY: asset.sha256, JOB_KEY: str(self.job.id)},
            )
            result = ExportResult(asset.id, created["id"], created["name"], folder, True, created.get("webViewLink"))
        with self.runtime.db.transaction() as s:
            verb = "exported" if result.created else "already in Drive"
            events.record(
                s,
                "info",
                f"{verb}: {result.name}",
                job_id=self.job.id,
                item_id=asset.item_id,
                service="drive",
                data={"asset_id": asset.id, "file_id": result.file_id, "folder_id": folder, "created": result.created},
            )
        return result

    def _existing(self, folder: str, asset: Asset, name: str) -> dict[str, Any]:
        tag = f"appProperties has {{ key='{EXPORT_MARKER}' and value='{asset.id}' }}"
        q = f"'{escape(folder)}' in parents and trashed = false and ({tag} or name = '{escape(name)}')"
        out: dict[str, Any] = {}
        for f in self.client.list_all(q, "id,name,appProperties,webViewLink", **self._corpus(folder)):
            props = f.get("appProperties") or {}
            # Asset ids restart in another ImageGecko database: the sha tells our file from a namesake's.
            if props.get(EXPORT_MARKER) == str(asset.id) and props.get(SHA_KEY) == asset.sha256:
                out.setdefault("mine", f)
            elif f.get("name") == name:
                out["name_taken"] = True
        return out

    def _generated_beside(self, product: dict[str, Any], variation_id: str | None) -> str:
        image = _source_image(product, variation_id)
        if image is None:
            raise InputError(
                f"“{product.get('name', 'This product')}” has no original photo in Drive to export "
                "beside. Choose a folder to export to."
            )
        try:
            meta = self.client.get(image["ref"], "id,parents,driveId", f"the original photo {image.get('name', '')}")
        except SourceNotFound as exc:
            raise SourceNotFound(
                f"The original photo {image.get('name', '')} is no longer in Drive, so there is no "
                "folder beside it. Choose a folder to export to."
            ) from exc
        parents = meta.get("parents") or []
        if not parents:
            raise InputError("The original photo is not inside a folder we can see. Choose a folder to export to.")
        parent = parents[0]
        self._drive_of[parent] = meta.get("driveId")
        with _FOLDER_LOCK:
            if parent not in self._generated:
                self._generated[parent] = self._find_or_create_generated(parent)
                self._drive_of[self._generated[parent]] = meta.get("driveId")
        return self._generated[parent]

    def _find_or_create_generated(self, parent: str) -> str:
        q = (
            f"'{escape(parent)}' in parents and trashed = false and mimeType = '{FOLDER_MIME}' "
            f"and name = '{GENERATED_FOLDER}'"
        )
        found = list(self.client.list_all(q, "id,name,appProperties", **self._corpus(parent)))
        ours = [f for f in found if (f.get("appProperties") or {}).get(GENERATED_ROLE[0]) == GENERATED_ROLE[1]]
        if ours or found:
            return str((ours or found)[0]["id"])
        made = self.client.create_folder(
            name=GENERATED_FOLDER, parent=parent, app_properties={GENERATED_ROLE[0]: GENERATED_ROLE[1]}
        )
        return str(made["id"])


def _source_image(product: dict[str, Any], variation_id: str | None) -> dict[str, Any] | None:
    if variation_id is not None:
        for v in product.get("variations", ()):
            if str(v.get("id")) == variation_id and v.get("image"):
                return dict(v["image"])
    images = product.get("images") or ()
    return dict(images[0]) if images else None
