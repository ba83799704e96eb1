"""Saved connections (stores, Drive, AI providers): create, list, activate, read their secret."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from lib.db import Database
from lib.errors import InputError
from lib.kinds import Kind
from lib.models import Connection, utcnow
from lib.vault import Vault


def save_connection(
    db: Database,
    vault: Vault,
    *,
    kind: Kind | str,
    name: str,
    secret: dict[str, Any],
    base_url: str | None = None,
    settings: dict[str, Any] | None = None,
    activate: bool = True,
    connection_id: int | None = None,
) -> Connection:
    """Store (or update) a connection with its secret encrypted. The active one of a kind is unique."""
    if not Kind.parse(kind, "connection kind").saved:
        raise InputError(f"{Kind(kind).label} needs no saved connection.")
    if not name.strip():
        raise InputError("Give the connection a name.")
    with db.transaction() as s:
        conn = s.get(Connection, connection_id) if connection_id else None
        if conn is None:
            conn = Connection(kind=kind, name=name.strip())
        conn.name = name.strip()
        conn.base_url = base_url
        conn.settings = dict(settings or {})
        conn.secret_blob = vault.encrypt(secret)
        if activate:
            for other in s.exec(select(Connection).where(Connection.kind == kind)).all():
                other.is_active = False
                s.add(other)
            conn.is_active = True
        s.add(conn)
        s.flush()
        s.refresh(conn)
        return conn


def list_connections(db: Database, kind: str | None = None) -> list[Connection]:
    with db.session() as s:
        q = select(Connection).order_by(Connection.kind, Connection.id)
        if kind:
            q = q.where(Connection.kind == kind)
        return list(s.exec(q).all())


def get_connection(db: Database, connection_id: int) -> Connection:
    with db.session() as s:
        conn = s.get(Connection, connection_id)
    if conn is None:
        raise InputError(f"Connection {connection_id} does not exist.")
    return conn


def active_connection(db: Database, kind: str) -> Connection | None:
    with db.session() as s:
        return s.exec(select(Connection).where(Connection.kind == kind, Connection.is_active)).first()


def activate(db: Database, connection_id: int) -> None:
    with db.transaction() as s:
        conn = s.get(Connection, connection_id)
        if conn is None:
            raise InputError(f"Connection {connection_id} does not exist.")
        for other in s.exec(select(Connection).where(Connection.kind == conn.kind)).all():
            other.is_active = other.id == conn.id
            s.add(other)


def delete_connection(db: Database, connection_id: int) -> None:
    with db.transaction() as s:
        conn = s.get(Connection, connection_id)
        if conn is not None:
            s.delete(conn)


def mark_verified(db: Database, connection_id: int, error: str | None) -> None:
    with db.transaction() as s:
        conn = s.get(Connection, connection_id)
        if conn is None:
            return
        conn.verified_at = utcnow()
        conn.last_error = error
        s.add(conn)


def read_secret(vault: Vault, conn: Connection) -> dict[str, Any]:
    return vault.decrypt(conn.secret_blob) if conn.secret_blob else {}


def session_connection(session: Session, connection_id: int) -> Connection | None:
    return session.get(Connection, connection_id)
