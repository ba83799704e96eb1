"""Connecting a WooCommerce store: the "Test connection" checklist and saving the credentials encrypted.

Checks, in order, each with a plain-sentence fix when it fails:
  address ok → reachable → is a WooCommerce store (/wp-json/ lists wc/v3) → API key valid → key can write →
  Application Password valid and allowed to upload media → http or https.
"Can write" is probed with a harmless write: PUT /products/0 with an empty body. A read/write key reaches the
controller, which answers 400 `woocommerce_rest_product_invalid_id` (as observed for PUT on a missing product);
a read-only key is stopped by WooCommerce's authentication first with 401 "The API key provided does not have write
permissions." Nothing is changed either way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from lib.checks import Check, summary
from lib.connections import mark_verified, read_secret, save_connection
from lib.errors import AppError, InputError, NotAStoreError, OutboundRefused, SourceAuthError, SourceUnavailable
from lib.outbound import OutboundPolicy, origin_of
from lib.sources.wc_client import USER_AGENT, WooClient, WooCredentials, normalize_url

if TYPE_CHECKING:
    from lib.models import Connection
    from lib.runtime import Runtime

KEYS_PAGE = "WooCommerce › Settings › Advanced › REST API"
APP_PASSWORDS_PAGE = "Users › Profile › Application Passwords"


def _is_local(host: str) -> bool:
    if host in ("localhost",) or host.endswith((".local", ".localhost", ".test")):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or ipaddress.ip_address(host).is_private
    except ValueError:
        return False


def check_connection(
    url: Any = None,
    consumer_key: str = "",
    consumer_secret: str = "",
    wp_user: str = "",
    app_password: str = "",
    *,
    timeout: float | None = None,
    base_url: str | None = None,
    private_hosts: Collection[str] = (),
    **_: Any,
) -> list[Check]:
    """The checklist for these credentials. Never raises for a failing store; never shows a secret.
    Also accepts `(runtime, base_url=...)` as the Connect page calls it. The address goes through the outbound
    policy first: a private or loopback one is only tried when its host is in `private_hosts` (the settings'
    private_store_hosts when called with a Runtime), so this checklist cannot be used to probe the server's network."""
    if url is not None and hasattr(url, "settings"):  # called with a Runtime first
        timeout = timeout or url.settings.http_timeout_seconds
        private_hosts = [*private_hosts, *url.settings.private_store_hosts]
        url = base_url
    url = url if url is not None else base_url
    timeout = timeout or 10.0
    names = [
        "Store address",
        "Reachable",
        "WooCommerce store",
        "API key valid",
        "API key can write",
        "Application Password can upload media",
        "Secure connection",
    ]
    checks: list[Check] = []

    def skip_rest(reason: str) -> list[Check]:
        done = {c.label for c in checks}
        return checks + [Check(n, False, f"Not checked: {reason}", skipped=True) for n in names if n not in done]

    try:
        base = normalize_url(str(url or ""))
    except InputError as exc:
        checks.append(
            Check(
                "Store address",
                False,
                exc.message,
                "Enter the address you open the shop with, like https://shop.example.com.",
            )
        )
        return skip_rest("the address is not valid.")
    host = urlsplit(base).hostname or ""
    policy = OutboundPolicy.for_new_store(base, private_store_hosts=private_hosts)
    try:
        policy.check(f"{base}/wp-json/")
    except OutboundRefused as exc:
        checks.append(Check("Store address", False, exc.message, "Enter the store's public address."))
        return skip_rest("the address is not one the server may open.")
    checks.append(Check("Store address", True, base))

    # Reachable + is a WooCommerce store: the REST index, unauthenticated, no redirects followed.
    try:
        with policy.client(timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}) as http:
            resp = http.get(f"{base}/wp-json/")
    except httpx.TimeoutException:
        checks.append(
            Check(
                "Reachable",
                False,
                f"{host} did not answer within {timeout:g} s.",
                "Check the address and that the site is up, then try again.",
            )
        )
        return skip_rest("the store is not reachable.")
    except httpx.TransportError as exc:
        checks.append(
            Check(
                "Reachable",
                False,
                f"We could not connect to {host} ({type(exc).__name__}).",
                "Check the address (http or https, spelling, port) and that the site is up.",
            )
        )
        return skip_rest("the store is not reachable.")
    if resp.is_redirect:
        target = resp.headers.get("Location", "")
        checks.append(
            Check(
                "Reachable",
                False,
                f"{host} redirects to {target}.",
                f"Use the address it redirects to ({_site_of(target) or target}) as the store address.",
            )
        )
        return skip_rest("the address redirects elsewhere.")
    checks.append(Check("Reachable", True, f"{host} answers (HTTP {resp.status_code})."))
    try:
        index = resp.json()
    except ValueError:
        index = None
    namespaces = index.get("namespaces", []) if isinstance(index, dict) else []
    if "wc/v3" not in namespaces:
        if namespaces:
            checks.append(
                Check(
                    "WooCommerce store",
                    False,
                    "This is a WordPress site, but WooCommerce's REST API (wc/v3) is not active.",
                    "Install and activate WooCommerce, or check the address.",
                )
            )
        else:
            checks.append(
                Check(
                    "WooCommerce store",
                    False,
                    "This address answers, but it is not a WordPress site (it has no WordPress API at /wp-json/), "
                    "so there is no WooCommerce here to connect.",
                    "If your shop runs WooCommerce, enter the home address of its WordPress site (the one whose "
                    "/wp-admin you sign in to). A shop on another platform (Shopify, Wix, Squarespace) cannot be "
                    "connected as a WooCommerce store; use Uploads or Google Drive for its photos.",
                )
            )
        return skip_rest("this is not a WooCommerce store.")
    checks.append(Check("WooCommerce store", True, f"WooCommerce REST API found ({index.get('name') or host})."))

    client = WooClient(
        WooCredentials(base, consumer_key.strip(), consumer_secret.strip(), wp_user.strip(), app_password.strip()),
        timeout=timeout,
        retries=0,
        policy=policy,
    )
    try:
        checks.extend(_key_checks(client, consumer_key, consumer_secret))
        checks.append(_app_password_check(client, wp_user, app_password))
    finally:
        client.close()

    if base.startswith("https://"):
        checks.append(Check("Secure connection", True, "https: credentials travel encrypted."))
    elif _is_local(host):
        checks.append(
            Check(
                "Secure connection",
                True,
                "Plain http on a local address: the API key is signed with "
                "OAuth 1.0a. WordPress accepts Application Passwords over http only on sites set up as "
                "local environments.",
            )
        )
    else:
        checks.append(
            Check(
                "Secure connection",
                False,
                "Plain http: the key is signed with OAuth 1.0a, but "
                "WordPress refuses Application Passwords over http and data travels unencrypted.",
                "Use the store's https:// address (ask your host for a free certificate if needed).",
            )
        )
    return checks


def _key_checks(client: WooClient, consumer_key: str, consumer_secret: str) -> list[Check]:
    if not consumer_key.strip() or not consumer_secret.strip():
        return [
            Check(
                "API key valid",
                False,
                "The consumer key or secret is empty.",
                f"Create a Read/Write key in {KEYS_PAGE} and paste both values.",
            ),
            Check("API key can write", False, "Not checked: no key.", skipped=True),
        ]
    how = "Basic auth over https" if client.is_https else "OAuth 1.0a signature over http"
    try:
        _, headers = client.wc_call("GET", "products", params={"per_page": 1, "orderby": "id", "order": "asc"})
    except SourceAuthError as exc:
        return [
            Check(
                "API key valid",
                False,
                exc.message,
                f"Copy the consumer key and secret again from {KEYS_PAGE} (the secret is shown only once; "
                "create a new key if you lost it).",
            ),
            Check("API key can write", False, "Not checked: the key was refused.", skipped=True),
        ]
    except (SourceUnavailable, NotAStoreError, AppError) as exc:
        return [
            Check(
                "API key valid",
                False,
                exc.message,
                "Try again in a minute; if it persists, check the store's error log.",
            ),
            Check("API key can write", False, "Not checked.", skipped=True),
        ]
    total = headers.get("X-WP-Total") or "?"
    out = [Check("API key valid", True, f"The key reads products ({total} in the store; {how}).")]
    try:
        client.wc_call("PUT", "products/0", data={})
        out.append(Check("API key can write", True, "The key may write."))  # unexpected 2xx: still writable
    except SourceAuthError:
        out.append(
            Check(
                "API key can write",
                False,
                "The key is read-only: images could not be published.",
                f"In {KEYS_PAGE}, edit the key and set Permissions to Read/Write.",
            )
        )
    except AppError as exc:
        if exc.detail and ("400" in exc.detail or "404" in exc.detail):
            out.append(Check("API key can write", True, "The key may write (checked with a harmless request)."))
        else:
            out.append(Check("API key can write", False, exc.message, "Try again in a minute."))
    return out


def _app_password_check(client: WooClient, wp_user: str, app_password: str) -> Check:
    name = "Application Password can upload media"
    if not wp_user.strip() or not app_password.strip():
        return Check(
            name,
            False,
            "No WordPress user or Application Password given: images cannot be uploaded.",
            f"In WordPress, open {APP_PASSWORDS_PAGE}, create one, and enter it with your user name.",
        )
    try:
        body, _, _ = client.wp_call("GET", "users/me", params={"context": "edit"})
    except SourceAuthError as exc:
        if not client.is_https and "plain http" in exc.message:
            return Check(
                name,
                False,
                "WordPress ignored the Application Password: over plain http it only accepts them on local sites.",
                "Use the store's https:// address.",
            )
        # The error's sentence already carries its advice (a new Application Password, the right user name):
        # the fact goes in the message, the advice once in the fix.
        fact, _, advice = exc.message.partition(". ")
        return Check(
            name,
            False,
            fact.rstrip(".") + ".",
            advice or f"Check the user name, or create a new Application Password in {APP_PASSWORDS_PAGE}.",
        )
    except AppError as exc:
        return Check(name, False, exc.message, "Try again in a minute.")
    caps = body.get("capabilities") or {}
    if not caps.get("upload_files"):
        return Check(
            name,
            False,
            f"{body.get('name') or wp_user} may not upload media.",
            "Use the Application Password of an Administrator or Shop manager.",
        )
    return Check(name, True, f"Signed in to WordPress as {body.get('name') or wp_user}; uploads allowed.")


def _site_of(url: str) -> str:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return ""
    path = parts.path.split("/wp-json", 1)[0]
    return f"{parts.scheme}://{parts.netloc}{path}".rstrip("/")


def save_woocommerce(
    runtime: Runtime,
    *,
    url: str | None = None,
    key: str | None = None,
    secret: str | None = None,
    wp_user: str = "",
    app_password: str = "",
    name: str | None = None,
    base_url: str | None = None,
    consumer_key: str | None = None,
    consumer_secret: str | None = None,
    activate: bool = True,
) -> Connection:
    """Save (encrypted) and activate a store. The secrets are never shown again in full."""
    base = normalize_url(url or base_url or "")
    ck = (key if key is not None else consumer_key or "").strip()
    cs = (secret if secret is not None else consumer_secret or "").strip()
    if not ck or not cs:
        raise InputError("Enter both the consumer key and the consumer secret.")
    host = urlsplit(base).hostname or base
    # Saving is where a private address must be allowed: a saved store's own host is trusted from then on.
    OutboundPolicy.for_new_store(base, private_store_hosts=runtime.settings.private_store_hosts).check(base)
    return save_connection(
        runtime.db,
        runtime.vault,
        kind="woocommerce",
        name=(name or "").strip() or host,
        secret={"consumer_key": ck, "consumer_secret": cs, "app_password": app_password.strip()},
        base_url=base,
        settings={"wp_user": wp_user.strip()},
        activate=activate,
    )


def test_connection(runtime: Runtime, connection: Connection) -> list[Check]:
    """Run the checklist for a saved store and remember the outcome on the connection."""
    secret = read_secret(runtime.vault, connection)
    checks = check_connection(
        connection.base_url or "",
        str(secret.get("consumer_key", "")),
        str(secret.get("consumer_secret", "")),
        str(connection.settings.get("wp_user") or ""),
        str(secret.get("app_password", "")),
        timeout=runtime.settings.http_timeout_seconds,
        private_hosts=[*runtime.settings.private_store_hosts, origin_of(connection.base_url or "")],
    )
    if connection.id is not None:
        mark_verified(runtime.db, connection.id, summary(checks))
    return checks


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported into one
