"""Whom each dispute waits on, one row per person, so that the "waiting on me" queue is a join.

Backfilled from the stored views (`disputes.view_json`, its `waiting_on` list), in SQL on SQLite
(`json_each`) and PostgreSQL (`json_array_elements_text`).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BACKFILL = {
    "sqlite": """
        INSERT INTO dispute_waiting (dispute_id, email)
        SELECT DISTINCT d.id, w.value FROM disputes AS d, json_each(d.view_json, '$.waiting_on') AS w
        WHERE w.type = 'text'
    """,
    "postgresql": """
        INSERT INTO dispute_waiting (dispute_id, email)
        SELECT DISTINCT d.id, w.email FROM disputes AS d
        CROSS JOIN LATERAL json_array_elements_text(CAST(d.view_json AS json) -> 'waiting_on') AS w(email)
    """,
}


def upgrade() -> None:
    op.create_table(
        "dispute_waiting",
        sa.Column("dispute_id", sa.String(), sa.ForeignKey("disputes.id"), primary_key=True),
        sa.Column("email", sa.String(), primary_key=True),
    )
    op.create_index("ix_dispute_waiting_email", "dispute_waiting", ["email"])
    dialect = op.get_context().dialect.name
    if dialect in BACKFILL:
        op.execute(BACKFILL[dialect])
    else:  # any other database: read the views here
        conn = op.get_bind()
        rows = conn.execute(sa.text("SELECT id, view_json FROM disputes")).all()
        waiting = [{"dispute_id": id_, "email": email} for id_, view_json in rows
                   for email in dict.fromkeys(json.loads(view_json).get("waiting_on") or [])]
        if waiting:
            conn.execute(sa.text("INSERT INTO dispute_waiting (dispute_id, email) VALUES (:dispute_id, :email)"),
                         waiting)


def downgrade() -> None:
    op.drop_index("ix_dispute_waiting_email", table_name="dispute_waiting")
    op.drop_table("dispute_waiting")
