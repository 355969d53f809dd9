"""The sweep (`WebhookSweepWorkflow` and its `sweep_webhooks` activity) on the time-skipping server, against
real receivers and real stores: it hands Temporal what no attempt is coming for, and nothing else.

What it finds is what a worker killed at the wrong moment leaves behind: a delivery queued and committed
but never tried (killed before, or during, its first try), and one whose first try failed and was logged
but whose retry workflow never started.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from activities.webhooks import start_sweeper, sweeper_id
from domain.webhook_events import WebhookEvent
from domain.webhook_retries import SweepPlan
from store import webhooks
from store.db import session
from store.webhook_tables import WEBHOOK_DELIVERIES
from tests.harness.temporal import terminate
from tests.harness.waiting import eventually
from tests.webhooks.conftest import Rig
from tests.webhooks.receiver import Receiver
from workflows.webhook_retries import WebhookRetryWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow


def event(n: int) -> WebhookEvent:
    return WebhookEvent(id=f"evt_PRL-SWEEP001_{n}", type="dispute.filed", created_at=datetime(2026, 3, 2, tzinfo=UTC),
                        data={"n": n})


async def test_the_sweep_hands_temporal_what_no_attempt_is_coming_for(rig: Rig) -> None:
    async with Receiver() as receiver, Receiver() as removed_one:
        hook, removed = rig.subscribe(receiver.url), rig.subscribe(removed_one.url)
        never, never_removed = sorted(rig.enqueue(event(1)), key=lambda d: rig.row(d).webhook_id != hook.id)
        rig.remove(removed.id)
        (failed_first,) = rig.enqueue(event(2))
        (too_old,) = rig.enqueue(event(3))
        (on_its_way,) = rig.enqueue(event(4))
        now = datetime.now(UTC)
        with session(rig.engine) as s:
            # its first try failed a minute ago, logged, and no retry workflow was started
            webhooks.record_attempt(s, failed_first, status=500, error="the receiver answered 500",
                                    next_try_at=now - timedelta(minutes=1))
            s.execute(update(WEBHOOK_DELIVERIES).where(WEBHOOK_DELIVERIES.c.id == too_old)
                      .values(created_at=now - timedelta(hours=25)))
        with session(rig.engine, write=True) as s:  # a first try under way: marked when it begins
            webhooks.begin_attempt(s, on_its_way)
        rig.started += [never, never_removed, failed_first, too_old, on_its_way]
        # as if each were queued two minutes ago and more: the plan takes over anything overdue at all
        await start_sweeper(rig.env.client, rig.task_queue, SweepPlan(every_s=3600, grace_s=0))
        try:
            async def swept() -> bool:
                return all(webhooks.status_of(rig.row(d)) != "pending" for d in (never, never_removed, failed_first,
                                                                                 on_its_way))

            await eventually(swept, timeout=15, what="the sweep's deliveries")
        finally:
            await terminate(rig.env.client, [sweeper_id(rig.task_queue)])

    for delivery_id, kind, attempts in ((never, WebhookDeliveryWorkflow, 1), (failed_first, WebhookRetryWorkflow, 2),
                                        (on_its_way, WebhookDeliveryWorkflow, 2)):
        described = await rig.workflow(delivery_id)
        assert described is not None and described.workflow_type == kind.__name__, delivery_id
        assert await rig.result(delivery_id) == "delivered"
        row = rig.row(delivery_id)
        assert (row.attempts, row.last_status) == (attempts, 200), row  # one cut short counts as an attempt
    assert sorted(r.json()["id"] for r in receiver.requests) == [event(1).id, event(2).id, event(4).id]

    row = rig.row(never_removed)  # its subscription was removed: given up, not sent
    assert row.failed_at is not None and row.last_error == "the subscription was removed"
    assert removed_one.requests == [] and await rig.workflow(never_removed) is None
    row = rig.row(too_old)  # queued more than 24 hours ago: past trying
    assert webhooks.status_of(row) == "pending" and row.attempts == 0 and await rig.workflow(too_old) is None
