"""Webhooks (DESIGN §7): the event types, which dispute and registration events become which, the body and
its signature.

A delivery is `POST <url>` with the body `{id, type, created_at, data}` as canonical JSON (sorted keys,
compact, UTF-8) and the header `Parley-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
"<t>.<body>")>`. The `id` is the event's, the same in every retry and redelivery, so that a receiver can
de-duplicate: a dispute's or a registration's audit event id, or for an overlap the pair's (both
registrations record an overlap in their trails; it is one event). Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
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
REGISTRATION_TYPES: dict[str, EventType] = {"approved": "registration.approved", "expired": "registration.expired"}
OVERLAP_FOUND = "overlap_found"  # the registration audit action that records an overlap


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


def jsonable(value: Any) -> Any:
    """`value` with its datetimes and dates as the API writes them (UTC, `Z`), ready for `canonical`."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    return value


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


# --- registration and overlap events --------------------------------------------------------------

def registration_type(event: Event) -> EventType | None:
    """The webhook type of a registration's audit event, or None when it is not one receivers are told of."""
    if event.action == OVERLAP_FOUND:
        return "overlap.detected"
    return REGISTRATION_TYPES.get(event.action)


def registration_event(event: Event, registration: dict[str, Any]) -> WebhookEvent:
    """`registration.approved` or `registration.expired`; `registration` is the registration after the event,
    as `GET /api/registrations/{id}` shows it."""
    kind = REGISTRATION_TYPES[event.action]
    data: dict[str, Any] = {"registration": jsonable(registration), "by": event.actor,
                            "charter_version": event.charter_version}
    if kind == "registration.approved":
        data["note"] = event.payload.get("note")
    return WebhookEvent(id=event_id(event.dispute_id, event.seq), type=kind, created_at=event.at, data=data)


def overlap_event_id(a_id: str, b_id: str) -> str:
    """The one id of the overlap of two registrations, whichever of them records it."""
    first, second = sorted((a_id, b_id))
    return f"evt_overlap_{first}_{second}"


def overlap_event(event: Event, one: dict[str, Any], other: dict[str, Any], *, score: int, reason: str | None,
                  found_at: datetime) -> WebhookEvent:
    """`overlap.detected`: both registrations as `GET /api/registrations/{id}` shows them (`a` has the smaller
    id, as in `GET /api/overlaps`), how alike their accounts are (0-100; 100 for the same domain) and why
    ("domain" or "name")."""
    a, b = sorted((one, other), key=lambda registration: str(registration["id"]))
    data = {"a": jsonable(a), "b": jsonable(b), "score": score, "reason": reason, "found_at": iso(found_at)}
    return WebhookEvent(id=overlap_event_id(a["id"], b["id"]), type="overlap.detected", created_at=event.at, data=data)
