"""Indexes for reading one page of a 100,000-item job: products in order, status counts, review counts

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobitem", schema=None) as batch_op:
        batch_op.create_index("ix_item_job_product", ["job_id", "product_id", "variation_id", "id"], unique=False)
        batch_op.create_index("ix_item_job_status", ["job_id", "status", "stage"], unique=False)
    with op.batch_alter_table("asset", schema=None) as batch_op:
        batch_op.create_index("ix_asset_job_review", ["job_id", "kind", "review_state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("asset", schema=None) as batch_op:
        batch_op.drop_index("ix_asset_job_review")
    with op.batch_alter_table("jobitem", schema=None) as batch_op:
        batch_op.drop_index("ix_item_job_status")
        batch_op.drop_index("ix_item_job_product")
