"""Which worker processes are alive: each reports itself every few seconds; the Jobs page shows the ones seen in
the last minute and how many items each holds."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import col, delete, select

from lib.db import Database
from lib.models import WorkerSeen, utcnow

SEEN_WITHIN = timedelta(minutes=1)
FORGET_AFTER = timedelta(days=1)


@dataclass(frozen=True)
class WorkerHealth:
    owner: str
    host: str
    pid: int
    seen_ago: float  # seconds
    in_flight: int
    stopping: bool


def report(db: Database, *, owner: str, in_flight: int, stopping: bool = False) -> None:
    """Record that this worker is alive (upsert by owner); also forgets workers silent for a day."""
    now = utcnow()
    with db.transaction() as s:
        row = s.get(WorkerSeen, owner)
        if row is None:
            row = WorkerSeen(owner=owner, host=socket.gethostname(), pid=os.getpid(), started_at=now)
        row.seen_at, row.in_flight, row.stopping = now, in_flight, stopping
        s.add(row)
        s.exec(delete(WorkerSeen).where(col(WorkerSeen.seen_at) < now - FORGET_AFTER))


def gone(db: Database, *, owner: str) -> None:
    """A worker that stopped cleanly leaves the list at once."""
    with db.transaction() as s:
        row = s.get(WorkerSeen, owner)
        if row is not None:
            s.delete(row)


def live_workers(db: Database, *, now: datetime | None = None) -> list[WorkerHealth]:
    now = now or utcnow()
    with db.session() as s:
        rows = s.exec(
            select(WorkerSeen).where(col(WorkerSeen.seen_at) >= now - SEEN_WITHIN).order_by(col(WorkerSeen.owner))
        ).all()
    return [
        WorkerHealth(
            owner=r.owner,
            host=r.host,
            pid=r.pid,
            seen_ago=max(0.0, (now - r.seen_at).total_seconds()) if r.seen_at else 0.0,
            in_flight=r.in_flight,
            stopping=r.stopping,
        )
        for r in rows
    ]
