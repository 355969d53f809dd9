"""The Temporal worker: DisputeWorkflow, RegistrationWorkflow, the webhook deliveries, the digest, and their
store and notification activities; it keeps the digest's Schedule on the charter in force (service.digest_schedule).

PARLEY_WORKER_ROLE splits it in two: "workflows" runs the workflows and records their events, leaving every
event's deliveries to the relay of a "deliveries" worker (activities.relay; at the CPU priority
PARLEY_WORKER_NICE sets), whose retries run on the task queue `<task_queue>-deliveries`. "all", the default,
does both in one process."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.worker import (
    PollerBehavior,
    PollerBehaviorAutoscaling,
    PollerBehaviorSimpleMaximum,
    UnsandboxedWorkflowRunner,
    Worker,
    WorkflowRunner,
)
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.digest import DigestActivities
from activities.email import MailDelivery, Mailer
from activities.notify import NotifyActivities
from activities.record import StoreActivities
from activities.registrations import RegistrationActivities
from activities.relay import EVERY_S as RELAY_EVERY_S
from activities.relay import OutboxRelay
from activities.slack import ChannelPacer, make_slack_client
from activities.webhooks import DeliveryStarter, WebhookActivities
from ops import priority
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
from workflows.notice_retries import NoticeDeliveryWorkflow
from workflows.registration import RegistrationWorkflow
from workflows.webhook_retries import WebhookRetryWorkflow, WebhookSweepWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow

# The pure core and its heavy dependencies are shared with the sandbox instead of re-imported per run.
PASSTHROUGH = ("domain", "pydantic", "pydantic_core", "annotated_types", "zoneinfo")
DELIVERIES_SQLITE_BUSY_S = 60.0
LEFTOVERS_EVERY_S = 5.0  # how often an "all" worker's relay looks for rows another layout left to a relay
ACTIVITY_THREADS = 32  # the sync activities' thread pool, unless PARLEY_WORKER_MAX_CONCURRENT_ACTIVITIES says otherwise


@dataclass
class Media:
    """What a worker process reaches people and systems with, and the activities built on it: one per process,
    so that both of its workers (role "all") share the Slack client and its per-channel pacing."""

    hooks: WebhookActivities
    notify: NotifyActivities
    slack: WebClient | None
    mailer: Mailer | None
    delivering: bool  # Slack or e-mail is on; without either, notices go straight to the outbox

    @classmethod
    def build(cls, settings: Settings, engine: Engine) -> Media:
        slack = (make_slack_client(settings.slack_bot_token, settings.slack_api_url)
                 if settings.slack_bot_token else None)
        hooks = WebhookActivities(engine, allow_private=settings.webhook_allow_private)
        smtp = settings.smtp
        mailer = Mailer(smtp, settings.mail_from or "") if smtp else None
        mail = MailDelivery(engine, mailer, public_url=settings.base_url) if mailer else None
        notify = NotifyActivities(engine, slack, channel_override=settings.slack_channel, public_url=settings.base_url,
                                  mail=mail, pacer=ChannelPacer(interval=settings.slack_channel_interval_s))
        return cls(hooks, notify, slack, mailer, delivering=slack is not None or mail is not None)

    def close(self) -> None:
        if self.mailer is not None:
            self.mailer.close()

    def starter(self, client: Client, task_queue: str) -> DeliveryStarter:
        """First tries on this worker's loop; their retries, and the sweep, on `task_queue`."""
        return DeliveryStarter(client, task_queue, asyncio.get_running_loop(), self.hooks)

    def webhook_activities(self, starter: DeliveryStarter) -> list[Callable[..., Any]]:
        return [self.hooks.deliver_webhook, self.hooks.retry_webhook, self.hooks.give_up_webhook,
                starter.sweep_webhooks]


DELIVERY_WORKFLOWS = [WebhookDeliveryWorkflow, WebhookRetryWorkflow, WebhookSweepWorkflow, NoticeDeliveryWorkflow]


def build_worker(client: Client, settings: Settings, engine: Engine,
                 executor: concurrent.futures.ThreadPoolExecutor, media: Media | None = None) -> Worker:
    """The worker of the task queue: the workflows, their record activities and (role "all") the deliveries.
    With role "workflows" the record activities leave the deliveries to the relay of a deliveries worker; the
    delivery activities stay registered here for those already scheduled on this queue."""
    media = media or Media.build(settings, engine)
    starter = media.starter(client, settings.task_queue)
    relayed = settings.worker_role == "workflows"
    store = StoreActivities(engine, slack_enabled=media.delivering, starter=starter, relayed=relayed)
    registrations = RegistrationActivities(engine, slack_enabled=media.delivering, starter=starter, relayed=relayed)
    digest = DigestActivities(engine, load_charter_file(settings.charter)[0], slack=media.slack, mailer=media.mailer,
                              public_url=settings.base_url)
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[DisputeWorkflow, RegistrationWorkflow, *DELIVERY_WORKFLOWS, DigestWorkflow],
        activities=[store.record_event, registrations.record_registration_event, media.notify.deliver_notices,
                    *media.webhook_activities(starter), digest.plan_digests, digest.deliver_digest],
        activity_executor=executor,
        max_cached_workflows=settings.worker_max_cached_workflows,
        max_concurrent_workflow_tasks=settings.worker_max_concurrent_workflow_tasks,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        workflow_runner=workflow_runner(sandboxed=settings.worker_sandbox),
        **pollers(settings),
    )


def pollers(settings: Settings) -> dict[str, Any]:
    """How many task polls a worker keeps open (PARLEY_WORKER_TASK_POLLERS): a number keeps that many open at
    most (5, the SDK's default); "auto" scales them with the backlog the server reports (from 1 to 100), so a
    burst of filings is taken as it comes instead of queueing behind five polls, but a storm of timers makes
    the polls pile up (README "Worker tuning")."""
    behaviour: PollerBehavior = (PollerBehaviorAutoscaling() if settings.worker_task_pollers == "auto"
                                 else PollerBehaviorSimpleMaximum(int(settings.worker_task_pollers)))
    return {"workflow_task_poller_behavior": behaviour, "activity_task_poller_behavior": behaviour}


def build_delivery_worker(client: Client, settings: Settings, engine: Engine,
                          executor: concurrent.futures.ThreadPoolExecutor,
                          media: Media | None = None) -> tuple[Worker, OutboxRelay]:
    """The relay of what workflows workers leave to deliveries workers (activities.relay), and the worker of
    the deliveries' own task queue (`<task_queue>-deliveries`) that retries what the relay could not deliver."""
    queue = settings.delivery_task_queue
    media = media or Media.build(settings, engine)
    starter = media.starter(client, queue)
    # An "all" worker's relay only picks up what another layout left: it need not look as often
    every_s = RELAY_EVERY_S if settings.worker_role == "deliveries" else LEFTOVERS_EVERY_S
    relay = OutboxRelay(engine, media.notify, starter, client, queue, executor, every_s=every_s,
                        lease_s=settings.worker_relay_lease_s)
    worker = Worker(
        client,
        task_queue=queue,
        workflows=DELIVERY_WORKFLOWS,
        activities=[media.notify.deliver_notices, *media.webhook_activities(starter)],
        activity_executor=executor,
        max_concurrent_activities=settings.worker_max_concurrent_activities,
        workflow_runner=workflow_runner(sandboxed=settings.worker_sandbox),
        **pollers(settings),
    )
    return worker, relay


_niced = False


def lower_priority(settings: Settings) -> None:
    """Deliveries that yield their cores to the workflows (worker_role), once per process. On Linux niceness
    belongs to each thread and a new thread takes its maker's: call it before the Temporal runtime makes its
    threads (`parley worker` does, before it sets up logging)."""
    global _niced
    if settings.worker_nice and not _niced:
        priority.lower(settings.worker_nice)
    _niced = True


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
    lower_priority(settings)
    runs_workflows = settings.worker_role != "deliveries"
    # A deliveries worker at a low CPU priority loses the race for SQLite's write lock to the others again and
    # again; it waits longer, rather than fail after sending an e-mail it could not yet mark sent.
    engine = make_engine(settings.db_url, sqlite_busy_s=DELIVERIES_SQLITE_BUSY_S if not runs_workflows else 5.0,
                         name="parley-worker" if runs_workflows else "parley-deliveries",
                         pool_size=settings.db_pool_size)
    configure_tracing("parley-worker")
    client = await connect(settings, runtime=worker_runtime(settings))
    await ensure_registered(client, settings.temporal_namespace)  # the dispute workflows' search attributes
    # The digest's Schedule follows the charter in force: created or updated now, then on every adoption.
    schedule = asyncio.create_task(follow_charter(client, engine, load_charter_file(settings.charter)[0],
                                                  settings.task_queue)) if runs_workflows else None
    # Audit checkpoints, signed every PARLEY_AUDIT_CHECKPOINT_EVERY_S when events came (store.audit.checkpoints).
    signer = asyncio.create_task(keep_signing(engine, key, settings.audit_checkpoint_every_s)) \
        if runs_workflows and (key := settings.audit_key) is not None else None
    try:
        threads = settings.worker_max_concurrent_activities or ACTIVITY_THREADS
        with concurrent.futures.ThreadPoolExecutor(max_workers=threads) as executor:
            media = Media.build(settings, engine)
            workers = [build_worker(client, settings, engine, executor, media)] if runs_workflows else []
            relay = None
            if settings.worker_role != "workflows":  # "all" too: nothing left to a relay is ever stranded
                delivery_worker, relay = build_delivery_worker(client, settings, engine, executor, media)
                workers.append(delivery_worker)
            async with contextlib.AsyncExitStack() as running:
                running.callback(media.close)  # last, once the workers have stopped
                for worker in workers:
                    await running.enter_async_context(worker)
                relaying = asyncio.create_task(relay.run()) if relay is not None else None
                try:
                    await (stop.wait() if stop is not None else asyncio.Event().wait())
                finally:
                    if relaying is not None:
                        relaying.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await relaying
    finally:
        for task in (schedule, signer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        flush_traces()


if __name__ == "__main__":
    asyncio.run(run_worker())
