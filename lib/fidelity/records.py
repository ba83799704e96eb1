"""Stored fidelity checks: the only writer of the FidelityCheck table.

`check_asset` runs the check on a generated asset against the normalised source photo its item was made from
(the bytes the provider received) and stores the report; `pending_assets` lists generated assets not checked
yet, so a worker catches up on any it missed (batch results, a crash between storing and checking).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlmodel import col, select

from lib.errors import AppError
from lib.fidelity.verdict import Finding, Report, Verdict
from lib.models import Asset, AssetKind, FidelityCheck, Job, JobItem, utcnow
from lib.store_jobs import STORE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoredCheck:
    asset_id: int
    verdict: Verdict
    findings: tuple[Finding, ...]
    notes: tuple[str, ...]

    @property
    def summary(self) -> str:
        if not self.findings:
            return " ".join(self.notes) or "Faithful to the product photo."
        return " ".join(f.message for f in self.findings)

    @property
    def flagged(self) -> bool:
        return self.verdict != Verdict.FAITHFUL


def record(db: Any, *, asset_id: int, job_id: int | None, report: Report) -> None:
    with db.transaction() as s:
        row = s.exec(select(FidelityCheck).where(FidelityCheck.asset_id == asset_id)).first()
        if row is None:
            row = FidelityCheck(asset_id=asset_id, job_id=job_id, verdict=report.verdict.value)
        row.verdict = report.verdict.value
        row.findings = [f.to_json() for f in report.findings]
        row.measures = {k: round(float(v), 5) for k, v in report.measures.items()}
        row.notes = list(report.notes)
        row.seconds = round(report.seconds, 4)
        row.checked_at = utcnow()
        s.add(row)


def check_asset(rt: Any, *, asset_id: int) -> StoredCheck | None:
    """Check one generated asset and store the findings (None when its source photo is not known)."""
    with rt.db.session() as s:
        asset = s.get(Asset, asset_id)
        item = s.get(JobItem, asset.item_id) if asset is not None and asset.item_id is not None else None
    if asset is None or item is None or not item.source_sha:
        return None
    from lib.fidelity.check import check  # noqa: PLC0415  (OpenCV loads only where images are checked)

    try:
        report = check(rt.blobs.get(item.source_sha), rt.blobs.get(asset.sha256))
    except AppError as exc:  # an unreadable photo or image: say so on the card (stored, so no sweep repeats it)
        log.warning("fidelity check of asset %s failed: %s", asset_id, exc.message)
        report = Report(Verdict.CHECK, (), {}, (f"The fidelity check could not run: {exc.message}",))
    record(rt.db, asset_id=asset_id, job_id=asset.job_id, report=report)
    return StoredCheck(asset_id, report.verdict, report.findings, report.notes)


def check_item(rt: Any, *, item_id: int) -> StoredCheck | None:
    """Check the result of a finished item (the worker calls this right after storing it)."""
    with rt.db.session() as s:
        item = s.get(JobItem, item_id)
    if item is None or item.result_asset_id is None:
        return None
    return check_asset(rt, asset_id=item.result_asset_id)


def pending_assets(db: Any, limit: int = 20) -> list[int]:
    """Generated assets of generation jobs not checked yet, oldest first (a store job's items — publishing,
    rollback, export — make no image and are never checked)."""
    with db.session() as s:
        done = select(FidelityCheck.asset_id)
        q = (
            select(Asset.id)
            .join(JobItem, col(JobItem.id) == col(Asset.item_id))
            .join(Job, col(Job.id) == col(JobItem.job_id))
            .where(
                Asset.kind == AssetKind.GENERATED,
                col(JobItem.source_sha).is_not(None),
                col(Job.provider) != STORE,
                col(Asset.id).not_in(done),
            )
            .order_by(col(Asset.id))
            .limit(limit)
        )
        return [int(i) for i in s.exec(q).all() if i is not None]


def checks_for(db: Any, asset_ids: list[int]) -> dict[int, StoredCheck]:
    if not asset_ids:
        return {}
    with db.session() as s:
        rows = s.exec(select(FidelityCheck).where(col(FidelityCheck.asset_id).in_(asset_ids))).all()
    return {
        r.asset_id: StoredCheck(
            r.asset_id, Verdict(r.verdict), tuple(Finding.from_json(f) for f in r.findings), tuple(r.notes)
        )
        for r in rows
    }


def redrawn_assets(db: Any, *, job_id: int) -> list[int]:
    """Asset ids of a job's images the check calls redrawn."""
    with db.session() as s:
        rows = s.exec(
            select(FidelityCheck.asset_id).where(
                FidelityCheck.job_id == job_id, FidelityCheck.verdict == Verdict.REDRAWN
            )
        ).all()
    return [int(a) for a in rows]
