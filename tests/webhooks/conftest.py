"""Fixtures of the webhook tests: real receivers, real Temporal, real stores.

- `rig`: the delivery workflow and its real activities on the time-skipping test server (24 hours pass in
  seconds), over a migrated store on SQLite and on PostgreSQL; the activities' HTTP time-out is half a
  second, so that a receiver that hangs costs the test little.
- `api` (here as in tests/api): the whole stack on the Temporal dev server with
  PARLEY_WEBHOOK_ALLOW_PRIVATE set, so that subscriptions may point at the local receivers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.names import DELIVER_WEBHOOK
from activities.webhooks import DeliveryStarter, WebhookActivities
from domain.webhook_events import WebhookEvent
from store import webhooks
from store.db import session
from store.webhook_tables import WebhookDeliveryRow, WebhookRow
from tests.api.conftest import Api
from tests.harness.stack import Stack, make_settings, running_stack
from tests.harness.temporal import target_of, terminate, time_skipping_server
from tests.harness.waiting import eventually
from tests.pg import migrated_database
from tests.workflows.harness import RUNNER
from workflows.webhooks import WebhookDeliveryWorkflow

HTTP_TIMEOUT_S = 0.5


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping test server for the webhook tests (the installed binary, never a download)."""
    async with time_skipping_server() as environment:
        yield environment


@dataclass
class Rig:
    """The delivery workflow on the time-skipping server, a store, and what a test started."""

    env: WorkflowEnvironment
    engine: Engine
    task_queue: str
    started: list[str] = field(default_factory=list)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    def subscribe(self, url: str, events: Sequence[str] = ("*",)) -> WebhookRow:
        with session(self.engine) as s:
            return webhooks.create(s, url=url, events=list(events), description=None, created_by="root@corp.example")

    def enqueue(self, event: WebhookEvent) -> list[str]:
        with session(self.engine, write=True) as s:
            return webhooks.enqueue_event(s, event)

    async def deliver(self, event: WebhookEvent) -> list[WorkflowHandle[Any, str]]:
        """Queue the event and start its deliveries the way `record_event` does: from a thread, on this loop."""
        ids = self.enqueue(event)
        starter = DeliveryStarter(self.env.client, self.task_queue, asyncio.get_running_loop())
        await asyncio.to_thread(starter.start, ids)
        self.started += ids
        return [self.env.client.get_workflow_handle(i, result_type=str) for i in ids]

    def row(self, delivery_id: str) -> WebhookDeliveryRow:
        with session(self.engine) as s:
            row = webhooks.delivery(s, delivery_id)
        assert row is not None
        return row

    # The V1 test server does not skip an activity's retry back-off by itself: the tests move its clock.

    async def attempted(self, delivery_id: str, attempts: int = 1) -> WebhookDeliveryRow:
        """The row once `attempts` attempts are logged and Temporal has the last one's outcome."""
        handle = self.env.client.get_workflow_handle(delivery_id)

        async def probe() -> WebhookDeliveryRow | None:
            row = self.row(delivery_id)
            if row.attempts < attempts:
                return None
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                return row
            tries = [p for p in description.raw_description.pending_activities
                     if p.activity_type.name == DELIVER_WEBHOOK]
            return row if tries and tries[0].attempt > row.attempts else None  # waiting to retry

        return await eventually(probe, timeout=10, what=f"attempt {attempts} of {delivery_id}")

    async def next_attempt(self, delivery_id: str) -> WebhookDeliveryRow:
        """Moves the server's clock just past the logged next try; the row once that attempt is logged."""
        before = await self.attempted(delivery_id, self.row(delivery_id).attempts)
        if before.next_try_at is None:  # no more tries: the 24 hours end first
            handle = self.env.client.get_workflow_handle(delivery_id)
            for pending in (await handle.describe()).raw_description.pending_activities:
                ends = pending.expiration_time.ToDatetime(UTC)  # should Temporal wait for their end
                await self.env.sleep(max(ends - await self.now(), timedelta(0)) + timedelta(seconds=1))
            return before
        await self.env.sleep(max(before.next_try_at - await self.now(), timedelta(0)) + timedelta(seconds=1))
        return await self.attempted(delivery_id, before.attempts + 1)

    async def result(self, handle: WorkflowHandle[Any, str]) -> str:
        """The workflow's result, once it closes by itself (no time skipped while waiting)."""
        with self.env.auto_time_skipping_disabled():
            return await asyncio.wait_for(handle.result(), 10)

    async def retried_until_closed(self, handle: WorkflowHandle[Any, str]) -> str:
        """Every try on its schedule until the workflow closes; its result."""
        await self.attempted(handle.id)
        while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
            await self.next_attempt(handle.id)
        return await self.result(handle)


@pytest_asyncio.fixture(loop_scope="session")
async def rig(skipping: WorkflowEnvironment, engine: Engine) -> AsyncIterator[Rig]:
    each = Rig(env=skipping, engine=engine, task_queue=f"webhooks-{uuid.uuid4().hex[:12]}")
    hooks = WebhookActivities(engine, timeout_s=HTTP_TIMEOUT_S, allow_private=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(skipping.client, task_queue=each.task_queue, workflows=[WebhookDeliveryWorkflow],
                          activities=[hooks.deliver_webhook, hooks.give_up_webhook], activity_executor=executor,
                          workflow_runner=RUNNER):
            try:
                yield each
            finally:
                await terminate(skipping.client, each.started)


# --- the whole stack ---------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database per test module and backend, as for the API tests."""
    with migrated_database(request, tmp_path_factory, "webhooks") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(stack_db_url: str, tmp_path_factory: pytest.TempPathFactory,
                temporal_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    settings = make_settings(stack_db_url, tmp_path_factory.mktemp("webhooks-data"), target_of(temporal_env),
                             webhook_allow_private=True)
    async with running_stack(temporal_env.client, settings) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def api(stack: Stack) -> AsyncIterator[Api]:
    each = Api(http=stack.http, engine=stack.engine, temporal=stack.temporal, settings=stack.settings,
               tokens=stack.tokens, user_ids=stack.user_ids)
    try:
        yield each
    finally:
        await terminate(stack.temporal, each.filed)
