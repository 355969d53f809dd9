"""The Temporal worker: DisputeWorkflow, RegistrationWorkflow, the webhook deliveries, the digest, and their
store and notification activities; it keeps the digest's Schedule on the charter in force (service.digest_schedule)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sys

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker, WorkflowRunner
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.digest import DigestActivities
from activities.email import MailDelivery, Mailer
from activities.notify import NotifyActivities
from activities.record import StoreActivities
from activities.registrations import RegistrationActivities
from activities.slack import ChannelPacer, make_slack_client
from activities.webhooks import DeliveryStarter, WebhookActivities
from ops.temporal_runtime import worker_runtime
from ops.tracing import configure_tracing
from ops.tracing import flush as flush_traces
from service.digest_schedule import follow_charter
from service.search_attributes import ensure_registered
from settings import Settings, get_settings
from store.audit.checkpoints import keep_signing
from store.charters import load_charter_file
from store.db import make_engine
from temporal_client import connect
from workflows.digest import DigestWorkflow
from workflows.dispute import DisputeWorkflow
from workflows.registration import RegistrationWorkflow
from workflows.webhook_retries import WebhookRetryWorkflow, WebhookSweepWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow

# The pure core and its heavy dependencies are shared with the sandbox instead of re-imported per run.
PASSTHROUGH = ("domain", "pydantic", "pydantic_core", "annotated_types", "zoneinfo")
ACTIVITY_THREADS = 32  # the sync activities' thread pool, unless PARLEY_WORKER_MAX_CONCURRENT_ACTIVITIES says otherwise


def build_worker(client: Client, settings: Settings, engine: Engine,
                 executor: concurrent.futures.ThreadPoolExecutor) -> Worker:
    slack = (make_slack_client(settings.slack_bot_token, settings.slack_api_url)
             if settings.slack_bot_token else None)
    hooks = WebhookActivities(engine, allow_private=settings.webhook_allow_private)
    starter = DeliveryStarter(client, settings.task_queue, asyncio.get_running_loop(), hooks)
    smtp = settings.smtp
    mailer = Mailer(smtp, settings.mail_from or "") if smtp else None
    mail = MailDelivery(engine, mailer, public_url=settings.base_url) if mailer else None
    delivering = slack is not None or mail is not None  # without either, notices go straight to the outbox
    store = StoreActivities(engine, slack_enabled=delivering, starter=starter)
    registrations = RegistrationActivities(engine, slack_enabled=delivering, starter=starter)
    notify = NotifyActivities(engine, slack, channel_override=settings.slack_channel, public_url=settings.base_url,
                              mail=mail, pacer=ChannelPacer(interval=settings.slack_channel_interval_s))
    digest = DigestActivities(engine, load_charter_file(settings.charter)[0], slack=slack, mailer=mailer,
                              public_url=settings.base_url)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[DisputeWorkflow, RegistrationWorkflow, WebhookDeliveryWorkflow, WebhookRetryWorkflow,
                   WebhookSweepWorkflow, DigestWorkflow],
        activities=[store.record_event, registrations.record_registration_event, notify.deliver_notices,
                    hooks.deliver_webhook, hooks.retry_webhook, hooks.give_up_webhook, starter.sweep_webhooks,
                    digest.plan_digests, digest.deliver_digest],
        activity_executor=executor,
        max_cached_workflows=settings.worker_max_cached_workflows,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        workflow_runner=workflow_runner(sandboxed=settings.worker_sandbox),
    )


def workflow_runner(*, sandboxed: bool) -> WorkflowRunner:
    """The production runner: plain, or the sandbox (the tests' runner, with the same passthrough modules)."""
    if not sandboxed:
        return UnsandboxedWorkflowRunner()
    return SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH))


async def run_worker(settings: Settings | None = None, stop: asyncio.Event | None = None) -> None:
    # The sandbox re-imports the workflow module for every run; with PYTHONDONTWRITEBYTECODE set
    # that means compiling it again each time. Let this process cache the bytecode.
    sys.dont_write_bytecode = False
    settings = settings or get_settings()
    engine = make_engine(settings.db_url)
    configure_tracing("parley-worker")
    client = await connect(settings, runtime=worker_runtime(settings))
    await ensure_registered(client, settings.temporal_namespace)  # the dispute workflows' search attributes
    # The digest's Schedule follows the charter in force: created or updated now, then on every adoption.
    schedule = asyncio.create_task(follow_charter(client, engine, load_charter_file(settings.charter)[0],
                                                  settings.task_queue))
    # Audit checkpoints, signed every PARLEY_AUDIT_CHECKPOINT_EVERY_S when events came (store.audit.checkpoints).
    signer = asyncio.create_task(keep_signing(engine, key, settings.audit_checkpoint_every_s)) \
        if (key := settings.audit_key) is not None else None
    try:
        threads = settings.worker_max_concurrent_activities or ACTIVITY_THREADS
        with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as executor:
            worker = build_worker(client, settings, engine, executor)
            if stop is None:
                await worker.run()
                return
            async with worker:
                await stop.wait()
    finally:
        for task in (schedule, signer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        flush_traces()


if __name__ == "__main__":
    asyncio.run(run_worker())
