"""Initial schema: users and tokens, charter versions, the dispute projection, the audit chain,
the notification outbox and the Slack case messages.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=True),
        sa.Column("partner_org", sa.String(), nullable=True),
        sa.Column("region", sa.String(), nullable=True),
        sa.Column("segment", sa.String(), nullable=True),
        sa.Column("slack_user_id", sa.String(), nullable=True),
        _at("created_at"),
    )
    op.create_index("ix_users_email", "users", ["email"], unique=True)
    op.create_index("ix_users_slack_user_id", "users", ["slack_user_id"], unique=True)

    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("token_hash", sa.String(), nullable=False),
        sa.Column("label", sa.String(), nullable=False),
        _at("created_at"),
        _at("revoked_at", nullable=True),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])

    op.create_table(
        "charter_versions",
        sa.Column("version_id", sa.String(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _at("first_used_at"),
    )
    op.create_table(
        "charter_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version_id", sa.String(), sa.ForeignKey("charter_versions.version_id"), nullable=False),
        sa.Column("changed_by", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        _at("at"),
    )
    op.create_index("ix_charter_changes_version_id", "charter_changes", ["version_id"])

    op.create_table(
        "disputes",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("conflict_type", sa.String(), nullable=False),
        sa.Column("region", sa.String(), nullable=False),
        sa.Column("segment", sa.String(), nullable=True),
        sa.Column("account", sa.String(), nullable=False),
        sa.Column("deal_value", sa.Float(), nullable=False),
        sa.Column("currency", sa.String(), nullable=False),
        sa.Column("filed_by", sa.String(), nullable=False),
        sa.Column("counterparty", sa.String(), nullable=False),
        sa.Column("partner_org", sa.String(), nullable=True),
        sa.Column("mediator", sa.String(), nullable=False),
        sa.Column("executive", sa.String(), nullable=False),
        sa.Column("backup_executive", sa.String(), nullable=True),
        sa.Column("reached_executive", sa.Boolean(), nullable=False),
        _at("due_at", nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("breached", sa.Boolean(), nullable=False),
        _at("created_at"),
        _at("updated_at"),
        _at("closed_at", nullable=True),
        sa.Column("last_seq", sa.Integer(), nullable=False),
        sa.Column("outcome_owner", sa.String(), nullable=True),
        sa.Column("view_json", sa.Text(), nullable=False),
    )
    for column in ("status", "tier", "filed_by", "counterparty", "partner_org", "mediator", "executive",
                   "updated_at"):
        op.create_index(f"ix_disputes_{column}", "disputes", [column])

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dispute_id", sa.String(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        _at("at"),
        sa.Column("actor", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("charter_version", sa.String(), nullable=False),
        sa.Column("prev_hash", sa.String(), nullable=False),
        sa.Column("hash", sa.String(), nullable=False),
        sa.UniqueConstraint("dispute_id", "seq", name="uq_audit_events_dispute_seq"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_audit_events_dispute_id", "audit_events", ["dispute_id"])

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("dispute_id", sa.String(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        _at("created_at"),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _at("sent_at", nullable=True),
        sa.Column("slack_channel", sa.String(), nullable=True),
        sa.Column("slack_ts", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.UniqueConstraint("dispute_id", "seq", "recipient", name="uq_notifications_event_recipient"),
    )
    op.create_index("ix_notifications_dispute_id", "notifications", ["dispute_id"])
    op.create_index("ix_notifications_status_created_at", "notifications", ["status", "created_at"])

    op.create_table(
        "slack_messages",
        sa.Column("dispute_id", sa.String(), primary_key=True),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("ts", sa.String(), nullable=True),
        _at("claimed_at"),
    )


def downgrade() -> None:
    for table in ("slack_messages", "notifications", "audit_events", "disputes", "charter_changes",
                  "charter_versions", "api_tokens", "users"):
        op.drop_table(table)
