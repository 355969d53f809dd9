"""Fixtures of the webhook tests: real receivers, real Temporal, real stores.

- `rig`: the deliveries as a worker makes them (the first try straight after the event's commit, the
  retries in `WebhookRetryWorkflow`; `WebhookDeliveryWorkflow` and the sweep) with their real activities
  on the time-skipping test server (24 hours pass in seconds), over a migrated store on SQLite and on
  PostgreSQL; the HTTP time-out is half a second, so that a receiver that hangs costs the test little.
- `api` (here as in tests/api): the whole stack on the Temporal dev server with
  PARLEY_WEBHOOK_ALLOW_PRIVATE set, so that subscriptions may point at the local receivers.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine
from temporalio.client import WorkflowExecutionDescription, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.names import DELIVER_WEBHOOK
from activities.webhooks import DeliveryStarter, WebhookActivities, sweeper_id
from domain.webhook_events import WebhookEvent
from domain.webhook_retries import RETRY_WEBHOOK
from store import webhooks
from store.db import session
from store.webhook_tables import WebhookDeliveryRow, WebhookRow
from tests.api.conftest import Api
from tests.harness.stack import Stack, make_settings, running_stack
from tests.harness.temporal import target_of, terminate, time_skipping_server
from tests.harness.waiting import eventually
from tests.pg import migrated_database
from tests.workflows.harness import RUNNER
from workflows.webhook_retries import WebhookRetryWorkflow, WebhookSweepWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow

HTTP_TIMEOUT_S = 2.0  # a local receiver answers in milliseconds, but a loaded CI machine once took over 0.5 s


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping test server for the webhook tests (the installed binary, never a download)."""
    async with time_skipping_server() as environment:
        yield environment


@dataclass
class Rig:
    """Deliveries on the time-skipping server, a store, and what a test started."""

    env: WorkflowEnvironment
    engine: Engine
    task_queue: str
    hooks: WebhookActivities
    starter: DeliveryStarter
    started: list[str] = field(default_factory=list)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    def subscribe(self, url: str, events: Sequence[str] = ("*",)) -> WebhookRow:
        with session(self.engine) as s:
            return webhooks.create(s, url=url, events=list(events), description=None, created_by="root@corp.example")

    def remove(self, webhook_id: str) -> None:
        with session(self.engine) as s:
            assert webhooks.deactivate(s, webhook_id)

    def enqueue(self, event: WebhookEvent) -> list[str]:
        with session(self.engine, write=True) as s:
            return webhooks.enqueue_event(s, event)

    async def deliver(self, event: WebhookEvent) -> list[str]:
        """Queue the event and hand its deliveries over the way `record_event` does (from a thread, once
        committed); their ids, once their first tries have ended and any retry workflow has started."""
        ids = self.enqueue(event)
        await asyncio.to_thread(self.starter.start, ids)
        self.started += ids
        await self.starter.settled()
        return ids

    def row(self, delivery_id: str) -> WebhookDeliveryRow:
        with session(self.engine) as s:
            row = webhooks.delivery(s, delivery_id)
        assert row is not None
        return row

    def handle(self, delivery_id: str) -> WorkflowHandle[Any, str]:
        return self.env.client.get_workflow_handle(delivery_id, result_type=str)

    async def workflow(self, delivery_id: str) -> WorkflowExecutionDescription | None:
        """The delivery's workflow, if it has one: none when its first try was answered 2xx."""
        try:
            return await self.handle(delivery_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return None
            raise

    # The V1 test server does not skip an activity's retry back-off by itself: the tests move its clock.

    async def attempted(self, delivery_id: str, attempts: int = 1) -> WebhookDeliveryRow:
        """The row once `attempts` attempts are logged and Temporal has the last one's outcome."""

        async def probe() -> WebhookDeliveryRow | None:
            row = self.row(delivery_id)
            if row.attempts < attempts:
                return None
            if row.delivered_at is not None or row.failed_at is not None:
                return row
            description = await self.workflow(delivery_id)
            if description is None:
                return None  # its first try failed: its retry workflow is about to start
            if description.status != WorkflowExecutionStatus.RUNNING:
                return row
            before = 1 if description.workflow_type == WebhookRetryWorkflow.__name__ else 0  # the first try
            tries = [p for p in description.raw_description.pending_activities
                     if p.activity_type.name in (DELIVER_WEBHOOK, RETRY_WEBHOOK)]
            if not tries:
                return row if row.attempts == before else None  # waiting out the first back-off
            return row if tries[0].attempt + before > row.attempts else None  # waiting to retry

        return await eventually(probe, timeout=10, what=f"attempt {attempts} of {delivery_id}")

    async def next_attempt(self, delivery_id: str) -> WebhookDeliveryRow:
        """Moves the server's clock just past the logged next try; the row once that attempt is logged."""
        before = await self.attempted(delivery_id, self.row(delivery_id).attempts)
        if before.next_try_at is None:  # no more tries: the 24 hours end first
            for pending in (await self.handle(delivery_id).describe()).raw_description.pending_activities:
                ends = pending.expiration_time.ToDatetime(UTC)  # should Temporal wait for their end
                await self.env.sleep(max(ends - await self.now(), timedelta(0)) + timedelta(seconds=1))
            return before
        await self.env.sleep(max(before.next_try_at - await self.now(), timedelta(0)) + timedelta(seconds=1))
        return await self.attempted(delivery_id, before.attempts + 1)

    async def result(self, delivery_id: str) -> str:
        """"delivered" or "failed": the workflow's result once it closes by itself (no time skipped while
        waiting), or, for a delivery that needed none, how its first try left it."""
        if await self.workflow(delivery_id) is None:
            return webhooks.status_of(self.row(delivery_id))
        with self.env.auto_time_skipping_disabled():
            return await asyncio.wait_for(self.handle(delivery_id).result(), 10)

    async def retried_until_closed(self, delivery_id: str) -> str:
        """Every try on its schedule until the delivery is made or given up; the result."""
        await self.attempted(delivery_id)
        while webhooks.status_of(self.row(delivery_id)) == "pending":
            await self.next_attempt(delivery_id)
        return await self.result(delivery_id)


@asynccontextmanager
async def rigged(env: WorkflowEnvironment, engine: Engine) -> AsyncIterator[Rig]:
    """A worker with the webhook workflows and their real activities on a task queue of its own, over `engine`."""
    task_queue = f"webhooks-{uuid.uuid4().hex[:12]}"
    hooks = WebhookActivities(engine, timeout_s=HTTP_TIMEOUT_S, allow_private=True, clock=env.get_current_time)
    # no sweep from the starter: on this server a minute's timer would sweep 1,440 times a skipped day
    starter = DeliveryStarter(env.client, task_queue, asyncio.get_running_loop(), hooks, sweep=None)
    each = Rig(env=env, engine=engine, task_queue=task_queue, hooks=hooks, starter=starter)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(env.client, task_queue=each.task_queue,
                          workflows=[WebhookDeliveryWorkflow, WebhookRetryWorkflow, WebhookSweepWorkflow],
                          activities=[hooks.deliver_webhook, hooks.retry_webhook, hooks.give_up_webhook,
                                      starter.sweep_webhooks],
                          activity_executor=executor, workflow_runner=RUNNER):
            try:
                yield each
            finally:
                await starter.settled()
                await terminate(env.client, [*each.started, sweeper_id(task_queue)])


@pytest_asyncio.fixture(loop_scope="session")
async def rig(skipping: WorkflowEnvironment, engine: Engine) -> AsyncIterator[Rig]:
    async with rigged(skipping, engine) as each:
        yield each


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
