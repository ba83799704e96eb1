"""WooCommerce and WordPress HTTP plumbing: the `woocommerce` client for wc/v3, httpx for wp/v2 (Application
Password) and image downloads; typed errors, retries of idempotent reads, and a record of every call.

Rules from reference/woocommerce/README.md that shape this module:
- Over http the `woocommerce` client signs every request with OAuth 1.0a in the query string, so a request URL
  carries the key, a nonce and a signature: only `lib.events.safe_url` versions of URLs are ever recorded, and a
  filter on the HTTP libraries' loggers (urllib3 logs each request line at DEBUG) masks those values in any log.
- The `Link` header is built from the request's own query (nonce, signature, or even the consumer secret): it is
  never read or followed; page URLs are built from page numbers. Redirects are not followed either (a signed URL
  must not be replayed elsewhere); a redirect becomes a clear error naming the new address.
- Consumer keys cannot authenticate wp/v2: media goes through WordPress with an Application Password.
"""

from __future__ import annotations

import email.utils
import html
import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, stop_any
from tenacity.stop import stop_base
from woocommerce import API

from lib.display_text import clean
from lib.errors import (
    AppError,
    ImageTooLarge,
    InputError,
    NotAStoreError,
    OutboundRefused,
    PublishError,
    SourceAuthError,
    SourceError,
    SourceNotFound,
    SourceUnavailable,
)
from lib.events import SECRET_PARAMS, safe_url
from lib.outbound import OutboundPolicy

USER_AGENT = "ImageGecko-Studio/0.1"
DOWNLOAD_DEADLINE_FACTOR = 3  # a whole image download may take this many times the per-read timeout
MAX_INLINE_WAIT = 30.0  # a longer Retry-After is handed to the caller (the worker requeues) instead of blocking
# How retries wait between attempts. Module-level so tests and benchmarks replace it instead of sleeping.
SLEEP: Callable[[float], None] = time.sleep

_SECRET_IN_QUERY = re.compile(r"(?i)([?&;](?:" + "|".join(sorted(map(re.escape, SECRET_PARAMS))) + r")=)[^&\s\"';>]*")


def redact(text: str) -> str:
    """`text` with the value of every credential-carrying query parameter replaced by `***`."""
    return _SECRET_IN_QUERY.sub(r"\1***", text)


class _RedactSignedUrls(logging.Filter):
    """urllib3 logs every request line at DEBUG (and its retry helper the URL): over http the `woocommerce` client's
    URLs carry the consumer key, nonce and signature. Whatever the log level, those never reach a log."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's business
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


_REDACT = _RedactSignedUrls()
for _name in (
    "urllib3.connectionpool",
    "urllib3.util.retry",
    "urllib3.poolmanager",
    "requests",
    "httpx",
    "httpcore.http11",
    "httpcore.connection",
):
    if not any(isinstance(f, _RedactSignedUrls) for f in logging.getLogger(_name).filters):
        logging.getLogger(_name).addFilter(_REDACT)

# service ("woocommerce" | "wordpress"), method, safe url, status (None = no answer), milliseconds, error kind
Sink = Callable[[str, str, str, int | None, float, str | None], None]


@dataclass(frozen=True)
class WooCredentials:
    url: str
    consumer_key: str
    consumer_secret: str
    wp_user: str = ""
    app_password: str = ""


def _is_host(host: str) -> bool:
    """A host name with a dot (shop.example.com), localhost, or an IP address: "my shop" or "shop" is not an
    address, so the check must not tick it."""
    import ipaddress

    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    label = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
    return host == "localhost" or re.fullmatch(rf"(?:{label}\.)+(?:{label})\.?", host.lower()) is not None


def normalize_url(url: str) -> str:
    """The store's base URL: scheme and host required, no trailing slash, no query."""
    url = (url or "").strip()
    if url and "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or not _is_host(parts.hostname):
        raise InputError("Enter the store's address, like https://shop.example.com.")
    if parts.username or parts.password:
        raise InputError("Leave user names and passwords out of the store address; use the fields below it.")
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def plain_text(value: Any) -> str:
    """HTML from a store field as one line of plain text: tags dropped, entities decoded, whitespace collapsed."""
    text = str(value or "")
    text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", " ", text)
    text = re.sub(r"(?s)<!--.*?-->", " ", text)
    text = re.sub(r"<[^>]*>", " ", text)
    # clean(): NULs, control and bidi characters never reach the database (lib/display_text.py says why).
    return clean(html.unescape(text).replace("\xa0", " "))


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _json(resp: Any) -> Any:
    try:
        return resp.json()
    except ValueError:
        return None


def store_error(
    status: int,
    body: Any,
    *,
    service: str,
    what: str = "",
    retry_after: float | None = None,
    location: str | None = None,
    secure: bool = True,
) -> AppError:
    """The typed error for a non-2xx answer, with a sentence a merchant can act on."""
    data = body if isinstance(body, dict) else {}
    code = str(data.get("code") or "")
    message = plain_text(data.get("message") or "")
    said = f" The store said: {message}" if message else ""
    where = "WordPress" if service == "wordpress" else "The store"
    detail = f"HTTP {status} {code}".strip()
    if status in (301, 302, 303, 307, 308):
        return SourceError(
            f"{where} redirected to {safe_url(location or '?')}. Use that address for the store.", detail=detail
        )
    if code == "incorrect_password":
        return SourceAuthError(
            "WordPress refused the Application Password. Create a new one in Users › Profile › "
            "Application Passwords and save it on the Connect page.",
            detail=detail,
        )
    if code == "invalid_username":
        return SourceAuthError(
            "WordPress does not know that user name. Enter the WordPress user the Application Password belongs to.",
            detail=detail,
        )
    if code == "rest_cannot_create" and status == 400:
        return SourceAuthError(
            "This WordPress user is not allowed to upload media. Use an Administrator or Shop "
            "manager account's Application Password.",
            detail=detail,
        )
    if code in ("rest_cannot_create", "rest_not_logged_in", "rest_cannot_edit") and service == "wordpress":
        if secure:
            return SourceAuthError(
                "WordPress did not accept the Application Password. Check the WordPress user and "
                "Application Password on the Connect page.",
                detail=detail,
            )
        return SourceAuthError(
            "WordPress did not accept the Application Password. Over plain http WordPress refuses "
            "Application Passwords unless the site is a local one: use the store's https address.",
            detail=detail,
        )
    if status in (401, 403):
        if "write permissions" in message:
            return SourceAuthError(
                "The store's API key is read-only. In WooCommerce › Settings › Advanced › REST "
                "API, set the key's permissions to Read/Write.",
                detail=detail,
            )
        return SourceAuthError(
            f"The store refused our API key.{said} Check the consumer key and secret on the Connect page.",
            detail=detail,
        )
    if status == 404:
        if code == "rest_no_route" or not code:
            return NotAStoreError(
                "This address answers, but not as a WooCommerce store (no /wp-json/wc/v3 API). "
                "Check the address and that WooCommerce is active.",
                detail=detail,
            )
        return SourceNotFound(f"{what or 'That item'} no longer exists in the store.", detail=detail)
    if status == 429:
        return SourceUnavailable(
            f"{where} is limiting how fast we call it (too many requests). Try again in a moment.",
            retry_after=retry_after,
            detail=detail,
        )
    if status >= 500:
        return SourceUnavailable(
            f"{where} had an internal error (HTTP {status}). Try again in a moment.",
            retry_after=retry_after,
            detail=detail,
        )
    if code in ("woocommerce_product_invalid_image_id", "woocommerce_variation_invalid_image_id"):
        return PublishError(f"The store refused the image list ({message}); it changed nothing.", detail=detail)
    if code == "woocommerce_rest_product_invalid_id":
        return SourceNotFound(f"{what or 'That product'} no longer exists in the store.", detail=detail)
    return SourceError(f"{where} refused the request (HTTP {status}).{said}", detail=detail)


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    backoff = min(8.0, 0.5 * 2 ** (state.attempt_number - 1)) * random.uniform(0.8, 1.2)
    retry_after = getattr(exc, "retry_after", None) or 0.0
    return min(MAX_INLINE_WAIT, max(backoff, retry_after))


class _LongWait(stop_base):
    """Stop retrying when the server asks for a longer wait than MAX_INLINE_WAIT (the caller requeues instead)."""

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        return (getattr(exc, "retry_after", None) or 0.0) > MAX_INLINE_WAIT


_long_wait = _LongWait()


class WooClient:
    """One store: wc/v3 through `woocommerce.API`, wp/v2 and downloads through httpx. Thread-safe."""

    def __init__(
        self,
        creds: WooCredentials,
        *,
        timeout: float = 20.0,
        retries: int = 3,
        max_image_bytes: int = 25 << 20,
        sink: Sink | None = None,
        policy: OutboundPolicy | None = None,
    ) -> None:
        self.base = normalize_url(creds.url)
        # The connected store's own host (wherever it lives) and nothing else, unless the caller names image hosts.
        self.policy = policy or OutboundPolicy.for_store(self.base)
        self.creds = creds
        self.timeout = timeout
        self.retries = max(0, retries)
        self.max_image_bytes = max_image_bytes
        self.sink = sink
        self.wc = API(
            url=self.base,
            consumer_key=creds.consumer_key,
            consumer_secret=creds.consumer_secret,
            version="wc/v3",
            timeout=timeout,
            user_agent=USER_AGENT,
        )
        self.http = self.policy.client(
            timeout=timeout,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        self._wp_auth = httpx.BasicAuth(creds.wp_user, creds.app_password) if creds.wp_user else None

    def close(self) -> None:
        self.http.close()

    @property
    def is_https(self) -> bool:
        return self.base.startswith("https://")

    def retrying(self, fn: Callable[[], Any]) -> Any:
        """Run an idempotent call, retrying SourceUnavailable with backoff (and the server's Retry-After)."""
        for attempt in Retrying(
            stop=stop_any(stop_after_attempt(self.retries + 1), _long_wait),
            wait=_wait,
            retry=retry_if_exception_type(SourceUnavailable),
            sleep=lambda s: SLEEP(s),
            reraise=True,
        ):
            with attempt:
                return fn()
        raise AssertionError("unreachable")

    def _record(self, service: str, method: str, url: str, status: int | None, start: float, error: str | None) -> None:
        if self.sink is not None:
            self.sink(service, method, safe_url(url), status, (time.perf_counter() - start) * 1000, error)

    # wc/v3 ---------------------------------------------------------------------------------------------
    def wc_call(
        self, method: str, endpoint: str, *, params: dict[str, Any] | None = None, data: Any = None, what: str = ""
    ) -> tuple[Any, Mapping[str, str]]:
        """One wc/v3 call, no retry. Returns (json, headers); raises the typed error otherwise."""
        params = {k: str(v) for k, v in (params or {}).items()}
        # Recorded as built from our own parameters: the signed URL the client sends carries the key, the nonce
        # and the signature (and repeats every parameter), none of which belongs in a log.
        url = f"{self.base}/wp-json/wc/v3/{endpoint}" + (f"?{urlencode(params)}" if params else "")
        start = time.perf_counter()
        try:
            if method == "GET":
                resp = self.wc.get(endpoint, params=params, allow_redirects=False)
            elif method == "PUT":
                resp = self.wc.put(endpoint, data, params=params, allow_redirects=False)
            elif method == "POST":
                resp = self.wc.post(endpoint, data, params=params, allow_redirects=False)
            else:
                raise ValueError(method)
        # `from None`: requests' messages quote the signed URL (key, nonce, signature); no traceback may carry it.
        except requests.exceptions.SSLError as exc:
            self._record("woocommerce", method, url, None, start, "ssl")
            raise SourceError(
                "The store's https certificate could not be verified. Check the address, or ask "
                "your host to fix the certificate.",
                detail=type(exc).__name__,
            ) from None
        except requests.exceptions.Timeout as exc:
            self._record("woocommerce", method, url, None, start, "timeout")
            raise SourceUnavailable(
                f"The store did not answer within {self.timeout:g} s. Try again in a moment.", detail=type(exc).__name__
            ) from None
        except requests.exceptions.ConnectionError as exc:
            self._record("woocommerce", method, url, None, start, "connection")
            raise SourceUnavailable(
                "The connection to the store failed or was dropped. Try again in a moment.", detail=type(exc).__name__
            ) from None
        except requests.exceptions.RequestException as exc:
            self._record("woocommerce", method, url, None, start, "request")
            raise SourceError("The request to the store could not be sent.", detail=type(exc).__name__) from None
        self._record("woocommerce", method, url, resp.status_code, start, None)
        body = _json(resp)
        if resp.status_code >= 300 or resp.status_code < 200:
            raise store_error(
                resp.status_code,
                body,
                service="woocommerce",
                what=what,
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
                location=resp.headers.get("Location"),
            )
        if body is None:
            raise NotAStoreError(
                "This address answers, but not with the WooCommerce API (the answer is not JSON). "
                "Check the store address.",
                detail=f"HTTP {resp.status_code}",
            )
        return body, resp.headers

    def wc_get(
        self, endpoint: str, params: dict[str, Any] | None = None, *, what: str = ""
    ) -> tuple[Any, Mapping[str, str]]:
        return self.retrying(lambda: self.wc_call("GET", endpoint, params=params, what=what))

    # wp/v2 ---------------------------------------------------------------------------------------------
    def wp_call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[Any, httpx.Headers, int]:
        """One wp/v2 call with the Application Password, no retry."""
        url = f"{self.base}/wp-json/wp/v2/{path}"
        start = time.perf_counter()
        try:
            resp = self.http.request(
                method,
                url,
                params=params,
                json=json,
                content=content,
                headers=headers,
                auth=self._wp_auth if auth and self._wp_auth else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TimeoutException as exc:
            self._record("wordpress", method, url, None, start, "timeout")
            raise SourceUnavailable(
                f"WordPress did not answer within {self.timeout:g} s. Try again in a moment.", detail=type(exc).__name__
            ) from exc
        except httpx.TransportError as exc:
            self._record("wordpress", method, url, None, start, "connection")
            raise SourceUnavailable(
                "The connection to WordPress failed or was dropped. Try again in a moment.", detail=type(exc).__name__
            ) from exc
        self._record("wordpress", method, str(resp.request.url), resp.status_code, start, None)
        body = _json(resp)
        if not 200 <= resp.status_code < 300:
            raise store_error(
                resp.status_code,
                body,
                service="wordpress",
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
                location=resp.headers.get("Location"),
                secure=self.is_https,
            )
        if body is None:
            raise NotAStoreError(
                "This address answers, but not with the WordPress API (the answer is not JSON).",
                detail=f"HTTP {resp.status_code}",
            )
        return body, resp.headers, resp.status_code

    def wp_get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.retrying(lambda: self.wp_call("GET", path, params=params)[0])

    # Downloads -----------------------------------------------------------------------------------------
    def download(self, url: str, *, max_bytes: int | None = None) -> bytes:
        """An image from the store's media library: streamed, stopped past the byte limit, retried if transient.
        No credentials are sent (images are public; a CDN must not see the Application Password)."""
        limit = max_bytes or self.max_image_bytes
        if urlsplit(url).scheme not in ("http", "https"):
            raise SourceNotFound(f"The image address {url[:80]!r} is not a web address.")
        self.policy.check(url)  # before any request; each redirect is checked again by the client's hook
        data: bytes = self.retrying(lambda: self._download_once(url, limit))
        return data

    def _download_once(self, url: str, limit: int) -> bytes:
        start = time.perf_counter()
        too_large = ImageTooLarge(f"This image is larger than {limit / (1 << 20):.0f} MB; it was not downloaded.")
        # httpx's timeout is per read: a body sent a byte at a time would never trip it, so the whole download
        # has a deadline too.
        deadline = start + self.timeout * DOWNLOAD_DEADLINE_FACTOR
        try:
            with self.http.stream("GET", url, follow_redirects=True, headers={"Accept": "image/*"}) as resp:
                if resp.status_code >= 400:
                    self._record("woocommerce", "GET", url, resp.status_code, start, None)
                    if resp.status_code in (404, 410):
                        raise SourceNotFound("That image no longer exists in the store.")
                    raise store_error(
                        resp.status_code,
                        None,
                        service="woocommerce",
                        what="That image",
                        retry_after=parse_retry_after(resp.headers.get("Retry-After")),
                    )
                declared = resp.headers.get("Content-Length")
                if declared and declared.isdigit() and int(declared) > limit:
                    self._record("woocommerce", "GET", url, resp.status_code, start, "too large")
                    raise too_large
                buf = bytearray()
                for chunk in resp.iter_bytes():
                    buf += chunk
                    if len(buf) > limit:
                        self._record("woocommerce", "GET", url, resp.status_code, start, "too large")
                        raise too_large
                    if time.perf_counter() > deadline:
                        self._record("woocommerce", "GET", url, resp.status_code, start, "too slow")
                        raise SourceUnavailable("The store sent the image too slowly; it was not downloaded.")
                self._record("woocommerce", "GET", url, resp.status_code, start, None)
                return bytes(buf)
        except OutboundRefused:
            self._record("woocommerce", "GET", url, None, start, "refused by policy")
            raise
        except httpx.TooManyRedirects as exc:
            self._record("woocommerce", "GET", url, None, start, "too many redirects")
            raise SourceNotFound("The image address redirects too many times; it was not downloaded.") from exc
        except httpx.TimeoutException as exc:
            self._record("woocommerce", "GET", url, None, start, "timeout")
            raise SourceUnavailable(
                "The store did not send the image in time. Try again in a moment.", detail=type(exc).__name__
            ) from exc
        except httpx.TransportError as exc:
            self._record("woocommerce", "GET", url, None, start, "connection")
            raise SourceUnavailable(
                "The connection dropped while downloading the image. Try again in a moment.", detail=type(exc).__name__
            ) from exc
