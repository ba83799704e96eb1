"""Connecting a Shopify shop: the "Test connection" checklist and saving the credentials encrypted.

Checks, in order, each with a plain-sentence fix when it fails:
  shop address ok → the shop answers (Admin API at the pinned version) → the token is valid (a static Admin API
  token, or the client-credentials grant) → the scopes read_products, write_products and write_files are granted
  (read from `currentAppInstallation.accessScopes`, which needs no scope itself).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import httpx

from lib.checks import Check, summary
from lib.connections import mark_verified, read_secret, save_connection
from lib.errors import AppError, InputError, NotAStoreError, OutboundRefused, SourceAuthError, SourceUnavailable
from lib.outbound import OutboundPolicy, host_of
from lib.sources.shopify_client import (
    API_VERSION,
    SHOPIFY_HOSTS,
    USER_AGENT,
    ShopifyClient,
    ShopifyCredentials,
    normalize_shop,
)

if TYPE_CHECKING:
    from lib.models import Connection
    from lib.runtime import Runtime

KIND = "shopify"
SCOPES = {
    "read_products": "read products and their images",
    "write_products": "attach, order and detach product images and variant images",
    "write_files": "upload images (staged uploads and fileCreate)",
}
APP_CONFIG = (
    "the app's configuration (Dev Dashboard › your app › Versions, or Settings › Apps › Develop apps for a legacy "
    "custom app)"
)
NAMES = ["Shop address", "Shop answers", "Access token valid", *(f"Scope {s}" for s in SCOPES)]
SCOPES_QUERY = """
query AccessScopes {
  shop { name myshopifyDomain }
  currentAppInstallation { accessScopes { handle } }
}"""


def check_connection(
    shop: str = "",
    access_token: str = "",
    client_id: str = "",
    client_secret: str = "",
    *,
    timeout: float = 10.0,
    private_hosts: Collection[str] = (),
) -> list[Check]:
    """The checklist for these credentials. Never raises for a failing shop; never shows a secret. The address
    goes through the outbound policy first: a private or loopback one only when its host is in `private_hosts`
    (the settings' private_store_hosts), so the checklist cannot probe the server's network."""
    checks: list[Check] = []

    def skip_rest(reason: str) -> list[Check]:
        done = {c.label for c in checks}
        return checks + [Check(n, False, f"Not checked: {reason}", skipped=True) for n in NAMES if n not in done]

    try:
        base = normalize_shop(shop)
    except InputError as exc:
        checks.append(
            Check("Shop address", False, exc.message, "Enter the shop's address, like my-shop.myshopify.com.")
        )
        return skip_rest("the address is not valid.")
    policy = OutboundPolicy.for_new_store(base, private_store_hosts=private_hosts)
    try:
        policy.check(base)
    except OutboundRefused as exc:
        checks.append(Check("Shop address", False, exc.message, "Enter the shop's myshopify.com address."))
        return skip_rest("the address is not one the server may open.")
    checks.append(Check("Shop address", True, base))

    # The shop answers: the Admin API endpoint without credentials says 401 in JSON (a shop), anything else is not.
    try:
        with policy.client(timeout=timeout, follow_redirects=False, headers={"User-Agent": USER_AGENT}) as http:
            resp = http.post(f"{base}/admin/api/{API_VERSION}/graphql.json", json={"query": "{ shop { name } }"})
    except httpx.TimeoutException:
        checks.append(
            Check(
                "Shop answers", False, f"{base} did not answer within {timeout:g} s.", "Try again; check the address."
            )
        )
        return skip_rest("the shop is not reachable.")
    except httpx.TransportError as exc:
        checks.append(
            Check(
                "Shop answers",
                False,
                f"We could not connect to {base} ({type(exc).__name__}).",
                "Check the shop address (Settings › Domains shows the myshopify.com one).",
            )
        )
        return skip_rest("the shop is not reachable.")
    if resp.status_code not in (200, 401, 403) or "json" not in resp.headers.get("Content-Type", ""):
        checks.append(
            Check(
                "Shop answers",
                False,
                f"{base} answers (HTTP {resp.status_code}), but not as a Shopify shop's Admin API.",
                "Use the shop's myshopify.com address, not a custom domain or another site.",
            )
        )
        return skip_rest("this is not a Shopify shop.")
    checks.append(Check("Shop answers", True, f"Shopify Admin API {API_VERSION} answers."))

    if not access_token.strip() and not (client_id.strip() and client_secret.strip()):
        checks.append(
            Check(
                "Access token valid",
                False,
                "No Admin API access token, and no client id and secret.",
                "Paste the Admin API access token (shpat_…), or the client id and secret of a Dev Dashboard app.",
            )
        )
        return skip_rest("no credentials.")
    creds = ShopifyCredentials(base, access_token.strip(), client_id.strip(), client_secret.strip())
    # The shop and Shopify's hosts; private addresses only as the policy for a new store allows.
    checked = OutboundPolicy(policy.hosts | set(SHOPIFY_HOSTS), policy.private_hosts, "That shop address")
    client = ShopifyClient(creds, timeout=timeout, retries=0, policy=checked)
    try:
        data = client.graphql(SCOPES_QUERY)
    except SourceAuthError as exc:
        fix = (
            "Copy the client id and secret again from the app in the Dev Dashboard; the app must be installed on "
            "this shop, which your organisation must own."
            if creds.uses_client_credentials
            else "Copy the Admin API access token again (it is shown once; make a new one if it was lost), or "
            "connect with a Dev Dashboard app's client id and secret."
        )
        checks.append(Check("Access token valid", False, exc.message, fix))
        return skip_rest("the token was refused.")
    except (SourceUnavailable, NotAStoreError, AppError) as exc:
        checks.append(Check("Access token valid", False, exc.message, "Try again in a minute."))
        return skip_rest("the shop did not answer.")
    finally:
        client.close()
    how = "client-credentials token (renewed before its 24 h run out)" if creds.uses_client_credentials else "token"
    name = str((data.get("shop") or {}).get("name") or base)
    checks.append(Check("Access token valid", True, f"Signed in to {name} with the app's {how}."))
    granted = {str(s["handle"]) for s in (data.get("currentAppInstallation") or {}).get("accessScopes") or []}
    implied = granted | {s.replace("write_", "read_") for s in granted if s.startswith("write_")}
    for scope, why in SCOPES.items():
        if scope in implied:
            checks.append(Check(f"Scope {scope}", True, f"Granted: the app may {why}."))
        else:
            checks.append(
                Check(
                    f"Scope {scope}",
                    False,
                    f"Not granted: the app cannot {why}.",
                    f"Add {scope} to the app's Admin API scopes in {APP_CONFIG}, then release and reinstall or "
                    "update the app on the shop.",
                )
            )
    return checks


def save_shopify(
    runtime: Runtime,
    *,
    shop: str,
    access_token: str = "",
    client_id: str = "",
    client_secret: str = "",
    name: str | None = None,
    activate: bool = True,
) -> Connection:
    """Save (encrypted) and activate a shop. Either an Admin API token, or a client id and secret."""
    base = normalize_shop(shop)
    OutboundPolicy.for_new_store(base, private_store_hosts=runtime.settings.private_store_hosts).check(base)
    token, cid, secret = access_token.strip(), client_id.strip(), client_secret.strip()
    if not token and not (cid and secret):
        raise InputError("Enter the Admin API access token, or both the client id and the client secret.")
    if token and (cid or secret):
        raise InputError("Enter either an Admin API access token or a client id and secret, not both.")
    host = base.split("://", 1)[-1]
    stored: dict[str, Any] = {"access_token": token} if token else {"client_secret": secret}
    return save_connection(
        runtime.db,
        runtime.vault,
        kind=KIND,
        name=(name or "").strip() or host,
        secret=stored,
        base_url=base,
        settings={"client_id": cid} if cid else {},
        activate=activate,
    )


def test_connection(runtime: Runtime, connection: Connection) -> list[Check]:
    """Run the checklist for a saved shop and remember the outcome on the connection."""
    secret = read_secret(runtime.vault, connection)
    checks = check_connection(
        connection.base_url or "",
        str(secret.get("access_token", "")),
        str(connection.settings.get("client_id") or ""),
        str(secret.get("client_secret", "")),
        timeout=runtime.settings.http_timeout_seconds,
        private_hosts=[*runtime.settings.private_store_hosts, host_of(connection.base_url or "")],
    )
    if connection.id is not None:
        mark_verified(runtime.db, connection.id, summary(checks))
    return checks


test_connection.__test__ = False  # type: ignore[attr-defined]  # not a pytest test when imported into one
