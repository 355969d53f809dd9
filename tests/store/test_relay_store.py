"""How relays take what a workflows worker leaves them (store.relay), on SQLite and PostgreSQL: `events_due`
lists the events no relay holds, oldest first; `claim_event` holds an event for one relay until its lease
passes; `release_event` hands it back; `webhooks_due` lists the deliveries left to relays, oldest first, saying
which an attempt has begun on meanwhile, and `claim_webhook` takes each once (clearing its mark);
`recorded_events` are the events as appended."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select, update
from temporalio.testing import ActivityEnvironment

from activities.record import StoreActivities
from domain.webhook_events import WebhookEvent
from store import audit, relay, webhooks
from store.db import session
from store.tables import NOTIFICATIONS
from store.webhook_tables import WEBHOOK_DELIVERIES
from tests.store.samples import COUNTERPARTY, event, recorded

T0 = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
SECOND, LEASE = timedelta(seconds=1), timedelta(minutes=5)
N, D = NOTIFICATIONS.c, WEBHOOK_DELIVERIES.c


def record(engine: Engine, dispute_id: str, seq: int = 1) -> None:
    """The event with its two pending rows (the channel's and the counterparty's), as `record_event` writes them."""
    ActivityEnvironment().run(StoreActivities(engine).record_event, recorded(dispute_id, seq))


def leave(engine: Engine, dispute_id: str, seq: int = 1, deliveries: list[str] | None = None,
          now: datetime = T0) -> None:
    """The event's pending rows and these untried deliveries the relay's from `now`, as a relayed recording
    writes them (tests/activities/test_record_relayed.py)."""
    with session(engine, write=True) as s:
        s.execute(update(NOTIFICATIONS).where(N.dispute_id == dispute_id, N.seq == seq, N.status == "pending")
                  .values(relay_until=now))
        s.execute(update(WEBHOOK_DELIVERIES).where(D.id.in_(deliveries or []), D.attempts == 0)
                  .values(relay_until=now))


def marks(engine: Engine) -> dict[tuple[str, int, str], datetime | None]:
    with session(engine) as s:
        rows = s.execute(select(N.dispute_id, N.seq, N.recipient, N.relay_until)).all()
    return {(r.dispute_id, r.seq, r.recipient): r.relay_until for r in rows}


def delivery_marks(engine: Engine) -> dict[str, datetime | None]:
    with session(engine) as s:
        return {r.id: r.relay_until for r in s.execute(select(D.id, D.relay_until))}


def set_row(engine: Engine, dispute_id: str, recipient: str, **values: object) -> None:
    with session(engine, write=True) as s:
        s.execute(update(NOTIFICATIONS).where(N.dispute_id == dispute_id, N.recipient == recipient).values(**values))


def deliveries(engine: Engine, count: int) -> list[str]:
    """`count` deliveries to one subscription, in the order queued (their ids sort at random)."""
    with session(engine, write=True) as s:
        hook = webhooks.create(s, url="https://hooks.example/in", events=["*"], description=None,
                               created_by="root@corp.example")
        ids = [webhooks.enqueue_event(s, WebhookEvent(id=f"evt_{i}", type="dispute.filed", created_at=T0, data={}),
                                      [hook.id])[0] for i in range(count)]
    return ids


def claim(engine: Engine, dispute_id: str, now: datetime, seq: int = 1) -> bool:
    with session(engine, write=True) as s:
        return relay.claim_event(s, dispute_id, seq, now, now + LEASE)


def due(engine: Engine, now: datetime, limit: int = 10) -> list[tuple[str, int]]:
    with session(engine) as s:
        return relay.events_due(s, now, limit)


def webhooks_due(engine: Engine, now: datetime, limit: int = 10) -> list[tuple[str, str, bool]]:
    with session(engine) as s:
        return relay.webhooks_due(s, now, limit)


def claim_webhook(engine: Engine, delivery_id: str) -> bool:
    with session(engine, write=True) as s:
        return relay.claim_webhook(s, delivery_id)


def test_events_due_are_oldest_first_and_skip_the_held_and_the_delivered(engine: Engine) -> None:
    for dispute_id in ("PRL-1", "PRL-2", "PRL-3", "PRL-4", "PRL-5"):
        record(engine, dispute_id)
    for dispute_id in ("PRL-5", "PRL-4", "PRL-3", "PRL-2"):  # left in another order than recorded
        leave(engine, dispute_id)
    leave(engine, "PRL-1", now=T0 + 2 * SECOND)  # PRL-1 is the relay's from a little later on
    assert claim(engine, "PRL-3", T0)  # held by a relay
    set_row(engine, "PRL-4", "channel", status="outbox", email_status="none")  # nothing left to deliver
    set_row(engine, "PRL-4", COUNTERPARTY, status="email", email_status="sent")
    set_row(engine, "PRL-5", "channel", status="outbox", email_status="none")
    set_row(engine, "PRL-5", COUNTERPARTY, status="email", email_status="pending")  # an e-mail still owed
    assert due(engine, T0 - SECOND) == []  # nothing is the relay's yet
    assert due(engine, T0) == [("PRL-2", 1), ("PRL-5", 1)]  # by when recorded, not when left
    assert due(engine, T0 + 2 * SECOND) == [("PRL-1", 1), ("PRL-2", 1), ("PRL-5", 1)]
    assert due(engine, T0 + 2 * SECOND, limit=2) == [("PRL-1", 1), ("PRL-2", 1)]
    assert due(engine, T0 + LEASE) == [("PRL-1", 1), ("PRL-2", 1), ("PRL-3", 1), ("PRL-5", 1)]  # the lease ran out
    record(engine, "PRL-6")  # recorded, never left to the relay
    assert ("PRL-6", 1) not in due(engine, T0 + LEASE)


def test_a_claim_is_exclusive_until_its_lease_passes(engine: Engine) -> None:
    record(engine, "PRL-1")
    leave(engine, "PRL-1")
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: claim(engine, "PRL-1", T0), range(8)))
    assert wins.count(True) == 1
    assert set(marks(engine).values()) == {T0 + LEASE}
    assert not claim(engine, "PRL-1", T0 + LEASE - SECOND)  # still held
    assert claim(engine, "PRL-1", T0 + LEASE)  # its holder died: another relay takes it
    assert set(marks(engine).values()) == {T0 + 2 * LEASE}
    assert not claim(engine, "PRL-9", T0 + LEASE)  # no such event


def test_an_event_with_nothing_left_to_deliver_is_not_claimed(engine: Engine) -> None:
    record(engine, "PRL-1")
    leave(engine, "PRL-1")
    set_row(engine, "PRL-1", "channel", status="sent")
    set_row(engine, "PRL-1", COUNTERPARTY, status="email", email_status="sent")
    assert not claim(engine, "PRL-1", T0)


def test_a_released_event_is_no_longer_the_relays(engine: Engine) -> None:
    record(engine, "PRL-1")
    record(engine, "PRL-2")
    leave(engine, "PRL-1")
    leave(engine, "PRL-2")
    assert claim(engine, "PRL-1", T0)
    with session(engine, write=True) as s:
        relay.release_event(s, "PRL-1", 1)
    assert {key[0] for key, until in marks(engine).items() if until is not None} == {"PRL-2"}
    assert due(engine, T0 + 2 * LEASE) == [("PRL-2", 1)]
    assert not claim(engine, "PRL-1", T0 + 2 * LEASE)  # handed to a `deliver_notices` activity: not again


def test_webhook_deliveries_due_are_oldest_first_and_taken_once_each(engine: Engine) -> None:
    ids = deliveries(engine, 5)
    first, *rest = ids
    leave(engine, "PRL-1", deliveries=rest, now=T0 + SECOND)
    leave(engine, "PRL-1", deliveries=[first])
    with session(engine) as s:
        row = webhooks.delivery(s, first)
    assert row is not None
    hook_id = row.webhook_id
    assert webhooks_due(engine, T0 - SECOND) == []  # not the relay's yet
    assert webhooks_due(engine, T0) == [(first, hook_id, True)]
    assert webhooks_due(engine, T0 + SECOND) == [(first, hook_id, True)] + [(d, hook_id, True) for d in sorted(rest)]
    assert len(webhooks_due(engine, T0 + SECOND, limit=2)) == 2
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: claim_webhook(engine, first), range(8)))
    assert wins.count(True) == 1  # once, whichever relay asks
    assert [d for d, _, _ in webhooks_due(engine, T0 + LEASE)] == sorted(rest)
    assert all([claim_webhook(engine, d) for d in rest]) and not any(claim_webhook(engine, d) for d in ids)
    assert webhooks_due(engine, T0 + LEASE) == []
    assert set(delivery_marks(engine).values()) == {None}


def test_a_delivery_tried_meanwhile_is_due_as_tried(engine: Engine) -> None:
    ids = sorted(deliveries(engine, 3))
    leave(engine, "PRL-1", deliveries=ids)
    with session(engine, write=True) as s:
        webhooks.begin_attempt(s, ids[1])  # the sweep handed it over: its attempt has begun
    assert [(d, untried) for d, _, untried in webhooks_due(engine, T0)] == [(ids[0], True), (ids[1], False),
                                                                             (ids[2], True)]
    assert claim_webhook(engine, ids[1])  # the relay clears it without trying it
    assert delivery_marks(engine)[ids[1]] is None
    assert [d for d, _, _ in webhooks_due(engine, T0)] == [ids[0], ids[2]]


def test_the_recorded_event_is_the_event_appended(engine: Engine) -> None:
    first, second = event("PRL-1", 1), event("PRL-1", 2, payload={"quote": "“x”", "list": [1, 2.5, None]})
    with session(engine, write=True) as s:
        assert audit.append(s, first) and audit.append(s, second)
    with session(engine) as s:
        found = relay.recorded_events(s, [("PRL-1", 1), ("PRL-1", 2), ("PRL-1", 3), ("PRL-2", 1)])
        assert found.get(("PRL-1", 1)) == first
        assert found.get(("PRL-1", 2)) == second
        assert found.get(("PRL-1", 3)) is None
        assert found.get(("PRL-2", 1)) is None
