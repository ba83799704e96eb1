"""The audit trail: every state change a person makes, with who made it. The only writer of AuditEntry.

Entries are written in the same transaction as the change when the change is made here (users, budgets), and
right after it by lib/actions.py otherwise. Nothing here is ever updated or deleted."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlmodel import Session, col, select

from lib.auth.roles import Actor, Role
from lib.auth.tables import AuditEntry
from lib.db import Database
from lib.models import Publication, PublicationState
from lib.spreadsheet import csv_text


class Action(StrEnum):
    LAUNCH = "launch"
    CANCEL = "cancel"
    CANCEL_ITEM = "cancel item"
    RETRY = "retry"
    RESUME = "resume"
    REGENERATE = "regenerate"
    APPROVE = "approve"
    REJECT = "reject"
    UNREVIEW = "back to pending"
    ALT_TEXT = "alt text"
    UPLOAD = "upload"
    RENAME = "rename upload"
    PUBLISH = "publish"
    ROLLBACK = "roll back"
    EXPORT = "export"
    PUBLISH_QUEUED = "publish queued"
    ROLLBACK_QUEUED = "rollback queued"
    EXPORT_QUEUED = "export queued"
    CONNECTION_ADDED = "connection added"
    CONNECTION_CHANGED = "connection changed"
    CONNECTION_REMOVED = "connection removed"
    USER_ADDED = "user added"
    USER_CHANGED = "user changed"
    USER_REMOVED = "user removed"
    BUDGET_SET = "budget set"
    JOB_SHARE_RAISED = "job share raised"


def record(
    s: Session,
    actor: Actor,
    action: Action,
    message: str = "",
    *,
    job_id: int | None = None,
    item_id: int | None = None,
    asset_id: int | None = None,
    connection_id: int | None = None,
    product_id: str | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Add one entry to an open write transaction."""
    s.add(
        AuditEntry(
            actor=actor.name,
            actor_email=actor.email,
            role=actor.role.value,
            via=actor.via,
            action=action.value,
            job_id=job_id,
            item_id=item_id,
            asset_id=asset_id,
            connection_id=connection_id,
            product_id=product_id,
            message=message,
            data=data or {},
        )
    )


def record_now(db: Database, actor: Actor, action: Action, message: str = "", **kw: Any) -> None:
    with db.transaction() as s:
        record(s, actor, action, message, **kw)


_QUEUED = (Action.PUBLISH_QUEUED.value, Action.ROLLBACK_QUEUED.value, Action.EXPORT_QUEUED.value)


def record_store_item(db: Database, *, store_job_id: int, work: str, payload: dict[str, Any]) -> None:
    """The worker finished one item of a store job (lib/store_jobs.py): record what it did to each image in the name
    of the person who queued the job (as the queueing entry says; nothing when nobody did, as in older jobs)."""
    with db.transaction() as s:
        queued = s.exec(
            select(AuditEntry)
            .where(col(AuditEntry.job_id) == store_job_id, col(AuditEntry.action).in_(_QUEUED))
            .order_by(col(AuditEntry.id))
        ).first()
        if queued is None:
            return
        who = Actor(queued.actor, Role(queued.role), email=queued.actor_email, via=queued.via)
        data = {"store_job_id": store_job_id, "by": "worker"}
        if work == "publish":
            asset_ids = [int(a) for a in payload.get("asset_ids", [])]
            pubs = s.exec(
                select(Publication)
                .where(col(Publication.asset_id).in_(asset_ids), col(Publication.state) == PublicationState.DONE)
                .order_by(col(Publication.id))
            ).all()
            latest = {p.asset_id: p for p in pubs}
            for p in latest.values():
                record(
                    s, who, Action.PUBLISH, f"product {p.product_id} ({p.role})", job_id=p.job_id, asset_id=p.asset_id,
                    product_id=p.product_id, connection_id=p.connection_id, data={**data, "store": p.store_kind},
                )  # fmt: skip
        elif work == "rollback":
            ids = [int(i) for i in payload.get("publication_ids", [])]
            for p in s.exec(select(Publication).where(col(Publication.id).in_(ids))).all():
                if p.state == PublicationState.ROLLED_BACK:
                    record(
                        s, who, Action.ROLLBACK, f"product {p.product_id} restored", job_id=p.job_id,
                        asset_id=p.asset_id, product_id=p.product_id, data=data,
                    )  # fmt: skip
        elif work == "export" and payload.get("asset_id") is not None:
            record(s, who, Action.EXPORT, "saved to Drive", job_id=store_job_id, asset_id=int(payload["asset_id"]),
                   data=data)  # fmt: skip


def job_entries(db: Database, job_id: int, limit: int = 2000) -> list[AuditEntry]:
    with db.session() as s:
        query = select(AuditEntry).where(col(AuditEntry.job_id) == job_id).order_by(col(AuditEntry.id)).limit(limit)
        return list(s.exec(query).all())


def recent(db: Database, limit: int = 200) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.exec(select(AuditEntry).order_by(col(AuditEntry.id).desc()).limit(limit)).all())


@dataclass(frozen=True)
class AssetPeople:
    approved_by: str | None = None  # the person whose review left the image approved
    published_by: str | None = None


def asset_people(db: Database, asset_ids: list[int]) -> dict[int, AssetPeople]:
    """Who approved and who published each image (the latest review and the latest publish decide)."""
    if not asset_ids:
        return {}
    review = {Action.APPROVE.value, Action.REJECT.value, Action.UNREVIEW.value}
    with db.session() as s:
        rows = s.exec(
            select(AuditEntry)
            .where(col(AuditEntry.asset_id).in_(asset_ids))
            .where(col(AuditEntry.action).in_([*review, Action.PUBLISH.value, Action.ROLLBACK.value]))
            .order_by(col(AuditEntry.id))
        ).all()
    approved: dict[int, str | None] = {}
    published: dict[int, str | None] = {}
    for e in rows:
        assert e.asset_id is not None
        who = e.actor_email or e.actor
        if e.action in review:
            approved[e.asset_id] = who if e.action == Action.APPROVE.value else None
        elif e.action == Action.PUBLISH.value:
            published[e.asset_id] = who
        else:  # rolled back: no longer published
            published[e.asset_id] = None
    return {a: AssetPeople(approved.get(a), published.get(a)) for a in asset_ids}


CSV_COLUMNS = ["at", "person", "email", "role", "signed in via", "action", "job", "item", "image", "product",
               "connection", "message"]  # fmt: skip


def to_csv(entries: list[AuditEntry]) -> bytes:
    """The entries as CSV, every cell inert in a spreadsheet (lib.spreadsheet): names and texts come from people."""
    body = [
        [
            e.at.isoformat(timespec="seconds"),
            e.actor,
            e.actor_email,
            e.role,
            e.via,
            e.action,
            e.job_id,
            e.item_id,
            e.asset_id,
            e.product_id,
            e.connection_id,
            e.message,
        ]  # fmt: skip
        for e in entries
    ]
    return csv_text([CSV_COLUMNS, *body]).encode("utf-8")


def rows(entries: list[AuditEntry]) -> list[dict[str, Any]]:
    """The Jobs page's table: one row per change (plain values; st.dataframe shows them as text)."""
    return [
        {
            "At": e.at,
            "Person": e.actor_email or e.actor,
            "Role": e.role,
            "Action": e.action,
            "Image": e.asset_id,
            "Product": e.product_id,
            "Details": e.message,
        }
        for e in entries
    ]
