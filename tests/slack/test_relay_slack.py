"""Slack notices with the worker roles split (settings.worker_role, activities.relay), against the fake Slack.

A "workflows" worker (build_worker) records each event and leaves its notices to the relay of a "deliveries"
worker (build_delivery_worker; here in this process, its relay a task), which posts them outside any Temporal
activity and hands what it could not finish to a `NoticeDeliveryWorkflow` on `<task_queue>-deliveries`.

- A filing over the API: the case message in the conflicts channel and the counterparty's DM are each posted
  once, for their row, which is marked sent with that message's ts; the relay lets go of every row, hands
  nothing to Temporal, and the dispute's workflow schedules no `deliver_notices` (SQLite and PostgreSQL).
- Two filings at once while the channel is paced (one post per 5 s): the case message whose turn has not come
  is handed to a `NoticeDeliveryWorkflow` on the deliveries' task queue; its retry posts it a turn later. Every
  notice is posted once, none is lost, and Slack never had to rate-limit.
- Slack answers 500 to the first chat.postMessage, having taken the post or not: the message is in Slack once.

The default charter (days-long SLAs), so that the filing is the only event with notices.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.names import DELIVER_NOTICES, RECORD_EVENT
from activities.relay import OutboxRelay
from settings import Settings
from store.db import make_engine, migrate
from store.tables import NOTIFICATIONS
from tests.api.conftest import filing
from tests.fakes.slack import FakeSlack
from tests.harness.paths import DEFAULT_CHARTER
from tests.harness.people import seed_people
from tests.harness.stack import serve
from tests.harness.temporal import target_of, terminate
from tests.harness.waiting import eventually
from tests.slack.harness import CHANNEL, PEOPLE, PUBLIC_URL, SECRET
from tests.slack.test_post_once import notice_of
from worker import build_delivery_worker, build_worker
from workflows.notice_retries import notice_delivery_id

PACED_S = 5.0  # the channel's interval in the hand-over test: far longer than two filings take
WAIT_S = 60.0  # generous: the machine is shared with a CI run


@dataclass
class Split:
    http: httpx.AsyncClient
    fake: FakeSlack
    engine: Engine
    temporal: Client
    settings: Settings
    relay: OutboxRelay
    tokens: dict[str, str]
    filed: list[str] = field(default_factory=list)

    async def file(self, *accounts: str) -> list[str]:
        """Dana files one dispute against pat per account, all at once; their ids."""
        dana = {"Authorization": f"Bearer {self.tokens['dana']}"}
        answers = await asyncio.gather(*(self.http.post("/api/disputes", headers=dana, json=filing(
            account=account, opportunity_ref=f"OPP-{uuid.uuid4().hex[:6]}")) for account in accounts))
        assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
        ids = [a.json()["id"] for a in answers]
        self.filed += ids
        return ids

    def rows(self, dispute_ids: Iterable[str]) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(select(NOTIFICATIONS).where(NOTIFICATIONS.c.dispute_id.in_(list(dispute_ids)))
                                     .order_by(NOTIFICATIONS.c.id)).all())

    def settled(self, dispute_ids: list[str]) -> list[Any] | None:
        """The disputes' rows once every one is sent and the relay holds none."""
        rows = self.rows(dispute_ids)
        done = {r.dispute_id for r in rows} == set(dispute_ids) and all(
            r.status == "sent" and r.relay_until is None for r in rows)
        return rows if done else None

    async def delivered(self, dispute_ids: list[str]) -> list[Any]:
        rows: list[Any] = await eventually(lambda: self.settled(dispute_ids), timeout=WAIT_S, interval=0.2,
                                           what=lambda: f"every notice sent and let go: {self.rows(dispute_ids)}")
        return rows

    def posted_once(self, rows: list[Any]) -> dict[int, dict[str, Any]]:
        """Every message in Slack was posted for one of these rows, each row's once, and the row is marked
        sent with it; the messages, by row id."""
        posts = Counter(notice_of(m) for m in self.fake.messages())
        assert posts == Counter({r.id: 1 for r in rows}), (posts, rows)
        messages = {n: m for m in self.fake.messages() if (n := notice_of(m)) is not None}
        for row in rows:
            assert (row.slack_channel, row.slack_ts) == (messages[row.id]["channel"], messages[row.id]["ts"]), row
        return messages

    async def handed_over(self, dispute_id: str) -> bool:
        try:
            await self.temporal.get_workflow_handle(notice_delivery_id(dispute_id, 1)).describe()
        except RPCError:
            return False
        return True


@asynccontextmanager
async def split_roles(env: WorkflowEnvironment, data_dir: Path, db_url: str, *, fake: FakeSlack,
                      **more: Any) -> AsyncIterator[Split]:
    """The app, a "workflows" worker and a "deliveries" worker with its relay running, on a migrated store."""
    engine = make_engine(db_url, sqlite_busy_s=60.0)  # as a deliveries worker waits (worker.py)
    with fake:
        tokens, _ = seed_people(engine, PEOPLE)
        for p in PEOPLE.values():
            fake.users[str(p.slack_id)] = {"email": p.email, "real_name": p.name}
        settings = Settings(
            database_url=db_url, temporal_address=target_of(env), task_queue=f"relay-slack-{uuid.uuid4().hex[:12]}",
            charter=DEFAULT_CHARTER, data_dir=data_dir, slack_bot_token=fake.token, slack_signing_secret=SECRET,
            slack_api_url=fake.base_url, slack_channel=CHANNEL, public_url=PUBLIC_URL, worker_role="workflows",
            **more)
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=16) as executor:
                workflows = build_worker(env.client, settings, engine, executor)
                deliveries, relay = build_delivery_worker(env.client, settings, engine, executor)
                async with workflows, deliveries, serve(settings) as http:
                    relaying = asyncio.create_task(relay.run())
                    split = Split(http, fake, engine, env.client, settings, relay, tokens)
                    try:
                        yield split
                    finally:
                        await terminate(env.client, [*split.filed, *(notice_delivery_id(d, 1) for d in split.filed)])
                        await relay.settled()
                        relaying.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await relaying
        finally:
            engine.dispose()


async def scheduled_activities(client: Client, workflow_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [e.activity_task_scheduled_event_attributes.activity_type.name for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")]


async def test_a_filing_is_posted_once_by_the_relay_alone(temporal_env: WorkflowEnvironment, tmp_path: Path,
                                                          db_url: str) -> None:
    async with split_roles(temporal_env, tmp_path, db_url, fake=FakeSlack(min_interval_per_channel=1.0)) as split:
        [dispute_id] = await split.file("Acme GmbH")
        rows = await split.delivered([dispute_id])
        messages = split.posted_once(rows)
        assert {r.recipient for r in rows} == {"channel", PEOPLE["pat"].email}
        for row in rows:
            where = CHANNEL if row.recipient == "channel" else split.fake.dm_channel(str(PEOPLE["pat"].slack_id))
            assert messages[row.id]["channel"] == where and dispute_id in str(messages[row.id]), row
        assert len(split.fake.calls_to("chat.postMessage")) == 2  # nothing posted again, nothing refused
        scheduled = await scheduled_activities(split.temporal, dispute_id)
        assert RECORD_EVENT in scheduled and DELIVER_NOTICES not in scheduled, scheduled
        assert not await split.handed_over(dispute_id)  # the relay's own attempt delivered it all


async def test_a_paced_channel_hands_the_event_to_a_notice_workflow(temporal_env: WorkflowEnvironment,
                                                                    tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'parley.db'}"
    migrate(db_url)
    fake = FakeSlack(min_interval_per_channel=1.0)
    async with split_roles(temporal_env, tmp_path, db_url, fake=fake, slack_channel_interval_s=PACED_S) as split:
        filed = await split.file("Acme GmbH", "Umbrella Ltd")
        handed = await eventually(
            lambda: _handed(split, filed), timeout=WAIT_S, interval=0.2,
            what=lambda: f"a hand-over to a NoticeDeliveryWorkflow: {split.rows(filed)}")
        for dispute_id in handed:
            handle = split.temporal.get_workflow_handle(notice_delivery_id(dispute_id, 1))
            description = await handle.describe()
            assert description.workflow_type == "NoticeDeliveryWorkflow"
            assert description.task_queue == f"{split.settings.task_queue}-deliveries"

        rows = await split.delivered(filed)
        for dispute_id in handed:
            handle = split.temporal.get_workflow_handle(notice_delivery_id(dispute_id, 1))
            await asyncio.wait_for(handle.result(), timeout=WAIT_S)
            assert (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
            assert DELIVER_NOTICES in await scheduled_activities(split.temporal, notice_delivery_id(dispute_id, 1))
        split.posted_once(rows)
        assert len(rows) == 4 and {r.seq for r in rows} == {1}  # two case messages, two DMs to pat
        case_messages = sorted(float(m["ts"]) for m in fake.messages(CHANNEL))
        assert len(case_messages) == 2 and case_messages[1] - case_messages[0] >= PACED_S - 0.05, case_messages
        assert fake.rate_limited == 0  # the relay and the retry kept to the channel's pace: Slack never refused
        for dispute_id in filed:
            assert DELIVER_NOTICES not in await scheduled_activities(split.temporal, dispute_id)


async def _handed(split: Split, filed: list[str]) -> list[str]:
    return [d for d in filed if await split.handed_over(d)]


@pytest.mark.parametrize("taken", [True, False], ids=["slack-took-it", "slack-did-not"])
async def test_a_post_answered_500_is_in_slack_once(temporal_env: WorkflowEnvironment, tmp_path: Path,
                                                    taken: bool) -> None:
    db_url = f"sqlite:///{tmp_path / 'parley.db'}"
    migrate(db_url)
    fake = FakeSlack(min_interval_per_channel=1.0)
    fake.fail_next(1, "500", method="chat.postMessage", taken=taken)
    async with split_roles(temporal_env, tmp_path, db_url, fake=fake) as split:
        [dispute_id] = await split.file("Acme GmbH")
        rows = await split.delivered([dispute_id])
        messages = split.posted_once(rows)
        failed, *others = fake.calls_to("chat.postMessage")
        assert failed.status == 500 and failed.taken == taken
        assert fake.calls_to("conversations.history")  # the outcome was unknown: Slack was looked in first
        [row] = [r for r in rows if r.id == notice_of({"metadata": failed.args["metadata"]})]
        assert row.attempts >= 2 and row.slack_ts == messages[row.id]["ts"]
        if taken:  # found, not posted again
            assert all(c.args["channel"] != failed.args["channel"] for c in others), others
