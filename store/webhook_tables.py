"""The webhook tables (DESIGN §7): the subscriptions and one delivery per (subscription, event).

`store.tables` imports this module, so the tables are on `SQLModel.metadata` wherever the others are.
A delivery's `body` is the exact JSON text sent, every time: the event id in it never changes.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.columns import at_column as _at


class WebhookRow(SQLModel, table=True):
    """A subscription: where to POST which event types. Removing one keeps its row (inactive) and log."""

    __tablename__ = "webhooks"

    id: str = Field(primary_key=True)  # "WH-" and twelve hex digits
    url: str = Field(sa_type=Text)
    events: str = Field(sa_type=Text)  # JSON list of event types, or ["*"]
    description: str | None = Field(default=None, sa_type=Text)
    secret: str  # the HMAC key; shown once, when the subscription is made
    created_by: str
    created_at: datetime = _at(default_now=True)
    active: bool = True


class WebhookDeliveryRow(SQLModel, table=True):
    """One event for one subscription, and how its delivery stands (`WebhookDeliveryWorkflow`, id = `id`)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_event"),
        Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at"),
        Index("ix_webhook_deliveries_relay_until", "relay_until"),
    )

    id: str = Field(primary_key=True)  # "WHD-" and a digest of (webhook id, event id)
    webhook_id: str = Field(foreign_key="webhooks.id")
    event_id: str
    type: str
    body: str = Field(sa_type=Text)
    created_at: datetime = _at(default_now=True)
    attempts: int = 0
    last_status: int | None = None  # the receiver's last HTTP status; None when it never answered
    last_error: str | None = Field(default=None, sa_type=Text)  # why the last attempt failed, in plain words
    next_try_at: datetime | None = _at(nullable=True)
    delivered_at: datetime | None = _at(nullable=True)
    failed_at: datetime | None = _at(nullable=True)
    relay_until: datetime | None = _at(nullable=True)  # its first try is left to a deliveries worker's relay


WEBHOOKS = SQLModel.metadata.tables["webhooks"]
WEBHOOK_DELIVERIES = SQLModel.metadata.tables["webhook_deliveries"]
