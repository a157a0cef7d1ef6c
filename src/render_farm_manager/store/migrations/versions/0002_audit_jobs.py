"""Audit entries about many jobs at once are found by each job: the ``audit_jobs`` link table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

AUTO_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "audit_jobs",
        sa.Column(
            "audit_id",
            AUTO_ID,
            sa.ForeignKey("audit.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("job_id", sa.String(256), primary_key=True),
    )
    op.create_index("ix_audit_jobs_job_id", "audit_jobs", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_audit_jobs_job_id", table_name="audit_jobs")
    op.drop_table("audit_jobs")
