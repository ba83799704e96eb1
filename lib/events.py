"""The append-only Event log: transitions and outbound requests. URLs are stripped of anything secret.
A request is written before it is sent and completed once when its answer comes (`complete`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlmodel import Session

from lib.models import Event

# Query parameters that carry credentials (WooCommerce query auth, OAuth 1.0a, Google keys).
SECRET_PARAMS = {
    "consumer_key",
    "consumer_secret",
    "oauth_consumer_key",
    "oauth_signature",
    "oauth_nonce",
    "oauth_timestamp",
    "oauth_signature_method",
    "key",
    "api_key",
    "access_token",
    "token",
}


def safe_url(url: str) -> str:
    """The URL without credentials in the query string or the user-info part."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.lower() not in SECRET_PARAMS]
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))


def record(
    session: Session,
    kind: str,
    message: str = "",
    *,
    job_id: int | None = None,
    item_id: int | None = None,
    service: str | None = None,
    method: str | None = None,
    url: str | None = None,
    status_code: int | None = None,
    duration_ms: float | None = None,
    request_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> Event:
    """Add an event to the session (committed with the caller's transaction)."""
    event = Event(
        kind=kind,
        message=message[:2000],
        job_id=job_id,
        item_id=item_id,
        service=service,
        method=method,
        url=safe_url(url) if url else None,
        status_code=status_code,
        duration_ms=duration_ms,
        request_id=request_id,
        data=data or {},
    )
    session.add(event)
    return event


def complete(
    session: Session,
    event_id: int,
    message: str,
    *,
    url: str | None = None,
    status_code: int | None = None,
    duration_ms: float | None = None,
    request_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> Event | None:
    """Fill in the outcome of a request recorded before it was sent (lib.jobs.transitions.begin_call): the one
    change an event may get after it is written. Its data keeps what was there ("sent", the estimated cost)."""
    event = session.get(Event, event_id)
    if event is None:
        return None
    event.message = message[:2000]
    event.url = safe_url(url) if url else event.url
    event.status_code = status_code
    event.duration_ms = duration_ms
    event.request_id = request_id
    event.data = {**event.data, **(data or {})}
    session.add(event)
    return event
