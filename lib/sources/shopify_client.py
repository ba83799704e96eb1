"""Shopify Admin GraphQL plumbing: a thin httpx client with a pinned API version, access tokens (a static Admin API
token, or the client-credentials grant cached and renewed before its 24 h run out), pacing from the cost bucket, and
typed errors.

Rules from reference/shopify.md that shape this module:
- Every answer carries `extensions.cost.throttleStatus`. The client keeps a model of the bucket (what is available
  now, refilled at restoreRate) and of each document's requested cost, and waits before sending a document the
  bucket cannot pay for, so THROTTLED answers are rare; when one comes (or HTTP 429), it waits
  (requested - available) / restoreRate (or Retry-After) and sends again.
- Business errors come back as HTTP 200 in `userErrors` / `mediaUserErrors`: callers turn those into sentences
  (`user_errors`). `errors` with ACCESS_DENIED name a missing scope.
- Staged uploads go to a storage host, not the shop: the form is posted without the shop's token.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from lib.errors import (
    AppError,
    ImageTooLarge,
    InputError,
    NotAStoreError,
    SourceAuthError,
    SourceError,
    SourceNotFound,
    SourceUnavailable,
)
from lib.outbound import OutboundPolicy

API_VERSION = "2026-01"  # pinned: a version is supported for at least 12 months
USER_AGENT = "ImageGecko-Studio/0.1"
# Shopify's own hosts besides the shop: its image CDN and the storage that takes staged uploads.
SHOPIFY_HOSTS = ("cdn.shopify.com", "shopify-staged-uploads.storage.googleapis.com")
RENEW_BEFORE = 3600.0  # a client-credentials token (24 h) is renewed when less than this is left
MAX_INLINE_WAIT = 30.0
# How waits happen (pacing, retries, polling). Module-level so tests and benchmarks replace it instead of sleeping.
SLEEP: Callable[[float], None] = time.sleep
CLOCK: Callable[[], float] = time.time

Sink = Callable[[str, str, str, int | None, float, str | None], None]


@dataclass(frozen=True)
class ShopifyCredentials:
    shop_url: str  # https://{shop}.myshopify.com (or a loopback address in development)
    access_token: str = ""  # a static Admin API token (legacy custom app)
    client_id: str = ""  # or a Dev Dashboard app's client id and secret (client-credentials grant)
    client_secret: str = ""

    @property
    def uses_client_credentials(self) -> bool:
        return not self.access_token and bool(self.client_id)


def normalize_shop(text: str) -> str:
    """The shop's base URL from what a person types: `my-shop`, `my-shop.myshopify.com`, an admin link
    (`admin.shopify.com/store/my-shop`), or for development an http(s) loopback address."""
    raw = (text or "").strip().rstrip("/")
    if not raw:
        raise InputError("Enter the shop's address, like my-shop.myshopify.com.")
    m = re.search(r"admin\.shopify\.com/store/([a-z0-9][a-z0-9-]*)", raw, re.I)
    if m:
        return f"https://{m.group(1).lower()}.myshopify.com"
    if re.fullmatch(r"[a-z0-9][a-z0-9-]*", raw, re.I):
        return f"https://{raw.lower()}.myshopify.com"
    parts = urlsplit(raw if "://" in raw else f"https://{raw}")
    host = (parts.hostname or "").lower()
    if parts.scheme in ("http", "https") and _is_loopback(host):
        return f"{parts.scheme}://{parts.netloc}"
    if parts.scheme == "https" and re.fullmatch(r"[a-z0-9][a-z0-9-]*\.myshopify\.com", host):
        return f"https://{host}"
    raise InputError(
        f"{raw[:80]!r} is not a Shopify shop address. Use the shop's myshopify.com address (Settings › Domains "
        "shows it), like my-shop.myshopify.com: the Admin API does not answer on custom domains."
    )


def shop_policy(base: str, *, image_hosts: tuple[str, ...] | list[str] = ()) -> OutboundPolicy:
    """Where a shop's client may send requests: the shop (wherever it lives: it was allowed when connected),
    Shopify's CDN and upload storage, and the image hosts an admin added."""
    return OutboundPolicy.for_store(base, image_hosts=[*SHOPIFY_HOSTS, *image_hosts], what="That Shopify address")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Bucket:
    """The client's picture of the shop's cost bucket, shared by every thread using the client."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.maximum = 1000.0
        self.available: float | None = None  # unknown until the first answer
        self.rate = 50.0
        self.at = CLOCK()
        self.in_flight = 0.0

    def _now(self) -> float:
        now = CLOCK()
        if self.available is not None:
            self.available = min(self.maximum, self.available + (now - self.at) * self.rate)
        self.at = now
        return self.available if self.available is not None else self.maximum

    def reserve(self, cost: float) -> float:
        """Take `cost` points; returns how long to wait before sending (0 when the bucket can pay now)."""
        with self.lock:
            available = self._now() - self.in_flight
            self.in_flight += cost
            if cost <= available:
                return 0.0
            # A point more than the deficit: the shop reports what is available rounded.
            return (cost - available + 1.0) / max(self.rate, 1e-6)

    def settle(self, cost: float, status: Mapping[str, Any] | None) -> None:
        with self.lock:
            self.in_flight = max(0.0, self.in_flight - cost)
            if status:
                self.maximum = float(status.get("maximumAvailable") or self.maximum)
                self.rate = float(status.get("restoreRate") or self.rate)
                self.available = float(status.get("currentlyAvailable") or 0.0)
                self.at = CLOCK()


class _TokenCache:
    """Client-credentials tokens per (shop, client id), shared by the clients of one process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: dict[tuple[str, str, str], tuple[str, float, str]] = {}  # -> (token, expires at, scope)

    def get(self, key: tuple[str, str, str]) -> tuple[str, float, str] | None:
        with self.lock:
            return self.tokens.get(key)

    def put(self, key: tuple[str, str, str], value: tuple[str, float, str]) -> None:
        with self.lock:
            self.tokens[key] = value

    def drop(self, key: tuple[str, str, str]) -> None:
        with self.lock:
            self.tokens.pop(key, None)


TOKENS = _TokenCache()


class ShopifyClient:
    """One shop. Thread-safe: the token, the bucket and the httpx pool are shared."""

    def __init__(
        self,
        creds: ShopifyCredentials,
        *,
        timeout: float = 20.0,
        retries: int = 3,
        max_image_bytes: int = 25 << 20,
        sink: Sink | None = None,
        api_version: str = API_VERSION,
        policy: OutboundPolicy | None = None,
    ) -> None:
        self.base = normalize_shop(creds.shop_url)
        # Every request (the Admin API, staged uploads, image downloads, redirects) passes the outbound policy.
        self.policy = policy or shop_policy(self.base)
        self.creds = creds
        self.timeout = timeout
        self.retries = max(0, retries)
        self.max_image_bytes = max_image_bytes
        self.sink = sink
        self.api_version = api_version
        self.endpoint = f"{self.base}/admin/api/{api_version}/graphql.json"
        self.http = self.policy.client(timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT})
        self.bucket = _Bucket()
        self._costs: dict[str, float] = {}  # document -> its last requested cost
        self._token_lock = threading.Lock()
        self.throttled = 0  # THROTTLED answers and 429s received (the bench reports them)
        self.calls = 0
        self.granted_scopes: str | None = None  # from the token exchange, when there was one

    def close(self) -> None:
        self.http.close()

    def _record(self, method: str, url: str, status: int | None, start: float, error: str | None) -> None:
        if self.sink is not None:
            self.sink("shopify", method, url, status, (time.perf_counter() - start) * 1000, error)

    # Tokens ----------------------------------------------------------------------------------------------
    def token(self, *, renew: bool = False) -> str:
        if not self.creds.uses_client_credentials:
            if not self.creds.access_token:
                raise SourceAuthError("No Admin API access token or client id is saved for this shop.")
            return self.creds.access_token
        # The secret's digest is part of the key: a wrong secret never borrows a token a right one got.
        key = (self.base, self.creds.client_id, hashlib.sha256(self.creds.client_secret.encode()).hexdigest())
        with self._token_lock:
            cached = TOKENS.get(key)
            if cached and not renew and cached[1] - CLOCK() > RENEW_BEFORE:
                self.granted_scopes = cached[2]
                return cached[0]
            token, expires_in, scope = self._exchange()
            TOKENS.put(key, (token, CLOCK() + expires_in, scope))
            self.granted_scopes = scope
            return token

    def _exchange(self) -> tuple[str, float, str]:
        url = f"{self.base}/admin/oauth/access_token"
        start = time.perf_counter()
        try:
            resp = self.http.post(
                url,
                data={
                    "grant_type": "client_credentials",
                    "client_id": self.creds.client_id,
                    "client_secret": self.creds.client_secret,
                },
                headers={"Accept": "application/json"},
            )
        except httpx.TimeoutException:
            self._record("POST", url, None, start, "timeout")
            raise SourceUnavailable(
                f"The shop did not answer within {self.timeout:g} s. Try again in a moment."
            ) from None
        except httpx.TransportError as exc:
            self._record("POST", url, None, start, "connection")
            raise SourceUnavailable(
                "The connection to the shop failed. Check the address and try again.", detail=type(exc).__name__
            ) from None
        self._record("POST", url, resp.status_code, start, None)
        body = _json(resp)
        if resp.status_code == 200 and isinstance(body, dict) and body.get("access_token"):
            return str(body["access_token"]), float(body.get("expires_in") or 86399), str(body.get("scope") or "")
        if resp.status_code in (400, 401, 403) and isinstance(body, dict):
            raise SourceAuthError(
                "Shopify refused the app's client id and secret. Copy them again from the app's settings in the "
                "Dev Dashboard; the app must be installed on this shop, which your organisation must own.",
                detail=f"HTTP {resp.status_code} {body.get('error') or ''}".strip(),
            )
        if resp.status_code >= 500 or resp.status_code == 429:
            raise SourceUnavailable("Shopify could not issue a token just now. Try again in a moment.")
        raise NotAStoreError(
            "This address does not answer like a Shopify shop. Use the shop's myshopify.com address.",
            detail=f"HTTP {resp.status_code}",
        )

    # GraphQL ---------------------------------------------------------------------------------------------
    def graphql(self, query: str, variables: Mapping[str, Any] | None = None, *, what: str = "") -> dict[str, Any]:
        """Run one document; returns `data`. Paces itself by the bucket; retries THROTTLED, 429, 5xx and dropped
        connections (GraphQL reads are idempotent; every mutation the app sends is safe to repeat or is guarded by
        a read first)."""
        op = _operation(query)
        attempt = 0
        renewed = False
        while True:
            cost = self._costs.get(query, 10.0)
            wait = self.bucket.reserve(cost)
            if wait > 0:
                SLEEP(wait)
            try:
                body, status = self._post(query, variables, op)
            except AppError as exc:
                self.bucket.settle(cost, None)
                if isinstance(exc, SourceAuthError) and self.creds.uses_client_credentials and not renewed:
                    renewed = True  # a token revoked or expired early: ask once for a new one
                    self.token(renew=True)
                    continue
                if not exc.retryable or attempt >= self.retries:
                    raise
                attempt += 1
                wait_for = getattr(exc, "retry_after", None) or min(8.0, 0.5 * 2**attempt)
                if wait_for > MAX_INLINE_WAIT:
                    raise
                SLEEP(wait_for)
                continue
            cost_info = (body.get("extensions") or {}).get("cost") or {}
            throttle = cost_info.get("throttleStatus")
            requested = cost_info.get("requestedQueryCost")
            if isinstance(requested, int | float):
                self._costs[query] = float(requested)
            self.bucket.settle(cost, throttle)
            errors = body.get("errors")
            if errors and any(_code(e) == "THROTTLED" for e in errors):
                self.throttled += 1
                maximum = float((throttle or {}).get("maximumAvailable") or 0.0)
                if maximum and float(requested or 0.0) > maximum:
                    raise SourceError(
                        f"This request costs more ({requested} points) than the shop's rate limit ever allows "
                        f"({maximum:g}).",
                        detail=op,
                    )
                if attempt >= self.retries + 5:
                    raise SourceUnavailable(
                        "Shopify keeps limiting how fast we call it (rate limit). Try again in a minute."
                    )
                attempt += 1
                available = float((throttle or {}).get("currentlyAvailable") or 0.0)
                rate = float((throttle or {}).get("restoreRate") or 50.0)
                SLEEP(max(0.05, (float(requested or cost) - available) / rate))
                continue
            if errors:
                raise _graphql_error(errors, body.get("data"), what)
            data = body.get("data")
            if not isinstance(data, dict):
                raise SourceError("Shopify answered without data.", detail=op)
            return data

    def _post(self, query: str, variables: Mapping[str, Any] | None, op: str) -> tuple[dict[str, Any], int]:
        token = self.token()
        start = time.perf_counter()
        url = f"{self.endpoint}#{op}"
        self.calls += 1
        try:
            resp = self.http.post(
                self.endpoint,
                json={"query": query, "variables": dict(variables or {})},
                headers={"X-Shopify-Access-Token": token, "Accept": "application/json"},
            )
        except httpx.TimeoutException:
            self._record("POST", url, None, start, "timeout")
            raise SourceUnavailable(
                f"Shopify did not answer within {self.timeout:g} s. Try again in a moment."
            ) from None
        except httpx.TransportError as exc:
            self._record("POST", url, None, start, "connection")
            raise SourceUnavailable(
                "The connection to Shopify failed or was dropped. Try again in a moment.", detail=type(exc).__name__
            ) from None
        self._record("POST", url, resp.status_code, start, None)
        body = _json(resp)
        if resp.status_code == 200 and isinstance(body, dict):
            return body, 200
        raise self._http_error(resp, body)

    def _http_error(self, resp: httpx.Response, body: Any) -> AppError:
        status = resp.status_code
        detail = f"HTTP {status}"
        said = body.get("errors") if isinstance(body, dict) else None
        if status == 401:
            how = (
                "Check the app's client id and secret on the Connect page."
                if self.creds.uses_client_credentials
                else "Check the Admin API access token on the Connect page (it starts with shpat_)."
            )
            return SourceAuthError(f"Shopify refused the access token. {how}", detail=detail)
        if status == 402:
            return SourceError(
                "This shop is frozen (its Shopify plan is unpaid). Publishing resumes once it is paid.", detail=detail
            )
        if status == 403:
            return SourceAuthError(
                "Shopify refused the request (403): the app is not allowed to do this.", detail=detail
            )
        if status == 423:
            return SourceError(
                "This shop is locked by Shopify. Ask the shop owner to contact Shopify support.", detail=detail
            )
        if status == 404:
            if isinstance(said, str) and said:
                return NotAStoreError(
                    f"Shopify does not know this shop or API version {self.api_version}. Check the shop address.",
                    detail=detail,
                )
            return NotAStoreError(
                "This address does not answer like a Shopify shop (no Admin API). Use the shop's myshopify.com "
                "address.",
                detail=detail,
            )
        if status in (301, 302, 303, 307, 308):
            return SourceError(
                f"The shop address redirects to {resp.headers.get('Location', '?')}: use the myshopify.com address.",
                detail=detail,
            )
        if status == 429:
            self.throttled += 1
            return SourceUnavailable(
                "Shopify is limiting how fast we call it (too many requests). We will wait and try again.",
                retry_after=_retry_after(resp.headers.get("Retry-After")) or 1.0,
                detail=detail,
            )
        if status >= 500:
            return SourceUnavailable(
                f"Shopify had an internal error (HTTP {status}). Try again in a moment.",
                retry_after=_retry_after(resp.headers.get("Retry-After")),
                detail=detail,
            )
        if body is None:
            return NotAStoreError(
                "This address does not answer like a Shopify shop (the answer is not JSON).", detail=detail
            )
        return SourceError(f"Shopify refused the request (HTTP {status}).", detail=detail)

    # Staged uploads and downloads ------------------------------------------------------------------------
    def post_staged(self, target: Mapping[str, Any], data: bytes, *, filename: str, mime: str) -> None:
        """POST the file to the signed storage target (form fields first, then the file; no shop token)."""
        url = str(target["url"])
        fields = {str(p["name"]): str(p["value"]) for p in target.get("parameters") or []}
        for attempt in range(self.retries + 1):
            start = time.perf_counter()
            try:
                resp = self.http.post(
                    url,
                    data=fields,
                    files={"file": (filename, data, mime)},
                    timeout=self.timeout,
                    headers={"User-Agent": USER_AGENT},
                )
            except httpx.TransportError as exc:
                self._record("POST", _no_query(url), None, start, "connection")
                if attempt >= self.retries:
                    raise SourceUnavailable(
                        "The upload to Shopify's storage failed. Try again in a moment.", detail=type(exc).__name__
                    ) from None
                SLEEP(min(8.0, 0.5 * 2**attempt))
                continue
            self._record("POST", _no_query(url), resp.status_code, start, None)
            if resp.status_code in (200, 201, 204):
                return
            if resp.status_code >= 500 and attempt < self.retries:
                SLEEP(min(8.0, 0.5 * 2**attempt))
                continue
            raise SourceError(
                f"Shopify's storage refused the upload of {filename} (HTTP {resp.status_code}).",
                detail=resp.text[:200],
            )

    def download(self, url: str) -> bytes:
        """An image from Shopify's CDN: no token sent, stopped past the byte limit, retried if transient."""
        if urlsplit(url).scheme not in ("http", "https"):
            raise SourceNotFound(f"The image address {url[:80]!r} is not a web address.")
        limit = self.max_image_bytes
        for attempt in range(self.retries + 1):
            start = time.perf_counter()
            try:
                with self.http.stream("GET", url, follow_redirects=True, headers={"Accept": "image/*"}) as resp:
                    self._record("GET", _no_query(url), resp.status_code, start, None)
                    if resp.status_code in (404, 410):
                        raise SourceNotFound("That image no longer exists in the shop.")
                    if resp.status_code >= 500 or resp.status_code == 429:
                        raise SourceUnavailable(f"Shopify's CDN answered HTTP {resp.status_code}.")
                    if resp.status_code >= 400:
                        raise SourceError(f"Shopify's CDN refused the image (HTTP {resp.status_code}).")
                    buf = bytearray()
                    for chunk in resp.iter_bytes():
                        buf += chunk
                        if len(buf) > limit:
                            raise ImageTooLarge(
                                f"This image is larger than {limit / (1 << 20):.0f} MB; it was not downloaded."
                            )
                    return bytes(buf)
            except (httpx.TransportError, SourceUnavailable) as exc:
                if attempt >= self.retries:
                    if isinstance(exc, SourceUnavailable):
                        raise
                    raise SourceUnavailable("The image download from Shopify failed. Try again in a moment.") from None
                SLEEP(min(8.0, 0.5 * 2**attempt))
        raise AssertionError("unreachable")


def user_errors(errors: list[Mapping[str, Any]] | None, doing: str) -> str | None:
    """`userErrors` / `mediaUserErrors` as one sentence, or None when there are none."""
    if not errors:
        return None
    parts = []
    for e in errors:
        code = e.get("code")
        message = str(e.get("message") or code or "refused")
        parts.append(message.rstrip(".") + (f" ({code})" if code else ""))
    return f"Shopify refused to {doing}: " + "; ".join(parts) + "."


def _code(error: Mapping[str, Any]) -> str:
    ext = error.get("extensions") or {}
    return str(ext.get("code") or "") if isinstance(ext, Mapping) else ""


def _graphql_error(errors: list[Mapping[str, Any]], data: Any, what: str) -> AppError:
    first = errors[0] if errors else {}
    message = str(first.get("message") or "")
    code = _code(first)
    if code == "ACCESS_DENIED" or "access denied" in message.lower():
        needed = str((first.get("extensions") or {}).get("requiredAccess") or "").replace("`", "")
        scope = re.search(r"(read|write)_\w+", needed or message)
        scope_name = scope.group(0) if scope else "the needed"
        return SourceAuthError(
            f"The app may not do this: it lacks the {scope_name} access scope. In the app's configuration, add "
            f"{scope_name}, release a new version and reinstall or update the app on the shop, then test the "
            "connection again.",
            detail=message[:200],
        )
    if code == "MAX_COST_EXCEEDED":
        return SourceError("A request to Shopify asked for too much at once (query cost limit).", detail=message[:200])
    if "Invalid global id" in message:
        return SourceNotFound(f"{what or 'That item'} does not exist in the shop.", detail=message[:200])
    return SourceError(f"Shopify refused the request: {message[:200]}", detail=code or None)


def _operation(query: str) -> str:
    m = re.search(r"\b(query|mutation)\s+(\w+)", query)
    if m:
        return m.group(2)
    m = re.search(r"\{\s*(\w+)", query)
    return m.group(1) if m else "graphql"


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _no_query(url: str) -> str:
    return url.split("?", 1)[0]
