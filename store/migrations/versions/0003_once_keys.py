"""Requests that take effect once across processes: Slack replays, double presses, Idempotency-Key.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "once_keys",
        sa.Column("key", sa.String(length=300), primary_key=True),
        sa.Column("scope", sa.String(), nullable=False),
        sa.Column("fingerprint", sa.String(), nullable=False, server_default=""),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
    )
    op.create_index("ix_once_keys_expires_at", "once_keys", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_once_keys_expires_at", table_name="once_keys")
    op.drop_table("once_keys")
