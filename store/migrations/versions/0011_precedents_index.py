"""Precedents (DESIGN §9): an index over what the similarity reads of each resolved dispute of a type (and one
for a mediator's own disputes), so
that the candidates are read from it alone (`store.precedents`), not from the rows and their stored views,
and the closest deal values of one region, segment and currency are one index range.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLUMNS = ["status", "conflict_type", "region", "segment", "currency", "deal_value", "closed_at", "mediator",
           "executive", "backup_executive", "reached_executive", "id"]  # store.tables.PRECEDENT_COLUMNS
# a mediator sees only their own disputes: the same with their e-mail first (MEDIATOR_PRECEDENT_COLUMNS)
MEDIATOR_COLUMNS = ["mediator", "status", "conflict_type", "region", "segment", "currency", "deal_value", "closed_at",
                    "id"]


def upgrade() -> None:
    op.create_index("ix_disputes_precedents", "disputes", COLUMNS)
    op.create_index("ix_disputes_precedents_mediator", "disputes", MEDIATOR_COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_disputes_precedents_mediator", table_name="disputes")
    op.drop_index("ix_disputes_precedents", table_name="disputes")
