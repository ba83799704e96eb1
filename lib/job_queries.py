"""Read-only queries over the job log that pages, the CLI and the progress fragment need."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from lib.db import Database
from lib.errors import JobError
from lib.models import TERMINAL_ITEM, Asset, AssetKind, Event, ItemStatus, Job, JobItem, ReviewState, utcnow


def get_job(db: Database, job_id: int) -> Job:
    with db.session() as s:
        job = s.get(Job, job_id)
    if job is None:
        raise JobError(f"Job {job_id} does not exist.")
    return job


def latest_job_id(db: Database) -> int | None:
    with db.session() as s:
        return s.exec(select(func.max(Job.id))).one()


def list_jobs(
    db: Database, page: int = 1, per_page: int = 20, status: str | None = None, source_kind: str | None = None
) -> tuple[list[Job], int]:
    """Jobs newest first, one page at a time, and how many match in all."""
    page = max(1, page)
    with db.session() as s:
        query = select(Job)
        count = select(func.count()).select_from(Job)
        if status:
            query = query.where(Job.status == status)
            count = count.where(Job.status == status)
        if source_kind:
            query = query.where(Job.source_kind == source_kind)
            count = count.where(Job.source_kind == source_kind)
        total = s.exec(count).one()
        rows = s.exec(query.order_by(col(Job.id).desc()).offset((page - 1) * per_page).limit(per_page)).all()
    return list(rows), int(total)


def job_items(db: Database, job_id: int) -> list[JobItem]:
    with db.session() as s:
        return list(s.exec(select(JobItem).where(JobItem.job_id == job_id).order_by(col(JobItem.id))).all())


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
            .group_by(JobItem.status, JobItem.stage)
        ).all()
        errors = s.exec(
            select(JobItem.error_message)
            .where(JobItem.job_id == job_id, col(JobItem.error_message).is_not(None))
            .order_by(col(JobItem.id).desc())
            .limit(10)
        ).all()
        cost = s.exec(select(func.coalesce(func.sum(JobItem.cost), 0.0)).where(JobItem.job_id == job_id)).one()
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
        cost=float(cost),
    )


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
        finished = s.exec(
            select(JobItem.finished_at, JobItem.cost)
            .where(JobItem.status == ItemStatus.SUCCEEDED, col(JobItem.finished_at).is_not(None))
            .order_by(col(JobItem.finished_at).desc())
            .limit(50_000)
        ).all()
    succeeded, failed = counts.get(ItemStatus.SUCCEEDED, 0), counts.get(ItemStatus.FAILED, 0)
    per_day: dict[date, list[float]] = {}
    for finished_at, item_cost in finished:
        bucket = per_day.setdefault(finished_at.date(), [0, 0.0])
        bucket[0] += 1
        bucket[1] += item_cost or 0.0
    series = sorted((d, int(v[0]), round(v[1], 4)) for d, v in per_day.items())[-days:]
    return Totals(
        images=succeeded,
        success_rate=succeeded / (succeeded + failed) if succeeded + failed else None,
        median_latency_ms=statistics.median(latencies) if latencies else None,
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
    """Products of a job in order, each with its items and generated assets (filtered by review state)."""
    with db.session() as s:
        items = s.exec(select(JobItem).where(JobItem.job_id == job_id).order_by(col(JobItem.id))).all()
        query = select(Asset).where(Asset.job_id == job_id, Asset.kind == AssetKind.GENERATED)
        if review_state:
            query = query.where(Asset.review_state == review_state)
        assets = s.exec(query.order_by(col(Asset.id))).all()
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
    if review_state:
        return [e for e in entries.values() if e.assets]
    return list(entries.values())


def approved_assets(db: Database, job_id: int) -> list[Asset]:
    with db.session() as s:
        return list(
            s.exec(
                select(Asset)
                .where(
                    Asset.job_id == job_id,
                    Asset.kind == AssetKind.GENERATED,
                    Asset.review_state == ReviewState.APPROVED,
                )
                .order_by(col(Asset.id))
            ).all()
        )
