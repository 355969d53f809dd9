"""The Temporal worker: DisputeWorkflow and its store and notification activities."""

from __future__ import annotations

import asyncio
import concurrent.futures
import sys

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.notify import NotifyActivities
from activities.record import StoreActivities
from activities.slack import make_slack_client
from settings import Settings, get_settings
from store.db import make_engine
from temporal_client import connect
from workflows.dispute import DisputeWorkflow

# The pure core and its heavy dependencies are shared with the sandbox instead of re-imported per run.
PASSTHROUGH = ("domain", "pydantic", "pydantic_core", "annotated_types", "zoneinfo")


def build_worker(client: Client, settings: Settings, engine: Engine,
                 executor: concurrent.futures.ThreadPoolExecutor) -> Worker:
    slack = (make_slack_client(settings.slack_bot_token, settings.slack_api_url)
             if settings.slack_bot_token else None)
    store = StoreActivities(engine, slack_enabled=slack is not None)
    notify = NotifyActivities(engine, slack, channel_override=settings.slack_channel, public_url=settings.base_url)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[DisputeWorkflow],
        activities=[store.record_event, notify.deliver_notices],
        activity_executor=executor,
        workflow_runner=SandboxedWorkflowRunner(
            restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
        ),
    )


async def run_worker(settings: Settings | None = None, stop: asyncio.Event | None = None) -> None:
    # The sandbox re-imports the workflow module for every run; with PYTHONDONTWRITEBYTECODE set
    # that means compiling it again each time. Let this process cache the bytecode.
    sys.dont_write_bytecode = False
    settings = settings or get_settings()
    engine = make_engine(settings.db_url)
    client = await connect(settings)
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as executor:
        worker = build_worker(client, settings, engine, executor)
        if stop is None:
            await worker.run()
            return
        async with worker:
            await stop.wait()


if __name__ == "__main__":
    asyncio.run(run_worker())
