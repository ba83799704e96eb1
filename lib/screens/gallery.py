"""The Gallery screen: a job's images beside their source photos; review, alt text, regenerate; publish to the
store (directly, or by SKU for Drive jobs), roll back, export to Drive, ZIP download.

Publishing, rollback and export are store jobs (lib/store_jobs.py) the worker runs: the page shows the plan, queues
the job here and follows it (`store_job`), so a closed tab or a rerun no longer stops them midway."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func
from sqlmodel import select

from lib import actions, archive, images, jobs, publish, sku_publish, store_jobs
from lib.auth import audit
from lib.auth.audit import AssetPeople
from lib.auth.roles import Actor, Permission
from lib.connections import active_connection, get_connection
from lib.errors import AppError
from lib.fidelity import Verdict
from lib.fidelity import records as fidelity_records
from lib.fidelity.records import StoredCheck
from lib.formatting import plural
from lib.generation import direction
from lib.kinds import Kind
from lib.labels import ROLE_LABELS, job_title, kind_label
from lib.models import (
    Asset,
    ItemStatus,
    Job,
    JobItem,
    JobStatus,
    Publication,
    PublicationState,
    ReviewState,
)
from lib.publish import PublishPlan
from lib.screens.progress import ProgressView, progress_view
from lib.sku_publish import SkuPublishPlan
from lib.sources.drive_connect import export_folder

if TYPE_CHECKING:
    from lib.runtime import Runtime


def gallery_stamp(runtime: Runtime, job_id: int) -> tuple[Any, ...]:
    """Changes whenever the job's gallery would: items added or finished, images added or reviewed, alt texts
    written later by the text model.

    While a job runs, the page's progress fragment reruns the whole page only when this stamp moves (two aggregate
    queries), so new images appear without redrawing the page every two seconds."""
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


def page_of(total: int, page: int, per_page: int) -> tuple[int, int]:
    """The page actually shown (clamped) and the number of pages, for `total` products."""
    pages = max(1, -(-total // per_page))
    return min(max(1, page), pages), pages


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


# The compare's zoom levels: 1 shows both pictures whole at full resolution; n shows 1/n of their width and height.
ZOOMS = (1, 2, 4, 8)
Box = tuple[float, float, float, float]


def zoom_label(zoom: int | None) -> str:
    return "Whole picture" if (zoom or 1) <= 1 else f"{zoom}×"


def compare_window(zoom: int, across: float, down: float) -> Box:
    """The window (fractions of an image) a zoom level shows around the centre (`across`, `down`), moved back inside
    the image at the edges, so a window never shows less than it should."""
    side = 1.0 / max(1, zoom)
    x0 = min(max(0.0, across - side / 2), 1.0 - side)
    y0 = min(max(0.0, down - side / 2), 1.0 - side)
    return (round(x0, 4), round(y0, 4), round(x0 + side, 4), round(y0 + side, 4))


def flagged_view(region: Box | list[float]) -> tuple[int, float, float]:
    """The zoom level and centre that show a flagged region whole, with a margin around it: the largest zoom whose
    window still holds the region and half as much again."""
    x0, y0, x1, y1 = (float(v) for v in region)
    extent = 1.5 * max(x1 - x0, y1 - y0, 0.01)
    zoom = max((z for z in ZOOMS if 1.0 / z >= extent), default=1)
    return zoom, (x0 + x1) / 2, (y0 + y1) / 2


def _same_view(a: tuple[int, float, float], b: tuple[int, float, float]) -> bool:
    """The same zoom and centre, to the whole percent the sliders move by."""
    return a[0] == b[0] and round(100 * a[1]) == round(100 * b[1]) and round(100 * a[2]) == round(100 * b[2])


@dataclass(frozen=True)
class CompareView:
    """The product photo and a generated image for the compare dialog: whole (as stored, full resolution) or both
    cut at the same window."""

    source: bytes | None  # None: the job has no photo for this product
    generated: bytes
    window: Box
    note: str  # what the two pictures show, in a sentence


@dataclass(frozen=True)
class Store:
    """The store a Drive job publishes to by SKU (its name, id and kind only)."""

    id: int
    name: str
    kind: str = Kind.WOOCOMMERCE


@dataclass(frozen=True)
class Queued:
    """A store job just queued, and the sentence that says so."""

    id: int
    sentence: str


@dataclass(frozen=True)
class StoreJobView:
    """A store job (publish, rollback, export) as the Gallery follows it: its progress while it runs, then what it
    did. All sentences are plain text (they name products and stores): the page escapes them."""

    id: int
    source_job_id: int
    work: str  # publish | rollback | export
    progress: ProgressView
    done: bool
    cancelled: bool
    summary: str = ""  # when done: "Published 2 images to the Demo store."
    problems: tuple[str, ...] = ()  # when done: each failed item's sentence, each image left out
    conflicts: tuple[tuple[str, str], ...] = ()  # rollback: (product id, sentence) edited in the store since

    @property
    def ok(self) -> bool:
        return self.done and not self.cancelled and not self.problems and not self.conflicts

    @property
    def heading(self) -> str:
        return {"publish": "Publishing", "rollback": "Rolling back", "export": "Saving to Drive"}.get(self.work, "")


@dataclass
class Publications:
    """A job's live publications: how many images and store products in all, and those of the page's products, by
    store product and by image (Drive jobs publish to other product ids)."""

    images: int = 0
    products: int = 0
    by_product: dict[str, list[Publication]] = field(default_factory=dict)
    by_asset: dict[int, list[Publication]] = field(default_factory=dict)

    def of(self, product_id: str, asset_ids: list[int | None]) -> list[Publication]:
        return self.by_product.get(product_id) or [p for a in asset_ids if a for p in self.by_asset.get(a, [])]


@dataclass(frozen=True)
class GalleryView:
    """What the Gallery shows of a job: counts over all of it, and one page of products (read in SQL: a job may
    hold 100,000 items)."""

    counts: jobs.GalleryCounts
    entries: list[jobs.GalleryEntry]  # this page's products, with the images the filter shows
    shown: int  # products the filter shows in all
    page: int  # the page shown (clamped)
    pages: int
    checks: dict[int, StoredCheck]  # the page's images' stored fidelity checks, by asset id
    publications: Publications

    def images(self, state: str) -> int:
        return self.counts.images.get(state, 0)

    @property
    def flagged(self) -> set[int]:
        """This page's images the fidelity check flagged."""
        return {asset_id for asset_id, check in self.checks.items() if check.flagged}


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
        """The 50 latest jobs that made images, by id, with their titles, and `wanted` first when it is older;
        False when `wanted` does not exist. Store jobs (publish, rollback, export) have no images to review: the
        Gallery follows them on the job they work on."""
        recent, _ = jobs.list_jobs(self.runtime.db, page=1, per_page=50, exclude_provider=store_jobs.STORE)
        found = True
        if wanted is not None and wanted not in [j.id for j in recent]:
            try:
                job = jobs.get_job(self.runtime.db, wanted)
            except AppError:
                found = False
            else:
                if store_jobs.is_store_job(job):
                    found = False
                else:
                    recent.insert(0, job)
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

    def view(self, job_id: int, review_filter: str, page: int, per_page: int) -> GalleryView:
        """Counts over the whole job and the page of products `review_filter` shows (a review state, "flagged" or
        "all"); a page past the end shows the last one."""
        counts = jobs.gallery_counts(self.runtime.db, job_id)
        state = None if review_filter == "all" else review_filter
        entries, shown = jobs.gallery_page(
            self.runtime.db, job_id, review_state=state, offset=(page - 1) * per_page, limit=per_page
        )
        page, pages = page_of(shown, page, per_page)
        if not entries and shown:  # the page asked for is past the end (fewer products under this filter)
            entries, shown = jobs.gallery_page(
                self.runtime.db, job_id, review_state=state, offset=(page - 1) * per_page, limit=per_page
            )
        asset_ids = [a.id for e in entries for a in e.assets if a.id is not None]
        pubs = Publications(counts.published_images, counts.published_products)
        for pub in jobs.live_publications(
            self.runtime.db, job_id, product_ids=[e.product_id for e in entries], asset_ids=asset_ids
        ):
            pubs.by_product.setdefault(pub.product_id, []).append(pub)
            pubs.by_asset.setdefault(pub.asset_id, []).append(pub)
        checks = fidelity_records.checks_for(self.runtime.db, asset_ids)
        return GalleryView(counts, entries, shown, page, pages, checks, pubs)

    def approved_ids(self, job_id: int) -> list[int]:
        return jobs.approved_ids(self.runtime.db, job_id)

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

    def redrawn_ids(self, job_id: int) -> list[int]:
        """The job's images the fidelity check calls redrawn ("Approve all" leaves them for a look)."""
        return fidelity_records.redrawn_assets(self.runtime.db, job_id=job_id)

    @staticmethod
    def zoom_region(check: StoredCheck) -> tuple[float, float, float, float] | None:
        """The region of the first finding that has one (fractions of the generated image)."""
        return next((f.region for f in check.findings if f.region), None)

    # Compare: one image and its product photo at full resolution, read from the blob store only when opened

    ZOOMS = ZOOMS
    zoom_label = staticmethod(zoom_label)
    flagged_view = staticmethod(flagged_view)

    @staticmethod
    def photo_region(check: StoredCheck) -> Box | None:
        """Where the flagged part is in the product photo (the finding `zoom_region` names), when the check said."""
        finding = next((f for f in check.findings if f.region), None)
        found = (finding.data or {}).get("source_region") if finding is not None else None
        return (float(found[0]), float(found[1]), float(found[2]), float(found[3])) if found else None

    def compare(
        self,
        *,
        source_sha: str | None,
        sha: str,
        zoom: int,
        across: float = 0.5,
        down: float = 0.5,
        flagged: Box | list[float] | None = None,
        flagged_photo: Box | list[float] | None = None,
    ) -> CompareView:
        """Both pictures whole (zoom 1: the stored files as they are), or both cut at the same window around
        (`across`, `down`) at their own resolution. Only these two images are read.

        The product seldom sits at the same place in the photo and in the new picture: while the view is the one
        that shows the `flagged` part, the photo is cut around `flagged_photo` (where the check found that part of
        the product in the photo) instead, so both show the same part of the product."""
        blobs = self.runtime.blobs
        if zoom <= 1:
            whole = (0.0, 0.0, 1.0, 1.0)
            source = blobs.get(source_sha) if source_sha else None
            note = "Both pictures whole, at full resolution (open one in a new tab to see every pixel)."
            return CompareView(source, blobs.get(sha), whole, note)
        window = compare_window(zoom, across, down)
        on_flagged = flagged is not None and _same_view(flagged_view(flagged), (zoom, across, down))
        if on_flagged and flagged_photo is not None:
            photo_window = compare_window(*flagged_view(flagged_photo))
            note = (
                "The flagged part of the product in each picture: where the fidelity check found it in the "
                "photo, and in the new picture."
            )
        else:
            photo_window = window
            note = (
                f"The same part of both pictures, {zoom}× closer: {round(100 * across)} % across and "
                f"{round(100 * down)} % down. The product may sit elsewhere in the new picture than in the photo."
            )
        source = images.crop_window(blobs.get(source_sha), photo_window) if source_sha else None
        return CompareView(source, images.crop_window(blobs.get(sha), window), window, note)

    def regenerate_flagged(self, *, actor: Actor, job: Job) -> int:
        """Make the flagged images waiting for review again, each with its finding as a correction, as many as
        the job's remaining budget allows (all of them when it has none)."""
        budget = (job.options or {}).get("budget")
        room = None if budget is None else max(0.0, float(budget) - job.actual_cost)
        return actions.regenerate_flagged(self.runtime, actor=actor, job_id=job.id or 0, max_cost=room)

    # Publish and roll back (through the modules' attributes, so tests can stand in for a store)

    def plan_publish(self, asset_ids: list[int], role: str, *, keep_old: bool) -> PublishPlan:
        return publish.plan_publish(self.runtime, asset_ids, role, keep_old_featured=keep_old)

    def queue_publish(self, *, actor: Actor, job_id: int, asset_ids: list[int], role: str, keep_old: bool) -> Queued:
        """Queue the publishing job the plan showed; nothing changes in the store until the worker runs it."""
        queued = actions.queue_publish(
            self.runtime, actor=actor, job_id=job_id, role=role, keep_old_featured=keep_old, asset_ids=asset_ids
        )
        return self._queued(queued, f"Publishing {plural(self._images(queued), 'image')} to {self.target(queued)}")

    def queue_rollback(
        self, *, actor: Actor, job_id: int, product_ids: list[str] | None, force: bool = False
    ) -> Queued:
        queued = actions.queue_rollback(self.runtime, actor=actor, job_id=job_id, product_ids=product_ids, force=force)
        return self._queued(queued, f"Rolling back {plural(queued.item_count, 'product')}")

    def cancel_store_job(self, *, actor: Actor, store_job_id: int) -> int:
        """Cancel a store job: the product being changed is finished, the next ones are left as they are."""
        return actions.cancel_job(self.runtime, actor=actor, job_id=store_job_id)

    def running_store_job(self, job_id: int) -> int | None:
        """The store job working on `job_id` that has not finished (queued in a tab since closed, or by the CLI), so
        coming back to the Gallery follows it."""
        running = jobs.store_job_in_flight(self.runtime.db, job_id)
        return None if running is None else running.id

    def store_busy(self, job_id: int) -> str | None:
        """Why Publish, Roll back and Save to Drive wait (a store job on this job is queued or running), or None.
        lib refuses a second one anyway; the page disables the buttons and says why."""
        running = jobs.store_job_in_flight(self.runtime.db, job_id)
        if running is None:
            return None
        doing = {"publish": "Publishing", "rollback": "A rollback", "export": "Saving to Drive"}.get(
            str(running.model), "A store job"
        )
        return (
            f"{doing} (job #{running.id}) is still queued or running: publishing and rolling back wait until it "
            "has finished, or until you cancel it."
        )

    def store_job(self, store_job_id: int) -> StoreJobView:
        """Its progress (stage, counts, ETA) and, once it has finished, what it did in sentences."""
        view = self.progress(store_job_id)
        job = self.job(store_job_id)
        source = int(job.options.get("source_job_id") or 0)
        cancelled = job.status == JobStatus.CANCELLED
        base = StoreJobView(store_job_id, source, str(job.model), view, view.done, cancelled)
        if not view.done:
            return base
        rep = store_jobs.report(self.runtime, store_job_id)
        items = jobs.job_items(self.runtime.db, store_job_id)
        stopped = sum(1 for i in items if i.status == ItemStatus.CANCELLED)
        tail = f" Cancelled: {plural(stopped, 'product')} left as they were." if cancelled and stopped else ""
        if job.model == store_jobs.Work.PUBLISH:
            done = [p for p in rep.publications if p.state == PublicationState.DONE]
            summary = f"Published {plural(len(done), 'image')} to {self.target(job)}."
            if rep.failures:
                summary += f" {plural(len(rep.failures), 'product')} failed:"
            problems = [*rep.failures, *(f"Not published: {sentence}" for sentence in rep.skipped)]
            return replace(base, summary=summary + tail, problems=tuple(problems))
        if job.model == store_jobs.Work.ROLLBACK:
            restored = sum(1 for i in items if i.status == ItemStatus.SUCCEEDED)
            conflicts = tuple(
                (i.product_id, i.error_message or "")
                for i in items
                if i.status == ItemStatus.FAILED and i.error_kind == "PublishConflict"
            )
            errors = tuple(
                f"Product {i.product_id} was not rolled back: {i.error_message}"
                for i in items
                if i.status == ItemStatus.FAILED and i.error_kind != "PublishConflict"
            )
            summary = f"Restored the old images of {plural(restored, 'product')}."
            if conflicts:
                summary += f" {plural(len(conflicts), 'product')} changed in the store since we published."
            return replace(base, summary=summary + tail, problems=errors, conflicts=conflicts)
        new = sum(1 for r in rep.results if r.startswith("exported"))
        already = len(rep.results) - new
        place = "the chosen folder" if job.options.get("folder_id") else "“generated” folders beside the originals"
        summary = (
            f"Saved {plural(new, 'image')} to {place} in Drive"
            + (f" ({already} were already there)" if already else "")
            + "."
        )
        if rep.failures:
            summary += f" {plural(len(rep.failures), 'image')} failed:"
        return replace(base, summary=summary + tail, problems=tuple(rep.failures))

    def target(self, store_job: Job) -> str:
        """Where a publishing job puts the images: the store connection's name, else "the Demo store"."""
        cid = store_job.options.get("connection_id")
        if cid is not None:
            try:
                return get_connection(self.runtime.db, int(cid)).name
            except AppError:
                pass
        return f"the {kind_label(store_job.options.get('store_kind') or store_job.source_kind)}"

    def _images(self, store_job: Job) -> int:
        """How many images a queued publishing job holds (its items are products)."""
        assert store_job.id is not None
        return sum(len(i.product.get("asset_ids", [])) for i in jobs.job_items(self.runtime.db, store_job.id))

    @staticmethod
    def _queued(queued: Job, doing: str) -> Queued:
        assert queued.id is not None
        return Queued(queued.id, f"{doing} as job #{queued.id}; you can close this tab, the worker carries on.")

    def store(self) -> Store | None:
        """The active WooCommerce store (else the active Shopify shop), where a Drive job's images can be published
        by SKU."""
        conn = active_connection(self.runtime.db, Kind.WOOCOMMERCE) or active_connection(self.runtime.db, Kind.SHOPIFY)
        return None if conn is None or conn.id is None else Store(conn.id, conn.name, conn.kind)

    def plan_sku_publish(self, *, job_id: int, role: str, keep_old: bool, connection_id: int) -> SkuPublishPlan:
        return sku_publish.plan_sku_publish(
            self.runtime, job_id, role, keep_old_featured=keep_old, connection_id=connection_id
        )

    def queue_sku_publish(
        self, *, actor: Actor, job_id: int, role: str, keep_old: bool, store_id: int, store_kind: str, store_name: str
    ) -> Queued:
        """Queue publishing a Drive (or upload) job's approved images to the store products with their SKUs."""
        queued = actions.queue_publish(
            self.runtime, actor=actor, job_id=job_id, role=role, keep_old_featured=keep_old, store_kind=store_kind,
            connection_id=store_id,
        )  # fmt: skip
        return self._queued(queued, f"Publishing {plural(self._images(queued), 'image')} to {store_name}")

    def queue_export(self, *, actor: Actor, job_id: int, folder: str | None) -> Queued:
        """Queue saving the approved images to Drive: beside the originals, or into the folder (link or id) given."""
        target = export_folder(folder) if folder is not None else None
        queued = actions.queue_export(self.runtime, actor=actor, job_id=job_id, folder_id=target)
        return self._queued(queued, f"Saving {plural(queued.item_count, 'image')} to Drive")
