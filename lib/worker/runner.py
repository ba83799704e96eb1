"""The runner: claims items with a lease, runs each in a thread (lib/worker/pipeline.py), heartbeats the leases,
retries with back-off, respects each provider's rate limit and kind of work, drives the batch mode
(lib/worker/batch.py) and the pending alt texts (lib/worker/alt_texts.py), and stops cleanly.

Kinds of work: a network provider (Gemini) wants many calls in flight, enough to use its whole quota while each
call waits (rate × latency); a CPU-bound provider (the studio engine) wants about one per core, since more threads
only cost CPU and memory. The provider declares which (`cpu_bound`, lib/generation/base.py); the runner claims
items of each kind up to its own limit. A worker embedded in the app process leaves one core to the app (the
Streamlit script and its live progress run on the same interpreter).

Faults (lib/jobs/__init__.py says what each means for an item): the database failing never ends the loop; it waits
with back-off and carries on, and an outcome it could not write is written when the database takes writes again.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from lib import allocator, workers_seen
from lib.connectors import registry
from lib.db import database_error
from lib.errors import AppError, BudgetReached, DatabaseUnavailable, ProviderAuthError, StorageUnavailable
from lib.fidelity import records as fidelity_records
from lib.generation.base import is_cpu_bound
from lib.jobs import queries, transitions
from lib.models import JobItem
from lib.quota import SharedQuota
from lib.runtime import Runtime
from lib.worker import alt_texts, batch, pipeline
from lib.worker.retry import backoff_delay, gave_up

log = logging.getLogger("imagegecko.worker")

MAX_IN_FLIGHT = 64
CHECK_BACKLOG_PER_SLOT = 4  # fidelity checks waiting per CPU slot before an item's own thread checks its image
PROVIDER_RETRY_SECONDS = 60.0  # a provider that could not be opened (no key yet) is asked again after this
ALT_TEXT_CHECK_SECONDS = 5.0  # how often an idle worker looks for alt texts to ask for again
ALT_TEXT_PAUSE_SECONDS = 30.0  # after a round with failures (quota, outage): let the text model recover
FAULT_BACKOFF_CAP_SECONDS = 15.0  # a full or read-only disk: look again this often at most once it lasts
T = TypeVar("T")


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


@dataclass
class WorkerStats:
    claimed: int = 0
    succeeded: int = 0
    reused: int = 0
    retried: int = 0
    failed: int = 0
    paused_jobs: int = 0
    faults: int = 0  # database or image store unavailable (disk full, read-only, missing)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, name: str) -> None:
        with self.lock:
            setattr(self, name, getattr(self, name) + 1)

    def as_dict(self) -> dict[str, int]:
        names = ("claimed", "succeeded", "reused", "retried", "failed", "paused_jobs", "faults")
        return {k: getattr(self, k) for k in names}


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    def __init__(
        self,
        rt: Runtime,
        *,
        concurrency: int | None = None,
        owner: str | None = None,
        job_id: int | None = None,
        cpu_slots: int | None = None,
    ) -> None:
        self.rt = rt
        self.job_id = job_id  # only this job's items (the CLI's `demo`); None = the whole queue
        self.settings = rt.settings
        self.concurrency = concurrency or self.settings.worker_concurrency
        allocator.keep_frames()  # the engine's and the fidelity check's frames are reused, not re-faulted
        # CPU-bound providers: about one item per core, never more than the configured concurrency
        self.cpu_slots = max(1, min(self.concurrency, cpu_slots or cpu_cores()))
        self.owner = owner or default_owner()
        self.stop_event = threading.Event()
        self.wake = threading.Event()
        self.stats = WorkerStats()
        self._buckets: dict[str, SharedQuota] = {}
        self._latency: dict[str, float] = {}  # EWMA of seconds a slot is busy per item, by provider
        self._in_flight: dict[int, tuple[str, Future[None]]] = {}  # item id -> (provider, future)
        self._cpu_bound: dict[str, bool] = {}
        self._not_open: dict[str, float] = {}  # provider -> monotonic time it could not be opened
        self._job_providers: dict[int, str] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=MAX_IN_FLIGHT, thread_name_prefix="gecko-item")
        # Fidelity checks are CPU work: about one per core, apart from the items, whose slots are sized for waiting
        # on a network provider (rate x latency) and would otherwise sit out each check.
        self._checks = ThreadPoolExecutor(max_workers=self.cpu_slots, thread_name_prefix="gecko-check")
        self._check_backlog = 0
        self._alt_thread: threading.Thread | None = None
        self._alt_stop = threading.Event()  # set at shutdown: a round under way asks no more
        self._alt_next = 0.0  # monotonic time of the next look for pending alt texts
        self._batch_next = 0.0  # monotonic time of the next look for batch work
        self._fault_streak = 0  # consecutive database / image store faults (their back-off)
        self._claim_filled = False  # the last claim took all it asked for (there may be more)

    # Capacity -----------------------------------------------------------------------------------
    def _bucket(self, provider: str) -> SharedQuota | None:
        """The provider's quota, shared with every other worker on this job log (lib/quota.py)."""
        rpm = self.settings.rate_limit(provider)
        if rpm <= 0:
            return None
        with self._lock:
            if provider not in self._buckets:
                self._buckets[provider] = SharedQuota(self.rt.db, provider, rpm)
            return self._buckets[provider]

    def target_in_flight(self) -> int:
        """Enough items in flight to use a network provider's whole quota even when each call is slow
        (rate × latency, Little's law), never fewer than the configured concurrency."""
        target = self.concurrency
        for provider, latency in list(self._latency.items()):
            rpm = self.settings.rate_limit(provider)
            if rpm > 0 and not self._is_cpu_bound(provider):
                target = max(target, math.ceil(rpm / 60.0 * latency * 1.2) + 1)
        return min(MAX_IN_FLIGHT, target)

    def _is_cpu_bound(self, provider: str) -> bool:
        if provider not in self._cpu_bound:
            failed_at = self._not_open.get(provider)
            if failed_at is not None and time.monotonic() - failed_at < PROVIDER_RETRY_SECONDS:
                return False  # opening it again on every claim cost a connection lookup and a vault read each time
            try:
                self._cpu_bound[provider] = is_cpu_bound(self.rt.provider(provider))
            except AppError:  # no key yet: its items fail or pause on their own; count it as network work
                self._not_open[provider] = time.monotonic()
                return False
        return self._cpu_bound[provider]

    def _observe_latency(self, provider: str, seconds: float) -> None:
        with self._lock:
            prev = self._latency.get(provider)
            self._latency[provider] = seconds if prev is None else 0.7 * prev + 0.3 * seconds

    def _acquire(self, provider: str) -> bool:
        bucket = self._bucket(provider)
        if bucket is None:
            return True
        with self._lock:  # until measured, assume an item keeps a slot busy for about a second
            self._latency.setdefault(provider, 1.0)
        return bucket.acquire(self.stop_event)

    # Main loop ----------------------------------------------------------------------------------
    def run(self, *, until_idle: bool = False) -> WorkerStats:
        log.info(
            "worker %s started (concurrency %d, %d for CPU-bound providers)",
            self.owner,
            self.concurrency,
            self.cpu_slots,
        )
        self._alt_stop.clear()
        last_beat = time.monotonic()
        self.durable(lambda: workers_seen.report(self.rt.db, owner=self.owner, in_flight=0))
        db_faults = 0
        try:
            while not self.stop_event.is_set():
                self._reap()
                try:
                    claimed = self._claim()
                    if time.monotonic() - last_beat > self.settings.lease_seconds / 3:
                        workers_seen.report(self.rt.db, owner=self.owner, in_flight=len(self._in_flight))
                        transitions.heartbeat(
                            self.rt.db,
                            owner=self.owner,
                            item_ids=list(self._in_flight),
                            lease_seconds=self.settings.lease_seconds,
                        )
                        last_beat = time.monotonic()
                    idle = (
                        not claimed
                        and until_idle
                        and not self._in_flight
                        and not self._check_backlog  # a check may still queue a redraw (fidelity_retries)
                        and queries.pending_items(self.rt.db, job_id=self.job_id) == 0
                    )
                except Exception as exc:  # the database failing must not end the worker: wait, then carry on
                    err = database_error(exc)
                    if err is None:
                        raise
                    db_faults += 1
                    self.stats.add("faults")
                    delay = backoff_delay(db_faults, base=self.settings.poll_seconds, cap=FAULT_BACKOFF_CAP_SECONDS)
                    log.warning("%s (looking again in %.1f s)", err.message, delay)
                    self.stop_event.wait(delay)
                    continue
                db_faults = 0
                if claimed and self._claim_filled:
                    continue  # there may be more to take; otherwise wait for an item to finish or the next poll
                if idle:
                    break
                if self.job_id is None:
                    if not until_idle:  # a run to idle ends with its items (README): no alt-text rounds
                        self._tick_alt_texts()
                    self._tick_fidelity()
                self.wake.wait(self.settings.poll_seconds)
                self.wake.clear()
        finally:
            self._shutdown()
        log.info("worker %s stopped: %s", self.owner, self.stats.as_dict())
        return self.stats

    def _claim(self) -> list[JobItem]:
        """Batch work first (a few quick calls, submission in the background), then online items, CPU-bound
        providers' items only up to the free CPU slots, in one claim (one turn of the job log's write lock)."""
        if self.job_id is None and time.monotonic() >= self._batch_next:
            # Once per poll interval, not on every claim: a busy loop claims once per finished item, and batch
            # work (minutes per batch) does not need finer than the idle loop's own pace.
            self._batch_next = time.monotonic() + self.settings.poll_seconds
            self._tick_batches()
        free = self.target_in_flight() - len(self._in_flight)
        self._claim_filled = False
        if free <= 0:
            return []
        cpu = [name for name in registry.PROVIDERS if self._is_cpu_bound(name)]
        cpu_free = max(0, self.cpu_slots - sum(1 for p, _ in self._in_flight.values() if p in cpu))
        items = transitions.claim_items(
            self.rt.db,
            owner=self.owner,
            limit=free,
            lease_seconds=self.settings.lease_seconds,
            max_crashes=self.settings.max_crashes,
            per_provider={name: cpu_free for name in cpu},  # one shared pool when there is one CPU-bound provider
            job_ids=None if self.job_id is None else {self.job_id},
        )
        # Fewer than asked: the queue is empty or the CPU slots are full, so claiming again at once would find
        # nothing (a write transaction on the job log for each empty claim: ~10 ms of CPU).
        self._claim_filled = len(items) >= free
        for item in items:
            assert item.id is not None
            self.stats.add("claimed")
            self._in_flight[item.id] = (self._provider_of(item), self._pool.submit(self._run_item, item))
        return items

    def _provider_of(self, item: JobItem) -> str:
        provider = self._job_providers.get(item.job_id)
        if provider is None:
            provider = self._job_providers[item.job_id] = queries.get_job(self.rt.db, item.job_id).provider
        return provider

    def stop(self) -> None:
        self.stop_event.set()
        self.wake.set()

    def _reap(self) -> None:
        for item_id, (_, fut) in list(self._in_flight.items()):
            if fut.done():
                del self._in_flight[item_id]
                exc = fut.exception()
                if exc is not None:  # _run_item handles everything; this is a bug, keep it visible
                    log.error("item %s crashed the runner: %r", item_id, exc)

    def _tick_batches(self) -> None:
        try:
            batch.tick(self.rt)
        except Exception as exc:  # a batch poll failing must not stop online work
            if database_error(exc) is not None:
                raise  # the loop waits for the database
            log.exception("batch tick failed")

    def _tick_alt_texts(self) -> None:
        """With nothing claimed: alt texts the text model did not write the first time (lib/worker/alt_texts.py),
        asked for in a thread so this loop and its lease heartbeats never wait on the text model."""
        if (self._alt_thread is not None and self._alt_thread.is_alive()) or time.monotonic() < self._alt_next:
            return
        self._alt_next = time.monotonic() + ALT_TEXT_CHECK_SECONDS
        try:
            if alt_texts.pending_count(self.rt) == 0:
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
                written, failed = alt_texts.fill_pending(self.rt, acquire=acquire)
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

    def _tick_fidelity(self) -> None:
        """With nothing in flight: check generated images stored without a fidelity check (batch results, reused
        results, a crash between storing and checking); a couple per idle poll, so claims are never held up long.
        Not while items run: each checks its own image right after storing it, so a sweep then would check the same
        image twice, and on this loop's thread it would take a core from the CPU-bound items."""
        if not self.settings.fidelity_check or self._in_flight or self._check_backlog:
            return
        try:
            for asset_id in fidelity_records.pending_assets(self.rt.db, limit=2):
                if self.stop_event.is_set():
                    return
                fidelity_records.check_asset(self.rt, asset_id=asset_id)
        except Exception as exc:  # never ends the loop; the next idle poll tries again
            err = database_error(exc)
            if err is not None:
                log.warning("fidelity sweep: %s", err.message)
            else:
                log.exception("fidelity sweep failed")

    def _shutdown(self) -> None:
        """In-flight items get until their lease would expire to finish; the rest are released."""
        self._alt_stop.set()
        if self._alt_thread is not None:  # asks no more (acquire sees the stop); the calls under way end
            self._alt_thread.join(alt_texts.CALL_TIMEOUT_SECONDS + 1)
        deadline = time.monotonic() + self.settings.lease_seconds
        for _, fut in list(self._in_flight.values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                fut.result(timeout=remaining)
            except Exception:  # noqa: BLE001, S110 - timeout or a crash already logged by _reap
                pass
        try:
            released = transitions.release_items(self.rt.db, owner=self.owner)
        except Exception as exc:
            if database_error(exc) is None:
                raise
            log.warning("could not give back leased items (they are taken over when their lease expires)")
            released = 0
        if released:
            log.info("released %d items", released)
        self._checks.shutdown(wait=True)  # a few checks at most (CHECK_BACKLOG_PER_SLOT), each well under a second
        try:
            workers_seen.gone(self.rt.db, owner=self.owner)
        except Exception as exc:
            if database_error(exc) is None:
                raise
        self._pool.shutdown(wait=False, cancel_futures=True)

    # One item -----------------------------------------------------------------------------------
    def durable(self, write: Callable[[], T]) -> T | None:
        """Run a job-log write, waiting out a database that cannot take it (disk full, read-only) with back-off
        until it goes through; None if the worker stops first (the lease then expires and the item is taken over)."""
        faults = 0
        while True:
            try:
                return write()
            except Exception as exc:
                err = database_error(exc)
                if err is None:
                    raise
                faults += 1
                self.stats.add("faults")
                delay = backoff_delay(faults, base=max(self.settings.poll_seconds, 0.05), cap=FAULT_BACKOFF_CAP_SECONDS)
                log.warning("%s (writing again in %.1f s)", err.message, delay)
                if self.stop_event.wait(delay):
                    return None

    def _run_item(self, item: JobItem) -> None:
        try:
            outcome = pipeline.process_item(
                self.rt, item, owner=self.owner, acquire=self._acquire, durable=self.durable, check=self._check
            )
        except AppError as exc:
            app_error = exc
            self.durable(lambda: self._handle_error(item, app_error))
        except Exception as exc:
            err: AppError | None = database_error(exc)
            if err is None:  # an unexpected bug: retry like a transient error, with the detail logged
                log.exception("item %s: unexpected error", item.id)
                err = AppError("An unexpected error occurred.", detail=repr(exc)[:500])
                err.retryable = True
            error = err
            self.durable(lambda: self._handle_error(item, error))
        else:
            self._fault_streak = 0
            if outcome.result in ("succeeded", "reused"):
                self.stats.add(outcome.result)
            if outcome.result == "succeeded":
                provider = self._in_flight.get(item.id or -1, ("", None))[0]
                if provider:
                    self._observe_latency(provider, outcome.busy_seconds)
        finally:
            self.wake.set()

    def _check(self, item_id: int) -> None:
        """The fidelity check of a stored item, on the check threads; when they are this far behind, on the item's
        own thread (so the worker takes new items only as fast as it checks them, and every image is checked)."""
        with self._lock:
            queued = self._check_backlog < self.cpu_slots * CHECK_BACKLOG_PER_SLOT
            if queued:
                self._check_backlog += 1
        if not queued:
            pipeline.check_fidelity(self.rt, item_id)
            return

        def run() -> None:
            try:
                pipeline.check_fidelity(self.rt, item_id)
            finally:
                with self._lock:
                    self._check_backlog -= 1
                self.wake.set()  # the loop may be waiting for the last check to call the queue done

        self._checks.submit(run)

    def _handle_error(self, item: JobItem, exc: AppError) -> None:
        assert item.id is not None
        db = self.rt.db
        if isinstance(exc, ProviderAuthError | BudgetReached):
            # A bad key fails every item alike, and a spent budget share stops them all: pause, burn no retries.
            transitions.pause_job(db, job_id=item.job_id, reason=exc.message)
            transitions.requeue_item(
                db, item_id=item.id, owner=self.owner, error=exc, delay_seconds=0.0, count_attempt=False
            )
            self.stats.add("paused_jobs")
            return
        if isinstance(exc, StorageUnavailable | DatabaseUnavailable):
            # The disk, not the item: wait it out without spending the item's attempts.
            self._fault_streak += 1
            self.stats.add("faults")
            delay = backoff_delay(
                self._fault_streak,
                base=max(self.settings.backoff_base_seconds, 0.05),
                cap=FAULT_BACKOFF_CAP_SECONDS,
            )
            transitions.requeue_item(
                db, item_id=item.id, owner=self.owner, error=exc, delay_seconds=delay, count_attempt=False
            )
            self.stats.add("retried")
            return
        retry_after = getattr(exc, "retry_after", None)
        if retry_after and (quota := self._bucket(self._provider_of(item))) is not None:
            quota.pause(float(retry_after))  # the provider's word holds for every worker, not just this one
        if exc.retryable and item.attempts < self.settings.max_attempts:
            delay = backoff_delay(
                item.attempts,
                base=self.settings.backoff_base_seconds,
                cap=self.settings.backoff_max_seconds,
                retry_after=retry_after,
            )
            transitions.requeue_item(db, item_id=item.id, owner=self.owner, error=exc, delay_seconds=delay)
            self.stats.add("retried")
            return
        if exc.retryable:
            exc = type(exc)(gave_up(exc.message, item.attempts), detail=exc.detail)
        transitions.fail_item(db, item_id=item.id, owner=self.owner, error=exc)
        self.stats.add("failed")


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
    """A daemon worker thread for the app process (started once, via st.cache_resource). CPU-bound work leaves one
    core to the app: the page scripts and the live progress share this interpreter with the worker's threads."""
    worker = Worker(rt, concurrency=concurrency, cpu_slots=max(1, cpu_cores() - 1))
    thread = threading.Thread(target=worker.run, name="gecko-worker", daemon=True)
    thread.start()
    return EmbeddedWorker(worker, thread)
