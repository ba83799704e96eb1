"""A loopback Google Drive v3 server for tests, faithful to /work/shared/reference/api-contracts.md §3.

What it speaks (the subset ImageGecko uses, through the real google-api-python-client):
- OAuth token endpoint (`POST /token`): service-account JWT grants and authorized-user refresh grants, so the real
  google.oauth2 credentials work against it; the token says who is calling (service account or user).
- `GET /drive/v3/files` with a query parser for `'X' in parents`, `mimeType =/!=/contains`, `name =/contains`,
  `trashed = false`, `appProperties has { key='k' and value='v' }`, `and`/`or`/`not`/parentheses, escaped quotes;
  `pageSize` (1..1000, and a server-side cap so paging happens), `pageToken`/`nextPageToken`, `fields` honoured for
  the top level and one nesting level, `corpora`/`driveId`/`includeItemsFromAllDrives`/`supportsAllDrives`.
- `GET /drive/v3/files/{id}` (metadata; `alt=media` downloads, honouring `Range` with 206), `POST /drive/v3/files`
  (metadata only, e.g. folders), `PATCH`, `DELETE`, `GET /drive/v3/about`, `GET /drive/v3/drives[/{id}]`.
- Uploads: `POST /upload/drive/v3/files?uploadType=multipart|media|resumable`; resumable sessions answer with a
  `Location`, then `PUT` chunks with `Content-Range` get 308 (with `Range`) until the last one, which gets 200.
- Thumbnails: `thumbnailLink` points at `GET /thumbnails/{id}.{expiry}.{signature}=s{N}` on the emulator (Drive's
  is on lh3.googleusercontent.com): a JPEG of long side N, only with a valid access token of someone who can see
  the file, and 403 once the link has expired (`expire_thumbnails()`; real links last hours).
- Errors in Google's JSON shape: 404 notFound, 401 authError, 400 invalid, 403 rateLimitExceeded (inject with
  `fail_next`), 403 storageQuotaExceeded when a service account creates a file in a My Drive folder.
Counters (`calls`) and a request log (`log`) let tests assert what a user would check ("no second file").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import itertools
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.emulators.base import LoopbackEmulator

FOLDER = "application/vnd.google-apps.folder"
MY_DRIVE_ROOT = "0AMyDriveRootFolder"
OWNER_EMAIL = "merchant@example.com"
QUOTA_MESSAGE = (
    "Service Accounts do not have storage quota. Leverage shared drives "
    "(https://developers.google.com/workspace/drive/api/guides/about-shareddrives), or use OAuth delegation "
    "(http://support.google.com/a/answer/7281227) instead."
)
CHUNK_GRANULARITY = 256 * 1024
THUMBNAIL_TTL_SECONDS = 6 * 3600
THUMBNAIL = re.compile(r"/thumbnails/(?P<id>[^./]+)\.(?P<exp>\d+)\.(?P<sig>[0-9a-f]{16})=s(?P<side>\d{1,4})")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        domain: str = "global",
        location: str | None = None,
        location_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.domain, self.location, self.location_type = domain, location, location_type

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "domain": self.domain, "reason": self.reason}
        if self.location:
            err["location"] = self.location
            err["locationType"] = self.location_type or "parameter"
        return {"error": {"code": self.status, "message": self.message, "errors": [err]}}


def not_found(file_id: str) -> ApiError:
    return ApiError(404, "notFound", f"File not found: {file_id}.", location="fileId")


def invalid(message: str, location: str = "q") -> ApiError:
    return ApiError(400, "invalid", message, location=location)


@dataclass
class FileRec:
    id: str
    name: str
    mime: str
    parents: list[str]
    drive_id: str | None = None
    content: bytes | None = None
    trashed: bool = False
    app_properties: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    description: str = ""
    created: str = ""
    modified: str = ""
    width: int | None = None
    height: int | None = None
    created_by: str = OWNER_EMAIL


@dataclass
class Principal:
    email: str
    service_account: bool


# Query language ---------------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<op>!=|<=|>=|=|<|>)|(?P<punct>[(){}])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)
Pred = Callable[[FileRec], bool]


def _tokenize(q: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    q = q.rstrip()
    while pos < len(q):
        m = _TOKEN.match(q, pos)
        if not m or m.end() == pos:
            raise invalid("Invalid Value")
        kind = m.lastgroup or ""
        text = m.group(kind)
        if kind == "str":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        out.append((kind, text))
        pos = m.end()
    return out


class _Parser:
    STRING_FIELDS = {"name", "mimetype", "fulltext", "modifiedtime", "createdtime", "description"}
    BOOL_FIELDS = {"trashed", "starred", "sharedwithme"}

    def __init__(self, q: str, shared_with_me: frozenset[str] = frozenset()) -> None:
        self.toks = _tokenize(q)
        self.i = 0
        self.shared_with_me = shared_with_me  # ids shared directly with the caller

    def parse(self) -> Pred:
        pred = self.expr()
        if self.i != len(self.toks):
            raise invalid("Invalid Value")
        return pred

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, kind: str | None = None, text: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (kind and tok[0] != kind) or (text and tok[1].lower() != text):
            raise invalid("Invalid Value")
        self.i += 1
        return tok[1]

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok[0] == "word" and tok[1].lower() == word

    def expr(self) -> Pred:
        parts = [self.and_expr()]
        while self.is_word("or"):
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda f: any(p(f) for p in parts))

    def and_expr(self) -> Pred:
        parts = [self.unary()]
        while self.is_word("and"):
            self.i += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda f: all(p(f) for p in parts))

    def unary(self) -> Pred:
        if self.is_word("not"):
            self.i += 1
            inner = self.unary()
            return lambda f: not inner(f)
        tok = self.peek()
        if tok == ("punct", "("):
            self.i += 1
            inner = self.expr()
            self.take("punct", ")")
            return inner
        return self.predicate()

    def predicate(self) -> Pred:
        tok = self.peek()
        if tok is None:
            raise invalid("Invalid Value")
        if tok[0] == "str":  # 'X' in parents
            value = self.take("str")
            self.take("word", "in")
            coll = self.take("word").lower()
            if coll == "parents":
                return lambda f: value in f.parents
            if coll in ("owners", "writers", "readers"):
                return lambda f: True
            raise invalid("Invalid Value")
        name = self.take("word")
        key = name.lower()
        if key in ("appproperties", "properties"):
            self.take("word", "has")
            self.take("punct", "{")
            self.take("word", "key")
            self.take("op", "=")
            k = self.take("str")
            self.take("word", "and")
            self.take("word", "value")
            self.take("op", "=")
            v = self.take("str")
            self.take("punct", "}")
            if key == "appproperties":
                return lambda f: f.app_properties.get(k) == v
            return lambda f: f.properties.get(k) == v
        if key in self.BOOL_FIELDS:
            op = self.take("op")
            word = self.take("word").lower()
            if op not in ("=", "!=") or word not in ("true", "false"):
                raise invalid("Invalid Value")
            want = word == "true"
            getter: Callable[[FileRec], bool] = {
                "trashed": lambda f: f.trashed,
                "starred": lambda f: False,
                "sharedwithme": lambda f: f.id in self.shared_with_me,
            }[key]
            return (lambda f: getter(f) == want) if op == "=" else (lambda f: getter(f) != want)
        if key not in self.STRING_FIELDS:
            raise invalid("Invalid Value")
        if self.is_word("contains"):
            self.i += 1
            value = self.take("str")
            return self._contains(key, value)
        op = self.take("op")
        value = self.take("str")
        attr: Callable[[FileRec], str] = {
            "name": lambda f: f.name,
            "mimetype": lambda f: f.mime,
            "fulltext": lambda f: f.name,
            "modifiedtime": lambda f: f.modified,
            "createdtime": lambda f: f.created,
            "description": lambda f: f.description,
        }[key]
        if key in ("name", "mimetype") and op not in ("=", "!="):
            raise invalid("Invalid Value")
        ops: dict[str, Callable[[str, str], bool]] = {
            "=": lambda a, b: a == b,
            "!=": lambda a, b: a != b,
            "<": lambda a, b: a < b,
            ">": lambda a, b: a > b,
            "<=": lambda a, b: a <= b,
            ">=": lambda a, b: a >= b,
        }
        cmp = ops[op]
        return lambda f: cmp(attr(f), value)

    @staticmethod
    def _contains(key: str, value: str) -> Pred:
        if key == "mimetype":
            return lambda f: value in f.mime
        if key == "name":
            # Drive matches name terms by prefix: "HelloWorld" matches 'Hello', not 'World'.
            low = value.lower()
            return lambda f: (
                f.name.lower().startswith(low) or any(w.startswith(low) for w in re.split(r"[\s_\-.]+", f.name.lower()))
            )
        low = value.lower()
        return lambda f: low in (f.name + " " + f.description).lower()


def parse_query(q: str, shared_with_me: frozenset[str] = frozenset()) -> Pred:
    return _Parser(q, shared_with_me).parse() if q.strip() else (lambda f: True)


def parse_fields(spec: str | None) -> dict[str, Any] | None:
    """'nextPageToken, files(id,name,imageMediaMetadata(width))' -> {'nextPageToken': {}, 'files': {...}}."""
    if not spec or spec.strip() == "*":
        return None
    pos = 0

    def level() -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        while pos < len(spec):
            m = re.match(r"\s*([A-Za-z_*][A-Za-z0-9_/]*)\s*", spec[pos:])
            if not m:
                raise invalid("Invalid field selection", "fields")
            name = m.group(1)
            pos += m.end()
            sub: dict[str, Any] = {}
            if pos < len(spec) and spec[pos] == "(":
                pos += 1
                sub = level()
                if pos >= len(spec) or spec[pos] != ")":
                    raise invalid("Invalid field selection", "fields")
                pos += 1
            # files/id is the same as files(id)
            head, *rest = name.split("/")
            node = out.setdefault(head, {})
            for part in rest:
                node = node.setdefault(part, {})
            node.update(sub)
            while pos < len(spec) and spec[pos] in " ,":
                pos += 1
            if pos < len(spec) and spec[pos] == ")":
                break
        return out

    return level()


def select(obj: Any, tree: dict[str, Any] | None) -> Any:
    if tree is None or not tree or "*" in tree:
        return obj
    if isinstance(obj, list):
        return [select(x, tree) for x in obj]
    if not isinstance(obj, dict):
        return obj
    return {k: select(obj[k], sub) for k, sub in tree.items() if k in obj}


# The emulator ----------------------------------------------------------------------------------------------


class DriveEmulator(LoopbackEmulator):
    """Start with `with DriveEmulator() as emu:`; `emu.url` is the rootUrl to patch into the discovery document."""

    def __init__(self, *, page_cap: int = 100, allow_anonymous: bool = False) -> None:
        self.page_cap = page_cap  # Drive may return fewer items than pageSize; tests use it to force paging
        self.allow_anonymous = allow_anonymous
        self.lock = threading.RLock()
        self.files: dict[str, FileRec] = {}
        self.drives: dict[str, str] = {}  # shared drive id -> name
        self.hidden: dict[str, set[str]] = {}  # file id -> e-mails it is not shared with
        self.shared: dict[str, set[str]] = {}  # file id -> e-mails it is explicitly shared with
        self.tokens: dict[str, Principal] = {}
        self.revoked_refresh: set[str] = set()
        self.disabled_accounts: set[str] = set()
        self.user_email = OWNER_EMAIL
        self.calls: Counter[str] = Counter()
        self.log: list[tuple[str, str, int]] = []  # (op, method + path, status)
        self._failures: list[dict[str, Any]] = []
        self._sessions: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._clock = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
        self._thumb_key = hashlib.sha256(f"thumbs-{id(self)}-{time.time()}".encode()).digest()
        self._thumb_expiry = int(time.time() + THUMBNAIL_TTL_SECONDS)  # a file's link stays the same until then
        self.files[MY_DRIVE_ROOT] = FileRec(
            MY_DRIVE_ROOT, "My Drive", FOLDER, [], created=self._now(), modified=self._now()
        )

    # Lifecycle (stop, `with` and the base url: LoopbackEmulator)
    def start(self) -> DriveEmulator:
        return self._serve(_Handler, "drive-emulator")

    @property
    def url(self) -> str:
        return super().url + "/"  # the discovery document's rootUrl ends with a slash

    @property
    def token_uri(self) -> str:
        return self.url + "token"

    # Seeding and inspection
    def _now(self) -> str:
        self._clock += timedelta(seconds=1)
        return self._clock.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def _new_id(self) -> str:
        n = next(self._ids)
        return "1" + hashlib.sha1(f"file-{n}".encode()).hexdigest()[:24] + f"{n:08d}"

    def add_shared_drive(self, name: str) -> str:
        with self.lock:
            drive_id = "0A" + hashlib.sha1(f"drive-{name}-{len(self.drives)}".encode()).hexdigest()[:17]
            self.drives[drive_id] = name
            return drive_id

    def add_folder(self, name: str, parent: str | None = None, *, app_properties: dict[str, str] | None = None) -> str:
        return self._add(name, FOLDER, parent, None, app_properties)

    def add_file(
        self,
        name: str,
        parent: str | None,
        data: bytes,
        mime: str = "image/jpeg",
        *,
        app_properties: dict[str, str] | None = None,
    ) -> str:
        return self._add(name, mime, parent, data, app_properties)

    def _add(
        self,
        name: str,
        mime: str,
        parent: str | None,
        data: bytes | None,
        app_properties: dict[str, str] | None,
        created_by: str = OWNER_EMAIL,
    ) -> str:
        with self.lock:
            parent = parent or MY_DRIVE_ROOT
            drive_id = self._drive_of(parent)
            rec = FileRec(
                self._new_id(),
                name,
                mime,
                [parent],
                drive_id=drive_id,
                content=data,
                app_properties=dict(app_properties or {}),
                created=self._now(),
                created_by=created_by,
            )
            rec.modified = rec.created
            if data is not None and mime.startswith("image/"):
                rec.width, rec.height = _image_size(data)
            self.files[rec.id] = rec
            return rec.id

    def _drive_of(self, parent: str) -> str | None:
        if parent in self.drives:
            return parent
        rec = self.files.get(parent)
        if rec is None:
            raise KeyError(parent)
        return rec.drive_id

    def trash(self, file_id: str) -> None:
        with self.lock:
            self.files[file_id].trashed = True

    def unshare(self, file_id: str, email: str) -> None:
        """The file (and everything under it not shared again) is no longer visible to `email`."""
        with self.lock:
            self.shared.get(file_id, set()).discard(email)
            self.hidden.setdefault(file_id, set()).add(email)

    def share(self, file_id: str, email: str) -> None:
        """`email` can see the file and everything under it, whatever its parents say."""
        with self.lock:
            self.hidden.get(file_id, set()).discard(email)
            self.shared.setdefault(file_id, set()).add(email)

    def revoke_credentials(self) -> None:
        """Every issued token and refresh token stops working (a key deleted, access revoked)."""
        with self.lock:
            for token, who in self.tokens.items():
                self.revoked_refresh.add(token)
                self.disabled_accounts.add(who.email)
            self.tokens.clear()
            self.revoked_refresh.add("*")

    def expire_thumbnails(self) -> None:
        """Every thumbnailLink handed out so far stops working (as they do after a few hours)."""
        with self.lock:
            self._thumb_key = hashlib.sha256(self._thumb_key).digest()
            self._thumb_expiry = int(time.time() + THUMBNAIL_TTL_SECONDS)

    def thumbnail_link(self, file_id: str) -> str:
        with self.lock:
            expiry = self._thumb_expiry
        return f"{self.url}thumbnails/{file_id}.{expiry}.{self._thumb_signature(file_id, expiry)}=s220"

    def _thumb_signature(self, file_id: str, expiry: int) -> str:
        with self.lock:
            key = self._thumb_key
        return hmac.new(key, f"{file_id}.{expiry}".encode(), hashlib.sha256).hexdigest()[:16]

    def thumbnail_valid(self, file_id: str, expiry: int, signature: str) -> bool:
        return expiry > time.time() and hmac.compare_digest(signature, self._thumb_signature(file_id, expiry))

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 403,
        reason: str = "rateLimitExceeded",
        op: str | None = None,
        message: str | None = None,
    ) -> None:
        """The next `n` matching API calls (op like 'files.list', or any) answer with this error."""
        with self.lock:
            self._failures.append({"n": n, "status": status, "reason": reason, "op": op, "message": message})

    def children(self, parent: str, *, include_trashed: bool = False) -> list[FileRec]:
        with self.lock:
            found = [f for f in self.files.values() if parent in f.parents and (include_trashed or not f.trashed)]
        return sorted(found, key=lambda f: (f.name, f.id))

    def find(self, name: str) -> list[FileRec]:
        with self.lock:
            return [f for f in self.files.values() if f.name == name and not f.trashed]

    def content(self, file_id: str) -> bytes:
        return self.files[file_id].content or b""

    # Request handling helpers (called by the handler under no lock)
    def take_failure(self, op: str) -> ApiError | None:
        with self.lock:
            for fail in self._failures:
                if fail["n"] > 0 and (fail["op"] is None or fail["op"] == op):
                    fail["n"] -= 1
                    status, reason = fail["status"], fail["reason"]
                    msg = fail["message"] or {
                        "rateLimitExceeded": "Rate Limit Exceeded",
                        "userRateLimitExceeded": "User Rate Limit Exceeded",
                        "backendError": "Backend Error",
                        "internalError": "Internal Error",
                    }.get(reason, reason)
                    domain = "usageLimits" if "RateLimit" in reason or "rateLimit" in reason else "global"
                    return ApiError(status, reason, msg, domain=domain)
        return None

    def visible(self, rec: FileRec, who: Principal) -> bool:
        """The nearest folder (or the file itself) that was shared or unshared with `who` decides."""
        node_id: str | None = rec.id
        for _ in range(64):
            if node_id is None:
                return True
            if who.email in self.shared.get(node_id, set()):
                return True
            if who.email in self.hidden.get(node_id, set()):
                return False
            node = self.files.get(node_id)
            node_id = node.parents[0] if node is not None and node.parents else None
        return True

    def get_visible(self, file_id: str, who: Principal, all_drives: bool) -> FileRec:
        if file_id == "root":
            file_id = MY_DRIVE_ROOT
        if file_id in self.drives:
            if not all_drives or who.email in self.hidden.get(file_id, set()):
                raise not_found(file_id)
            return FileRec(file_id, self.drives[file_id], FOLDER, [], drive_id=file_id)
        rec = self.files.get(file_id)
        if rec is None or not self.visible(rec, who) or (rec.drive_id and not all_drives):
            raise not_found(file_id)
        return rec

    def resource(self, rec: FileRec) -> dict[str, Any]:
        res: dict[str, Any] = {
            "kind": "drive#file",
            "id": rec.id,
            "name": rec.name,
            "mimeType": rec.mime,
            "parents": list(rec.parents),
            "trashed": rec.trashed,
            "createdTime": rec.created,
            "modifiedTime": rec.modified,
            "webViewLink": f"https://drive.google.com/file/d/{rec.id}/view?usp=drivesdk",
            "iconLink": f"https://drive-thirdparty.googleusercontent.com/16/type/{rec.mime}",
        }
        if not rec.parents:
            res.pop("parents")
        if rec.mime == FOLDER:
            res["webViewLink"] = f"https://drive.google.com/drive/folders/{rec.id}"
        if rec.content is not None:
            res["size"] = str(len(rec.content))
            res["md5Checksum"] = hashlib.md5(rec.content).hexdigest()
            res["webContentLink"] = f"https://drive.google.com/uc?id={rec.id}&export=download"
        if rec.mime.startswith("image/"):
            res["thumbnailLink"] = self.thumbnail_link(rec.id)
            res["hasThumbnail"] = True
            if rec.width:
                res["imageMediaMetadata"] = {"width": rec.width, "height": rec.height, "rotation": 0}
        if rec.app_properties:
            res["appProperties"] = dict(rec.app_properties)
        if rec.properties:
            res["properties"] = dict(rec.properties)
        if rec.description:
            res["description"] = rec.description
        if rec.drive_id:
            res["driveId"] = rec.drive_id
        return res

    def create(
        self,
        meta: dict[str, Any],
        content: bytes | None,
        who: Principal,
        all_drives: bool,
        media_mime: str | None = None,
    ) -> FileRec:
        parents = meta.get("parents") or []
        if len(parents) > 1:
            raise ApiError(403, "cannotAddParent", "Increasing the number of parents is not allowed.")
        parent_id = parents[0] if parents else MY_DRIVE_ROOT
        with self.lock:
            parent = self.get_visible(parent_id, who, all_drives)
            if parent.mime != FOLDER:
                raise ApiError(400, "invalidParent", f"The parent {parent_id} is not a folder.", location="parents")
            mime = meta.get("mimeType") or media_mime or "application/octet-stream"
            drive_id = parent.drive_id
            if who.service_account and drive_id is None and mime != FOLDER:
                raise ApiError(403, "storageQuotaExceeded", QUOTA_MESSAGE, domain="usageLimits")
            parent_key = MY_DRIVE_ROOT if parent_id == "root" else parent_id
            rec = FileRec(
                self._new_id(),
                str(meta.get("name") or "Untitled"),
                mime,
                [parent_key],
                drive_id=drive_id,
                content=None if mime == FOLDER else (content or b""),
                app_properties={k: str(v) for k, v in (meta.get("appProperties") or {}).items()},
                properties={k: str(v) for k, v in (meta.get("properties") or {}).items()},
                description=str(meta.get("description") or ""),
                created=self._now(),
                created_by=who.email,
            )
            rec.modified = rec.created
            if rec.content and mime.startswith("image/"):
                rec.width, rec.height = _image_size(rec.content)
            self.files[rec.id] = rec
            return rec


def _image_size(data: bytes) -> tuple[int | None, int | None]:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Exception:
        return None, None


def _b64url_json(part: str) -> dict[str, Any]:
    try:
        return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))
    except ValueError:
        return {}


class _Handler(BaseHTTPRequestHandler):
    emulator: DriveEmulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes; no 40 ms delayed-ACK stalls

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # Plumbing
    def _send(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "application/json; charset=UTF-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        if body or status not in (204, 304):
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(obj).encode(), headers=headers)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        emu = self.emulator
        parts = urlsplit(self.path)
        self.params = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        path = parts.path
        body = self._body()
        method = self.command
        override = self.headers.get("X-HTTP-Method-Override")
        if method == "POST" and override:
            # googleapiclient turns a GET whose URL passes 2048 characters into a POST carrying the query string
            # in a form body, as Google's front end accepts.
            method = override.upper()
            self.params.update({k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()})
            body = b""
        op = "unknown"
        status = 500
        try:
            route, op = self._route(method, path)
            with emu.lock:
                emu.calls[op] += 1
            if op == "token":
                status = self._token(body)
            else:
                who = self._principal()
                failure = emu.take_failure(op)
                if failure is not None:
                    raise failure
                status = route(who, body, path)
        except ApiError as err:
            status = err.status
            self._json(err.status, err.body())
        except (ValueError, KeyError, TypeError) as exc:  # malformed body or parameter
            status = 400
            self._json(400, invalid(f"Invalid request: {exc}", "body").body())
        with emu.lock:
            emu.log.append((op, f"{method} {path}", status))

    def _route(self, method: str, path: str) -> tuple[Callable[[Principal, bytes, str], int], str]:
        m = re.fullmatch(r"/drive/v3/files/([^/]+)", path)
        if path == "/token" and method == "POST":
            return (lambda *_: 0), "token"
        if path == "/drive/v3/files":
            if method == "GET":
                return self._list, "files.list"
            if method == "POST":
                return self._create_meta, "files.create"
        if m:
            if method == "GET":
                if self.params.get("alt") == "media":
                    return self._download, "files.download"
                return self._get, "files.get"
            if method == "PATCH":
                return self._update, "files.update"
            if method == "DELETE":
                return self._delete, "files.delete"
        if path == "/upload/drive/v3/files":
            kind = self.params.get("uploadType", "media")
            if method == "POST":
                return self._upload, f"upload.{kind}"
            if method == "PUT" and kind == "resumable":
                return self._resumable_put, "upload.chunk"
        if path == "/drive/v3/about" and method == "GET":
            return self._about, "about.get"
        if path.startswith("/thumbnails/") and method == "GET":
            return self._thumbnail, "thumbnail"
        if path == "/drive/v3/drives" and method == "GET":
            return self._drives_list, "drives.list"
        if re.fullmatch(r"/drive/v3/drives/[^/]+", path) and method == "GET":
            return self._drives_get, "drives.get"
        raise ApiError(404, "notFound", f"Not Found: {method} {path}")

    def _principal(self) -> Principal:
        emu = self.emulator
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            with emu.lock:
                who = emu.tokens.get(auth[7:].strip())
            if who is not None:
                return who
        elif not auth and emu.allow_anonymous:
            return Principal(OWNER_EMAIL, False)
        raise ApiError(
            401,
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access "
            "token, login cookie or other valid authentication credential.",
            location="Authorization",
            location_type="header",
        )

    def _flag(self, name: str) -> bool:
        return self.params.get(name, "").lower() == "true"

    # OAuth token endpoint
    def _token(self, body: bytes) -> int:
        emu = self.emulator
        form = {k: v[-1] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        grant = form.get("grant_type", "")
        with emu.lock:
            if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                pieces = form.get("assertion", "").split(".")
                claims = _b64url_json(pieces[1]) if len(pieces) == 3 else {}
                email = str(claims.get("iss", ""))
                if not email or email in emu.disabled_accounts:
                    self._json(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
                    return 400
                who = Principal(email, True)
            elif grant == "refresh_token":
                refresh = form.get("refresh_token", "")
                if not refresh or refresh in emu.revoked_refresh or "*" in emu.revoked_refresh:
                    self._json(
                        400, {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}
                    )
                    return 400
                who = Principal(emu.user_email, False)
            else:
                self._json(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
                return 400
            token = f"ya29.emu-{len(emu.tokens) + 1}-{hashlib.sha1(who.email.encode()).hexdigest()[:8]}"
            emu.tokens[token] = who
        self._json(
            200,
            {
                "access_token": token,
                "expires_in": 3599,
                "token_type": "Bearer",
                "scope": "https://www.googleapis.com/auth/drive",
            },
        )
        return 200

    # files.list
    def _list(self, who: Principal, body: bytes, path: str) -> int:
        emu = self.emulator
        p = self.params
        try:
            page_size = int(p.get("pageSize", "100"))
        except ValueError as exc:
            raise invalid(f"Invalid value '{p.get('pageSize')}'.", "pageSize") from exc
        if not 1 <= page_size <= 1000:
            raise invalid(f"Invalid value '{page_size}'. Values must be within the range: [1, 1000]", "pageSize")
        corpora = p.get("corpora", "user")
        if corpora not in ("user", "drive", "allDrives", "domain"):
            raise invalid(f"Invalid value '{corpora}'.", "corpora")
        drive_id = p.get("driveId")
        all_drives = self._flag("includeItemsFromAllDrives")
        if corpora == "drive" or drive_id:
            if not drive_id or corpora != "drive":
                raise invalid(
                    "The driveId parameter must be specified if and only if corpora is set to drive.", "driveId"
                )
            if not (all_drives and self._flag("supportsAllDrives")):
                raise ApiError(
                    403,
                    "teamDrivesParameterNotSupported" if not all_drives else "invalid",
                    "includeItemsFromAllDrives and supportsAllDrives must be true when driveId is set.",
                )
            if drive_id not in emu.drives:
                raise ApiError(404, "notFound", f"Shared drive not found: {drive_id}", location="driveId")
        with emu.lock:
            mine = frozenset(fid for fid, emails in emu.shared.items() if who.email in emails)
        pred = parse_query(p.get("q", ""), mine)
        with emu.lock:

            def in_corpus(f: FileRec) -> bool:
                if f.id == MY_DRIVE_ROOT:
                    return False
                if corpora == "drive":
                    return f.drive_id == drive_id
                if f.drive_id is not None:
                    return corpora == "allDrives" and all_drives
                return True

            matches = [f for f in emu.files.values() if in_corpus(f) and emu.visible(f, who) and pred(f)]
        matches.sort(key=_order_key(p.get("orderBy", "")))
        query_key = hashlib.sha1(f"{p.get('q', '')}|{corpora}|{drive_id}".encode()).hexdigest()[:10]
        start = 0
        if p.get("pageToken"):
            token = _b64url_json(p["pageToken"])
            if token.get("q") != query_key:
                raise invalid("Invalid Value", "pageToken")
            start = int(token.get("offset", 0))
        size = min(page_size, emu.page_cap)
        page = matches[start : start + size]
        out: dict[str, Any] = {
            "kind": "drive#fileList",
            "incompleteSearch": False,
            "files": [emu.resource(f) for f in page],
        }
        if start + size < len(matches):
            raw = json.dumps({"q": query_key, "offset": start + size}).encode()
            out["nextPageToken"] = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        tree = parse_fields(p.get("fields")) or {
            "kind": {},
            "nextPageToken": {},
            "incompleteSearch": {},
            "files": {"kind": {}, "id": {}, "name": {}, "mimeType": {}},
        }
        self._json(200, select(out, tree))
        return 200

    # files.get / download
    def _file_id(self, path: str) -> str:
        return path.rsplit("/", 1)[1]

    def _get(self, who: Principal, body: bytes, path: str) -> int:
        rec = self.emulator.get_visible(self._file_id(path), who, self._flag("supportsAllDrives"))
        default = {"kind": {}, "id": {}, "name": {}, "mimeType": {}}
        self._json(200, select(self.emulator.resource(rec), parse_fields(self.params.get("fields")) or default))
        return 200

    def _download(self, who: Principal, body: bytes, path: str) -> int:
        rec = self.emulator.get_visible(self._file_id(path), who, self._flag("supportsAllDrives"))
        if rec.content is None or rec.mime.startswith("application/vnd.google-apps."):
            raise ApiError(
                403,
                "fileNotDownloadable",
                "Only files with binary content can be downloaded. Use Export with Docs Editors files.",
                location="alt",
            )
        data = rec.content
        total = len(data)
        rng = self.headers.get("Range") or self.headers.get("range")
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", (rng or "").strip())
        if not m:
            self._send(200, data, rec.mime)
            return 200
        start = int(m.group(1))
        end = min(int(m.group(2)) if m.group(2) else total - 1, total - 1)
        if start >= total:
            self._send(416, b"", rec.mime, {"Content-Range": f"bytes */{total}"})
            return 416
        self._send(206, data[start : end + 1], rec.mime, {"Content-Range": f"bytes {start}-{end}/{total}"})
        return 206

    def _thumbnail(self, who: Principal, body: bytes, path: str) -> int:
        from PIL import Image

        emu = self.emulator
        m = THUMBNAIL.fullmatch(path)
        if m is None or not emu.thumbnail_valid(m["id"], int(m["exp"]), m["sig"]):
            self._send(403, b"<html><body>403. That's an error.</body></html>", "text/html; charset=UTF-8")
            return 403
        with emu.lock:
            rec = emu.files.get(m["id"])
            if rec is None or not emu.visible(rec, who) or not rec.content:
                rec = None
        if rec is None:
            self._send(404, b"<html><body>404. That's an error.</body></html>", "text/html; charset=UTF-8")
            return 404
        side = max(1, min(int(m["side"]), 1600))
        with Image.open(io.BytesIO(rec.content)) as im:
            small = im.convert("RGB")
        small.thumbnail((side, side))
        buf = io.BytesIO()
        small.save(buf, "JPEG", quality=80)
        self._send(200, buf.getvalue(), "image/jpeg")
        return 200

    # files.create (metadata only), update, delete
    def _create_meta(self, who: Principal, body: bytes, path: str) -> int:
        meta = json.loads(body or b"{}")
        rec = self.emulator.create(meta, None, who, self._flag("supportsAllDrives"))
        return self._created(rec)

    def _created(self, rec: FileRec, fields: str | None = None) -> int:
        default = {"kind": {}, "id": {}, "name": {}, "mimeType": {}}
        spec = fields if fields is not None else self.params.get("fields")
        self._json(200, select(self.emulator.resource(rec), parse_fields(spec) or default))
        return 200

    def _update(self, who: Principal, body: bytes, path: str) -> int:
        emu = self.emulator
        meta = json.loads(body or b"{}")
        with emu.lock:
            rec = emu.get_visible(self._file_id(path), who, self._flag("supportsAllDrives"))
            if "name" in meta:
                rec.name = str(meta["name"])
            if "trashed" in meta:
                rec.trashed = bool(meta["trashed"])
            if "description" in meta:
                rec.description = str(meta["description"] or "")
            for key, target in (("appProperties", rec.app_properties), ("properties", rec.properties)):
                for k, v in (meta.get(key) or {}).items():
                    if v is None:
                        target.pop(k, None)
                    else:
                        target[k] = str(v)
            if self.params.get("addParents") or self.params.get("removeParents"):
                remove = set(filter(None, self.params.get("removeParents", "").split(",")))
                add = [x for x in self.params.get("addParents", "").split(",") if x]
                rec.parents = [x for x in rec.parents if x not in remove] + add
            rec.modified = emu._now()
        return self._created(rec)

    def _delete(self, who: Principal, body: bytes, path: str) -> int:
        emu = self.emulator
        with emu.lock:
            rec = emu.get_visible(self._file_id(path), who, self._flag("supportsAllDrives"))
            doomed = {rec.id}
            changed = True
            while changed:
                changed = False
                for f in emu.files.values():
                    if f.id not in doomed and set(f.parents) & doomed:
                        doomed.add(f.id)
                        changed = True
            for fid in doomed:
                emu.files.pop(fid, None)
        self._send(204)
        return 204

    # Uploads
    def _upload(self, who: Principal, body: bytes, path: str) -> int:
        kind = self.params.get("uploadType", "media")
        all_drives = self._flag("supportsAllDrives")
        if kind == "media":
            rec = self.emulator.create({}, body, who, all_drives, self.headers.get("Content-Type"))
            return self._created(rec)
        if kind == "multipart":
            meta, media_mime, content = _parse_multipart(self.headers.get("Content-Type", ""), body)
            rec = self.emulator.create(meta, content, who, all_drives, media_mime)
            return self._created(rec)
        if kind == "resumable":
            meta = json.loads(body or b"{}")
            # Permission and quota are checked when the session starts, as Drive does.
            parents = meta.get("parents") or [MY_DRIVE_ROOT]
            parent = self.emulator.get_visible(parents[0], who, all_drives)
            mime = meta.get("mimeType") or self.headers.get("X-Upload-Content-Type") or "application/octet-stream"
            if who.service_account and parent.drive_id is None and mime != FOLDER:
                raise ApiError(403, "storageQuotaExceeded", QUOTA_MESSAGE, domain="usageLimits")
            sid = hashlib.sha1(f"session-{len(self.emulator._sessions)}-{id(body)}".encode()).hexdigest()
            with self.emulator.lock:
                self.emulator._sessions[sid] = {
                    "meta": meta,
                    "who": who,
                    "all_drives": all_drives,
                    "data": bytearray(),
                    "mime": self.headers.get("X-Upload-Content-Type"),
                    "fields": self.params.get("fields"),
                    "total": self.headers.get("X-Upload-Content-Length"),
                    "done": None,
                }
            query = "&".join(f"{k}={v}" for k, v in self.params.items() if k != "upload_id")
            location = f"{self.emulator.url}upload/drive/v3/files?{query}&upload_id={sid}"
            self._send(200, b"", headers={"Location": location})
            return 200
        raise invalid(f"Invalid upload type {kind}", "uploadType")

    def _resumable_put(self, who: Principal, body: bytes, path: str) -> int:
        emu = self.emulator
        sid = self.params.get("upload_id", "")
        with emu.lock:
            session = emu._sessions.get(sid)
        if session is None:
            raise ApiError(404, "notFound", "No such upload session.")
        if session["done"] is not None:
            return self._created(session["done"], session["fields"])
        rng = self.headers.get("Content-Range", "")
        data: bytearray = session["data"]
        m_status = re.fullmatch(r"bytes \*/(\d+|\*)", rng)
        m_chunk = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+|\*)", rng)
        if m_status:
            return self._upload_progress(len(data))
        if not m_chunk:
            raise invalid("Invalid Content-Range header.", "Content-Range")
        start, end, total_s = int(m_chunk.group(1)), int(m_chunk.group(2)), m_chunk.group(3)
        if start != len(data) or end - start + 1 != len(body):
            raise invalid("The chunk does not continue the upload.", "Content-Range")
        last = total_s != "*" and end + 1 == int(total_s)
        if not last and len(body) % CHUNK_GRANULARITY:
            raise invalid("Chunks other than the last must be a multiple of 256 KiB.", "Content-Range")
        data.extend(body)
        if not last:
            return self._upload_progress(len(data))
        rec = emu.create(session["meta"], bytes(data), session["who"], session["all_drives"], session["mime"])
        session["done"] = rec
        return self._created(rec, session["fields"])

    def _upload_progress(self, received: int) -> int:
        headers = {"Range": f"bytes=0-{received - 1}"} if received else {}
        self._send(308, b"", headers=headers)
        return 308

    # about / drives
    def _about(self, who: Principal, body: bytes, path: str) -> int:
        out = {
            "kind": "drive#about",
            "user": {
                "kind": "drive#user",
                "displayName": who.email.split("@")[0],
                "emailAddress": who.email,
                "me": True,
            },
        }
        self._json(200, select(out, parse_fields(self.params.get("fields"))))
        return 200

    def _drives_list(self, who: Principal, body: bytes, path: str) -> int:
        emu = self.emulator
        with emu.lock:
            drives = [
                {"kind": "drive#drive", "id": d, "name": n}
                for d, n in sorted(emu.drives.items(), key=lambda kv: kv[1])
                if who.email not in emu.hidden.get(d, set())
            ]
        self._json(200, select({"kind": "drive#driveList", "drives": drives}, parse_fields(self.params.get("fields"))))
        return 200

    def _drives_get(self, who: Principal, body: bytes, path: str) -> int:
        emu = self.emulator
        drive_id = path.rsplit("/", 1)[1]
        if drive_id not in emu.drives or who.email in emu.hidden.get(drive_id, set()):
            raise ApiError(404, "notFound", f"Shared drive not found: {drive_id}", location="driveId")
        self._json(200, {"kind": "drive#drive", "id": drive_id, "name": emu.drives[drive_id]})
        return 200


def _order_key(order_by: str) -> Callable[[FileRec], Any]:
    keys = [k.strip() for k in order_by.split(",") if k.strip()] or ["name"]

    def key(f: FileRec) -> Any:
        out: list[Any] = []
        for k in keys:
            field_name = k.split()[0]
            if field_name == "folder":
                out.append(0 if f.mime == FOLDER else 1)
            elif field_name in ("name", "name_natural"):
                out.append(f.name.lower())
            elif field_name in ("modifiedTime", "createdTime"):
                out.append(f.modified if field_name == "modifiedTime" else f.created)
        out.append(f.id)
        return tuple(out)

    return key


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, Any], str | None, bytes]:
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/related") or not m:
        raise invalid("Multipart upload needs a multipart/related body.", "uploadType")
    boundary = b"--" + m.group(1).encode()
    parts = []
    for chunk in body.split(boundary)[1:]:
        if chunk.startswith(b"--"):
            break
        chunk = chunk[2:] if chunk.startswith(b"\r\n") else chunk[1:] if chunk.startswith(b"\n") else chunk
        sep = b"\r\n\r\n" if b"\r\n\r\n" in chunk else b"\n\n"
        head, _, payload = chunk.partition(sep)
        if payload.endswith(b"\r\n"):
            payload = payload[:-2]
        elif payload.endswith(b"\n"):
            payload = payload[:-1]
        headers = {}
        for line in head.decode("latin-1").splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        parts.append((headers, payload))
    if len(parts) != 2:
        raise invalid("Multipart upload needs exactly a metadata part and a media part.", "uploadType")
    meta = json.loads(parts[0][1] or b"{}")
    return meta, parts[1][0].get("content-type"), parts[1][1]


# Test helpers: credentials files that point their token endpoint at the emulator -------------------------------

_KEY_PEM: str | None = None


def _private_key_pem() -> str:
    global _KEY_PEM
    if _KEY_PEM is None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _KEY_PEM = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    return _KEY_PEM


SA_EMAIL = "gecko-export@imagegecko-test.iam.gserviceaccount.com"


def service_account_json(emu: DriveEmulator, email: str = SA_EMAIL) -> str:
    """A service-account key file (real RSA key) whose token_uri is the emulator."""
    return json.dumps(
        {
            "type": "service_account",
            "project_id": "imagegecko-test",
            "private_key_id": "0123456789abcdef",
            "private_key": _private_key_pem(),
            "client_email": email,
            "client_id": "104242424242424242424",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": emu.token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        }
    )


def authorized_user_json(emu: DriveEmulator, refresh_token: str = "1//0refresh-token-for-tests") -> str:
    """An authorized-user file (what `gcloud auth application-default login` or an OAuth flow saves)."""
    return json.dumps(
        {
            "type": "authorized_user",
            "client_id": "1234.apps.googleusercontent.com",
            "client_secret": "GOCSPX-test",
            "refresh_token": refresh_token,
            "token_uri": emu.token_uri,
            "account": emu.user_email,
        }
    )


def jpeg_bytes(color: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (512, 512)) -> bytes:
    """A product-like photo: a coloured square on a white background."""
    from PIL import Image, ImageDraw

    im = Image.new("RGB", size, (255, 255, 255))
    w, h = size
    ImageDraw.Draw(im).rectangle((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=color)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    return buf.getvalue()
