"""The worker: end to end, retries, permanent errors, auth pause, cancel, leases, result reuse."""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from lib import jobs, workers_seen
from lib.errors import ProviderAuthError, ProviderPermanent, ProviderQuota, ProviderRetryable, SafetyBlocked
from lib.fidelity import Verdict
from lib.fidelity.records import checks_for
from lib.models import Asset, Event, JobItem, utcnow
from lib.quota import SharedQuota
from lib.runtime import Runtime
from lib.sources.base import ProductQuery
from lib.worker import Worker, backoff_delay, run_until_idle, start_embedded
from tests.conftest import ScriptedProvider, make_runtime
from tests.fidelity.providers import RedrawingProvider


class FlakyProvider(ScriptedProvider):
    """Each request fails twice with a retryable error, then succeeds: 2 of 3 calls fail."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: dict[str, int] = {}

    def generate(self, request):  # type: ignore[no-untyped-def]
        key = request.fingerprint("studio")
        with self.lock:
            self.seen[key] = self.seen.get(key, 0) + 1
            attempt = self.seen[key]
        if attempt < 3:
            with self.lock:
                self.calls += 1
            raise ProviderRetryable("The model is overloaded.")
        return super().generate(request)


def _job(rt: Runtime, n: int = 3, variants: int = 1, **kw: object):
    products = [p for p in rt.source("demo").list_products(ProductQuery(per_page=100)).items if not p.variations]
    return jobs.create_job(
        rt,
        spec=jobs.JobSpec(source_kind="demo", variants=variants, **kw),  # type: ignore[arg-type]
        selections=[jobs.Selection(p) for p in products[:n]],
    )


def test_with_the_fidelity_check_off_images_are_stored_unchecked_and_not_retried(tmp_path: Path) -> None:
    # FIDELITY_CHECK=false: what bench/studio_worker.py measures as the pipeline alone.
    rt = make_runtime(tmp_path / "data", poll_seconds=0.05, fidelity_check=False)
    try:
        rt.set_provider("studio", RedrawingProvider())  # every image redrawn: with the check on, each is re-tried
        job = _job(rt, n=2, fidelity_retries=1)
        run_until_idle(rt)
        items = jobs.job_items(rt.db, job.id)
        assert [i.status for i in items] == ["succeeded", "succeeded"]
        assert checks_for(rt.db, [i.result_asset_id for i in items if i.result_asset_id]) == {}
    finally:
        rt.db.dispose()


def test_every_image_is_checked_and_each_redrawn_one_tried_again_before_the_queue_is_done(tmp_path: Path) -> None:
    # The checks run on their own threads after an item leaves its slot: the queue is only done once they are.
    rt = make_runtime(tmp_path / "data", poll_seconds=0.05)
    try:
        rt.set_provider("studio", RedrawingProvider())  # every image redrawn
        job = _job(rt, n=3, fidelity_retries=1)
        run_until_idle(rt)
        items = jobs.job_items(rt.db, job.id)
        checked = checks_for(rt.db, [i.result_asset_id for i in items if i.result_asset_id])
        assert {i.status for i in items} == {"succeeded"} and len(checked) == len(items)  # every image checked
        first = [i for i in items if i.parent_item_id is None]
        redrawn = [i.id for i in first if checked[i.result_asset_id or 0].verdict == Verdict.REDRAWN]
        again = [i.parent_item_id for i in items if i.parent_item_id is not None]
        assert len(first) == 3 and redrawn and sorted(again) == sorted(redrawn)  # each redrawn one tried once more
    finally:
        rt.db.dispose()


def test_thirty_items_through_the_studio_engine(rt: Runtime) -> None:
    job = _job(rt, n=10, variants=3)
    stats = run_until_idle(rt, concurrency=4)
    items = jobs.job_items(rt.db, job.id)
    assert len(items) == 30 and {i.status for i in items} == {"succeeded"}
    assert stats.succeeded == 30
    with rt.db.session() as s:
        assets = s.exec(select(Asset).where(Asset.job_id == job.id)).all()
    assert len(assets) == 30 and len({a.sha256 for a in assets}) == 30  # variants differ
    assert all(a.width >= 1024 or a.height >= 1024 for a in assets)
    assert all(rt.blobs.exists(a.sha256) for a in assets)
    assert jobs.get_job(rt.db, job.id).status == "succeeded"
    with rt.db.session() as s:
        stages = {e.message for e in s.exec(select(Event).where(Event.item_id == items[0].id)).all()}
    assert {"claimed", "stage fetch", "stage validate", "stage generate", "stage store", "succeeded"} <= stages
    with rt.db.session() as s:
        job_transitions = [
            e.message for e in s.exec(select(Event).where(Event.job_id == job.id, Event.item_id.is_(None))).all()
        ]
    assert job_transitions == ["job created: 30 items", "job running", "job succeeded"]


def test_flaky_provider_two_of_three_calls_fail_and_every_item_succeeds(rt: Runtime) -> None:
    provider = FlakyProvider()
    rt.set_provider("studio", provider)
    job = _job(rt, n=6)
    stats = run_until_idle(rt, concurrency=1)
    assert {i.status for i in jobs.job_items(rt.db, job.id)} == {"succeeded"}
    assert stats.retried == 12 and provider.calls == 18
    assert all(i.attempts == 3 for i in jobs.job_items(rt.db, job.id))


def test_the_worker_logs_each_call_of_a_provider_that_does_not_log_its_own(rt: Runtime) -> None:
    rt.set_provider("studio", ScriptedProvider({1: ProviderRetryable("The model is overloaded.")}))
    job = _job(rt, n=2)
    run_until_idle(rt, concurrency=1)
    items = jobs.job_items(rt.db, job.id)
    with rt.db.session() as s:
        calls = s.exec(select(Event).where(Event.job_id == job.id, Event.kind == "request").order_by(Event.id)).all()
    assert [(e.service, e.method) for e in calls] == [("studio", "generate")] * 3  # two items, one retried
    assert Counter(e.item_id for e in calls) == {i.id: i.attempts for i in items}
    assert [e.message for e in calls].count("studio generate: ProviderRetryable") == 1


def test_the_studio_engine_calls_are_in_the_job_log(rt: Runtime) -> None:
    job = _job(rt, n=2)
    run_until_idle(rt, concurrency=2)
    items = jobs.job_items(rt.db, job.id)
    with rt.db.session() as s:
        calls = s.exec(select(Event).where(Event.job_id == job.id, Event.kind == "request")).all()
    assert sorted(e.item_id for e in calls) == sorted(i.id for i in items)
    assert all(e.message == "studio generate: ok" and "usage" in e.data for e in calls)


def test_retry_delay_honours_the_providers_retry_after(rt: Runtime) -> None:
    rt.set_provider("studio", ScriptedProvider({1: ProviderQuota("slow down", retry_after=47.0)}))
    job = _job(rt, n=1)
    worker = Worker(rt, concurrency=1)
    [item] = jobs.claim_items(rt.db, owner=worker.owner, limit=1, lease_seconds=60)
    before = utcnow()
    worker._run_item(item)
    [after] = jobs.job_items(rt.db, job.id)
    assert after.status == "queued" and after.error_kind == "ProviderQuota"
    assert after.next_attempt_at - before >= timedelta(seconds=47)
    assert jobs.claim_items(rt.db, owner="other", limit=1, lease_seconds=60) == []  # not due yet
    assert (
        len(jobs.claim_items(rt.db, owner="other", limit=1, lease_seconds=60, now=utcnow() + timedelta(seconds=48)))
        == 1
    )


def test_backoff_grows_exponentially_with_jitter_and_respects_the_cap() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff_delay(n, base=2, cap=60, rng=rng) for n in range(1, 9)]
    for n, d in enumerate(delays, start=1):
        exp = min(60, 2 * 2 ** (n - 1))
        assert exp / 2 <= d <= exp
    assert backoff_delay(1, base=2, cap=60, retry_after=30, rng=rng) == 30


@pytest.mark.parametrize(
    "error", [ProviderPermanent("The source image was rejected: unsupported format."), SafetyBlocked()]
)
def test_permanent_error_fails_the_item_at_once_with_its_message(rt: Runtime, error) -> None:
    rt.set_provider("studio", ScriptedProvider(fail_always=error))
    job = _job(rt, n=2)
    run_until_idle(rt)
    items = jobs.job_items(rt.db, job.id)
    assert {i.status for i in items} == {"failed"}
    assert all(i.attempts == 1 and i.error_message == error.message for i in items)
    progress = jobs.job_progress(rt.db, job.id)
    assert progress.status == "failed" and progress.errors == [error.message]


def test_retryable_errors_give_up_after_max_attempts(rt: Runtime) -> None:
    rt.settings.max_attempts = 3
    rt.set_provider("studio", ScriptedProvider(fail_always=ProviderRetryable("The model is overloaded.")))
    job = _job(rt, n=1)
    run_until_idle(rt)
    [item] = jobs.job_items(rt.db, job.id)
    assert item.status == "failed" and item.attempts == 3
    assert "Gave up after 3 attempts" in item.error_message


def test_auth_error_pauses_the_job_instead_of_burning_retries(rt: Runtime) -> None:
    provider = ScriptedProvider(fail_always=ProviderAuthError())
    rt.set_provider("studio", provider)
    job = _job(rt, n=4)
    run_until_idle(rt, concurrency=1)
    assert jobs.get_job(rt.db, job.id).status == "paused"
    assert provider.calls == 1
    items = jobs.job_items(rt.db, job.id)
    assert {i.status for i in items} == {"queued"} and all(i.attempts == 0 for i in items)
    # a new key: resume and everything goes through
    rt.set_provider("studio", ScriptedProvider())
    jobs.resume_job(rt.db, job_id=job.id)
    run_until_idle(rt)
    assert jobs.get_job(rt.db, job.id).status == "succeeded"


def test_cancelled_job_is_not_worked_on(rt: Runtime) -> None:
    provider = ScriptedProvider()
    rt.set_provider("studio", provider)
    job = _job(rt, n=3)
    jobs.cancel_job(rt.db, job_id=job.id)
    run_until_idle(rt)
    assert provider.calls == 0
    assert {i.status for i in jobs.job_items(rt.db, job.id)} == {"cancelled"}


def test_item_cancelled_while_running_keeps_no_result(rt: Runtime) -> None:
    rt.set_provider("studio", ScriptedProvider())
    job = _job(rt, n=1)
    worker = Worker(rt)
    [item] = jobs.claim_items(rt.db, owner=worker.owner, limit=1, lease_seconds=60)
    jobs.cancel_item(rt.db, item_id=item.id)
    worker._run_item(item)
    [after] = jobs.job_items(rt.db, job.id)
    assert after.status == "cancelled" and after.result_asset_id is None
    with rt.db.session() as s:
        assert s.exec(select(Asset).where(Asset.job_id == job.id)).all() == []


def test_expired_lease_is_taken_over_and_the_old_worker_cannot_overwrite(rt: Runtime) -> None:
    rt.set_provider("studio", ScriptedProvider())
    job = _job(rt, n=1)
    dead = Worker(rt, owner="dead-worker")
    [item] = jobs.claim_items(rt.db, owner=dead.owner, limit=1, lease_seconds=5)
    assert jobs.claim_items(rt.db, owner="other", limit=1, lease_seconds=60) == []  # lease still valid
    later = utcnow() + timedelta(seconds=6)
    [taken] = jobs.claim_items(rt.db, owner="survivor", limit=1, lease_seconds=60, now=later)
    # the dead worker's attempt is not spent: a takeover counts a crash instead
    assert taken.id == item.id and (taken.attempts, taken.crashes) == (1, 1)
    Worker(rt, owner="survivor")._run_item(taken)
    dead._run_item(item)  # the zombie finishes late: its result is discarded
    [after] = jobs.job_items(rt.db, job.id)
    assert after.status == "succeeded"
    with rt.db.session() as s:
        assert len(s.exec(select(Asset).where(Asset.item_id == item.id)).all()) == 1


def test_identical_request_reuses_the_stored_result(rt: Runtime) -> None:
    provider = ScriptedProvider()
    rt.set_provider("studio", provider)
    first = _job(rt, n=3)
    run_until_idle(rt)
    second = _job(rt, n=3)
    stats = run_until_idle(rt)
    assert provider.calls == 3 and stats.reused == 3
    shas = lambda job_id: sorted(a.sha256 for e in jobs.gallery(rt.db, job_id) for a in e.assets)  # noqa: E731
    assert shas(first.id) == shas(second.id)
    assert all(i.cost == 0 for i in jobs.job_items(rt.db, second.id))


def test_missing_product_photo_fails_with_a_sentence(rt: Runtime) -> None:
    rt.set_provider("studio", ScriptedProvider())
    job = _job(rt, n=1)
    with rt.db.transaction() as s:
        item = s.exec(select(JobItem).where(JobItem.job_id == job.id)).one()
        item.product = {**item.product, "images": []}
        s.add(item)
    run_until_idle(rt)
    [after] = jobs.job_items(rt.db, job.id)
    assert after.status == "failed" and "no photo" in after.error_message


def test_embedded_worker_thread_runs_jobs_and_stops(rt: Runtime) -> None:
    provider = ScriptedProvider()
    rt.set_provider("studio", provider)
    embedded = start_embedded(rt, concurrency=2)
    try:
        assert embedded.alive and embedded.thread.daemon
        job = _job(rt, n=3)
        embedded.worker.wake.set()
        deadline = time.monotonic() + 60
        while jobs.get_job(rt.db, job.id).status != "succeeded":
            assert time.monotonic() < deadline, "the embedded worker did not finish the job"
            assert embedded.alive
            threading.Event().wait(0.02)
    finally:
        embedded.stop(timeout=30)
    assert not embedded.alive
    assert provider.calls == 3
    assert all(i.lease_owner is None for i in jobs.job_items(rt.db, job.id))


class WidthProbe(ScriptedProvider):
    """Counts calls in progress at once. The first `width` calls wait for each other (a barrier), so a worker
    that ran fewer at once fails the barrier instead of passing by luck."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.barrier = threading.Barrier(width, timeout=30)
        self.inside = 0
        self.most = 0
        self.waves = 0

    def generate(self, request):  # type: ignore[no-untyped-def]
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)
            first_wave = self.waves < self.barrier.parties
            self.waves += 1
        try:
            if first_wave:
                self.barrier.wait()
            return super().generate(request)
        finally:
            with self.lock:
                self.inside -= 1


def test_concurrency_is_bounded_and_used(rt: Runtime) -> None:
    provider = WidthProbe(3)
    rt.set_provider("studio", provider)
    job = _job(rt, n=10)
    stats = run_until_idle(rt, concurrency=3)
    assert {i.status for i in jobs.job_items(rt.db, job.id)} == {"succeeded"}
    assert stats.retried == 0  # the barrier was met: three calls really ran at once
    assert provider.most == 3  # and never more


def test_a_retry_delay_from_the_provider_pauses_the_shared_quota(rt: Runtime) -> None:
    rt.settings.rate_limits = {"studio": 6000}
    rt.set_provider("studio", ScriptedProvider({1: ProviderQuota("Slow down.", retry_after=30)}))
    job = _job(rt, n=1)
    worker = Worker(rt, concurrency=1)
    item = jobs.job_items(rt.db, job.id)[0]
    worker._handle_error(item, ProviderQuota("Slow down.", retry_after=30))
    # Any other worker on this job log now waits too.
    assert 29 < SharedQuota(rt.db, "studio", 6000).paused_for() <= 30


def test_a_running_worker_is_listed_and_leaves_the_list_when_it_stops(rt: Runtime) -> None:
    rt.set_provider("studio", ScriptedProvider())
    _job(rt, n=2)
    seen: list[list[str]] = []
    worker = Worker(rt, concurrency=1)
    real_claim = worker._claim

    def claim() -> list[JobItem]:
        seen.append([w.owner for w in workers_seen.live_workers(rt.db)])
        return real_claim()

    worker._claim = claim  # type: ignore[method-assign]
    worker.run(until_idle=True)
    assert seen and all(owners == [worker.owner] for owners in seen)
    assert workers_seen.live_workers(rt.db) == []


def test_in_flight_target_covers_the_quota_when_the_provider_is_slow(rt: Runtime) -> None:
    rt.settings.rate_limits = {"gemini": 600}
    worker = Worker(rt, concurrency=2)
    assert worker.target_in_flight() == 2  # no gemini work seen yet
    worker._observe_latency("gemini", 2.0)  # 10 req/s × 2 s = 20 in flight needed
    assert worker.target_in_flight() >= math.ceil(10 * 2.0)
