"""Gemini Batch API mode: half price, no per-minute rate limit, results within 24 h.

The worker calls `tick(runtime)` on every poll; tick owns the items of jobs with mode "batch":

    queued ──submit──► running/batch_submitted ──poll──► running/batch_running ──► succeeded | failed
       ▲                                                        │
       └──── batch failed / expired / cancelled by the server ──┴──► queued with batch_name="online"
                                                                      (the online worker takes them)

Crash safety (creating a batch is not idempotent):
  1. claimed items get batch_name "pending:<digest>" (digest of their id set) and a submit lease, committed;
  2. the batch is created with display_name "... #<digest>";
  3. its name ("batches/123") is recorded on the items at once.
A process that dies between 2 and 3 leaves "pending:" items whose lease expires; the next tick looks the digest
up in batches.list and adopts the batch it finds, or puts the items back in the queue if there is none. Batches
whose name is recorded are simply polled again after a restart, never resubmitted. Several processes may tick:
every claim (items to submit, a batch to poll) is a conditional update inside one transaction.

Requests go inline while their total stays under INLINE_LIMIT_BYTES, else as a JSONL file (Files API).
Keys are item ids. Results cost the batch price (settings.price(model) with batch=True). Stages shown per item:
batch_submitted -> batch_running -> store; while storing, each image gets its alt text from the text model (online
calls, time-boxed by ALT_TEXT_BUDGET_SECONDS); past that or on any error, the template, and lib/alt_text.py asks
again later.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
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
from sqlalchemy import update
from sqlmodel import col, select

from lib import events
from lib.errors import AppError, ProviderAuthError, ProviderError, ProviderPermanent, ProviderRetryable
from lib.generation.base import GenerationRequest
from lib.generation.gemini import GeminiProvider, map_error, parse_response, request_config, request_parts
from lib.models import ItemStatus, Job, JobItem, JobStatus, Stage, utcnow

if TYPE_CHECKING:
    from lib.runtime import Runtime

log = logging.getLogger(__name__)

ONLINE = "online"  # batch_name of items sent back to the online queue
PENDING = "pending:"  # batch_name prefix while a batch is being created
INLINE_LIMIT_BYTES = 19 * 1024 * 1024  # the API takes inline requests up to 20 MB in total
MAX_ITEMS_PER_BATCH = 1000
PREPARE_BUDGET_SECONDS = 240.0  # source fetching for one batch; the rest waits for the next (well under the lease)
PREPARE_THREADS = 4  # sources are mostly network fetches (store, Drive): a few in parallel
SUBMIT_LEASE_SECONDS = 600.0  # how long a submitter may take between claiming items and recording the name
POLL_MIN_SECONDS = 10.0
POLL_MAX_SECONDS = 300.0
POLL_CLAIM_SECONDS = 120.0  # a poller holds the batch this long (another process skips it meanwhile)
ALT_TEXT_THREADS = 4  # results are stored (and their alt text written) a few at a time
ALT_TEXT_BUDGET_SECONDS = 20.0  # alt texts from the text model per collected batch; the rest get the template
RETRYABLE_RPC_CODES = {4, 8, 10, 13, 14}  # DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED, INTERNAL, UNAVAILABLE
OPEN_JOB = (JobStatus.QUEUED, JobStatus.RUNNING)


def _owner() -> str:
    return f"batch:{socket.gethostname()}:{os.getpid()}"


def tick(runtime: Runtime, *, now: datetime | None = None, background: bool = True) -> int:
    """One round of batch work. Returns how many items progressed (submitted, moved on, finished, requeued).

    Cancelling, recovering and polling run here (each is a few quick calls). Submitting has to fetch and
    encode every source photo, which takes minutes for a big job; with background=True (the worker's call)
    it runs in one thread per job log so the worker's loop and its lease heartbeats never wait for it, and
    its items are not counted here. background=False (tests, CLI) does everything in this call."""
    now = now or utcnow()
    if not _has_batch_work(runtime):
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


def _has_batch_work(runtime: Runtime) -> bool:
    with runtime.db.session() as s:
        open_item = col(JobItem.status).in_([ItemStatus.QUEUED, ItemStatus.RUNNING]) & (
            col(JobItem.batch_name).is_(None) | (col(JobItem.batch_name) != ONLINE)
        )
        cancelled_in_batch = (col(JobItem.status) == ItemStatus.CANCELLED) & col(JobItem.stage).in_(
            [Stage.BATCH_SUBMITTED, Stage.BATCH_RUNNING]
        )
        row = s.exec(
            select(JobItem.id)
            .join(Job, col(Job.id) == col(JobItem.job_id))
            .where(Job.mode == "batch", open_item | cancelled_in_batch)
            .limit(1)
        ).first()
        return row is not None


def _provider(runtime: Runtime) -> GeminiProvider | None:
    try:
        provider = runtime.provider("gemini")
    except AppError:
        return None
    return provider if isinstance(provider, GeminiProvider) else None


# Display names ----------------------------------------------------------------------------------


def digest(item_ids: list[int]) -> str:
    return hashlib.sha256(",".join(str(i) for i in sorted(item_ids)).encode()).hexdigest()[:16]


def _ranges(ids: list[int], limit: int = 60) -> str:
    ids = sorted(ids)
    out: list[str] = []
    start = prev = ids[0]
    for i in ids[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    text = ",".join(out)
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def display_name(job_id: int, item_ids: list[int]) -> str:
    """Names the item-id set: a restart between create and record finds the batch by the digest."""
    return f"imagegecko job {job_id} items {_ranges(item_ids)} #{digest(item_ids)}"


# Transitions this module owns (the shared ones come from lib.jobs) -----------------------------------


def _to_online(runtime: Runtime, item_ids: list[int], reason: str, *, job_id: int | None = None) -> int:
    """Back to the queue as online items (the worker generates them one by one at the online price)."""
    if not item_ids:
        return 0
    with runtime.db.transaction() as s:
        result = s.exec(
            update(JobItem)
            .where(col(JobItem.id).in_(item_ids), col(JobItem.status) == ItemStatus.RUNNING)
            .values(
                status=ItemStatus.QUEUED,
                stage=None,
                batch_name=ONLINE,
                lease_owner=None,
                lease_expires_at=None,
                next_attempt_at=utcnow(),
            )
        )
        n = int(result.rowcount or 0)
        if n:
            events.record(
                s,
                "transition",
                f"{n} items moved to the online queue: {reason}",
                job_id=job_id,
                data={"items": item_ids[:200]},
            )
        return n


def _back_to_queue(
    runtime: Runtime,
    item_ids: list[int],
    *,
    delay: float,
    reason: str,
    job_id: int | None = None,
    marker: str | None = None,
) -> int:
    """Back to the batch queue (submitted again later); the attempt is not counted."""
    if not item_ids:
        return 0
    with runtime.db.transaction() as s:
        query = update(JobItem).where(col(JobItem.id).in_(item_ids), col(JobItem.status) == ItemStatus.RUNNING)
        if marker is not None:
            query = query.where(col(JobItem.batch_name) == marker)
        result = s.exec(
            query.values(
                status=ItemStatus.QUEUED,
                stage=None,
                batch_name=None,
                lease_owner=None,
                lease_expires_at=None,
                next_attempt_at=utcnow() + timedelta(seconds=delay),
                attempts=JobItem.attempts - 1,
            )
        )
        n = int(result.rowcount or 0)
        if n:
            events.record(
                s, "transition", f"{n} items back in the batch queue: {reason}", job_id=job_id, data={"delay": delay}
            )
        return n


def _pause(runtime: Runtime, job_id: int, err: AppError) -> None:
    from lib import jobs

    jobs.pause_job(runtime.db, job_id, err.message)


# Submitting ---------------------------------------------------------------------------------------


@dataclass
class _Prepared:
    item: JobItem
    request: GenerationRequest
    source_sha: str
    size: int  # bytes this request adds to an inline batch


def _request_size(req: GenerationRequest) -> int:
    images = len(req.source_image) + sum(len(r) for r in req.reference_images)
    return images * 4 // 3 + len(req.prompt.encode()) + 600


def _submit(runtime: Runtime, provider: GeminiProvider, now: datetime) -> int:
    with runtime.db.session() as s:
        job_ids = list(
            s.exec(
                select(Job.id).where(Job.mode == "batch", Job.provider == "gemini", col(Job.status).in_(OPEN_JOB))
            ).all()
        )
    done = 0
    for job_id in job_ids:
        assert job_id is not None
        done += _submit_job(runtime, provider, job_id, now)
    return done


def _claim_for_submit(runtime: Runtime, job_id: int, now: datetime, token: str) -> list[JobItem]:
    with runtime.db.transaction() as s:
        job = s.get(Job, job_id)
        if job is None or job.status not in OPEN_JOB:
            return []
        ids = list(
            s.exec(
                select(JobItem.id)
                .where(
                    JobItem.job_id == job_id,
                    JobItem.status == ItemStatus.QUEUED,
                    col(JobItem.batch_name).is_(None),
                    col(JobItem.next_attempt_at) <= now,
                )
                .order_by(col(JobItem.id))
                .limit(MAX_ITEMS_PER_BATCH)
            ).all()
        )
        if not ids:
            return []
        s.exec(
            update(JobItem)
            .where(
                col(JobItem.id).in_(ids), col(JobItem.status) == ItemStatus.QUEUED, col(JobItem.batch_name).is_(None)
            )
            .values(
                status=ItemStatus.RUNNING,
                stage=None,
                batch_name=PENDING + token,
                lease_owner=_owner(),
                lease_expires_at=now + timedelta(seconds=SUBMIT_LEASE_SECONDS),
                attempts=JobItem.attempts + 1,
                started_at=now,
            )
        )
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.RUNNING
            job.started_at = job.started_at or now
            s.add(job)
        s.flush()
        return list(s.exec(select(JobItem).where(JobItem.batch_name == PENDING + token)).all())


def _prepare(runtime: Runtime, items: list[JobItem], token: str) -> tuple[list[_Prepared], int]:
    """Fetch and validate each source; items that cannot be prepared fail (or wait) on their own.
    Stops after PREPARE_BUDGET_SECONDS: the rest go back to the queue for the next batch, so that one tick
    never holds the worker's loop (and its lease heartbeats) for long."""
    from lib import jobs

    ready: list[_Prepared] = []
    released = 0
    deadline = time.monotonic() + PREPARE_BUDGET_SECONDS
    first_done = threading.Event()

    def build(item: JobItem) -> Any:
        # past the budget (once at least one request is ready) the item is left for the next batch
        if first_done.is_set() and time.monotonic() > deadline:
            return None
        try:
            result: Any = jobs.build_request(runtime, item)
        except Exception as exc:
            return exc
        first_done.set()
        return result

    with ThreadPoolExecutor(max_workers=PREPARE_THREADS, thread_name_prefix="gecko-batch-prep") as pool:
        outcomes = list(pool.map(build, items))
    left = [i.id for i, out in zip(items, outcomes, strict=True) if out is None and i.id is not None]
    if left:
        released = _back_to_queue(
            runtime, left, delay=0.0, marker=PENDING + token, job_id=items[0].job_id, reason="left for the next batch"
        )
    for item, outcome in zip(items, outcomes, strict=True):
        assert item.id is not None
        if outcome is None:
            continue
        err = outcome
        if isinstance(err, AppError):
            if err.retryable:
                delay = jobs.backoff_delay(
                    item.attempts,
                    base=runtime.settings.backoff_base_seconds,
                    cap=runtime.settings.backoff_max_seconds,
                    retry_after=getattr(err, "retry_after", None),
                )
                jobs.requeue_item(runtime.db, item.id, None, err, delay)
            else:
                jobs.fail_item(runtime.db, item.id, None, err)
            continue
        if isinstance(err, Exception):  # a bug or an unexpected source answer: this item only
            log.error("could not prepare item %s: %r", item.id, err)
            jobs.fail_item(
                runtime.db,
                item.id,
                None,
                AppError("This item could not be prepared for the batch.", detail=repr(err)[:500]),
            )
            continue
        request, source_sha = outcome
        fingerprint = request.fingerprint("gemini")
        if not item.regenerate:
            cached = jobs.reuse_result(runtime, fingerprint)
            if cached is not None:  # an identical request was already paid for
                jobs.complete_item(
                    runtime,
                    item.id,
                    None,
                    cached,
                    fingerprint=fingerprint,
                    source_sha=source_sha,
                    latency_ms=0.0,
                    reused=True,
                )
                continue
        ready.append(_Prepared(item, request, source_sha, _request_size(request)))
    return ready, released


def _mark(
    runtime: Runtime,
    prepared: list[_Prepared],
    marker: str,
    *,
    batch_name: str | None = None,
    stage: str | None = None,
    now: datetime | None = None,
    message: str = "",
    job_id: int | None = None,
) -> int:
    """Set the marker/batch name (and the request's fingerprint and source) on still-running items.
    Returns how many were still running."""
    marked = 0
    with runtime.db.transaction() as s:
        for p in prepared:
            item = s.get(JobItem, p.item.id)
            if item is None or item.status != ItemStatus.RUNNING or item.batch_name != p.item.batch_name:
                continue
            item.batch_name = batch_name or marker
            item.fingerprint = p.request.fingerprint("gemini")
            item.source_sha = p.source_sha
            if batch_name:
                item.stage = stage or Stage.BATCH_SUBMITTED
                item.lease_owner = None
                item.lease_expires_at = None
                # from the moment the batch exists (preparing a big batch can outlast the first poll delay)
                item.next_attempt_at = max(now or utcnow(), utcnow()) + timedelta(seconds=POLL_MIN_SECONDS)
            s.add(item)
            p.item.batch_name = item.batch_name
            marked += 1
        if message:
            events.record(s, "transition", message, job_id=job_id, data={"items": marked})
    return marked


def _inline_requests(prepared: list[_Prepared]) -> list[types.InlinedRequest]:
    return [
        types.InlinedRequest(
            contents=[types.Content(role="user", parts=request_parts(p.request))],
            config=request_config(p.request),
            metadata={"key": str(p.item.id)},
        )
        for p in prepared
    ]


def _jsonl(prepared: list[_Prepared]) -> bytes:
    """One line per request in the REST (camelCase) shape, standard base64 for image bytes."""
    out = io.BytesIO()
    for p in prepared:
        parts: list[dict[str, Any]] = []
        for part in request_parts(p.request):
            if part.inline_data is not None and part.inline_data.data is not None:
                parts.append(
                    {
                        "inlineData": {
                            "mimeType": part.inline_data.mime_type,
                            "data": base64.b64encode(part.inline_data.data).decode(),
                        }
                    }
                )
            elif part.text is not None:
                parts.append({"text": part.text})
        config = request_config(p.request)
        image_config: dict[str, str] = {}
        if config.image_config is not None:
            if config.image_config.aspect_ratio:
                image_config["aspectRatio"] = config.image_config.aspect_ratio
            if config.image_config.image_size:
                image_config["imageSize"] = config.image_config.image_size
        line = {
            "key": str(p.item.id),
            "request": {
                "contents": [{"role": "user", "parts": parts}],
                "generationConfig": {
                    "responseModalities": list(config.response_modalities or []),
                    "imageConfig": image_config,
                },
            },
        }
        out.write(json.dumps(line, separators=(",", ":")).encode() + b"\n")
    return out.getvalue()


def _submit_job(runtime: Runtime, provider: GeminiProvider, job_id: int, now: datetime) -> int:
    try:
        client = provider.client()
    except ProviderAuthError as err:  # no key: wait for one instead of claiming items
        with runtime.db.session() as s:
            waiting = s.exec(
                select(JobItem.id).where(
                    JobItem.job_id == job_id, JobItem.status == ItemStatus.QUEUED, col(JobItem.batch_name).is_(None)
                )
            ).first()
        if waiting is not None:
            _pause(runtime, job_id, err)
        return 0
    token = uuid.uuid4().hex
    items = _claim_for_submit(runtime, job_id, now, token)
    if not items:
        return 0
    with runtime.db.session() as s:
        job = s.get(Job, job_id)
    assert job is not None
    prepared, released = _prepare(runtime, items, token)
    progressed = len(items) - len(prepared) - released
    if not prepared:
        return progressed
    ids = [p.item.id for p in prepared if p.item.id is not None]
    name_for_ids = display_name(job_id, ids)
    marker = PENDING + digest(ids)
    _mark(runtime, prepared, marker)  # from here a restart can find the batch by its display name

    total = sum(p.size for p in prepared)
    use_file = total > INLINE_LIMIT_BYTES
    t0 = time.monotonic()
    try:
        if use_file:
            data = _jsonl(prepared)
            uploaded = client.files.upload(
                file=io.BytesIO(data), config=types.UploadFileConfig(mime_type="jsonl", display_name=name_for_ids)
            )
            provider.record(
                method="POST",
                path="files",
                status=200,
                duration_ms=(time.monotonic() - t0) * 1000,
                job_id=job_id,
                message=f"batch input uploaded: {uploaded.name} ({len(data)} bytes)",
            )
            t0 = time.monotonic()
            src: Any = uploaded.name
        else:
            src = _inline_requests(prepared)
        created = client.batches.create(
            model=job.model, src=src, config=types.CreateBatchJobConfig(display_name=name_for_ids)
        )
    except Exception as exc:
        err = map_error(exc, job.model)
        status = _status(err)
        provider.record(
            method="POST",
            path=f"models/{job.model}:batchGenerateContent",
            status=status,
            duration_ms=(time.monotonic() - t0) * 1000,
            job_id=job_id,
            message=f"batch create failed: {err.message}",
            data={"error": err.kind},
        )
        return progressed + _create_failed(runtime, job_id, ids, marker, err, answered=status is not None)
    name = created.name or ""
    # Record the name before anything else: a crash now must not lead to a second batch.
    marked = _mark(
        runtime,
        prepared,
        marker,
        batch_name=name,
        now=now,
        job_id=job_id,
        message=f"batch submitted: {name} ({len(prepared)} items, {'file' if use_file else 'inline'})",
    )
    provider.record(
        method="POST",
        path=f"models/{job.model}:batchGenerateContent",
        status=200,
        duration_ms=(time.monotonic() - t0) * 1000,
        job_id=job_id,
        request_id=name,
        message=f"batch created: {name}, {len(prepared)} requests {'(file)' if use_file else '(inline)'}",
    )
    if marked == 0 and name:  # the job was cancelled while the batch was being made: don't pay for it
        _cancel_at_gemini(provider, name, job_id)
    return progressed + len(prepared)


def _create_failed(runtime: Runtime, job_id: int, ids: list[int], marker: str, err: AppError, *, answered: bool) -> int:
    if isinstance(err, ProviderAuthError):
        _pause(runtime, job_id, err)
        return _back_to_queue(runtime, ids, delay=0.0, reason=err.message, job_id=job_id, marker=marker)
    if not answered:
        # No answer (timeout, reset): the batch may exist. Let recovery look it up by its display name.
        with runtime.db.transaction() as s:
            s.exec(
                update(JobItem)
                .where(col(JobItem.id).in_(ids), col(JobItem.batch_name) == marker)
                .values(lease_expires_at=utcnow() + timedelta(seconds=POLL_MIN_SECONDS))
            )
        return 0
    if isinstance(err, ProviderRetryable):
        delay = max(err.retry_after or 0.0, POLL_MIN_SECONDS)
        return _back_to_queue(runtime, ids, delay=delay, reason=err.message, job_id=job_id, marker=marker)
    return _to_online(runtime, ids, f"the Batch API refused the batch ({err.message})", job_id=job_id)


# Recovering half-made submissions ------------------------------------------------------------------


def _recover_pending(runtime: Runtime, provider: GeminiProvider, now: datetime) -> int:
    with runtime.db.session() as s:
        rows = s.exec(
            select(JobItem.id, JobItem.job_id, JobItem.batch_name).where(
                JobItem.status == ItemStatus.RUNNING,
                col(JobItem.batch_name).startswith(PENDING),
                col(JobItem.lease_expires_at) < now,
            )
        ).all()
    if not rows:
        return 0
    groups: dict[str, tuple[int, list[int]]] = {}
    for item_id, job_id, marker in rows:
        groups.setdefault(str(marker), (job_id, []))[1].append(int(item_id))
    try:
        existing = _list_batches(provider)
    except Exception as exc:
        log.warning("batches.list failed; pending submissions wait: %s", map_error(exc).message)
        return 0
    done = 0
    for marker, (job_id, ids) in groups.items():
        suffix = "#" + marker[len(PENDING) :]
        found = next((b for b in existing if (b.display_name or "").endswith(suffix) and b.name), None)
        if found is not None and found.name:
            stage = Stage.BATCH_RUNNING if _state(found) == "RUNNING" else Stage.BATCH_SUBMITTED
            with runtime.db.transaction() as s:
                result = s.exec(
                    update(JobItem)
                    .where(col(JobItem.id).in_(ids), col(JobItem.batch_name) == marker)
                    .values(
                        batch_name=found.name, stage=stage, lease_owner=None, lease_expires_at=None, next_attempt_at=now
                    )
                )
                n = int(result.rowcount or 0)
                events.record(
                    s,
                    "transition",
                    f"found batch {found.name} created before a restart; {n} items follow it",
                    job_id=job_id,
                )
            done += n
        else:
            done += _back_to_queue(
                runtime,
                ids,
                delay=0.0,
                job_id=job_id,
                marker=marker,
                reason="the batch was not created before a restart; it will be submitted again",
            )
    return done


def _list_batches(provider: GeminiProvider, max_pages: int = 20) -> list[types.BatchJob]:
    t0 = time.monotonic()
    out: list[types.BatchJob] = []
    pager = provider.client().batches.list(config=types.ListBatchJobsConfig(page_size=100))
    for i, batch in enumerate(pager):
        out.append(batch)
        if i >= max_pages * 100:
            break
    provider.record(
        method="GET",
        path="batches",
        status=200,
        duration_ms=(time.monotonic() - t0) * 1000,
        message=f"batches listed: {len(out)}",
    )
    return out


# Polling -------------------------------------------------------------------------------------------


def _state(batch: types.BatchJob) -> str:
    value = str(getattr(batch.state, "value", batch.state) or "")
    return value.replace("JOB_STATE_", "").replace("BATCH_STATE_", "")


def poll_delay(age_seconds: float) -> float:
    """Poll often at first, then less: a tenth of the batch's age, between the bounds."""
    return min(POLL_MAX_SECONDS, max(POLL_MIN_SECONDS, age_seconds / 10))


def _poll(runtime: Runtime, provider: GeminiProvider, now: datetime) -> int:
    with runtime.db.session() as s:
        rows = s.exec(
            select(JobItem.batch_name, JobItem.job_id)
            .distinct()
            .where(
                JobItem.status == ItemStatus.RUNNING,
                col(JobItem.batch_name).startswith("batches/"),
                col(JobItem.next_attempt_at) <= now,
            )
        ).all()
    done = 0
    for name, job_id in rows:
        if _claim_poll(runtime, str(name), now):
            done += _poll_one(runtime, provider, str(name), job_id, now)
    return done


def _claim_poll(runtime: Runtime, name: str, now: datetime) -> bool:
    with runtime.db.transaction() as s:
        result = s.exec(
            update(JobItem)
            .where(
                col(JobItem.batch_name) == name,
                col(JobItem.status) == ItemStatus.RUNNING,
                col(JobItem.next_attempt_at) <= now,
            )
            .values(next_attempt_at=now + timedelta(seconds=POLL_CLAIM_SECONDS))
        )
        return bool(result.rowcount)


def _running_items(runtime: Runtime, name: str) -> list[JobItem]:
    with runtime.db.session() as s:
        return list(
            s.exec(
                select(JobItem)
                .where(JobItem.batch_name == name, JobItem.status == ItemStatus.RUNNING)
                .order_by(col(JobItem.id))
            ).all()
        )


def _set_next_poll(
    runtime: Runtime, name: str, when: datetime, stage: str | None = None, *, job_id: int | None = None
) -> int:
    with runtime.db.transaction() as s:
        values: dict[str, Any] = {"next_attempt_at": when}
        query = update(JobItem).where(col(JobItem.batch_name) == name, col(JobItem.status) == ItemStatus.RUNNING)
        changed = 0
        if stage is not None:
            changed = int(s.exec(query.where(col(JobItem.stage) != stage).values(stage=stage, **values)).rowcount or 0)
            if changed:
                events.record(
                    s,
                    "transition",
                    f"{name}: {changed} items now {stage}",
                    job_id=job_id,
                    data={"stage": str(stage), "items": changed},
                )
        s.exec(query.values(**values))
        return changed


def _poll_one(runtime: Runtime, provider: GeminiProvider, name: str, job_id: int, now: datetime) -> int:
    items = _running_items(runtime, name)
    if not items:
        return 0
    t0 = time.monotonic()
    try:
        batch = provider.client().batches.get(name=name)
    except Exception as exc:
        err = map_error(exc)
        provider.record(
            method="GET",
            path=name,
            status=_status(err),
            duration_ms=(time.monotonic() - t0) * 1000,
            job_id=job_id,
            message=f"batch poll failed: {err.message}",
        )
        ids = [i.id for i in items if i.id is not None]
        if _status(err) == 404:
            return _to_online(runtime, ids, f"{name} no longer exists at Gemini", job_id=job_id)
        if isinstance(err, ProviderAuthError):
            _pause(runtime, job_id, err)
        delay = max(getattr(err, "retry_after", None) or 0.0, 30.0)
        _set_next_poll(runtime, name, now + timedelta(seconds=delay))
        return 0
    state = _state(batch)
    provider.record(
        method="GET",
        path=name,
        status=200,
        duration_ms=(time.monotonic() - t0) * 1000,
        job_id=job_id,
        request_id=name,
        message=f"batch poll: {name} {state}",
    )
    if state == "SUCCEEDED":
        return _collect(runtime, provider, batch, items, job_id, now)
    if state in ("FAILED", "EXPIRED", "CANCELLED", "CANCELLING"):
        ids = [i.id for i in items if i.id is not None]
        words = {
            "FAILED": "failed",
            "EXPIRED": "expired (not done within 48 h)",
            "CANCELLED": "was cancelled at Gemini",
            "CANCELLING": "is being cancelled at Gemini",
        }[state]
        return _to_online(runtime, ids, f"batch {name} {words}", job_id=job_id)
    started = min((i.started_at or now) for i in items)
    stage = Stage.BATCH_RUNNING if state == "RUNNING" else Stage.BATCH_SUBMITTED
    return _set_next_poll(
        runtime, name, now + timedelta(seconds=poll_delay((now - started).total_seconds())), stage, job_id=job_id
    )


def _status(err: AppError) -> int | None:
    head = (err.detail or "").split(" ", 1)[0]
    return int(head) if head.isdigit() else None


# Results ---------------------------------------------------------------------------------------------


def _results(provider: GeminiProvider, batch: types.BatchJob, job_id: int) -> dict[str, Any]:
    """key -> GenerateContentResponse, or an error dict {"code", "message"}."""
    out: dict[str, Any] = {}
    dest = batch.dest
    if dest is None:
        return out
    for r in dest.inlined_responses or []:
        key = str((r.metadata or {}).get("key", ""))
        if r.error is not None:
            out[key] = {"code": r.error.code, "message": r.error.message}
        elif r.response is not None:
            out[key] = r.response
    if dest.file_name:
        t0 = time.monotonic()
        data = provider.client().files.download(file=dest.file_name)
        provider.record(
            method="GET",
            path=f"{dest.file_name}:download",
            status=200,
            job_id=job_id,
            duration_ms=(time.monotonic() - t0) * 1000,
            message=f"batch results downloaded: {dest.file_name} ({len(data)} bytes)",
        )
        for line in data.decode("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            key = str(row.get("key", ""))
            if isinstance(row.get("response"), dict):
                out[key] = types.GenerateContentResponse._from_response(response=row["response"], kwargs={})
            else:
                error = row.get("error") or row.get("status") or {}
                out[key] = {"code": error.get("code"), "message": error.get("message") or "no result"}
    return out


def _collect(
    runtime: Runtime, provider: GeminiProvider, batch: types.BatchJob, items: list[JobItem], job_id: int, now: datetime
) -> int:
    """Store the batch's results (stage `store`): each image with alt text from the text model (as online items
    get), refusals fail their item, overloads and missing results go to the online queue."""
    try:
        results = _results(provider, batch, job_id)
    except Exception as exc:
        err = map_error(exc)
        log.warning("could not read the results of %s: %s", batch.name, err.message)
        _set_next_poll(runtime, batch.name or "", now + timedelta(seconds=max(30.0, err_delay(err))))
        return 0
    name = batch.name or ""
    # still claimed by this poller meanwhile (another process skips the batch); stage: store
    _set_next_poll(runtime, name, now + timedelta(seconds=POLL_CLAIM_SECONDS), Stage.STORE, job_id=job_id)
    with runtime.db.session() as s:
        job = s.get(Job, job_id)
    model = job.model if job is not None else ""
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
    done += _to_online(runtime, retry, f"Gemini could not finish them in {name}; they run online", job_id=job_id)
    done += _to_online(runtime, missing, f"{name} returned no result for them", job_id=job_id)
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
    from lib import jobs

    assert item.id is not None
    if result is None:
        return "missing"
    if isinstance(result, dict):
        code = result.get("code")
        if code in RETRYABLE_RPC_CODES:
            return "retry"
        jobs.fail_item(
            runtime.db,
            item.id,
            None,
            ProviderPermanent(
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
        jobs.fail_item(runtime.db, item.id, None, err)
        return "done"
    alt_text = None  # past the budget: the template for now (lib/alt_text.py asks again), so a big batch is stored
    remaining = deadline - time.monotonic()
    if remaining > 0:
        try:
            from lib.generation import prompts
            from lib.sources.base import Product

            info = prompts.product_info(Product.from_dict(item.product), item.variation_id)
            alt_text = provider.model_alt_text(
                image.data, info, job_id=job_id, item_id=item.id, timeout=max(1.0, remaining)
            )
        except Exception:  # model_alt_text never raises; this guards reading the stored product
            log.warning("alt text for item %s: using the template", item.id, exc_info=True)
    started = item.started_at or now
    latency = max(0.0, (utcnow() - started).total_seconds() * 1000)
    jobs.complete_item(
        runtime,
        item.id,
        None,
        image,
        fingerprint=item.fingerprint or "",
        source_sha=item.source_sha,
        latency_ms=latency,
        alt_text=alt_text,
        alt_pending=alt_text is None,
    )
    return "done"


def err_delay(err: AppError) -> float:
    return float(getattr(err, "retry_after", None) or 0.0)


# Cancelling -------------------------------------------------------------------------------------------


def _cancel(runtime: Runtime, provider: GeminiProvider, now: datetime) -> int:
    """Cancel at Gemini the batches whose items were all cancelled here (job cancelled)."""
    with runtime.db.session() as s:
        rows = s.exec(
            select(JobItem.batch_name, JobItem.job_id)
            .distinct()
            .where(
                JobItem.status == ItemStatus.CANCELLED,
                col(JobItem.batch_name).startswith("batches/"),
                col(JobItem.stage).in_([Stage.BATCH_SUBMITTED, Stage.BATCH_RUNNING]),
            )
        ).all()
    done = 0
    for name, job_id in rows:
        name = str(name)
        still_running = _running_items(runtime, name)
        if not still_running and not _cancel_at_gemini(provider, name, job_id):
            continue  # try again next tick
        with runtime.db.transaction() as s:
            result = s.exec(
                update(JobItem)
                .where(col(JobItem.batch_name) == name, col(JobItem.status) == ItemStatus.CANCELLED)
                .values(stage=None)
            )
            done += int(result.rowcount or 0)
            if not still_running:
                events.record(s, "transition", f"batch {name} cancelled at Gemini", job_id=job_id)
    return done


def _cancel_at_gemini(provider: GeminiProvider, name: str, job_id: int | None) -> bool:
    """batches.cancel; False if it should be tried again (no answer, or a retryable error)."""
    t0 = time.monotonic()
    try:
        provider.client().batches.cancel(name=name)
        status: int | None = 200
    except Exception as exc:
        err = map_error(exc)
        status = _status(err)
        if err.retryable or status is None:
            provider.record(
                method="POST",
                path=f"{name}:cancel",
                status=status,
                job_id=job_id,
                duration_ms=(time.monotonic() - t0) * 1000,
                message=f"batch cancel failed: {err.message}",
            )
            return False
    provider.record(
        method="POST",
        path=f"{name}:cancel",
        status=status,
        job_id=job_id,
        duration_ms=(time.monotonic() - t0) * 1000,
        message=f"batch cancelled: {name}",
    )
    return True


# Non-Gemini batch jobs -----------------------------------------------------------------------------------


def _hand_over_online(runtime: Runtime, *, every_provider: bool = False) -> int:
    """Only Gemini has a Batch API: other providers' batch-mode items go to the online queue."""
    jobs_q = (
        select(Job.id)
        .join(JobItem, col(JobItem.job_id) == col(Job.id))
        .where(
            Job.mode == "batch",
            col(Job.status).in_(OPEN_JOB),
            JobItem.status == ItemStatus.QUEUED,
            col(JobItem.batch_name).is_(None),
        )
        .distinct()
    )
    if not every_provider:
        jobs_q = jobs_q.where(Job.provider != "gemini")
    with runtime.db.session() as s:
        job_ids = list(s.exec(jobs_q).all())
    if not job_ids:
        return 0  # read first: no write lock on every worker poll
    with runtime.db.transaction() as s:
        result = s.exec(
            update(JobItem)
            .where(
                col(JobItem.job_id).in_(job_ids),
                col(JobItem.status) == ItemStatus.QUEUED,
                col(JobItem.batch_name).is_(None),
            )
            .values(batch_name=ONLINE)
        )
        return int(result.rowcount or 0)
