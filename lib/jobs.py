"""Jobs and their items: creation, user actions, and the state transitions the worker makes.

Every transition is its own committed transaction and writes an Event, so a crash between two steps loses
nothing and a retry does not duplicate work. Worker-side transitions check the lease owner: a worker whose lease
expired (and whose item another worker took over) cannot overwrite the newer outcome.
"""

from __future__ import annotations

import random
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from lib import events
from lib.alt_text import ALT_TEXT_TRIES
from lib.db import Database
from lib.errors import AppError, ImageUnreadable, InputError, JobError
from lib.generation.base import ASPECT_RATIOS, GeneratedImage, GenerationRequest
from lib.job_queries import (  # re-exported: pages and the CLI import everything from lib.jobs
    GalleryEntry,
    JobProgress,
    Totals,
    approved_assets,
    gallery,
    get_job,
    job_events,
    job_items,
    job_progress,
    latest_job_id,
    list_jobs,
    totals,
)
from lib.models import (
    TERMINAL_ITEM,
    TERMINAL_JOB,
    Asset,
    AssetKind,
    ItemStatus,
    Job,
    JobItem,
    JobStatus,
    ReviewState,
    Stage,
    utcnow,
)
from lib.sources.base import Product
from lib.storage import sha256_of

if TYPE_CHECKING:
    from lib.runtime import Runtime

__all__ = [
    "JobSpec",
    "Selection",
    "create_job",
    "estimate_cost",
    "cancel_job",
    "cancel_item",
    "pause_job",
    "resume_job",
    "retry_failed",
    "regenerate_item",
    "set_review",
    "approve_all",
    "set_alt_text",
    "claim_items",
    "heartbeat",
    "set_stage",
    "complete_item",
    "reuse_result",
    "requeue_item",
    "fail_item",
    "release_items",
    "build_request",
    "backoff_delay",
    "suggested_mode",
    "GalleryEntry",
    "JobProgress",
    "Totals",
    "approved_assets",
    "gallery",
    "get_job",
    "job_events",
    "job_items",
    "job_progress",
    "latest_job_id",
    "list_jobs",
    "totals",
]

MAX_VARIANTS = 4
STUDIO_MODEL = "studio-v1"
REFERENCE_PROVIDERS = {"gemini"}  # providers that take reference images (the studio engine has no use for them)
BATCH_PROVIDERS = {"gemini"}  # providers with a batch API


@dataclass(frozen=True)
class JobSpec:
    source_kind: str
    connection_id: int | None = None
    provider: str = "studio"
    model: str = STUDIO_MODEL
    style: str = "auto"  # a preset key, or "auto" = each product's category default
    prompt_extra: str = ""
    aspect_ratio: str = "1:1"
    output_size: int = 1024
    variants: int = 1
    mode: str = "online"  # online | batch
    # Variants after the first also get the product's first approved shot, so a product's images stay alike.
    use_reference: bool = False
    # Images the fidelity check calls "redrawn" are made again (with the finding as a correction) up to N times.
    fidelity_retries: int = 0


@dataclass(frozen=True)
class Selection:
    product: Product
    variation_id: str | None = None


# Creation -----------------------------------------------------------------------------------


def _validate_spec(rt: Runtime, spec: JobSpec) -> None:
    from lib.generation import prompts
    from lib.runtime import PROVIDER_MODULES, SOURCE_MODULES

    if spec.source_kind not in SOURCE_MODULES:
        raise InputError(f"Unknown product source {spec.source_kind!r}.")
    if spec.provider not in PROVIDER_MODULES:
        raise InputError(f"Unknown image provider {spec.provider!r}.")
    if spec.style != "auto" and spec.style not in prompts.PRESETS:
        raise InputError(f"Unknown style {spec.style!r}. Choose one of: {', '.join(prompts.PRESETS)}.")
    if spec.aspect_ratio not in ASPECT_RATIOS:
        raise InputError(f"Aspect ratio {spec.aspect_ratio!r} is not supported. Use one of {', '.join(ASPECT_RATIOS)}.")
    if not 1 <= spec.variants <= MAX_VARIANTS:
        raise InputError(f"Variants per product must be between 1 and {MAX_VARIANTS}.")
    if spec.mode not in ("online", "batch"):
        raise InputError("Mode must be online or batch.")
    if spec.provider == "gemini" and spec.model not in rt.settings.gemini_models:
        models = ", ".join(rt.settings.gemini_models)
        raise InputError(f"Model {spec.model!r} is not configured. Choose one of {models}.")
    if len(spec.prompt_extra) > 2000:
        raise InputError("The extra prompt is too long (2,000 characters at most).")
    if not 0 <= spec.fidelity_retries <= 3:
        raise InputError("Automatic re-tries of redrawn images: choose 0 to 3.")
    if spec.use_reference and spec.provider not in REFERENCE_PROVIDERS:
        raise InputError("Reference shots are only used by Gemini; choose Gemini or leave the option off.")


def suggested_mode(rt: Runtime, provider: str, n_items: int) -> str:
    """Batch for jobs of at least `batch_threshold` items on a provider with a batch API, else online."""
    if provider in BATCH_PROVIDERS and n_items >= rt.settings.batch_threshold:
        return "batch"
    return "online"


def _model_for(spec: JobSpec) -> str:
    return STUDIO_MODEL if spec.provider == "studio" else spec.model


def estimate_cost(rt: Runtime, spec: JobSpec, n_selections: int) -> float:
    """USD for n products × variants at the price table (studio is free; batch at the batch discount)."""
    if spec.provider == "studio":
        return 0.0
    price = rt.settings.price(spec.model)
    return round(price.per_image(batch=spec.mode == "batch") * n_selections * spec.variants, 4)


def create_job(rt: Runtime, spec: JobSpec, selections: list[Selection]) -> Job:
    """Queue a job: one item per selected product (or variation) × variant."""
    from lib.generation import prompts

    _validate_spec(rt, spec)
    if not selections:
        raise InputError("Select at least one product.")
    model = _model_for(spec)
    with rt.db.transaction() as s:
        job = Job(
            source_kind=spec.source_kind,
            connection_id=spec.connection_id,
            provider=spec.provider,
            model=model,
            style=spec.style,
            prompt_extra=spec.prompt_extra.strip(),
            aspect_ratio=spec.aspect_ratio,
            output_size=spec.output_size,
            variants=spec.variants,
            mode=spec.mode,
            options={
                **({"use_reference": True} if spec.use_reference else {}),
                **({"fidelity_retries": int(spec.fidelity_retries)} if spec.fidelity_retries else {}),
            },
            estimated_cost=estimate_cost(rt, spec, len(selections)),
        )
        s.add(job)
        s.flush()
        assert job.id is not None
        count = 0
        for sel in selections:
            if sel.variation_id is not None:
                sel.product.variation(sel.variation_id)  # KeyError -> caller bug, not user input
            info = prompts.product_info(sel.product, sel.variation_id)
            style = spec.style if spec.style != "auto" else prompts.default_style(sel.product.category)
            prompt = prompts.build_prompt(info, style, spec.prompt_extra)
            for variant in range(spec.variants):
                s.add(
                    JobItem(
                        job_id=job.id,
                        product_id=sel.product.id,
                        variation_id=sel.variation_id,
                        variant_index=variant,
                        product={**sel.product.to_dict(), "style": style},
                        prompt=prompt,
                    )
                )
                count += 1
        job.item_count = count
        s.add(job)
        events.record(
            s,
            "transition",
            f"job created: {count} items",
            job_id=job.id,
            data={"provider": spec.provider, "model": model, "style": spec.style},
        )
        return job


# User actions -------------------------------------------------------------------------------


def _job_or_raise(s: Session, job_id: int) -> Job:
    job = s.get(Job, job_id)
    if job is None:
        raise JobError(f"Job {job_id} does not exist.")
    return job


def cancel_job(db: Database, job_id: int) -> int:
    """Cancel a job: queued and running items become cancelled. Returns how many items were cancelled."""
    with db.transaction() as s:
        job = _job_or_raise(s, job_id)
        if job.status in TERMINAL_JOB and job.status != JobStatus.CANCELLED:
            raise JobError(f"Job {job_id} has already finished.")
        now = utcnow()
        result = s.exec(
            update(JobItem)
            .where(col(JobItem.job_id) == job_id, col(JobItem.status).in_([ItemStatus.QUEUED, ItemStatus.RUNNING]))
            .values(status=ItemStatus.CANCELLED, lease_owner=None, lease_expires_at=None, finished_at=now)
        )
        job.status = JobStatus.CANCELLED
        job.finished_at = now
        s.add(job)
        events.record(s, "transition", "job cancelled", job_id=job_id)
        return int(result.rowcount or 0)


def cancel_item(db: Database, item_id: int) -> None:
    with db.transaction() as s:
        item = s.get(JobItem, item_id)
        if item is None:
            raise JobError(f"Item {item_id} does not exist.")
        if item.status in TERMINAL_ITEM:
            raise JobError(f"Item {item_id} has already finished ({item.status}).")
        item.status = ItemStatus.CANCELLED
        item.lease_owner = None
        item.lease_expires_at = None
        item.finished_at = utcnow()
        s.add(item)
        events.record(s, "transition", "item cancelled", job_id=item.job_id, item_id=item_id)
        _refresh_job(s, item.job_id)


def pause_job(db: Database, job_id: int, reason: str) -> None:
    with db.transaction() as s:
        job = _job_or_raise(s, job_id)
        if job.status in TERMINAL_JOB:
            return
        job.status = JobStatus.PAUSED
        job.error = reason
        s.add(job)
        events.record(s, "transition", f"job paused: {reason}", job_id=job_id)


def resume_job(db: Database, job_id: int) -> None:
    with db.transaction() as s:
        job = _job_or_raise(s, job_id)
        if job.status != JobStatus.PAUSED:
            raise JobError(f"Job {job_id} is not paused.")
        job.status = JobStatus.RUNNING if job.started_at else JobStatus.QUEUED
        job.error = None
        s.add(job)
        events.record(s, "transition", "job resumed", job_id=job_id)


def retry_failed(db: Database, job_id: int) -> int:
    """Put failed items back in the queue with a fresh attempt budget. Returns how many."""
    with db.transaction() as s:
        job = _job_or_raise(s, job_id)
        if job.status == JobStatus.CANCELLED:
            raise JobError("This job was cancelled; start a new one instead.")
        result = s.exec(
            update(JobItem)
            .where(col(JobItem.job_id) == job_id, col(JobItem.status) == ItemStatus.FAILED)
            .values(
                status=ItemStatus.QUEUED,
                attempts=0,
                next_attempt_at=utcnow(),
                error_kind=None,
                error_message=None,
                finished_at=None,
                stage=None,
            )
        )
        n = int(result.rowcount or 0)
        if n:
            job.status = JobStatus.RUNNING if job.started_at else JobStatus.QUEUED
            job.finished_at = None
            s.add(job)
            events.record(s, "transition", f"retrying {n} failed items", job_id=job_id)
        return n


def regenerate_item(rt: Runtime, item_id: int, prompt_extra: str | None = None) -> JobItem:
    """A new item in the same job for the same product and variant, bypassing the result cache."""
    from lib.generation import prompts

    with rt.db.transaction() as s:
        old = s.get(JobItem, item_id)
        if old is None:
            raise JobError(f"Item {item_id} does not exist.")
        job = _job_or_raise(s, old.job_id)
        if job.status == JobStatus.CANCELLED:
            raise JobError("This job was cancelled; start a new one instead.")
        prompt = old.prompt
        if prompt_extra is not None:
            if len(prompt_extra) > 2000:
                raise InputError("The extra prompt is too long (2,000 characters at most).")
            product = Product.from_dict(old.product)
            style = old.product.get("style") or job.style
            prompt = prompts.build_prompt(prompts.product_info(product, old.variation_id), style, prompt_extra.strip())
        new = JobItem(
            job_id=old.job_id,
            product_id=old.product_id,
            variation_id=old.variation_id,
            variant_index=old.variant_index,
            product=dict(old.product),
            prompt=prompt,
            regenerate=True,
            parent_item_id=old.id,
        )
        s.add(new)
        job.item_count += 1
        if job.status in TERMINAL_JOB:
            job.status = JobStatus.RUNNING
            job.finished_at = None
        s.add(job)
        s.flush()
        events.record(s, "transition", f"regenerate item {item_id}", job_id=job.id, item_id=new.id)
        return new


# Review ---------------------------------------------------------------------------------------


def set_review(db: Database, asset_ids: list[int], state: str) -> int:
    if state not in set(ReviewState):
        raise InputError(f"Unknown review state {state!r}.")
    if not asset_ids:
        return 0
    with db.transaction() as s:
        result = s.exec(
            update(Asset)
            .where(col(Asset.id).in_(asset_ids), col(Asset.kind) == AssetKind.GENERATED)
            .values(review_state=state, reviewed_at=utcnow())
        )
        return int(result.rowcount or 0)


def approve_all(db: Database, job_id: int, *, skip: Collection[int] = ()) -> int:
    """Approve every pending generated image of a job (rejected ones stay rejected; `skip`: asset ids left
    pending, such as images the fidelity check says were redrawn)."""
    with db.transaction() as s:
        result = s.exec(
            update(Asset)
            .where(
                col(Asset.job_id) == job_id,
                col(Asset.kind) == AssetKind.GENERATED,
                col(Asset.review_state) == ReviewState.PENDING,
                col(Asset.id).not_in(list(skip)),
            )
            .values(review_state=ReviewState.APPROVED, reviewed_at=utcnow())
        )
        return int(result.rowcount or 0)


def set_alt_text(db: Database, asset_id: int, text: str) -> None:
    text = " ".join(text.split())
    if len(text) > 250:
        raise InputError("Alt text should be short: 250 characters at most.")
    with db.transaction() as s:
        asset = s.get(Asset, asset_id)
        if asset is None:
            raise InputError(f"Image {asset_id} does not exist.")
        asset.alt_text = text
        asset.alt_tries_left = 0  # a person's words are never replaced by the text model's
        s.add(asset)


# Worker side ---------------------------------------------------------------------------------


def backoff_delay(
    attempts: int, *, base: float, cap: float, retry_after: float | None = None, rng: random.Random | None = None
) -> float:
    """Exponential backoff with jitter; never shorter than what the server asked for."""
    rng = rng or random.Random()
    exp = min(cap, base * (2 ** max(0, attempts - 1)))
    delay = exp * (0.5 + rng.random() / 2)
    return max(delay, retry_after or 0.0)


def claim_items(
    db: Database,
    owner: str,
    limit: int,
    lease_seconds: float,
    now: datetime | None = None,
    providers: set[str] | None = None,
    job_ids: set[int] | None = None,
) -> list[JobItem]:
    """Atomically lease up to `limit` runnable items: queued and due, or running with an expired lease.

    Only items of online jobs (or batch items sent back to the online queue) of jobs that are not
    paused or cancelled; only of `job_ids` when given. On SQLite the IMMEDIATE transaction serialises
    claimers; elsewhere rows are locked with FOR UPDATE SKIP LOCKED so several machines can claim at once.
    """
    if limit <= 0:
        return []
    now = now or utcnow()
    with db.transaction() as s:
        runnable = or_(
            (col(JobItem.status) == ItemStatus.QUEUED) & (col(JobItem.next_attempt_at) <= now),
            (col(JobItem.status) == ItemStatus.RUNNING)
            & (col(JobItem.lease_expires_at) < now)
            & col(JobItem.batch_name).is_(None),
        )
        query = (
            select(JobItem)
            .join(Job, col(Job.id) == col(JobItem.job_id))
            .where(runnable)
            .where(col(Job.status).in_([JobStatus.QUEUED, JobStatus.RUNNING]))
            .where(or_(col(Job.mode) == "online", col(JobItem.batch_name) == "online"))
            .order_by(col(JobItem.next_attempt_at), col(JobItem.id))
            .limit(limit)
        )
        if providers is not None:
            query = query.where(col(Job.provider).in_(sorted(providers)))
        if job_ids is not None:
            query = query.where(col(JobItem.job_id).in_(sorted(job_ids)))
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=JobItem)
        items = list(s.exec(query).all())
        expires = now + timedelta(seconds=lease_seconds)
        for item in items:
            taken_over = item.status == ItemStatus.RUNNING
            item.status = ItemStatus.RUNNING
            item.lease_owner = owner
            item.lease_expires_at = expires
            item.attempts += 1
            item.started_at = item.started_at or now
            item.stage = None
            s.add(item)
            events.record(
                s,
                "transition",
                "taken over after lease expiry" if taken_over else "claimed",
                job_id=item.job_id,
                item_id=item.id,
                data={"owner": owner, "attempt": item.attempts},
            )
        for job_id in {i.job_id for i in items}:
            job = s.get(Job, job_id)
            if job is not None and job.status == JobStatus.QUEUED:
                job.status = JobStatus.RUNNING
                job.started_at = job.started_at or now
                s.add(job)
                events.record(s, "transition", "job running", job_id=job_id, data={"owner": owner})
        return items


def heartbeat(db: Database, owner: str, item_ids: list[int], lease_seconds: float) -> None:
    if not item_ids:
        return
    with db.transaction() as s:
        s.exec(
            update(JobItem)
            .where(
                col(JobItem.id).in_(item_ids),
                col(JobItem.lease_owner) == owner,
                col(JobItem.status) == ItemStatus.RUNNING,
            )
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        )


def _owned(s: Session, item_id: int, owner: str | None) -> JobItem | None:
    """The item if it is still running under this owner's lease (owner None = batch coordinator)."""
    item = s.get(JobItem, item_id)
    if item is None or item.status != ItemStatus.RUNNING:
        return None
    if owner is not None and item.lease_owner != owner:
        return None
    return item


def set_stage(db: Database, item_id: int, owner: str | None, stage: str) -> bool:
    with db.transaction() as s:
        item = _owned(s, item_id, owner)
        if item is None:
            return False
        item.stage = stage
        s.add(item)
        events.record(s, "transition", f"stage {stage}", job_id=item.job_id, item_id=item_id)
        return True


def _refresh_job(s: Session, job_id: int) -> None:
    """Recompute a job's status and actual cost from its items."""
    job = s.get(Job, job_id)
    if job is None:
        return
    s.flush()
    rows = s.exec(
        select(JobItem.status, func.count(), func.coalesce(func.sum(JobItem.cost), 0.0))
        .where(JobItem.job_id == job_id)
        .group_by(JobItem.status)
    ).all()
    counts = {status: n for status, n, _ in rows}
    job.actual_cost = round(float(sum(c for _, _, c in rows)), 6)
    open_items = counts.get(ItemStatus.QUEUED, 0) + counts.get(ItemStatus.RUNNING, 0)
    if job.status in (JobStatus.CANCELLED, JobStatus.PAUSED) or open_items:
        s.add(job)
        return
    succeeded, failed = counts.get(ItemStatus.SUCCEEDED, 0), counts.get(ItemStatus.FAILED, 0)
    if failed == 0:
        job.status = JobStatus.SUCCEEDED if succeeded else JobStatus.CANCELLED
    else:
        job.status = JobStatus.FINISHED if succeeded else JobStatus.FAILED
    job.finished_at = utcnow()
    events.record(s, "transition", f"job {job.status}", job_id=job_id, data={"succeeded": succeeded, "failed": failed})
    s.add(job)


def _finish_item_asset(
    rt: Runtime,
    s: Session,
    item: JobItem,
    *,
    sha: str,
    image: GeneratedImage,
    fingerprint: str,
    alt_text: str | None,
    size: int,
    alt_pending: bool = False,
) -> Asset:
    from lib.generation import prompts

    if not alt_text:
        product = Product.from_dict(item.product)
        style = item.product.get("style") or ""
        alt_text = prompts.alt_text(prompts.product_info(product, item.variation_id), style)
    asset = Asset(
        sha256=sha,
        kind=AssetKind.GENERATED,
        mime=image.mime,
        size_bytes=size,
        width=image.width,
        height=image.height,
        job_id=item.job_id,
        item_id=item.id,
        product_id=item.product_id,
        variation_id=item.variation_id,
        alt_text=alt_text,
        fingerprint=fingerprint,
        alt_tries_left=ALT_TEXT_TRIES if alt_pending else 0,
    )
    s.add(asset)
    s.flush()
    return asset


def complete_item(
    rt: Runtime,
    item_id: int,
    owner: str | None,
    image: GeneratedImage,
    *,
    fingerprint: str,
    source_sha: str | None,
    latency_ms: float | None,
    alt_text: str | None = None,
    alt_pending: bool = False,
    reused: bool = False,
) -> Asset | None:
    """Store the image and mark the item succeeded. Returns None if the lease was lost (result discarded).
    alt_pending: the text model gave no alt text; the template stands in until lib/alt_text.py asks again."""
    sha = rt.blobs.put(image.data)  # content-addressed: a retry after a crash writes nothing new
    with rt.db.transaction() as s:
        item = _owned(s, item_id, owner)
        if item is None:
            existing = s.exec(select(Asset).where(Asset.item_id == item_id, Asset.kind == AssetKind.GENERATED)).first()
            events.record(
                s,
                "info",
                "result discarded: item no longer leased by this worker",
                item_id=item_id,
                data={"owner": owner},
            )
            return existing
        asset = _finish_item_asset(
            rt,
            s,
            item,
            sha=sha,
            image=image,
            fingerprint=fingerprint,
            alt_text=alt_text,
            size=len(image.data),
            alt_pending=alt_pending,
        )
        now = utcnow()
        item.status = ItemStatus.SUCCEEDED
        item.stage = None
        item.lease_owner = None
        item.lease_expires_at = None
        item.fingerprint = fingerprint
        item.source_sha = source_sha or item.source_sha
        item.result_asset_id = asset.id
        item.latency_ms = latency_ms
        item.cost = 0.0 if reused else image.cost
        item.error_kind = None
        item.error_message = None
        item.finished_at = now
        s.add(item)
        events.record(
            s,
            "transition",
            "succeeded (reused an identical earlier result)" if reused else "succeeded",
            job_id=item.job_id,
            item_id=item_id,
            data={"sha256": sha, "cost": item.cost, "latency_ms": latency_ms},
        )
        _refresh_job(s, item.job_id)
        return asset


def reuse_result(rt: Runtime, fingerprint: str) -> GeneratedImage | None:
    """An earlier result for an identical request, if its file is still in the blob store."""
    with rt.db.session() as s:
        asset = s.exec(
            select(Asset)
            .where(Asset.fingerprint == fingerprint, Asset.kind == AssetKind.GENERATED)
            .order_by(col(Asset.id).desc())
        ).first()
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


def requeue_item(
    db: Database, item_id: int, owner: str | None, error: AppError, delay_seconds: float, *, count_attempt: bool = True
) -> None:
    """Back to the queue after a retryable error, due in `delay_seconds`."""
    with db.transaction() as s:
        item = _owned(s, item_id, owner)
        if item is None:
            return
        if not count_attempt:
            item.attempts = max(0, item.attempts - 1)
        item.status = ItemStatus.QUEUED
        item.stage = None
        item.lease_owner = None
        item.lease_expires_at = None
        item.batch_name = item.batch_name if item.batch_name == "online" else None
        item.next_attempt_at = utcnow() + timedelta(seconds=delay_seconds)
        item.error_kind = error.kind
        item.error_message = error.message
        s.add(item)
        events.record(
            s,
            "transition",
            f"retry in {delay_seconds:.1f}s: {error.message}",
            job_id=item.job_id,
            item_id=item_id,
            data={
                "kind": error.kind,
                "delay": delay_seconds,
                "attempt": item.attempts,
                "retry_after": getattr(error, "retry_after", None),
            },
        )


def fail_item(db: Database, item_id: int, owner: str | None, error: AppError) -> None:
    with db.transaction() as s:
        item = _owned(s, item_id, owner)
        if item is None:
            return
        item.status = ItemStatus.FAILED
        item.stage = None
        item.lease_owner = None
        item.lease_expires_at = None
        item.error_kind = error.kind
        item.error_message = error.message
        item.finished_at = utcnow()
        s.add(item)
        events.record(
            s,
            "error",
            f"failed: {error.message}",
            job_id=item.job_id,
            item_id=item_id,
            data={"kind": error.kind, "detail": error.detail, "attempt": item.attempts},
        )
        _refresh_job(s, item.job_id)


def release_items(db: Database, owner: str) -> int:
    """Give back every item this worker holds (clean shutdown): queued again, attempt not counted."""
    with db.transaction() as s:
        items = s.exec(select(JobItem).where(JobItem.lease_owner == owner, JobItem.status == ItemStatus.RUNNING)).all()
        for item in items:
            item.status = ItemStatus.QUEUED
            item.stage = None
            item.lease_owner = None
            item.lease_expires_at = None
            item.attempts = max(0, item.attempts - 1)
            item.next_attempt_at = utcnow()
            s.add(item)
            events.record(s, "transition", "released at shutdown", job_id=item.job_id, item_id=item.id)
        return len(items)


_SOURCE_CACHE: OrderedDict[str, bytes] = OrderedDict()
_SOURCE_CACHE_LOCK = threading.Lock()
_SOURCE_CACHE_SIZE = 16
SOURCE_MAX_SIDE = 2048  # providers gain nothing from more; a 12 MP photo as PNG would be ~20 MB per request


def _normalised_source(rt: Runtime, sha: str, raw: bytes) -> bytes:
    """Validate and normalise a source photo to PNG, once per photo: variants of a product share it."""
    from lib import images

    with _SOURCE_CACHE_LOCK:
        if sha in _SOURCE_CACHE:
            _SOURCE_CACHE.move_to_end(sha)
            return _SOURCE_CACHE[sha]
    intake = images.decode_for(rt.settings, raw)
    image = intake.image
    if max(image.size) > SOURCE_MAX_SIDE:
        image = image.copy()
        image.thumbnail((SOURCE_MAX_SIDE, SOURCE_MAX_SIDE))
    png = images.to_png(image)
    with _SOURCE_CACHE_LOCK:
        _SOURCE_CACHE[sha] = png
        while len(_SOURCE_CACHE) > _SOURCE_CACHE_SIZE:
            _SOURCE_CACHE.popitem(last=False)
    return png


def build_request(
    rt: Runtime, item: JobItem, on_stage: Callable[[str], object] | None = None
) -> tuple[GenerationRequest, str]:
    """Fetch the item's source photo, validate and normalise it, and build the provider request."""
    from lib.generation import prompts

    with rt.db.session() as s:
        job = s.get(Job, item.job_id)
    if job is None:
        raise JobError(f"Job {item.job_id} does not exist.")
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
    source_png = _normalised_source(rt, source_sha, raw)  # validated first: a refused photo is never stored
    rt.blobs.put(raw)
    prompt = item.prompt
    references: tuple[bytes, ...] = ()
    if job.options.get("use_reference") and item.variant_index > 0:
        reference = _reference_shot(rt, job, item)
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


def _same(column: Any, value: object) -> Any:
    return column.is_(None) if value is None else column == value


def _reference_shot(rt: Runtime, job: Job, item: JobItem) -> bytes | None:
    """The first approved generated image (earliest reviewed_at, then id) of the item's product and variation, from
    any job on the same source, or None. It goes into the request, so it is part of the fingerprint: a result made
    without it (or with another reference) is not reused.

    A job's items run in parallel, so in a fresh job later variants usually start before anyone has approved the
    first: the reference then comes from an earlier job, or applies when a variant is regenerated after review."""
    with rt.db.session() as s:
        candidates = s.exec(
            select(Asset)
            .join(Job, col(Job.id) == col(Asset.job_id))
            .where(
                col(Asset.kind) == AssetKind.GENERATED,
                col(Asset.review_state) == ReviewState.APPROVED,
                col(Asset.product_id) == item.product_id,
                _same(col(Asset.variation_id), item.variation_id),
                # product ids are only unique within a source: demo product 12 is not store product 12
                col(Job.source_kind) == job.source_kind,
                _same(col(Job.connection_id), job.connection_id),
            )
            .order_by(col(Asset.reviewed_at).is_(None), col(Asset.reviewed_at), col(Asset.id))
            .limit(5)
        ).all()
    for asset in candidates:
        if rt.blobs.exists(asset.sha256):  # a pruned blob store may have lost it; the next one will do
            return rt.blobs.get(asset.sha256)
    return None
