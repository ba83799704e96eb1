"""The state-changing entry points people reach, from a page or the CLI: each one takes the actor, checks the
actor's role (lib.auth.roles.require, a typed refusal with a sentence, before anything changes) and records who
did it in the audit trail (lib.auth.audit). Pages and the CLI call these, never the functions underneath.

tests/test_actions.py walks every one of them (and the admin entry points in lib/auth) with a viewer and expects
the refusal; it fails when a public function that takes an actor is missing from its list.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, TypeVar

from sqlmodel import col, select

from lib import jobs, store_jobs
from lib.auth import audit, budgets
from lib.auth.audit import Action
from lib.auth.roles import Actor, Permission, require
from lib.connectors import registry
from lib.export import ExportResult, export_approved
from lib.fidelity import actions as fidelity_actions
from lib.kinds import Kind
from lib.models import Asset, AssetKind, Connection, Job, JobItem, ReviewState
from lib.runtime import Runtime
from lib.sources import upload

T = TypeVar("T")

# Jobs ---------------------------------------------------------------------------------------------------------


def launch(rt: Runtime, *, actor: Actor, spec: jobs.JobSpec, selections: list[jobs.Selection]) -> Job:
    """Queue a job, unless its estimate would pass a monthly budget (BudgetExceeded says what is left)."""
    require(actor, Permission.LAUNCH)
    estimate = jobs.estimate_cost(rt, spec, len(selections))
    cap = budgets.check_launch(rt.db, actor=actor, estimate=estimate)
    job = jobs.create_job(rt, spec=spec, selections=selections)
    assert job.id is not None
    budgets.record_launch(rt.db, actor=actor, job_id=job.id, cap=cap)
    audit.record_now(
        rt.db,
        actor,
        Action.LAUNCH,
        f"{job.item_count} items, {spec.provider}/{job.model}, estimated {budgets.usd(job.estimated_cost)}",
        job_id=job.id,
        data={"estimate": job.estimated_cost, "share": cap},
    )
    return job


def cancel_job(rt: Runtime, *, actor: Actor, job_id: int) -> int:
    require(actor, Permission.CANCEL)
    n = jobs.cancel_job(rt.db, job_id=job_id)
    audit.record_now(rt.db, actor, Action.CANCEL, f"{n} items cancelled", job_id=job_id)
    return n


def cancel_item(rt: Runtime, *, actor: Actor, item_id: int) -> None:
    require(actor, Permission.CANCEL)
    jobs.cancel_item(rt.db, item_id=item_id)
    audit.record_now(rt.db, actor, Action.CANCEL_ITEM, job_id=_job_of_item(rt, item_id), item_id=item_id)


def retry_failed(rt: Runtime, *, actor: Actor, job_id: int) -> int:
    require(actor, Permission.CANCEL)
    n = jobs.retry_failed(rt.db, job_id=job_id)
    audit.record_now(rt.db, actor, Action.RETRY, f"{n} failed items queued again", job_id=job_id)
    return n


def resume_job(rt: Runtime, *, actor: Actor, job_id: int) -> None:
    """Resume a paused job. One paused by its budget share stays paused until an admin raises the share."""
    require(actor, Permission.CANCEL)
    budgets.check_job_share(rt.db, job_id, resuming=True)
    jobs.resume_job(rt.db, job_id=job_id)
    audit.record_now(rt.db, actor, Action.RESUME, job_id=job_id)


def regenerate_item(rt: Runtime, *, actor: Actor, item_id: int, prompt_extra: str | None = None) -> JobItem:
    require(actor, Permission.REGENERATE)
    item = jobs.regenerate_item(rt, item_id=item_id, prompt_extra=prompt_extra)
    audit.record_now(
        rt.db, actor, Action.REGENERATE, f"item {item_id} made again as item {item.id}", job_id=item.job_id,
        item_id=item.id, product_id=item.product_id, data={"from_item": item_id, "prompt_extra": prompt_extra},
    )  # fmt: skip
    return item


def regenerate_flagged(rt: Runtime, *, actor: Actor, job_id: int, max_cost: float | None = None) -> int:
    """Make a job's images the fidelity check flagged again, each with its finding as a correction (as many as
    `max_cost` allows); recorded as one regenerate entry."""
    require(actor, Permission.REGENERATE)
    n = fidelity_actions.regenerate_flagged(rt, job_id=job_id, max_cost=max_cost)
    if n:
        audit.record_now(
            rt.db, actor, Action.REGENERATE, f"{n} flagged images made again", job_id=job_id, data={"flagged": n}
        )
    return n


# Review ---------------------------------------------------------------------------------------------------------

_REVIEW_ACTION = {
    ReviewState.APPROVED.value: Action.APPROVE,
    ReviewState.REJECTED.value: Action.REJECT,
    ReviewState.PENDING.value: Action.UNREVIEW,
}


def set_review(rt: Runtime, *, actor: Actor, asset_ids: list[int], state: str) -> int:
    require(actor, Permission.REVIEW)
    n = jobs.set_review(rt.db, asset_ids=asset_ids, state=state)
    _record_assets(rt, actor, _REVIEW_ACTION[state], asset_ids)
    return n


def approve_all(rt: Runtime, *, actor: Actor, job_id: int, skip: Collection[int] = ()) -> int:
    """Approve every pending generated image of a job (rejected ones stay rejected; `skip`: asset ids left
    pending, such as images the fidelity check says were redrawn)."""
    require(actor, Permission.REVIEW)
    with rt.db.session() as s:
        pending = s.exec(
            select(Asset.id).where(
                col(Asset.job_id) == job_id,
                col(Asset.kind) == AssetKind.GENERATED,
                col(Asset.review_state) == ReviewState.PENDING,
            )
        ).all()
    skipped = set(skip)
    ids = [int(a) for a in pending if a is not None and a not in skipped]
    n = jobs.set_review(rt.db, asset_ids=ids, state=ReviewState.APPROVED.value)
    _record_assets(rt, actor, Action.APPROVE, ids)
    return n


def set_alt_text(rt: Runtime, *, actor: Actor, asset_id: int, text: str) -> None:
    require(actor, Permission.ALT_TEXT)
    jobs.set_alt_text(rt.db, asset_id=asset_id, text=text)
    _record_assets(rt, actor, Action.ALT_TEXT, [asset_id], data={"alt_text": " ".join(text.split())})


# Products from uploads ------------------------------------------------------------------------------------------


def add_uploads(rt: Runtime, *, actor: Actor, files: list[tuple[str, bytes]]) -> upload.UploadResult:
    require(actor, Permission.LAUNCH)
    result = upload.add_uploads(rt, files)
    audit.record_now(rt.db, actor, Action.UPLOAD, f"{len(files)} files uploaded")
    return result


def rename_upload(rt: Runtime, *, actor: Actor, product_id: str, name: str, sku: str) -> None:
    require(actor, Permission.LAUNCH)
    upload.rename(rt, product_id, name, sku)
    audit.record_now(rt.db, actor, Action.RENAME, product_id=str(product_id), data={"name": name, "sku": sku})


# Publishing -----------------------------------------------------------------------------------------------------


def queue_publish(
    rt: Runtime,
    *,
    actor: Actor,
    job_id: int,
    role: str,
    keep_old_featured: bool = True,
    asset_ids: list[int] | None = None,
    item_ids: list[int] | None = None,
    store_kind: str | None = None,
    connection_id: int | None = None,
) -> Job:
    """Queue a publishing job (lib/store_jobs.py) that the worker runs; it carries who launched it, and the worker
    records each image it publishes in that person's name."""
    require(actor, Permission.PUBLISH)
    queued = store_jobs.queue_publish(
        rt, job_id=job_id, role=role, keep_old_featured=keep_old_featured, asset_ids=asset_ids, item_ids=item_ids,
        store_kind=store_kind, connection_id=connection_id,
    )  # fmt: skip
    _record_store_job(rt, actor, Action.PUBLISH_QUEUED, queued, f"{queued.item_count} products ({role})", job_id)
    return queued


def queue_rollback(
    rt: Runtime, *, actor: Actor, job_id: int, product_ids: list[str] | None = None, force: bool = False
) -> Job:
    """Queue a rollback job; the worker records each product it restores in the launcher's name."""
    require(actor, Permission.ROLLBACK)
    queued = store_jobs.queue_rollback(rt, job_id=job_id, product_ids=product_ids, force=force)
    what = f"{queued.item_count} products" + (" (forced)" if force else "")
    _record_store_job(rt, actor, Action.ROLLBACK_QUEUED, queued, what, job_id)
    return queued


def queue_export(
    rt: Runtime, *, actor: Actor, job_id: int, folder_id: str | None = None, connection_id: int | None = None
) -> Job:
    """Queue an export job (approved images to Google Drive)."""
    require(actor, Permission.EXPORT)
    queued = store_jobs.queue_export(rt, job_id=job_id, folder_id=folder_id, connection_id=connection_id)
    _record_store_job(rt, actor, Action.EXPORT_QUEUED, queued, f"{queued.item_count} images", job_id)
    return queued


def export(
    rt: Runtime, *, actor: Actor, job_id: int, folder_id: str | None = None, connection_id: int | None = None
) -> list[ExportResult]:
    require(actor, Permission.EXPORT)
    results = export_approved(rt, job_id, folder_id=folder_id, connection_id=connection_id)
    with rt.db.transaction() as s:
        for r in results:
            audit.record(
                s, actor, Action.EXPORT, f"{r.name} {'saved' if r.created else 'already there'}", job_id=job_id,
                asset_id=r.asset_id, data={"folder_id": r.folder_id, "file_id": r.file_id},
            )  # fmt: skip
    return results


# Connections ------------------------------------------------------------------------------------------------------


def _connection_permission(kind: str) -> Permission:
    """AI keys (an image provider's connection) need the keys permission; stores and Drive folders, connections."""
    return Permission.KEYS if Kind.parse(kind, "connection kind") in registry.PROVIDERS else Permission.CONNECTIONS


def save_connection(
    rt: Runtime, *, actor: Actor, kind: str, save: Callable[[], Connection], connection_id: int | None = None
) -> Connection:
    """Save a connection with the connector's own `save` (called only once the role allows it)."""
    require(actor, _connection_permission(kind))
    conn = save()
    verb = "changed" if connection_id is not None else "saved"
    audit.record_now(
        rt.db, actor, Action.CONNECTION_CHANGED if connection_id is not None else Action.CONNECTION_ADDED,
        f"{kind} “{conn.name}” {verb}", connection_id=conn.id,
    )  # fmt: skip
    return conn


def check_connection(rt: Runtime, *, actor: Actor, kind: str, connection_id: int | None, check: Callable[[], T]) -> T:
    """Test a connection, saved or typed in (it records the outcome on a saved one, and makes the server calls)."""
    require(actor, _connection_permission(kind))
    return check()


def change_connection(rt: Runtime, *, actor: Actor, connection_id: int, what: str, change: Callable[[], T]) -> T:
    """Change a saved connection's settings with `change` (a Drive folder chosen in the picker), once allowed."""
    from lib.connections import get_connection

    conn = get_connection(rt.db, connection_id)
    require(actor, _connection_permission(conn.kind))
    result = change()
    audit.record_now(rt.db, actor, Action.CONNECTION_CHANGED, f"“{conn.name}”: {what}", connection_id=connection_id)
    return result


def activate_connection(rt: Runtime, *, actor: Actor, connection_id: int) -> None:
    from lib.connections import activate, get_connection

    conn = get_connection(rt.db, connection_id)
    require(actor, _connection_permission(conn.kind))
    activate(rt.db, connection_id)
    audit.record_now(rt.db, actor, Action.CONNECTION_CHANGED, f"“{conn.name}” made active", connection_id=connection_id)


def remove_connection(rt: Runtime, *, actor: Actor, connection_id: int) -> None:
    """Remove a saved connection and its secret (pages ask for confirmation first)."""
    from lib.connections import delete_connection, get_connection

    conn = get_connection(rt.db, connection_id)
    require(actor, _connection_permission(conn.kind))
    delete_connection(rt.db, connection_id)
    if Kind(conn.kind) in registry.PROVIDERS:
        rt.forget_provider(conn.kind)  # the next job does not use the removed key
    audit.record_now(
        rt.db, actor, Action.CONNECTION_REMOVED, f"{conn.kind} “{conn.name}” removed", connection_id=connection_id
    )


# Helpers ----------------------------------------------------------------------------------------------------------


def _job_of_item(rt: Runtime, item_id: int) -> int | None:
    with rt.db.session() as s:
        item = s.get(JobItem, item_id)
        return item.job_id if item is not None else None


def _record_assets(
    rt: Runtime, actor: Actor, action: Action, asset_ids: list[int], data: dict[str, Any] | None = None
) -> None:
    if not asset_ids:
        return
    with rt.db.transaction() as s:
        assets = s.exec(select(Asset).where(col(Asset.id).in_(asset_ids))).all()
        for a in assets:
            audit.record(s, actor, action, job_id=a.job_id, item_id=a.item_id, asset_id=a.id,
                         product_id=a.product_id, data=data)  # fmt: skip


def _record_store_job(rt: Runtime, actor: Actor, action: Action, queued: Job, what: str, source_job_id: int) -> None:
    """A queued store job: who launched it (its JobShare, no budget: a store job costs nothing) and the audit entry,
    on the job it works on and on the store job itself."""
    assert queued.id is not None
    budgets.record_launch(rt.db, actor=actor, job_id=queued.id, cap=None)
    data = {"store_job_id": queued.id, "source_job_id": source_job_id}
    with rt.db.transaction() as s:
        audit.record(s, actor, action, f"{what}: job {queued.id}", job_id=source_job_id, data=data)
        audit.record(s, actor, action, what, job_id=queued.id, data=data)
