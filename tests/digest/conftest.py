"""Fixtures of the digest tests: the time-skipping server, a real SMTP server (aiosmtpd, as in tests/email) that
can answer "try later" once per address, a fake Slack over HTTP, and `Rig`: DigestWorkflow with its real
activities on a fresh task queue over a store (SQLite and PostgreSQL, the `engine` fixture)."""

from __future__ import annotations

import concurrent.futures
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import pytest_asyncio
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Engine
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import worker
from activities.digest import DigestActivities
from activities.email import Mailer
from activities.slack import make_slack_client
from domain.digest_runs import DigestReport, DigestRequest
from tests.digest.samples import AT, CHARTER, MAX, MIA
from tests.email.conftest import Mailbox, SmtpServer
from tests.fakes.slack import FakeSlack
from tests.harness.ports import free_port
from tests.harness.temporal import time_skipping_server
from workflows.digest import DigestWorkflow

MAIL_FROM = "Parley <parley@corp.example>"
PUBLIC_URL = "https://parley.example"
RUNNER = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(*worker.PASSTHROUGH))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def skipping() -> AsyncIterator[WorkflowEnvironment]:
    """One time-skipping test server for the digest tests (the installed binary, never a download)."""
    async with time_skipping_server() as environment:
        yield environment


@dataclass
class FlakyMailbox(Mailbox):
    """A mailbox that answers "try later" (451) to each address of `busy_once` the first time it is sent to."""

    busy_once: set[str] = field(default_factory=set)

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        if address.lower() in self.busy_once:
            self.busy_once.discard(address.lower())
            return "451 4.3.0 mailbox busy, try again later"
        return await super().handle_RCPT(server, session, envelope, address, rcpt_options)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(FlakyMailbox(), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.users.update({"U0MIA": {"email": MIA, "real_name": "Mia Mediator"},
                           "U0MAX": {"email": MAX, "real_name": "Max Mediator"}})
        yield fake


@dataclass
class Rig:
    env: WorkflowEnvironment
    engine: Engine
    task_queue: str

    async def run(self, name: str,
                  request: DigestRequest | None = None) -> tuple[DigestReport, WorkflowHandle[Any, Any]]:
        """Run one DigestWorkflow to its end (as of the samples' moment unless `request` says otherwise)."""
        handle = await self.env.client.start_workflow(
            DigestWorkflow.run, request or DigestRequest(time_zone=CHARTER.calendar.timezone, at=AT),
            id=f"{name}-{uuid.uuid4().hex[:8]}", task_queue=self.task_queue)
        return await handle.result(), handle


@asynccontextmanager
async def rig(env: WorkflowEnvironment, engine: Engine, smtp: SmtpServer | None,
              slack: FakeSlack | None) -> AsyncIterator[Rig]:
    """A worker with DigestWorkflow and its real activities (Slack without the client's own retries, so
    that a 500 fails the attempt and Temporal retries it) on a fresh task queue."""
    task_queue = f"digest-{uuid.uuid4().hex[:12]}"
    activities = DigestActivities(
        engine, CHARTER, public_url=PUBLIC_URL,
        slack=make_slack_client(slack.token, slack.base_url, retries=0) if slack else None,
        mailer=Mailer(smtp.target, MAIL_FROM, timeout_s=5) if smtp else None)
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as executor:
        async with Worker(env.client, task_queue=task_queue, workflows=[DigestWorkflow],
                          activities=[activities.plan_digests, activities.deliver_digest],
                          activity_executor=executor, workflow_runner=RUNNER):
            yield Rig(env, engine, task_queue)
