"""The only writer of `Job` and `JobItem` (and of an asset's review state and alt text): every change of job state
is one function here, one committed transaction, and an Event.

State-changing functions take the database (or the runtime) first and everything else by keyword. Worker-side
transitions check the lease owner: a worker whose lease expired, and whose item another worker took over, cannot
overwrite the newer outcome (owner None = the batch runner, which holds no per-item lease while Gemini works).
The fault semantics these transitions implement are written down in lib/jobs/__init__.py.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, func, or_, update
from sqlmodel import Session, col, select

from lib import events
from lib.auth import budgets
from lib.db import Database
from lib.errors import AppError, InputError, JobError
from lib.generation import prompts
from lib.generation.base import GeneratedImage
from lib.jobs.queries import unfinished_store_job
from lib.jobs.spec import JobSpec, Selection, estimate_cost, model_for, validate_spec
from lib.models import (
    TERMINAL_ITEM,
    TERMINAL_JOB,
    Asset,
    AssetKind,
    Event,
    ItemMode,
    ItemStatus,
    Job,
    JobItem,
    JobStatus,
    ReviewState,
    Stage,
    utcnow,
)
from lib.sources.base import Product

if TYPE_CHECKING:
    from lib.runtime import Runtime

ALT_TEXT_TRIES = 3  # asks of the text model per image after the first; then the template stays
OPEN_JOB = (JobStatus.QUEUED, JobStatus.RUNNING)

STORE_PROVIDER = "store"  # Job.provider of store jobs (lib/store_jobs.py names it STORE)


# Creation -----------------------------------------------------------------------------------


def create_job(rt: Runtime, *, spec: JobSpec, selections: list[Selection]) -> Job:
    """Queue a job: one item per selected product (or variation) × variant."""
    validate_spec(rt, spec)
    if not selections:
        raise InputError("Select at least one product.")
    model = model_for(spec)
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
                        mode=ItemMode.BATCH if spec.mode == "batch" else ItemMode.ONLINE,
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


def cancel_job(db: Database, *, job_id: int) -> int:
    """Cancel a job: queued and running items become cancelled. Returns how many items were cancelled.
    A result that arrives afterwards is still stored, as an asset of its cancelled item (see `complete_item`)."""
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


def cancel_item(db: Database, *, item_id: int) -> None:
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


def pause_job(db: Database, *, job_id: int, reason: str) -> None:
    with db.transaction() as s:
        job = _job_or_raise(s, job_id)
        if job.status in TERMINAL_JOB:
            return
        job.status = JobStatus.PAUSED
        job.error = reason
        s.add(job)
        events.record(s, "transition", f"job paused: {reason}", job_id=job_id)


def resume_job(db: Database, *, job_id: int) -> int:
    """Resume a paused or a cancelled job. A cancelled job's items that got their result after the cancel become
    succeeded (already paid for); the other cancelled items are queued again. Returns how many items were queued."""
    with db.transaction() as s:
        job = _job_or_raise(s, job_id)
        if job.status not in (JobStatus.PAUSED, JobStatus.CANCELLED):
            raise JobError(f"Job {job_id} is neither paused nor cancelled.")
        queued = 0
        if job.status == JobStatus.CANCELLED:
            cancelled = col(JobItem.job_id) == job_id, col(JobItem.status) == ItemStatus.CANCELLED
            s.exec(
                update(JobItem)
                .where(*cancelled, col(JobItem.result_asset_id).is_not(None))
                .values(status=ItemStatus.SUCCEEDED, lease_owner=None, lease_expires_at=None)
            )
            result = s.exec(
                update(JobItem)
                .where(*cancelled)
                .values(
                    status=ItemStatus.QUEUED,
                    stage=None,
                    lease_owner=None,
                    lease_expires_at=None,
                    batch_token=None,
                    batch_name=None,
                    next_attempt_at=utcnow(),
                    finished_at=None,
                )
            )
            queued = int(result.rowcount or 0)
            job.finished_at = None
        job.status = JobStatus.RUNNING if job.started_at else JobStatus.QUEUED
        job.error = None
        s.add(job)
        events.record(s, "transition", "job resumed", job_id=job_id, data={"queued": queued})
        _refresh_job(s, job_id)
        return queued


def retry_failed(db: Database, *, job_id: int) -> int:
    """Put failed items back in the queue with a fresh attempt (and crash) budget. Returns how many."""
    with db.transaction() as s:
        job = _job_or_raise(s, job_id)
        if job.status == JobStatus.CANCELLED:
            raise JobError("This job was cancelled; resume it first.")
        result = s.exec(
            update(JobItem)
            .where(col(JobItem.job_id) == job_id, col(JobItem.status) == ItemStatus.FAILED)
            .values(
                status=ItemStatus.QUEUED,
                attempts=0,
                crashes=0,
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


def regenerate_item(rt: Runtime, *, item_id: int, prompt_extra: str | None = None) -> JobItem:
    """A new item in the same job for the same product and variant, bypassing the result cache."""
    with rt.db.transaction() as s:
        old = s.get(JobItem, item_id)
        if old is None:
            raise JobError(f"Item {item_id} does not exist.")
        job = _job_or_raise(s, old.job_id)
        if job.status == JobStatus.CANCELLED:
            raise JobError("This job was cancelled; resume it first.")
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
            mode=ItemMode.BATCH if job.mode == "batch" else ItemMode.ONLINE,
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


# Review and alt text ----------------------------------------------------------------------------


def set_review(db: Database, *, asset_ids: list[int], state: str) -> int:
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


def approve_all(db: Database, *, job_id: int, skip: Collection[int] = ()) -> int:
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


def set_alt_text(db: Database, *, asset_id: int, text: str) -> None:
    """A person's alt text: it always wins over the text model's (the pending mark is cleared)."""
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


def write_model_alt_text(db: Database, *, asset_id: int, text: str | None) -> bool | None:
    """The text model's answer for a pending alt text: written only while the mark is still set (a person's edit
    clears it). No text spends one try. True written, None someone wrote their own meanwhile, False no answer."""
    still_pending = col(Asset.id) == asset_id, col(Asset.alt_tries_left) > 0
    with db.transaction() as s:
        if text:
            done = s.exec(update(Asset).where(*still_pending).values(alt_text=text, alt_tries_left=0))
            return True if done.rowcount else None
        s.exec(update(Asset).where(*still_pending).values(alt_tries_left=col(Asset.alt_tries_left) - 1))
        return False


# Claims and leases -----------------------------------------------------------------------------


def claim_items(
    db: Database,
    *,
    owner: str,
    limit: int,
    lease_seconds: float,
    max_crashes: int = 10,
    now: datetime | None = None,
    providers: set[str] | None = None,
    per_provider: dict[str, int] | None = None,
    job_ids: set[int] | None = None,
) -> list[JobItem]:
    """Atomically lease up to `limit` runnable online items: queued and due, or running with an expired lease
    (another worker's; its worker died). Only of jobs that are neither paused nor cancelled; only of `job_ids`
    when given; at most `per_provider[name]` items of a provider named there (the runner's CPU-bound slots), in the
    same transaction. A takeover counts a crash, not an attempt; an item that has stopped `max_crashes` workers fails
    here instead (a poison item must not take down every worker in turn). Takeovers come after queued items, fewest
    crashes first.

    On SQLite the IMMEDIATE transaction serialises claimers; elsewhere rows are locked with FOR UPDATE SKIP LOCKED
    so several machines can claim at once."""
    if limit <= 0:
        return []
    now = now or utcnow()
    with db.transaction() as s:
        runnable = or_(
            (col(JobItem.status) == ItemStatus.QUEUED) & (col(JobItem.next_attempt_at) <= now),
            (col(JobItem.status) == ItemStatus.RUNNING)
            & (col(JobItem.lease_expires_at) < now)
            & (col(JobItem.lease_owner) != owner),  # our own: its outcome is still being written
        )
        # Ids first, then only the chosen rows: with a capped provider up to 256 candidates are read, and loading
        # each as an item (its product's JSON and all) cost more CPU than the claim's own work.
        query = (
            select(JobItem.id, Job.provider)
            .join(Job, col(Job.id) == col(JobItem.job_id))
            .where(runnable, col(JobItem.mode) == ItemMode.ONLINE)
            .where(col(Job.status).in_(OPEN_JOB))
            # Fresh work first, then items that have seen fewer crashes: a dead worker's items wait behind healthy
            # ones, so a storm of kills (or a poison item) does not hit the same items at the head of the queue on
            # every restart.
            .order_by(
                case((col(JobItem.status) == ItemStatus.RUNNING, 1), else_=0),
                col(JobItem.crashes),
                col(JobItem.next_attempt_at),
                col(JobItem.id),
            )
            .limit(limit if not per_provider else min(256, limit * 4))  # room to skip a capped provider's items
        )
        if providers is not None:
            query = query.where(col(Job.provider).in_(sorted(providers)))
        if job_ids is not None:
            query = query.where(col(JobItem.job_id).in_(sorted(job_ids)))
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=JobItem)
        caps = dict(per_provider or {})
        chosen: list[int | None] = []
        store_items: set[int | None] = set()
        for item_id, provider in s.exec(query).all():
            if len(chosen) >= limit:
                break
            if provider in caps:
                if caps[provider] <= 0:
                    continue
                caps[provider] -= 1
            chosen.append(item_id)
            if provider == STORE_PROVIDER:
                store_items.add(item_id)
        loaded = {i.id: i for i in s.exec(select(JobItem).where(col(JobItem.id).in_(chosen))).all()} if chosen else {}
        items = [loaded[i] for i in chosen]
        expires = now + timedelta(seconds=lease_seconds)
        claimed: list[JobItem] = []
        for item in items:
            taken_over = item.status == ItemStatus.RUNNING
            if taken_over:
                item.crashes += 1  # the lost attempt is not spent: it did not end in an error
                if item.crashes >= max_crashes:
                    _fail(s, item, _poison(item.crashes), now=now)
                    continue
            else:
                item.attempts += 1
            item.status = ItemStatus.RUNNING
            item.lease_owner = owner
            item.lease_expires_at = expires
            item.started_at = item.started_at or now
            # An image item starts at its first stage here, saving the pipeline a transaction; a store job's item
            # names its own first step (lib/store_jobs.py).
            item.stage = None if item.id in store_items else Stage.FETCH
            s.add(item)
            events.record(
                s,
                "transition",
                "taken over after lease expiry" if taken_over else "claimed",
                job_id=item.job_id,
                item_id=item.id,
                data={"owner": owner, "attempt": item.attempts, "crashes": item.crashes},
            )
            if item.stage is not None:
                events.record(s, "transition", f"stage {item.stage}", job_id=item.job_id, item_id=item.id)
            claimed.append(item)
        for job_id in {i.job_id for i in claimed}:
            job = s.get(Job, job_id)
            if job is not None and job.status == JobStatus.QUEUED:
                job.status = JobStatus.RUNNING
                job.started_at = job.started_at or now
                s.add(job)
                events.record(s, "transition", "job running", job_id=job_id, data={"owner": owner})
        for job_id in {i.job_id for i in items} - {i.job_id for i in claimed}:
            _refresh_job(s, job_id)
        return claimed


def _poison(crashes: int) -> AppError:
    return JobError(
        f"This item was under way when its worker stopped {crashes} times (a crash or a kill), so it was set "
        "aside to keep the other items going. Retry it once the cause is found."
    )


def heartbeat(db: Database, *, owner: str, item_ids: list[int], lease_seconds: float) -> None:
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
    """The item if it is still running under this owner's lease (owner None = the batch runner)."""
    item = s.get(JobItem, item_id)
    if item is None or item.status != ItemStatus.RUNNING:
        return None
    if owner is not None and item.lease_owner != owner:
        return None
    return item


def set_stage(db: Database, *, item_id: int, owner: str | None, stage: str) -> bool:
    with db.transaction() as s:
        item = _owned(s, item_id, owner)
        if item is None:
            return False
        item.stage = stage
        s.add(item)
        events.record(s, "transition", f"stage {stage}", job_id=item.job_id, item_id=item_id)
        return True


def release_items(db: Database, *, owner: str) -> int:
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


# Outbound calls ------------------------------------------------------------------------------------


def begin_call(
    db: Database,
    *,
    item_id: int,
    owner: str,
    service: str,
    method: str,
    estimated_cost: float,
    message: str,
) -> int | None:
    """The item enters stage `generate` and its outbound provider call is recorded before it is sent: a request
    event ("sent") and the estimated cost on the item (so the job's cost has it). A call cut off by a crash stays in
    the request log and in the cost. Returns the event's id, for `finish_call`; None if the lease was lost (send
    nothing). One transaction: each write is a turn of the job log's single write lock. A call that could pass the
    job's share of the budget raises BudgetReached first (lib.auth.budgets.check_share), and nothing is written."""
    with db.transaction() as s:
        item = _owned(s, item_id, owner)
        if item is None:
            return None
        budgets.check_share(s, item.job_id, estimate=estimated_cost)
        item.stage = Stage.GENERATE
        before = item.cost
        item.cost = round(item.cost + estimated_cost, 6)
        s.add(item)
        events.record(s, "transition", f"stage {Stage.GENERATE}", job_id=item.job_id, item_id=item_id)
        event = events.record(
            s,
            "request",
            message,
            job_id=item.job_id,
            item_id=item_id,
            service=service,
            method=method,
            data={"state": "sent", "estimated_cost": estimated_cost},
        )
        if estimated_cost:
            _refresh_job(s, item.job_id, cost_delta=item.cost - before)
        s.flush()
        assert event.id is not None
        return event.id


@dataclass(frozen=True)
class CallOutcome:
    """What a call's request event says once the answer came."""

    message: str
    duration_ms: float
    status_code: int | None = None
    request_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)


def finish_call(
    db: Database,
    *,
    event_id: int,
    cost: float,
    outcome: CallOutcome | None,
    owner: str | None = None,
    next_stage: str | None = None,
) -> bool:
    """Complete a call `begin_call` recorded: its outcome on the same event (None: the provider already wrote it),
    the event marked done with what the call cost, and the item's cost corrected from the estimate to that (0 for an
    error answer, which is not charged). With `next_stage`, the item enters it if still leased to `owner`; returns
    whether it did (False: cancelled or taken over meanwhile)."""
    with db.transaction() as s:
        event = s.get(Event, event_id)
        if event is None:
            return False
        estimated = float(event.data.get("estimated_cost") or 0.0)  # "cost" may be the provider's already
        if outcome is not None:
            events.complete(
                s,
                event_id,
                outcome.message,
                duration_ms=outcome.duration_ms,
                status_code=outcome.status_code,
                request_id=outcome.request_id,
                data=outcome.data,
            )
        event.data = {**event.data, "state": "done", "cost": cost}
        s.add(event)
        item = s.get(JobItem, event.item_id) if event.item_id is not None and cost != estimated else None
        if item is not None:
            before = item.cost
            item.cost = round(max(0.0, item.cost + cost - estimated), 6)
            s.add(item)
            _refresh_job(s, item.job_id, cost_delta=item.cost - before)
        if next_stage is None or event.item_id is None:
            return True
        leased = _owned(s, event.item_id, owner)
        if leased is None:
            return False
        leased.stage = next_stage
        s.add(leased)
        events.record(s, "transition", f"stage {next_stage}", job_id=leased.job_id, item_id=leased.id)
        return True


# Outcomes --------------------------------------------------------------------------------------------


def _refresh_job(s: Session, job_id: int, *, cost_delta: float = 0.0) -> None:
    """Bring a job's actual cost and status up to date after a change to its items, in bounded work (a job of
    100,000 items refreshes after each of them): the cost moves by the change's `cost_delta` (every change of an
    item's cost is a transition here, in the same transaction), the status by whether any item is still open (an
    index lookup); the items are counted by state only once, when none is open."""
    # Lock the job row first: on PostgreSQL (READ COMMITTED) two workers finishing the last two items would each
    # see the other's item as still running, and the job would never finish; and two deltas must not both start
    # from the same old cost. SQLite's writes are serial anyway.
    job = s.exec(
        select(Job).where(Job.id == job_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if job is None:
        return
    if cost_delta:
        job.actual_cost = round(job.actual_cost + cost_delta, 6)
    s.add(job)
    if job.status in (JobStatus.CANCELLED, JobStatus.PAUSED):
        return
    s.flush()
    still_open = s.exec(
        select(JobItem.id)
        .where(col(JobItem.job_id) == job_id, col(JobItem.status).in_([ItemStatus.QUEUED, ItemStatus.RUNNING]))
        .limit(1)
    ).first()
    if still_open is not None:
        return
    counts = dict(
        s.exec(
            select(JobItem.status, func.count())
            .where(col(JobItem.job_id) == job_id, col(JobItem.status).in_([ItemStatus.SUCCEEDED, ItemStatus.FAILED]))
            .group_by(JobItem.status)
        ).all()
    )
    succeeded, failed = counts.get(ItemStatus.SUCCEEDED, 0), counts.get(ItemStatus.FAILED, 0)
    if failed == 0:
        job.status = JobStatus.SUCCEEDED if succeeded else JobStatus.CANCELLED
    else:
        job.status = JobStatus.FINISHED if succeeded else JobStatus.FAILED
    job.finished_at = utcnow()
    events.record(s, "transition", f"job {job.status}", job_id=job_id, data={"succeeded": succeeded, "failed": failed})
    s.add(job)


def _template_alt(item: JobItem) -> str:
    product = Product.from_dict(item.product)
    style = item.product.get("style") or ""
    return prompts.alt_text(prompts.product_info(product, item.variation_id), style)


@dataclass(frozen=True)
class StoreItem:
    """One item of a store job (lib/store_jobs.py): the product it touches and what to do there."""

    product_id: str
    payload: dict[str, Any]
    variation_id: str | None = None


# What a store job does, in words ("Job 12 already has a publishing job (job #13) queued or running.")
STORE_WORK = {"publish": "a publishing job", "rollback": "a rollback", "export": "an export to Drive"}


def _refuse_second_store_job(s: Session, source_job_id: int) -> None:
    busy = unfinished_store_job(s, source_job_id)
    if busy is not None:
        raise JobError(
            f"Job {source_job_id} already has {STORE_WORK.get(str(busy.model), 'a store job')} (job #{busy.id}) "
            "queued or running. Wait for it to finish, or cancel it, before starting another."
        )


def check_store_job_free(db: Database, source_job_id: int) -> None:
    """Refuse early (before a plan reads the store) when a store job on `source_job_id` is unfinished;
    `create_store_job` checks again where it counts."""
    with db.session() as s:
        _refuse_second_store_job(s, source_job_id)


def create_store_job(
    db: Database,
    *,
    work: str,
    source: Job,
    options: dict[str, Any],
    items: list[StoreItem],
    connection_id: int | None = None,
) -> Job:
    """Queue a store job (publish, rollback or export of `source`'s images): provider "store", model = the work.

    One at a time per job: each publish builds on the image lists the last one left and a rollback restores them,
    so a second one queued beside an unfinished one would race it. Checked inside the write transaction (SQLite
    takes its write lock at BEGIN), so two tabs confirming at once cannot both pass."""
    with db.transaction() as s:
        _refuse_second_store_job(s, source.id or 0)
        job = Job(
            source_kind=source.source_kind,
            connection_id=connection_id if connection_id is not None else source.connection_id,
            provider=STORE_PROVIDER,
            model=work,
            style=source.style,
            options=dict(options),
            item_count=len(items),
        )
        s.add(job)
        s.flush()
        assert job.id is not None
        for it in items:
            s.add(JobItem(job_id=job.id, product_id=it.product_id, variation_id=it.variation_id, product=it.payload))
        events.record(s, "transition", f"{work} job created: {len(items)} items", job_id=job.id, data=options)
        return job


def complete_store_item(db: Database, *, item_id: int, owner: str | None, result: str, latency_ms: float) -> bool:
    """A store job's item done; False if the lease was lost meanwhile."""
    with db.transaction() as s:
        item = _owned(s, item_id, owner)
        if item is None:
            return False
        item.status = ItemStatus.SUCCEEDED
        item.stage = None
        item.lease_owner = None
        item.lease_expires_at = None
        item.latency_ms = latency_ms
        item.error_kind = item.error_message = None
        item.finished_at = utcnow()
        s.add(item)
        events.record(s, "transition", f"succeeded: {result}", job_id=item.job_id, item_id=item_id)
        _refresh_job(s, item.job_id)
        return True


def complete_item(
    db: Database,
    *,
    item_id: int,
    owner: str | None,
    sha: str,
    image: GeneratedImage,
    fingerprint: str,
    source_sha: str | None,
    latency_ms: float | None,
    alt_text: str | None = None,
    alt_pending: bool = False,
    reused: bool = False,
    cost: float | None = None,
) -> Asset | None:
    """Mark the item succeeded with the image already in the blob store (`sha`). Returns the asset, or the one it
    already has (or None) if the lease was lost.

    A result for an item cancelled meanwhile is kept as an asset of the cancelled item: it was paid for, and
    resuming the job then counts it as done. `cost`: what the item has cost in all, for a call not recorded by
    begin_call/finish_call (a batch); None (online, reused) leaves the cost as those calls recorded it, so a call cut
    off by a crash before a free reuse stays charged."""
    with db.transaction() as s:
        item = _owned(s, item_id, owner)
        if item is None:
            late = s.get(JobItem, item_id)
            existing = s.exec(select(Asset).where(Asset.item_id == item_id, Asset.kind == AssetKind.GENERATED)).first()
            if late is not None and late.status == ItemStatus.CANCELLED and existing is None and not reused:
                asset = _new_asset(s, late, sha=sha, image=image, fingerprint=fingerprint, alt_text=alt_text)
                asset.alt_tries_left = ALT_TEXT_TRIES if alt_pending else 0
                late.result_asset_id = asset.id
                late.fingerprint = fingerprint
                late.source_sha = source_sha or late.source_sha
                late.lease_owner = None
                late.lease_expires_at = None
                late.stage = None
                before = late.cost
                if cost is not None:
                    late.cost = cost
                s.add(late)
                events.record(
                    s,
                    "info",
                    "result arrived after the cancel: kept with the cancelled item",
                    job_id=late.job_id,
                    item_id=item_id,
                    data={"sha256": sha, "cost": late.cost},
                )
                _refresh_job(s, late.job_id, cost_delta=late.cost - before)
                return asset
            events.record(
                s,
                "info",
                "result discarded: item no longer leased by this worker",
                item_id=item_id,
                data={"owner": owner},
            )
            return existing
        asset = _new_asset(s, item, sha=sha, image=image, fingerprint=fingerprint, alt_text=alt_text)
        asset.alt_tries_left = ALT_TEXT_TRIES if alt_pending else 0
        item.status = ItemStatus.SUCCEEDED
        item.stage = None
        item.lease_owner = None
        item.lease_expires_at = None
        item.fingerprint = fingerprint
        item.source_sha = source_sha or item.source_sha
        item.result_asset_id = asset.id
        item.latency_ms = latency_ms
        before = item.cost
        if cost is not None:
            item.cost = cost
        item.error_kind = None
        item.error_message = None
        item.finished_at = utcnow()
        s.add(item)
        events.record(
            s,
            "transition",
            "succeeded (reused an identical earlier result)" if reused else "succeeded",
            job_id=item.job_id,
            item_id=item_id,
            data={"sha256": sha, "cost": item.cost, "latency_ms": latency_ms},
        )
        _refresh_job(s, item.job_id, cost_delta=item.cost - before)
        return asset


def _new_asset(
    s: Session, item: JobItem, *, sha: str, image: GeneratedImage, fingerprint: str, alt_text: str | None
) -> Asset:
    asset = Asset(
        sha256=sha,
        kind=AssetKind.GENERATED,
        mime=image.mime,
        size_bytes=len(image.data),
        width=image.width,
        height=image.height,
        job_id=item.job_id,
        item_id=item.id,
        product_id=item.product_id,
        variation_id=item.variation_id,
        alt_text=alt_text or _template_alt(item),
        fingerprint=fingerprint,
    )
    s.add(asset)
    s.flush()
    return asset


def requeue_item(
    db: Database,
    *,
    item_id: int,
    owner: str | None,
    error: AppError,
    delay_seconds: float,
    count_attempt: bool = True,
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
        item.batch_token = None
        item.batch_name = None
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


def fail_item(db: Database, *, item_id: int, owner: str | None, error: AppError) -> None:
    with db.transaction() as s:
        item = _owned(s, item_id, owner)
        if item is None:
            return
        _fail(s, item, error, now=utcnow())
        _refresh_job(s, item.job_id)


def _fail(s: Session, item: JobItem, error: AppError, *, now: datetime) -> None:
    item.status = ItemStatus.FAILED
    item.stage = None
    item.lease_owner = None
    item.lease_expires_at = None
    item.error_kind = error.kind
    item.error_message = error.message
    item.finished_at = now
    s.add(item)
    events.record(
        s,
        "error",
        f"failed: {error.message}",
        job_id=item.job_id,
        item_id=item.id,
        data={"kind": error.kind, "detail": error.detail, "attempt": item.attempts, "crashes": item.crashes},
    )


# Batch mode (lib/worker/batch.py) ----------------------------------------------------------------------


def route_online(db: Database, *, item_ids: Iterable[int], reason: str, job_id: int | None = None) -> int:
    """Running batch items back to the queue as online items (made one by one at the online price)."""
    ids = list(item_ids)
    if not ids:
        return 0
    with db.transaction() as s:
        result = s.exec(
            update(JobItem)
            .where(col(JobItem.id).in_(ids), col(JobItem.status) == ItemStatus.RUNNING)
            .values(
                status=ItemStatus.QUEUED,
                stage=None,
                mode=ItemMode.ONLINE,
                batch_token=None,
                batch_name=None,
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
                data={"items": ids[:200]},
            )
        return n


def route_queued_online(db: Database, *, job_ids: list[int]) -> int:
    """Queued batch items of these jobs go online (their provider has no batch API)."""
    if not job_ids:
        return 0
    with db.transaction() as s:
        result = s.exec(
            update(JobItem)
            .where(
                col(JobItem.job_id).in_(job_ids),
                col(JobItem.status) == ItemStatus.QUEUED,
                col(JobItem.mode) == ItemMode.BATCH,
            )
            .values(mode=ItemMode.ONLINE)
        )
        return int(result.rowcount or 0)


def back_to_batch_queue(
    db: Database,
    *,
    item_ids: Iterable[int],
    delay: float,
    reason: str,
    job_id: int | None = None,
    token: str | None = None,
) -> int:
    """Running batch items back to the batch queue (submitted again later); the attempt is not counted. With
    `token`, only items still marked with it."""
    ids = list(item_ids)
    if not ids:
        return 0
    with db.transaction() as s:
        query = update(JobItem).where(col(JobItem.id).in_(ids), col(JobItem.status) == ItemStatus.RUNNING)
        if token is not None:
            query = query.where(col(JobItem.batch_token) == token)
        result = s.exec(
            query.values(
                status=ItemStatus.QUEUED,
                stage=None,
                batch_token=None,
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


def claim_for_batch(
    db: Database, *, job_id: int, owner: str, token: str, lease_seconds: float, limit: int, now: datetime
) -> list[JobItem]:
    """Lease up to `limit` queued, due batch items of an open job for one submission, marked with `token`."""
    with db.transaction() as s:
        job = s.get(Job, job_id)
        if job is None or job.status not in OPEN_JOB:
            return []
        waiting = (
            col(JobItem.job_id) == job_id,
            col(JobItem.status) == ItemStatus.QUEUED,
            col(JobItem.mode) == ItemMode.BATCH,
        )
        ids = list(
            s.exec(
                select(JobItem.id)
                .where(*waiting, col(JobItem.next_attempt_at) <= now)
                .order_by(col(JobItem.id))
                .limit(limit)
            ).all()
        )
        if not ids:
            return []
        s.exec(
            update(JobItem)
            .where(col(JobItem.id).in_(ids), *waiting)
            .values(
                status=ItemStatus.RUNNING,
                stage=None,
                batch_token=token,
                batch_name=None,
                lease_owner=owner,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=JobItem.attempts + 1,
                started_at=now,
            )
        )
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.RUNNING
            job.started_at = job.started_at or now
            s.add(job)
        s.flush()
        return list(s.exec(select(JobItem).where(JobItem.batch_token == token, JobItem.job_id == job_id)).all())


def mark_batch_items(
    db: Database,
    *,
    marks: list[tuple[int, str, str]],
    old_token: str,
    token: str,
    batch_name: str | None = None,
    first_poll: datetime | None = None,
    message: str = "",
    job_id: int | None = None,
) -> int:
    """For still-running items marked `old_token`: the new token, each item's request (item id, fingerprint, source
    sha) and, once Gemini has the batch, its name (the lease is then dropped; the batch is polled from
    `first_poll`). Returns how many were still running."""
    marked = 0
    with db.transaction() as s:
        for item_id, fingerprint, source_sha in marks:
            item = s.get(JobItem, item_id)
            if item is None or item.status != ItemStatus.RUNNING or item.batch_token != old_token:
                continue
            item.batch_token = token
            item.fingerprint = fingerprint
            item.source_sha = source_sha
            if batch_name:
                item.batch_name = batch_name
                item.stage = Stage.BATCH_SUBMITTED
                item.lease_owner = None
                item.lease_expires_at = None
                item.next_attempt_at = first_poll or utcnow()
            s.add(item)
            marked += 1
        if message:
            events.record(s, "transition", message, job_id=job_id, data={"items": marked})
    return marked


def extend_batch_lease(db: Database, *, item_ids: list[int], token: str, until: datetime) -> None:
    """No answer to a batch create: the batch may exist. Recovery looks it up by its token after `until`."""
    with db.transaction() as s:
        s.exec(
            update(JobItem)
            .where(col(JobItem.id).in_(item_ids), col(JobItem.batch_token) == token)
            .values(lease_expires_at=until)
        )


def adopt_batch(
    db: Database, *, item_ids: list[int], token: str, batch_name: str, stage: str, now: datetime, job_id: int
) -> int:
    """Items whose submission was cut off before the batch's name was recorded follow the batch found for them."""
    with db.transaction() as s:
        result = s.exec(
            update(JobItem)
            .where(col(JobItem.id).in_(item_ids), col(JobItem.batch_token) == token)
            .values(batch_name=batch_name, stage=stage, lease_owner=None, lease_expires_at=None, next_attempt_at=now)
        )
        n = int(result.rowcount or 0)
        events.record(
            s, "transition", f"found batch {batch_name} created before a restart; {n} items follow it", job_id=job_id
        )
        return n


def claim_batch_poll(db: Database, *, batch_name: str, now: datetime, hold_seconds: float) -> bool:
    """Hold a batch for one poller (another process skips it until `hold_seconds` from now)."""
    with db.transaction() as s:
        result = s.exec(
            update(JobItem)
            .where(
                col(JobItem.batch_name) == batch_name,
                col(JobItem.status) == ItemStatus.RUNNING,
                col(JobItem.next_attempt_at) <= now,
            )
            .values(next_attempt_at=now + timedelta(seconds=hold_seconds))
        )
        return bool(result.rowcount)


def set_batch_poll(
    db: Database, *, batch_name: str, when: datetime, stage: str | None = None, job_id: int | None = None
) -> int:
    """When a batch is polled next, and the stage its running items are at. Returns how many changed stage."""
    with db.transaction() as s:
        values: dict[str, Any] = {"next_attempt_at": when}
        query = update(JobItem).where(col(JobItem.batch_name) == batch_name, col(JobItem.status) == ItemStatus.RUNNING)
        changed = 0
        if stage is not None:
            changed = int(s.exec(query.where(col(JobItem.stage) != stage).values(stage=stage, **values)).rowcount or 0)
            if changed:
                events.record(
                    s,
                    "transition",
                    f"{batch_name}: {changed} items now {stage}",
                    job_id=job_id,
                    data={"stage": str(stage), "items": changed},
                )
        s.exec(query.values(**values))
        return changed


def settle_cancelled_batch(db: Database, *, batch_name: str, job_id: int, cancelled_at_gemini: bool) -> int:
    """Cancelled items of a batch no longer wait on it (their stage is cleared)."""
    with db.transaction() as s:
        result = s.exec(
            update(JobItem)
            .where(col(JobItem.batch_name) == batch_name, col(JobItem.status) == ItemStatus.CANCELLED)
            .values(stage=None)
        )
        if cancelled_at_gemini:
            events.record(s, "transition", f"batch {batch_name} cancelled at Gemini", job_id=job_id)
        return int(result.rowcount or 0)
