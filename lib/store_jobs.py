"""Publishing, rollback and export as jobs the worker runs, like generation: durable, resumed after a crash, with a
stage, progress, an ETA and cancel.

On a real store a hundred images take minutes; done in the page, a closed tab or a rerun stopped them midway. Here
the page (or the CLI) shows the plan, queues a job and follows it; a worker (embedded in the app or
`python -m lib.worker`) does the work.

A store job is a Job whose `provider` is "store" (no image provider makes anything) and whose `model` says what it
does: publish | rollback | export. Its parameters are in `Job.options`. Items:
  publish   one per store product, holding that product's approved images in order (each builds on the image list
            the previous one left, so they never run side by side); stages upload → update
  rollback  one per product, holding its publications (newest first is lib.publish's business)
  export    one per image (Drive)
Each item runs the same idempotent steps as before (lib.publish's snapshot → upload once → set → verify, the
export's find-before-create), so an item taken over after a crash neither loses nor repeats work: the bench kills a
publish job ten times mid-way (bench/publish.py). A store error that may pass (5xx, timeout, 429) goes back to the
queue with back-off; one that will not (a conflict, a refused image) fails the item with its sentence.
One store job per job at a time (lib.jobs.create_store_job refuses a second one while the first is unfinished).
Images left out when the job was queued (no SKU, a product image asked to be a variation's, a second main image)
are kept in `Job.options["skipped"]`, one sentence each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from lib import jobs, publish
from lib.errors import InputError, PublishConflict, PublishError
from lib.models import Event, ItemStatus, Job, JobItem, Publication, PublicationState

if TYPE_CHECKING:
    from lib.runtime import Runtime

STORE = jobs.transitions.STORE_PROVIDER  # Job.provider of store jobs


class Work(StrEnum):
    PUBLISH = "publish"
    ROLLBACK = "rollback"
    EXPORT = "export"


def is_store_job(job: Job) -> bool:
    return job.provider == STORE


# Queueing ---------------------------------------------------------------------------------------------------


def queue_publish(
    rt: Runtime,
    *,
    job_id: int,
    role: str,
    keep_old_featured: bool = True,
    asset_ids: list[int] | None = None,
    item_ids: list[int] | None = None,
    store_kind: str | None = None,
    connection_id: int | None = None,
) -> Job:
    """A job that publishes `job_id`'s approved images (or some of them). Resolves them first (so a SKU that
    matches nothing, or nothing fitting the role, is said now, in one sentence); changes nothing at the store."""
    source = jobs.get_job(rt.db, job_id)
    jobs.check_store_job_free(rt.db, job_id)
    ids = asset_ids or publish.job_asset_ids(rt, job_id, item_ids)
    groups, skipped = publish.resolve_groups(
        rt, ids, role, store_kind=store_kind, connection_id=connection_id, keep_old_featured=keep_old_featured
    )
    if not groups:
        raise InputError("Nothing was published. " + " ".join(skipped))
    options = {
        "source_job_id": job_id,
        "role": role,
        "keep_old_featured": keep_old_featured,
        "store_kind": store_kind,
        "connection_id": connection_id,
        "skipped": skipped,
    }
    items = [
        jobs.StoreItem(
            product_id=g.product_id, variation_id=g.variation_id, payload={"asset_ids": g.asset_ids, "label": g.label}
        )
        for g in groups
    ]
    return jobs.create_store_job(
        rt.db, work=Work.PUBLISH, source=source, options=options, items=items, connection_id=connection_id
    )


def queue_rollback(rt: Runtime, *, job_id: int, product_ids: list[str] | None = None, force: bool = False) -> Job:
    """A job that puts back the image lists `job_id` changed (or those of some products)."""
    source = jobs.get_job(rt.db, job_id)
    jobs.check_store_job_free(rt.db, job_id)
    pubs = publish.rollback_scope(rt, job_id=job_id, product_ids=product_ids)
    if not pubs:
        raise InputError(f"Job {job_id} has nothing published to roll back.")
    labels = publish.publication_labels(rt.db, pubs)
    by_product: dict[str, list[Publication]] = {}
    for pub in pubs:
        by_product.setdefault(pub.product_id, []).append(pub)
    items = [
        jobs.StoreItem(
            product_id=pid,
            payload={"publication_ids": [p.id for p in group], "label": labels.get(group[-1].id or 0, pid)},
        )
        for pid, group in by_product.items()
    ]
    options = {"source_job_id": job_id, "force": force, "product_ids": product_ids}
    return jobs.create_store_job(rt.db, work=Work.ROLLBACK, source=source, options=options, items=items)


def queue_export(rt: Runtime, *, job_id: int, folder_id: str | None = None, connection_id: int | None = None) -> Job:
    """A job that saves `job_id`'s approved images to Google Drive, one item per image."""
    from lib.export import approved_images

    jobs.check_store_job_free(rt.db, job_id)
    source, assets, _ = approved_images(rt, job_id)
    if not folder_id and source.source_kind != "drive":
        raise InputError("These photos did not come from Drive: choose the Drive folder to export them to.")
    if not assets:
        raise InputError(f"Job {job_id} has no approved images to export. Approve some first.")
    items = [
        jobs.StoreItem(product_id=a.product_id or "", variation_id=a.variation_id, payload={"asset_id": a.id})
        for a in assets
    ]
    options = {"source_job_id": job_id, "folder_id": folder_id, "connection_id": connection_id}
    return jobs.create_store_job(rt.db, work=Work.EXPORT, source=source, options=options, items=items)


# Running one item (the worker calls this) -------------------------------------------------------------------


def run_item(
    rt: Runtime, job: Job, item: JobItem, *, stage: Callable[[str], Any], cancelled: Callable[[], bool]
) -> str:
    """Do one item's work. Returns a one-line result; raises an AppError (retryable or not) otherwise. `stage`
    records the stage; `cancelled()` says the item is no longer ours (the job was cancelled, or it was taken
    over): no further image is started."""
    o = job.options
    payload = item.product
    if job.model == Work.PUBLISH:
        stage("snapshot")
        outcome = publish.publish_images(
            rt,
            list(payload["asset_ids"]),
            o["role"],
            keep_old_featured=bool(o.get("keep_old_featured", True)),
            store_kind=o.get("store_kind"),
            connection_id=o.get("connection_id"),
            concurrency=1,
            on_stage=stage,
            cancelled=cancelled,
        )
        failed = outcome.failed
        if failed:
            errors = [outcome.errors.get(p.id or 0) for p in failed]
            first = next((e for e in errors if e is not None), None)
            error = PublishError(
                f"{payload.get('label', '')}: {failed[0].error}", detail=first.detail if first is not None else None
            )
            error.retryable = bool(first is not None and first.retryable)
            raise error
        return f"published {len(outcome.publications)} image(s) to {payload.get('label', item.product_id)}"
    if job.model == Work.ROLLBACK:
        stage("rollback")
        report = publish.rollback(
            rt, publication_ids=list(payload["publication_ids"]), force=bool(o.get("force", False))
        )
        if report.conflicts:
            raise PublishConflict(" ".join(sentence for _, sentence in report.conflicts))
        return f"rolled back {payload.get('label', item.product_id)}"
    if job.model == Work.EXPORT:
        from lib.export import export_approved

        stage("upload")
        [result] = export_approved(
            rt,
            int(o["source_job_id"]),
            folder_id=o.get("folder_id"),
            connection_id=o.get("connection_id"),
            asset_ids=[int(payload["asset_id"])],
        )
        return f"{'exported' if result.created else 'already in Drive'}: {result.name}"
    raise InputError(f"Job {job.id} asks for store work this version does not know ({job.model!r}).")


# Following a job -------------------------------------------------------------------------------------------


@dataclass
class StoreJobReport:
    """What a store job did, for the CLI and the page: its publications (publish), what was left out when it was
    queued, and each failed item's sentence."""

    job: Job
    publications: list[Publication] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.job.finished_at is not None or self.job.status in ("succeeded", "failed", "finished", "cancelled")


def report(rt: Runtime, job_id: int) -> StoreJobReport:
    job = jobs.get_job(rt.db, job_id)
    items = jobs.job_items(rt.db, job_id)
    out = StoreJobReport(job, skipped=list(job.options.get("skipped") or []))
    out.failures = [i.error_message or "" for i in items if i.status == ItemStatus.FAILED]
    if job.model == Work.PUBLISH:
        asset_ids = [a for i in items for a in i.product.get("asset_ids", [])]
        with rt.db.session() as s:
            rows = s.exec(
                select(Publication)
                .where(col(Publication.asset_id).in_(asset_ids), Publication.state != PublicationState.ROLLED_BACK)
                .order_by(col(Publication.id).desc())
            ).all()
        latest: dict[int, Publication] = {}
        for row in rows:
            latest.setdefault(row.asset_id, row)
        out.publications = [latest[a] for a in asset_ids if a in latest]
    out.results = _results(rt, job_id, [i.id for i in items if i.status == ItemStatus.SUCCEEDED and i.id is not None])
    return out


def _results(rt: Runtime, job_id: int, item_ids: list[int]) -> list[str]:
    """Each succeeded item's one-line result (what `run_item` returned), as its last transition recorded it."""
    prefix = "succeeded: "
    with rt.db.session() as s:
        rows = s.exec(
            select(Event.item_id, Event.message)
            .where(Event.job_id == job_id, col(Event.item_id).in_(item_ids), col(Event.message).startswith(prefix))
            .order_by(col(Event.id))
        ).all()
    last = {item_id: message.removeprefix(prefix) for item_id, message in rows}
    return [last[i] for i in item_ids if i in last]
