"""One online item, fetch -> validate -> generate -> store, and the request it sends.

`process_item` is what a runner thread does with a claimed item; `build_request` (shared with the batch mode)
fetches the product photo, validates and normalises it, adds a reference shot when the job asks for one, and
builds the provider request. State changes go through lib.jobs.transitions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from lib import images, store_jobs
from lib.auth import audit
from lib.drawing.cache import SingleFlightCache
from lib.errors import AppError, ImageUnreadable
from lib.fidelity import actions as fidelity_actions
from lib.generation import prompts
from lib.generation.base import (
    AltTextProvider,
    GeneratedImage,
    GenerationRequest,
    ImageProvider,
    records_own_requests,
)
from lib.jobs import queries, transitions
from lib.models import Job, JobItem, Stage
from lib.runtime import Runtime
from lib.sources.base import Product
from lib.storage import sha256_of

log = logging.getLogger("imagegecko.worker")

# Variants of a product run in parallel: single flight, so the first validates and the others wait for it.
_SOURCES: SingleFlightCache[bytes] = SingleFlightCache(64 * 1024 * 1024, len)
T = TypeVar("T")
Durable = Callable[[Callable[[], Any]], Any]  # runs a job-log write, waiting out a full or read-only database
SOURCE_MAX_SIDE = 2048  # providers gain nothing from more; a 12 MP photo as PNG would be ~20 MB per request


def normalised_source(rt: Runtime, sha: str, raw: bytes) -> bytes:
    """Validate and normalise a source photo to PNG, once per photo: variants of a product share it."""
    return _SOURCES.get(sha, lambda: _normalise(rt, raw))


def _normalise(rt: Runtime, raw: bytes) -> bytes:
    intake = images.decode_for(rt.settings, raw)
    image = intake.image
    if max(image.size) > SOURCE_MAX_SIDE:
        image = image.copy()
        image.thumbnail((SOURCE_MAX_SIDE, SOURCE_MAX_SIDE))
    elif images.is_plain_png(image):
        return raw  # already what to_png would write, pixel for pixel: encoding it again costs ~40 ms
    return images.to_png(image)


def build_request(
    rt: Runtime, item: JobItem, job: Job, on_stage: Callable[[str], object] | None = None
) -> tuple[GenerationRequest, str]:
    """Fetch the item's source photo, validate and normalise it, and build the provider request."""
    product = Product.from_dict(item.product)
    image = product.featured
    if item.variation_id is not None:
        variation = next((v for v in product.variations if v.id == item.variation_id), None)
        if variation is not None and variation.image is not None:
            image = variation.image
    if image is None:
        raise ImageUnreadable("This product has no photo to start from. Add one in the store, then retry.")
    if item.source_sha and rt.blobs.exists(item.source_sha):
        raw = rt.blobs.get(item.source_sha)  # fetched on an earlier attempt
    else:
        raw = rt.source(job.source_kind, job.connection_id).fetch_image(image)
    if on_stage is not None:
        on_stage(Stage.VALIDATE)
    source_sha = sha256_of(raw)
    source_png = normalised_source(rt, source_sha, raw)  # validated first: a refused photo is never stored
    rt.blobs.put(raw)
    prompt = item.prompt
    references: tuple[bytes, ...] = ()
    if job.options.get("use_reference") and item.variant_index > 0:
        reference = reference_shot(rt, job, item)
        if reference is not None:  # none approved yet: this variant is made from the product photo alone
            prompt, references = prompts.with_reference(item.prompt), (reference,)
    request = GenerationRequest(
        source_image=source_png,
        source_mime="image/png",
        prompt=prompt,
        reference_images=references,
        product=prompts.product_info(product, item.variation_id),
        style=item.product.get("style") or job.style,
        model=job.model,
        aspect_ratio=job.aspect_ratio,
        output_size=job.output_size,
        variant_index=item.variant_index,
        # A regenerate asks for a new picture: its own seed (the item's id), so the studio engine draws another
        # scene; first runs keep the variant's seed, so identical requests still share a stored result.
        seed=item.id if item.regenerate and item.id is not None else item.variant_index,
    )
    return request, source_sha


def reference_shot(rt: Runtime, job: Job, item: JobItem) -> bytes | None:
    """The first approved generated image (earliest reviewed_at, then id) of the item's product and variation, from
    any job on the same source, or None. It goes into the request, so it is part of the fingerprint: a result made
    without it (or with another reference) is not reused.

    A job's items run in parallel, so in a fresh job later variants usually start before anyone has approved the
    first: the reference then comes from an earlier job, or applies when a variant is regenerated after review."""
    for asset in queries.approved_for_product(rt.db, job, item):
        if rt.blobs.exists(asset.sha256):  # a pruned blob store may have lost it; the next one will do
            return rt.blobs.get(asset.sha256)
    return None


def reuse_result(rt: Runtime, fingerprint: str) -> GeneratedImage | None:
    """An earlier result for an identical request, if its file is still in the blob store."""
    asset = queries.latest_result(rt.db, fingerprint)
    if asset is None or not rt.blobs.exists(asset.sha256):
        return None
    return GeneratedImage(
        data=rt.blobs.get(asset.sha256),
        mime=asset.mime,
        width=asset.width,
        height=asset.height,
        model="cache",
        cost=0.0,
    )


def _now(write: Callable[[], T]) -> T | None:
    return write()


def generate(
    rt: Runtime,
    provider: ImageProvider,
    request: GenerationRequest,
    item: JobItem,
    job: Job,
    *,
    owner: str,
    durable: Durable = _now,
) -> tuple[GeneratedImage | None, bool]:
    """Stage generate: one provider call, recorded before it is sent (a request event and the estimated cost on the
    item) and completed after, so a call cut off by a crash is in the request log and the job's cost; a provider
    that logs its own HTTP requests (gemini) completes that event itself with what the server said. Returns the
    image (None: the lease was lost, nothing sent) and whether the item is still ours, now at stage store."""
    assert item.id is not None
    estimate = float(provider.estimate_cost(job.model, 1))
    call = transitions.begin_call(
        rt.db,
        item_id=item.id,
        owner=owner,
        service=job.provider,
        method="generate",
        estimated_cost=estimate,
        message=f"{job.provider} generate: sent",
    )
    if call is None:
        return None, False
    own_record = records_own_requests(provider)
    t0 = time.monotonic()
    try:
        if records_own_requests(provider):
            image = provider.generate(request, job_id=item.job_id, item_id=item.id, call_id=call)
        else:
            image = provider.generate(request)
    except AppError as exc:
        failed_ms = (time.monotonic() - t0) * 1000
        message, error = f"{job.provider} generate: {exc.kind}", exc.message
        durable(
            lambda: transitions.finish_call(
                rt.db,
                event_id=call,
                cost=0.0,  # an error answer is not charged
                outcome=None
                if own_record
                else transitions.CallOutcome(message=message, duration_ms=failed_ms, data={"error": error}),
            )
        )
        raise
    outcome = transitions.CallOutcome(
        message=f"{job.provider} generate: ok",
        duration_ms=(time.monotonic() - t0) * 1000,
        request_id=image.request_id,
        status_code=(image.usage or {}).get("status_code"),
        data={"usage": image.usage or {}},
    )
    stored = durable(
        lambda: transitions.finish_call(
            rt.db,
            event_id=call,
            cost=image.cost,
            outcome=None if own_record else outcome,
            owner=owner,
            next_stage=Stage.STORE,
        )
    )
    return image, bool(stored)


@dataclass
class Outcome:
    """What became of an item: "succeeded", "reused", "lost" (lease gone) or "stopping"; busy_seconds excludes
    the wait for a rate-limit token."""

    result: str
    busy_seconds: float = 0.0


def process_store_item(rt: Runtime, item: JobItem, job: Job, *, owner: str, durable: Durable = _now) -> Outcome:
    """One item of a store job: lib/store_jobs.py runs lib.publish's (or the export's) idempotent steps; a cancel
    or a lost lease is seen between products."""
    assert item.id is not None
    item_id, db, started = item.id, rt.db, time.monotonic()
    current = ["snapshot"]

    def stage(name: str) -> bool:
        current[0] = name
        return transitions.set_stage(db, item_id=item_id, owner=owner, stage=name)

    result = store_jobs.run_item(
        rt,
        job,
        item,
        stage=stage,
        cancelled=lambda: not transitions.set_stage(db, item_id=item_id, owner=owner, stage=current[0]),
    )
    done = durable(
        lambda: transitions.complete_store_item(
            db, item_id=item_id, owner=owner, result=result, latency_ms=(time.monotonic() - started) * 1000
        )
    )
    if done:  # in the audit trail, in the name of whoever queued the job
        durable(lambda: audit.record_store_item(db, store_job_id=job.id or 0, work=job.model, payload=item.product))
    return Outcome("succeeded" if done else "lost", time.monotonic() - started)


def process_item(
    rt: Runtime,
    item: JobItem,
    *,
    owner: str,
    acquire: Callable[[str], bool] = lambda provider: True,
    durable: Durable = _now,
    check: Callable[[int], None] | None = None,
) -> Outcome:
    """fetch -> validate -> generate -> store for one claimed item. `acquire(provider)` waits for the provider's
    rate limit (False: the worker is stopping); `durable(write)` runs the writes that follow a paid call until the
    database takes them; `check(item_id)` runs or queues the fidelity check of the stored image (default: here).
    Errors propagate to the runner, which retries or fails the item."""
    assert item.id is not None
    item_id = item.id
    db = rt.db
    job = queries.get_job(db, item.job_id)
    started = time.monotonic()
    if store_jobs.is_store_job(job):  # publishing, rollback, export: lib/store_jobs.py does the work
        return process_store_item(rt, item, job, owner=owner, durable=durable)

    def stage(name: str) -> bool:
        return transitions.set_stage(db, item_id=item_id, owner=owner, stage=name)

    # The claim put the item at stage fetch (one transaction fewer per item).
    request, source_sha = build_request(rt, item, job, on_stage=stage)
    fingerprint = request.fingerprint(job.provider)
    if not item.regenerate:
        cached = reuse_result(rt, fingerprint)
        if cached is not None:
            transitions.complete_item(
                db,
                item_id=item_id,
                owner=owner,
                sha=rt.blobs.put(cached.data),
                image=cached,
                fingerprint=fingerprint,
                source_sha=source_sha,
                latency_ms=(time.monotonic() - started) * 1000,
                reused=True,
            )
            return Outcome("reused")
    provider = rt.provider(job.provider)
    waited_from = time.monotonic()
    if not acquire(job.provider):
        return Outcome("stopping")  # the item is released at shutdown
    token_wait = time.monotonic() - waited_from
    image, stored = generate(rt, provider, request, item, job, owner=owner, durable=durable)
    if image is None:
        return Outcome("lost")
    writes_alt = isinstance(provider, AltTextProvider)
    alt = None  # None: the template stands in, and lib/worker/alt_texts.py asks again later
    if isinstance(provider, AltTextProvider):
        alt = provider.model_alt_text(image.data, request.product, job_id=item.job_id, item_id=item_id)
    sha = rt.blobs.put(image.data)  # content-addressed: a retry after a crash writes nothing new
    # Cancelled meanwhile (not `stored`): the paid result is still kept, as an asset of the cancelled item.
    latency_ms = (time.monotonic() - started) * 1000
    durable(
        lambda: transitions.complete_item(
            db,
            item_id=item_id,
            owner=owner,
            sha=sha,
            image=image,
            fingerprint=fingerprint,
            source_sha=source_sha,
            latency_ms=latency_ms,
            alt_text=alt,
            alt_pending=writes_alt and alt is None,
        )
    )
    if not stored:
        return Outcome("lost")
    # A slot is busy for the whole item, not just the provider call (Little's law needs that time).
    busy = time.monotonic() - started - token_wait
    if check is None:
        check_fidelity(rt, item_id)
    else:
        check(item_id)
    return Outcome("succeeded", busy)


def check_fidelity(rt: Runtime, item_id: int) -> None:
    """Compare the stored image with the product photo (lib/fidelity), re-trying a redrawn one when the job asks;
    a failing check never fails the item: the runner's idle sweep (Worker._tick_fidelity) tries again."""
    if not rt.settings.fidelity_check:
        return
    try:
        fidelity_actions.after_item(rt, item_id=item_id)
    except Exception:
        log.exception("fidelity check of item %s failed", item_id)
