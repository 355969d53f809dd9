"""Deliveries on workers of their own (PARLEY_WORKER_ROLE): the outbox rows and webhook deliveries a
workflows worker leaves to the relay of a deliveries worker (activities.relay), and until when a relay holds
them. NULL: not the relay's (delivered by a `deliver_notices` activity, or handed to one).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("notifications", "webhook_deliveries"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("relay_until", sa.DateTime(timezone=True), nullable=True))
        op.create_index(f"ix_{table}_relay_until", table, ["relay_until"])


def downgrade() -> None:
    for table in ("notifications", "webhook_deliveries"):
        op.drop_index(f"ix_{table}_relay_until", table_name=table)
        with op.batch_alter_table(table) as batch:
            batch.drop_column("relay_until")
