"""Deliveries on the time-skipping server, against real local receivers and real stores.

The first try is made as the worker makes it, straight after the event's commit and without a workflow;
a failed one is retried by `WebhookRetryWorkflow`. Each attempt is a real POST; Temporal's retry schedule
(10 s, doubling, at most an hour apart, 24 hours in all) passes in seconds. The deliveries log is read
from the store as the admin would read it.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from activities.webhooks import DeliveryStarter, WebhookActivities, start_delivery
from domain.webhook_events import WebhookEvent
from tests.harness.waiting import eventually
from tests.webhooks.conftest import HTTP_TIMEOUT_S, Rig
from tests.webhooks.receiver import CLOSE, HANG, Answer, Receiver, verifies
from workflows.webhook_retries import WebhookRetryWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow

EVENT = WebhookEvent(id="evt_PRL-TEST0001_7", type="dispute.resolved",
                     created_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
                     data={"dispute": {"id": "PRL-TEST0001"}, "outcome": {"owner": "partner"}})


async def test_a_2xx_first_try_is_delivered_without_a_workflow(rig: Rig) -> None:
    async with Receiver(then=204) as receiver:
        hook = rig.subscribe(receiver.url)
        (delivery_id,) = await rig.deliver(EVENT)
    row = rig.row(delivery_id)
    assert (row.attempts, row.last_status, row.last_error, row.next_try_at) == (1, 204, None, None)
    assert row.delivered_at is not None and row.failed_at is None
    assert await rig.workflow(delivery_id) is None  # Temporal did nothing for it
    (request,) = receiver.requests
    assert request.headers["parley-event-id"] == EVENT.id and verifies(hook.secret, request.headers, request.body)
    assert rig.enqueue(EVENT) == []  # queued again (a retried writer): nothing is due


async def test_a_500_then_a_200_is_delivered_once_after_two_attempts(rig: Rig) -> None:
    async with Receiver([500], then=200) as receiver:
        hook = rig.subscribe(receiver.url)
        started = await rig.now()
        (delivery_id,) = await rig.deliver(EVENT)
        row = await rig.attempted(delivery_id)
        assert (row.attempts, row.last_status, row.delivered_at) == (1, 500, None)
        assert row.last_error == "the receiver answered 500 Internal Server Error"
        assert row.next_try_at is not None
        assert timedelta(seconds=10) <= row.next_try_at - started < timedelta(seconds=15)  # the first back-off
        described = await rig.workflow(delivery_id)
        assert described is not None and described.workflow_type == WebhookRetryWorkflow.__name__
        await rig.next_attempt(delivery_id)
        assert await rig.result(delivery_id) == "delivered"
    row = rig.row(delivery_id)
    assert (row.attempts, row.last_status, row.last_error, row.next_try_at) == (2, 200, None, None)
    assert row.delivered_at is not None and row.failed_at is None
    assert len(receiver.requests) == 2 and len(receiver.answered(200)) == 1
    first, second = receiver.requests
    assert first.body == second.body == EVENT.body().encode() == row.body.encode()
    assert first.json()["id"] == second.json()["id"] == EVENT.id
    assert first.headers["parley-event-id"] == second.headers["parley-event-id"] == EVENT.id
    for request in receiver.requests:
        assert request.method == "POST" and request.path == "/hook"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("Parley-Webhooks")
        assert verifies(hook.secret, request.headers, request.body)
        assert not verifies("whsec_another", request.headers, request.body)


async def test_the_body_is_canonical_compact_json(rig: Rig) -> None:
    async with Receiver() as receiver:
        rig.subscribe(receiver.url)
        (delivery_id,) = await rig.deliver(EVENT)
        assert await rig.result(delivery_id) == "delivered"
    body = receiver.requests[0].body.decode()
    assert body == ('{"created_at":"2026-03-02T09:30:00Z","data":{"dispute":{"id":"PRL-TEST0001"},'
                    '"outcome":{"owner":"partner"}},"id":"evt_PRL-TEST0001_7","type":"dispute.resolved"}')
    assert rig.row(delivery_id).attempts == 1


async def test_a_receiver_down_for_hours_gets_it_when_back(rig: Rig) -> None:
    receiver = await Receiver().start()
    await receiver.stop()  # nothing listens on its port: every attempt is refused
    rig.subscribe(receiver.url)
    started = await rig.now()
    (delivery_id,) = await rig.deliver(EVENT)
    row = await rig.attempted(delivery_id)
    while await rig.now() - started < timedelta(hours=5):
        row = await rig.next_attempt(delivery_id)
    assert 12 <= row.attempts <= 14 and row.delivered_at is None and row.failed_at is None, row
    assert row.last_status is None and row.last_error and row.last_error.startswith("could not connect"), row
    assert row.next_try_at is not None and row.next_try_at - await rig.now() <= timedelta(hours=1)
    await receiver.start()
    try:
        delivered = await rig.next_attempt(delivery_id)
        assert await rig.result(delivery_id) == "delivered"
    finally:
        await receiver.stop()
    assert timedelta(hours=5) <= await rig.now() - started < timedelta(hours=7)
    assert delivered.attempts == row.attempts + 1 and delivered.last_status == 200
    assert [r.json()["id"] for r in receiver.requests] == [EVENT.id]


async def test_past_24_hours_the_delivery_is_marked_failed(rig: Rig) -> None:
    async with Receiver(then=500) as receiver:
        rig.subscribe(receiver.url)
        started = await rig.now()
        (delivery_id,) = await rig.deliver(EVENT)
        assert await rig.retried_until_closed(delivery_id) == "failed"
    assert timedelta(hours=23) <= await rig.now() - started <= timedelta(hours=25)
    row = rig.row(delivery_id)
    assert row.failed_at is not None and row.delivered_at is None and row.next_try_at is None
    assert row.last_status == 500 and row.last_error is not None
    assert "24 hours" in row.last_error and "answered 500" in row.last_error, row.last_error
    # 10 s, 20 s, … 2,560 s, then hourly: about thirty tries in the day, every one of them logged. On a
    # loaded machine an attempt can time out before its POST leaves (it is logged all the same), so the
    # log may hold an attempt or two more than the receiver saw, never fewer.
    assert 25 <= len(receiver.requests) <= row.attempts <= len(receiver.requests) + 2
    assert row.attempts <= 35
    assert {r.body for r in receiver.requests} == {EVENT.body().encode()}


async def test_a_429_retry_after_sets_the_next_try(rig: Rig) -> None:
    async with Receiver([Answer(429, {"Retry-After": "600"})], then=204) as receiver:
        rig.subscribe(receiver.url)
        started = await rig.now()
        (delivery_id,) = await rig.deliver(EVENT)
        row = await rig.attempted(delivery_id)
        assert row.last_status == 429
        assert row.last_error == "the receiver answered 429 Too Many Requests (Retry-After: 600 s)"
        assert row.next_try_at is not None
        assert timedelta(seconds=600) <= row.next_try_at - started < timedelta(seconds=605)
        await rig.env.sleep(timedelta(seconds=590))  # the back-off alone would have tried again at 10 s
        assert len(receiver.requests) == 1 and rig.row(delivery_id).attempts == 1
        assert (await rig.next_attempt(delivery_id)).attempts == 2
        assert await rig.result(delivery_id) == "delivered"
    assert timedelta(seconds=600) <= await rig.now() - started < timedelta(seconds=610)
    assert rig.row(delivery_id).last_status == 204 and len(receiver.answered(204)) == 1


async def test_a_retry_after_in_a_retry_sets_the_next_try(rig: Rig) -> None:
    async with Receiver([500, Answer(503, {"Retry-After": "900"})], then=200) as receiver:
        rig.subscribe(receiver.url)
        (delivery_id,) = await rig.deliver(EVENT)
        await rig.attempted(delivery_id)
        row = await rig.next_attempt(delivery_id)  # the workflow's first try: 503, come back in 15 minutes
        assert row.last_error == "the receiver answered 503 Service Unavailable (Retry-After: 900 s)"
        assert row.next_try_at is not None
        assert timedelta(seconds=890) <= row.next_try_at - await rig.now() <= timedelta(seconds=901), row.next_try_at
        assert (await rig.next_attempt(delivery_id)).attempts == 3
        assert await rig.result(delivery_id) == "delivered"
    assert len(receiver.requests) == 3


async def test_a_receiver_that_hangs_is_given_up_on_and_tried_again(rig: Rig) -> None:
    async with Receiver([HANG], then=200) as receiver:
        rig.subscribe(receiver.url)
        (delivery_id,) = await rig.deliver(EVENT)
        row = await rig.attempted(delivery_id)
        assert (row.last_status, row.last_error) == (None, f"no answer within {HTTP_TIMEOUT_S:g} s (time-out)")
        assert await rig.retried_until_closed(delivery_id) == "delivered"
    assert rig.row(delivery_id).attempts == 2 and len(receiver.requests) == 2


async def test_a_closed_connection_is_tried_again(rig: Rig) -> None:
    async with Receiver([CLOSE], then=200) as receiver:
        rig.subscribe(receiver.url)
        (delivery_id,) = await rig.deliver(EVENT)
        row = await rig.attempted(delivery_id)
        assert (row.last_status, row.last_error) == (None, "the receiver closed the connection without answering")
        assert await rig.retried_until_closed(delivery_id) == "delivered"
    assert rig.row(delivery_id).attempts == 2


async def test_a_removed_subscription_is_not_tried(rig: Rig) -> None:
    async with Receiver() as receiver:
        hook = rig.subscribe(receiver.url)
        (delivery_id,) = rig.enqueue(EVENT)
        rig.remove(hook.id)
        await asyncio.to_thread(rig.starter.start, [delivery_id])
        await rig.starter.settled()
    row = rig.row(delivery_id)
    assert row.failed_at is not None and row.last_error == "the subscription was removed", row
    assert receiver.requests == [] and await rig.workflow(delivery_id) is None


async def test_each_subscription_gets_its_own_delivery_and_a_dead_one_holds_up_nobody(rig: Rig) -> None:
    async with Receiver(then=500) as dead, Receiver() as alive, Receiver() as other:
        dead_hook, alive_hook = rig.subscribe(dead.url), rig.subscribe(alive.url, ["dispute.resolved"])
        rig.subscribe(other.url, ["dispute.filed", "overlap.detected"])  # does not want this event
        ids = await rig.deliver(EVENT)
        assert len(ids) == 2 and len(set(ids)) == 2
        by_hook = {rig.row(i).webhook_id: i for i in ids}
        assert set(by_hook) == {dead_hook.id, alive_hook.id}
        assert await rig.result(by_hook[alive_hook.id]) == "delivered"  # no time passed: delivered at once
        assert rig.row(by_hook[alive_hook.id]).attempts == 1
        assert (await rig.attempted(by_hook[dead_hook.id])).delivered_at is None
        assert verifies(alive_hook.secret, alive.requests[0].headers, alive.requests[0].body)
        assert not verifies(dead_hook.secret, alive.requests[0].headers, alive.requests[0].body)
        assert other.requests == []
        assert rig.enqueue(EVENT) == [by_hook[dead_hook.id]]  # queued again: nothing new, one still due


SLOW_S = 5.0  # the slow receiver's time-out: the quick one's deliveries land well within it, even on a busy machine


async def test_a_slow_receiver_holds_up_only_its_own_first_tries(rig: Rig) -> None:
    """One first try per subscription at a time here; once one has failed, those behind it go to Temporal."""
    hooks = WebhookActivities(rig.engine, timeout_s=SLOW_S, allow_private=True,  # the first tries' time-out
                              clock=rig.env.get_current_time)
    starter = DeliveryStarter(rig.env.client, rig.task_queue, asyncio.get_running_loop(), hooks, sweep=None,
                              per_receiver=1)
    events = [WebhookEvent(id=f"evt_PRL-SLOW0001_{n}", type="dispute.filed", created_at=EVENT.created_at,
                           data={"n": n}) for n in range(1, 4)]
    async with Receiver(then=HANG) as slow, Receiver() as quick:
        slow_hook, quick_hook = rig.subscribe(slow.url), rig.subscribe(quick.url)
        began = asyncio.get_running_loop().time()
        ids: list[str] = []
        for event in events:  # as `record_event` hands them over, one event after the other
            ids += rig.enqueue(event)
            await asyncio.to_thread(starter.start, ids[-2:])
        rig.started += ids
        quick_ids = [i for i in ids if rig.row(i).webhook_id == quick_hook.id]
        await eventually(lambda: all(rig.row(i).delivered_at for i in quick_ids), timeout=SLOW_S,
                         what="the quick receiver's deliveries")
        assert asyncio.get_running_loop().time() - began < SLOW_S  # before the slow one's first time-out
        assert {r.json()["id"] for r in quick.requests} == {e.id for e in events}
        await starter.settled()
        slow_ids = [i for i in ids if rig.row(i).webhook_id == slow_hook.id]
        described = [await rig.workflow(i) for i in slow_ids]
        types = sorted(d.workflow_type for d in described if d is not None)
        # one first try (timed out: its retry workflow), the two behind it left to their delivery workflows
        assert types == [WebhookDeliveryWorkflow.__name__] * 2 + [WebhookRetryWorkflow.__name__], types
        assert rig.row(slow_ids[0]).last_error == f"no answer within {SLOW_S:g} s (time-out)"
    assert [await rig.workflow(i) for i in quick_ids] == [None] * 3


async def test_the_delivery_workflow_still_makes_a_delivery_from_its_first_try(rig: Rig) -> None:
    """WebhookDeliveryWorkflow: a redelivery, or a first try the sweep found never made."""
    async with Receiver([500], then=200) as receiver:
        rig.subscribe(receiver.url)
        (delivery_id,) = rig.enqueue(EVENT)
        rig.started.append(delivery_id)
        assert await start_delivery(rig.env.client, rig.task_queue, delivery_id)
        assert not await start_delivery(rig.env.client, rig.task_queue, delivery_id)  # never twice
        row = await rig.attempted(delivery_id)
        assert (row.attempts, row.last_status) == (1, 500)
        assert (await rig.next_attempt(delivery_id)).last_status == 200
        assert await rig.result(delivery_id) == "delivered"
    assert len(receiver.requests) == 2 and rig.row(delivery_id).attempts == 2


async def test_a_first_try_that_waited_too_long_for_its_turn_is_left_to_temporal(rig: Rig) -> None:
    starter = DeliveryStarter(rig.env.client, rig.task_queue, asyncio.get_running_loop(), rig.hooks, sweep=None,
                              direct_within_s=0.0)
    async with Receiver() as receiver:
        rig.subscribe(receiver.url)
        (delivery_id,) = rig.enqueue(EVENT)
        rig.started.append(delivery_id)
        await asyncio.to_thread(starter.start, [delivery_id])
        await starter.settled()
        described = await rig.workflow(delivery_id)
        assert described is not None and described.workflow_type == WebhookDeliveryWorkflow.__name__
        assert await rig.result(delivery_id) == "delivered"
    assert len(receiver.requests) == 1 and rig.row(delivery_id).attempts == 1
