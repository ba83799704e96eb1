"""The job log's schema, kept by Alembic (revisions in lib/migrations/versions/), applied at start on SQLite and
PostgreSQL alike.

A fresh database gets today's tables at once and is stamped with the newest revision (Alembic's own advice: no
point replaying history on an empty database). A database made before Alembic (hand-written schema versions
1 to 4 in the `meta` table) is brought to revision 0004 by adding what it lacks, then upgraded like any other.
Two processes starting at once do not both upgrade: SQLite's BEGIN IMMEDIATE or PostgreSQL's advisory lock
lets one through at a time.
"""

from __future__ import annotations

import logging
from functools import cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, UniqueConstraint, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import SQLModel

from lib import models  # noqa: F401  (registers the tables)
from lib.errors import ConfigError

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
LAST_HAND_WRITTEN_VERSION = 4  # schema_version in `meta` before Alembic; revision 0004 is that schema
_LOCK_ID = 0x1D6E_CC0  # PostgreSQL advisory lock for schema upgrades (any constant this app alone uses)


def alembic_config(conn: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = conn
    return cfg


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    head = _scripts().get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(conn: Connection) -> str:
    """Bring the database on `conn` (inside a transaction) to the newest revision; returns it."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
    insp = inspect(conn)
    current = current_revision(conn)
    head = head_revision()
    if current == head:
        return head
    if current is not None and current not in {s.revision for s in _scripts().walk_revisions()}:
        raise _newer(current)
    if current is None and not insp.has_table("job"):  # fresh
        SQLModel.metadata.create_all(conn)
        MigrationContext.configure(conn).stamp(_scripts(), "head")  # without running env.py: cheap
        return head
    if current is None:  # made before Alembic
        legacy = _legacy_version(conn)
        if legacy > LAST_HAND_WRITTEN_VERSION:
            raise _newer(f"schema {legacy}")
    command.upgrade(alembic_config(conn), "head")
    log.info("schema: upgraded from %s to %s", current or "before Alembic", head)
    return head


def _legacy_version(conn: Connection) -> int:
    if not inspect(conn).has_table("meta"):
        return 1  # databases made before versioning are v1
    row = conn.execute(text("SELECT value FROM meta WHERE key='schema_version'")).first()
    return int(row[0]) if row else 1


def _newer(what: str) -> ConfigError:
    return ConfigError(
        f"This data directory was written by a newer ImageGecko ({what}); this one understands up to "
        f"{head_revision()}. Upgrade the app."
    )


# Bringing a pre-Alembic database to a revision's tables ------------------------------------------------


def ensure_tables(conn: Connection, metadata: MetaData) -> None:
    """Create missing tables, add missing columns (nullable or with a default), indexes and unique indexes."""
    metadata.create_all(conn)
    insp = inspect(conn)
    for table in metadata.sorted_tables:
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


def _add_missing_unique_constraints(conn: Connection, table: Any) -> None:
    """A table created before a UniqueConstraint was declared gets it as a unique index (SQLite cannot add a
    constraint to an existing table). Rows that already break it are kept: the index is then skipped, logged."""
    insp = inspect(conn)
    have = {tuple(str(c) for c in u["column_names"]) for u in insp.get_unique_constraints(table.name)}
    have |= {tuple(str(c) for c in i["column_names"]) for i in insp.get_indexes(table.name) if i.get("unique")}
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
    """The DEFAULT clause an added column needs so existing rows satisfy NOT NULL."""
    py_default = getattr(column.default, "arg", None) if column.default is not None else None
    server_default = getattr(column.server_default, "arg", None) if column.server_default is not None else None
    if server_default is not None:
        return f" DEFAULT {getattr(server_default, 'text', server_default)}"
    if isinstance(py_default, bool):
        return " DEFAULT TRUE" if py_default else " DEFAULT FALSE"
    if isinstance(py_default, int | float):
        return f" DEFAULT {py_default}"
    if isinstance(py_default, str):
        return " DEFAULT '" + py_default.replace("'", "''") + "'"
    if str(column.type) == "JSON":
        return " DEFAULT '{}'" if column.name in {"settings", "options", "product", "data"} else " DEFAULT '[]'"
    if not column.nullable:
        zero = {"INTEGER": "0", "FLOAT": "0", "BOOLEAN": "FALSE"}.get(str(column.type).upper(), "''")
        return f" DEFAULT {zero}"
    return ""
