"""The batch mode of the runner: items of batch jobs go through a provider's batch API (Gemini's: half price, no
per-minute rate limit, results within 24 h). The runner calls `tick(runtime)` on every poll; the Gemini calls
themselves are in lib/generation/gemini_batch.py, every state change in lib.jobs.transitions.

    queued ──submit──► running/batch_submitted ──poll──► running/batch_running ──► succeeded | failed
       ▲                                                        │
       └──── batch failed / expired / cancelled by the server ──┴──► queued with mode "online"
                                                                      (the runner makes them one by one)

Crash safety (creating a batch is not idempotent):
  1. claimed items get a batch_token (digest of their id set) and a submit lease, committed;
  2. the batch is created with display_name "... #<token>";
  3. its name ("batches/123") is recorded on the items at once (batch_name).
A process that dies between 2 and 3 leaves items with a token, no name and an expired lease; the next tick looks
the token up in batches.list and adopts the batch it finds, or puts the items back in the queue if there is none.
Batches whose name is recorded are simply polled again after a restart, never resubmitted. Several processes may
tick: every claim (items to submit, a batch to poll) is a conditional update inside one transaction.

Results cost the batch price (settings.price(model) with batch=True). Stages shown per item: batch_submitted ->
batch_running -> store; while storing, each image gets its alt text from the text model (online calls, time-boxed
by ALT_TEXT_BUDGET_SECONDS); past that or on any error, the template, and lib/worker/alt_texts.py asks again later.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from google.genai import types

from lib.errors import AppError, ProviderAuthError, ProviderError, ProviderPermanent, ProviderRetryable
from lib.generation import gemini_batch, prompts
from lib.generation.base import GenerationRequest
from lib.generation.gemini import GeminiProvider, map_error, parse_response
from lib.generation.gemini_batch import digest, display_name  # noqa: F401  (part of this mode's story)
from lib.jobs import queries, transitions
from lib.models import JobItem, Stage, utcnow
from lib.sources.base import Product
from lib.worker import pipeline
from lib.worker.pipeline import reuse_result
from lib.worker.retry import backoff_delay

if TYPE_CHECKING:
    from lib.runtime import Runtime

log = logging.getLogger(__name__)

MAX_ITEMS_PER_BATCH = 1000
PREPARE_BUDGET_SECONDS = 240.0  # source fetching for one batch; the rest waits for the next (well under the lease)
PREPARE_THREADS = 4  # sources are mostly network fetches (store, Drive): a few in parallel
SUBMIT_LEASE_SECONDS = 600.0  # how long a submitter may take between claiming items and recording the name
POLL_MIN_SECONDS = 10.0
POLL_MAX_SECONDS = 300.0
POLL_CLAIM_SECONDS = 120.0  # a poller holds the batch this long (another process skips it meanwhile)
ALT_TEXT_THREADS = 4  # results are stored (and their alt text written) a few at a time
ALT_TEXT_BUDGET_SECONDS = 20.0  # alt texts from the text model per collected batch; the rest get the template
BATCH_PROVIDER = "gemini"  # the only provider with a batch API


def _owner() -> str:
    return f"batch:{socket.gethostname()}:{os.getpid()}"


def tick(runtime: Runtime, *, now: datetime | None = None, background: bool = True) -> int:
    """One round of batch work. Returns how many items progressed (submitted, moved on, finished, requeued).

    Cancelling, recovering and polling run here (each is a few quick calls). Submitting has to fetch and
    encode every source photo, which takes minutes for a big job; with background=True (the worker's call)
    it runs in one thread per job log so the worker's loop and its lease heartbeats never wait for it, and
    its items are not counted here. background=False (tests, CLI) does everything in this call."""
    now = now or utcnow()
    if not queries.has_batch_work(runtime.db):
        return 0  # the common case, checked with one cheap read on every worker poll
    done = _hand_over_online(runtime)
    provider = _provider(runtime)
    if provider is None:
        return done + _hand_over_online(runtime, every_provider=True)
    steps = [_cancel, _recover_pending, _poll] + ([] if background else [_submit])
    for step in steps:
        try:
            done += step(runtime, provider, now)
        except Exception:  # one failing step must not stop the others (or the worker's loop)
            log.exception("batch %s failed", step.__name__)
    if background:
        _submit_in_background(runtime, provider)
    return done


_submitters: dict[int, threading.Thread] = {}
_submitters_lock = threading.Lock()


def _submit_in_background(runtime: Runtime, provider: GeminiProvider) -> None:
    key = id(runtime.db)
    with _submitters_lock:
        running = _submitters.get(key)
        if running is not None and running.is_alive():
            return

        def run() -> None:
            try:
                _submit(runtime, provider, utcnow())
            except Exception:
                log.exception("batch submission failed")

        thread = threading.Thread(target=run, name="gecko-batch-submit", daemon=True)
        _submitters[key] = thread
        thread.start()


def wait_for_submissions(runtime: Runtime, timeout: float | None = None) -> None:
    """Block until a background submission of this job log (if any) is done (tests, benchmarks, shutdown)."""
    with _submitters_lock:
        thread = _submitters.get(id(runtime.db))
    if thread is not None:
        thread.join(timeout)


def _provider(runtime: Runtime) -> GeminiProvider | None:
    try:
        provider = runtime.provider(BATCH_PROVIDER)
    except AppError:
        return None
    return provider if isinstance(provider, GeminiProvider) else None


def _pause(runtime: Runtime, job_id: int, err: AppError) -> None:
    transitions.pause_job(runtime.db, job_id=job_id, reason=err.message)


# Submitting ---------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    item: JobItem
    request: GenerationRequest
    source_sha: str


def _submit(runtime: Runtime, provider: GeminiProvider, now: datetime) -> int:
    done = 0
    for job_id in queries.open_batch_jobs(runtime.db, provider=BATCH_PROVIDER):
        done += _submit_job(runtime, provider, job_id, now)
    return done


def _prepare(runtime: Runtime, items: list[JobItem], token: str) -> tuple[list[_Prepared], int]:
    """Fetch and validate each source; items that cannot be prepared fail (or wait) on their own.
    Stops after PREPARE_BUDGET_SECONDS: the rest go back to the queue for the next batch, so that one tick
    never holds the worker's loop (and its lease heartbeats) for long."""
    db = runtime.db
    job = queries.get_job(db, items[0].job_id)
    ready: list[_Prepared] = []
    deadline = time.monotonic() + PREPARE_BUDGET_SECONDS
    first_done = threading.Event()

    def build(item: JobItem) -> Any:
        # past the budget (once at least one request is ready) the item is left for the next batch
        if first_done.is_set() and time.monotonic() > deadline:
            return None
        try:
            result: Any = pipeline.build_request(runtime, item, job)
        except Exception as exc:
            return exc
        first_done.set()
        return result

    with ThreadPoolExecutor(max_workers=PREPARE_THREADS, thread_name_prefix="gecko-batch-prep") as pool:
        outcomes = list(pool.map(build, items))
    left = [i.id for i, out in zip(items, outcomes, strict=True) if out is None and i.id is not None]
    released = transitions.back_to_batch_queue(
        db, item_ids=left, delay=0.0, token=token, job_id=items[0].job_id, reason="left for the next batch"
    )
    for item, outcome in zip(items, outcomes, strict=True):
        assert item.id is not None
        if outcome is None:
            continue
        err = outcome
        if isinstance(err, AppError):
            if err.retryable:
                delay = backoff_delay(
                    item.attempts,
                    base=runtime.settings.backoff_base_seconds,
                    cap=runtime.settings.backoff_max_seconds,
                    retry_after=getattr(err, "retry_after", None),
                )
                transitions.requeue_item(db, item_id=item.id, owner=None, error=err, delay_seconds=delay)
            else:
                transitions.fail_item(db, item_id=item.id, owner=None, error=err)
            continue
        if isinstance(err, Exception):  # a bug or an unexpected source answer: this item only
            log.error("could not prepare item %s: %r", item.id, err)
            transitions.fail_item(
                db,
                item_id=item.id,
                owner=None,
                error=AppError("This item could not be prepared for the batch.", detail=repr(err)[:500]),
            )
            continue
        request, source_sha = outcome
        fingerprint = request.fingerprint(BATCH_PROVIDER)
        if not item.regenerate:
            cached = reuse_result(runtime, fingerprint)
            if cached is not None:  # an identical request was already paid for
                transitions.complete_item(
                    db,
                    item_id=item.id,
                    owner=None,
                    sha=runtime.blobs.put(cached.data),
                    image=cached,
                    fingerprint=fingerprint,
                    source_sha=source_sha,
                    latency_ms=0.0,
                    reused=True,
                )
                continue
        ready.append(_Prepared(item, request, source_sha))
    return ready, released


def _mark(
    runtime: Runtime,
    prepared: list[_Prepared],
    old_token: str,
    token: str,
    *,
    batch_name: str | None = None,
    now: datetime | None = None,
    message: str = "",
    job_id: int | None = None,
) -> int:
    """Set the token (and, once the batch exists, its name), the request's fingerprint and the source on items
    still running under `old_token`. Returns how many were still running."""
    marks = [(p.item.id, p.request.fingerprint(BATCH_PROVIDER), p.source_sha) for p in prepared if p.item.id]
    first_poll = None
    if batch_name:  # from the moment the batch exists (preparing a big batch can outlast the first poll delay)
        first_poll = max(now or utcnow(), utcnow()) + timedelta(seconds=POLL_MIN_SECONDS)
    return transitions.mark_batch_items(
        runtime.db,
        marks=marks,
        old_token=old_token,
        token=token,
        batch_name=batch_name,
        first_poll=first_poll,
        message=message,
        job_id=job_id,
    )


def _submit_job(runtime: Runtime, provider: GeminiProvider, job_id: int, now: datetime) -> int:
    try:
        provider.client()
    except ProviderAuthError as err:  # no key: wait for one instead of claiming items
        if queries.waiting_for_batch(runtime.db, job_id):
            _pause(runtime, job_id, err)
        return 0
    claim_token = uuid.uuid4().hex
    items = transitions.claim_for_batch(
        runtime.db,
        job_id=job_id,
        owner=_owner(),
        token=claim_token,
        lease_seconds=SUBMIT_LEASE_SECONDS,
        limit=MAX_ITEMS_PER_BATCH,
        now=now,
    )
    if not items:
        return 0
    job = queries.get_job(runtime.db, job_id)
    prepared, released = _prepare(runtime, items, claim_token)
    progressed = len(items) - len(prepared) - released
    if not prepared:
        return progressed
    ids = [p.item.id for p in prepared if p.item.id is not None]
    token = digest(ids)
    _mark(runtime, prepared, claim_token, token)  # from here a restart can find the batch by its display name
    requests = [gemini_batch.Request(str(p.item.id), p.request) for p in prepared]
    try:
        name, use_file = gemini_batch.create(
            provider, model=job.model, requests=requests, name_for_ids=display_name(job_id, ids), job_id=job_id
        )
    except gemini_batch.CreateFailed as failed:
        return progressed + _create_failed(runtime, job_id, ids, token, failed.error, answered=failed.answered)
    # Record the name before anything else: a crash now must not lead to a second batch.
    marked = _mark(
        runtime,
        prepared,
        token,
        token,
        batch_name=name,
        now=now,
        job_id=job_id,
        message=f"batch submitted: {name} ({len(prepared)} items, {'file' if use_file else 'inline'})",
    )
    if marked == 0 and name:  # the job was cancelled while the batch was being made: don't pay for it
        gemini_batch.cancel(provider, name, job_id)
    return progressed + len(prepared)


def _create_failed(runtime: Runtime, job_id: int, ids: list[int], token: str, err: AppError, *, answered: bool) -> int:
    db = runtime.db
    if isinstance(err, ProviderAuthError):
        _pause(runtime, job_id, err)
        return transitions.back_to_batch_queue(
            db, item_ids=ids, delay=0.0, reason=err.message, job_id=job_id, token=token
        )
    if not answered:
        # No answer (timeout, reset): the batch may exist. Let recovery look it up by its display name.
        transitions.extend_batch_lease(
            db, item_ids=ids, token=token, until=utcnow() + timedelta(seconds=POLL_MIN_SECONDS)
        )
        return 0
    if isinstance(err, ProviderRetryable):
        delay = max(err.retry_after or 0.0, POLL_MIN_SECONDS)
        return transitions.back_to_batch_queue(
            db, item_ids=ids, delay=delay, reason=err.message, job_id=job_id, token=token
        )
    return transitions.route_online(
        db, item_ids=ids, reason=f"the Batch API refused the batch ({err.message})", job_id=job_id
    )


# Recovering half-made submissions ------------------------------------------------------------------


def _recover_pending(runtime: Runtime, provider: GeminiProvider, now: datetime) -> int:
    groups = queries.stalled_submissions(runtime.db, now)
    if not groups:
        return 0
    try:
        existing = gemini_batch.list_batches(provider)
    except Exception as exc:
        log.warning("batches.list failed; pending submissions wait: %s", map_error(exc).message)
        return 0
    done = 0
    for token, (job_id, ids) in groups.items():
        found = gemini_batch.find(existing, token)
        if found is not None and found.name:
            stage = Stage.BATCH_RUNNING if gemini_batch.state(found) == "RUNNING" else Stage.BATCH_SUBMITTED
            done += transitions.adopt_batch(
                runtime.db, item_ids=ids, token=token, batch_name=found.name, stage=stage, now=now, job_id=job_id
            )
        else:
            done += transitions.back_to_batch_queue(
                runtime.db,
                item_ids=ids,
                delay=0.0,
                job_id=job_id,
                token=token,
                reason="the batch was not created before a restart; it will be submitted again",
            )
    return done


# Polling -------------------------------------------------------------------------------------------


def poll_delay(age_seconds: float) -> float:
    """Poll often at first, then less: a tenth of the batch's age, between the bounds."""
    return min(POLL_MAX_SECONDS, max(POLL_MIN_SECONDS, age_seconds / 10))


def _poll(runtime: Runtime, provider: GeminiProvider, now: datetime) -> int:
    done = 0
    for name, job_id in queries.batches_due(runtime.db, now):
        if transitions.claim_batch_poll(runtime.db, batch_name=name, now=now, hold_seconds=POLL_CLAIM_SECONDS):
            done += _poll_one(runtime, provider, name, job_id, now)
    return done


def _poll_one(runtime: Runtime, provider: GeminiProvider, name: str, job_id: int, now: datetime) -> int:
    db = runtime.db
    items = queries.batch_items(db, name)
    if not items:
        return 0
    ids = [i.id for i in items if i.id is not None]
    try:
        batch = gemini_batch.get(provider, name, job_id)
    except AppError as err:
        if gemini_batch.status_of(err) == 404:
            return transitions.route_online(
                db, item_ids=ids, reason=f"{name} no longer exists at Gemini", job_id=job_id
            )
        if isinstance(err, ProviderAuthError):
            _pause(runtime, job_id, err)
        delay = max(getattr(err, "retry_after", None) or 0.0, 30.0)
        transitions.set_batch_poll(db, batch_name=name, when=now + timedelta(seconds=delay))
        return 0
    state = gemini_batch.state(batch)
    if state == "SUCCEEDED":
        return _collect(runtime, provider, batch, items, job_id, now)
    if state in ("FAILED", "EXPIRED", "CANCELLED", "CANCELLING"):
        words = {
            "FAILED": "failed",
            "EXPIRED": "expired (not done within 48 h)",
            "CANCELLED": "was cancelled at Gemini",
            "CANCELLING": "is being cancelled at Gemini",
        }[state]
        return transitions.route_online(db, item_ids=ids, reason=f"batch {name} {words}", job_id=job_id)
    started = min((i.started_at or now) for i in items)
    stage = Stage.BATCH_RUNNING if state == "RUNNING" else Stage.BATCH_SUBMITTED
    return transitions.set_batch_poll(
        db,
        batch_name=name,
        when=now + timedelta(seconds=poll_delay((now - started).total_seconds())),
        stage=stage,
        job_id=job_id,
    )


# Results ---------------------------------------------------------------------------------------------


def _collect(
    runtime: Runtime, provider: GeminiProvider, batch: types.BatchJob, items: list[JobItem], job_id: int, now: datetime
) -> int:
    """Store the batch's results (stage `store`): each image with alt text from the text model (as online items
    get), refusals fail their item, overloads and missing results go to the online queue."""
    name = batch.name or ""
    try:
        results = gemini_batch.results(provider, batch, job_id)
    except Exception as exc:
        err = map_error(exc)
        log.warning("could not read the results of %s: %s", name, err.message)
        delay = max(30.0, float(getattr(err, "retry_after", None) or 0.0))
        transitions.set_batch_poll(runtime.db, batch_name=name, when=now + timedelta(seconds=delay))
        return 0
    # still claimed by this poller meanwhile (another process skips the batch); stage: store
    transitions.set_batch_poll(
        runtime.db, batch_name=name, when=now + timedelta(seconds=POLL_CLAIM_SECONDS), stage=Stage.STORE, job_id=job_id
    )
    model = queries.get_job(runtime.db, job_id).model
    deadline = time.monotonic() + ALT_TEXT_BUDGET_SECONDS

    def store(item: JobItem) -> str:
        return _store_one(
            runtime, provider, item, results.get(str(item.id)), model=model, job_id=job_id, now=now, deadline=deadline
        )

    with ThreadPoolExecutor(max_workers=ALT_TEXT_THREADS, thread_name_prefix="gecko-batch-store") as pool:
        outcomes = list(pool.map(store, items))
    retry = [i.id for i, o in zip(items, outcomes, strict=True) if o == "retry" and i.id is not None]
    missing = [i.id for i, o in zip(items, outcomes, strict=True) if o == "missing" and i.id is not None]
    done = sum(1 for o in outcomes if o == "done")
    done += transitions.route_online(
        runtime.db, item_ids=retry, reason=f"Gemini could not finish them in {name}; they run online", job_id=job_id
    )
    done += transitions.route_online(
        runtime.db, item_ids=missing, reason=f"{name} returned no result for them", job_id=job_id
    )
    return done


def _store_one(
    runtime: Runtime,
    provider: GeminiProvider,
    item: JobItem,
    result: Any,
    *,
    model: str,
    job_id: int,
    now: datetime,
    deadline: float,
) -> str:
    """One item's result: "done" (stored or failed), "retry" or "missing" (both go online)."""
    assert item.id is not None
    db = runtime.db
    if result is None:
        return "missing"
    if isinstance(result, dict):
        code = result.get("code")
        if code in gemini_batch.RETRYABLE_RPC_CODES:
            return "retry"
        transitions.fail_item(
            db,
            item_id=item.id,
            owner=None,
            error=ProviderPermanent(
                f"Gemini refused this request in the batch: {result.get('message') or 'no reason given'}.",
                detail=f"rpc code {code}",
            ),
        )
        return "done"
    try:
        image = parse_response(result, model, runtime.settings, batch=True)
    except ProviderError as err:
        if err.retryable:
            return "retry"
        transitions.fail_item(db, item_id=item.id, owner=None, error=err)
        return "done"
    alt_text = (
        None  # past the budget: the template for now (lib/worker/alt_texts.py asks again), so a big batch is stored
    )
    remaining = deadline - time.monotonic()
    if remaining > 0:
        try:
            info = prompts.product_info(Product.from_dict(item.product), item.variation_id)
            alt_text = provider.model_alt_text(
                image.data, info, job_id=job_id, item_id=item.id, timeout=max(1.0, remaining)
            )
        except Exception:  # model_alt_text never raises; this guards reading the stored product
            log.warning("alt text for item %s: using the template", item.id, exc_info=True)
    started = item.started_at or now
    latency = max(0.0, (utcnow() - started).total_seconds() * 1000)
    transitions.complete_item(
        db,
        item_id=item.id,
        owner=None,
        sha=runtime.blobs.put(image.data),
        image=image,
        fingerprint=item.fingerprint or "",
        source_sha=item.source_sha,
        latency_ms=latency,
        alt_text=alt_text,
        alt_pending=alt_text is None,
        cost=image.cost,
    )
    return "done"


# Cancelling -------------------------------------------------------------------------------------------


def _cancel(runtime: Runtime, provider: GeminiProvider, now: datetime) -> int:
    """Cancel at Gemini the batches whose items were all cancelled here (job cancelled)."""
    done = 0
    for name, job_id in queries.cancelled_batches(runtime.db):
        still_running = queries.batch_items(runtime.db, name)
        if not still_running and not gemini_batch.cancel(provider, name, job_id):
            continue  # try again next tick
        done += transitions.settle_cancelled_batch(
            runtime.db, batch_name=name, job_id=job_id, cancelled_at_gemini=not still_running
        )
    return done


# Non-Gemini batch jobs -----------------------------------------------------------------------------------


def _hand_over_online(runtime: Runtime, *, every_provider: bool = False) -> int:
    """Only Gemini has a Batch API: other providers' batch-mode items go to the online queue."""
    job_ids = queries.open_batch_jobs(runtime.db, exclude_provider=None if every_provider else BATCH_PROVIDER)
    if not job_ids:
        return 0  # read first: no write lock on every worker poll
    return transitions.route_queued_online(runtime.db, job_ids=job_ids)
