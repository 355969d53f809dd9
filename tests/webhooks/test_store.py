"""Queuing deliveries, on SQLite and PostgreSQL: one per (subscription, event), whatever the retries;
`record_event` queues them in its own transaction and hands them over once it has committed; which of
them no attempt has begun on (the first tries to make), and which no attempt is coming for (the sweep's)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update
from temporalio.testing import ActivityEnvironment

from activities.record import StoreActivities
from domain.webhook_events import WebhookEvent
from store import webhooks
from store.db import session
from store.webhook_tables import WEBHOOK_DELIVERIES
from tests.store.samples import T0, recorded, view


def count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(WEBHOOK_DELIVERIES)).scalar_one())


def subscribe(engine: Engine, url: str, events: list[str]) -> str:
    with session(engine) as s:
        return webhooks.create(s, url=url, events=events, description=None, created_by="root@corp.example").id


class Starter:
    """Stands in for `DeliveryStarter`: remembers what it was asked to start, and fails while told to."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.asked: list[list[str]] = []

    def start(self, delivery_ids: list[str]) -> None:
        self.asked.append(list(delivery_ids))
        if self.failures:
            self.failures -= 1
            raise RuntimeError("Temporal did not answer")


def test_enqueue_writes_one_delivery_per_interested_subscription_once(engine: Engine) -> None:
    every = subscribe(engine, "http://a.example/", ["*"])
    resolved = subscribe(engine, "http://b.example/", ["dispute.resolved"])
    subscribe(engine, "http://c.example/", ["dispute.filed"])
    removed = subscribe(engine, "http://d.example/", ["*"])
    with session(engine) as s:
        assert webhooks.deactivate(s, removed) and not webhooks.deactivate(s, removed)
    with session(engine) as s:
        first = webhooks.enqueue(s, "dispute.resolved", {"outcome": {"owner": "partner"}}, "evt_PRL-9_4",
                                 created_at=T0)
    with session(engine) as s:  # a retried writer
        again = webhooks.enqueue(s, "dispute.resolved", {"outcome": {"owner": "changed"}}, "evt_PRL-9_4")
    assert first == again == sorted(webhooks.delivery_id(w, "evt_PRL-9_4") for w in (every, resolved))
    assert count(engine) == 2
    with session(engine) as s:
        rows = [webhooks.delivery(s, d) for d in first]
        assert all(r is not None and r.body == WebhookEvent("evt_PRL-9_4", "dispute.resolved", T0, {
            "outcome": {"owner": "partner"}}).body() for r in rows)  # the first body stays
        webhooks.record_attempt(s, first[0], status=200, error=None, next_try_at=None, delivered_at=T0)
    with session(engine) as s:
        assert webhooks.enqueue(s, "dispute.resolved", {}, "evt_PRL-9_4") == first[1:]  # delivered: not due
        assert webhooks.enqueue(s, "registration.expired", {}, "evt_REG-1_3") == [
            webhooks.delivery_id(every, "evt_REG-1_3")]


def test_record_event_queues_in_its_transaction_and_a_retry_starts_what_is_missing(engine: Engine) -> None:
    hook_id = subscribe(engine, "http://a.example/", ["dispute.filed"])
    starter = Starter(failures=1)
    activities = StoreActivities(engine, starter=starter)  # type: ignore[arg-type]
    item = recorded()
    with pytest.raises(RuntimeError, match="Temporal did not answer"):
        ActivityEnvironment().run(activities.record_event, item)
    assert count(engine) == 1  # committed before the start was tried
    ActivityEnvironment().run(activities.record_event, item)  # Temporal's retry
    expected = [webhooks.delivery_id(hook_id, "evt_PRL-1_1")]
    assert starter.asked == [expected, expected] and count(engine) == 1
    comment = recorded(seq=2)
    assert comment.event.action == "commented"
    ActivityEnvironment().run(activities.record_event, comment)
    assert starter.asked == [expected, expected] and count(engine) == 1  # nobody is told of comments


def test_record_event_without_subscriptions_starts_nothing(engine: Engine) -> None:
    starter = Starter()
    ActivityEnvironment().run(StoreActivities(engine, starter=starter).record_event,  # type: ignore[arg-type]
                              recorded(the_view=view()))
    assert starter.asked == [] and count(engine) == 0


def test_untried_are_the_deliveries_no_attempt_has_begun_on(engine: Engine) -> None:
    first, second = subscribe(engine, "http://a.example/", ["*"]), subscribe(engine, "http://b.example/", ["*"])
    with session(engine) as s:
        ids = webhooks.enqueue(s, "dispute.filed", {}, "evt_PRL-7_1", created_at=T0)
    by_hook = {webhooks.delivery_id(w, "evt_PRL-7_1"): w for w in (first, second)}
    with session(engine) as s:
        assert webhooks.untried(s, ids) == sorted(by_hook.items())
    under_way, answered = sorted(ids)
    with session(engine, write=True) as s:
        webhooks.begin_attempt(s, under_way)
    with session(engine) as s:
        assert webhooks.untried(s, ids) == [(answered, by_hook[answered])]
        webhooks.record_attempt(s, answered, status=200, error=None, next_try_at=None, delivered_at=T0)
    with session(engine) as s:
        assert webhooks.untried(s, ids) == []


def test_overdue_are_the_recent_deliveries_no_attempt_is_coming_for(engine: Engine) -> None:
    hook = subscribe(engine, "http://a.example/", ["*"])
    removed = subscribe(engine, "http://b.example/", ["dispute.withdrawn"])
    now = datetime.now(UTC)
    grace, window = timedelta(minutes=2), timedelta(hours=24)

    def queue(event_id: str, ago: timedelta, kind: str = "dispute.filed") -> list[str]:
        with session(engine) as s:
            ids = webhooks.enqueue(s, kind, {}, event_id)
            s.execute(update(WEBHOOK_DELIVERIES).where(WEBHOOK_DELIVERIES.c.id.in_(ids))
                      .values(created_at=now - ago, next_try_at=now - ago))
        return ids

    (fresh,) = queue("evt_fresh", timedelta(seconds=30))  # its first try may well be on its way
    (never,) = queue("evt_never", timedelta(minutes=5))
    (cut_short,) = queue("evt_cut", timedelta(minutes=5))
    (retrying,) = queue("evt_retrying", timedelta(minutes=5))
    (late,) = queue("evt_late", timedelta(minutes=30))
    (delivered,) = queue("evt_delivered", timedelta(minutes=5))
    (too_old,) = queue("evt_old", timedelta(hours=25))
    gone = [d for d in queue("evt_gone", timedelta(minutes=5), "dispute.withdrawn") if d != webhooks.delivery_id(
        hook, "evt_gone")]
    with session(engine) as s:
        assert webhooks.deactivate(s, removed)
    with session(engine, write=True) as s:
        webhooks.begin_attempt(s, cut_short)  # a first try begun, its worker killed: next_try_at is cleared
    with session(engine) as s:
        webhooks.record_attempt(s, retrying, status=500, error="500", next_try_at=now + timedelta(seconds=40))
        webhooks.record_attempt(s, late, status=500, error="500", next_try_at=now - timedelta(minutes=10))
        webhooks.record_attempt(s, delivered, status=200, error=None, next_try_at=None, delivered_at=now)
    with session(engine) as s:
        found = webhooks.overdue(s, now=now, grace=grace, window=window)
    assert {o.delivery_id: (o.attempts, o.active) for o in found} == {
        never: (0, True), cut_short: (0, True), late: (1, True), gone[0]: (0, False),
        webhooks.delivery_id(hook, "evt_gone"): (0, True)}
    assert fresh not in {o.delivery_id for o in found} and too_old not in {o.delivery_id for o in found}
    with session(engine) as s:
        assert len(webhooks.overdue(s, now=now, grace=grace, window=window, limit=2)) == 2


def test_an_attempt_begins_only_at_an_active_subscription_and_counts_the_one_cut_short(engine: Engine) -> None:
    with session(engine) as s:
        made = [webhooks.create(s, url=f"http://{host}.example/hook", events=["*"], description=None,
                                created_by="root@corp.example") for host in ("a", "b")]
        (kept, removed), secrets = [w.id for w in made], {w.id: w.secret for w in made}
    with session(engine) as s:
        ids = webhooks.enqueue(s, "dispute.filed", {"n": 1}, "evt_PRL-8_1", created_at=T0)
        assert webhooks.deactivate(s, removed)
    to_kept, to_removed = (webhooks.delivery_id(w, "evt_PRL-8_1") for w in (kept, removed))
    assert sorted(ids) == sorted([to_kept, to_removed])
    body = WebhookEvent("evt_PRL-8_1", "dispute.filed", T0, {"n": 1}).body()

    def state(delivery_id: str) -> tuple[int, str | None]:
        with session(engine) as s:
            row = webhooks.delivery(s, delivery_id)
            assert row is not None
            return row.attempts, row.last_error

    with session(engine, write=True) as s:
        begun = webhooks.begin_attempt(s, to_kept)
    assert begun == webhooks.Target(delivery_id=to_kept, url="http://a.example/hook", secret=secrets[kept],
                                    body=body, event_id="evt_PRL-8_1", active=True)
    assert state(to_kept) == (0, webhooks.UNDER_WAY)
    with session(engine, write=True) as s:  # its worker died mid-request: the next attempt counts that one
        assert webhooks.begin_attempt(s, to_kept) == begun
    assert state(to_kept) == (1, webhooks.UNDER_WAY)

    with session(engine, write=True) as s:
        refused = webhooks.begin_attempt(s, to_removed)
    assert refused is not None and not refused.active and refused.url == "http://b.example/hook"
    assert state(to_removed) == (0, None)  # nothing marked
    with session(engine, write=True) as s:
        assert webhooks.begin_attempt(s, "WHD-none") is None
