"""Hot and cold: what changes all the time about a job (status, place in the ready queue, node,
progress, what the manager remembers about it) moves to a narrow ``job_state`` row beside the
model's, and a node's hot fields (status, current job, uptime) to a ``node_state`` row, so that
such a change rewrites a few bytes instead of the whole model.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(256)


def upgrade() -> None:
    op.create_table(
        "job_state",
        sa.Column("id", ID, sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("queue_seq", sa.BigInteger, nullable=True),
        sa.Column("patch", sa.Text, nullable=True),
        sa.Column("extra", sa.Text, nullable=True),
        # room on each page, so PostgreSQL updates these rows in place (no index entry each)
        postgresql_with={"fillfactor": 50},
    )
    op.create_index("ix_job_state_status", "job_state", ["status"])
    op.execute(
        "INSERT INTO job_state (id, status, queue_seq, patch, extra) "
        "SELECT id, status, NULL, NULL, extra FROM jobs"
    )
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_status")
        batch.drop_column("status")
        batch.drop_column("extra")
    op.create_table(
        "node_state",
        sa.Column("id", ID, sa.ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("patch", sa.Text, nullable=True),
        postgresql_with={"fillfactor": 50},
    )
    op.execute("INSERT INTO node_state (id, patch) SELECT id, NULL FROM nodes")


def downgrade() -> None:
    # the patches are folded into the models first, so nothing is lost going down
    connection = op.get_bind()
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("status", sa.String(32), nullable=False, server_default="pending")
        )
        batch.add_column(sa.Column("extra", sa.Text, nullable=True))
    states = connection.execute(
        sa.text(
            "SELECT job_state.id, job_state.status, job_state.patch, job_state.extra, jobs.data "
            "FROM job_state JOIN jobs ON jobs.id = job_state.id"
        )
    ).fetchall()
    for job_id, status, patch, extra, data in states:
        connection.execute(
            sa.text(
                "UPDATE jobs SET status = :status, extra = :extra, data = :data WHERE id = :id"
            ),
            {"status": status, "extra": extra, "data": _merged(data, patch, status), "id": job_id},
        )
    op.create_index("ix_jobs_status", "jobs", ["status"])
    op.drop_index("ix_job_state_status", table_name="job_state")
    op.drop_table("job_state")
    nodes = connection.execute(
        sa.text(
            "SELECT nodes.id, nodes.data, node_state.patch FROM nodes "
            "JOIN node_state ON node_state.id = nodes.id WHERE node_state.patch IS NOT NULL"
        )
    ).fetchall()
    for node_id, data, patch in nodes:
        connection.execute(
            sa.text("UPDATE nodes SET data = :data WHERE id = :id"),
            {"data": _merged(data, patch, None), "id": node_id},
        )
    op.drop_table("node_state")


def _merged(data: str, patch: str | None, status: str | None) -> str:
    merged = json.loads(data)
    if patch:
        merged.update(json.loads(patch))
    if status is not None:
        merged["status"] = status
    return json.dumps(merged)
