"""The `audit_checkpoints` table: signed checkpoints of the audit chains (see `store.audit.checkpoints`).

`store.tables` imports this module, so the table is on `SQLModel.metadata` wherever the others are; it
imports nothing else of the store, so that either can be imported first.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from store.columns import at_column as _at


class AuditCheckpoint(SQLModel, table=True):
    """One signed checkpoint: `body` is the exact signed text (RFC 8785 JSON), `signature` its Ed25519
    signature in base64. The other columns repeat what the body says, for queries; verification reads
    only the body and the signature. Append-only."""

    __tablename__ = "audit_checkpoints"
    __table_args__ = (UniqueConstraint("number", name="uq_audit_checkpoints_number"),)

    id: int | None = Field(default=None, primary_key=True)
    number: int  # 1, 2, 3 … : two processes making the same checkpoint at once collide here
    at: datetime = _at()
    max_event_id: int  # every event with an id up to this one was visible when it was made
    events: int  # events under the signed heads of every chain, this checkpoint and the ones before
    chains: int
    body: str = Field(sa_type=Text)
    signature: str
