"""Small builders for the values the workflow hands the store: events, views, recorded items."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.model import (
    ConflictType,
    CreditSplit,
    Decision,
    DisputeView,
    Event,
    Notice,
    Outcome,
    Party,
    Recorded,
    Sla,
    Status,
)

T0 = datetime(2025, 3, 3, 9, 0, 0, 123456, tzinfo=UTC)
FILER = "rep.direct@example.com"
COUNTERPARTY = "rep.partner@acme.example"
MEDIATOR = "mediator@example.com"
CHANNEL = "#channel-conflicts"


def event(dispute_id: str = "PRL-1", seq: int = 1, **changes: Any) -> Event:
    values: dict[str, Any] = {
        "dispute_id": dispute_id,
        "seq": seq,
        "at": T0 + timedelta(seconds=seq),
        "actor": FILER if seq == 1 else COUNTERPARTY,
        "action": "filed" if seq == 1 else "commented",
        "tier": 1,
        "payload": {"n": seq, "text": f"événement {seq} — ünïcødé", "amount": 1234.5, "nested": {"b": 1, "a": [1, 2]}},
        "charter_version": "fast@1:abc123",
    }
    values.update(changes)
    return Event(**values)


def view(dispute_id: str = "PRL-1", last_seq: int = 1, **changes: Any) -> DisputeView:
    values: dict[str, Any] = {
        "id": dispute_id,
        "title": "Overlap on Globex renewal",
        "conflict_type": ConflictType.registration_overlap,
        "account": "Globex",
        "opportunity_ref": None,
        "registration_ref": "REG-9",
        "deal_value": 125000.0,
        "currency": "USD",
        "region": "emea",
        "segment": "enterprise",
        "description": "Both teams claim the renewal.",
        "evidence": [],
        "partner_org": "Acme",
        "status": Status.frontline,
        "tier": 1,
        "filed_by": FILER,
        "parties": [
            Party(email=FILER, name="Dana Direct", channel="direct"),
            Party(email=COUNTERPARTY, name="Pat Partner", channel="partner", partner_org="Acme"),
        ],
        "mediator": MEDIATOR,
        "executive": "exec@example.com",
        "backup_executive": "exec.backup@example.com",
        "reached_executive": False,
        "sla": Sla(due_at=T0 + timedelta(hours=4), remaining_s=14400.0, paused=False, breached=False),
        "proposals": [],
        "decision": None,
        "waiting_on": [COUNTERPARTY],
        "charter_version": "fast@1:abc123",
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=last_seq),
        "last_seq": last_seq,
    }
    values.update(changes)
    return DisputeView(**values)


def resolved_view(dispute_id: str = "PRL-1", last_seq: int = 5) -> DisputeView:
    outcome = Outcome(owner="partner", credit_split=CreditSplit(direct=30, partner=70))
    decision = Decision(kind="ruling", outcome=outcome, rationale="The partner registered first.",
                        actor=MEDIATOR, at=T0 + timedelta(hours=1), tier=2, charter_version="fast@1:abc123",
                        final=True)
    return view(dispute_id, last_seq, status=Status.resolved, tier=2, decision=decision, waiting_on=[],
                closed_at=T0 + timedelta(hours=1))


def recorded(dispute_id: str = "PRL-1", seq: int = 1, notices: list[Notice] | None = None,
             the_view: DisputeView | None = None) -> Recorded:
    if notices is None:
        notices = [
            Notice(recipient="channel", kind="case_update", text=f"{FILER} filed {dispute_id}"),
            Notice(recipient=COUNTERPARTY, kind="action_required", text=f"{FILER} filed {dispute_id}. Your move."),
        ]
    return Recorded(event=event(dispute_id, seq), view=the_view or view(dispute_id, seq), notices=notices,
                    channel=CHANNEL)
