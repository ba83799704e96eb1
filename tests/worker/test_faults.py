"""The fault semantics written in lib/jobs/__init__.py, one test each: crashes, a full / read-only / missing image
store, a full database, calls recorded before they are sent, results after a cancel, resuming a cancelled job,
and messages that do not contradict themselves."""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import event
from sqlmodel import select

from lib import jobs, storage
from lib.errors import ProviderRetryable
from lib.generation.base import GeneratedImage, GenerationRequest
from lib.jobs import transitions
from lib.models import Asset, Event, JobItem, utcnow
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from lib.worker import Worker, gave_up, run_until_idle
from tests.conftest import ScriptedProvider


def _job(rt: Runtime, n: int = 3, **kw: object):
    products = [p for p in rt.source("demo").list_products(ProductQuery(per_page=100)).items if not p.variations]
    return jobs.create_job(
        rt,
        spec=jobs.JobSpec(source_kind="demo", **kw),  # type: ignore[arg-type]
        selections=[jobs.Selection(p) for p in products[:n]],
    )


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Waits on a condition (never a fixed sleep); the timeout only stops a broken test from hanging."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def _events(rt: Runtime, job_id: int) -> list[Event]:
    with rt.db.session() as s:
        return list(s.exec(select(Event).where(Event.job_id == job_id).order_by(Event.id)).all())


# Crashes -----------------------------------------------------------------------------------------------


def test_a_lease_lost_to_a_crash_spends_no_attempt_and_a_poison_item_is_set_aside(rt: Runtime) -> None:
    rt.settings.max_crashes = 3
    job = _job(rt, n=1)
    now = utcnow()
    for crash in range(3):  # three workers die holding the item
        [item] = jobs.claim_items(
            rt.db,
            owner=f"worker-{crash}",
            limit=1,
            lease_seconds=1,
            max_crashes=3,
            now=now + timedelta(seconds=2 * crash),
        )
        assert (item.attempts, item.crashes) == (1, crash)
    # the next takeover finds it has stopped three workers: it fails with a sentence that says so
    assert (
        jobs.claim_items(
            rt.db, owner="worker-3", limit=1, lease_seconds=1, max_crashes=3, now=now + timedelta(seconds=6)
        )
        == []
    )
    [item] = jobs.job_items(rt.db, job.id)
    assert (item.status, item.attempts, item.crashes) == ("failed", 1, 3)
    assert "its worker stopped 3 times" in item.error_message and "Retry it" in item.error_message
    assert jobs.get_job(rt.db, job.id).status == "failed"
    assert jobs.retry_failed(rt.db, job_id=job.id) == 1  # a person's retry gives a fresh crash budget
    [item] = jobs.job_items(rt.db, job.id)
    assert (item.status, item.attempts, item.crashes) == ("queued", 0, 0)


def test_a_storm_of_kills_spreads_over_the_queue_instead_of_hitting_its_head(rt: Runtime) -> None:
    """Six workers in a row die holding the two items they claimed. A dead worker's items wait behind queued ones
    (then fewest crashes first), so no item is under three of the kills and none is set aside as poison."""
    job = _job(rt, n=6)
    now = utcnow()
    for kill in range(6):
        claimed = jobs.claim_items(
            rt.db, owner=f"dead-{kill}", limit=2, lease_seconds=1, max_crashes=3, now=now + timedelta(seconds=2 * kill)
        )
        assert len(claimed) == 2
    items = jobs.job_items(rt.db, job.id)
    assert {i.status for i in items} == {"running"}
    assert max(i.crashes for i in items) == 1 and sum(i.crashes for i in items) == 6
    assert {i.attempts for i in items} == {1}


def test_after_crashes_one_transient_error_is_still_retried(rt: Runtime) -> None:
    """The review's case: after several crashes one 503 failed an item for good. Now crashes do not count."""
    rt.settings.max_attempts = 2
    rt.set_provider("studio", ScriptedProvider({1: ProviderRetryable("The model is overloaded.")}))
    job = _job(rt, n=1)
    now = utcnow()
    for crash in range(4):
        jobs.claim_items(rt.db, owner=f"dead-{crash}", limit=1, lease_seconds=1, now=now + timedelta(seconds=2 * crash))
    with rt.db.transaction() as s:  # the last dead worker's lease has expired too
        item = s.exec(select(JobItem)).one()
        item.lease_expires_at = utcnow() - timedelta(seconds=1)
        s.add(item)
    run_until_idle(rt, concurrency=1)
    [item] = jobs.job_items(rt.db, job.id)
    assert (item.status, item.crashes, item.attempts) == ("succeeded", 4, 2)  # 4 crashes, then 503 + success


# The image store -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "words"), [(errno.ENOSPC, "is full"), (errno.EROFS, "is read-only"), (errno.ENOENT, "is missing")]
)
def test_a_full_read_only_or_missing_image_store_is_waited_out(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    rt.set_provider("studio", ScriptedProvider())
    real_mkstemp = storage.tempfile.mkstemp
    failures = {"left": 6}  # the store refuses the next six writes with a real OSError, then works again
    lock = threading.Lock()

    def mkstemp(*args, **kw):  # type: ignore[no-untyped-def]
        with lock:
            if failures["left"] > 0:
                failures["left"] -= 1
                raise OSError(code, os.strerror(code), kw.get("dir"))
        return real_mkstemp(*args, **kw)

    monkeypatch.setattr(storage.tempfile, "mkstemp", mkstemp)
    job = _job(rt, n=3)
    stats = run_until_idle(rt, concurrency=2)
    items = jobs.job_items(rt.db, job.id)
    assert failures["left"] == 0 and stats.faults >= 6
    assert {i.status for i in items} == {"succeeded"} and stats.failed == 0
    assert {i.attempts for i in items} == {1}  # the disk's fault, not the items': no attempt spent
    retries = [e.message for e in _events(rt, job.id) if e.message.startswith("retry in")]
    assert len(retries) == 6
    assert all(f"The image store at {rt.blobs.root} {words}; the work waits and tries again." in m for m in retries)


# The database --------------------------------------------------------------------------------------------


def test_the_worker_rides_out_a_full_database_and_carries_on(rt: Runtime) -> None:
    """A real SQLITE_FULL: PRAGMA max_page_count caps the database at its current size while `full` is set."""
    full = threading.Event()
    capped_once = threading.Event()  # stays set after `full` is cleared

    class HeldUntilFull(ScriptedProvider):
        """The first image comes at once; the others wait for the disk to fill, so the job cannot end before it
        does (on a busy machine all six could otherwise finish between the first image and the cap)."""

        def generate(self, request: GenerationRequest) -> GeneratedImage:
            if self.calls >= 1:
                assert capped_once.wait(60)
            return super().generate(request)

    rt.set_provider("studio", HeldUntilFull())

    @event.listens_for(rt.db.engine, "checkout")
    def _cap(dbapi_conn, _record, _proxy) -> None:  # type: ignore[no-untyped-def]
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA max_page_count = {1 if full.is_set() else 1_073_741_823}")  # 1: as large as it is now
        cur.close()

    job = _job(rt, n=6)
    worker = Worker(rt, concurrency=2)
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["stats"] = worker.run(until_idle=True)
        except BaseException as exc:  # the test fails on it below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="test-worker")
    thread.start()
    try:
        _wait_for(lambda: any(i.status == "succeeded" for i in jobs.job_items(rt.db, job.id)), "a first image")
        full.set()
        rt.db.engine.pool.dispose()  # connections made from now on see the cap
        capped_once.set()
        _wait_for(lambda: worker.stats.faults >= 3, "the worker to meet the full database a few times")
        assert thread.is_alive()  # it waits, it does not exit
        full.clear()
        rt.db.engine.pool.dispose()
        thread.join(120)
    finally:
        full.clear()
        worker.stop()
        thread.join(30)
    assert "error" not in outcome
    items = jobs.job_items(rt.db, job.id)
    assert {i.status for i in items} == {"succeeded"}
    assert jobs.get_job(rt.db, job.id).status == "succeeded"


# Outbound calls, cancel and resume -----------------------------------------------------------------------


class GatedProvider(ScriptedProvider):
    """Holds each call until released, so a test can look at the job log while the call is out."""

    def __init__(self, cost: float = 0.039) -> None:
        super().__init__(cost=cost)
        self.entered = threading.Event()
        self.release = threading.Event()

    def estimate_cost(self, model: str, images: int, *, batch: bool = False) -> float:
        return 0.05 * images  # more than it will cost: the estimate is corrected when the answer comes

    def generate(self, request: GenerationRequest) -> GeneratedImage:
        self.entered.set()
        assert self.release.wait(60)
        return super().generate(request)


def _run_in_thread(rt: Runtime) -> threading.Thread:
    thread = threading.Thread(target=run_until_idle, args=(rt,), kwargs={"concurrency": 1}, name="test-worker")
    thread.start()
    return thread


def test_a_call_is_in_the_request_log_and_the_cost_before_it_is_sent(rt: Runtime) -> None:
    provider = GatedProvider()
    rt.set_provider("studio", provider)
    job = _job(rt, n=1)
    thread = _run_in_thread(rt)
    try:
        assert provider.entered.wait(60)
        # the call is out: a crash now would leave exactly this in the job log
        [sent] = [e for e in _events(rt, job.id) if e.kind == "request"]
        assert (sent.message, sent.data["state"], sent.data["estimated_cost"]) == (
            "studio generate: sent",
            "sent",
            0.05,
        )
        [item] = jobs.job_items(rt.db, job.id)
        assert item.cost == pytest.approx(0.05) and jobs.get_job(rt.db, job.id).actual_cost == pytest.approx(0.05)
    finally:
        provider.release.set()
        thread.join(60)
    [done] = [e for e in _events(rt, job.id) if e.kind == "request"]  # the same event, completed
    assert (done.id, done.message, done.data["state"], done.data["cost"]) == (
        sent.id,
        "studio generate: ok",
        "done",
        0.039,
    )
    [item] = jobs.job_items(rt.db, job.id)
    assert item.cost == pytest.approx(0.039) and jobs.get_job(rt.db, job.id).actual_cost == pytest.approx(0.039)


def test_a_call_cut_off_by_a_crash_stays_in_the_cost_when_the_retry_reuses_an_earlier_result(rt: Runtime) -> None:
    """The first attempt's call went out and its worker died; the retry finds an identical request already made
    and reuses that image for free. The call that was sent may still be charged: it stays in the item's cost."""
    first = _job(rt, n=1)
    run_until_idle(rt)
    assert jobs.get_job(rt.db, first.id).status == "succeeded"
    second = _job(rt, n=1)  # the same product and settings: the same request
    [item] = jobs.claim_items(rt.db, owner="dead", limit=1, lease_seconds=60, job_ids={second.id})
    assert item.id is not None
    sent = transitions.begin_call(
        rt.db, item_id=item.id, owner="dead", service="studio", method="generate", estimated_cost=0.05, message="sent"
    )
    assert sent is not None  # ... and the worker is killed here
    with rt.db.transaction() as s:  # its lease runs out
        dead = s.get(JobItem, item.id)
        assert dead is not None
        dead.lease_expires_at = utcnow() - timedelta(seconds=1)
    run_until_idle(rt)
    [item] = jobs.job_items(rt.db, second.id)
    assert item.status == "succeeded" and item.crashes == 1
    assert any("reused" in e.message for e in _events(rt, second.id))
    assert item.cost == pytest.approx(0.05) and jobs.get_job(rt.db, second.id).actual_cost == pytest.approx(0.05)


def test_a_result_after_the_cancel_is_kept_and_resuming_counts_it_once(rt: Runtime) -> None:
    provider = GatedProvider()
    rt.set_provider("studio", provider)
    job = _job(rt, n=3)
    thread = _run_in_thread(rt)
    try:
        assert provider.entered.wait(60)
        assert jobs.cancel_job(rt.db, job_id=job.id) == 3
    finally:
        provider.release.set()
        thread.join(60)
    items = jobs.job_items(rt.db, job.id)
    late = [i for i in items if i.result_asset_id is not None]
    assert len(late) == 1 and {i.status for i in items} == {"cancelled"}
    with rt.db.session() as s:
        [asset] = s.exec(select(Asset).where(Asset.job_id == job.id)).all()
    assert asset.item_id == late[0].id and rt.blobs.exists(asset.sha256)  # paid for, not lost
    assert late[0].cost == pytest.approx(0.039) and jobs.get_job(rt.db, job.id).actual_cost == pytest.approx(0.039)
    assert any("result arrived after the cancel" in e.message for e in _events(rt, job.id))

    assert jobs.resume_job(rt.db, job_id=job.id) == 2  # the two without a result go back in the queue
    assert jobs.get_job(rt.db, job.id).status in ("queued", "running")
    calls_before = provider.calls
    run_until_idle(rt)
    items = jobs.job_items(rt.db, job.id)
    assert {i.status for i in items} == {"succeeded"} and provider.calls == calls_before + 2  # not charged twice
    job_after = jobs.get_job(rt.db, job.id)
    assert job_after.status == "succeeded" and job_after.actual_cost == pytest.approx(3 * 0.039)


def test_a_job_cancelled_before_it_ran_can_be_resumed(rt: Runtime) -> None:
    job = _job(rt, n=2)
    jobs.cancel_job(rt.db, job_id=job.id)
    assert jobs.get_job(rt.db, job.id).status == "cancelled"
    assert jobs.resume_job(rt.db, job_id=job.id) == 2
    run_until_idle(rt)
    assert {i.status for i in jobs.job_items(rt.db, job.id)} == {"succeeded"}
    assert jobs.get_job(rt.db, job.id).status == "succeeded"


# Messages ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "final"),
    [
        ("Gemini's rate limit was reached; we will try again in 1 s.", "Gemini's rate limit was reached."),
        ("The image provider is busy. We will try again shortly.", "The image provider is busy."),
        ("Gemini did not answer in time; we will try again.", "Gemini did not answer in time."),
        (
            "The source did not answer in time or is overloaded; try again in a moment.",
            "The source did not answer in time or is overloaded.",
        ),
        ("The model is overloaded.", "The model is overloaded."),
    ],
)
def test_giving_up_does_not_promise_to_try_again(message: str, final: str) -> None:
    assert gave_up(message, 5) == f"{final} Gave up after 5 attempts."


def test_an_item_that_gives_up_says_so_once(rt: Runtime) -> None:
    rt.settings.max_attempts = 2
    rt.set_provider("studio", ScriptedProvider(fail_always=ProviderRetryable()))  # "...We will try again shortly."
    job = _job(rt, n=1)
    run_until_idle(rt)
    [item] = jobs.job_items(rt.db, job.id)
    assert item.status == "failed"
    assert item.error_message == "The image provider is busy. Gave up after 2 attempts."
