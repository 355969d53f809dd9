"""Slack misbehaving: 30% of the worker's calls answered 429 (Retry-After), 500 or not at all (a time-out).
Every message still arrives, none twice, and no deadline moves."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import Engine, select
from temporalio.testing import WorkflowEnvironment

from store.tables import AUDIT_EVENTS, NOTIFICATIONS
from tests.fakes.slack import FakeSlack
from tests.slack.harness import CHANNEL, SlackDriver, eventually, pending_notices, slack_stack

DELIVERY = ("chat.postMessage", "chat.update", "conversations.open", "users.lookupByEmail")


def timeline(engine: Engine, dispute_id: str) -> list[tuple[str, float]]:
    with engine.connect() as conn:
        rows = conn.execute(select(AUDIT_EVENTS.c.action, AUDIT_EVENTS.c.at)
                            .where(AUDIT_EVENTS.c.dispute_id == dispute_id).order_by(AUDIT_EVENTS.c.seq)).all()
    start = rows[0].at
    return [(r.action, (r.at - start).total_seconds()) for r in rows]


def finished(engine: Engine, dispute_id: str) -> bool:
    """The fast charter's clock is done: breached at the executive, then its two repeat reminders."""
    actions = [a for a, _ in timeline(engine, dispute_id)]
    return "sla_breached" in actions and actions[actions.index("sla_breached"):].count("sla_reminder") == 2


async def test_every_message_arrives_once_and_no_deadline_moves(temporal_env: WorkflowEnvironment,
                                                                tmp_path: Path) -> None:
    fake = FakeSlack(hang_seconds=1.0, retry_after=1, min_interval_per_channel=1.0)
    async with slack_stack(temporal_env, tmp_path, fake=fake, worker_slack_timeout=0.5) as stack:
        fake.fail_rate(0.3, seed=20260101, methods=DELIVERY)
        slack = SlackDriver(stack)
        disputes = [await slack.file("dana", against="pat", title=f"Fault test {i}") for i in range(3)]
        for dispute_id in disputes:  # nobody acts: the clock walks each one up to the executive
            await eventually(lambda d=dispute_id: finished(stack.engine, d), timeout=60,  # type: ignore[misc]
                             interval=0.5, what=f"{dispute_id}'s clock to run out")
        await eventually(lambda: pending_notices(stack.engine) == 0, timeout=180, interval=0.5,
                         what="every notice to be delivered")
        fake.fail_rate(0)

        # Slack really misbehaved, in every way
        assert all(fake.faults_by_kind[kind] > 0 for kind in ("429", "500", "timeout")), fake.faults_by_kind

        # no deadline moved: each escalation at the breach of the tier's SLA (4 s, then 8 s)
        for dispute_id in disputes:
            times = dict(reversed(timeline(stack.engine, dispute_id)))  # the first time of each action
            escalations = [t for a, t in timeline(stack.engine, dispute_id) if a == "escalated"]
            assert abs(escalations[0] - 4.0) < 0.5 and abs(escalations[1] - 12.0) < 0.5, escalations
            assert abs(times["sla_breached"] - 16.0) < 0.5, times

        # every notice delivered, exactly once
        with stack.engine.connect() as conn:
            rows = conn.execute(select(NOTIFICATIONS.c.recipient, NOTIFICATIONS.c.status, NOTIFICATIONS.c.slack_channel,
                                       NOTIFICATIONS.c.slack_ts, NOTIFICATIONS.c.text)).all()
        assert rows and {r.status for r in rows} == {"sent"}
        messages = {(m["channel"], m["ts"]): m for m in fake.messages()}
        assert all((r.slack_channel, r.slack_ts) in messages for r in rows)
        assert len({(r.slack_channel, r.slack_ts) for r in rows}) == len(rows)
        posted = Counter(c.args["channel"] for c in fake.calls_to("chat.postMessage") if c.ok)
        sent_to = Counter(CHANNEL if r.recipient == "channel" else r.slack_channel for r in rows)
        assert posted == sent_to  # one successful post per notice, not one more
        case_messages = [m for m in fake.messages(CHANNEL) if m["thread_ts"] is None]
        assert sorted(m["text"].split(":")[0] for m in case_messages) == sorted(disputes)
