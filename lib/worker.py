"""The durable worker: claims items with a lease, runs fetch -> validate -> generate -> store, retries with
backoff, respects each provider's rate limit, and stops cleanly.

Run standalone with `python -m lib.worker [--until-idle] [--concurrency N]`; the app starts one embedded
worker thread per process (`start_embedded`). Any number of workers may share one job log: a claim is atomic,
and an item whose worker died is taken over when its lease expires.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from lib import alt_text, events, jobs
from lib.errors import AppError, ProviderAuthError
from lib.fidelity import actions as fidelity_actions
from lib.fidelity import records as fidelity_records
from lib.generation.base import (
    AltTextProvider,
    GeneratedImage,
    GenerationRequest,
    ImageProvider,
    records_own_requests,
)
from lib.models import ItemStatus, Job, JobItem, JobStatus, Stage
from lib.runtime import Runtime

log = logging.getLogger("imagegecko.worker")

MAX_IN_FLIGHT = 64
ALT_TEXT_CHECK_SECONDS = 5.0  # how often an idle worker looks for alt texts to ask for again
ALT_TEXT_PAUSE_SECONDS = 30.0  # after a round with failures (quota, outage): let the text model recover


class TokenBucket:
    """Requests-per-minute limiter. Capacity 1 spaces requests evenly, so a burst never trips the quota."""

    def __init__(
        self, per_minute: float, *, capacity: float = 1.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = per_minute / 60.0
        self.capacity = capacity
        self.tokens = capacity
        self.clock = clock
        self.updated = clock()
        self.lock = threading.Lock()

    def _reserve(self) -> float:
        """Take a token if there is one (returns 0) or say how long until there will be."""
        with self.lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1.0:
                self.tokens -= 1.0
                return 0.0
            return (1.0 - self.tokens) / self.rate

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for a token; False if the worker is stopping."""
        while True:
            wait = self._reserve()
            if wait <= 0:
                return True
            if stop.wait(wait):
                return False


@dataclass
class WorkerStats:
    claimed: int = 0
    succeeded: int = 0
    reused: int = 0
    retried: int = 0
    failed: int = 0
    paused_jobs: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("claimed", "succeeded", "reused", "retried", "failed", "paused_jobs")}


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self, rt: Runtime, *, concurrency: int | None = None, owner: str | None = None, job_id: int | None = None
    ) -> None:
        self.rt = rt
        self.job_id = job_id  # only this job's items (the CLI's `demo`); None = the whole queue
        self.settings = rt.settings
        self.concurrency = concurrency or self.settings.worker_concurrency
        self.owner = owner or default_owner()
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.stats = WorkerStats()
        self._buckets: dict[str, TokenBucket] = {}
        self._latency: dict[str, float] = {}  # EWMA of seconds a slot is busy per item, by provider
        self._in_flight: dict[int, Future[None]] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="gecko-item")
        self._alt_thread: threading.Thread | None = None
        self._alt_stop = threading.Event()  # set at shutdown: a round under way asks no more
        self._alt_next = 0.0  # monotonic time of the next look for pending alt texts

    # Capacity -----------------------------------------------------------------------------------
    def _bucket(self, provider: str) -> TokenBucket | None:
        rpm = self.settings.rate_limit(provider)
        if rpm <= 0:
            return None
        with self._lock:
            if provider not in self._buckets:
                self._buckets[provider] = TokenBucket(rpm)
            return self._buckets[provider]

    def target_in_flight(self) -> int:
        """Enough items in flight to use a provider's whole quota even when each call is slow
        (rate × latency, Little's law), never fewer than the configured concurrency."""
        target = self.concurrency
        for provider, latency in list(self._latency.items()):
            rpm = self.settings.rate_limit(provider)
            if rpm > 0:
                target = max(target, math.ceil(rpm / 60.0 * latency * 1.2) + 1)
        return min(MAX_IN_FLIGHT, target)

    def _observe_latency(self, provider: str, seconds: float) -> None:
        with self._lock:
            prev = self._latency.get(provider)
            self._latency[provider] = seconds if prev is None else 0.7 * prev + 0.3 * seconds

    # Main loop ----------------------------------------------------------------------------------
    def run(self, *, until_idle: bool = False) -> WorkerStats:
        log.info("worker %s started (concurrency %d)", self.owner, self.concurrency)
        self._alt_stop.clear()
        last_beat = time.monotonic()
        try:
            while not self.stop_event.is_set():
                self._reap()
                if self.job_id is None:
                    self._tick_batches()
                free = self.target_in_flight() - len(self._in_flight)
                job_ids = None if self.job_id is None else {self.job_id}
                claimed = (
                    jobs.claim_items(self.rt.db, self.owner, free, self.settings.lease_seconds, job_ids=job_ids)
                    if free
                    else []
                )
                for item in claimed:
                    self.stats.add("claimed")
                    assert item.id is not None
                    self._in_flight[item.id] = self._pool.submit(self._run_item, item)
                if time.monotonic() - last_beat > self.settings.lease_seconds / 3:
                    jobs.heartbeat(self.rt.db, self.owner, list(self._in_flight), self.settings.lease_seconds)
                    last_beat = time.monotonic()
                if claimed:
                    continue
                if until_idle and not self._in_flight and pending_items(self.rt, self.job_id) == 0:
                    break
                if self.job_id is None:
                    self._tick_alt_texts()
                    self._tick_fidelity()
                self.wake.wait(self.settings.poll_seconds)
                self.wake.clear()
        finally:
            self._shutdown()
        log.info("worker %s stopped: %s", self.owner, self.stats.as_dict())
        return self.stats

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def _reap(self) -> None:
        for item_id, fut in list(self._in_flight.items()):
            if fut.done():
                del self._in_flight[item_id]
                exc = fut.exception()
                if exc is not None:  # _run_item handles everything; this is a bug, keep it visible
                    log.error("item %s crashed the runner: %r", item_id, exc)

    def _tick_batches(self) -> None:
        try:
            from lib.generation import batch
        except ImportError:
            return
        try:
            batch.tick(self.rt)
        except Exception:  # a batch poll failing must not stop online work
            log.exception("batch tick failed")

    def _tick_alt_texts(self) -> None:
        """With nothing claimed: alt texts the text model did not write the first time (lib/alt_text.py), asked
        for in a thread so this loop and its lease heartbeats never wait on the text model."""
        if (self._alt_thread is not None and self._alt_thread.is_alive()) or time.monotonic() < self._alt_next:
            return
        self._alt_next = time.monotonic() + ALT_TEXT_CHECK_SECONDS
        try:
            if alt_text.pending_count(self.rt) == 0:
                return
        except Exception:
            log.exception("could not count pending alt texts")
            return
        bucket = self._bucket("gemini_text")

        def acquire() -> bool:
            if self.stop_event.is_set() or self._alt_stop.is_set():
                return False
            return bucket is None or bucket.acquire(self._alt_stop)

        def run() -> None:
            try:
                written, failed = alt_text.fill_pending(self.rt, acquire=acquire)
            except Exception:
                log.exception("asking for alt texts again failed")
                written, failed = 0, 1
            if written:
                log.info("wrote %d alt texts that were pending", written)
            if failed:
                self._alt_next = time.monotonic() + ALT_TEXT_PAUSE_SECONDS
            else:
                self._alt_next = 0.0  # more may be waiting: the next idle poll looks again
                self.wake.set()

        self._alt_thread = threading.Thread(target=run, name="gecko-alt-text-round", daemon=True)
        self._alt_thread.start()

    def _shutdown(self) -> None:
        """In-flight items get until their lease would expire to finish; the rest are released."""
        self._alt_stop.set()
        if self._alt_thread is not None:  # asks no more (acquire sees the stop); the calls under way end
            self._alt_thread.join(alt_text.CALL_TIMEOUT_SECONDS + 1)
        deadline = time.monotonic() + self.settings.lease_seconds
        for fut in list(self._in_flight.values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                fut.result(timeout=remaining)
            except Exception:  # noqa: BLE001, S110 - timeout or a crash already logged by _reap
                pass
        released = jobs.release_items(self.rt.db, self.owner)
        if released:
            log.info("released %d items", released)
        self._pool.shutdown(wait=False, cancel_futures=True)

    # One item -----------------------------------------------------------------------------------
    def _run_item(self, item: JobItem) -> None:
        try:
            self._process(item)
        except AppError as exc:
            self._handle_error(item, exc)
        except Exception as exc:  # an unexpected bug: retry like a transient error, with the detail logged
            log.exception("item %s: unexpected error", item.id)
            err = AppError("An unexpected error occurred; we will retry.", detail=repr(exc))
            err.retryable = True
            self._handle_error(item, err)
        finally:
            self.wake.set()

    def _process(self, item: JobItem) -> None:
        assert item.id is not None
        db, owner = self.rt.db, self.owner
        job = jobs.get_job(db, item.job_id)
        started = time.monotonic()
        if not jobs.set_stage(db, item.id, owner, Stage.FETCH):
            return
        request, source_sha = jobs.build_request(
            self.rt,
            item,
            on_stage=lambda stage: jobs.set_stage(db, item.id, owner, stage),  # type: ignore[arg-type]
        )
        fingerprint = request.fingerprint(job.provider)
        if not item.regenerate:
            cached = jobs.reuse_result(self.rt, fingerprint)
            if cached is not None:
                jobs.complete_item(
                    self.rt,
                    item.id,
                    owner,
                    cached,
                    fingerprint=fingerprint,
                    source_sha=source_sha,
                    latency_ms=(time.monotonic() - started) * 1000,
                    reused=True,
                )
                self.stats.add("reused")
                return
        if not jobs.set_stage(db, item.id, owner, Stage.GENERATE):
            return
        provider = self.rt.provider(job.provider)
        bucket = self._bucket(job.provider)
        if bucket is not None:
            with self._lock:  # until measured, assume an item keeps a slot busy for about a second
                self._latency.setdefault(job.provider, 1.0)
        waited_from = time.monotonic()
        if bucket is not None and not bucket.acquire(self.stop_event):
            return  # stopping: the item is released at shutdown
        token_wait = time.monotonic() - waited_from
        image = self._generate(provider, request, item, job.provider)
        writes_alt = isinstance(provider, AltTextProvider)
        # None: the template (jobs.complete_item) stands in, and lib/alt_text.py asks again later
        alt = (
            provider.model_alt_text(image.data, request.product, job_id=item.job_id, item_id=item.id)
            if writes_alt
            else None
        )
        if not jobs.set_stage(db, item.id, owner, Stage.STORE):
            return
        jobs.complete_item(
            self.rt,
            item.id,
            owner,
            image,
            fingerprint=fingerprint,
            source_sha=source_sha,
            latency_ms=(time.monotonic() - started) * 1000,
            alt_text=alt,
            alt_pending=writes_alt and alt is None,
        )
        # A slot is busy for the whole item, not just the provider call (Little's law needs that time).
        self._observe_latency(job.provider, time.monotonic() - started - token_wait)
        self.stats.add("succeeded")
        self._check_fidelity(item.id)

    def _check_fidelity(self, item_id: int) -> None:
        """Compare the stored image with the product photo (lib/fidelity); a failing check never fails the item:
        the idle sweep (_tick_fidelity) tries again."""
        try:
            fidelity_actions.after_item(self.rt, item_id=item_id)
        except Exception:
            log.exception("fidelity check of item %s failed", item_id)

    def _tick_fidelity(self) -> None:
        """With nothing claimed: check images stored without a check (batch results, reused results, a crash)."""
        try:
            for asset_id in fidelity_records.pending_assets(self.rt.db, limit=2):
                fidelity_records.check_asset(self.rt, asset_id=asset_id)
        except Exception:
            log.exception("fidelity sweep failed")

    def _generate(
        self, provider: ImageProvider, request: GenerationRequest, item: JobItem, provider_name: str
    ) -> GeneratedImage:
        """One provider call, recorded once: by the provider itself when it logs its own requests (it is given the
        item's ids for that), else here."""
        if records_own_requests(provider):
            return provider.generate(request, job_id=item.job_id, item_id=item.id)
        t0 = time.monotonic()
        try:
            image = provider.generate(request)
        except AppError as exc:
            self._record_call(item, provider_name, t0, error=exc)
            raise
        self._record_call(item, provider_name, t0, request_id=image.request_id, usage=image.usage)
        return image

    def _record_call(
        self,
        item: JobItem,
        provider: str,
        t0: float,
        *,
        error: AppError | None = None,
        request_id: str | None = None,
        usage: dict[str, Any] | None = None,
    ) -> None:
        with self.rt.db.transaction() as s:
            events.record(
                s,
                "request",
                f"{provider} generate: {'ok' if error is None else error.kind}",
                job_id=item.job_id,
                item_id=item.id,
                service=provider,
                method="generate",
                duration_ms=(time.monotonic() - t0) * 1000,
                request_id=request_id,
                status_code=(usage or {}).get("status_code"),
                data={"error": error.message} if error else {"usage": usage or {}},
            )

    def _handle_error(self, item: JobItem, exc: AppError) -> None:
        assert item.id is not None
        db = self.rt.db
        if isinstance(exc, ProviderAuthError):
            # A bad key fails every item alike: pause instead of burning retries.
            jobs.pause_job(db, item.job_id, exc.message)
            jobs.requeue_item(db, item.id, self.owner, exc, 0.0, count_attempt=False)
            self.stats.add("paused_jobs")
            return
        if exc.retryable and item.attempts < self.settings.max_attempts:
            delay = jobs.backoff_delay(
                item.attempts,
                base=self.settings.backoff_base_seconds,
                cap=self.settings.backoff_max_seconds,
                retry_after=getattr(exc, "retry_after", None),
            )
            jobs.requeue_item(db, item.id, self.owner, exc, delay)
            self.stats.add("retried")
            return
        if exc.retryable:
            exc = type(exc)(f"{exc.message} Gave up after {item.attempts} attempts.", detail=exc.detail)
        jobs.fail_item(db, item.id, self.owner, exc)
        self.stats.add("failed")


def pending_items(rt: Runtime, job_id: int | None = None) -> int:
    """Items that still need work: queued or running, in jobs that are neither paused nor cancelled
    (of one job when `job_id` is given)."""
    query = (
        select(func.count())
        .select_from(JobItem)
        .join(Job, col(Job.id) == col(JobItem.job_id))
        .where(col(JobItem.status).in_([ItemStatus.QUEUED, ItemStatus.RUNNING]))
        .where(col(Job.status).in_([JobStatus.QUEUED, JobStatus.RUNNING]))
    )
    if job_id is not None:
        query = query.where(col(JobItem.job_id) == job_id)
    with rt.db.session() as s:
        return int(s.exec(query).one())


def run_until_idle(rt: Runtime, *, concurrency: int | None = None, job_id: int | None = None) -> WorkerStats:
    """Run the queue in this thread until nothing is left (CLI, tests); only one job's items when `job_id` is
    given (batch jobs are left to a full worker)."""
    return Worker(rt, concurrency=concurrency, job_id=job_id).run(until_idle=True)


@dataclass
class EmbeddedWorker:
    worker: Worker
    thread: threading.Thread

    def stop(self, timeout: float = 10.0) -> None:
        self.worker.stop()
        self.thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()


def start_embedded(rt: Runtime, *, concurrency: int | None = None) -> EmbeddedWorker:
    """A daemon worker thread for the app process (started once, via st.cache_resource)."""
    worker = Worker(rt, concurrency=concurrency)
    thread = threading.Thread(target=worker.run, name="gecko-worker", daemon=True)
    thread.start()
    return EmbeddedWorker(worker, thread)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.worker", description="Run the ImageGecko job queue.")
    parser.add_argument("--until-idle", action="store_true", help="exit when nothing is left to do")
    parser.add_argument("--concurrency", type=int, default=None, help="items in flight (default from settings)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rt = Runtime.build()
    worker = Worker(rt, concurrency=args.concurrency)

    def _stop(signum: int, _frame: object) -> None:
        log.info("signal %d: finishing in-flight items, then stopping", signum)
        worker.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    stats = worker.run(until_idle=args.until_idle)
    log.info("done: %s", stats.as_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
