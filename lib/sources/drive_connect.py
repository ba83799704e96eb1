"""Drive connections: credentials and settings saved encrypted, a client per unit of work, and the folder picker
(list folders, shared drives, breadcrumbs). lib/sources/drive.py builds the product source on top of it; its
public names are re-exported there."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lib import events
from lib.connections import read_secret, save_connection
from lib.errors import AppError, InputError, SourceNotFound
from lib.kinds import Kind
from lib.models import Connection
from lib.sources.drive_client import FOLDER_MIME, DriveClient, DriveCredentials, escape, parse_credentials

if TYPE_CHECKING:
    from lib.runtime import Runtime

MODES = ("folders", "images")
GENERATED_ROLE = ("imagegecko_role", "generated")  # appProperties of the `generated` folders exports make
EXPORT_MARKER = "imagegecko_asset"  # appProperties key every exported file carries


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
        return cls(
            str(s.get("root_folder_id") or "root"), str(s.get("mode") or "folders"), s.get("shared_drive_id") or None
        )


# Connection management -------------------------------------------------------------------------------------


def save_drive(
    runtime: Runtime,
    *,
    credentials_json: str,
    root_folder_id: str,
    mode: str,
    name: str | None = None,
    shared_drive_id: str | None = None,
    connection_id: int | None = None,
) -> Connection:
    """Validate and save a Drive connection (the credentials encrypted). Nothing is saved when input is bad."""
    creds = parse_credentials(credentials_json)
    if mode not in MODES:
        raise InputError("Choose how photos become products: one product per folder, or one per photo.")
    root = folder_id_from(root_folder_id)
    if creds.type == "service_account" and root == "root":
        raise InputError(
            "Give the id of a folder shared with the service account ("
            f"{creds.account}): a service account has no My Drive of its own to browse."
        )
    settings: dict[str, Any] = {"root_folder_id": root, "mode": mode, "auth": creds.type}
    if shared_drive_id:
        settings["shared_drive_id"] = folder_id_from(shared_drive_id)
    if creds.type == "service_account":
        settings["account"] = creds.account  # shown on the page ("share the folder with ...")
    label = (name or "").strip() or f"Google Drive ({creds.account})"
    return save_connection(
        runtime.db,
        runtime.vault,
        kind=Kind.DRIVE,
        name=label,
        secret={"credentials_json": credentials_json, "type": creds.type},
        settings=settings,
        connection_id=connection_id,
    )


def credentials_hint(credentials_json: str) -> str:
    """What an uploaded credentials file is and what to do next, in one sentence (InputError when unusable)."""
    creds = parse_credentials(credentials_json)
    if creds.type == "service_account":
        return (
            f"Service account {creds.account}: share the photo folder with this address in Drive (Editor to "
            "export back; exports need a folder in a shared drive)."
        )
    return "User credentials: the folders you can see in Drive, My Drive included; exports go to your own Drive."


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
                events.record(
                    s,
                    "request",
                    error or f"drive {method}",
                    job_id=job_id,
                    service="drive",
                    method=method,
                    url=url,
                    status_code=status,
                    duration_ms=round(ms, 1),
                )
        except Exception:  # the request log must never break the request itself
            pass

    return DriveClient(runtime.settings, connection_credentials(runtime, conn), sink)


def corpus_for(cfg: DriveSettings, root: dict[str, Any]) -> dict[str, Any]:
    """Items in a shared drive are only listed with corpora=drive and its driveId."""
    drive_id = cfg.shared_drive_id or root.get("driveId")
    return {"corpora": "drive", "driveId": drive_id} if drive_id else {"corpora": "user"}


def is_generated(item: dict[str, Any]) -> bool:
    props = item.get("appProperties") or {}
    return props.get(GENERATED_ROLE[0]) == GENERATED_ROLE[1] or EXPORT_MARKER in props


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
    corpus = corpus_for(DriveSettings("", "folders"), parent)
    q = f"'{escape(parent['id'])}' in parents and mimeType = '{FOLDER_MIME}' and trashed = false"
    out = [
        Folder(f["id"], f["name"], f.get("driveId"))
        for f in client.list_all(q, "id,name,driveId,appProperties", orderBy="name", **corpus)
        if not is_generated(f)
    ]
    return sorted(out, key=lambda f: f.name.lower())


def list_shared_drives(runtime: Runtime, connection: Connection) -> list[Folder]:
    client = client_for(runtime, connection)
    out: list[Folder] = []
    token: str | None = None
    while True:
        resp = client.call(
            client.service.drives().list(pageSize=100, pageToken=token, fields="nextPageToken, drives(id,name)")
        )
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


def with_settings(conn: Connection, **changes: Any) -> Connection:
    """An unsaved copy of the connection with other settings (e.g. browse another root before saving it)."""
    data = conn.model_dump()
    data["settings"] = {**(conn.settings or {}), **changes}
    return Connection(**data)


def export_folder(value: str) -> str:
    """The folder the merchant chose to export to (a Drive folder link or id); required, never My Drive's root."""
    if not (value or "").strip():
        raise InputError("Paste the link (or id) of the Drive folder to save the images to.")
    return folder_id_from(value)
