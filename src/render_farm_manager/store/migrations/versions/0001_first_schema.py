"""First schema: clients, nodes, jobs (with tasks), audit entries, farm-level documents.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(256)
AUTO_ID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "clients",
        sa.Column("id", ID, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_clients_seq", "clients", ["seq"])
    op.create_table(
        "nodes",
        sa.Column("id", ID, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
    )
    op.create_index("ix_nodes_seq", "nodes", ["seq"])
    op.create_table(
        "jobs",
        sa.Column("id", ID, primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("client_id", ID, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("shot_id", ID, nullable=True),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("extra", sa.Text, nullable=True),
    )
    for column in ("seq", "client_id", "status", "shot_id"):
        op.create_index(f"ix_jobs_{column}", "jobs", [column])
    op.create_table(
        "audit",
        sa.Column("id", AUTO_ID, primary_key=True, autoincrement=True),
        sa.Column("timestamp", sa.DateTime, nullable=False),
        sa.Column("event_type", ID, nullable=False),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("node_id", ID, nullable=True),
        sa.Column("client_id", ID, nullable=True),
        sa.Column("data", sa.Text, nullable=False),
    )
    for column in ("timestamp", "event_type", "job_id", "node_id", "client_id"):
        op.create_index(f"ix_audit_{column}", "audit", [column])
    op.create_table(
        "farm_state",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("data", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("farm_state", "audit", "jobs", "nodes", "clients"):
        op.drop_table(table)
