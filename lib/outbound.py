"""Where the server may send a request: one policy for every download and every connection test.

Addresses come from people and from store data (a store URL typed on the Connect page, product image URLs a store
hands out, the Location of a redirect), so each request is checked before it leaves, and again at every redirect:
- only http and https, no user name or password in the address;
- only the hosts the policy names (a store's own host, plus the image hosts an admin allows, e.g. its CDN);
- after DNS resolution, no private, loopback, link-local, reserved or metadata address, unless the host is one
  the store itself lives on (a connected store, or an address an admin listed in `private_store_hosts`);
- cloud metadata endpoints never, whoever asks.
A refused request raises `OutboundRefused` (a sentence, no request made). An unresolvable name is left to the
transport, which fails to connect with its own error.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from lib.errors import OutboundRefused

MAX_REDIRECTS = 3
# Cloud instance metadata services: a request there can hand out the machine's credentials.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200", "192.0.0.192")
)
METADATA_NAMES = frozenset({"metadata.google.internal", "metadata", "instance-data", "instance-data.ec2.internal"})

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (IP literals in any form the OS accepts, e.g. `127.1`, included)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


def _is_internal(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def _norm_host(host: str) -> str:
    return host.strip().lower().rstrip(".")


def host_of(url: str) -> str:
    return _norm_host(urlsplit(url).hostname or "")


def origin_of(url: str) -> str:
    """`host:port` of `url`, the port made explicit (80 for http, 443 for https): how the policy names a store."""
    parts = urlsplit(url)
    host = _norm_host(parts.hostname or "")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _split(pattern: str) -> tuple[str, int | None]:
    """'shop.example.com' -> (host, None: any port); 'host:8080', '[::1]:8080' -> (host, port)."""
    pattern = pattern.strip().lower()
    if pattern.startswith("["):
        host, _, rest = pattern[1:].partition("]")
        return _norm_host(host), int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if pattern.count(":") == 1:
        host, _, port = pattern.partition(":")
        return _norm_host(host), int(port) if port.isdigit() else None
    return _norm_host(pattern), None


def _matches(host: str, port: int, patterns: Iterable[str]) -> bool:
    """`host:port` is one of `patterns`: `host` (any port), `host:port`, `*.example.com` (its subdomains)."""
    for pattern in patterns:
        p_host, p_port = _split(pattern)
        if p_port is not None and p_port != port:
            continue
        if p_host == host or (p_host.startswith("*.") and host.endswith(p_host[1:])):
            return True
    return False


@dataclass(frozen=True)
class OutboundPolicy:
    """`hosts`: where requests may go (empty: any public host); `private_hosts`: which of them may resolve to a
    private or loopback address (where the store itself lives)."""

    hosts: frozenset[str] = frozenset()
    private_hosts: frozenset[str] = frozenset()
    what: str = "That address"  # how a refusal names the target ("That image address", ...)
    resolver: Resolver = field(default=resolve, compare=False, repr=False)

    @classmethod
    def for_store(
        cls,
        store_url: str,
        *,
        image_hosts: Collection[str] = (),
        private_store_hosts: Collection[str] = (),
        what: str = "That address",
    ) -> Self:
        """A connected store: its own host and port (wherever it lives) and the image hosts an admin added."""
        store = origin_of(store_url)
        return cls(frozenset({store, *image_hosts}), frozenset({store, *private_store_hosts}), what)

    @classmethod
    def for_new_store(cls, store_url: str, *, private_store_hosts: Collection[str] = ()) -> Self:
        """A store address someone typed in: that host and port only, public unless an admin listed its host as a
        local store (`private_store_hosts`: `host` for any port, `host:port` for one)."""
        return cls(frozenset({origin_of(store_url)}), frozenset(private_store_hosts), "That store address")

    def check(self, url: str) -> None:
        """Raise OutboundRefused unless a request to `url` is allowed. Resolves the host name."""
        parts = urlsplit(url)
        shown = url if len(url) <= 80 else url[:79] + "…"
        if parts.scheme not in ("http", "https"):
            raise OutboundRefused(f"{self.what} ({shown}) is not an http or https address, so it was not opened.")
        if parts.username or parts.password:
            raise OutboundRefused(f"{self.what} carries a user name or password, so it was not opened.")
        host = _norm_host(parts.hostname or "")
        if not host:
            raise OutboundRefused(f"{self.what} ({shown}) has no host name, so it was not opened.")
        if host in METADATA_NAMES:
            raise OutboundRefused(f"{self.what} points at a cloud metadata service ({host}); it is never opened.")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise OutboundRefused(f"{self.what} ({shown}) has an invalid port, so it was not opened.") from exc
        if self.hosts and not _matches(host, port, self.hosts):
            raise OutboundRefused(
                f"{self.what} is on {host} (port {port}), which is neither the store's own address nor an image "
                "host an admin allowed (setting image_hosts), so it was not opened."
            )
        try:
            addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self.resolver(host, port)]
        except (OSError, UnicodeError):
            # Not resolvable: the connection attempt fails on its own, with its own message. Names under
            # .localhost are loopback by definition (RFC 6761) even where this machine's resolver does not say so.
            if not host.endswith(".localhost"):
                return
            addresses = [ipaddress.ip_address("127.0.0.1")]
        for ip in addresses:
            if ip in METADATA_ADDRESSES or (ip.version == 6 and ip.ipv4_mapped in METADATA_ADDRESSES):
                raise OutboundRefused(f"{self.what} points at a cloud metadata service ({host}); it is never opened.")
            if _is_internal(ip) and not _matches(host, port, self.private_hosts):
                raise OutboundRefused(
                    f"{self.what} ({host}) leads to a private or local network address ({ip}), so it was not "
                    "opened. An admin can allow a store on a local network with the setting private_store_hosts."
                )

    def allows(self, url: str) -> bool:
        try:
            self.check(url)
        except OutboundRefused:
            return False
        return True

    def client(self, *, headers: Mapping[str, str] | None = None, timeout: float = 20.0, **kw: Any) -> httpx.Client:
        """An httpx client that checks every request it sends, redirects included, against this policy."""

        def guard(request: httpx.Request) -> None:
            self.check(str(request.url))

        return httpx.Client(
            timeout=httpx.Timeout(timeout),
            headers=dict(headers or {}),
            max_redirects=MAX_REDIRECTS,
            event_hooks={"request": [guard]},
            **kw,
        )
