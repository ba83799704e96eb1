"""Google Drive v3 plumbing: credentials, the service object, calls with retries, typed errors, downloads and
uploads. `lib/sources/drive.py` (browsing) and `lib/export.py` (writing back) build on it.

The real API is reached with `build("drive", "v3", ...)` from the static discovery document. When
`settings.drive_root_url` is set (tests, local emulators) the same document is loaded with rootUrl and mtlsRootUrl
patched and built with `build_from_document`: `client_options.api_endpoint` alone keeps uploads on https
(reference/api-contracts.md §3).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal
from urllib.parse import urlsplit

import google_auth_httplib2
import httplib2
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import Credentials as GoogleCredentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build, build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import HttpRequest, MediaInMemoryUpload, MediaIoBaseDownload

from lib.config import Settings
from lib.errors import (
    AppError,
    DriveQuotaError,
    ImageTooLarge,
    InputError,
    SourceAuthError,
    SourceError,
    SourceNotFound,
    SourceUnavailable,
)
from lib.outbound import OutboundPolicy, origin_of

SCOPES = ["https://www.googleapis.com/auth/drive"]
FOLDER_MIME = "application/vnd.google-apps.folder"
# Photos the pipeline can decode (lib/images.py uses Pillow); SVG, HEIC and RAW are left out on purpose.
IMAGE_MIMES = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif", "image/bmp", "image/tiff"})
DOWNLOAD_CHUNK = 8 << 20
UPLOAD_CHUNK = 1 << 20  # resumable uploads send 1 MiB chunks (a multiple of 256 KiB, as Drive requires)
RESUMABLE_THRESHOLD = 5 << 20  # larger files go through a resumable session, smaller ones in one multipart POST
RATE_LIMIT_REASONS = {"rateLimitExceeded", "userRateLimitExceeded"}
# Where Drive serves thumbnailLink from; our access token is sent to no other host.
THUMBNAIL_HOSTS = (".googleusercontent.com", ".google.com")
THUMBNAIL_SIZE = re.compile(r"=s\d+$")  # thumbnailLink ends in "=s220": the long side Drive renders

# How retries wait between attempts. Module-level so tests can replace it instead of sleeping.
SLEEP: Callable[[float], None] = time.sleep


def escape(value: str) -> str:
    """A value for a Drive query string literal: backslashes and single quotes escaped."""
    return value.replace("\\", "\\\\").replace("'", "\\'")


# Credentials ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DriveCredentials:
    """A parsed credentials file: a service-account key or an authorized-user (OAuth refresh token) file."""

    type: str  # service_account | authorized_user
    info: dict[str, Any]

    @property
    def account(self) -> str:
        """Who Drive sees: the service account's e-mail, or a hint for user credentials."""
        if self.type == "service_account":
            return str(self.info.get("client_email", "the service account"))
        return str(self.info.get("account") or "the signed-in Google account")

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.info, sort_keys=True).encode()).hexdigest()

    def google(self, *, local_token_uri: bool = False) -> GoogleCredentials:
        """google-auth credentials. google-auth sends user refresh tokens to Google's endpoint whatever the file
        says (a hostile file must not collect them); only against a local emulator is the file's token_uri used."""
        try:
            if self.type == "service_account":
                return service_account.Credentials.from_service_account_info(self.info, scopes=SCOPES)
            user = user_credentials.Credentials.from_authorized_user_info(self.info, scopes=SCOPES)
            if local_token_uri and self.info.get("token_uri"):
                user = user.with_token_uri(self.info["token_uri"])
            return user
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"These Google credentials cannot be used: {exc}") from exc


def parse_credentials(text: str) -> DriveCredentials:
    """Check a pasted or uploaded credentials JSON; raises InputError with what to do instead."""
    try:
        info = json.loads(text)
    except (ValueError, TypeError) as exc:
        raise InputError(
            "That is not a JSON file. Upload the service-account key (.json) downloaded from the Google "
            "Cloud console, or an authorized-user JSON."
        ) from exc
    if not isinstance(info, dict):
        raise InputError("That JSON is not a Google credentials file.")
    kind = info.get("type")
    if kind is None and ("installed" in info or "web" in info):
        raise InputError(
            "This is an OAuth client file, not credentials. Sign in once with it to get an "
            "authorized-user JSON (with a refresh_token), or use a service-account key."
        )
    if kind == "service_account":
        missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
        if missing:
            raise InputError(
                f"This service-account key is incomplete (missing {', '.join(missing)}). Download a new "
                "key from the Google Cloud console."
            )
    elif kind == "authorized_user":
        missing = [k for k in ("client_id", "client_secret", "refresh_token") if not info.get(k)]
        if missing:
            raise InputError(f"These user credentials are incomplete (missing {', '.join(missing)}).")
    else:
        raise InputError(
            f"Credentials of type {kind!r} are not supported. Use a service-account key or an authorized-user JSON."
        )
    creds = DriveCredentials(str(kind), info)
    creds.google()  # a malformed private key fails here, before anything is saved
    return creds


# Credentials objects are shared per key so every short-lived client reuses one access token.
_GOOGLE_CREDS: dict[str, GoogleCredentials] = {}
_CREDS_LOCK = threading.Lock()


def google_credentials(creds: DriveCredentials, *, local_token_uri: bool = False) -> GoogleCredentials:
    key = f"{creds.digest()}:{local_token_uri}"
    with _CREDS_LOCK:
        if key not in _GOOGLE_CREDS:
            _GOOGLE_CREDS[key] = creds.google(local_token_uri=local_token_uri)
        return _GOOGLE_CREDS[key]


# The service ---------------------------------------------------------------------------------------------

_DOCS: dict[str | None, dict[str, Any]] = {}


def discovery_document(root_url: str | None) -> dict[str, Any]:
    """The bundled drive.v3 document, with rootUrl patched when pointing at an emulator."""
    if root_url not in _DOCS:
        path = resources.files("googleapiclient") / "discovery_cache" / "documents" / "drive.v3.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        if root_url:
            doc["rootUrl"] = doc["mtlsRootUrl"] = root_url.rstrip("/") + "/"
        _DOCS[root_url] = doc
    return _DOCS[root_url]


class _Request(HttpRequest):
    """HttpRequest whose retry waits go through SLEEP (tests replace it; nothing else changes)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sleep = lambda seconds: SLEEP(seconds)


Sink = Callable[[str, str, int | None, float, str | None], None]  # method, url, status, ms, error


class _RecordingHttp:
    """Wraps the authorized http object to report every outbound request (never headers or bodies)."""

    def __init__(self, inner: Any, sink: Sink) -> None:
        self._inner = inner
        self._sink = sink

    def request(self, uri: str, method: str = "GET", body: Any = None, headers: Any = None, **kw: Any) -> Any:
        start = time.perf_counter()
        try:
            resp, content = self._inner.request(uri, method, body=body, headers=headers, **kw)
        except Exception as exc:
            self._sink(method, uri, None, (time.perf_counter() - start) * 1000, type(exc).__name__)
            raise
        self._sink(method, uri, resp.status, (time.perf_counter() - start) * 1000, None)
        return resp, content

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class DriveClient:
    """One Drive session: not shared between threads (httplib2 is not thread-safe); cheap to make."""

    def __init__(self, settings: Settings, creds: DriveCredentials, sink: Sink | None = None) -> None:
        self.creds = creds
        self.retries = max(0, settings.http_retries)
        self.root_url = settings.drive_root_url
        raw = httplib2.Http(timeout=settings.http_timeout_seconds)
        # Resumable uploads answer 308 "Resume Incomplete" without a Location: not a redirect (as build_http() does).
        raw.redirect_codes = raw.redirect_codes - {308}
        self._raw = raw
        gcreds = google_credentials(creds, local_token_uri=bool(self.root_url))
        http: Any = google_auth_httplib2.AuthorizedHttp(gcreds, http=raw)
        if sink is not None:
            http = _RecordingHttp(http, sink)
        self.http = http
        if self.root_url:
            self.service = build_from_document(discovery_document(self.root_url), http=http, requestBuilder=_Request)
        else:
            self.service = build(
                "drive", "v3", http=http, cache_discovery=False, static_discovery=True, requestBuilder=_Request
            )

    @property
    def files(self) -> Any:
        return self.service.files()

    def call(self, request: Any, subject: str = "that file") -> Any:
        """Execute with Drive's retry policy (5xx, 429, 403 rate limits), then map failures to typed errors."""
        with translate_errors(self.creds, subject):
            return request.execute(num_retries=self.retries)

    def list_all(self, q: str, fields: str, *, page_size: int = 1000, **kw: Any) -> Iterator[dict[str, Any]]:
        """Every file matching `q`, following nextPageToken. `kw` adds corpora/driveId/orderBy."""
        token: str | None = None
        while True:
            req = self.files.list(
                q=q,
                pageSize=page_size,
                pageToken=token,
                fields=f"nextPageToken, files({fields})",
                supportsAllDrives=True,
                includeItemsFromAllDrives=True,
                **kw,
            )
            resp = self.call(req, "that folder")
            yield from resp.get("files", [])
            token = resp.get("nextPageToken")
            if not token:
                return

    def get(self, file_id: str, fields: str, subject: str = "that file") -> dict[str, Any]:
        return dict(self.call(self.files.get(fileId=file_id, fields=fields, supportsAllDrives=True), subject))

    def download(self, file_id: str, *, max_bytes: int, name: str = "") -> bytes:
        """The file's bytes in chunks (Range requests), refusing anything over `max_bytes`."""
        fh = io.BytesIO()
        request = self.files.get_media(fileId=file_id, supportsAllDrives=True)
        downloader = MediaIoBaseDownload(fh, request, chunksize=min(DOWNLOAD_CHUNK, max_bytes + 1))
        downloader._sleep = lambda seconds: SLEEP(seconds)
        done = False
        with translate_errors(self.creds, f"the photo {name or file_id}"):
            while not done:
                status, done = downloader.next_chunk(num_retries=self.retries)
                total = status.total_size if status else None
                if fh.tell() > max_bytes or (total is not None and total > max_bytes):
                    raise ImageTooLarge(
                        f"{name or 'This photo'} is larger than {max_bytes // (1 << 20)} MB, the "
                        "limit for one photo. Export a smaller version to Drive."
                    )
        return fh.getvalue()

    def thumbnail(self, link: str, *, side: int, max_bytes: int) -> bytes | None:
        """Drive's own small rendition of a photo (a few KB) from its thumbnailLink, fetched with this session's
        credentials (the link is private and expires within hours). None when it cannot be had: no or expired
        link, a host that is not Drive's, not an image; the caller then downloads the photo itself."""
        url = self._thumbnail_url(link, side)
        if url is None or not self._thumbnail_policy().allows(url):
            return None
        # A thumbnail link comes from Drive's answer: a redirect it leads to is not followed (it could lead anywhere,
        # carrying our credentials). This session is used by one thread only, so the switch is safe.
        self._raw.follow_redirects = False
        try:
            resp, content = self.http.request(url, "GET")
        except (httplib2.HttpLib2Error, OSError, auth_exceptions.GoogleAuthError):
            return None
        finally:
            self._raw.follow_redirects = True
        kind = str(resp.get("content-type", ""))
        if resp.status != 200 or not kind.startswith("image/") or not content or len(content) > max_bytes:
            return None
        return bytes(content)

    def _thumbnail_policy(self) -> OutboundPolicy:
        if self.root_url:  # an emulator the admin configured, wherever it lives
            origin = origin_of(self.root_url)
            return OutboundPolicy(frozenset({origin}), frozenset({origin}), "That thumbnail address")
        return OutboundPolicy(frozenset("*" + h for h in THUMBNAIL_HOSTS), frozenset(), "That thumbnail address")

    def _thumbnail_url(self, link: str, side: int) -> str | None:
        parts = urlsplit(link or "")
        if self.root_url:  # an emulator serves its own thumbnails
            if parts.netloc != urlsplit(self.root_url).netloc:
                return None
        elif parts.scheme != "https" or not (parts.hostname or "").endswith(THUMBNAIL_HOSTS):
            return None
        return THUMBNAIL_SIZE.sub(f"=s{side}", link) if THUMBNAIL_SIZE.search(link) else link

    def create_file(
        self,
        *,
        name: str,
        parent: str,
        data: bytes,
        mime: str,
        app_properties: dict[str, str],
        description: str = "",
        fields: str = "id,name,parents,webViewLink,appProperties",
    ) -> dict[str, Any]:
        """Upload a new file: one multipart POST, or a resumable session in chunks for large files."""
        resumable = len(data) > RESUMABLE_THRESHOLD
        media = MediaInMemoryUpload(
            data, mimetype=mime, resumable=resumable, chunksize=UPLOAD_CHUNK if resumable else -1
        )
        body: dict[str, Any] = {"name": name, "parents": [parent], "appProperties": app_properties, "mimeType": mime}
        if description:
            body["description"] = description
        req = self.files.create(body=body, media_body=media, fields=fields, supportsAllDrives=True)
        return dict(self.call(req, "the export folder"))

    def create_folder(self, *, name: str, parent: str, app_properties: dict[str, str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "parents": [parent], "mimeType": FOLDER_MIME}
        if app_properties:
            body["appProperties"] = app_properties
        req = self.files.create(body=body, fields="id,name,parents,driveId", supportsAllDrives=True)
        return dict(self.call(req, "the parent folder"))


class translate_errors:  # noqa: N801 - used as a context manager, reads like a statement
    """Turns HttpError / auth / transport failures inside the block into the project's typed errors."""

    def __init__(self, creds: DriveCredentials, subject: str) -> None:
        self.creds, self.subject = creds, subject

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        if exc is None or isinstance(exc, AppError):
            return False
        mapped = map_error(exc, self.creds, self.subject)
        if mapped is None:
            return False
        raise mapped from exc


def error_reasons(exc: HttpError) -> list[str]:
    details = exc.error_details if isinstance(exc.error_details, list) else []
    reasons = [str(d.get("reason")) for d in details if isinstance(d, dict) and d.get("reason")]
    if not reasons:
        try:
            data = json.loads(exc.content.decode("utf-8"))
            reasons = [str(e.get("reason")) for e in data.get("error", {}).get("errors", []) if e.get("reason")]
        except (ValueError, AttributeError):
            pass
    return reasons


def map_error(exc: BaseException, creds: DriveCredentials, subject: str) -> AppError | None:
    account = creds.account
    share_hint = (
        f"Share it with {account} (Editor) in Drive, then try again."
        if creds.type == "service_account"
        else f"Check that {account} can open it in Drive."
    )
    if isinstance(exc, HttpError):
        status = exc.status_code or 0
        reasons = error_reasons(exc)
        detail = f"HTTP {status} {','.join(reasons)}: {exc.reason}"[:500]
        if status == 404:
            return SourceNotFound(
                f"Google Drive cannot find {subject}: it was deleted, or it is not shared with this "
                f"account. {share_hint}",
                detail=detail,
            )
        if status == 403 and "storageQuotaExceeded" in reasons:
            return DriveQuotaError(detail=detail)
        if status == 429 or status >= 500 or (status == 403 and set(reasons) & RATE_LIMIT_REASONS):
            return SourceUnavailable(
                "Google Drive is busy or rate limiting us. We will try again shortly.", retry_after=30.0, detail=detail
            )
        if status == 401:
            return SourceAuthError(
                "Google Drive refused these credentials. Upload a fresh key or sign in again on the Connect page.",
                detail=detail,
            )
        if status == 403:
            return SourceAuthError(
                f"This account ({account}) is not allowed to do that with {subject}. {share_hint}", detail=detail
            )
        return SourceError(f"Google Drive refused the request ({status}): {exc.reason}", detail=detail)
    if isinstance(exc, auth_exceptions.RefreshError):
        return SourceAuthError(
            "Google refused the Drive credentials (the key was deleted, disabled or revoked). "
            "Upload a fresh key or sign in again on the Connect page.",
            detail=str(exc)[:500],
        )
    if isinstance(exc, auth_exceptions.TransportError | httplib2.HttpLib2Error | OSError):
        return SourceUnavailable(
            "Google Drive did not answer. We will try again shortly.",
            retry_after=10.0,
            detail=f"{type(exc).__name__}: {exc}"[:500],
        )
    return None
