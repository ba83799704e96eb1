"""Engine, sessions and schema versioning for the job log.

SQLite runs in WAL mode so pages read while workers write. Every write goes through `Database.transaction()`,
which starts with BEGIN IMMEDIATE: a deferred transaction that later writes would fail at once with
SQLITE_BUSY under concurrent writers instead of waiting for the lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection as SAConnection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, create_engine

from lib import (
    models,  # noqa: F401  (registers the tables)
    schema,
)
from lib.errors import ConfigError, DatabaseUnavailable
from lib.file_modes import private_file, tighten

log = logging.getLogger(__name__)


def _sqlite_connect_args(url: str) -> dict[str, Any]:
    return {"check_same_thread": False, "timeout": 30}


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        kwargs: dict[str, Any] = {"connect_args": _sqlite_connect_args(url)}
        if url in ("sqlite://", "sqlite:///:memory:"):
            kwargs["poolclass"] = StaticPool
        else:
            path = url.split("sqlite:///", 1)[-1]
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if not path.startswith(":") and "mode=memory" not in path:
                db_file = Path(path.split("?", 1)[0])
                private_file(db_file)  # before SQLite makes it 0644; its -wal and -shm take this file's mode
                for suffix in ("-wal", "-shm", "-journal"):
                    tighten(db_file.with_name(db_file.name + suffix))
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see module docstring)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: SAConnection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    try:
        # At most 10 connections per process (a session is held for one transaction, not a provider call), so
        # eight workers stay under PostgreSQL's default max_connections of 100.
        return create_engine(postgres_driver(url), pool_pre_ping=True, pool_size=4, max_overflow=6)
    except Exception as exc:  # bad URL or missing driver
        raise ConfigError(f"DATABASE_URL cannot be used: {exc}") from exc


def postgres_driver(url: str) -> str:
    """`postgresql://` and `postgres://` go through psycopg 3 (SQLAlchemy would otherwise pick psycopg2)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain) :]
    return url


_DB_WORDS = (
    ("full", "is full"),
    ("readonly", "is read-only"),
    ("read-only", "is read-only"),
    ("unable to open", "is missing"),
    ("disk i/o", "had an input/output error"),
    ("locked", "stayed locked by another writer"),
    ("too many", "has no free connection"),  # PostgreSQL at max_connections, or a role at its limit
    ("connection refused", "cannot be reached"),
    ("server closed the connection", "closed the connection"),
    ("terminating connection", "closed the connection"),
)


def database_error(exc: BaseException) -> DatabaseUnavailable | None:
    """A database failure that passes (disk full, read-only, missing, locked, out of connections, unreachable) as a
    retryable error with a sentence that says which; None for anything else (a bug: let it surface)."""
    if not isinstance(exc, OperationalError):
        return None
    text = str(exc.orig or exc).lower()
    words = next((w for key, w in _DB_WORDS if key in text), None)
    if words is None:
        return None
    return DatabaseUnavailable(
        f"The job log's database {words}; the work waits and carries on when it takes writes again.",
        detail=str(exc.orig or exc)[:300],
    )


class Database:
    """The job log: one engine, read sessions and write transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        self.is_sqlite = url.startswith("sqlite")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A read session: objects stay usable after it closes."""
        with Session(self.engine, expire_on_commit=False) as s:
            yield s

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction, committed on success and rolled back on error."""
        with Session(self._write_engine, expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


# Schema ------------------------------------------------------------------------------------------


def init_db(db: Database) -> str:
    """Create or upgrade the schema (lib/schema.py, Alembic). Returns the revision the database is now at."""
    with db._write_engine.begin() as conn:
        return schema.upgrade(conn)


def open_database(url: str) -> Database:
    db = Database(url)
    init_db(db)
    return db
