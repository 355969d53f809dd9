"""`registration.approved`, `registration.expired` and `overlap.detected` (DESIGN §6, §7), on SQLite and PostgreSQL.

In the store: each is queued in the transaction that records its audit event (a crash before the commit
leaves neither), once per subscription whatever the retries, with the audit event's id (the pair's for an
overlap, which both registrations record), and started once the transaction has committed. Over the whole
stack: a registration overlapping another, approved, then expiring reaches real local receivers, each event
once, signed, carrying the registrations as `GET /api/registrations/{id}` shows them; a subscription to the
dispute events gets none of them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine, func, select
from temporalio.testing import ActivityEnvironment

from activities.registrations import RegistrationActivities
from domain.model import Event
from domain.registration_lifecycle import RegistrationRecorded
from service.registration_workflows import snapshot_of
from store import overlaps, registration_trail, webhooks
from store import registrations as regs
from store.db import session
from store.tables import AUDIT_EVENTS, RegistrationRow
from store.webhook_tables import WEBHOOK_DELIVERIES
from tests.api.conftest import Api, eventually
from tests.harness.temporal import terminate
from tests.webhooks.receiver import Receiver, verifies
from tests.webhooks.test_api import Hooks
from tests.webhooks.test_store import Starter, subscribe

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
DISPUTE_TYPES = ["dispute.filed", "dispute.escalated", "dispute.resolved", "dispute.withdrawn"]
REGISTRATION_TYPES = ["registration.approved", "registration.expired", "overlap.detected"]
CHARTER = "fast-1+test"


def fresh_word() -> str:
    """A distinctive word of random letters, so that only this test's registrations overlap."""
    return "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:8]).capitalize()


# --- in the store ----------------------------------------------------------------------------------

def insert(engine: Engine, reg_id: str, account: str, owner: str, org: str | None) -> RegistrationRow:
    """A registration row and its first audit event, as the service writes them."""
    row = RegistrationRow(id=reg_id, channel="partner" if org else "direct", partner_org=org, owner_email=owner,
                          account=account, title=f"{account} renewal", deal_value=50_000.0, currency="EUR",
                          region="EMEA", status="pending" if org else "approved", submitted_at=T0,
                          approved_at=None if org else T0, charter_version=CHARTER, created_at=T0, updated_at=T0)
    with session(engine, write=True) as s:
        regs.insert(s, row)
        overlaps.record(s, row, overlaps.find(s, row, 85), T0)
        registration_trail.record(s, item(row, 1, "submitted", {}, owner), "outbox")
    return row


def item(row: RegistrationRow, seq: int, action: str, payload: dict[str, Any], actor: str,
         **after: Any) -> RegistrationRecorded:
    at = T0 + timedelta(minutes=seq)
    event = Event(dispute_id=row.id, seq=seq, at=at, actor=actor, action=action, tier=0, payload=payload,
                  charter_version=CHARTER)
    snapshot = snapshot_of(row).model_copy(update={**after, "last_seq": seq, "updated_at": at})
    return RegistrationRecorded(event=event, registration=snapshot, notices=[])


def deliveries(engine: Engine) -> list[tuple[str, str, str, str]]:
    """(id, webhook id, event id, type) of every delivery queued."""
    d = WEBHOOK_DELIVERIES.c
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(d.id, d.webhook_id, d.event_id, d.type).order_by(d.id))]


def test_an_approval_is_queued_with_its_event_and_a_retry_starts_it_once_more(engine: Engine) -> None:
    wanted = subscribe(engine, "http://a.example/", ["registration.approved"])
    subscribe(engine, "http://b.example/", DISPUTE_TYPES)
    row = insert(engine, "REG-0000000A", "Zyqbrx Corp", "pat@resellers.example", "Resellers Inc")
    approved = item(row, 2, "approved", {"note": "First", "approved_at": "x", "protected_until": "y"},
                    "mediator@example.com", status="approved", approved_at=T0, decided_by="mediator@example.com",
                    protected_until=T0 + timedelta(days=90))

    with pytest.raises(RuntimeError, match="crash before the commit"), session(engine, write=True) as s:
        registration_trail.record(s, approved, "outbox")
        raise RuntimeError("crash before the commit")
    assert deliveries(engine) == []  # neither the event nor its delivery
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AUDIT_EVENTS)
                            .where(AUDIT_EVENTS.c.dispute_id == row.id)).scalar_one() == 1

    starter = Starter(failures=1)
    activities = RegistrationActivities(engine, slack_enabled=False, starter=starter)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="Temporal did not answer"):
        ActivityEnvironment().run(activities.record_registration_event, approved)
    ActivityEnvironment().run(activities.record_registration_event, approved)  # Temporal's retry
    expected = webhooks.delivery_id(wanted, f"evt_{row.id}_2")
    assert deliveries(engine) == [(expected, wanted, f"evt_{row.id}_2", "registration.approved")]
    assert starter.asked == [[expected], [expected]]
    with session(engine) as s:
        stored = webhooks.delivery(s, expected)
        assert stored is not None
        body = stored.body
    assert '"status":"approved"' in body and '"note":"First"' in body and '"by":"mediator@example.com"' in body


def test_an_overlap_is_one_event_whichever_registration_records_it(engine: Engine) -> None:
    wanted = subscribe(engine, "http://a.example/", ["overlap.detected"])
    partner = insert(engine, "REG-0000000B", "Qwomble Corp", "pat@resellers.example", "Resellers Inc")
    direct = insert(engine, "REG-0000000C", "QWOMBLE Corporation", "dana@corp.example", None)
    starter = Starter()
    activities = RegistrationActivities(engine, slack_enabled=False, starter=starter)  # type: ignore[arg-type]
    for row, other in ((direct, partner), (partner, direct)):
        note = {"registration_id": other.id, "channel": other.channel, "partner_org": other.partner_org,
                "account": other.account, "score": 100}
        ActivityEnvironment().run(activities.record_registration_event, item(row, 2, "overlap_found", note,
                                                                              "system:overlap"))
    event_id = f"evt_overlap_{partner.id}_{direct.id}"
    expected = webhooks.delivery_id(wanted, event_id)
    assert deliveries(engine) == [(expected, wanted, event_id, "overlap.detected")]
    assert starter.asked == [[expected], [expected]]  # still due: started again, which Temporal refuses


# --- over the whole stack ----------------------------------------------------------------------------

@pytest_asyncio.fixture(loop_scope="session")
async def hooks(api: Api) -> AsyncIterator[Hooks]:
    each = Hooks(api)
    try:
        yield each
    finally:
        await each.close()


async def register(api: Api, who: str, account: str) -> dict[str, Any]:
    body = {"account": account, "title": f"{account} data platform", "deal_value": 120_000, "currency": "EUR",
            "region": "EMEA", "expected_close": "2027-06-30", "products": ["Platform"]}
    response = await api.post("/api/registrations", who, body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def read(api: Api, registration_id: str) -> dict[str, Any]:
    response = await api.get(f"/api/registrations/{registration_id}", "auditor")
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()
    return shown


def trail_seq(api: Api, registration_id: str, action: str) -> int:
    return next(seq for seq, _, a in api.events(registration_id) if a == action)


def without_progress(registration: dict[str, Any]) -> dict[str, Any]:
    """What stays when events that change nothing else (the other side's overlap note) move it on."""
    return {k: v for k, v in registration.items() if k not in ("last_seq", "updated_at")}


async def test_registration_events_reach_their_subscribers_once_signed(api: Api, hooks: Hooks) -> None:
    async with Receiver() as registrations_rx, Receiver() as everything_rx, Receiver() as disputes_rx:
        registrations_hook = await hooks.subscribe(registrations_rx.url, REGISTRATION_TYPES)
        everything_hook = await hooks.subscribe(everything_rx.url, ["*"])
        disputes_hook = await hooks.subscribe(disputes_rx.url, DISPUTE_TYPES)
        word = fresh_word()
        partner = await register(api, "pat", f"{word} Corp")
        direct = await register(api, "dana", f"{word.upper()} Corporation")
        overlapping = {r["id"]: await read(api, r["id"]) for r in (partner, direct)}  # before the approval
        try:
            approved = await api.post(f"/api/registrations/{partner['id']}/actions", "mediator",
                                      {"action": "approve", "note": "Registered first"})
            assert approved.status_code == 200, approved.text

            async def expired() -> dict[str, Any] | None:
                shown = await read(api, partner["id"])
                return shown if shown["status"] == "expired" else None

            after_expiry = await eventually(expired, timeout=30, what=f"{partner['id']} to expire")
            await eventually(lambda: len(registrations_rx.answered(200)) == 3 == len(everything_rx.answered(200)),
                             timeout=15, what="the three events at both receivers")
            logged = await hooks.delivered(registrations_hook["id"], 3)
        finally:
            await terminate(api.temporal, [direct["id"]])  # a direct opportunity's workflow waits for ever
    assert disputes_rx.requests == [] and await hooks.deliveries(disputes_hook["id"]) == []
    bodies = [r.json() for r in registrations_rx.requests]
    assert [b["type"] for b in bodies] == ["overlap.detected", "registration.approved", "registration.expired"]
    assert len(logged) == 3 and {d["attempts"] for d in logged} == {1}  # each arrived once
    assert [r.body for r in everything_rx.requests] == [r.body for r in registrations_rx.requests]
    for request in registrations_rx.requests:
        assert verifies(registrations_hook["secret"], request.headers, request.body)
        assert request.headers["parley-event-id"] == request.json()["id"]
    for request in everything_rx.requests:
        assert verifies(everything_hook["secret"], request.headers, request.body)
    for body in bodies:
        assert set(body) == {"id", "type", "created_at", "data"} and body["created_at"].endswith("Z")

    overlap, approval, expiry = bodies
    a_id, b_id = sorted((partner["id"], direct["id"]))
    assert overlap["id"] == f"evt_overlap_{a_id}_{b_id}"
    data = overlap["data"]
    assert (data["a"]["id"], data["b"]["id"], data["score"], data["reason"]) == (a_id, b_id, 100, "name")
    assert data["found_at"].endswith("Z")
    for side in (data["a"], data["b"]):
        then = overlapping[side["id"]]
        assert without_progress(side) == without_progress(then) and side["last_seq"] <= then["last_seq"]
    assert [o["registration_id"] for o in data["a"]["overlaps"]] == [b_id]
    assert [o["registration_id"] for o in data["b"]["overlaps"]] == [a_id]

    assert approval["id"] == f"evt_{partner['id']}_{trail_seq(api, partner['id'], 'approved')}"
    assert approval["data"] == {"registration": approved.json(), "by": api.email("mediator"),
                                "note": "Registered first", "charter_version": approved.json()["charter_version"]}
    assert expiry["id"] == f"evt_{partner['id']}_{trail_seq(api, partner['id'], 'expired')}"
    assert expiry["data"] == {"registration": after_expiry, "by": "system:protection",
                              "charter_version": after_expiry["charter_version"]}
    assert after_expiry["status"] == "expired"
