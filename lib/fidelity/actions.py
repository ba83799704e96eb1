"""What follows a fidelity check: automatic re-tries of redrawn images, "Regenerate flagged", and the correction
each re-run carries in its prompt (the finding, in words a generator can act on)."""

from __future__ import annotations

import logging
from typing import Any

from sqlmodel import col, select

from lib import jobs
from lib.errors import JobError
from lib.fidelity.records import StoredCheck, check_item, checks_for
from lib.fidelity.verdict import Check, Finding, Verdict
from lib.models import Asset, AssetKind, Job, JobItem, ReviewState

log = logging.getLogger(__name__)

_ASK = {
    Check.NOT_FOUND: "Show exactly the product of the reference photo, not another one.",
    Check.COLOUR: "Keep every colour of the product exactly as in the reference photo.",
    Check.TEXT: "Reproduce the label text exactly as printed in the reference photo.",
    Check.SHAPE: "Keep the product's proportions and outline exactly as in the reference photo; do not stretch it.",
    Check.MISSING: "Show the whole product, with every part of it, as in the reference photo.",
    Check.ADDED: "Add nothing to the product: no logo, text or mark that the reference photo does not have.",
}


def correction(findings: tuple[Finding, ...] | list[Finding]) -> str:
    """The correction added to a re-run's prompt: what to keep, and what went wrong last time."""
    lines = ["Correction: the last image changed the product."]
    for f in findings:
        said = f.message
        if f.check == Check.TEXT and f.data.get("changes"):
            words = ", ".join(f'"{before}"' for before, _ in f.data["changes"])
            said = f"{said} The label must read {words}."
        lines.append(f"{_ASK[f.check]} ({said})")
    return " ".join(lines)


def _depth(s: Any, item: JobItem) -> int:
    """How many automatic re-tries led to this item (its chain of parents)."""
    n, seen = 0, set()
    while item.parent_item_id is not None and item.parent_item_id not in seen:
        seen.add(item.parent_item_id)
        parent = s.get(JobItem, item.parent_item_id)
        if parent is None:
            break
        n, item = n + 1, parent
    return n


def after_item(rt: Any, *, item_id: int) -> StoredCheck | None:
    """The worker's hook after an item's image is stored: check it, and re-try a redrawn one if the job asks."""
    found = check_item(rt, item_id=item_id)
    if found is None or found.verdict != Verdict.REDRAWN:
        return found
    with rt.db.session() as s:
        item = s.get(JobItem, item_id)
        job = s.get(Job, item.job_id) if item is not None else None
        if item is None or job is None:
            return found
        allowed = int((job.options or {}).get("fidelity_retries", 0))
        if _depth(s, item) >= allowed:
            return found
    jobs.regenerate_item(rt, item_id=item_id, prompt_extra=_extra(job, found))
    log.info("item %s redrawn the product: re-trying with a correction", item_id)
    return found


def _extra(job: Job, found: StoredCheck) -> str:
    return f"{job.prompt_extra} {correction(found.findings)}".strip()[:2000]


def flagged(rt: Any, *, job_id: int) -> list[tuple[int, int, StoredCheck]]:
    """(item id, asset id, check) of the job's latest images the check flagged, still waiting for review."""
    with rt.db.session() as s:
        rows = s.exec(
            select(JobItem.id, Asset.id)
            .join(Asset, col(Asset.item_id) == col(JobItem.id))
            .where(
                JobItem.job_id == job_id,
                Asset.kind == AssetKind.GENERATED,
                Asset.review_state == ReviewState.PENDING,
            )
            .order_by(col(JobItem.id))  # within a budget, the earliest images are made again first
        ).all()
        parents = set(s.exec(select(JobItem.parent_item_id).where(JobItem.job_id == job_id)).all())
    checks = checks_for(rt.db, [a for _, a in rows if a is not None])
    out = []
    for item_id, asset_id in rows:
        c = checks.get(asset_id) if asset_id is not None else None
        if c is not None and c.flagged and item_id not in parents and item_id is not None and asset_id is not None:
            out.append((item_id, asset_id, c))
    return out


def regenerate_flagged(rt: Any, *, job_id: int, max_cost: float | None = None) -> int:
    """Re-run only the flagged images of a job, each with its finding added to the prompt as a correction.
    max_cost (the job's remaining budget): only as many re-runs as the provider's estimate lets fit."""
    with rt.db.session() as s:
        job = s.get(Job, job_id)
    if job is None:
        raise JobError(f"Job {job_id} does not exist.")
    todo = flagged(rt, job_id=job_id)
    if max_cost is not None:
        provider = rt.provider(job.provider)
        each = provider.estimate_cost(job.model, 1, batch=job.mode == "batch")
        if each > 0:
            todo = todo[: max(0, int(max_cost // each))]
    for item_id, _, found in todo:
        jobs.regenerate_item(rt, item_id=item_id, prompt_extra=_extra(job, found))
    return len(todo)
