"""A worker killed mid-delivery (DESIGN §7: at least once, a stable id, nothing lost), on SQLite and PostgreSQL.

The real worker (`python -m cli worker`) runs as a process of its own against the session's Temporal dev
server. A real local receiver holds the first request open; the test SIGKILLs the worker while it waits
for the answer, starts another, and checks that the delivery is made after the restart. Two cases:

- mid-attempt of a `WebhookDeliveryWorkflow`: the attempt cut short heartbeats no more, so Temporal tries
  again after the heartbeat time-out and the first back-off (about 15 s), on the new worker;
- mid-first-try, which the worker that recorded a filed dispute's event makes with no workflow behind it:
  the sweep (here every second, taking over a try 3 s overdue) finds the delivery never tried to the end
  and starts its `WebhookDeliveryWorkflow` on the new worker.

Every attempt carries the same event id and body, the deliveries log counts both (the one cut short once
the next begins), and the event was queued once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from temporalio.client import WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.webhooks import start_delivery, start_sweeper, sweeper_id
from domain.webhook_events import WebhookEvent, event_id
from domain.webhook_retries import SweepPlan
from store import webhooks
from store.db import make_engine, session
from store.webhook_tables import WebhookDeliveryRow
from tests.api.conftest import filing
from tests.harness.paths import FAST_CHARTER
from tests.harness.people import seed_people
from tests.harness.stack import make_settings, serve
from tests.harness.temporal import target_of, terminate
from tests.harness.waiting import eventually
from tests.harness.worker_process import WorkerProcess
from tests.harness.worker_process import worker_env as any_worker_env
from tests.pg import migrated_database
from tests.webhooks.receiver import HANG, Receiver, verifies

EVENT = WebhookEvent(id="evt_PRL-KILL0001_9", type="dispute.resolved",
                     created_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
                     data={"dispute": {"id": "PRL-KILL0001"}, "outcome": {"owner": "partner"}})
RETRY_WITHIN_S = 30.0  # heartbeat time-out (5 s) + first back-off (10 s) + a new worker's start, with room


@pytest.fixture(params=["sqlite", "postgresql"])
def kill_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database(request, tmp_path_factory, "webhook_kill") as url:
        yield url


@pytest.fixture
def store(kill_db_url: str) -> Iterator[Engine]:
    engine = make_engine(kill_db_url)
    yield engine
    engine.dispose()


def worker_env(db_url: str, temporal: str, task_queue: str, data_dir: Path) -> dict[str, str]:
    return any_worker_env(db_url, temporal, task_queue, data_dir, FAST_CHARTER, PARLEY_WEBHOOK_ALLOW_PRIVATE="true")


def row_of(engine: Engine, delivery_id: str) -> WebhookDeliveryRow:
    with session(engine) as s:
        row = webhooks.delivery(s, delivery_id)
    assert row is not None
    return row


async def test_a_worker_killed_mid_delivery_delivers_after_the_restart(
        temporal_env: WorkflowEnvironment, kill_db_url: str, store: Engine, tmp_path: Path) -> None:
    task_queue = f"webhook-kill-{uuid.uuid4().hex[:12]}"
    env = worker_env(kill_db_url, target_of(temporal_env), task_queue, tmp_path)
    workers = [WorkerProcess(env, tmp_path / "worker-1.log")]
    async with Receiver([HANG], then=200) as receiver:
        with session(store) as s:
            hook = webhooks.create(s, url=receiver.url, events=["*"], description=None, created_by="root@corp.example")
        with session(store, write=True) as s:
            (delivery_id,) = webhooks.enqueue_event(s, EVENT)
        try:
            assert await start_delivery(temporal_env.client, task_queue, delivery_id)  # as `record_event` does
            await eventually(lambda: workers[0].running() and receiver.requests, timeout=30,
                             what="the first attempt to reach the receiver")
            workers[0].kill()  # while the receiver holds the request open
            cut_short = row_of(store, delivery_id)
            assert (cut_short.attempts, cut_short.delivered_at, cut_short.last_error) == (0, None, webhooks.UNDER_WAY)

            workers.append(WorkerProcess(env, tmp_path / "worker-2.log"))

            def made() -> WebhookDeliveryRow | None:
                row = row_of(store, delivery_id)
                return row if workers[1].running() and row.delivered_at else None

            delivered = await eventually(made, timeout=RETRY_WITHIN_S,
                                         what=lambda: f"the delivery after the restart; worker 2:\n{workers[1].tail()}")
            handle = temporal_env.client.get_workflow_handle(delivery_id)
            await eventually(lambda: _no_pending_attempt(handle), timeout=10, what="Temporal to have the outcome")
        finally:
            for worker in workers:
                worker.stop()
            await terminate(temporal_env.client, [delivery_id])

    assert len(receiver.requests) == 2 and len(receiver.answered(200)) == 1  # the one cut short, and the one after
    assert [r.headers["parley-event-id"] for r in receiver.requests] == [EVENT.id, EVENT.id]
    assert {r.body for r in receiver.requests} == {EVENT.body().encode()}
    assert all(verifies(hook.secret, r.headers, r.body) for r in receiver.requests)
    assert (delivered.attempts, delivered.last_status, delivered.last_error) == (2, 200, None)
    assert delivered.failed_at is None and delivered.next_try_at is None
    with session(store) as s:
        assert [d.id for d in webhooks.deliveries(s, hook.id)] == [delivery_id]  # queued once, nothing lost


async def _no_pending_attempt(handle: WorkflowHandle[Any, Any]) -> bool:
    """Whether the delivery's workflow has the attempt's outcome (its next task may wait on the dead
    worker's sticky queue for a while: that is Temporal's bookkeeping, not the delivery)."""
    return not (await handle.describe()).raw_description.pending_activities


async def test_a_worker_killed_mid_first_try_delivers_through_the_sweep(
        temporal_env: WorkflowEnvironment, kill_db_url: str, store: Engine, tmp_path: Path) -> None:
    task_queue = f"webhook-kill-{uuid.uuid4().hex[:12]}"
    env = worker_env(kill_db_url, target_of(temporal_env), task_queue, tmp_path)
    settings = make_settings(kill_db_url, tmp_path, target_of(temporal_env), task_queue, webhook_allow_private=True)
    tokens, _ = seed_people(store)
    # the sweep the workers would start, sooner: every second, taking over a try 3 s overdue
    await start_sweeper(temporal_env.client, task_queue, SweepPlan(every_s=1.0, grace_s=3.0))
    workers = [WorkerProcess(env, tmp_path / "worker-1.log")]
    dispute_id = ""
    async with Receiver([HANG], then=200) as receiver, serve(settings) as http:
        with session(store) as s:
            hook = webhooks.create(s, url=receiver.url, events=["dispute.filed"], description=None,
                                   created_by="root@corp.example")
        try:
            dana = {"Authorization": f"Bearer {tokens['dana']}"}
            filed = await http.post("/api/disputes", json=filing(), headers=dana)
            assert filed.status_code == 201, filed.text  # answered while the receiver still holds the first try
            dispute_id = filed.json()["id"]
            await eventually(lambda: workers[0].running() and receiver.requests, timeout=30,
                             what="the first try to reach the receiver")
            workers[0].kill()  # while the receiver holds the request open
            with session(store) as s:
                (cut_short,) = webhooks.deliveries(s, hook.id)
            assert (cut_short.attempts, cut_short.delivered_at, cut_short.last_error) == (0, None, webhooks.UNDER_WAY)
            handle = temporal_env.client.get_workflow_handle(cut_short.id)
            with pytest.raises(RPCError, match="(?i)not found"):
                await handle.describe()  # a first try has no workflow behind it

            workers.append(WorkerProcess(env, tmp_path / "worker-2.log"))

            def made() -> WebhookDeliveryRow | None:
                row = row_of(store, cut_short.id)
                return row if workers[1].running() and row.delivered_at else None

            delivered = await eventually(made, timeout=RETRY_WITHIN_S,
                                         what=lambda: f"the delivery after the restart; worker 2:\n{workers[1].tail()}")
            assert (await handle.describe()).workflow_type == "WebhookDeliveryWorkflow"  # the sweep started it
            await eventually(lambda: _no_pending_attempt(handle), timeout=10, what="Temporal to have the outcome")
        finally:
            for worker in workers:
                worker.stop()
            await terminate(temporal_env.client, [i for i in (dispute_id, sweeper_id(task_queue)) if i]
                            + [d.id for d in _deliveries(store, hook.id)])

    expected = event_id(dispute_id, 1)
    assert len(receiver.requests) == 2 and len(receiver.answered(200)) == 1  # the one cut short, and the one after
    assert [r.headers["parley-event-id"] for r in receiver.requests] == [expected, expected]
    assert len({r.body for r in receiver.requests}) == 1
    assert all(verifies(hook.secret, r.headers, r.body) for r in receiver.requests)
    assert (delivered.attempts, delivered.last_status, delivered.last_error) == (2, 200, None)
    assert delivered.failed_at is None and delivered.next_try_at is None
    assert [d.id for d in _deliveries(store, hook.id)] == [delivered.id]  # queued once, nothing lost


def _deliveries(engine: Engine, webhook_id: str) -> list[WebhookDeliveryRow]:
    with session(engine) as s:
        return webhooks.deliveries(s, webhook_id)
