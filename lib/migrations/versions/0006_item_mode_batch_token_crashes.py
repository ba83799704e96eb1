"""JobItem.batch_name meant four things; mode, batch_token and batch_name now each say one, and crashes counts lost
leases apart from attempts.

batch_name was None (a batch job's item waiting for a batch, or an online job's item), "online" (a batch item sent
to the online queue), "pending:<token>" (a batch being created) or a Gemini batch name ("batches/123").

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobitem") as batch:
        batch.add_column(
            sa.Column("crashes", sa.Integer(), nullable=False, server_default="0"),
        )
        batch.add_column(
            sa.Column("mode", AutoString(), nullable=False, server_default="online"),
        )
        batch.add_column(sa.Column("batch_token", AutoString(), nullable=True))
    op.create_index("ix_jobitem_batch_token", "jobitem", ["batch_token"])
    op.create_index("ix_jobitem_batch_name", "jobitem", ["batch_name"])
    # the batch job's waiting items first, before "online" items of batch jobs lose their marker
    op.execute(
        "UPDATE jobitem SET mode = 'batch' "
        "WHERE batch_name IS NULL AND job_id IN (SELECT id FROM job WHERE mode = 'batch')"
    )
    op.execute("UPDATE jobitem SET mode = 'online', batch_name = NULL WHERE batch_name = 'online'")
    op.execute(
        "UPDATE jobitem SET mode = 'batch', batch_token = substr(batch_name, 9), batch_name = NULL "
        "WHERE batch_name LIKE 'pending:%'"
    )
    op.execute("UPDATE jobitem SET mode = 'batch' WHERE batch_name LIKE 'batches/%'")


def downgrade() -> None:
    op.execute(
        "UPDATE jobitem SET batch_name = 'online' WHERE mode = 'online' AND batch_name IS NULL "
        "AND job_id IN (SELECT id FROM job WHERE mode = 'batch')"
    )
    op.execute(
        "UPDATE jobitem SET batch_name = 'pending:' || batch_token WHERE batch_token IS NOT NULL AND batch_name IS NULL"
    )
    op.drop_index("ix_jobitem_batch_name", "jobitem")
    op.drop_index("ix_jobitem_batch_token", "jobitem")
    with op.batch_alter_table("jobitem") as batch:
        batch.drop_column("batch_token")
        batch.drop_column("mode")
        batch.drop_column("crashes")
