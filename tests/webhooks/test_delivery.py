"""WebhookDeliveryWorkflow on the time-skipping server, against real local receivers and real stores.

Each attempt is a real POST; Temporal's retry schedule (10 s, doubling, at most an hour apart, 24 hours
in all) passes in seconds. The deliveries log is read from the store as the admin would read it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import WorkflowHandle

from domain.webhook_events import WebhookEvent
from tests.webhooks.conftest import HTTP_TIMEOUT_S, Rig
from tests.webhooks.receiver import CLOSE, HANG, Answer, Receiver, verifies

EVENT = WebhookEvent(id="evt_PRL-TEST0001_7", type="dispute.resolved",
                     created_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
                     data={"dispute": {"id": "PRL-TEST0001"}, "outcome": {"owner": "partner"}})


async def test_a_500_then_a_200_is_delivered_once_after_two_attempts(rig: Rig) -> None:
    async with Receiver([500], then=200) as receiver:
        hook = rig.subscribe(receiver.url)
        started = await rig.now()
        (handle,) = await rig.deliver(EVENT)
        row = await rig.attempted(handle.id)
        assert (row.attempts, row.last_status, row.delivered_at) == (1, 500, None)
        assert row.last_error == "the receiver answered 500 Internal Server Error"
        assert row.next_try_at is not None
        assert timedelta(seconds=10) <= row.next_try_at - started < timedelta(seconds=15)  # the first back-off
        await rig.next_attempt(handle.id)
        assert await rig.result(handle) == "delivered"
    row = rig.row(handle.id)
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
        (handle,) = await rig.deliver(EVENT)
        await rig.attempted(handle.id)
        assert await rig.result(handle) == "delivered"
    body = receiver.requests[0].body.decode()
    assert body == ('{"created_at":"2026-03-02T09:30:00Z","data":{"dispute":{"id":"PRL-TEST0001"},'
                    '"outcome":{"owner":"partner"}},"id":"evt_PRL-TEST0001_7","type":"dispute.resolved"}')
    assert rig.row(handle.id).attempts == 1


async def test_a_receiver_down_for_hours_gets_it_when_back(rig: Rig) -> None:
    receiver = await Receiver().start()
    await receiver.stop()  # nothing listens on its port: every attempt is refused
    rig.subscribe(receiver.url)
    started = await rig.now()
    (handle,) = await rig.deliver(EVENT)
    row = await rig.attempted(handle.id)
    while await rig.now() - started < timedelta(hours=5):
        row = await rig.next_attempt(handle.id)
    assert 12 <= row.attempts <= 14 and row.delivered_at is None and row.failed_at is None, row
    assert row.last_status is None and row.last_error and row.last_error.startswith("could not connect"), row
    assert row.next_try_at is not None and row.next_try_at - await rig.now() <= timedelta(hours=1)
    await receiver.start()
    try:
        delivered = await rig.next_attempt(handle.id)
        assert await rig.result(handle) == "delivered"
    finally:
        await receiver.stop()
    assert timedelta(hours=5) <= await rig.now() - started < timedelta(hours=7)
    assert delivered.attempts == row.attempts + 1 and delivered.last_status == 200
    assert [r.json()["id"] for r in receiver.requests] == [EVENT.id]


async def test_past_24_hours_the_delivery_is_marked_failed(rig: Rig) -> None:
    async with Receiver(then=500) as receiver:
        rig.subscribe(receiver.url)
        started = await rig.now()
        (handle,) = await rig.deliver(EVENT)
        assert await rig.retried_until_closed(handle) == "failed"
    assert timedelta(hours=23) <= await rig.now() - started <= timedelta(hours=25)
    row = rig.row(handle.id)
    assert row.failed_at is not None and row.delivered_at is None and row.next_try_at is None
    assert row.last_status == 500 and row.last_error is not None
    assert "24 hours" in row.last_error and "answered 500" in row.last_error, row.last_error
    # 10 s, 20 s, … 2,560 s, then hourly: about thirty tries in the day, every one of them logged
    assert 25 <= row.attempts == len(receiver.requests) <= 35
    assert {r.body for r in receiver.requests} == {EVENT.body().encode()}


async def test_a_429_retry_after_sets_the_next_try(rig: Rig) -> None:
    async with Receiver([Answer(429, {"Retry-After": "600"})], then=204) as receiver:
        rig.subscribe(receiver.url)
        started = await rig.now()
        (handle,) = await rig.deliver(EVENT)
        row = await rig.attempted(handle.id)
        assert row.last_status == 429
        assert row.last_error == "the receiver answered 429 Too Many Requests (Retry-After: 600 s)"
        assert row.next_try_at is not None
        assert timedelta(seconds=600) <= row.next_try_at - started < timedelta(seconds=605)
        last_started = await last_attempt_started(handle)
        await rig.env.sleep(timedelta(seconds=590))  # the back-off alone would have tried again at 10 s
        assert await last_attempt_started(handle) == last_started and len(receiver.requests) == 1
        assert (await rig.next_attempt(handle.id)).attempts == 2
        assert await rig.result(handle) == "delivered"
    assert timedelta(seconds=600) <= await rig.now() - started < timedelta(seconds=610)
    assert rig.row(handle.id).last_status == 204 and len(receiver.answered(204)) == 1


async def test_a_receiver_that_hangs_is_given_up_on_and_tried_again(rig: Rig) -> None:
    async with Receiver([HANG], then=200) as receiver:
        rig.subscribe(receiver.url)
        (handle,) = await rig.deliver(EVENT)
        row = await rig.attempted(handle.id)
        assert (row.last_status, row.last_error) == (None, f"no answer within {HTTP_TIMEOUT_S:g} s (time-out)")
        assert await rig.retried_until_closed(handle) == "delivered"
    assert rig.row(handle.id).attempts == 2 and len(receiver.requests) == 2


async def test_a_closed_connection_is_tried_again(rig: Rig) -> None:
    async with Receiver([CLOSE], then=200) as receiver:
        rig.subscribe(receiver.url)
        (handle,) = await rig.deliver(EVENT)
        row = await rig.attempted(handle.id)
        assert (row.last_status, row.last_error) == (None, "the receiver closed the connection without answering")
        assert await rig.retried_until_closed(handle) == "delivered"
    assert rig.row(handle.id).attempts == 2


async def test_each_subscription_gets_its_own_delivery_and_a_dead_one_holds_up_nobody(rig: Rig) -> None:
    async with Receiver(then=500) as dead, Receiver() as alive, Receiver() as other:
        dead_hook, alive_hook = rig.subscribe(dead.url), rig.subscribe(alive.url, ["dispute.resolved"])
        rig.subscribe(other.url, ["dispute.filed", "overlap.detected"])  # does not want this event
        handles = await rig.deliver(EVENT)
        assert len(handles) == 2 and len({h.id for h in handles}) == 2
        by_hook = {rig.row(h.id).webhook_id: h for h in handles}
        assert set(by_hook) == {dead_hook.id, alive_hook.id}
        assert await rig.result(by_hook[alive_hook.id]) == "delivered"  # no time passed: delivered at once
        assert rig.row(by_hook[alive_hook.id].id).attempts == 1
        assert (await rig.attempted(by_hook[dead_hook.id].id)).delivered_at is None
        assert verifies(alive_hook.secret, alive.requests[0].headers, alive.requests[0].body)
        assert not verifies(dead_hook.secret, alive.requests[0].headers, alive.requests[0].body)
        assert other.requests == []
        assert rig.enqueue(EVENT) == [by_hook[dead_hook.id].id]  # queued again: nothing new, one still due


async def last_attempt_started(handle: WorkflowHandle[Any, str]) -> datetime:
    (pending,) = (await handle.describe()).raw_description.pending_activities
    return pending.last_started_time.ToDatetime(UTC)
