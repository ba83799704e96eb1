"""One request quota per provider shared by every worker process: evenly spaced across processes, a provider's
retry delay pauses everyone, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import pytest

from lib.db import Database, init_db
from lib.quota import SharedQuota

# A worker process in miniature: takes `n` slots and prints when each was granted by the job log's clock.
TAKER = textwrap.dedent(
    """
    import json, sys, time
    from lib.db import Database
    from lib.quota import SharedQuota
    url, n, rpm = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    quota = SharedQuota(Database(url), "gemini", rpm)
    print("ready", flush=True)
    sys.stdin.readline()  # all processes start together
    granted = []
    while len(granted) < n:
        slot = quota.try_reserve()
        if slot.reserved:
            granted.append(slot.at)
        time.sleep(slot.wait)
    print(json.dumps(granted), flush=True)
    """
)


@pytest.fixture
def db(job_log_url: str) -> Database:
    database = Database(job_log_url)
    init_db(database)
    yield database  # type: ignore[misc]
    database.dispose()


def test_three_worker_processes_share_one_quota_evenly(db: Database) -> None:
    rpm, per_process = 1200.0, 12  # one request every 50 ms for all of them together
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", TAKER, db.url, str(per_process), str(rpm)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    granted = sorted(t for p in procs for t in json.loads(p.communicate(timeout=120)[0]))
    assert len(granted) == 3 * per_process
    gaps = [b - a for a, b in zip(granted, granted[1:], strict=False)]
    # N processes pacing themselves would send 3 at once; one shared quota keeps every gap at the interval.
    assert min(gaps) >= 60.0 / rpm - 1e-3


def test_a_retry_delay_pauses_every_worker(db: Database) -> None:
    mine = SharedQuota(db, "gemini", 6000)
    other_worker = SharedQuota(Database(db.url), "gemini", 6000)
    assert mine.try_reserve().reserved
    mine.pause(30)
    assert 29 < other_worker.paused_for() <= 30
    slot = other_worker.try_reserve()
    assert not slot.reserved and slot.wait > 25  # nothing reserved: ask again in about 29 s
    stop = threading.Event()
    stop.set()
    assert other_worker.acquire(stop) is False  # a stopping worker does not wait out the pause


def test_a_shorter_retry_delay_does_not_cut_a_longer_pause(db: Database) -> None:
    quota = SharedQuota(db, "gemini", 60)
    quota.pause(40)
    quota.pause(5)
    assert quota.paused_for() > 35


def test_quotas_of_different_providers_are_apart(db: Database) -> None:
    gemini = SharedQuota(db, "gemini", 1)
    text_model = SharedQuota(db, "gemini_text", 6000)
    assert gemini.try_reserve().wait == 0
    assert not gemini.try_reserve().reserved  # the next gemini slot is a minute away
    assert text_model.try_reserve().wait == 0


def test_a_slot_is_not_reserved_far_ahead(db: Database) -> None:
    quota = SharedQuota(db, "gemini", 6, horizon=15.0)  # one every 10 s; reserve up to 15 s ahead
    slots = [quota.try_reserve() for _ in range(4)]
    assert slots[0].reserved and slots[0].wait == 0
    assert slots[1].reserved and 5 < slots[1].wait <= 10.01  # the next slot, within the horizon
    assert not any(s.reserved for s in slots[2:])  # further back: asked again later, nothing stranded
