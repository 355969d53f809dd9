"""A worker SIGKILLed after Slack took a post and before the row was marked sent: the message is in Slack
once, on SQLite and PostgreSQL (activities.notify; issue 13 item 1).

The real worker (`python -m cli worker`) runs as a process of its own against the session's Temporal dev
server and the local fake Slack. The fake posts the worker's first message at once and holds the answer
back (Slack took it; the answer is on its way), and the test SIGKILLs the worker right then: the row is
left as "being posted", never marked sent. Another worker takes over; Temporal retries the delivery
once its heartbeat time-out (20 s) has passed without a heartbeat (not after the start-to-close time-out,
60 s), and the retry finds the message by its metadata (conversations.history) and marks the row with it
instead of posting it again. Meanwhile the fast
charter's clock runs on, so the new worker delivers the later events' notices too: every message is in
Slack once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.slack import NOTICE_EVENT
from store.db import make_engine
from store.tables import NOTIFICATIONS
from tests.api.conftest import filing
from tests.fakes.slack import Call, FakeSlack
from tests.harness.paths import FAST_CHARTER
from tests.harness.people import seed_people
from tests.harness.stack import make_settings, serve
from tests.harness.temporal import target_of, terminate
from tests.harness.waiting import eventually
from tests.harness.worker_process import WorkerProcess
from tests.harness.worker_process import worker_env as any_worker_env
from tests.pg import migrated_database
from tests.slack.harness import CHANNEL, PEOPLE

# The delivery's heartbeat time-out (20 s), a back-off and a new worker's start; less than its start-to-close
# time-out (60 s), so only the heartbeat time-out can have ended the killed attempt in time.
RETRY_WITHIN_S = 50.0


@pytest.fixture(params=["sqlite", "postgresql"])
def kill_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with migrated_database(request, tmp_path_factory, "slack_kill") as url:
        yield url


@pytest.fixture
def store(kill_db_url: str) -> Iterator[Engine]:
    engine = make_engine(kill_db_url)
    yield engine
    engine.dispose()


def worker_env(db_url: str, temporal: str, task_queue: str, data_dir: Path, fake: FakeSlack) -> dict[str, str]:
    return any_worker_env(db_url, temporal, task_queue, data_dir, FAST_CHARTER, PARLEY_SLACK_BOT_TOKEN=fake.token,
                          PARLEY_SLACK_API_URL=fake.base_url, PARLEY_SLACK_CHANNEL=CHANNEL)


def notice_of(message: dict[str, Any]) -> int | None:
    metadata = message.get("metadata") or {}
    return int(metadata["event_payload"]["notice_id"]) if metadata.get("event_type") == NOTICE_EVENT else None


async def heartbeat_timed_out(client: Client, dispute_id: str) -> bool:
    """The history shows a delivery retried after its previous attempt missed its heartbeats."""
    history = await client.get_workflow_handle(dispute_id).fetch_history()
    return any(e.activity_task_started_event_attributes.attempt > 1
               and e.activity_task_started_event_attributes.last_failure.timeout_failure_info.timeout_type
               == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
               for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)


def rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(NOTIFICATIONS).order_by(NOTIFICATIONS.c.id)).all())


async def test_a_worker_killed_after_slacks_answer_posts_nothing_twice(
        temporal_env: WorkflowEnvironment, kill_db_url: str, store: Engine, tmp_path: Path) -> None:
    task_queue = f"slack-kill-{uuid.uuid4().hex[:12]}"
    settings = make_settings(kill_db_url, tmp_path, target_of(temporal_env), task_queue)
    tokens, _ = seed_people(store, PEOPLE)
    # Slack takes the first post at once and answers it 30 s later (long after the worker is gone)
    fake = FakeSlack(timeout_applies=True, hang_seconds=30)
    for person in PEOPLE.values():
        fake.users[str(person.slack_id)] = {"email": person.email, "real_name": person.name}
    fake.joined = set()  # the bot posts to the conflicts channel without joining it (chat:write.public)
    fake.fail_next(1, "timeout", method="chat.postMessage")
    dispute_id = ""
    with fake:
        env = worker_env(kill_db_url, target_of(temporal_env), task_queue, tmp_path, fake)
        workers = [WorkerProcess(env, tmp_path / "worker-1.log")]
        async with serve(settings) as http:
            try:
                filed = await http.post("/api/disputes", json=filing(counterparty_email=PEOPLE["pat"].email),
                                        headers={"Authorization": f"Bearer {tokens['dana']}"})
                assert filed.status_code == 201, filed.text
                dispute_id = filed.json()["id"]

                def taken() -> Call | None:
                    held = [c for c in fake.calls_to("chat.postMessage") if c.fault == "timeout"]
                    return held[0] if workers[0].running() and held else None

                held = await eventually(taken, timeout=30, interval=0.02, what="the first post to reach Slack")
                workers[0].kill()  # Slack has the message; the worker never hears back
                (posted,) = [m for m in fake.messages() if notice_of(m) is not None]
                row_id = notice_of(posted)
                (cut_short,) = [r for r in rows(store) if r.id == row_id]
                assert cut_short.status == "pending" and cut_short.slack_posting_at is not None
                assert held.args["metadata"]["event_payload"]["notice_id"] == row_id

                workers.append(WorkerProcess(env, tmp_path / "worker-2.log"))

                def recovered() -> Any:
                    found = [r for r in rows(store) if r.id == row_id and r.status == "sent"]
                    return found[0] if workers[1].running() and found else None

                row = await eventually(recovered, timeout=RETRY_WITHIN_S, interval=0.5,
                                       what=lambda: f"the retry to find the post; worker 2:\n{workers[1].tail()}")
                assert (row.slack_channel, row.slack_ts) == (posted["channel"], posted["ts"])
                await eventually(lambda: heartbeat_timed_out(temporal_env.client, dispute_id), timeout=30,
                                 interval=0.5, what="the retried delivery in the history, after a heartbeat time-out")
                await eventually(lambda: any(r.seq > 1 and r.status == "sent" for r in rows(store)),
                                 timeout=30, interval=0.5, what="the later events' notices")
            finally:
                await terminate(temporal_env.client, [dispute_id] if dispute_id else [])
                for worker in workers:
                    worker.stop()  # an attempt under way finishes: nothing is left between Slack and the store

    assert fake.calls_to("conversations.history"), "the retry looked in the channel"
    if cut_short.recipient == "channel":  # the case message: the bot joined the channel to read it
        assert [c.args["channel"] for c in fake.calls_to("conversations.join")] == [CHANNEL]
    posts = Counter(notice_of(m) for m in fake.messages())
    assert None not in posts and max(posts.values()) == 1, posts  # every message posted for a row, none twice
    for r in rows(store):
        if r.status == "sent":
            assert posts[r.id] == 1
            assert (r.slack_channel, r.slack_ts) in {(m["channel"], m["ts"]) for m in fake.messages()
                                                      if notice_of(m) == r.id}
        else:  # stopped between its turn and Slack (a SIGTERM ends the worker's activities): at most once
            assert r.status == "pending" and posts[r.id] <= 1
