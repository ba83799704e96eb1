"""Alembic's entry: migrations run on the connection `lib.db.init_db` hands over (never a URL of their own)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import lib.models  # noqa: F401  (registers the tables on SQLModel.metadata)

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic revision --autogenerate` from a shell: a throw-away engine
    from sqlalchemy import create_engine

    connection = create_engine(context.config.get_main_option("sqlalchemy.url") or "sqlite://").connect()

context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things: Alembic copies the table instead
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
