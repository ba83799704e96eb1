"""Tables of sign-in, audit and budgets. Writers: users.py (User), audit.py (AuditEntry), budgets.py (Budget,
JobShare). New tables need no schema step: lib.db creates missing tables on every start."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from lib.models import UTCDateTime, utcnow


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class User(SQLModel, table=True):
    """A person who may sign in with a password, or whose role an admin set. Never holds a password, only its
    argon2id hash (salted, with its parameters)."""

    __tablename__ = "app_user"  # "user" is a reserved word in PostgreSQL

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)  # lower case
    email: str | None = Field(default=None, index=True)  # lower case; matches identity-provider accounts
    role: str = "viewer"
    password_hash: str | None = None
    disabled: bool = False
    created_at: datetime = _created()
    updated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class AuditEntry(SQLModel, table=True):
    """Append-only: one state change a person made, and who made it."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _created()
    actor: str = Field(index=True)
    actor_email: str | None = None
    role: str = ""
    via: str = ""
    action: str = Field(index=True)
    job_id: int | None = Field(default=None, index=True)
    item_id: int | None = None
    asset_id: int | None = Field(default=None, index=True)
    connection_id: int | None = None
    product_id: str | None = None
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Budget(SQLModel, table=True):
    """A monthly spending limit in USD: scope 'deployment' or 'user:<name>'."""

    scope: str = Field(primary_key=True)
    monthly_usd: float
    updated_by: str = ""
    updated_at: datetime = _created()


class JobShare(SQLModel, table=True):
    """Who launched a job, and the share of the budget it may spend (None: no budget applies)."""

    job_id: int = Field(primary_key=True)
    launched_by: str = Field(index=True)
    launched_email: str | None = None
    cap_usd: float | None = None
    created_at: datetime = _created()
