"""One request quota per provider, shared by every worker process on every machine that uses the same job log.

Each worker used to pace its own requests, so N workers sent N times a provider's per-project quota. Here the
pace lives in one row per provider (`QuotaSlot`): a request may go at `next_at`, and taking the slot moves
`next_at` one interval on, in a single UPDATE (a row lock on PostgreSQL, BEGIN IMMEDIATE on SQLite). That is
the generic cell rate algorithm with a burst of one: requests are spaced evenly, so no 60-second window ever holds
more than the quota. A slot is only reserved when it is near (`HORIZON`); a thread further back waits and asks
again, so a stopping worker strands at most one slot, and the queue of reservations never runs minutes ahead.

A provider's retry delay (a 429 with RetryInfo) is written to the same row as `paused_until`, which pauses every
worker, not just the one that was told.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from lib.db import Database
from lib.models import QuotaSlot

# The spacing is stretched by this factor so that two requests exactly one minute apart cannot both fall in one
# closed 60-second window with a full quota between them.
SAFETY = 1.001
HORIZON = 1.0  # seconds: how far ahead a slot may be reserved


def db_clock(conn: Connection) -> float:
    """Seconds since the epoch by the database server's clock (this machine's for SQLite, a file on it)."""
    if conn.dialect.name == "postgresql":
        return float(conn.execute(text("SELECT EXTRACT(EPOCH FROM clock_timestamp())")).scalar_one())
    return time.time()


@dataclass(frozen=True)
class Slot:
    """The answer to one ask: `reserved` (then send at `at`, after waiting `wait` s) or not (ask again in `wait`)."""

    reserved: bool
    at: float  # seconds since the epoch, database clock
    wait: float


class SharedQuota:
    """Requests-per-minute for one provider across all workers. `acquire` blocks until this caller may send."""

    def __init__(self, db: Database, provider: str, per_minute: float, *, horizon: float = HORIZON) -> None:
        if per_minute <= 0:
            raise ValueError("a shared quota needs a positive rate")
        self.db = db
        self.provider = provider
        self.interval = 60.0 / per_minute * SAFETY
        self.horizon = horizon
        self._ensure_row()

    def _ensure_row(self) -> None:
        try:
            with self.db.transaction() as s:
                if s.get(QuotaSlot, self.provider) is None:
                    s.add(QuotaSlot(provider=self.provider))
        except IntegrityError:
            pass  # another worker created it at the same moment: the row exists either way

    def try_reserve(self) -> Slot:
        """Reserve the next slot if it is within the horizon; else reserve nothing and say when to ask again."""
        with self.db.transaction() as s:
            conn = s.connection()
            now = db_clock(conn)
            lock = "" if conn.dialect.name == "sqlite" else " FOR UPDATE"  # SQLite: BEGIN IMMEDIATE locks already
            row = conn.execute(
                text(f"SELECT next_at, paused_until FROM quotaslot WHERE provider = :p{lock}"), {"p": self.provider}
            ).one()
            start = max(now, float(row.next_at), float(row.paused_until))
            if start - now > self.horizon:
                return Slot(reserved=False, at=start, wait=start - now - self.horizon)
            conn.execute(
                text("UPDATE quotaslot SET next_at = :n WHERE provider = :p"),
                {"n": start + self.interval, "p": self.provider},
            )
            return Slot(reserved=True, at=start, wait=start - now)

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for this caller's turn; False if `stop` was set first (the slot, if reserved, is left unused)."""
        while True:
            slot = self.try_reserve()
            if slot.reserved:
                return not (slot.wait > 0 and stop.wait(slot.wait))
            if stop.wait(min(slot.wait, 5.0)):
                return False

    def pause(self, seconds: float) -> None:
        """The provider asked us to wait: no worker sends to it for `seconds`."""
        with self.db.transaction() as s:
            conn = s.connection()
            until = db_clock(conn) + seconds
            conn.execute(
                text("UPDATE quotaslot SET paused_until = :u WHERE provider = :p AND paused_until < :u"),
                {"u": until, "p": self.provider},
            )

    def paused_for(self) -> float:
        """Seconds left of a pause the provider asked for (0 when none)."""
        with self.db.session() as s:
            conn = s.connection()
            row = s.get(QuotaSlot, self.provider)
            return max(0.0, (row.paused_until if row else 0.0) - db_clock(conn))
