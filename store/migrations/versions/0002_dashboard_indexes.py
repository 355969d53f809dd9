"""Indexes for the dashboard: audit events by action and tier, disputes by filing time.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_audit_events_action_tier", "audit_events", ["action", "tier", "dispute_id", "at", "actor"])
    op.create_index("ix_disputes_created_at", "disputes", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_disputes_created_at", table_name="disputes")
    op.drop_index("ix_audit_events_action_tier", table_name="audit_events")
