"""Slack posts once (issue 13 item 1): when an attempt began posting each outbox row to Slack, so that a
retry after a worker died between Slack's answer and the commit looks for the message (by its metadata)
before posting again (activities.notify).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("notifications") as notifications:
        notifications.add_column(sa.Column("slack_posting_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as notifications:
        notifications.drop_column("slack_posting_at")
