"""The absences table (DESIGN §8, migration 0010): one row per person away (or about to be), with their delegate.

`store.tables` imports this module, so the table is on `SQLModel.metadata` wherever the others are.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from store.columns import at_column as _at


class AbsenceRow(SQLModel, table=True):
    """`email` is away from `starts_on` to `ends_on` (dates, both inclusive, in `time_zone`: the charter
    calendar's when it was set), that is over [`starts_at`, `ends_at`) in UTC; `delegate` takes their work."""

    __tablename__ = "absences"
    __table_args__ = (
        Index("ix_absences_delegate", "delegate"),
        Index("ix_absences_range", "starts_at", "ends_at"),
    )

    email: str = Field(primary_key=True)
    starts_on: date
    ends_on: date
    time_zone: str
    starts_at: datetime = _at()
    ends_at: datetime = _at()
    delegate: str
    set_by: str
    set_at: datetime = _at(default_now=True)
