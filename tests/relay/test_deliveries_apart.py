"""Deliveries on worker processes of their own (PARLEY_WORKER_ROLE, activities.relay), end to end on SQLite and
PostgreSQL: real `python -m cli worker` processes, one with the role "workflows" and one or two with the role
"deliveries", the app over HTTP, a local SMTP server and webhook receiver, the session's Temporal dev server.

- Filings reach every party due an e-mail once and the receiver once each, while their workflows schedule no
  `deliver_notices` activity; the relay holds no row afterwards, and the deliveries process runs at the
  niceness it was given (its main thread; every thread: tests/relay/test_worker_nice.py).
- With no deliveries worker, a filing is answered and its rows wait, marked for the relay; a deliveries
  worker started later delivers them.
- A deliveries worker SIGKILLed while the SMTP server hangs on the DATA of two filings' e-mails: once the
  lease it took has run out (3 s here: a relay's lease is the one it claims with), another delivers every
  e-mail, once each, and nothing is lost.
- An SMTP server that answers 451: the relay hands the event to a `NoticeDeliveryWorkflow` on the deliveries'
  task queue, whose retries deliver once the server takes mail again.

The charter is the default one (days-long SLAs), so that the filing is the only event with notices.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Engine, select
from temporalio.client import Client, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.names import DELIVER_NOTICES, RECORD_EVENT
from activities.webhooks import sweeper_id
from domain.webhook_events import event_id
from service.digest_schedule import schedule_id
from settings import Settings
from store import webhooks
from store.db import make_engine, session
from store.tables import NOTIFICATIONS
from store.webhook_tables import WEBHOOK_DELIVERIES, WebhookRow
from tests.api.conftest import filing
from tests.email.conftest import Mailbox, SmtpServer
from tests.harness.paths import DEFAULT_CHARTER
from tests.harness.people import PEOPLE, seed_people
from tests.harness.ports import free_port
from tests.harness.stack import make_settings, serve
from tests.harness.temporal import target_of, terminate
from tests.harness.waiting import eventually
from tests.harness.worker_process import WorkerProcess, worker_env
from tests.webhooks.receiver import Receiver, verifies

MAIL_FROM = "parley@corp.example"
NICE = 7  # the deliveries worker's niceness above this process's
LEASE_S = "3"  # the relay's lease in the kill test: the next relay takes the event over that soon
WAIT_S = 45.0  # for a worker process to start and deliver
FILINGS = {  # on the default charter a filing tells the one it waits on: the counterparty, or the mediator
    "pat": filing(),
    "mediator": filing(account="Umbrella Ltd", opportunity_ref="OPP-2002", deal_value=1_000_000),  # mediation
}


@dataclass
class WatchedMailbox(Mailbox):
    """A mailbox that notes each DATA as it begins (before any hang)."""

    data_began: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_began += 1
        return await super().handle_DATA(server, session, envelope)


@dataclass
class Apart:
    """A store, an SMTP server and a task queue; the workers a test starts and the workflows it leaves."""

    temporal: Client
    temporal_address: str
    engine: Engine
    smtp: SmtpServer
    data_dir: Path
    db_url: str
    task_queue: str
    tokens: dict[str, str]
    workers: list[WorkerProcess] = field(default_factory=list)
    disputes: list[str] = field(default_factory=list)

    @property
    def mailbox(self) -> WatchedMailbox:
        assert isinstance(self.smtp.mailbox, WatchedMailbox)
        return self.smtp.mailbox

    def settings(self) -> Settings:
        return make_settings(self.db_url, self.data_dir, self.temporal_address, self.task_queue,
                             charter=DEFAULT_CHARTER, webhook_allow_private=True, smtp_url=self.smtp_url,
                             mail_from=MAIL_FROM)

    @property
    def smtp_url(self) -> str:
        return f"smtp://127.0.0.1:{self.smtp.port}"

    def start(self, role: str, **settings: str) -> WorkerProcess:
        env = worker_env(self.db_url, self.temporal_address, self.task_queue, self.data_dir, DEFAULT_CHARTER,
                         PARLEY_WORKER_ROLE=role, PARLEY_WEBHOOK_ALLOW_PRIVATE="true", PARLEY_SMTP_URL=self.smtp_url,
                         PARLEY_MAIL_FROM=MAIL_FROM, **settings)
        worker = WorkerProcess(env, self.data_dir / f"{role}-{len(self.workers) + 1}.log")
        self.workers.append(worker)
        return worker

    def subscribe(self, url: str) -> WebhookRow:
        with session(self.engine) as s:
            return webhooks.create(s, url=url, events=["dispute.filed"], description=None,
                                   created_by="root@corp.example")

    async def file(self, http: httpx.AsyncClient, *told: str) -> dict[str, str]:
        """A filing by dana that tells each of `told` (FILINGS); who each dispute tells, by its id."""
        dana = {"Authorization": f"Bearer {self.tokens['dana']}"}
        filed = {}
        for who in told:
            answer = await http.post("/api/disputes", json=FILINGS[who], headers=dana)
            assert answer.status_code == 201, answer.text
            filed[answer.json()["id"]] = PEOPLE[who].email
        self.disputes += list(filed)
        return filed

    def rows(self, dispute_id: str) -> list[Any]:
        with session(self.engine) as s:
            return list(s.execute(select(NOTIFICATIONS).where(NOTIFICATIONS.c.dispute_id == dispute_id)
                                  .order_by(NOTIFICATIONS.c.id)).all())

    def done(self, dispute_ids: Iterable[str]) -> dict[str, list[Any]] | None:
        """The filings' rows once none is left to deliver, and some went by e-mail."""
        rows = {d: self.rows(d) for d in dispute_ids}
        settled = all(each and all(r.status != "pending" and r.email_status not in (None, "pending") for r in each)
                      and any(r.email_status == "sent" for r in each) for each in rows.values())
        return rows if settled else None

    def marked(self) -> list[str]:
        """What the relay still holds or has yet to take: notices and webhook deliveries."""
        with session(self.engine) as s:
            rows = [f"notice {r.id}" for r in s.execute(select(NOTIFICATIONS.c.id)
                                                        .where(NOTIFICATIONS.c.relay_until.is_not(None)))]
            return rows + [f"delivery {r.id}" for r in s.execute(select(WEBHOOK_DELIVERIES.c.id).where(
                WEBHOOK_DELIVERIES.c.relay_until.is_not(None)))]

    def mailed_once(self, rows: dict[str, list[Any]]) -> dict[str, str]:
        """Whom each filing mailed: each once, every e-mail under a Message-ID of its own."""
        mailed, ids = {}, []
        for dispute_id, each in rows.items():
            [mailed[dispute_id]] = {r.recipient for r in each if r.email_status == "sent"}
            about = [m for m in self.mailbox.to(mailed[dispute_id])
                     if dispute_id in str(m.get_body(preferencelist=("plain",)))]
            assert len(about) == 1, f"{mailed[dispute_id]} got {len(about)} e-mails about {dispute_id}"
            ids.append(about[0]["Message-ID"])
        assert len(set(ids)) == len(ids) == len(self.mailbox.received), ids  # and nothing else arrived
        return mailed

    def tails(self) -> str:
        return "\n".join(f"--- {w.log.name}\n{w.tail()}" for w in self.workers)


@pytest_asyncio.fixture
async def apart(db_url: str, temporal_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[Apart]:
    engine = make_engine(db_url)
    smtp = SmtpServer(WatchedMailbox(), free_port())
    smtp.start()
    tokens, _ = seed_people(engine)
    each = Apart(temporal_env.client, target_of(temporal_env), engine, smtp, tmp_path, db_url,
                 f"apart-{uuid.uuid4().hex[:12]}", tokens)
    try:
        yield each
    finally:
        for worker in each.workers:
            worker.stop()
        queues = (each.task_queue, f"{each.task_queue}-deliveries")
        await terminate(each.temporal, [*each.disputes, *(f"notices-{d}-1" for d in each.disputes),
                                        *(sweeper_id(q) for q in queues)])
        try:
            await each.temporal.get_schedule_handle(schedule_id(each.task_queue)).delete()
        except RPCError:
            pass  # never made
        smtp.stop()
        engine.dispose()


async def scheduled_activities(client: Client, workflow_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")]


async def test_filings_are_delivered_by_the_deliveries_worker_alone(apart: Apart) -> None:
    workflows = apart.start("workflows")
    deliveries = apart.start("deliveries", PARLEY_WORKER_NICE=str(NICE))
    async with Receiver() as receiver, serve(apart.settings()) as http:
        hook = apart.subscribe(receiver.url)
        filed = await apart.file(http, "pat", "mediator")
        rows = await eventually(lambda: apart.done(filed) if deliveries.running() else None, timeout=WAIT_S,
                                what=lambda: f"the filings' e-mails\n{apart.tails()}")
        await eventually(lambda: len(receiver.answered(200)) == 2, timeout=WAIT_S, what="the dispute.filed webhooks")
        await eventually(lambda: not apart.marked(), timeout=10, what=lambda: f"the relay to let go: {apart.marked()}")

    assert apart.mailed_once(rows) == filed  # the filer hears nothing of their own filing
    assert sorted(r.headers["parley-event-id"] for r in receiver.requests) == sorted(event_id(d, 1) for d in filed)
    assert all(r.json()["type"] == "dispute.filed" and verifies(hook.secret, r.headers, r.body)
               for r in receiver.requests)
    for dispute_id in filed:
        scheduled = await scheduled_activities(apart.temporal, dispute_id)
        assert RECORD_EVENT in scheduled and DELIVER_NOTICES not in scheduled, scheduled
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, deliveries.proc.pid) == min(mine + NICE, 19)
    assert os.getpriority(os.PRIO_PROCESS, workflows.proc.pid) == mine


async def test_without_a_deliveries_worker_the_rows_wait_for_one(apart: Apart) -> None:
    apart.start("workflows")
    async with Receiver() as receiver, serve(apart.settings()) as http:
        apart.subscribe(receiver.url)
        filed = await apart.file(http, "pat")  # answered with nothing but the workflows' worker
        [dispute_id] = filed
        waiting = await eventually(lambda: apart.rows(dispute_id), timeout=10, what="the filing's rows")
        assert {(r.status, r.email_status) for r in waiting} == {("pending", None)}  # not even their media chosen
        assert all(r.relay_until is not None for r in waiting)
        with session(apart.engine) as s:
            [delivery] = s.execute(select(WEBHOOK_DELIVERIES)).all()
        assert (delivery.attempts, delivery.delivered_at) == (0, None) and delivery.relay_until is not None
        assert apart.mailbox.received == [] and receiver.requests == []
        assert DELIVER_NOTICES not in await scheduled_activities(apart.temporal, dispute_id)

        deliveries = apart.start("deliveries")
        rows = await eventually(lambda: apart.done(filed) if deliveries.running() else None, timeout=WAIT_S,
                                what=lambda: f"the e-mails once a deliveries worker runs\n{apart.tails()}")
        await eventually(lambda: receiver.answered(200), timeout=WAIT_S, what="the dispute.filed webhook")
        await eventually(lambda: not apart.marked(), timeout=10, what=lambda: f"the relay to let go: {apart.marked()}")
    assert apart.mailed_once(rows) == filed
    assert len(receiver.requests) == 1


async def test_a_deliveries_worker_killed_mid_mail_leaves_it_to_the_next(apart: Apart) -> None:
    apart.mailbox.mode = "hang"
    apart.start("workflows")
    first = apart.start("deliveries", PARLEY_WORKER_RELAY_LEASE_S=LEASE_S)
    async with serve(apart.settings()) as http:
        filed = await apart.file(http, "pat", "mediator")
        await eventually(lambda: first.running() and apart.mailbox.data_began == 2, timeout=WAIT_S,
                         what=lambda: f"both e-mails' DATA\n{apart.tails()}")
        first.kill()  # while the server holds both open
    cut_short = {d: apart.rows(d) for d in filed}
    assert not any(r.email_status == "sent" for rows in cut_short.values() for r in rows)
    assert all(any(r.relay_until is not None for r in rows) for rows in cut_short.values())  # the dead relay's lease
    apart.mailbox.mode = "accept"
    apart.mailbox.released.set()  # the hung DATAs end (451, to no one)

    second = apart.start("deliveries", PARLEY_WORKER_RELAY_LEASE_S=LEASE_S)
    rows = await eventually(lambda: apart.done(filed) if second.running() else None, timeout=WAIT_S,
                            what=lambda: f"the e-mails after the restart\n{apart.tails()}")
    await eventually(lambda: not apart.marked(), timeout=10, what=lambda: f"the relay to let go: {apart.marked()}")
    assert apart.mailed_once(rows) == filed
    assert {d: [r.id for r in each] for d, each in rows.items()} == {
        d: [r.id for r in each] for d, each in cut_short.items()}  # the same rows: nothing lost, nothing added
    assert {r.email_status for each in rows.values() for r in each if r.recipient != "channel"} == {"sent"}


async def test_a_server_that_says_try_later_leaves_the_event_to_a_notice_workflow(apart: Apart) -> None:
    apart.mailbox.mode = "try_later"
    apart.start("workflows")
    apart.start("deliveries")
    async with serve(apart.settings()) as http:
        filed = await apart.file(http, "pat")
    [dispute_id] = filed
    handle = apart.temporal.get_workflow_handle(f"notices-{dispute_id}-1")

    async def described() -> WorkflowExecutionDescription | None:
        try:
            return await handle.describe()
        except RPCError:
            return None

    description = await eventually(described, timeout=WAIT_S, what=lambda: f"the hand-over\n{apart.tails()}")
    assert description.workflow_type == "NoticeDeliveryWorkflow"
    assert description.task_queue == f"{apart.task_queue}-deliveries"
    waiting = [r for r in apart.rows(dispute_id) if r.email_status == "pending"]
    assert waiting and all("451" in (r.email_error or "") for r in waiting) and apart.mailbox.received == []

    apart.mailbox.mode = "accept"
    rows = await eventually(lambda: apart.done(filed), timeout=WAIT_S,
                            what=lambda: f"the e-mails once the server takes mail\n{apart.tails()}")
    await asyncio.wait_for(handle.result(), timeout=30)
    assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
    await eventually(lambda: not apart.marked(), timeout=10, what=lambda: f"the relay to let go: {apart.marked()}")
    assert apart.mailed_once(rows) == filed
    assert DELIVER_NOTICES not in await scheduled_activities(apart.temporal, dispute_id)
