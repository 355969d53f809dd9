"""Each notice is posted to Slack once, also when an attempt dies between Slack's answer and the commit
that marks its row sent (activities.notify): the post carries the row's id in its message metadata, the
row is marked as being posted first, and the next attempt looks for the message before posting again.

The death is injected here (the commit that would mark the row raises, as a SIGKILL would stop it);
tests/slack/test_worker_killed_mid_post.py kills a real worker process. Both stores (the `engine` fixture).
"""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine, select, update
from temporalio.exceptions import ApplicationError

from activities.slack import NOTICE_EVENT
from domain.model import Event, Notice, Status
from store import notifications
from store.tables import NOTIFICATIONS, SLACK_MESSAGES
from tests.activities.test_notify import MEDI, PAT, deliver, outbox, record, three_notices
from tests.activities.test_notify import fake as fake  # noqa: F401  (fixtures)
from tests.activities.test_notify import people as people  # noqa: F401
from tests.activities.test_notify import slack as slack  # noqa: F401
from tests.fakes.slack import FakeSlack
from tests.store.samples import CHANNEL, COUNTERPARTY, recorded, view

CHANNEL_ID = "C0CONFLICTS"  # the ID Slack gives the charter's "#channel-conflicts"


class Killed(BaseException):
    """The worker died (nothing after this point runs, nothing is committed)."""


@pytest.fixture
def named(fake: FakeSlack) -> FakeSlack:
    """Slack knows the conflicts channel by its name, as real Slack does: posts to it land in its ID."""
    fake.channel_names = {CHANNEL.removeprefix("#"): CHANNEL_ID}
    return fake


def dying(engine: Engine, slack: WebClient, event: Event) -> None:
    """One attempt that dies at its first commit marking a row sent, after Slack answered the post."""
    mark = notifications.mark

    def mark_or_die(session: Any, row_id: int, **kwargs: Any) -> None:
        if kwargs.get("status") == "sent":
            raise Killed()
        mark(session, row_id, **kwargs)

    with patch.object(notifications, "mark", mark_or_die), pytest.raises(Killed):
        deliver(engine, slack, event)


def noticed(fake: FakeSlack, row_id: int) -> list[dict[str, Any]]:
    """The messages in Slack posted for outbox row `row_id` (by their metadata)."""
    return [m for m in fake.messages() if m.get("metadata", {}).get("event_type") == NOTICE_EVENT
            and m["metadata"]["event_payload"]["notice_id"] == row_id]


def under_way(engine: Engine) -> list[int]:
    with engine.connect() as conn:
        return list(conn.execute(select(NOTIFICATIONS.c.id).where(
            NOTIFICATIONS.c.status == "pending", NOTIFICATIONS.c.slack_posting_at.is_not(None))).scalars())


def test_every_post_carries_its_row_in_the_metadata(people: Engine, named: FakeSlack, slack: WebClient) -> None:
    deliver(people, slack, record(people, recorded(notices=three_notices(1))))
    rows = outbox(people)
    assert [r.status for r in rows] == ["sent"] * 3
    for row in rows:
        (message,) = noticed(named, row.id)
        assert (message["channel"], message["ts"]) == (row.slack_channel, row.slack_ts)
        assert message["metadata"]["event_payload"] == {"notice_id": row.id, "dispute_id": "PRL-1", "seq": 1}
    assert named.calls_to("conversations.history") == []  # nothing to look for when nothing died


def test_a_case_message_posted_before_the_death_is_not_posted_again(people: Engine, named: FakeSlack,
                                                                    slack: WebClient) -> None:
    event = record(people, recorded(notices=three_notices(1)))
    dying(people, slack, event)
    channel_row = outbox(people)[0]
    assert under_way(people) == [channel_row.id] and len(noticed(named, channel_row.id)) == 1

    deliver(people, slack, event)  # Temporal retries the activity (on another worker)
    rows = outbox(people)
    assert [r.status for r in rows] == ["sent"] * 3 and under_way(people) == []
    for row in rows:
        assert len(noticed(named, row.id)) == 1
    (case,) = noticed(named, channel_row.id)
    assert (rows[0].slack_channel, rows[0].slack_ts) == (CHANNEL_ID, case["ts"])
    with people.connect() as conn:  # the case message is known, so the next event replies in its thread
        assert conn.execute(select(SLACK_MESSAGES.c.channel, SLACK_MESSAGES.c.ts)).one() == (CHANNEL_ID, case["ts"])
    (listed,) = named.calls_to("conversations.list")  # the charter's "#channel-conflicts" has an ID
    (looked,) = named.calls_to("conversations.history")
    assert looked.args["channel"] == CHANNEL_ID and listed.response and listed.response["channels"]

    deliver(people, slack, record(people, recorded(seq=2, notices=three_notices(2)[:1])))
    assert [m["thread_ts"] for m in named.messages(CHANNEL_ID)] == [None, case["ts"]]


def test_it_joins_the_public_channel_it_posts_to_without_joining_to_look(people: Engine, named: FakeSlack,
                                                                        slack: WebClient) -> None:
    named.joined = set()  # chat:write.public: the bot posts in the channel, but may read only after joining
    event = record(people, recorded(notices=three_notices(1)[:1]))
    dying(people, slack, event)
    deliver(people, slack, event)
    (row,) = outbox(people)
    assert row.status == "sent" and len(noticed(named, row.id)) == 1 and named.joined == {CHANNEL_ID}
    refused, found = named.calls_to("conversations.history")
    assert refused.error == "not_in_channel" and found.ok and len(named.calls_to("conversations.join")) == 1


def test_a_reply_in_the_thread_posted_before_the_death_is_not_posted_again(
        people: Engine, named: FakeSlack, slack: WebClient) -> None:
    deliver(people, slack, record(people, recorded(seq=1, notices=three_notices(1)[:1])))
    second = record(people, recorded(seq=2, the_view=view(last_seq=2, status=Status.mediation, tier=2),
                                     notices=three_notices(2)[:1]))
    dying(people, slack, second)  # after the case message's update and the reply in its thread
    deliver(people, slack, second)
    reply_row = outbox(people, seq=2)[0]
    (reply,) = noticed(named, reply_row.id)
    assert reply["thread_ts"] is not None and reply_row.status == "sent" and reply_row.slack_ts == reply["ts"]
    assert len(named.calls_to("conversations.replies")) == 1
    assert len(named.messages(CHANNEL_ID)) == 2  # the case message and one reply


def test_a_direct_message_posted_before_the_death_is_not_posted_again(people: Engine, fake: FakeSlack,
                                                                     slack: WebClient) -> None:
    event = record(people, recorded(notices=[Notice(recipient=COUNTERPARTY, kind="action_required",
                                                    text="Your move.")]))
    dying(people, slack, event)
    deliver(people, slack, event)
    (row,) = outbox(people)
    assert row.status == "sent" and len(fake.messages(PAT)) == 1 and row.slack_ts == fake.messages(PAT)[0]["ts"]
    (look,) = fake.calls_to("conversations.history")
    assert look.args["channel"] == fake.dm_channel(PAT) and look.args["include_all_metadata"] in ("1", "true")
    assert float(look.args["oldest"]) < float(row.slack_ts)


def test_a_row_under_way_whose_post_never_reached_slack_is_posted_once(people: Engine, named: FakeSlack,
                                                                       slack: WebClient) -> None:
    event = record(people, recorded(notices=three_notices(1)))
    with people.begin() as conn:  # an attempt marked them, then died before its posts went out
        conn.execute(update(NOTIFICATIONS).values(slack_posting_at=notifications.utcnow()))
    deliver(people, slack, event)
    deliver(people, slack, event)  # and a retry for good measure
    rows = outbox(people)
    assert [r.status for r in rows] == ["sent"] * 3
    assert all(len(noticed(named, r.id)) == 1 for r in rows)
    assert len(named.messages(CHANNEL_ID)) == 1 and len(named.messages(PAT)) == 1 and len(named.messages(MEDI)) == 1
    assert len(named.calls_to("conversations.history")) == 3  # looked once for each, found nothing


def test_where_it_cannot_look_it_posts_again(people: Engine, fake: FakeSlack, slack: WebClient) -> None:
    """No history scope (an app installed before it), or no ID for the channel's name: at least once."""
    event = record(people, recorded(notices=three_notices(1)[:2]))
    with people.begin() as conn:
        conn.execute(update(NOTIFICATIONS).values(slack_posting_at=notifications.utcnow()))
    fake.refuse["conversations.history"] = "missing_scope"
    deliver(people, slack, event)
    assert [r.status for r in outbox(people)] == ["sent", "sent"]
    assert len(fake.messages(CHANNEL)) == 1 and len(fake.messages(PAT)) == 1
    assert len(fake.calls_to("conversations.list")) == 1  # "#channel-conflicts" is no channel Slack lists here


def test_where_it_cannot_join_to_look_it_posts_again(people: Engine, named: FakeSlack, slack: WebClient) -> None:
    named.joined, named.refuse["conversations.join"] = set(), "missing_scope"  # no channels:join scope
    event = record(people, recorded(notices=three_notices(1)[:1]))
    with people.begin() as conn:
        conn.execute(update(NOTIFICATIONS).values(slack_posting_at=notifications.utcnow()))
    deliver(people, slack, event)
    assert outbox(people)[0].status == "sent" and len(named.messages(CHANNEL_ID)) == 1
    assert [c.error for c in named.calls_to("conversations.history")] == ["not_in_channel"]


def test_a_refused_post_is_not_under_way(people: Engine, fake: FakeSlack, slack: WebClient) -> None:
    fake.fail_next(6, "429", method="chat.postMessage")  # past the client's five rate-limit retries
    fake.retry_after = 0
    event = record(people, recorded(notices=three_notices(1)[:1]))
    with pytest.raises(ApplicationError, match="ChannelPaced|rate"):  # deferred by Temporal, not held here
        deliver(people, slack, event)
    assert under_way(people) == [] and outbox(people)[0].status == "pending"
    deliver(people, slack, event)
    assert outbox(people)[0].status == "sent" and fake.calls_to("conversations.history") == []
