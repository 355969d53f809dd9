"""Away and delegation (DESIGN §8, issue 12 item 1): one absence per user, a date range with a delegate.

`starts_on`/`ends_on` are the dates as the person gave them (`ends_on` inclusive); `starts_at`/`ends_at`
are the same range as UTC instants in the charter's calendar time zone when it was set (`ends_at` is the
start of the day after `ends_on`), so "who is away now" is a plain range query.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "absences",
        sa.Column("email", sa.String(), primary_key=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("time_zone", sa.String(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delegate", sa.String(), nullable=False),
        sa.Column("set_by", sa.String(), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_absences_delegate", "absences", ["delegate"])
    op.create_index("ix_absences_range", "absences", ["starts_at", "ends_at"])


def downgrade() -> None:
    op.drop_index("ix_absences_range", table_name="absences")
    op.drop_index("ix_absences_delegate", table_name="absences")
    op.drop_table("absences")
