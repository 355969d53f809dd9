"""Webhooks (DESIGN §7): the event types, which dispute events become which, the body and its signature.

A delivery is `POST <url>` with the body `{id, type, created_at, data}` as canonical JSON (sorted keys,
compact, UTF-8) and the header `Parley-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
"<t>.<body>")>`. The `id` is the event's, the same in every retry and redelivery, so that a receiver can
de-duplicate. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from domain.model import DisputeView, Event

EventType = Literal[
    "dispute.filed", "dispute.escalated", "dispute.resolved", "dispute.withdrawn",
    "registration.approved", "registration.expired", "overlap.detected",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
ALL = "*"
Subscribable = Literal[EventType, "*"]  # what a subscription may name

RESOLVING = ("approved", "decided", "ruling_final")  # actions that always close a dispute with an outcome


@dataclass(frozen=True)
class WebhookEvent:
    id: str
    type: str
    created_at: datetime
    data: dict[str, Any]

    def body(self) -> str:
        """The exact text sent: canonical JSON, the same for every subscription and every retry."""
        return canonical({"id": self.id, "type": self.type, "created_at": iso(self.created_at), "data": self.data})


@dataclass
class DeliveryJob:
    """The input of `WebhookDeliveryWorkflow` and of each delivery attempt."""

    delivery_id: str


@dataclass
class DeliveryGivenUp:
    """No more tries for this delivery, and why."""

    delivery_id: str
    reason: str


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def iso(at: datetime) -> str:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return at.isoformat().replace("+00:00", "Z")


def wants(subscribed: Iterable[str], event_type: str) -> bool:
    return any(name in (ALL, event_type) for name in subscribed)


def event_id(subject_id: str, seq: int) -> str:
    """The stable id of a subject's (a dispute's, a registration's) event number `seq`."""
    return f"evt_{subject_id}_{seq}"


def signature(secret: str, body: str, timestamp: int) -> str:
    """The `Parley-Signature` header's value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


# --- dispute events ------------------------------------------------------------------------------

def dispute_type(event: Event) -> EventType | None:
    """The webhook type of a dispute's audit event, or None when it is not one receivers are told of."""
    match event.action:
        case "filed":
            return "dispute.filed"
        case "escalated" | "appealed" if event.payload.get("to_tier") in (2, 3):
            return "dispute.escalated"
        case "accepted" if event.payload.get("auto_approved"):
            return "dispute.resolved"
        case action if action in RESOLVING:
            return "dispute.resolved"
        case "withdrawn":
            return "dispute.withdrawn"
    return None


def dispute_event(event: Event, view: DisputeView) -> WebhookEvent | None:
    """The webhook event of a recorded dispute event (`view` is the dispute after it), if any."""
    kind = dispute_type(event)
    if kind is None:
        return None
    data: dict[str, Any] = {"dispute": _summary(view), "by": event.actor, "tier": event.tier,
                            "charter_version": event.charter_version}
    payload = event.payload
    if kind == "dispute.filed":
        data["start_tier"] = payload.get("start_tier", event.tier)
    elif kind == "dispute.escalated":
        data.update(from_tier=payload.get("from_tier", 2 if event.action == "appealed" else event.tier),
                    to_tier=payload["to_tier"], reason=payload.get("reason"), appeal=event.action == "appealed")
    elif kind == "dispute.withdrawn":
        data["reason"] = payload.get("reason")
    else:
        data.update(_resolution(view))
    return WebhookEvent(id=event_id(event.dispute_id, event.seq), type=kind, created_at=event.at, data=data)


def _summary(view: DisputeView) -> dict[str, Any]:
    return {
        "id": view.id, "title": view.title, "conflict_type": view.conflict_type.value, "account": view.account,
        "opportunity_ref": view.opportunity_ref, "registration_ref": view.registration_ref,
        "deal_value": view.deal_value, "currency": view.currency, "region": view.region, "segment": view.segment,
        "partner_org": view.partner_org, "status": view.status.value, "tier": view.tier, "filed_by": view.filed_by,
        "parties": [p.model_dump(mode="json", include={"email", "name", "channel", "partner_org"})
                    for p in view.parties],
        "mediator": view.mediator, "executive": view.executive,
    }


def _resolution(view: DisputeView) -> dict[str, Any]:
    """What a CRM or a compensation system acts on: the outcome, how it was reached, by whom, under which charter."""
    decision = view.decision
    if decision is None:  # a resolved dispute always has one; keep the keys all the same
        return {"outcome": None, "criteria": None, "recommendation": None, "follows_recommendation": None}
    return {
        "kind": decision.kind,
        "outcome": decision.outcome.model_dump(mode="json"),
        "criteria": decision.criteria.model_dump(mode="json") if decision.criteria else None,
        "recommendation": decision.recommendation.model_dump(mode="json") if decision.recommendation else None,
        "follows_recommendation": decision.follows_recommendation,
        "rationale": decision.rationale,
        "decided_by": decision.actor,
        "decided_at": iso(decision.at),
        "final": decision.final,
        "tier": decision.tier,
        "charter_version": decision.charter_version,
    }
