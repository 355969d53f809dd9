"""Registrations (DESIGN §6): the registrations, their name index, the overlaps found between them and
the disputes that name them.

`registration_keys` holds the match keys of live registrations (domain.matching.match_keys); its
primary key (key, registration_id) is the index a lookup by key reads, and on SQLite the table is that
index alone (WITHOUT ROWID).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("external_ref", sa.String(), nullable=True),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("partner_org", sa.String(), nullable=True),
        sa.Column("owner_email", sa.String(), nullable=False),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("account_norm", sa.String(), nullable=False),
        sa.Column("account_domain", sa.String(), nullable=True),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("deal_value", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("segment", sa.String(), nullable=True),
        sa.Column("expected_close", sa.Date(), nullable=True),
        sa.Column("products", sa.Text(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        _at("submitted_at"),
        _at("approved_at", nullable=True),
        _at("protected_until", nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("won", sa.Boolean(), nullable=True),
        sa.Column("charter_version", sa.String(), nullable=False),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
    )
    op.create_index("ix_registrations_external_ref", "registrations", ["external_ref"], unique=True)
    for column in ("partner_org", "owner_email", "account_norm", "account_domain", "status"):
        op.create_index(f"ix_registrations_{column}", "registrations", [column])

    op.create_table(
        "registration_keys",
        sa.Column("key", sa.String(), primary_key=True),
        sa.Column("registration_id", sa.String(), sa.ForeignKey("registrations.id"), primary_key=True),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_registration_keys_registration_id", "registration_keys", ["registration_id"])

    op.create_table(
        "registration_overlaps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("a_id", sa.String(), sa.ForeignKey("registrations.id"), nullable=False),
        sa.Column("b_id", sa.String(), sa.ForeignKey("registrations.id"), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        _at("found_at"),
        sa.UniqueConstraint("a_id", "b_id", name="uq_registration_overlaps_pair"),
    )
    op.create_index("ix_registration_overlaps_b_id", "registration_overlaps", ["b_id"])
    op.create_index("ix_registration_overlaps_found_at", "registration_overlaps", ["found_at"])

    op.create_table(
        "dispute_registrations",
        sa.Column("dispute_id", sa.String(), primary_key=True),
        sa.Column("registration_id", sa.String(), sa.ForeignKey("registrations.id"), primary_key=True),
    )
    op.create_index("ix_dispute_registrations_registration_id", "dispute_registrations", ["registration_id"])


def downgrade() -> None:
    op.drop_index("ix_dispute_registrations_registration_id", table_name="dispute_registrations")
    op.drop_table("dispute_registrations")
    op.drop_index("ix_registration_overlaps_found_at", table_name="registration_overlaps")
    op.drop_index("ix_registration_overlaps_b_id", table_name="registration_overlaps")
    op.drop_table("registration_overlaps")
    op.drop_index("ix_registration_keys_registration_id", table_name="registration_keys")
    op.drop_table("registration_keys")
    for column in ("status", "account_domain", "account_norm", "owner_email", "partner_org"):
        op.drop_index(f"ix_registrations_{column}", table_name="registrations")
    op.drop_index("ix_registrations_external_ref", table_name="registrations")
    op.drop_table("registrations")
