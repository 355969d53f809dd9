"""The pure part of webhooks: which dispute events become which types, the body, the signature, the targets."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from domain.errors import InvalidInput
from domain.model import Criteria, Recommendation
from domain.webhook_events import EVENT_TYPES, WebhookEvent, dispute_event, dispute_type, signature, wants
from domain.webhook_targets import check_target
from tests.store.samples import MEDIATOR, T0, event, resolved_view, view

PAYLOADS: dict[str, dict[str, Any]] = {
    "filed": {"start_tier": 1},
    "escalated": {"from_tier": 1, "to_tier": 2, "reason": "SLA breached"},
    "appealed": {"reason": "Wrong owner", "to_tier": 3},
    "accepted": {"proposal_id": 1, "auto_approved": True, "needs_approval": None},
    "approved": {"proposal_id": 1, "note": ""},
    "decided": {}, "ruling_final": {"appealed": False}, "withdrawn": {"reason": "Settled offline"},
}


@pytest.mark.parametrize(("action", "payload", "expected"), [
    ("filed", PAYLOADS["filed"], "dispute.filed"),
    ("escalated", PAYLOADS["escalated"], "dispute.escalated"),
    ("escalated", {"from_tier": 2, "to_tier": 3, "reason": "stuck"}, "dispute.escalated"),
    ("appealed", PAYLOADS["appealed"], "dispute.escalated"),
    ("accepted", PAYLOADS["accepted"], "dispute.resolved"),
    ("accepted", {"proposal_id": 1, "auto_approved": False, "needs_approval": "beyond 70/30"}, None),
    ("approved", PAYLOADS["approved"], "dispute.resolved"),
    ("decided", PAYLOADS["decided"], "dispute.resolved"),
    ("ruling_final", PAYLOADS["ruling_final"], "dispute.resolved"),
    ("withdrawn", PAYLOADS["withdrawn"], "dispute.withdrawn"),
    ("ruled", {}, None), ("commented", {"text": "hi"}, None), ("proposed", {}, None),
    ("sla_reminder", {}, None), ("sla_breached", {}, None), ("reassigned", {}, None),
])
def test_dispute_events_map_to_webhook_types(action: str, payload: dict[str, Any], expected: str | None) -> None:
    assert dispute_type(event(seq=3, action=action, payload=payload)) == expected


def test_a_resolved_dispute_carries_its_outcome_and_how_it_was_reached() -> None:
    resolved = resolved_view()
    assert resolved.decision is not None
    criteria = Criteria.model_validate({"win_probability": {"direct": 0.4, "partner": 0.7},
                                        "lifetime_value": {"direct": 1e5, "partner": 9e4},
                                        "strategic_fit": {"direct": 3, "partner": 4}})
    recommendation = Recommendation(owner="partner", credit_split={"direct": 30, "partner": 70},  # type: ignore[arg-type]
                                    scores={"direct": 0.4, "partner": 0.6})
    outcome = resolved.decision.outcome.model_copy(update={
        "co_sell_stipend": 5000.0, "renewal_bonus_pct": 5.0, "price_protection_until": T0.date(),
        "discount_cap_pct": 15.0, "terms": "Partner leads; direct supports"})
    decision = resolved.decision.model_copy(update={"outcome": outcome, "criteria": criteria,
                                                    "recommendation": recommendation, "follows_recommendation": True})
    hook = dispute_event(event(seq=5, action="ruling_final", tier=2, payload=PAYLOADS["ruling_final"],
                               actor="system:appeal_window"), resolved.model_copy(update={"decision": decision}))
    assert hook is not None and hook.type == "dispute.resolved" and hook.id == "evt_PRL-1_5"
    data = json.loads(hook.body())["data"]
    assert data["outcome"] == {"owner": "partner", "credit_split": {"direct": 30, "partner": 70},
                               "co_sell_stipend": 5000.0, "renewal_bonus_pct": 5.0,
                               "price_protection_until": T0.date().isoformat(), "discount_cap_pct": 15.0,
                               "terms": "Partner leads; direct supports"}
    assert data["criteria"] == criteria.model_dump(mode="json")
    assert data["recommendation"] == {"owner": "partner", "credit_split": {"direct": 30, "partner": 70},
                                      "scores": {"direct": 0.4, "partner": 0.6}}
    assert data["follows_recommendation"] is True
    assert (data["tier"], data["charter_version"], data["kind"], data["final"]) == (2, "fast@1:abc123", "ruling", True)
    assert data["decided_by"] == MEDIATOR and data["by"] == "system:appeal_window"
    assert data["dispute"]["id"] == "PRL-1" and data["dispute"]["status"] == "resolved"
    assert data["dispute"]["deal_value"] == 125000.0 and data["dispute"]["currency"] == "USD"


def test_escalations_and_withdrawals_say_where_and_why() -> None:
    escalated = dispute_event(event(seq=2, action="escalated", tier=2, payload=PAYLOADS["escalated"],
                                    actor="system:sla"), view(status="mediation", tier=2))
    assert escalated is not None
    assert {k: escalated.data[k] for k in ("from_tier", "to_tier", "reason", "appeal", "by")} == {
        "from_tier": 1, "to_tier": 2, "reason": "SLA breached", "appeal": False, "by": "system:sla"}
    appealed = dispute_event(event(seq=6, action="appealed", tier=3, payload=PAYLOADS["appealed"]), view())
    assert appealed is not None and (appealed.data["from_tier"], appealed.data["to_tier"], appealed.data["appeal"]) == (
        2, 3, True)
    withdrawn = dispute_event(event(seq=2, action="withdrawn", payload=PAYLOADS["withdrawn"]), view())
    assert withdrawn is not None and withdrawn.data["reason"] == "Settled offline"
    filed = dispute_event(event(seq=1, payload=PAYLOADS["filed"]), view())
    assert filed is not None and filed.type == "dispute.filed" and filed.data["start_tier"] == 1


def test_the_body_is_canonical_and_the_signature_is_hmac_sha256_of_t_dot_body() -> None:
    hook = WebhookEvent(id="evt_x_1", type="dispute.filed", created_at=T0, data={"b": "é", "a": [1, 2]})
    body = hook.body()
    assert body == '{"created_at":"2025-03-03T09:00:00.123456Z","data":{"a":[1,2],"b":"é"},"id":"evt_x_1",' \
                   '"type":"dispute.filed"}'
    mac = hmac.new(b"whsec_test", f"1700000000.{body}".encode(), hashlib.sha256).hexdigest()
    assert signature("whsec_test", body, 1700000000) == f"t=1700000000,v1={mac}"


def test_subscriptions_want_their_types_or_everything() -> None:
    assert wants(["*"], "overlap.detected") and wants(["dispute.filed", "dispute.resolved"], "dispute.resolved")
    assert not wants(["dispute.filed"], "dispute.resolved")
    assert set(EVENT_TYPES) == {"dispute.filed", "dispute.escalated", "dispute.resolved", "dispute.withdrawn",
                                "registration.approved", "registration.expired", "overlap.detected"}


# --- targets ---------------------------------------------------------------------------------------

def resolver(table: dict[str, list[str]]) -> Any:
    return lambda host: table.get(host, [])


@pytest.mark.parametrize(("url", "words"), [
    ("ftp://hooks.example.com/x", "http:// or https://"), ("hooks.example.com/x", "http:// or https://"),
    ("http://", "must name a host"), ("https://user:pw@hooks.example.com/", "user name or password"),
    ("http://hooks.example.com:99999/", "not a valid URL"), ("http://hooks.exa mple.com/", "spaces"),
    ("https://x.example.com:0/", "port 0"), ("http://hooks.example.com:000/in", "port 0"),
    ("http://127.0.0.1:8080/hook", "loopback"), ("http://localhost/hook", "loopback"),
    ("http://api.localhost/", "loopback"), ("http://[::1]/", "loopback"), ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://169.254.169.254/latest/meta-data", "link-local"), ("http://[fe80::1]/", "link-local"),
    ("http://10.0.0.8/", "private"), ("http://192.168.1.20/", "private"), ("http://172.16.5.4/", "private"),
    ("http://[fc00::1]/", "a private"), ("http://0.0.0.0/", "points at an unspecified address (0.0.0.0)"),
    ("http://[::]/", "an unspecified"), ("http://224.0.0.1/", "a multicast"),
    ("https://internal.corp.example/hook", "private"),  # resolves to 10.1.2.3
])
def test_refused_targets_name_the_url(url: str, words: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_target(url, allow_private=False, resolve=resolver({"internal.corp.example": ["10.1.2.3"]}))
    assert refused.value.field == "url" and words in refused.value.message, refused.value.message


def test_port_0_is_refused_even_where_private_targets_are_allowed() -> None:
    with pytest.raises(InvalidInput) as refused:
        check_target("http://127.0.0.1:0/hook", allow_private=True, resolve=resolver({}))
    assert refused.value.field == "url" and "port 0" in refused.value.message


def test_public_targets_and_private_ones_when_allowed() -> None:
    public = resolver({"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::"]})
    check_target("https://hooks.example.com/parley", allow_private=False, resolve=public)
    check_target("HTTPS://HOOKS.example.com/parley?x=1", allow_private=False, resolve=public)
    check_target("https://not-yet-in-dns.example/", allow_private=False, resolve=public)  # resolved at delivery
    check_target("http://127.0.0.1:9/hook", allow_private=True, resolve=public)
    with pytest.raises(InvalidInput):
        check_target("ftp://127.0.0.1/", allow_private=True, resolve=public)  # still http(s) only
