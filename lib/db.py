"""Engine, sessions and schema versioning for the job log.

SQLite runs in WAL mode so pages read while workers write. Every write goes through `Database.transaction()`,
which starts with BEGIN IMMEDIATE: a deferred transaction that later writes would fail at once with
SQLITE_BUSY under concurrent writers instead of waiting for the lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import UniqueConstraint, event, inspect, text
from sqlalchemy.engine import Connection as SAConnection
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session, SQLModel, create_engine

from lib import models  # noqa: F401  (registers the tables)
from lib.errors import ConfigError

log = logging.getLogger(__name__)

SCHEMA_VERSION = 5


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
        return create_engine(url, pool_pre_ping=True)
    except Exception as exc:  # bad URL or missing driver
        raise ConfigError(f"DATABASE_URL cannot be used: {exc}") from exc


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


# Schema versioning ---------------------------------------------------------------------------


def _add_missing_columns(conn: SAConnection) -> None:
    """Create missing tables, add missing columns (nullable or with a default) and missing indexes."""
    SQLModel.metadata.create_all(conn)
    insp = inspect(conn)
    for table in SQLModel.metadata.sorted_tables:
        existing = {c["name"] for c in insp.get_columns(table.name)}
        for column in table.columns:
            if column.name in existing:
                continue
            ddl_type = column.type.compile(dialect=conn.dialect)
            default = _column_default_sql(column)
            conn.exec_driver_sql(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {ddl_type}{default}')
            log.info("schema: added %s.%s", table.name, column.name)
        for index in table.indexes:
            index.create(conn, checkfirst=True)
        _add_missing_unique_constraints(conn, table)


def _add_missing_unique_constraints(conn: SAConnection, table: Any) -> None:
    """A table created before a UniqueConstraint was declared gets it as a unique index (SQLite cannot add a
    constraint to an existing table). Rows that already break it are kept: the index is then skipped, logged."""
    insp = inspect(conn)
    have = {tuple(u["column_names"]) for u in insp.get_unique_constraints(table.name)}
    have |= {tuple(i["column_names"]) for i in insp.get_indexes(table.name) if i.get("unique")}
    for constraint in table.constraints:
        if not isinstance(constraint, UniqueConstraint):
            continue
        columns = tuple(c.name for c in constraint.columns)
        if columns in have:
            continue
        name = constraint.name or f"uq_{table.name}_{'_'.join(columns)}"
        cols_sql = ", ".join(f'"{c}"' for c in columns)
        try:
            with conn.begin_nested():
                conn.exec_driver_sql(f'CREATE UNIQUE INDEX "{name}" ON "{table.name}" ({cols_sql})')
            log.info("schema: added unique index %s", name)
        except IntegrityError:
            log.warning("schema: %s not added: existing rows of %s repeat %s", name, table.name, columns)


def _column_default_sql(column: Any) -> str:
    py_default = getattr(column.default, "arg", None) if column.default is not None else None
    if isinstance(py_default, bool):
        return f" DEFAULT {int(py_default)}"
    if isinstance(py_default, int | float):
        return f" DEFAULT {py_default}"
    if isinstance(py_default, str):
        return " DEFAULT '" + py_default.replace("'", "''") + "'"
    if str(column.type) == "JSON":
        return (
            " DEFAULT '{}'"
            if column.name in {"settings", "options", "product", "data", "measures"}
            else " DEFAULT '[]'"
        )
    return ""


# version -> step that brings a database at version-1 up to version. Steps must be idempotent.
MIGRATIONS: dict[int, Callable[[SAConnection], None]] = {
    # v2: publications remember what they set (after_images, after_variation_image) so rollback can tell
    # whether someone else changed the product since; assets get a fidelity score; uploads and the
    # demo store's media become tables.
    2: _add_missing_columns,
    # v3: publications remember a failed verify (verify_failed) across attempts that fail for other reasons.
    3: _add_missing_columns,
    # v4: assets whose alt text is still the template because the text model did not answer (alt_tries_left).
    4: _add_missing_columns,
    # v5: the fidelity check's findings per generated asset (fidelitycheck table).
    5: _add_missing_columns,
}


def schema_version(conn: SAConnection) -> int:
    if not inspect(conn).has_table("meta"):
        return 0
    row = conn.execute(text("SELECT value FROM meta WHERE key='schema_version'")).first()
    return int(row[0]) if row else 0


def init_db(db: Database) -> int:
    """Create or upgrade the schema. Returns the version the database is now at."""
    with db._write_engine.begin() as conn:
        insp = inspect(conn)
        fresh = not insp.has_table("job")
        version = schema_version(conn)
        if fresh:
            SQLModel.metadata.create_all(conn)
            version = SCHEMA_VERSION
        else:
            if version == 0:
                version = 1  # databases made before versioning are v1
            if version > SCHEMA_VERSION:
                raise ConfigError(
                    f"This data directory was written by a newer ImageGecko (schema {version}); "
                    f"this one understands up to {SCHEMA_VERSION}. Upgrade the app."
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                MIGRATIONS[target](conn)
                log.info("schema: upgraded to v%d", target)
            version = SCHEMA_VERSION
        SQLModel.metadata.create_all(conn)  # meta table on v1 databases
        conn.execute(text("DELETE FROM meta WHERE key='schema_version'"))
        conn.execute(text("INSERT INTO meta(key, value) VALUES ('schema_version', :v)"), {"v": str(version)})
    return version


def open_database(url: str) -> Database:
    db = Database(url)
    init_db(db)
    return db
