"""The SQL tables (SQLModel `table=True`). They stay inside the store, the API and the activities:
never send them through Temporal (the values crossing Temporal live in `domain.model`).

Every timestamp is stored and read back as an aware UTC datetime, on SQLite too (`UTCDateTime`).
Schema changes go through a migration in `store/migrations/versions/`.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.columns import UTCDateTime as UTCDateTime  # re-exported: the store's other modules use them
from store.columns import at_column as _at
from store.columns import utcnow as utcnow

# --- people and access ---------------------------------------------------------------------------

class User(SQLModel, table=True):
    __tablename__ = "users"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(unique=True, index=True)
    name: str
    role: str  # domain.model.Role
    channel: str | None = None  # "direct" | "partner" for reps
    partner_org: str | None = None
    region: str | None = None
    segment: str | None = None
    slack_user_id: str | None = Field(default=None, unique=True, index=True)
    notify: str | None = None  # "slack" | "email" | "both"; None: the default (domain.notify_prefs)
    manager_email: str | None = None  # who manages them: never their disputes' adjudicator (DESIGN §8)
    created_at: datetime = _at(default_now=True)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),)

    id: str = Field(primary_key=True)  # public id, "tok_<12 hex>"
    user_id: int = Field(foreign_key="users.id", index=True)
    token_hash: str  # sha256 hex of the secret; the secret is never stored
    label: str = ""
    created_at: datetime = _at(default_now=True)
    revoked_at: datetime | None = _at(nullable=True)


# --- the charter -----------------------------------------------------------------------------------

class CharterVersion(SQLModel, table=True):
    __tablename__ = "charter_versions"

    version_id: str = Field(primary_key=True)
    name: str
    version: str
    sha256: str
    text: str = Field(sa_type=Text)
    first_used_at: datetime = _at(default_now=True)


class CharterChange(SQLModel, table=True):
    __tablename__ = "charter_changes"

    id: int | None = Field(default=None, primary_key=True)
    version_id: str = Field(foreign_key="charter_versions.version_id", index=True)
    changed_by: str
    reason: str
    at: datetime = _at(default_now=True)


# --- disputes: the read projection -----------------------------------------------------------------

# What `store.precedents` reads of each resolved dispute of a type, in one index (migration 0011): the filter
# first, then the similarity's keys (region, segment, currency, then the deal value, so that the closest values
# of one region, segment and currency are an index range), the tie-break and who may see it (`store.visibility`).
PRECEDENT_COLUMNS = ("status", "conflict_type", "region", "segment", "currency", "deal_value", "closed_at",
                     "mediator", "executive", "backup_executive", "reached_executive", "id")
# the same for a mediator, who sees only their own disputes: their e-mail first
MEDIATOR_PRECEDENT_COLUMNS = ("mediator", "status", "conflict_type", "region", "segment", "currency", "deal_value",
                              "closed_at", "id")


class DisputeRow(SQLModel, table=True):
    """One row per dispute, rewritten from the workflow's DisputeView after every event."""

    __tablename__ = "disputes"
    __table_args__ = (  # store.precedents reads them alone
        Index("ix_disputes_precedents", *PRECEDENT_COLUMNS),
        Index("ix_disputes_precedents_mediator", *MEDIATOR_PRECEDENT_COLUMNS),
    )

    id: str = Field(primary_key=True)
    title: str
    status: str = Field(index=True)
    tier: int = Field(index=True)
    conflict_type: str
    region: str
    segment: str | None = None
    account: str
    deal_value: float
    currency: str
    filed_by: str = Field(index=True)
    counterparty: str = Field(index=True)
    partner_org: str | None = Field(default=None, index=True)
    mediator: str = Field(index=True)
    executive: str = Field(index=True)
    backup_executive: str | None = None
    reached_executive: bool = False
    due_at: datetime | None = _at(nullable=True)
    paused: bool = False
    breached: bool = False
    created_at: datetime = _at(index=True)
    updated_at: datetime = _at(index=True)
    closed_at: datetime | None = _at(nullable=True)
    last_seq: int = 0
    outcome_owner: str | None = None
    view_json: str = Field(sa_type=Text)  # domain.model.DisputeView as JSON


class DisputeWaiting(SQLModel, table=True):
    """Whom a dispute waits on (the view's `waiting_on`), one row per person: the "waiting on me"
    queue is a join on `email`. Rewritten with the dispute's row (`store.projection`)."""

    __tablename__ = "dispute_waiting"

    dispute_id: str = Field(primary_key=True, foreign_key="disputes.id")
    email: str = Field(primary_key=True, index=True)


# --- the audit trail -----------------------------------------------------------------------------

class AuditEvent(SQLModel, table=True):
    """One link of a dispute's hash chain; see store.audit. Append-only."""

    __tablename__ = "audit_events"
    __table_args__ = (
        UniqueConstraint("dispute_id", "seq", name="uq_audit_events_dispute_seq"),
        Index("ix_audit_events_action_tier", "action", "tier", "dispute_id", "at", "actor"),  # dashboard
        {"sqlite_autoincrement": True},  # ids are never reused, even after the last row is deleted
    )

    id: int | None = Field(default=None, primary_key=True)
    dispute_id: str = Field(index=True)
    seq: int
    at: datetime = _at()
    actor: str
    action: str
    tier: int
    payload: str = Field(sa_type=Text)  # canonical JSON
    charter_version: str
    prev_hash: str
    hash: str


# --- notifications -------------------------------------------------------------------------------

class Notification(SQLModel, table=True):
    """The outbox: one row per notice of an event, delivered (or parked) by `deliver_notices`."""

    __tablename__ = "notifications"
    __table_args__ = (
        UniqueConstraint("dispute_id", "seq", "recipient", name="uq_notifications_event_recipient"),
        Index("ix_notifications_status_created_at", "status", "created_at"),
        Index("ix_notifications_relay_until", "relay_until"),
    )

    id: int | None = Field(default=None, primary_key=True)
    dispute_id: str = Field(index=True)
    seq: int
    recipient: str  # an e-mail address, or "channel" for the dispute's case message
    kind: str
    text: str = Field(sa_type=Text)
    created_at: datetime = _at(default_now=True)
    status: str = "pending"  # "pending" | "sent" | "outbox" | "email" (sent by e-mail only: see email_status)
    attempts: int = 0
    sent_at: datetime | None = _at(nullable=True)
    slack_channel: str | None = None
    slack_ts: str | None = None
    # When an attempt began posting this row to Slack (set in its channel's turn, cleared when Slack refused
    # it). A "pending" row with it set may be in Slack already: the next attempt looks before posting again.
    slack_posting_at: datetime | None = _at(nullable=True)
    error: str | None = Field(default=None, sa_type=Text)
    # The e-mail of this notice, claimed and marked apart from Slack (activities.email): None while undecided,
    # then "none" (no e-mail due) | "pending" | "sent" | "outbox" (refused: parked, `email_error` says why)
    email_status: str | None = None
    email_sent_at: datetime | None = _at(nullable=True)
    email_error: str | None = Field(default=None, sa_type=Text)
    # Left to a deliveries worker's relay (activities.relay) from this time on; NULL: not the relay's
    relay_until: datetime | None = _at(nullable=True)


class SlackMessage(SQLModel, table=True):
    """The one case message per dispute in the conflicts channel, updated in place.

    A row with `ts` still empty is a claim: one delivery is posting the message right now
    (`claimed_at` lets another take over if that delivery died).
    """

    __tablename__ = "slack_messages"

    dispute_id: str = Field(primary_key=True)
    channel: str
    ts: str | None = None
    claimed_at: datetime = _at(default_now=True)


class OnceKey(SQLModel, table=True):
    """A request that must take effect once across every API process: a Slack request already
    seen (replay), a button already pressed, an `Idempotency-Key` already used. The row is the
    claim; `status` and `result` keep the first answer so that a retry gets it again.
    Rows past `expires_at` are purged.
    """

    __tablename__ = "once_keys"

    key: str = Field(primary_key=True, max_length=300)
    scope: str  # "slack" | "press" | "idempotency"
    fingerprint: str = ""  # sha256 of what the key was first used for (to refuse reuse for another request)
    created_at: datetime = _at(default_now=True)
    expires_at: datetime = _at(index=True)
    status: int | None = None  # the first answer, once it is known
    result: str | None = Field(default=None, sa_type=Text)


from store.registration_tables import DisputeRegistration as DisputeRegistration  # noqa: E402  (joins the metadata)
from store.registration_tables import RegistrationKey as RegistrationKey  # noqa: E402
from store.registration_tables import RegistrationOverlap as RegistrationOverlap  # noqa: E402
from store.registration_tables import RegistrationRow as RegistrationRow  # noqa: E402

# Core handles on the tables, for the set-based statements of the store and the activities.
USERS = SQLModel.metadata.tables["users"]
DISPUTES = SQLModel.metadata.tables["disputes"]
DISPUTE_WAITING = SQLModel.metadata.tables["dispute_waiting"]
AUDIT_EVENTS = SQLModel.metadata.tables["audit_events"]
NOTIFICATIONS = SQLModel.metadata.tables["notifications"]
SLACK_MESSAGES = SQLModel.metadata.tables["slack_messages"]
ONCE_KEYS = SQLModel.metadata.tables["once_keys"]
REGISTRATIONS = SQLModel.metadata.tables["registrations"]
REGISTRATION_KEYS = SQLModel.metadata.tables["registration_keys"]
REGISTRATION_OVERLAPS = SQLModel.metadata.tables["registration_overlaps"]
DISPUTE_REGISTRATIONS = SQLModel.metadata.tables["dispute_registrations"]

import store.absence_tables  # noqa: E402, F401  (the absences join the metadata)
import store.audit.checkpoint_table  # noqa: E402, F401  (the audit checkpoints join the metadata)
import store.webhook_tables  # noqa: E402, F401  (the webhook tables join the metadata)
