"""The Gallery screen: a job's images beside their source photos; review, alt text, regenerate; publish to the
store (directly, or by SKU for Drive jobs), roll back, export to Drive, ZIP download."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import select

from lib import actions, archive, jobs, publish, sku_publish
from lib.auth import audit
from lib.auth.audit import AssetPeople
from lib.auth.roles import Actor, Permission
from lib.connections import active_connection
from lib.errors import AppError
from lib.export import ExportResult
from lib.fidelity import Verdict
from lib.fidelity import records as fidelity_records
from lib.fidelity.records import StoredCheck
from lib.fidelity.zoom import crop as zoom_crop
from lib.generation import direction
from lib.kinds import Kind
from lib.labels import ROLE_LABELS, job_title, kind_label
from lib.models import Asset, ItemStatus, Job, JobItem, Publication, PublicationState, ReviewState
from lib.publish import PublishPlan, RollbackReport
from lib.screens.progress import ProgressView, progress_view
from lib.sku_publish import SkuPublishPlan, StorePublishReport
from lib.sources.drive_connect import export_folder

if TYPE_CHECKING:
    from lib.runtime import Runtime


def gallery_stamp(runtime: Runtime, job_id: int) -> tuple[Any, ...]:
    """Changes whenever the job's gallery would: items added or finished, images added or reviewed, alt texts
    written later by the text model.

    Reading a 2,000-image gallery decodes every item's product snapshot; the page keeps the last read and
    reads again only when this stamp moves (two aggregate queries)."""
    with runtime.db.session() as s:
        items = tuple(
            sorted(
                s.exec(
                    select(JobItem.status, func.count()).where(JobItem.job_id == job_id).group_by(JobItem.status)
                ).all()
            )
        )
        assets = s.exec(
            select(func.count(), func.max(Asset.id), func.max(Asset.reviewed_at), func.sum(Asset.alt_tries_left)).where(
                Asset.job_id == job_id
            )
        ).one()
    return items, tuple(assets)


def page_slice(entries: list[Any], page: int, per_page: int) -> tuple[list[Any], int, int]:
    """The entries of one page, the page actually shown (clamped) and the number of pages."""
    pages = max(1, -(-len(entries) // per_page))
    page = min(max(1, page), pages)
    return entries[(page - 1) * per_page : page * per_page], page, pages


def filter_entries(entries: list[Any], review_state: str | None, flagged: Collection[int] = ()) -> list[Any]:
    """Gallery entries keeping only the images in one review state, or ("flagged") the asset ids the fidelity
    check flagged and nobody reviewed yet (entries without any are left out)."""
    if not review_state or review_state == "all":
        return entries
    out = []
    for entry in entries:
        if review_state == "flagged":
            assets = [a for a in entry.assets if a.id in flagged and a.review_state == ReviewState.PENDING]
        else:
            assets = [a for a in entry.assets if a.review_state == review_state]
        if assets:
            out.append(replace(entry, assets=assets))
    return out


def review_counts(entries: list[Any]) -> Counter[str]:
    counts: Counter[str] = Counter()
    for entry in entries:
        for asset in entry.assets:
            if asset.kind == "generated":
                counts[str(asset.review_state)] += 1
    return counts


def flagged_waiting(entries: list[Any], checks: dict[int, StoredCheck]) -> list[int]:
    """Asset ids of the images the fidelity check flagged that nobody has reviewed yet."""
    return [
        a.id
        for e in entries
        for a in e.assets
        if a.id is not None
        and a.review_state == ReviewState.PENDING
        and (c := checks.get(a.id)) is not None
        and c.flagged
    ]


@dataclass(frozen=True)
class Badge:
    """How a fidelity verdict looks on a card."""

    label: str
    colour: str
    icon: str


VERDICT_BADGES = {
    Verdict.FAITHFUL: Badge(Verdict.FAITHFUL.label, "green", ":material/verified:"),
    Verdict.CHECK: Badge(Verdict.CHECK.label, "orange", ":material/help:"),
    Verdict.REDRAWN: Badge(Verdict.REDRAWN.label, "red", ":material/report:"),
}


@dataclass(frozen=True)
class Store:
    """The store a Drive job publishes to by SKU (its name and id only)."""

    id: int
    name: str


@dataclass
class Publications:
    """A job's live publications, by store product and by image (Drive jobs publish to other product ids)."""

    by_product: dict[str, list[Publication]] = field(default_factory=dict)
    by_asset: dict[int, list[Publication]] = field(default_factory=dict)

    def of(self, product_id: str, asset_ids: list[int]) -> list[Publication]:
        return self.by_product.get(product_id) or [p for a in asset_ids for p in self.by_asset.get(a, [])]


class GalleryScreen:
    REVIEW_FILTERS = ("all", *[s.value for s in ReviewState], "flagged")
    VERDICT_BADGES = VERDICT_BADGES
    ROLE_LABELS = ROLE_LABELS
    ItemStatus = ItemStatus
    ReviewState = ReviewState
    PublicationState = PublicationState
    STUDIO_DIRECTION = f"{direction.CAN} {direction.CANNOT}"  # what the offline engine takes from extra direction

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # Which job

    def job_choices(self, wanted: int | None) -> tuple[dict[int, str], bool]:
        """The 50 latest jobs by id, with their titles, and `wanted` first when it is older; False when `wanted`
        does not exist."""
        recent, _ = jobs.list_jobs(self.runtime.db, page=1, per_page=50)
        found = True
        if wanted is not None and wanted not in [j.id for j in recent]:
            try:
                recent.insert(0, jobs.get_job(self.runtime.db, wanted))
            except AppError:
                found = False
        return {j.id: job_title(j) for j in recent if j.id is not None}, found

    def job(self, job_id: int) -> Job:
        return jobs.get_job(self.runtime.db, job_id)

    @staticmethod
    def title(job: Job) -> str:
        return job_title(job)

    @staticmethod
    def store_label(job: Job) -> str:
        return kind_label(job.source_kind)

    @staticmethod
    def can_publish(job: Job) -> bool:
        """Its images can go straight back where its products came from (demo store, WooCommerce, Shopify)."""
        return job.source_kind in (Kind.DEMO, Kind.WOOCOMMERCE, Kind.SHOPIFY)

    @staticmethod
    def from_drive(job: Job) -> bool:
        return job.source_kind == Kind.DRIVE

    @staticmethod
    def review_label(state: str) -> str:
        return {"all": "All", "pending": "To review", "flagged": "Needs a look"}.get(state, state.capitalize())

    # What it holds

    def stamp(self, job_id: int) -> tuple[Any, ...]:
        return gallery_stamp(self.runtime, job_id)

    def progress(self, job_id: int) -> ProgressView:
        return progress_view(jobs.job_progress(self.runtime.db, job_id))

    def entries(self, job_id: int) -> list[jobs.GalleryEntry]:
        return jobs.gallery(self.runtime.db, job_id)

    filter_entries = staticmethod(filter_entries)
    flagged_waiting = staticmethod(flagged_waiting)
    review_counts = staticmethod(review_counts)
    page_slice = staticmethod(page_slice)

    def approved(self, job_id: int) -> list[Asset]:
        return jobs.approved_assets(self.runtime.db, job_id)

    def publications(self, job_id: int) -> Publications:
        out = Publications()
        for pub in publish.product_publications(self.runtime.db, job_id):
            if pub.state == PublicationState.DONE:
                out.by_product.setdefault(pub.product_id, []).append(pub)
                out.by_asset.setdefault(pub.asset_id, []).append(pub)
        return out

    def thumbnail(self, sha: str | None) -> bytes | None:
        if not sha:
            return None
        try:
            return self.runtime.blobs.thumbnail(sha)
        except AppError:
            return None

    def zip(self, job_id: int) -> bytes:
        return archive.approved_zip(self.runtime, job_id)[0]

    # Review

    def set_review(self, *, actor: Actor, asset_id: int, state: str) -> None:
        actions.set_review(self.runtime, actor=actor, asset_ids=[asset_id], state=state)

    def approve_all(self, *, actor: Actor, job_id: int, skip: Collection[int] = ()) -> int:
        """Approve every image waiting for review but `skip` (the page leaves redrawn images for a look)."""
        return actions.approve_all(self.runtime, actor=actor, job_id=job_id, skip=skip)

    def set_alt_text(self, *, actor: Actor, asset_id: int, text: str) -> None:
        actions.set_alt_text(self.runtime, actor=actor, asset_id=asset_id, text=text)

    def regenerate(self, *, actor: Actor, item_id: int, prompt_extra: str) -> None:
        actions.regenerate_item(self.runtime, actor=actor, item_id=item_id, prompt_extra=prompt_extra)

    # Who did what (the audit trail)

    def people(self, asset_ids: list[int]) -> dict[int, AssetPeople]:
        """Who approved and who published each image."""
        return audit.asset_people(self.runtime.db, asset_ids)

    @staticmethod
    def may_publish(actor: Actor) -> bool:
        return actor.can(Permission.PUBLISH)

    # Fidelity (lib/fidelity): the stored checks, never a new one (the worker checks every image it stores)

    def fidelity(self, entries: list[jobs.GalleryEntry]) -> dict[int, StoredCheck]:
        """The stored fidelity check of each image in `entries`, by asset id (unchecked images are absent)."""
        return fidelity_records.checks_for(
            self.runtime.db, [a.id for e in entries for a in e.assets if a.id is not None]
        )

    @staticmethod
    def redrawn(checks: dict[int, StoredCheck]) -> list[int]:
        return [aid for aid, c in checks.items() if c.verdict == Verdict.REDRAWN]

    @staticmethod
    def zoom_region(check: StoredCheck) -> tuple[float, float, float, float] | None:
        """The region of the first finding that has one (fractions of the generated image)."""
        return next((f.region for f in check.findings if f.region), None)

    def zoom(self, sha: str, region: tuple[float, float, float, float]) -> bytes:
        """PNG of the flagged part of an image, for the side-by-side zoom."""
        return zoom_crop(self.runtime.blobs.get(sha), region)

    def regenerate_flagged(self, *, actor: Actor, job: Job) -> int:
        """Make the flagged images waiting for review again, each with its finding as a correction, as many as
        the job's remaining budget allows (all of them when it has none)."""
        budget = (job.options or {}).get("budget")
        room = None if budget is None else max(0.0, float(budget) - job.actual_cost)
        return actions.regenerate_flagged(self.runtime, actor=actor, job_id=job.id or 0, max_cost=room)

    # Publish and roll back (through the modules' attributes, so tests can stand in for a store)

    def plan_publish(self, asset_ids: list[int], role: str, *, keep_old: bool) -> PublishPlan:
        return publish.plan_publish(self.runtime, asset_ids, role, keep_old_featured=keep_old)

    def publish_assets(self, *, actor: Actor, asset_ids: list[int], role: str, keep_old: bool) -> list[Publication]:
        return actions.publish_assets(
            self.runtime, actor=actor, asset_ids=asset_ids, role=role, keep_old_featured=keep_old
        )

    def rollback(
        self, *, actor: Actor, job_id: int, product_ids: list[str] | None, force: bool = False
    ) -> RollbackReport:
        return actions.rollback(self.runtime, actor=actor, job_id=job_id, product_ids=product_ids, force=force)

    def store(self) -> Store | None:
        """The active WooCommerce store (else the active Shopify shop), where a Drive job's images can be published
        by SKU."""
        conn = active_connection(self.runtime.db, Kind.WOOCOMMERCE) or active_connection(self.runtime.db, Kind.SHOPIFY)
        return None if conn is None or conn.id is None else Store(conn.id, conn.name)

    def plan_sku_publish(self, *, job_id: int, role: str, keep_old: bool, connection_id: int) -> SkuPublishPlan:
        return sku_publish.plan_sku_publish(
            self.runtime, job_id, role, keep_old_featured=keep_old, connection_id=connection_id
        )

    def publish_by_sku(
        self, *, actor: Actor, job_id: int, role: str, keep_old: bool, connection_id: int
    ) -> StorePublishReport:
        return actions.publish_by_sku(
            self.runtime, actor=actor, job_id=job_id, role=role, connection_id=connection_id, keep_old_featured=keep_old
        )

    def export_to_drive(self, *, actor: Actor, job_id: int, folder: str | None) -> list[ExportResult]:
        """Save the approved images to Drive: beside the originals, or into the folder (link or id) given."""
        target = export_folder(folder) if folder is not None else None
        return actions.export(self.runtime, actor=actor, job_id=job_id, folder_id=target)
