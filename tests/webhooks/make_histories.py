"""(Re)generate the webhook workflows' histories that tests/webhooks/test_replay.py replays.

    .venv/bin/python -m tests.webhooks.make_histories                    # every path
    .venv/bin/python -m tests.webhooks.make_histories retry_delivered    # some paths, by name

Runs each path below on a fresh time-skipping test server with the real activities over a throw-away SQLite
store and real local receivers (tests/webhooks/conftest.py `rigged`), checks how it ended, and saves the
history as tests/histories/webhooks/<name>.json. As for the dispute histories (tests/workflows/make_histories.py):
regenerate only for a new path, or after a change behind `workflow.patched`, keeping the previous version's
files (rename them, e.g. `v1-<name>.json`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from activities.webhooks import start_delivery, start_sweeper, sweeper_id
from domain.webhook_events import WebhookEvent
from domain.webhook_retries import SweepPlan
from store import webhooks
from store.db import make_engine, migrate
from tests.harness.temporal import start_time_skipping
from tests.harness.waiting import eventually
from tests.webhooks.conftest import Rig, rigged
from tests.webhooks.receiver import Receiver

HISTORIES = Path(__file__).resolve().parents[1] / "histories" / "webhooks"
EVENT = WebhookEvent(id="evt_PRL-HIST0001_3", type="dispute.resolved",
                     created_at=datetime(2026, 3, 2, 9, 30, tzinfo=UTC),
                     data={"dispute": {"id": "PRL-HIST0001"}, "outcome": {"owner": "partner"}})
PathRun = Callable[[Rig], Awaitable[WorkflowHistory]]


async def retry_delivered(rig: Rig) -> WorkflowHistory:
    """WebhookRetryWorkflow: the first try answered 500, the workflow's first try 500 again, then a 200."""
    async with Receiver([500, 500], then=200) as receiver:
        rig.subscribe(receiver.url)
        (delivery_id,) = await rig.deliver(EVENT)
        assert await rig.retried_until_closed(delivery_id) == "delivered"
    assert rig.row(delivery_id).attempts == 3
    return await rig.handle(delivery_id).fetch_history()


async def retry_given_up(rig: Rig) -> WorkflowHistory:
    """WebhookRetryWorkflow: 500 for 24 hours, then marked failed."""
    async with Receiver(then=500) as receiver:
        rig.subscribe(receiver.url)
        (delivery_id,) = await rig.deliver(EVENT)
        assert await rig.retried_until_closed(delivery_id) == "failed"
    return await rig.handle(delivery_id).fetch_history()


async def retry_after_removal(rig: Rig) -> WorkflowHistory:
    """WebhookRetryWorkflow: the first try answered 429 with Retry-After; the subscription was removed meanwhile."""
    async with Receiver([429]) as receiver:
        hook = rig.subscribe(receiver.url)
        (delivery_id,) = await rig.deliver(EVENT)
        await rig.attempted(delivery_id)
        rig.remove(hook.id)
        await rig.env.sleep(timedelta(seconds=11))
        assert await rig.result(delivery_id) == "failed"
    assert (rig.row(delivery_id).last_error or "").startswith("the subscription was removed")
    return await rig.handle(delivery_id).fetch_history()


async def delivery_retried(rig: Rig) -> WorkflowHistory:
    """WebhookDeliveryWorkflow (a redelivery, or a first try the sweep found never made): a 500, then a 200."""
    async with Receiver([500], then=200) as receiver:
        rig.subscribe(receiver.url)
        (delivery_id,) = rig.enqueue(EVENT)
        rig.started.append(delivery_id)
        assert await start_delivery(rig.env.client, rig.task_queue, delivery_id)
        assert await rig.retried_until_closed(delivery_id) == "delivered"
    return await rig.handle(delivery_id).fetch_history()


async def sweep_run(rig: Rig) -> WorkflowHistory:
    """WebhookSweepWorkflow: an hour of sweeps (the first hands over a delivery never tried), then continued as new."""
    async with Receiver() as receiver:
        rig.subscribe(receiver.url)
        (delivery_id,) = rig.enqueue(EVENT)
        rig.started.append(delivery_id)
        handle = await start_sweeper(rig.env.client, rig.task_queue, SweepPlan(every_s=60, grace_s=0))
        first_run = (await handle.describe()).run_id
        await eventually(lambda: webhooks.status_of(rig.row(delivery_id)) == "delivered", timeout=15,
                         what="the sweep's delivery")
        await rig.env.sleep(timedelta(minutes=61))

        async def continued() -> bool:
            return (await handle.describe()).run_id != first_run

        await eventually(continued, timeout=30, what="the sweep to continue as new")
    history = await rig.env.client.get_workflow_handle(sweeper_id(rig.task_queue), run_id=first_run).fetch_history()
    assert history.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    return history


PATHS: dict[str, PathRun] = {"retry_delivered": retry_delivered, "retry_given_up": retry_given_up,
                             "retry_after_removal": retry_after_removal, "delivery_retried": delivery_retried,
                             "sweep_run": sweep_run}


async def generate(names: list[str]) -> list[str]:
    unknown = sorted(set(names) - set(PATHS))
    if unknown:
        raise SystemExit(f"unknown path(s): {', '.join(unknown)}; known: {', '.join(PATHS)}")
    HISTORIES.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    env: WorkflowEnvironment = await start_time_skipping()
    try:
        for name, run in PATHS.items():
            if names and name not in names:
                continue
            with tempfile.TemporaryDirectory() as where:
                db_url = f"sqlite:///{Path(where) / 'parley.db'}"
                migrate(db_url)
                engine = make_engine(db_url)
                try:
                    async with rigged(env, engine) as rig:
                        history = await run(rig)
                finally:
                    engine.dispose()
            (HISTORIES / f"{name}.json").write_text(history.to_json() + "\n")
            written.append(f"{name}.json ({len(history.events)} events)")
    finally:
        await env.shutdown()
    return written


def main() -> None:
    for line in asyncio.run(generate(sys.argv[1:])):
        print(f"wrote tests/histories/webhooks/{line}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the SDK's Rust threads can abort the interpreter while it finalizes (sdk-python #300)


if __name__ == "__main__":
    main()
