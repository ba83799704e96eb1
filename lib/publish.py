"""Approved images → the store, and back: snapshot, upload once, set, verify; exact rollback.

For each approved asset and its product (or variation), every step is committed before the next one:

  1. snapshot   a Publication row with the product's image ids in order (and the variation's image id) and the
                versioned file name `<sku>-ai-<sha8>.jpg|webp` (committed before anything changes at the store)
  2. upload     once to the media library; the media id is recorded at once (state "uploaded"). A retry first
                reuses a recorded id, then looks the file name up (`find_media`): the upload may have landed even
                though its answer was lost, or the process died before recording it.
  3. update     the intended list is recorded, then the whole image list is written (WooCommerce replaces it),
                re-read and compared. A retry reads the list first: if our list is already there, nothing is
                sent again. The intended list always holds every image the product had (featured: new first, the
                old featured kept in the gallery unless asked not to; gallery: appended), so no fault can leave
                a product with fewer images than before.
  4. done       the list the store now holds is recorded (`after_images`), so a rollback can tell whether someone
                changed the product since.

Rollback walks a product's publications newest first and puts each snapshot back (the earliest wins), but only if
the store still holds what we set; otherwise it reports a conflict and overwrites only with force=True. Media are
never deleted (WooCommerce keeps attachments; publishing again reuses them).
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlmodel import col, select

from lib import events
from lib.connections import active_connection, get_connection
from lib.errors import AppError, InputError, PublishError, PublishVerifyError, SourceAuthError, SourceNotFound
from lib.models import Asset, Job, JobItem, Publication, PublicationState, PublishRole, ReviewState, utcnow
from lib.sku_match import SkuHit, label

if TYPE_CHECKING:
    from lib.runtime import Runtime
    from lib.sources.base import PublishTarget

# How retries wait. Module-level so tests and benchmarks replace it instead of sleeping.
SLEEP: Callable[[float], None] = time.sleep
MAX_WAIT = 30.0
# Test hooks, called with (publication, media_id): "after_upload" runs after the store answered the upload and
# before the media id is recorded (a test raises there to play a process killed at the worst moment).
HOOKS: dict[str, Callable[[Publication, str], None]] = {}
OPEN = (PublicationState.PENDING, PublicationState.UPLOADED, PublicationState.FAILED)
NOT_STORES = ("drive", "upload")  # sources with no store of their own: their photos go where the SKU matches
EXTENSIONS = {"jpeg": "jpg", "webp": "webp"}
DEFAULT_CONCURRENCY = 4
VERIFY_FAILED = "The store did not keep the image"


@dataclass(frozen=True)
class PlannedChange:
    product_id: str
    variation_id: str | None
    product_name: str  # by name and SKU: `“Red Mug” (WCR-MUG-RED)` (plain text, never Markdown)
    before: list[str]
    after_description: str
    asset_id: int | None = None
    name: str = ""  # the name in the data the image was made from (a Drive photo's own)
    sku: str = ""


@dataclass
class RollbackReport:
    restored: list[str] = field(default_factory=list)
    # (product id, a sentence that names the product or variation by name and SKU and says what changed)
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # store errors (after retries), per product
    labels: dict[str, str] = field(default_factory=dict)  # product id -> `“Red Mug” (WCR-MUG-RED)`


@dataclass
class PublishPlan:
    """What publishing would do: the changes product by product, the images left out (one sentence each, saying
    why), and how many are already in the store as published. Iterating it walks the changes."""

    changes: list[PlannedChange] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    already: int = 0

    def __iter__(self) -> Iterator[PlannedChange]:
        return iter(self.changes)

    def __len__(self) -> int:
        return len(self.changes)

    def __getitem__(self, index: int) -> PlannedChange:
        return self.changes[index]


@dataclass
class PublishOutcome:
    """One Publication per image published (a failed one carries its sentence in `error`), and the images left
    out with the reason, one sentence each."""

    publications: list[Publication] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: dict[int, AppError] = field(default_factory=dict)  # publication id -> what made it fail

    @property
    def failed(self) -> list[Publication]:
        return [p for p in self.publications if p.state == PublicationState.FAILED]


@dataclass
class _Item:
    """An approved asset resolved to the store product (or variation) it goes to, and as what."""

    asset: Asset
    job_id: int | None
    store_kind: str
    connection_id: int | None
    product_id: str
    variation_id: str | None
    name: str
    sku: str
    variation_name: str = ""
    role: PublishRole = PublishRole.FEATURED

    @property
    def label(self) -> str:
        """How messages name it: `“Red Mug” (WCR-MUG-RED)`, `variation “Red, S” (WCR-TEE-RED-S) of “Classic Tee”`."""
        if self.variation_id and self.variation_name:
            return f"variation {label(self.variation_name, self.sku)} of “{self.name}”"
        return label(self.name, self.sku)


# Resolving assets to targets ------------------------------------------------------------------------------


def _role(role: str) -> PublishRole:
    try:
        return PublishRole(str(role))
    except ValueError as exc:
        raise InputError(f"Role must be featured, gallery or variation, not {role!r}.") from exc


STORE_NAMES = {"woocommerce": "WooCommerce store", "shopify": "Shopify shop"}


def _connection_for(rt: Runtime, kind: str, connection_id: int | None) -> int | None:
    if kind not in STORE_NAMES:
        return connection_id
    if connection_id is not None:
        conn = get_connection(rt.db, connection_id)
        if conn.kind != kind:
            raise InputError(
                f"Connection {connection_id} ({conn.name}) is not a {STORE_NAMES[kind]}. Choose the store to "
                "publish to."
            )
        return connection_id
    active = active_connection(rt.db, kind)
    if active is None:
        raise InputError(f"No {STORE_NAMES[kind]} is connected. Add one on the Connect page.")
    return active.id


def _shares_list(targets: _Targets, pub: Publication) -> bool:
    try:
        return _shares_variation_media(targets.get(pub.store_kind, pub.connection_id, pub.job_id))
    except AppError:
        return False  # the store cannot be reached: the rollback of this group says so


def _shares_variation_media(target: PublishTarget) -> bool:
    """Is a variation's image one of the product's images at this store (Shopify), so that setting it changes the
    product's list too (snapshot, record and restore that list as well)?"""
    return bool(getattr(target, "variation_media_in_product", False))


class _Targets:
    """One target per store connection for the whole call."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._cache: dict[tuple[str, int | None], PublishTarget] = {}

    def get(self, kind: str, connection_id: int | None, job_id: int | None = None) -> PublishTarget:
        key = (kind, connection_id)
        if key not in self._cache:
            self._cache[key] = self.rt.publish_target(kind, connection_id)
        target = self._cache[key]
        if hasattr(target, "job_id"):
            target.job_id = job_id  # the store's request events land in the job's log
        return target


def _store_kind(source_kind: str, store_kind: str | None) -> str:
    return store_kind or ("woocommerce" if source_kind in NOT_STORES else source_kind)


def _resolve(
    rt: Runtime,
    targets: _Targets,
    asset_ids: list[int],
    role: PublishRole,
    store_kind: str | None,
    connection_id: int | None,
    *,
    keep_old_featured: bool = True,
) -> tuple[list[_Item], list[str]]:
    """Each approved asset as the store item it goes to, and a sentence for each one that cannot go (no SKU, no
    store item with its SKU, an ambiguous SKU, a product image asked to be a variation's, a second main image)."""
    if not asset_ids:
        raise InputError("Choose at least one approved image to publish.")
    with rt.db.session() as s:
        assets = {a.id: a for a in s.exec(select(Asset).where(col(Asset.id).in_(list(asset_ids)))).all()}
        missing = [i for i in asset_ids if i not in assets]
        if missing:
            raise InputError(f"Image #{missing[0]} does not exist.")
        jobs = {
            j.id: j
            for j in s.exec(
                select(Job).where(col(Job.id).in_(sorted({a.job_id for a in assets.values() if a.job_id is not None})))
            ).all()
        }
        items = {
            i.id: i
            for i in s.exec(
                select(JobItem).where(
                    col(JobItem.id).in_(sorted({a.item_id for a in assets.values() if a.item_id is not None}))
                )
            ).all()
        }
    out: list[_Item] = []
    skipped: list[str] = []
    found: dict[tuple[str, int | None, str], SkuHit | None | str] = {}
    for asset_id in dict.fromkeys(asset_ids):
        asset = assets[asset_id]
        if asset.review_state != ReviewState.APPROVED:
            raise InputError(
                f"Image #{asset.id} is not approved. Approve it in the gallery first; nothing was published."
            )
        if not asset.product_id:
            raise InputError(f"Image #{asset.id} belongs to no product.")
        job = jobs.get(asset.job_id) if asset.job_id is not None else None
        source_kind = job.source_kind if job else "demo"
        kind = _store_kind(source_kind, store_kind)
        cid = _connection_for(
            rt,
            kind,
            connection_id
            if connection_id is not None
            else (job.connection_id if job and job.source_kind == kind else None),
        )
        snapshot: dict[str, Any] = dict(items[asset.item_id].product) if asset.item_id in items else {}
        name = str(snapshot.get("name") or f"Product {asset.product_id}")
        sku = str(snapshot.get("sku") or "")
        product_id, variation_id = str(asset.product_id), asset.variation_id
        variation_name = ""
        for v in snapshot.get("variations") or []:
            if variation_id is not None and str(v.get("id")) == str(variation_id):
                sku = str(v.get("sku") or sku)
                variation_name = str(v.get("name") or "")
        item_role = role
        if source_kind != kind:
            # Photos from Drive or uploads go to the store product (or variation) with the same SKU.
            if not sku:
                skipped.append(
                    f"Image #{asset.id} of {label(name)} has no SKU, so no store product can be found for it "
                    "(name the Drive folder or photo “SKU - Name”)."
                )
                continue
            key = (kind, cid, sku)
            if key not in found:
                finder = getattr(targets.get(kind, cid, asset.job_id), "product_for_sku", None)
                try:
                    found[key] = finder(sku) if finder is not None else None
                except InputError as exc:  # an ambiguous SKU: said, never guessed
                    found[key] = exc.message
            hit = found[key]
            if isinstance(hit, str) or hit is None:
                skipped.append(
                    f"Image #{asset.id} of {label(name, sku)}: "
                    + (hit if isinstance(hit, str) else f"the store has no product or variation with SKU {sku}.")
                )
                continue
            product_id, variation_id = hit[0], hit[1]
            if variation_id:
                # A variation shows one image of its own: that is where a photo named by its SKU goes.
                name, sku = str(getattr(hit, "name", name)), str(getattr(hit, "sku", sku))
                item_role = PublishRole.VARIATION
            elif role == PublishRole.VARIATION:
                skipped.append(
                    f"Image #{asset.id} of {label(name, sku)}: SKU {sku} is a product in the store, not a "
                    "variation; publish it as the featured or a gallery image."
                )
                continue
        elif role == PublishRole.VARIATION and not variation_id:
            skipped.append(
                f"Image #{asset.id} of {label(name, sku)} was made for the product itself, not a variation: "
                "publish it as the featured or a gallery image."
            )
            continue
        out.append(
            _Item(
                asset,
                asset.job_id,
                kind,
                cid,
                product_id,
                variation_id if item_role == PublishRole.VARIATION else None,
                name,
                sku,
                variation_name,
                item_role,
            )
        )
    if role == PublishRole.FEATURED and not keep_old_featured:
        out, skipped = _one_main_image(out, skipped)
    return out, skipped


def _one_main_image(items: list[_Item], skipped: list[str]) -> tuple[list[_Item], list[str]]:
    """With the old main image dropped, a product shows one new main image: the first approved one. The others
    would be uploaded and never shown, so they are left out, and the sentence says so."""
    first: dict[tuple[str, int | None, str], _Item] = {}
    kept: list[_Item] = []
    for item in items:
        key = (item.store_kind, item.connection_id, item.product_id)
        if item.role != PublishRole.FEATURED:
            kept.append(item)
        elif key not in first:
            first[key] = item
            kept.append(item)
        else:
            main = first[key]
            skipped.append(
                f"Only one image can be the main image of {main.label}: image #{main.asset.id} becomes it, and "
                f"image #{item.asset.id} is left out (not uploaded). To show both, keep the old main image or "
                "publish the second to the gallery."
            )
    return kept, skipped


def versioned_filename(sku: str, product_id: str, sha256: str, fmt: str) -> str:
    """`<sku>-ai-<sha8>.jpg|webp`: a new URL for every new image (caches and CDNs see the change), and a name the
    upload can be found by after a crash."""
    stem = re.sub(r"[^a-z0-9]+", "-", sku.lower()).strip("-")[:60] or f"product-{product_id}"
    return f"{stem}-ai-{sha256[:8]}.{EXTENSIONS.get(fmt, 'jpg')}"


def intended_images(role: str, before: list[str], media_id: str, *, keep_old_featured: bool = True) -> list[str]:
    if role == PublishRole.FEATURED:
        rest = before if keep_old_featured else before[1:]
        return [media_id] + [i for i in rest if i != media_id]
    if role == PublishRole.GALLERY:
        return [i for i in before if i != media_id] + [media_id]
    return list(before)  # a variation's image does not change the product's list


# Publishing ------------------------------------------------------------------------------------------------


def _event(rt: Runtime, pub: Publication | None, message: str, **data: Any) -> None:
    with rt.db.transaction() as s:
        events.record(
            s,
            "publish",
            message,
            job_id=pub.job_id if pub else data.pop("job_id", None),
            service=pub.store_kind if pub else None,
            data={"publication_id": pub.id if pub else None, "product_id": pub.product_id if pub else None, **data},
        )


def _save(rt: Runtime, pub: Publication, message: str, **changes: Any) -> Publication:
    """Apply changes to the row and commit them with an event, before the next step."""
    with rt.db.transaction() as s:
        row = s.get(Publication, pub.id)
        assert row is not None
        for k, v in changes.items():
            setattr(row, k, v)
        row.updated_at = utcnow()
        s.add(row)
        events.record(
            s,
            "publish",
            message,
            job_id=row.job_id,
            service=row.store_kind,
            data={"publication_id": row.id, "product_id": row.product_id, "state": row.state},
        )
        s.flush()
        s.refresh(row)
        return row


def _ids(image_ids: list[str] | str | None) -> str:
    """An image id list (or a variation's one image id) in words: "no image", "image #12", "images #40, #12 (in
    this order)"."""
    if isinstance(image_ids, str):
        image_ids = [image_ids]
    if not image_ids:
        return "no image"
    listed = ", ".join(f"#{i}" for i in image_ids)
    return f"image {listed}" if len(image_ids) == 1 else f"images {listed} (in this order)"


def _wait(attempt: int, exc: AppError) -> float:
    retry_after = getattr(exc, "retry_after", None) or 0.0
    return min(MAX_WAIT, max(0.5 * 2**attempt, retry_after))


def _attempts(rt: Runtime) -> int:
    return max(1, rt.settings.http_retries + 1)


def _is(column: Any, value: Any) -> Any:
    """column = value, where None means IS NULL (SQL's = NULL matches nothing)."""
    return col(column).is_(None) if value is None else column == value


def _find_open(rt: Runtime, item: _Item, role: PublishRole) -> tuple[Publication | None, Publication | None]:
    """(an unfinished publication to resume, a finished one) for this asset, store, product and role."""
    with rt.db.session() as s:
        rows = s.exec(
            select(Publication)
            .where(
                Publication.asset_id == item.asset.id,
                Publication.store_kind == item.store_kind,
                _is(Publication.connection_id, item.connection_id),
                Publication.product_id == item.product_id,
                _is(Publication.variation_id, item.variation_id),
                Publication.role == role,
                col(Publication.remote_filename).is_not(None),
            )
            .order_by(col(Publication.id).desc())
        ).all()
    for row in rows:
        if row.state in OPEN:
            return row, None
        if row.state == PublicationState.DONE:
            return None, row
        return None, None  # the latest was rolled back: publish anew
    return None, None


def _still_shown(target: PublishTarget, pub: Publication) -> bool | None:
    """Does the store still show this finished publication's image where we put it? None: it cannot say (an
    error other than a refusal of our credentials, which is raised)."""
    try:
        if pub.role == PublishRole.VARIATION:
            return target.variation_image_id(pub.product_id, pub.variation_id or "") == pub.remote_media_id
        return (pub.remote_media_id or "") in target.product_image_ids(pub.product_id)
    except SourceAuthError:
        raise
    except SourceNotFound:
        return False  # the product is gone: publishing again says so in its own words
    except AppError:
        return None


def _has_history(rt: Runtime, pub: Publication) -> bool:
    """Was this file name ever handed to this store before (so an upload may exist without a recorded id)?"""
    with rt.db.session() as s:
        row = s.exec(
            select(Publication.id).where(
                Publication.store_kind == pub.store_kind,
                _is(Publication.connection_id, pub.connection_id),
                Publication.remote_filename == pub.remote_filename,
                Publication.id != pub.id,
            )
        ).first()
    return row is not None


def _our_media(rt: Runtime, pub: Publication) -> frozenset[str]:
    """Media ids this app recorded for this file name in this store: preferred over any other match."""
    with rt.db.session() as s:
        rows = s.exec(
            select(Publication.remote_media_id).where(
                Publication.store_kind == pub.store_kind,
                _is(Publication.connection_id, pub.connection_id),
                Publication.remote_filename == pub.remote_filename,
                col(Publication.remote_media_id).is_not(None),
            )
        ).all()
    return frozenset(str(r) for r in rows if r)


def _encode(rt: Runtime, asset: Asset) -> tuple[bytes, str]:
    from PIL import Image

    from lib.images import encode_output

    st = rt.settings
    with Image.open(io.BytesIO(rt.blobs.get(asset.sha256))) as im:
        im.load()
        return encode_output(im, fmt=st.output_format, quality=st.output_quality, max_side=st.output_max_side)


def _upload(rt: Runtime, target: PublishTarget, item: _Item, pub: Publication, fresh: bool) -> Publication:
    """Upload once. Before any upload that might not be the first for this file name (a resumed publication, an
    earlier publication of the same image, a retry after an error whose upload may have landed), the store is asked
    for the file name: it answers with media that really exist, so a media deleted since is uploaded anew."""
    alt = item.asset.alt_text or item.name
    title = (f"{item.name} – {item.variation_name}" if item.variation_name else item.name) + " (lifestyle photo)"
    finder = getattr(target, "find_upload", None)
    # A store that can check content is always asked first: the same image may be in its library already,
    # uploaded from another data folder of this app (the file name carries the content hash).
    look_first = finder is not None or not fresh or _has_history(rt, pub)
    media_id: str | None = None
    data: tuple[bytes, str] | None = None
    attempts = _attempts(rt)
    for attempt in range(attempts):
        if look_first or attempt > 0:
            if finder is not None:
                data = data or _encode(rt, item.asset)
                media_id = finder(pub.remote_filename or "", data=data[0], prefer=_our_media(rt, pub))
            else:
                media_id = target.find_media(pub.remote_filename or "")
            if media_id:
                _event(rt, pub, f"found media {media_id} uploaded earlier as {pub.remote_filename}")
                if hasattr(target, "set_media_text"):
                    # A crash or an error may have come before the alt text and title were set. If they still
                    # cannot be set, the publication fails and the next run finds the file again (no new upload).
                    target.set_media_text(media_id, alt_text=alt, title=title)
                break
        data = data or _encode(rt, item.asset)
        try:
            media_id = target.upload_media(
                data[0], filename=pub.remote_filename or "", mime=data[1], alt_text=alt, title=title
            )
            break
        except AppError as exc:
            if not exc.retryable or attempt == attempts - 1:
                raise
            _event(rt, pub, f"upload failed, trying again: {exc.message}", error=exc.kind)
            SLEEP(_wait(attempt, exc))
    assert media_id
    for note in _pop_notes(target):
        _event(rt, pub, note)
    hook = HOOKS.get("after_upload")
    if hook is not None:
        hook(pub, media_id)
    return _save(
        rt, pub, f"uploaded as media {media_id}", remote_media_id=media_id, state=PublicationState.UPLOADED, error=None
    )


def _pop_notes(target: PublishTarget) -> list[str]:
    """What a target did to an image on the way (Shopify scales images over its limits), for the publish log."""
    notes: list[str] | None = getattr(target, "notes", None)
    if not notes:
        return []
    out = list(notes)
    notes.clear()
    return out


def _retrying(rt: Runtime, pub: Publication, what: str, fn: Callable[[], Any]) -> Any:
    """Run a step that is safe to repeat (it reads before it writes), retrying transient store errors."""
    attempts = _attempts(rt)
    for attempt in range(attempts):
        try:
            return fn()
        except AppError as exc:
            if not exc.retryable or attempt == attempts - 1:
                raise
            _event(rt, pub, f"{what} failed, trying again: {exc.message}", error=exc.kind)
            SLEEP(_wait(attempt, exc))
    raise AssertionError("unreachable")


def _after_verify_failure(pub: Publication) -> bool:
    """Did this publication's last attempt end with the store keeping another list than the one we sent?"""
    return pub.verify_failed or (pub.error or "").startswith(VERIFY_FAILED)  # the prefix: rows from schema v2


def _apply_product(rt: Runtime, target: PublishTarget, pub: Publication, keep_old_featured: bool) -> Publication:
    media_id = pub.remote_media_id or ""
    # After the store kept another list than ours, what it shows is not somebody's edit to respect or build on:
    # our list is sent again (the update is idempotent) until the re-read matches, or the publication fails.
    state: dict[str, Any] = {"pub": pub, "suspect": _after_verify_failure(pub)}

    def step() -> Publication:
        pub = state["pub"]
        current = target.product_image_ids(pub.product_id)
        intended = intended_images(pub.role, pub.before_images, media_id, keep_old_featured=keep_old_featured)
        if current != intended:
            if media_id in current and not state["suspect"]:
                # Our list landed and was edited since (by someone else): keep theirs, record what is there.
                return _save(
                    rt,
                    pub,
                    "published (the product was edited meanwhile; kept as it is)",
                    state=PublicationState.DONE,
                    after_images=current,
                    error=None,
                )
            if current != pub.before_images and not state["suspect"]:
                # Changed by someone else since the snapshot: the new list is what we build on (and restore).
                pub = state["pub"] = _save(
                    rt, pub, "snapshot refreshed: the product changed since", before_images=current
                )
                intended = intended_images(pub.role, current, media_id, keep_old_featured=keep_old_featured)
            pub = state["pub"] = _save(rt, pub, f"setting images {intended}", after_images=intended)
            target.set_product_images(pub.product_id, intended)
        stored = target.product_image_ids(pub.product_id)
        if stored != intended:
            state["suspect"] = True
            state["pub"] = _save(rt, pub, "the store kept another list", verify_failed=True)
            raise PublishVerifyError(
                f"{VERIFY_FAILED} list we sent: the product shows {_ids(stored)} instead of "
                f"{_ids(intended)}. Check the product in the store.",
                detail=f"stored={stored} intended={intended}",
            )
        return _save(
            rt, pub, "published", state=PublicationState.DONE, after_images=stored, error=None, verify_failed=False
        )

    return _retrying(rt, pub, "product update", step)


def _apply_variation(rt: Runtime, target: PublishTarget, pub: Publication) -> Publication:
    media_id = pub.remote_media_id or ""
    vid = pub.variation_id or ""
    state: dict[str, Any] = {"pub": pub, "suspect": _after_verify_failure(pub)}

    def step() -> Publication:
        pub = state["pub"]
        current = target.variation_image_id(pub.product_id, vid)
        if current != media_id:
            if current != pub.before_variation_image and not state["suspect"]:
                pub = state["pub"] = _save(
                    rt, pub, "snapshot refreshed: the variation changed since", before_variation_image=current
                )
            pub = state["pub"] = _save(rt, pub, f"setting variation image {media_id}", after_variation_image=media_id)
            target.set_variation_image(pub.product_id, vid, media_id)
        stored = target.variation_image_id(pub.product_id, vid)
        if stored != media_id:
            state["suspect"] = True
            state["pub"] = _save(rt, pub, "the store kept another variation image", verify_failed=True)
            raise PublishVerifyError(
                f"{VERIFY_FAILED} we set on the variation: it shows {_ids(stored)} instead of {_ids(media_id)}.",
                detail=f"stored={stored} intended={media_id}",
            )
        after = target.product_image_ids(pub.product_id) if _shares_variation_media(target) else pub.before_images
        return _save(
            rt,
            pub,
            "published",
            state=PublicationState.DONE,
            after_variation_image=stored,
            after_images=after,
            error=None,
            verify_failed=False,
        )

    return _retrying(rt, pub, "variation update", step)


def _publish_one(
    rt: Runtime,
    target: PublishTarget,
    item: _Item,
    role: PublishRole,
    keep_old_featured: bool,
    stage: Callable[[str], Any] | None = None,
    errors: dict[int, AppError] | None = None,
) -> Publication:
    pub, done = _find_open(rt, item, role)
    if done is not None:
        if _still_shown(target, done) is not False:
            return done  # already published and still there (or the store cannot say now): nothing to change
        # Someone removed the image from the product (or deleted the media) since: the job log is not the store.
        # A new publication snapshots what the product holds now and puts the image back (reusing the media
        # if the library still has it).
        _event(rt, done, f"the image published earlier is no longer on {item.label}: publishing it again")
    fresh = pub is None
    try:
        if pub is None:
            before = target.product_image_ids(item.product_id)
            before_var = (
                target.variation_image_id(item.product_id, item.variation_id)
                if role == PublishRole.VARIATION and item.variation_id
                else None
            )
            filename = versioned_filename(item.sku, item.product_id, item.asset.sha256, rt.settings.output_format)
            with rt.db.transaction() as s:
                pub = Publication(
                    asset_id=item.asset.id or 0,
                    job_id=item.job_id,
                    store_kind=item.store_kind,
                    connection_id=item.connection_id,
                    product_id=item.product_id,
                    variation_id=item.variation_id,
                    role=role,
                    remote_filename=filename,
                    before_images=before,
                    before_variation_image=before_var,
                    state=PublicationState.PENDING,
                )
                s.add(pub)
                s.flush()
                events.record(
                    s,
                    "publish",
                    f"snapshot of {len(before)} images taken",
                    job_id=item.job_id,
                    service=item.store_kind,
                    data={
                        "publication_id": pub.id,
                        "product_id": pub.product_id,
                        "before": before,
                        "before_variation": before_var,
                        "role": role,
                        "filename": filename,
                    },
                )
                s.refresh(pub)
        elif pub.state == PublicationState.FAILED:
            _event(rt, pub, "resuming")
        if not pub.remote_media_id:
            if stage is not None:
                stage("upload")
            pub = _upload(rt, target, item, pub, fresh)
        if stage is not None:
            stage("update")
        if role == PublishRole.VARIATION:
            return _apply_variation(rt, target, pub)
        return _apply_product(rt, target, pub, keep_old_featured)
    except AppError as exc:
        if pub is None:  # the snapshot itself failed: a row says so (it is never resumed nor rolled back)
            with rt.db.transaction() as s:
                pub = Publication(
                    asset_id=item.asset.id or 0,
                    job_id=item.job_id,
                    store_kind=item.store_kind,
                    connection_id=item.connection_id,
                    product_id=item.product_id,
                    variation_id=item.variation_id,
                    role=role,
                    state=PublicationState.FAILED,
                    error=exc.message,
                )
                s.add(pub)
                s.flush()
                events.record(
                    s,
                    "publish",
                    f"failed before any change: {exc.message}",
                    job_id=item.job_id,
                    service=item.store_kind,
                    data={"publication_id": pub.id, "error": exc.kind},
                )
                s.refresh(pub)
            if isinstance(exc, SourceAuthError):
                raise
            return pub
        changes: dict[str, Any] = {}
        if (
            isinstance(exc, PublishError)
            and not isinstance(exc, PublishVerifyError)
            and pub.remote_media_id
            and "invalid_image_id" in (exc.detail or "")
            and f"#{pub.remote_media_id} " in exc.message
        ):
            changes["remote_media_id"] = None  # deleted from the media library since: the next run uploads anew
        pub = _save(rt, pub, f"failed: {exc.message}", state=PublicationState.FAILED, error=exc.message, **changes)
        if isinstance(exc, SourceAuthError):
            raise  # every other image would fail the same way: stop and say so once
        if errors is not None:
            errors[pub.id or 0] = exc  # a job runner asks whether trying again may help (exc.retryable)
        return pub


def publish_images(
    rt: Runtime,
    asset_ids: list[int],
    role: str,
    *,
    keep_old_featured: bool = True,
    store_kind: str | None = None,
    connection_id: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    on_done: Callable[[Publication], None] | None = None,
    on_stage: Callable[[str], Any] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> PublishOutcome:
    """Publish approved assets to the store of their job (or the one given; photos from Drive or uploads go to the
    store item with their SKU). One Publication per image that fits, in the order given; a failed one carries a
    sentence in `error` and is resumed by publishing again. Images that do not fit (a product image asked to be a
    variation's, no matching SKU, a second main image) are left out with a sentence each; only when nothing fits
    is that an error.

    Different products are published in parallel (`concurrency` at a time: a store answers each call in tenths of
    a second, mostly waiting); the images of one product go one after the other, in order, since each builds on
    the list the previous one left. An auth error stops everything and is raised (it would fail every image).
    `on_done` hears of each finished image; once `cancelled()` says so, no further image is started."""
    publish_role = _role(role)
    targets = _Targets(rt)
    items, skipped = _resolve(
        rt, targets, list(asset_ids), publish_role, store_kind, connection_id, keep_old_featured=keep_old_featured
    )
    if not items:
        raise InputError("Nothing was published. " + " ".join(skipped))
    job_ids = {item.job_id for item in items}
    ready = {
        (i.store_kind, i.connection_id): targets.get(
            i.store_kind, i.connection_id, next(iter(job_ids)) if len(job_ids) == 1 else None
        )
        for i in items
    }  # made here, before any thread starts
    groups: dict[tuple[str, int | None, str], list[int]] = {}
    for index, item in enumerate(items):
        groups.setdefault((item.store_kind, item.connection_id, item.product_id), []).append(index)
    results: list[Publication | None] = [None] * len(items)
    outcome = PublishOutcome(skipped=skipped)
    stop = threading.Event()

    def run(indexes: list[int]) -> None:
        for index in indexes:
            if stop.is_set() or (cancelled is not None and cancelled()):
                return
            item = items[index]
            try:
                results[index] = _publish_one(
                    rt,
                    ready[(item.store_kind, item.connection_id)],
                    item,
                    item.role,
                    keep_old_featured,
                    on_stage,
                    outcome.errors,
                )
            except BaseException:
                stop.set()
                raise
            if on_done is not None:
                on_done(results[index])  # type: ignore[arg-type]

    workers = max(1, min(concurrency, len(groups)))
    if workers == 1:
        for indexes in groups.values():
            run(indexes)
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="publish") as pool:
            futures = [pool.submit(run, indexes) for indexes in groups.values()]
            errors = [f.exception() for f in futures]
        first = next((e for e in errors if e is not None), None)
        if first is not None:
            raise first
    outcome.publications = [r for r in results if r is not None]
    return outcome


@dataclass(frozen=True)
class ProductGroup:
    """The approved images going to one store product, in the order they are published (one job item)."""

    store_kind: str
    connection_id: int | None
    product_id: str
    variation_id: str | None  # set when every image of the group goes to this one variation
    label: str
    asset_ids: list[int]


def resolve_groups(
    rt: Runtime,
    asset_ids: list[int],
    role: str,
    *,
    store_kind: str | None = None,
    connection_id: int | None = None,
    keep_old_featured: bool = True,
) -> tuple[list[ProductGroup], list[str]]:
    """The images that fit, grouped by the store product they go to (in order), and a sentence for each left out.
    Reads the store only to match SKUs; changes nothing."""
    items, skipped = _resolve(
        rt, _Targets(rt), list(asset_ids), _role(role), store_kind, connection_id, keep_old_featured=keep_old_featured
    )
    groups: dict[tuple[str, int | None, str], list[_Item]] = {}
    for item in items:
        groups.setdefault((item.store_kind, item.connection_id, item.product_id), []).append(item)
    out = []
    for (kind, cid, pid), group in groups.items():
        variations = {i.variation_id for i in group}
        only = next(iter(variations)) if len(variations) == 1 else None
        name = (
            group[0].label
            if only or len(group) == 1
            else label(group[0].name, "" if group[0].variation_id else group[0].sku)
        )
        out.append(ProductGroup(kind, cid, pid, only, name, [i.asset.id for i in group if i.asset.id is not None]))
    return out, skipped


def publish_assets(rt: Runtime, asset_ids: list[int], role: str, **kw: Any) -> list[Publication]:
    """`publish_images`, publications only (images left out are not reported)."""
    return publish_images(rt, asset_ids, role, **kw).publications


def job_asset_ids(rt: Runtime, job_id: int, item_ids: list[int] | None = None) -> list[int]:
    """The approved images of a job (or of some of its items), oldest first."""
    from lib.jobs.queries import approved_assets

    assets = approved_assets(rt.db, job_id)
    if item_ids is not None:
        wanted = set(item_ids)
        assets = [a for a in assets if a.item_id in wanted]
    if not assets:
        which = "those items have" if item_ids is not None else f"job {job_id} has"
        raise InputError(
            f"{which[0].upper()}{which[1:]} no approved images to publish. Approve some in the gallery first."
        )
    return [a.id for a in assets if a.id is not None]


def publish_job(rt: Runtime, job_id: int, role: str, **kw: Any) -> list[Publication]:
    """Publish all approved images of a job (publications only; `publish_images` also says what was left out)."""
    return publish_images(rt, job_asset_ids(rt, job_id), role, **kw).publications


def product_publications(db: Any, job_id: int) -> list[Publication]:
    with db.session() as s:
        return list(s.exec(select(Publication).where(Publication.job_id == job_id).order_by(col(Publication.id))).all())


# Planning --------------------------------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def describe_change(role: str, before: list[str], after: list[str], *, keep_old_featured: bool) -> str:
    """One sentence on what publishing an image as `role` does to a product's image list."""
    count = f"{_plural(len(before), 'image')} → {len(after)}"
    if not before:
        return "The product has no images yet: the new image becomes its featured image."
    if role == PublishRole.FEATURED and keep_old_featured:
        return f"The new image becomes the featured image; the current one moves into the gallery ({count})."
    if role == PublishRole.FEATURED:
        return (
            "The new image replaces the featured image, which leaves the product but stays in the media "
            f"library ({count})."
        )
    return f"The new image is added at the end of the gallery ({count})."


def plan_publish(
    rt: Runtime,
    asset_ids: list[int],
    role: str,
    *,
    keep_old_featured: bool = True,
    store_kind: str | None = None,
    connection_id: int | None = None,
) -> PublishPlan:
    """What publishing would change, product by product, in plain sentences (reads the store, changes nothing).
    Images already published and still shown are counted in `already`; one published earlier but gone from the
    store since is planned again, and the sentence says so. Images that would be left out are in `skipped`."""
    publish_role = _role(role)
    targets = _Targets(rt)
    items, skipped = _resolve(
        rt, targets, list(asset_ids), publish_role, store_kind, connection_id, keep_old_featured=keep_old_featured
    )
    lists: dict[tuple[str, int | None, str], list[str]] = {}
    plan = PublishPlan(skipped=skipped)
    for item in items:
        target = targets.get(item.store_kind, item.connection_id, item.job_id)
        done = _find_open(rt, item, item.role)[1]
        again = ""
        if done is not None:
            shown = _still_shown(target, done)
            if shown is not False:
                plan.already += 1
                continue
            again = (
                f"Image #{item.asset.id} was published earlier but is no longer on {item.label} (removed in the "
                "store since): publishing puts it back. "
            )
        key = (item.store_kind, item.connection_id, item.product_id)
        try:
            if key not in lists:
                lists[key] = target.product_image_ids(item.product_id)
            current = (
                target.variation_image_id(item.product_id, item.variation_id or "")
                if item.role == PublishRole.VARIATION
                else None
            )
        except SourceNotFound:
            plan.skipped.append(f"{item.label} is no longer in the store, so image #{item.asset.id} cannot go there.")
            continue
        before = lists[key]
        if item.role == PublishRole.VARIATION:
            text = f"The new image becomes the image of {item.label}" + (
                ", replacing its current one (kept in the media library)."
                if current
                else " (it has no image of its own now)."
            )
            plan.changes.append(
                PlannedChange(
                    item.product_id,
                    item.variation_id,
                    item.label,
                    list(before),
                    again + text,
                    item.asset.id,
                    item.name,
                    item.sku,
                )
            )
            continue
        after = intended_images(item.role, before, f"new:{item.asset.id}", keep_old_featured=keep_old_featured)
        text = describe_change(item.role, before, after, keep_old_featured=keep_old_featured)
        plan.changes.append(
            PlannedChange(
                item.product_id, None, item.label, list(before), again + text, item.asset.id, item.name, item.sku
            )
        )
        lists[key] = after
    return plan


# Rollback --------------------------------------------------------------------------------------------------


def _describe_conflict(rt: Runtime, pub: Publication, name: str, current: Any, after: Any) -> str:
    """Which product or variation changed since we published, every change, and who made it: a later job of this
    app (roll that back first) or someone in the store."""
    if isinstance(current, list) and isinstance(after, list):
        added = [i for i in current if i not in after]
        removed = [i for i in after if i not in current]
        parts = []
        if added:
            parts.append(f"{_ids(added)} added")
        if removed:
            parts.append(f"{_ids(removed)} removed")
        if not parts:
            parts.append(f"the images were reordered ({_ids(after)} → {_ids(current)})")
        changes = ", ".join(p.replace(" (in this order)", "") for p in parts)
    else:
        changes = f"its image went from {_ids(after)} to {_ids(current)}"
    later = _later_publication(rt, pub, current)
    if later is not None:
        job = f"job {later.job_id}" if later.job_id is not None else "a later publication"
        return (
            f"{name}: {job} of this app published to it after this one ({changes}). Roll back {job} first; "
            "rolling back this one now would undo it."
        )
    return f"{name}: changed in the store after we published ({changes}). Rolling back would undo that."


def _later_publication(rt: Runtime, pub: Publication, current: Any) -> Publication | None:
    """A later publication of ours whose image is what the store shows now (so the change is ours, not a
    person's)."""
    shown = set(current) if isinstance(current, list) else {current}
    with rt.db.session() as s:
        rows = s.exec(
            select(Publication)
            .where(
                Publication.store_kind == pub.store_kind,
                _is(Publication.connection_id, pub.connection_id),
                Publication.product_id == pub.product_id,
                col(Publication.id) > (pub.id or 0),
                col(Publication.state).in_([PublicationState.DONE, PublicationState.UPLOADED]),
            )
            .order_by(col(Publication.id).desc())
        ).all()
    for row in rows:
        if row.remote_media_id in shown and (row.role == PublishRole.VARIATION) == (pub.role == PublishRole.VARIATION):
            return row
    return None


def publication_labels(db: Any, pubs: list[Publication]) -> dict[int, str]:
    """Publication id -> how messages name its product or variation: by name and SKU, from the data it was made
    from (`“Red Mug” (WCR-MUG-RED)`, `variation “Red, S” (WCR-TEE-RED-S) of “Classic Tee”`)."""
    asset_ids = sorted({p.asset_id for p in pubs})
    with db.session() as s:
        assets = {a.id: a for a in s.exec(select(Asset).where(col(Asset.id).in_(asset_ids))).all()}
        item_ids = sorted({a.item_id for a in assets.values() if a.item_id is not None})
        items = {i.id: i for i in s.exec(select(JobItem).where(col(JobItem.id).in_(item_ids))).all()}
    out: dict[int, str] = {}
    for pub in pubs:
        asset = assets.get(pub.asset_id)
        snapshot = dict(items[asset.item_id].product) if asset is not None and asset.item_id in items else {}
        name = str(snapshot.get("name") or f"Product {pub.product_id}")
        sku = str(snapshot.get("sku") or "")
        text = label(name, sku)
        if pub.variation_id:
            variation = next(
                (v for v in snapshot.get("variations") or [] if str(v.get("id")) == pub.variation_id), None
            )
            if variation is not None:
                vname, vsku = str(variation.get("name") or pub.variation_id), str(variation.get("sku") or "")
                text = f"variation {label(vname, vsku)} of “{name}”"
            elif not sku:
                text = f"variation {pub.variation_id} of {text}"
        out[pub.id or 0] = text
    return out


def _restore(rt: Runtime, target: PublishTarget, pub: Publication, force: bool, name: str) -> str | None:
    """Put one publication's snapshot back. Returns a conflict sentence instead when the store changed since."""
    is_variation = pub.role == PublishRole.VARIATION
    intent = pub.after_variation_image is not None if is_variation else bool(pub.after_images)
    if not pub.remote_media_id or (pub.state != PublicationState.DONE and not intent):
        _save(rt, pub, "rolled back (the store was never changed)", state=PublicationState.ROLLED_BACK)
        return None
    vid = pub.variation_id or ""
    before: Any = pub.before_variation_image if is_variation else list(pub.before_images)
    after: Any = pub.after_variation_image if is_variation else list(pub.after_images)

    def read() -> Any:
        return (
            target.variation_image_id(pub.product_id, vid) if is_variation else target.product_image_ids(pub.product_id)
        )

    # Where a variation's image is one of the product's images (Shopify), the product's list is restored too.
    with_list = is_variation and _shares_variation_media(target) and bool(pub.after_images)

    def step() -> str | None:
        current = read()
        listed = target.product_image_ids(pub.product_id) if with_list else None
        if with_list and listed not in (pub.before_images, pub.after_images) and not force:
            sentence = _describe_conflict(rt, pub, name, listed, list(pub.after_images))
            _event(rt, pub, f"rollback refused: {sentence}", current=listed, expected=pub.after_images)
            return sentence
        if current == before and listed in (None, pub.before_images):
            _save(rt, pub, "rolled back", state=PublicationState.ROLLED_BACK)
            return None
        if current != after and current != before and not force:
            sentence = _describe_conflict(rt, pub, name, current, after)
            _event(rt, pub, f"rollback refused: {sentence}", current=current, expected=after)
            return sentence
        _event(rt, pub, f"restoring {before}" + (" (overwriting later edits)" if current != after else ""))
        if is_variation:
            if current != before:
                target.set_variation_image(pub.product_id, vid, before)
            if with_list and listed != pub.before_images:
                target.set_product_images(pub.product_id, list(pub.before_images))
        else:
            target.set_product_images(pub.product_id, before)
        stored = read()
        if with_list and target.product_image_ids(pub.product_id) != pub.before_images:
            raise PublishVerifyError(
                f"The store did not take the product's old images back (it should show {_ids(pub.before_images)}).",
                detail=f"before={pub.before_images}",
            )
        if stored != before:
            raise PublishVerifyError(
                f"The store did not take the old images back: it shows {_ids(stored)} instead of {_ids(before)}.",
                detail=f"stored={stored} before={before}",
            )
        _save(rt, pub, "rolled back", state=PublicationState.ROLLED_BACK)
        return None

    return _retrying(rt, pub, "rollback", step)


def _rollback_product(
    rt: Runtime, target: PublishTarget, pubs: list[Publication], force: bool, report: RollbackReport, name: str
) -> None:
    """One product's image list (or one variation's image): newest publication first."""
    for pub in reversed(pubs):  # newest first, so the earliest snapshot is what remains
        conflict = _restore(rt, target, pub, force, name)
        if conflict is not None:
            report.conflicts.append((pub.product_id, conflict))
            return  # older snapshots of this product stay as they are: nothing half-restored
    if pubs[0].product_id not in report.restored:
        report.restored.append(pubs[0].product_id)


def rollback_scope(
    rt: Runtime,
    *,
    job_id: int | None = None,
    product_ids: list[str] | None = None,
    publication_ids: list[int] | None = None,
) -> list[Publication]:
    """The publications a rollback of this job, products or publications would undo, oldest first."""
    if job_id is None and not product_ids and not publication_ids:
        raise InputError("Say which job, products or publications to roll back.")
    with rt.db.session() as s:
        q = select(Publication).where(
            col(Publication.state).in_(list(OPEN) + [PublicationState.DONE]),
            col(Publication.remote_filename).is_not(None),
        )
        if job_id is not None:
            q = q.where(Publication.job_id == job_id)
        if product_ids:
            q = q.where(col(Publication.product_id).in_([str(p) for p in product_ids]))
        if publication_ids:
            q = q.where(col(Publication.id).in_(list(publication_ids)))
        return list(s.exec(q.order_by(col(Publication.id))).all())


def rollback(
    rt: Runtime,
    *,
    job_id: int | None = None,
    product_ids: list[str] | None = None,
    publication_ids: list[int] | None = None,
    force: bool = False,
) -> RollbackReport:
    """Put the products' image lists back as they were before publishing. Conflicts (the store changed since) are
    reported, not overwritten, unless force=True. Store errors (after retries) are raised once every product has
    been tried, unless there are conflicts to report too (then they are in `report.errors`)."""
    pubs = rollback_scope(rt, job_id=job_id, product_ids=product_ids, publication_ids=publication_ids)
    # A product's image list and each of its variations' images are separate things to put back: two changed
    # variations are two conflicts, each named.
    # Where a variation's image is one of the product's images (Shopify), all of a product's publications are one
    # sequence, undone newest first.
    targets = _Targets(rt)
    groups: dict[tuple[str, int | None, str, str | None], list[Publication]] = {}
    for pub in pubs:
        vid = pub.variation_id if pub.role == PublishRole.VARIATION else None
        if vid is not None and _shares_list(targets, pub):
            vid = None
        groups.setdefault((pub.store_kind, pub.connection_id, pub.product_id, vid), []).append(pub)
    labels = publication_labels(rt.db, pubs)
    report = RollbackReport()
    failures: list[AppError] = []
    for (kind, cid, product_id, _vid), group in groups.items():
        name = labels.get(group[-1].id or 0, f"Product {product_id}")
        report.labels.setdefault(product_id, name)
        try:
            target = targets.get(kind, cid, group[-1].job_id)
            _rollback_product(rt, target, group, force, report, name)
        except AppError as exc:
            report.errors.append((product_id, f"{name} was not rolled back: {exc.message}"))
            failures.append(exc)
            _event(rt, group[-1], f"rollback failed: {exc.message}", error=exc.kind)
            if isinstance(exc, SourceAuthError):
                raise
    if failures and not report.conflicts:
        # Said out loud: a caller that only counts `restored` would otherwise report success. (With conflicts the
        # report is returned, since the caller must ask about those; `errors` is in it.)
        done = f"Restored {_plural(len(report.restored), 'product')}. " if report.restored else ""
        error = PublishError(
            done
            + " ".join(message for _pid, message in report.errors)
            + " Roll back again to finish"
            + (" (what was restored stays restored)." if done else "."),
            detail=", ".join(f.kind for f in failures),
        )
        error.retryable = all(f.retryable for f in failures)  # a store that was down: trying later may help
        raise error
    return report


__all__ = [
    "HOOKS",
    "PlannedChange",
    "PublishOutcome",
    "PublishPlan",
    "job_asset_ids",
    "publication_labels",
    "publish_images",
    "resolve_groups",
    "rollback_scope",
    "PublishError",
    "RollbackReport",
    "intended_images",
    "plan_publish",
    "product_publications",
    "publish_assets",
    "publish_job",
    "rollback",
    "versioned_filename",
]
