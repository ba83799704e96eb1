"""Schema v4: the tables as the last hand-written upgrade step (schema_version 4) left them.

Databases made before Alembic (schema versions 1 to 4, which only ever added tables, columns and indexes) are
brought to exactly this schema by adding what they lack; a fresh database gets it whole. Later revisions are
ordinary Alembic migrations.

Revision ID: 0004
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

import lib.models
from lib.schema import ensure_tables

revision = "0004"
down_revision = None
branch_labels = None
depends_on = None

V4 = sa.MetaData()

sa.Table(
    "asset",
    V4,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("sha256", AutoString(), nullable=False),
    sa.Column("kind", AutoString(), nullable=False),
    sa.Column("mime", AutoString(), nullable=False),
    sa.Column("size_bytes", sa.Integer(), nullable=False),
    sa.Column("width", sa.Integer(), nullable=False),
    sa.Column("height", sa.Integer(), nullable=False),
    sa.Column("job_id", sa.Integer(), nullable=True),
    sa.Column("item_id", sa.Integer(), nullable=True),
    sa.Column("product_id", AutoString(), nullable=True),
    sa.Column("variation_id", AutoString(), nullable=True),
    sa.Column("alt_text", AutoString(), nullable=False),
    sa.Column("alt_tries_left", sa.Integer(), nullable=False),
    sa.Column("review_state", AutoString(), nullable=False),
    sa.Column("fidelity", sa.Float(), nullable=True),
    sa.Column("fingerprint", AutoString(), nullable=True),
    sa.Column("created_at", lib.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column("reviewed_at", lib.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("item_id", "kind", name="uq_asset_item_kind"),
)
sa.Index("ix_asset_alt_tries_left", V4.tables["asset"].c["alt_tries_left"], unique=False)
sa.Index("ix_asset_fingerprint", V4.tables["asset"].c["fingerprint"], unique=False)
sa.Index("ix_asset_item_id", V4.tables["asset"].c["item_id"], unique=False)
sa.Index("ix_asset_job_id", V4.tables["asset"].c["job_id"], unique=False)
sa.Index("ix_asset_product_id", V4.tables["asset"].c["product_id"], unique=False)
sa.Index("ix_asset_review_state", V4.tables["asset"].c["review_state"], unique=False)
sa.Index("ix_asset_sha256", V4.tables["asset"].c["sha256"], unique=False)

sa.Table(
    "connection",
    V4,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("kind", AutoString(), nullable=False),
    sa.Column("name", AutoString(), nullable=False),
    sa.Column("base_url", AutoString(), nullable=True),
    sa.Column("secret_blob", sa.LargeBinary(), nullable=True),
    sa.Column("settings", sa.JSON(), nullable=False),
    sa.Column("is_active", sa.Boolean(), nullable=False),
    sa.Column("created_at", lib.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column("verified_at", lib.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column("last_error", AutoString(), nullable=True),
    sa.PrimaryKeyConstraint("id"),
)
sa.Index("ix_connection_kind", V4.tables["connection"].c["kind"], unique=False)

sa.Table(
    "demoimagelist",
    V4,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("product_id", AutoString(), nullable=False),
    sa.Column("variation_id", AutoString(), nullable=False),
    sa.Column("image_ids", sa.JSON(), nullable=False),
    sa.Column("updated_at", lib.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id"),
    sa.UniqueConstraint("product_id", "variation_id", name="uq_demo_images"),
)
sa.Index("ix_demoimagelist_product_id", V4.tables["demoimagelist"].c["product_id"], unique=False)

sa.Table(
    "demomedia",
    V4,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("sha256", AutoString(), nullable=False),
    sa.Column("filename", AutoString(), nullable=False),
    sa.Column("alt_text", AutoString(), nullable=False),
    sa.Column("title", AutoString(), nullable=False),
    sa.Column("created_at", lib.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id"),
)
sa.Table(
    "event",
    V4,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("at", lib.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column("job_id", sa.Integer(), nullable=True),
    sa.Column("item_id", sa.Integer(), nullable=True),
    sa.Column("kind", AutoString(), nullable=False),
    sa.Column("service", AutoString(), nullable=True),
    sa.Column("method", AutoString(), nullable=True),
    sa.Column("url", AutoString(), nullable=True),
    sa.Column("status_code", sa.Integer(), nullable=True),
    sa.Column("duration_ms", sa.Float(), nullable=True),
    sa.Column("request_id", AutoString(), nullable=True),
    sa.Column("message", AutoString(), nullable=False),
    sa.Column("data", sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint("id"),
)
sa.Index("ix_event_item_id", V4.tables["event"].c["item_id"], unique=False)
sa.Index("ix_event_job_id", V4.tables["event"].c["job_id"], unique=False)

sa.Table(
    "job",
    V4,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("source_kind", AutoString(), nullable=False),
    sa.Column("connection_id", sa.Integer(), nullable=True),
    sa.Column("provider", AutoString(), nullable=False),
    sa.Column("model", AutoString(), nullable=False),
    sa.Column("style", AutoString(), nullable=False),
    sa.Column("prompt_extra", AutoString(), nullable=False),
    sa.Column("aspect_ratio", AutoString(), nullable=False),
    sa.Column("output_size", sa.Integer(), nullable=False),
    sa.Column("variants", sa.Integer(), nullable=False),
    sa.Column("mode", AutoString(), nullable=False),
    sa.Column("options", sa.JSON(), nullable=False),
    sa.Column("status", AutoString(), nullable=False),
    sa.Column("item_count", sa.Integer(), nullable=False),
    sa.Column("estimated_cost", sa.Float(), nullable=False),
    sa.Column("actual_cost", sa.Float(), nullable=False),
    sa.Column("error", AutoString(), nullable=True),
    sa.Column("created_at", lib.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column("started_at", lib.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column("finished_at", lib.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("id"),
)
sa.Index("ix_job_source_kind", V4.tables["job"].c["source_kind"], unique=False)
sa.Index("ix_job_status", V4.tables["job"].c["status"], unique=False)

sa.Table(
    "meta",
    V4,
    sa.Column("key", AutoString(), nullable=False),
    sa.Column("value", AutoString(), nullable=False),
    sa.PrimaryKeyConstraint("key"),
)
sa.Table(
    "uploadedproduct",
    V4,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("name", AutoString(), nullable=False),
    sa.Column("sku", AutoString(), nullable=False),
    sa.Column("category", AutoString(), nullable=False),
    sa.Column("description", AutoString(), nullable=False),
    sa.Column("sha256", AutoString(), nullable=False),
    sa.Column("width", sa.Integer(), nullable=False),
    sa.Column("height", sa.Integer(), nullable=False),
    sa.Column("created_at", lib.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("id"),
)
sa.Table(
    "jobitem",
    V4,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("job_id", sa.Integer(), nullable=False),
    sa.Column("product_id", AutoString(), nullable=False),
    sa.Column("variation_id", AutoString(), nullable=True),
    sa.Column("variant_index", sa.Integer(), nullable=False),
    sa.Column("product", sa.JSON(), nullable=False),
    sa.Column("prompt", AutoString(), nullable=False),
    sa.Column("regenerate", sa.Boolean(), nullable=False),
    sa.Column("parent_item_id", sa.Integer(), nullable=True),
    sa.Column("status", AutoString(), nullable=False),
    sa.Column("stage", AutoString(), nullable=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("next_attempt_at", lib.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column("lease_owner", AutoString(), nullable=True),
    sa.Column("lease_expires_at", lib.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column("source_sha", AutoString(), nullable=True),
    sa.Column("fingerprint", AutoString(), nullable=True),
    sa.Column("result_asset_id", sa.Integer(), nullable=True),
    sa.Column("batch_name", AutoString(), nullable=True),
    sa.Column("error_kind", AutoString(), nullable=True),
    sa.Column("error_message", AutoString(), nullable=True),
    sa.Column("latency_ms", sa.Float(), nullable=True),
    sa.Column("cost", sa.Float(), nullable=False),
    sa.Column("created_at", lib.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column("started_at", lib.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column("finished_at", lib.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(
        ["job_id"],
        ["job.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
)
sa.Index("ix_item_claim", V4.tables["jobitem"].c["status"], V4.tables["jobitem"].c["next_attempt_at"])
sa.Index("ix_jobitem_fingerprint", V4.tables["jobitem"].c["fingerprint"], unique=False)
sa.Index("ix_jobitem_job_id", V4.tables["jobitem"].c["job_id"], unique=False)
sa.Index("ix_jobitem_status", V4.tables["jobitem"].c["status"], unique=False)

sa.Table(
    "publication",
    V4,
    sa.Column("id", sa.Integer(), nullable=False),
    sa.Column("asset_id", sa.Integer(), nullable=False),
    sa.Column("job_id", sa.Integer(), nullable=True),
    sa.Column("store_kind", AutoString(), nullable=False),
    sa.Column("connection_id", sa.Integer(), nullable=True),
    sa.Column("product_id", AutoString(), nullable=False),
    sa.Column("variation_id", AutoString(), nullable=True),
    sa.Column("role", AutoString(), nullable=False),
    sa.Column("remote_media_id", AutoString(), nullable=True),
    sa.Column("remote_filename", AutoString(), nullable=True),
    sa.Column("before_images", sa.JSON(), nullable=False),
    sa.Column("before_variation_image", AutoString(), nullable=True),
    sa.Column("after_images", sa.JSON(), nullable=False),
    sa.Column("after_variation_image", AutoString(), nullable=True),
    sa.Column("state", AutoString(), nullable=False),
    sa.Column("error", AutoString(), nullable=True),
    sa.Column("verify_failed", sa.Boolean(), nullable=False),
    sa.Column("created_at", lib.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column("updated_at", lib.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(
        ["asset_id"],
        ["asset.id"],
    ),
    sa.PrimaryKeyConstraint("id"),
)
sa.Index("ix_publication_asset_id", V4.tables["publication"].c["asset_id"], unique=False)
sa.Index("ix_publication_job_id", V4.tables["publication"].c["job_id"], unique=False)
sa.Index("ix_publication_product_id", V4.tables["publication"].c["product_id"], unique=False)
sa.Index("ix_publication_state", V4.tables["publication"].c["state"], unique=False)


def upgrade() -> None:
    ensure_tables(op.get_bind(), V4)


def downgrade() -> None:
    raise NotImplementedError("The job log is not downgraded below its first Alembic revision.")
