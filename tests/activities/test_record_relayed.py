"""With the deliveries on workers of their own (`relayed`, PARLEY_WORKER_ROLE=workflows), `record_event` and
`record_registration_event` leave an event's notices and webhook deliveries to the relay in the transaction that
records it: the rows are marked, nothing is started, and the activity answers False, so that the workflow
schedules no `deliver_notices`. A retried attempt answers the same and marks nothing more (a dispute event's
rows are written marked, so a retry cannot free what a relay holds). On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select
from temporalio.testing import ActivityEnvironment

from activities.record import StoreActivities
from activities.registrations import RegistrationActivities
from domain.model import Notice
from store import relay, webhooks
from store.db import session
from store.tables import NOTIFICATIONS, utcnow
from store.webhook_tables import WEBHOOK_DELIVERIES
from tests.store.samples import recorded
from tests.webhooks.test_registration_events import T0, insert, item
from tests.webhooks.test_store import Starter, subscribe


def marks(engine: Engine, dispute_id: str) -> dict[str, object]:
    """Each row of the subject's: its recipient, and whether the relay has it."""
    n = NOTIFICATIONS.c
    with engine.connect() as conn:
        rows = conn.execute(select(n.recipient, n.status, n.relay_until).where(n.dispute_id == dispute_id))
        return {r.recipient: (r.status, r.relay_until is not None) for r in rows}


def delivery_marked(engine: Engine, delivery_id: str) -> bool:
    d = WEBHOOK_DELIVERIES.c
    with engine.connect() as conn:
        return conn.execute(select(d.relay_until).where(d.id == delivery_id)).scalar_one() is not None


def test_a_relayed_dispute_event_is_left_to_the_relay(engine: Engine) -> None:
    hook = subscribe(engine, "http://a.example/", ["dispute.filed"])
    starter = Starter()
    relayed = StoreActivities(engine, starter=starter, relayed=True)  # type: ignore[arg-type]
    item_ = recorded()
    assert ActivityEnvironment().run(relayed.record_event, item_) is False  # no deliver_notices to schedule
    assert ActivityEnvironment().run(relayed.record_event, item_) is False  # Temporal's retry
    assert marks(engine, "PRL-1") == {"channel": ("pending", True), "rep.partner@acme.example": ("pending", True)}
    assert delivery_marked(engine, webhooks.delivery_id(hook, "evt_PRL-1_1"))
    assert starter.asked == []  # the relay makes the first tries


def test_a_retried_attempt_never_hands_back_what_a_relay_holds(engine: Engine) -> None:
    """The activity's retry after its transaction committed (its answer lost with the worker) must not make the
    rows a relay has claimed free again, or a second relay would deliver them beside the first."""
    hook = subscribe(engine, "http://a.example/", ["dispute.filed"])
    relayed = StoreActivities(engine, starter=Starter(), relayed=True)  # type: ignore[arg-type]
    item_ = recorded()
    ActivityEnvironment().run(relayed.record_event, item_)
    delivery = webhooks.delivery_id(hook, "evt_PRL-1_1")
    now, lease = utcnow(), utcnow() + timedelta(minutes=5)
    with session(engine, write=True) as s:  # a relay takes both
        assert relay.claim_event(s, "PRL-1", 1, now, lease)
        assert relay.claim_webhook(s, delivery)

    assert ActivityEnvironment().run(relayed.record_event, item_) is False  # the retry

    with session(engine) as s:
        assert relay.events_due(s, utcnow(), 10) == []  # still the first relay's, until its lease runs out
        assert relay.webhooks_due(s, utcnow(), 10) == []  # taken once


def test_unrelayed_it_starts_the_deliveries_itself(engine: Engine) -> None:
    hook = subscribe(engine, "http://a.example/", ["dispute.filed"])
    starter = Starter()
    activities = StoreActivities(engine, starter=starter)  # type: ignore[arg-type]
    assert ActivityEnvironment().run(activities.record_event, recorded()) is True
    assert set(marks(engine, "PRL-1").values()) == {("pending", False)}
    delivery = webhooks.delivery_id(hook, "evt_PRL-1_1")
    assert starter.asked == [[delivery]] and not delivery_marked(engine, delivery)


def test_with_no_medium_nothing_is_left_to_the_relay(engine: Engine) -> None:
    relayed = StoreActivities(engine, slack_enabled=False, relayed=True)  # neither Slack nor e-mail
    assert ActivityEnvironment().run(relayed.record_event, recorded()) is False
    assert set(marks(engine, "PRL-1").values()) == {("outbox", False)}


def test_a_relayed_registration_event_is_left_to_the_relay(engine: Engine) -> None:
    hook = subscribe(engine, "http://a.example/", ["registration.approved"])
    row = insert(engine, "REG-0000000R", "Relayco", "pat@resellers.example", "Resellers Inc")
    approved = item(row, 2, "approved", {"note": "First"}, "mediator@example.com", status="approved",
                    approved_at=T0, decided_by="mediator@example.com", protected_until=T0 + timedelta(days=90))
    approved = approved.model_copy(update={"notices": [
        Notice(recipient="pat@resellers.example", kind="info", text=f"{row.id} is approved")]})
    starter = Starter()
    relayed = RegistrationActivities(engine, starter=starter, relayed=True)  # type: ignore[arg-type]
    assert ActivityEnvironment().run(relayed.record_registration_event, approved) is False
    assert ActivityEnvironment().run(relayed.record_registration_event, approved) is False
    n = NOTIFICATIONS.c
    with engine.connect() as conn:
        rows = conn.execute(select(n.seq, n.status, n.relay_until).where(n.dispute_id == row.id)).all()
    assert [(r.seq, r.status, r.relay_until is not None) for r in rows] == [(2, "pending", True)]
    assert delivery_marked(engine, webhooks.delivery_id(hook, f"evt_{row.id}_2"))
    assert starter.asked == []
