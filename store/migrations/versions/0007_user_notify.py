"""E-mail (DESIGN §7): each user's `notify` preference, and the e-mail state of each outbox row, kept apart
from its Slack state so that each medium is sent once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as users:
        users.add_column(sa.Column("notify", sa.String(), nullable=True))
    with op.batch_alter_table("notifications") as notifications:
        notifications.add_column(sa.Column("email_status", sa.String(), nullable=True))
        notifications.add_column(sa.Column("email_sent_at", sa.DateTime(timezone=True), nullable=True))
        notifications.add_column(sa.Column("email_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as notifications:
        notifications.drop_column("email_error")
        notifications.drop_column("email_sent_at")
        notifications.drop_column("email_status")
    with op.batch_alter_table("users") as users:
        users.drop_column("notify")
