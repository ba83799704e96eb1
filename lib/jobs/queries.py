"""Read-only queries over the job log: what pages, the CLI, the progress fragment and the worker need."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import case, func, or_
from sqlmodel import Session, col, select

from lib.db import Database
from lib.errors import JobError
from lib.fidelity.verdict import Verdict
from lib.models import (
    TERMINAL_ITEM,
    TERMINAL_JOB,
    Asset,
    AssetKind,
    Event,
    FidelityCheck,
    ItemMode,
    ItemStatus,
    Job,
    JobItem,
    JobStatus,
    Publication,
    PublicationState,
    ReviewState,
    Stage,
    utcnow,
)

OPEN_JOB = (JobStatus.QUEUED, JobStatus.RUNNING)


def get_job(db: Database, job_id: int) -> Job:
    with db.session() as s:
        job = s.get(Job, job_id)
    if job is None:
        raise JobError(f"Job {job_id} does not exist.")
    return job


def unfinished_store_job(s: Session, source_job_id: int) -> Job | None:
    """The store job (publish, rollback, export) still queued or running on `source_job_id`, if any. Store jobs
    name the job they work on in their options; few are unfinished at any time, so they are read and matched here."""
    unfinished = s.exec(
        select(Job).where(
            Job.provider == "store", col(Job.finished_at).is_(None), col(Job.status).not_in(list(TERMINAL_JOB))
        )
    ).all()
    return next((j for j in unfinished if (j.options or {}).get("source_job_id") == source_job_id), None)


def store_job_in_flight(db: Database, source_job_id: int) -> Job | None:
    with db.session() as s:
        return unfinished_store_job(s, source_job_id)


def latest_job_id(db: Database) -> int | None:
    with db.session() as s:
        return s.exec(select(func.max(Job.id))).one()


def list_jobs(
    db: Database,
    page: int = 1,
    per_page: int = 20,
    status: str | None = None,
    source_kind: str | None = None,
    exclude_provider: str | None = None,
) -> tuple[list[Job], int]:
    """Jobs newest first, one page at a time, and how many match in all (`exclude_provider="store"`: only jobs
    that make images, as the Gallery lists them)."""
    page = max(1, page)
    with db.session() as s:
        query = select(Job)
        count = select(func.count()).select_from(Job)
        if exclude_provider:
            query = query.where(Job.provider != exclude_provider)
            count = count.where(Job.provider != exclude_provider)
        if status:
            query = query.where(Job.status == status)
            count = count.where(Job.status == status)
        if source_kind:
            query = query.where(Job.source_kind == source_kind)
            count = count.where(Job.source_kind == source_kind)
        total = s.exec(count).one()
        rows = s.exec(query.order_by(col(Job.id).desc()).offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), int(total)


def job_items(db: Database, job_id: int, *, offset: int = 0, limit: int | None = None) -> list[JobItem]:
    """The job's items in order; `offset`/`limit` read one page of them (a job may hold 100,000)."""
    query = select(JobItem).where(JobItem.job_id == job_id).order_by(col(JobItem.id)).offset(offset)
    with db.session() as s:
        return list(s.exec(query if limit is None else query.limit(limit)).all())


def job_events(db: Database, job_id: int, limit: int = 500) -> list[Event]:
    """The job's newest events first."""
    with db.session() as s:
        return list(
            s.exec(select(Event).where(Event.job_id == job_id).order_by(col(Event.id).desc()).limit(limit)).all()
        )


@dataclass
class JobProgress:
    job_id: int
    status: str
    total: int
    counts: dict[str, int]
    finished: int
    fraction: float
    stage: str
    eta_seconds: float | None
    errors: list[str] = field(default_factory=list)
    cost: float = 0.0

    @property
    def done(self) -> bool:
        return self.total > 0 and self.finished == self.total

    @property
    def label(self) -> str:
        return f"{self.finished}/{self.total} · {self.stage}"


def job_progress(db: Database, job_id: int) -> JobProgress:
    """Everything the live progress fragment shows, in two small queries."""
    job = get_job(db, job_id)
    with db.session() as s:
        rows = s.exec(
            select(JobItem.status, JobItem.stage, func.count())
            .where(JobItem.job_id == job_id)
            .group_by(col(JobItem.status), col(JobItem.stage))
        ).all()
        errors = s.exec(  # ix_item_job_errors holds only the items with an error: no walk over the whole job
            select(JobItem.error_message)
            .where(JobItem.job_id == job_id, col(JobItem.error_message).is_not(None))
            .order_by(col(JobItem.id).desc())
            .limit(10)
        ).all()
    counts: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    for status, stage, n in rows:
        counts[status] += n
        if status == ItemStatus.RUNNING and stage:
            stages[stage] += n
    total = sum(counts.values())
    finished = sum(counts[s] for s in TERMINAL_ITEM)
    if stages:
        stage = stages.most_common(1)[0][0]
    elif counts[ItemStatus.RUNNING]:
        stage = "starting"
    elif finished == total and total:
        stage = str(job.status)
    else:
        stage = "queued" if job.status != "paused" else "paused"
    eta = None
    if job.started_at and 0 < finished < total:
        elapsed = (utcnow() - job.started_at).total_seconds()
        eta = elapsed / finished * (total - finished)
    return JobProgress(
        job_id=job_id,
        status=str(job.status),
        total=total,
        counts={str(k): v for k, v in counts.items()},
        finished=finished,
        fraction=finished / total if total else 0.0,
        stage=stage,
        eta_seconds=eta,
        errors=list(dict.fromkeys(e for e in errors if e)),
        cost=float(job.actual_cost),  # the sum of its items' costs, kept by every transition that changes one
    )


def _as_date(value: Any) -> date:
    """SQLite's date() answers 'YYYY-MM-DD'; PostgreSQL's a date."""
    return date.fromisoformat(value) if isinstance(value, str) else value


@dataclass
class Totals:
    images: int
    success_rate: float | None
    median_latency_ms: float | None
    cost: float
    per_day: list[tuple[date, int, float]]


def totals(db: Database, days: int = 30) -> Totals:
    """Totals over all jobs, and images and cost per day (last `days` days with activity)."""
    with db.session() as s:
        counts = dict(
            s.exec(
                select(JobItem.status, func.count())
                .where(col(JobItem.status).in_([ItemStatus.SUCCEEDED, ItemStatus.FAILED]))
                .group_by(JobItem.status)
            ).all()
        )
        cost = s.exec(select(func.coalesce(func.sum(JobItem.cost), 0.0))).one()
        latencies = s.exec(
            select(JobItem.latency_ms)
            .where(JobItem.status == ItemStatus.SUCCEEDED, col(JobItem.latency_ms).is_not(None))
            .order_by(col(JobItem.id).desc())
            .limit(5000)
        ).all()
        day = func.date(JobItem.finished_at).label("day")  # one date function in SQLite and PostgreSQL alike
        per_day = s.exec(
            select(day, func.count(), func.coalesce(func.sum(JobItem.cost), 0.0))
            .where(JobItem.status == ItemStatus.SUCCEEDED, col(JobItem.finished_at).is_not(None))
            .group_by(day)
            .order_by(day.desc())
            .limit(days)
        ).all()
    succeeded, failed = counts.get(ItemStatus.SUCCEEDED, 0), counts.get(ItemStatus.FAILED, 0)
    # Counted in SQL: the Jobs page's first view no longer reads tens of thousands of rows to bucket them by day.
    series = sorted((_as_date(d), int(n), round(float(c), 4)) for d, n, c in per_day)
    return Totals(
        images=succeeded,
        success_rate=succeeded / (succeeded + failed) if succeeded + failed else None,
        median_latency_ms=statistics.median(lat) if (lat := [x for x in latencies if x is not None]) else None,
        cost=float(cost),
        per_day=series,
    )


@dataclass
class GalleryEntry:
    """One product (or variation) of a job: its source photo and the images made for it."""

    product_id: str
    variation_id: str | None
    product: dict[str, Any]
    source_sha: str | None
    items: list[JobItem]
    assets: list[Asset]

    @property
    def name(self) -> str:
        name = str(self.product.get("name", self.product_id))
        if self.variation_id:
            for v in self.product.get("variations", ()):
                if str(v.get("id")) == self.variation_id:
                    return f"{name} — {v.get('name', self.variation_id)}"
        return name


def gallery(db: Database, job_id: int, review_state: str | None = None) -> list[GalleryEntry]:
    """Products of a job in order, each with its items and generated assets (filtered by review state): the whole
    job, for the CLI and tests; the Gallery page reads one page at a time (`gallery_page`)."""
    with db.session() as s:
        items = s.exec(select(JobItem).where(JobItem.job_id == job_id).order_by(col(JobItem.id))).all()
        query = select(Asset).where(Asset.job_id == job_id, Asset.kind == AssetKind.GENERATED)
        if review_state:
            query = query.where(Asset.review_state == review_state)
        assets = s.exec(query.order_by(col(Asset.id))).all()
    entries = _entries(items, assets)
    if review_state:
        return [e for e in entries if e.assets]
    return entries


def _entries(items: Any, assets: Any) -> list[GalleryEntry]:
    """Items grouped by product and variation in order of their first item, each with its assets."""
    by_item: dict[int | None, list[Asset]] = {}
    for a in assets:
        by_item.setdefault(a.item_id, []).append(a)
    entries: dict[tuple[str, str | None], GalleryEntry] = {}
    for item in items:
        key = (item.product_id, item.variation_id)
        entry = entries.get(key)
        if entry is None:
            entry = entries[key] = GalleryEntry(item.product_id, item.variation_id, item.product, None, [], [])
        entry.items.append(item)
        entry.source_sha = entry.source_sha or item.source_sha
        entry.assets.extend(by_item.get(item.id, []))
    return list(entries.values())


FLAGGED = "flagged"  # the Gallery's filter: images the fidelity check flagged that nobody has reviewed yet


def _shown_assets(review_state: str | None) -> Any:
    """The condition on a job's generated Asset rows (joined with their FidelityCheck) that a Gallery filter shows:
    a review state, or `FLAGGED`; None or "all" shows every one."""
    generated = col(Asset.kind) == AssetKind.GENERATED
    if not review_state or review_state == "all":
        return generated
    if review_state == FLAGGED:
        return generated & (col(Asset.review_state) == ReviewState.PENDING)
    return generated & (col(Asset.review_state) == review_state)


def _products(job_id: int, review_state: str | None) -> Any:
    """(product id, variation id, first item id) of a job's products in order of their first item; with a filter,
    only the products holding an image it shows (one grouped query, so a page of them is an offset and a limit)."""
    first = func.min(JobItem.id).label("first")
    query = select(JobItem.product_id, JobItem.variation_id, first).where(JobItem.job_id == job_id)
    if review_state and review_state != "all":
        # The items whose image the filter shows, read from the job's images (ix_asset_job_review), once; the
        # grouping then reads only ix_item_job_product, and a product keeps its place (its first item of all).
        shown = select(Asset.item_id).where(col(Asset.job_id) == job_id, _shown_assets(review_state))
        if review_state == FLAGGED:
            shown = shown.join(FidelityCheck, col(FidelityCheck.asset_id) == col(Asset.id)).where(
                col(FidelityCheck.verdict) != Verdict.FAITHFUL
            )
        query = query.having(func.max(case((col(JobItem.id).in_(shown), 1), else_=0)) == 1)
    return query.group_by(col(JobItem.product_id), col(JobItem.variation_id))


def gallery_page(
    db: Database, job_id: int, *, review_state: str | None = None, offset: int = 0, limit: int = 8
) -> tuple[list[GalleryEntry], int]:
    """One page of a job's Gallery, and how many products the filter shows in all: the products in order (each with
    all its items, and its generated images the filter shows: a review state, or `FLAGGED`), read with an offset and
    a limit, so a 100,000-item job costs what a page of it holds."""
    products = _products(job_id, review_state).subquery()
    with db.session() as s:
        # The count rides on the page's rows (a window over the grouped products): one pass over the job, not two.
        rows = s.exec(
            select(products.c.product_id, products.c.variation_id, func.count().over())
            .order_by(products.c.first)
            .offset(max(0, offset))
            .limit(limit)
        ).all()
        if not rows:  # past the end (or nothing shown): count apart
            return [], int(s.exec(select(func.count()).select_from(products)).one())
        total = int(rows[0][2])
        keys = [(p, v) for p, v, _ in rows]
        wanted = {(p, v) for p, v in keys}
        items = [
            i
            for i in s.exec(
                select(JobItem)
                .where(JobItem.job_id == job_id, col(JobItem.product_id).in_({p for p, _ in keys}))
                .order_by(col(JobItem.id))
            ).all()
            if (i.product_id, i.variation_id) in wanted
        ]
        query = select(Asset).where(col(Asset.item_id).in_([i.id for i in items]), _shown_assets(review_state))
        if review_state == FLAGGED:
            query = query.join(FidelityCheck, col(FidelityCheck.asset_id) == col(Asset.id)).where(
                col(FidelityCheck.verdict) != Verdict.FAITHFUL
            )
        assets = s.exec(query.order_by(col(Asset.id))).all()
    return _entries(items, assets), total


@dataclass(frozen=True)
class GalleryCounts:
    """What the Gallery counts over a whole job, in aggregate queries."""

    products: int
    images: dict[str, int]  # generated images by review state
    flagged_waiting: int  # images the fidelity check flagged that nobody has reviewed yet
    approved_variations: bool  # an approved image belongs to a variation (the "variation" role applies)
    published_images: int  # images of the job live in a store
    published_products: int  # store products they are on


def gallery_counts(db: Database, job_id: int) -> GalleryCounts:
    generated = (col(Asset.job_id) == job_id) & (col(Asset.kind) == AssetKind.GENERATED)
    with db.session() as s:
        products = s.exec(select(func.count()).select_from(_products(job_id, None).subquery())).one()
        images = s.exec(select(Asset.review_state, func.count()).where(generated).group_by(col(Asset.review_state)))
        flagged = s.exec(
            select(func.count())
            .select_from(FidelityCheck)
            .join(Asset, col(Asset.id) == col(FidelityCheck.asset_id))
            .where(
                FidelityCheck.job_id == job_id,
                col(FidelityCheck.verdict) != Verdict.FAITHFUL,
                generated,
                col(Asset.review_state) == ReviewState.PENDING,
            )
        ).one()
        variation = s.exec(
            select(Asset.id)
            .where(generated, Asset.review_state == ReviewState.APPROVED, col(Asset.variation_id).is_not(None))
            .limit(1)
        ).first()
        published = s.exec(
            select(
                func.count(func.distinct(Publication.asset_id)), func.count(func.distinct(Publication.product_id))
            ).where(Publication.job_id == job_id, Publication.state == PublicationState.DONE)
        ).one()
    return GalleryCounts(
        products=int(products),
        images={str(state): int(n) for state, n in images.all()},
        flagged_waiting=int(flagged),
        approved_variations=variation is not None,
        published_images=int(published[0]),
        published_products=int(published[1]),
    )


def live_publications(db: Database, job_id: int, *, product_ids: list[str], asset_ids: list[int]) -> list[Publication]:
    """A job's live publications on these products or of these images (a page of the Gallery)."""
    if not product_ids and not asset_ids:
        return []
    with db.session() as s:
        return list(
            s.exec(
                select(Publication)
                .where(Publication.job_id == job_id, Publication.state == PublicationState.DONE)
                .where(col(Publication.product_id).in_(product_ids) | col(Publication.asset_id).in_(asset_ids))
                .order_by(col(Publication.id))
            ).all()
        )


def _approved(job_id: int) -> tuple[Any, ...]:
    """Where a job's approved generated images are (what is published, zipped or exported)."""
    return (Asset.job_id == job_id, Asset.kind == AssetKind.GENERATED, Asset.review_state == ReviewState.APPROVED)


def approved_ids(db: Database, job_id: int) -> list[int]:
    with db.session() as s:
        ids = s.exec(select(Asset.id).where(*_approved(job_id)).order_by(col(Asset.id))).all()
        return [int(i) for i in ids if i is not None]


def approved_assets(db: Database, job_id: int) -> list[Asset]:
    with db.session() as s:
        return list(s.exec(select(Asset).where(*_approved(job_id)).order_by(col(Asset.id))).all())


# The worker's reads ------------------------------------------------------------------------------------


def pending_items(db: Database, *, job_id: int | None = None) -> int:
    """Items that still need work: queued or running, in jobs that are neither paused nor cancelled
    (of one job when `job_id` is given)."""
    query = (
        select(func.count())
        .select_from(JobItem)
        .join(Job, col(Job.id) == col(JobItem.job_id))
        .where(col(JobItem.status).in_([ItemStatus.QUEUED, ItemStatus.RUNNING]))
        .where(col(Job.status).in_(OPEN_JOB))
    )
    if job_id is not None:
        query = query.where(col(JobItem.job_id) == job_id)
    with db.session() as s:
        return int(s.exec(query).one())


def latest_result(db: Database, fingerprint: str) -> Asset | None:
    """The newest generated asset made by an identical request."""
    with db.session() as s:
        return s.exec(
            select(Asset)
            .where(Asset.fingerprint == fingerprint, Asset.kind == AssetKind.GENERATED)
            .order_by(col(Asset.id).desc())
        ).first()


def _same(column: Any, value: object) -> Any:
    return column.is_(None) if value is None else column == value


def approved_for_product(db: Database, job: Job, item: JobItem, limit: int = 5) -> list[Asset]:
    """Approved generated images of the item's product and variation, from any job on the same source, earliest
    review first (then id)."""
    with db.session() as s:
        return list(
            s.exec(
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
                .limit(limit)
            ).all()
        )


def has_batch_work(db: Database) -> bool:
    """Batch items to submit or follow, or cancelled ones still in a batch: read on every worker poll, so two
    lookups in ix_item_mode_status that stop at the first row, whatever the size of the online queue or of
    finished batch jobs. Items in a batch stage are batch items (only queued ones are ever routed online)."""
    batch = col(JobItem.mode) == ItemMode.BATCH
    open_item = select(JobItem.id).where(batch, col(JobItem.status).in_([ItemStatus.QUEUED, ItemStatus.RUNNING]))
    cancelled_in_batch = select(JobItem.id).where(
        batch,
        col(JobItem.status) == ItemStatus.CANCELLED,
        col(JobItem.stage).in_([Stage.BATCH_SUBMITTED, Stage.BATCH_RUNNING]),
    )
    with db.session() as s:
        return bool(s.exec(select(or_(open_item.exists(), cancelled_in_batch.exists()))).one())


def open_batch_jobs(db: Database, *, provider: str | None = None, exclude_provider: str | None = None) -> list[int]:
    """Open batch jobs with items waiting for a batch (of one provider, or of all but one)."""
    query = (
        select(Job.id)
        .join(JobItem, col(JobItem.job_id) == col(Job.id))
        .where(
            col(Job.status).in_(OPEN_JOB),
            col(JobItem.status) == ItemStatus.QUEUED,
            col(JobItem.mode) == ItemMode.BATCH,
        )
        .distinct()
    )
    if provider is not None:
        query = query.where(col(Job.provider) == provider)
    if exclude_provider is not None:
        query = query.where(col(Job.provider) != exclude_provider)
    with db.session() as s:
        return [int(i) for i in s.exec(query).all() if i is not None]


def batches_due(db: Database, now: datetime) -> list[tuple[str, int]]:
    """(batch name, job id) of batches with running items whose next poll is due."""
    with db.session() as s:
        rows = s.exec(
            select(JobItem.batch_name, JobItem.job_id)
            .distinct()
            .where(
                JobItem.status == ItemStatus.RUNNING,
                col(JobItem.batch_name).is_not(None),
                col(JobItem.next_attempt_at) <= now,
            )
        ).all()
    return [(str(name), int(job_id)) for name, job_id in rows]


def batch_items(db: Database, batch_name: str) -> list[JobItem]:
    """The running items of a batch."""
    with db.session() as s:
        return list(
            s.exec(
                select(JobItem)
                .where(JobItem.batch_name == batch_name, JobItem.status == ItemStatus.RUNNING)
                .order_by(col(JobItem.id))
            ).all()
        )


def cancelled_batches(db: Database) -> list[tuple[str, int]]:
    """(batch name, job id) of batches that cancelled items still wait on."""
    with db.session() as s:
        rows = s.exec(
            select(JobItem.batch_name, JobItem.job_id)
            .distinct()
            .where(
                JobItem.status == ItemStatus.CANCELLED,
                col(JobItem.batch_name).is_not(None),
                col(JobItem.stage).in_([Stage.BATCH_SUBMITTED, Stage.BATCH_RUNNING]),
            )
        ).all()
    return [(str(name), int(job_id)) for name, job_id in rows]


def stalled_submissions(db: Database, now: datetime) -> dict[str, tuple[int, list[int]]]:
    """token -> (job id, item ids) of batch submissions whose lease expired before the batch's name was recorded."""
    with db.session() as s:
        rows = s.exec(
            select(JobItem.id, JobItem.job_id, JobItem.batch_token).where(
                JobItem.status == ItemStatus.RUNNING,
                col(JobItem.batch_token).is_not(None),
                col(JobItem.batch_name).is_(None),
                col(JobItem.lease_expires_at) < now,
            )
        ).all()
    groups: dict[str, tuple[int, list[int]]] = {}
    for item_id, job_id, token in rows:
        if item_id is not None:
            groups.setdefault(str(token), (job_id, []))[1].append(item_id)
    return groups


def waiting_for_batch(db: Database, job_id: int) -> bool:
    with db.session() as s:
        row = s.exec(
            select(JobItem.id).where(
                JobItem.job_id == job_id, JobItem.status == ItemStatus.QUEUED, JobItem.mode == ItemMode.BATCH
            )
        ).first()
    return row is not None


def pending_alt_texts(db: Database, limit: int) -> list[tuple[Asset, JobItem]]:
    """Generated images whose alt text the text model still owes, most tries left first."""
    with db.session() as s:
        rows = s.exec(
            select(Asset, JobItem)
            .join(JobItem, col(JobItem.id) == col(Asset.item_id))
            .where(col(Asset.alt_tries_left) > 0, Asset.kind == AssetKind.GENERATED)
            .order_by(col(Asset.alt_tries_left).desc(), col(Asset.id))
            .limit(limit)
        ).all()
    return [(a, i) for a, i in rows]


def pending_alt_text_count(db: Database) -> int:
    with db.session() as s:
        return int(s.exec(select(func.count()).select_from(Asset).where(col(Asset.alt_tries_left) > 0)).one())
