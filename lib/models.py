"""The job log's tables (SQLModel). All timestamps are timezone-aware UTC.

Item states: queued -> running(stage) -> succeeded | failed | cancelled. Retryable errors put an item back to
queued with next_attempt_at; a lease (owner, expiry) marks who is working on a running item.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, DateTime, Index, LargeBinary, UniqueConstraint, text
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always hands back aware datetimes (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the job log; use lib.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _ts(**kw: Any) -> Any:
    return Field(sa_column=Column(UTCDateTime(), **kw), default=None)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


def _json(default: Any) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


class ItemStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Stage(StrEnum):
    FETCH = "fetch"
    VALIDATE = "validate"
    GENERATE = "generate"
    STORE = "store"
    BATCH_SUBMITTED = "batch_submitted"
    BATCH_RUNNING = "batch_running"


class ItemMode(StrEnum):
    """How an item is made: by the runner one call at a time, or inside a provider's batch."""

    ONLINE = "online"
    BATCH = "batch"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"  # auth error: waits for a new key instead of burning retries
    SUCCEEDED = "succeeded"  # every item succeeded
    FINISHED = "finished"  # done, some items failed
    FAILED = "failed"  # done, no item succeeded
    CANCELLED = "cancelled"


TERMINAL_ITEM = {ItemStatus.SUCCEEDED, ItemStatus.FAILED, ItemStatus.CANCELLED}
TERMINAL_JOB = {JobStatus.SUCCEEDED, JobStatus.FINISHED, JobStatus.FAILED, JobStatus.CANCELLED}


class ReviewState(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class AssetKind(StrEnum):
    SOURCE = "source"
    GENERATED = "generated"


class PublishRole(StrEnum):
    FEATURED = "featured"  # new image first; the old featured stays in the gallery unless asked not to
    GALLERY = "gallery"  # appended to the gallery
    VARIATION = "variation"  # the variation's own image


class PublicationState(StrEnum):
    PENDING = "pending"
    UPLOADED = "uploaded"  # media exists at the store (remote_media_id recorded), product not yet updated
    DONE = "done"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


class Meta(SQLModel, table=True):
    """Key/value facts about the database itself (schema_version)."""

    key: str = Field(primary_key=True)
    value: str


class Connection(SQLModel, table=True):
    """A saved external account: a store, a Drive, an AI provider. The secret is a Fernet token."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(index=True)  # woocommerce | drive | gemini
    name: str
    base_url: str | None = None
    secret_blob: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    settings: dict[str, Any] = _json(dict)  # non-secret options (wp user, root folder id, ...)
    is_active: bool = False
    created_at: datetime = _created()
    verified_at: datetime | None = _ts()
    last_error: str | None = None


class Job(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    source_kind: str = Field(index=True)  # demo | woocommerce | drive | upload
    connection_id: int | None = None
    provider: str  # studio | gemini
    model: str
    style: str
    prompt_extra: str = ""
    aspect_ratio: str = "1:1"
    output_size: int = 1024  # long side in px
    variants: int = 1
    mode: str = "online"  # online | batch
    options: dict[str, Any] = _json(dict)
    status: str = Field(default=JobStatus.QUEUED, index=True)
    item_count: int = 0
    estimated_cost: float = 0.0
    actual_cost: float = 0.0
    error: str | None = None
    created_at: datetime = _created()
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()


class JobItem(SQLModel, table=True):
    __table_args__ = (
        Index("ix_item_claim", "status", "next_attempt_at"),
        # A job's pages read in SQL (lib/jobs/queries.py): products in order of their first item, counts by state.
        Index("ix_item_job_product", "job_id", "product_id", "variation_id", "id"),
        Index("ix_item_job_status", "job_id", "status", "stage"),
        Index("ix_item_mode_status", "mode", "status", "stage"),  # every worker poll asks for batch work
        # A job's latest errors (its progress line) among the few items that have one, not its whole list.
        Index(
            "ix_item_job_errors",
            "job_id",
            "id",
            sqlite_where=text("error_message IS NOT NULL"),
            postgresql_where=text("error_message IS NOT NULL"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(foreign_key="job.id", index=True)
    product_id: str
    variation_id: str | None = None
    variant_index: int = 0
    product: dict[str, Any] = _json(dict)  # snapshot of the product the item was made from
    prompt: str = ""
    regenerate: bool = False  # skip the identical-request cache
    parent_item_id: int | None = None  # set when made by "regenerate"
    status: str = Field(default=ItemStatus.QUEUED, index=True)
    stage: str | None = None
    attempts: int = 0  # tries that ended (or may still end) in an error; a crash does not count
    crashes: int = 0  # leases lost because the worker died; their own cap (settings.max_crashes)
    next_attempt_at: datetime = _created()
    lease_owner: str | None = None
    lease_expires_at: datetime | None = _ts()
    source_sha: str | None = None
    fingerprint: str | None = Field(default=None, index=True)
    result_asset_id: int | None = None
    mode: str = Field(default=ItemMode.ONLINE)  # online | batch (a batch job's item sent back online: online)
    batch_token: str | None = Field(default=None, index=True)  # names a batch being created (display-name suffix)
    batch_name: str | None = Field(default=None, index=True)  # the provider's batch ("batches/123") once created
    error_kind: str | None = None
    error_message: str | None = None
    latency_ms: float | None = None
    cost: float = 0.0
    created_at: datetime = _created()
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()


class Asset(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("item_id", "kind", name="uq_asset_item_kind"),
        Index("ix_asset_job_review", "job_id", "kind", "review_state"),  # the Gallery's counts by review state
    )

    id: int | None = Field(default=None, primary_key=True)
    sha256: str = Field(index=True)
    kind: str = AssetKind.GENERATED
    mime: str = "image/jpeg"
    size_bytes: int = 0
    width: int = 0
    height: int = 0
    job_id: int | None = Field(default=None, index=True)
    item_id: int | None = Field(default=None, index=True)
    product_id: str | None = Field(default=None, index=True)
    variation_id: str | None = None
    alt_text: str = ""
    alt_tries_left: int = Field(default=0, index=True)  # > 0: the template stands in; ask the text model again
    review_state: str = Field(default=ReviewState.PENDING, index=True)
    fidelity: float | None = None
    fingerprint: str | None = Field(default=None, index=True)
    created_at: datetime = _created()
    reviewed_at: datetime | None = _ts()


class Publication(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="asset.id", index=True)
    job_id: int | None = Field(default=None, index=True)
    store_kind: str = "demo"  # demo | woocommerce
    connection_id: int | None = None
    product_id: str = Field(index=True)
    variation_id: str | None = None
    role: str = PublishRole.FEATURED
    remote_media_id: str | None = None
    remote_filename: str | None = None
    before_images: list[str] = _json(list)  # product image ids in order, before the change
    before_variation_image: str | None = None
    after_images: list[str] = _json(list)  # what we set (to detect later edits by someone else)
    after_variation_image: str | None = None
    state: str = Field(default=PublicationState.PENDING, index=True)
    error: str | None = None
    # The store once kept another list than the one we sent: until a verify succeeds, what it shows is not an
    # edit to respect. Kept apart from `error`, which a later failure of another kind overwrites.
    verify_failed: bool = False
    created_at: datetime = _created()
    updated_at: datetime | None = _ts()


class Event(SQLModel, table=True):
    """Append-only: state transitions and outbound requests. Never holds secrets."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _created()
    job_id: int | None = Field(default=None, index=True)
    item_id: int | None = Field(default=None, index=True)
    kind: str  # transition | request | publish | info | error
    service: str | None = None  # gemini | woocommerce | wordpress | drive | studio | demo
    method: str | None = None
    url: str | None = None  # with auth parameters stripped
    status_code: int | None = None
    duration_ms: float | None = None
    request_id: str | None = None
    message: str = ""
    data: dict[str, Any] = _json(dict)


class UploadedProduct(SQLModel, table=True):
    """A product made from an image dropped in the browser (the Uploads source)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str
    sku: str = ""
    category: str = "Uploads"
    description: str = ""
    sha256: str
    width: int = 0
    height: int = 0
    created_at: datetime = _created()


class DemoImageList(SQLModel, table=True):
    """The demo store's current image ids per product (and per variation), so publish/rollback work offline."""

    __table_args__ = (UniqueConstraint("product_id", "variation_id", name="uq_demo_images"),)

    id: int | None = Field(default=None, primary_key=True)
    product_id: str = Field(index=True)
    variation_id: str = ""  # "" = the product itself
    image_ids: list[str] = _json(list)
    updated_at: datetime | None = _ts()


class DemoMedia(SQLModel, table=True):
    """Media 'uploaded' to the demo store: id -> blob."""

    id: int | None = Field(default=None, primary_key=True)
    sha256: str
    filename: str
    alt_text: str = ""
    title: str = ""
    created_at: datetime = _created()


class QuotaSlot(SQLModel, table=True):
    """One provider's shared request pacing (written only by lib/quota.py): when the next request may be sent,
    and until when a provider's retry delay pauses every worker. Times are seconds since the epoch on the
    database server's clock, so workers on machines whose clocks differ still agree."""

    provider: str = Field(primary_key=True)
    next_at: float = 0.0
    paused_until: float = 0.0


class WorkerSeen(SQLModel, table=True):
    """A worker process's last sign of life, for the health line on the Jobs page (written only by
    lib/workers_seen.py)."""

    owner: str = Field(primary_key=True)
    host: str = ""
    pid: int = 0
    started_at: datetime | None = _ts()
    seen_at: datetime | None = _ts()
    in_flight: int = 0
    stopping: bool = False


class FidelityCheck(SQLModel, table=True):
    """What the fidelity check found in a generated asset (lib/fidelity; written by lib/fidelity/records.py only)."""

    id: int | None = Field(default=None, primary_key=True)
    asset_id: int = Field(foreign_key="asset.id", index=True, unique=True)
    job_id: int | None = Field(default=None, index=True)
    verdict: str = Field(index=True)  # faithful | check | redrawn
    findings: list[dict[str, Any]] = _json(list)  # Finding.to_json() each, worst first
    measures: dict[str, float] = _json(dict)
    notes: list[str] = _json(list)
    seconds: float = 0.0
    checked_at: datetime = _created()
