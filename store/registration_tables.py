"""The registration tables (DESIGN §6): the claims, their name index, the overlaps found, and the
disputes about them. `store.tables` imports this module, so they are on `SQLModel.metadata` wherever
the others are.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.columns import at_column as _at


class RegistrationRow(SQLModel, table=True):
    """A channel's claim on a deal: a partner's deal registration or a direct opportunity."""

    __tablename__ = "registrations"

    id: str = Field(primary_key=True)  # "REG-" and eight hex digits
    external_ref: str | None = Field(default=None, unique=True, index=True)  # the CRM's id, for imports
    channel: str  # "direct" | "partner"
    partner_org: str | None = Field(default=None, index=True)
    owner_email: str = Field(index=True)
    account: str
    account_norm: str = Field(default="", index=True)  # domain.matching.normalise_name(account)
    account_domain: str | None = Field(default=None, index=True)
    title: str
    deal_value: float
    currency: str
    region: str
    segment: str | None = None
    expected_close: date | None = None
    products: str = Field(default="[]", sa_type=Text)  # JSON list of strings
    status: str = Field(index=True)  # domain.registrations.STATUSES
    submitted_at: datetime = _at()
    approved_at: datetime | None = _at(nullable=True)
    protected_until: datetime | None = _at(nullable=True)
    decided_by: str | None = None
    reason: str | None = Field(default=None, sa_type=Text)
    won: bool | None = None
    charter_version: str
    last_seq: int = 0
    created_at: datetime = _at(default_now=True)
    updated_at: datetime = _at(default_now=True)


class RegistrationKey(SQLModel, table=True):
    """The name index: one row per match key (domain.matching.match_keys) of a live registration.
    The primary key starts with `key`, so it is the index a lookup by key reads."""

    __tablename__ = "registration_keys"
    __table_args__ = {"sqlite_with_rowid": False}  # the table is its primary key: one b-tree, no rowid

    key: str = Field(primary_key=True)
    registration_id: str = Field(primary_key=True, foreign_key="registrations.id", index=True)


class RegistrationOverlap(SQLModel, table=True):
    """Two live registrations found to claim the same account (`a_id` < `b_id`), recorded once."""

    __tablename__ = "registration_overlaps"
    __table_args__ = (UniqueConstraint("a_id", "b_id", name="uq_registration_overlaps_pair"),)

    id: int | None = Field(default=None, primary_key=True)
    a_id: str = Field(foreign_key="registrations.id")
    b_id: str = Field(foreign_key="registrations.id", index=True)
    score: int  # 0-100; 100 for a domain match
    reason: str  # "domain" | "name"
    found_at: datetime = _at(index=True)


class DisputeRegistration(SQLModel, table=True):
    """A dispute about a registration (a dispute names the two registrations it is about)."""

    __tablename__ = "dispute_registrations"

    dispute_id: str = Field(primary_key=True)
    registration_id: str = Field(primary_key=True, foreign_key="registrations.id", index=True)
