"""deliver_notices against a local fake Slack: outbox mode, the case message, DMs, retries."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from sqlalchemy import Engine, insert, select, update
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities
from activities.record import StoreActivities
from activities.slack import make_slack_client
from domain.model import Event, Notice, Recorded, Status
from render.slack_text import case_blocks
from store.db import session
from store.tables import NOTIFICATIONS, SLACK_MESSAGES, USERS, User, utcnow
from tests.fakes.slack import FakeSlack
from tests.store.samples import CHANNEL, COUNTERPARTY, FILER, MEDIATOR, recorded, view

PAT, MEDI = "U0PAT", "U0MEDI"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        fake.users[PAT] = {"email": COUNTERPARTY, "real_name": "Pat Partner"}
        fake.users[MEDI] = {"email": MEDIATOR, "real_name": "Mo Mediator"}
        yield fake


@pytest.fixture
def slack(fake: FakeSlack) -> WebClient:
    return make_slack_client(fake.token, fake.base_url, interval=FixedValueRetryIntervalCalculator(0.05))


@pytest.fixture
def people(engine: Engine) -> Engine:
    with session(engine) as s:
        s.add(User(email=FILER, name="Dana Direct", role="rep", channel="direct"))
        s.add(User(email=COUNTERPARTY, name="Pat Partner", role="rep", channel="partner", partner_org="Acme"))
        s.add(User(email=MEDIATOR, name="Mo Mediator", role="mediator", slack_user_id=MEDI))
    return engine


def record(engine: Engine, item: Recorded) -> Event:
    ActivityEnvironment().run(StoreActivities(engine).record_event, item)
    return item.event


def deliver(engine: Engine, slack: WebClient | None, event: Event, **kwargs: Any) -> None:
    ActivityEnvironment().run(NotifyActivities(engine, slack, **kwargs).deliver_notices, event)


def outbox(engine: Engine, seq: int | None = None) -> list[Any]:
    query = select(NOTIFICATIONS).order_by(NOTIFICATIONS.c.id)
    if seq is not None:
        query = query.where(NOTIFICATIONS.c.seq == seq)
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def three_notices(seq: int) -> list[Notice]:
    return [
        Notice(recipient="channel", kind="case_update", text=f"event {seq}"),
        Notice(recipient=COUNTERPARTY, kind="action_required", text=f"event {seq}. Your move."),
        Notice(recipient=MEDIATOR, kind="escalated", text=f"event {seq} for the mediator"),
    ]


def test_without_slack_notices_stay_in_the_outbox(people: Engine) -> None:
    event = record(people, recorded())
    deliver(people, None, event)
    deliver(people, None, event)  # retried: nothing left to do
    rows = outbox(people)
    assert [(r.recipient, r.status, r.sent_at) for r in rows] == [
        ("channel", "outbox", None), (COUNTERPARTY, "outbox", None)]


def test_case_message_is_posted_once_then_updated_in_place(people: Engine, fake: FakeSlack,
                                                            slack: WebClient) -> None:
    first = record(people, recorded(seq=1, notices=[Notice(recipient="channel", kind="case_update",
                                                           text="rep filed PRL-1")]))
    deliver(people, slack, first)
    [case] = fake.messages(CHANNEL)
    assert case["thread_ts"] is None and "PRL-1" in case["text"]
    assert case["blocks"][0]["type"] == "header" and "PRL-1" in case["blocks"][0]["text"]["text"]
    fields = " ".join(f["text"] for f in case["blocks"][1]["fields"])
    assert "frontline" in fields and "*SLA due*" in fields and COUNTERPARTY in fields
    with people.connect() as conn:
        stored = conn.execute(select(SLACK_MESSAGES)).one()
    assert (stored.dispute_id, stored.channel, stored.ts) == ("PRL-1", CHANNEL, case["ts"])

    second_view = view(last_seq=2, status=Status.mediation, tier=2, waiting_on=[MEDIATOR])
    second = record(people, recorded(seq=2, the_view=second_view, notices=[
        Notice(recipient="channel", kind="case_update", text="PRL-1 escalated to tier 2")]))
    deliver(people, slack, second)
    deliver(people, slack, second)  # a retry sends nothing more

    case_now, reply = fake.messages(CHANNEL)
    assert case_now["ts"] == case["ts"]
    fields = " ".join(f["text"] for f in case_now["blocks"][1]["fields"])
    assert "mediation" in fields and f"<@{MEDI}>" in fields  # a known Slack user is mentioned
    assert reply["thread_ts"] == case["ts"] and reply["text"] == "PRL-1 escalated to tier 2"
    assert len(fake.calls_to("chat.postMessage")) == 2 and len(fake.calls_to("chat.update")) == 1
    assert [(r.status, r.slack_ts) for r in outbox(people)] == [("sent", case["ts"]), ("sent", reply["ts"])]


def test_direct_message_finds_the_user_by_email_once(people: Engine, fake: FakeSlack, slack: WebClient) -> None:
    deliver(people, slack, record(people, recorded(seq=1)))
    deliver(people, slack, record(people, recorded(seq=2)))
    assert len(fake.calls_to("users.lookupByEmail")) == 1  # remembered after the first time
    with people.connect() as conn:
        assert conn.execute(select(USERS.c.slack_user_id).where(USERS.c.email == COUNTERPARTY)).scalar() == PAT
    dms = fake.messages(PAT)
    assert [m["text"] for m in dms] == ["rep.direct@example.com filed PRL-1. Your move."] * 2
    assert all(r.status == "sent" and r.sent_at is not None for r in outbox(people))


def test_unknown_slack_user_is_parked_in_the_outbox(people: Engine, fake: FakeSlack, slack: WebClient) -> None:
    event = record(people, recorded(notices=[
        Notice(recipient="channel", kind="case_update", text="filed"),
        Notice(recipient="nobody@example.com", kind="action_required", text="your move"),
    ]))
    deliver(people, slack, event)
    channel_row, dm_row = outbox(people)
    assert channel_row.status == "sent"
    assert dm_row.status == "outbox" and "nobody@example.com" in dm_row.error


def test_retry_after_a_partial_failure_sends_nothing_twice(people: Engine, fake: FakeSlack,
                                                           slack: WebClient) -> None:
    event = record(people, recorded(notices=three_notices(1)))
    fake.fail_next(4, "500", method="conversations.open")  # past the client's three retries
    with pytest.raises(ApplicationError, match="internal_error"):
        deliver(people, slack, event)
    channel_row, pat_row, medi_row = outbox(people)
    assert channel_row.status == "sent"
    assert (pat_row.status, pat_row.attempts, pat_row.error) == ("pending", 1, "slack: internal_error")
    assert medi_row.status == "pending" and medi_row.attempts == 0

    deliver(people, slack, event)  # Temporal retries the activity
    deliver(people, slack, event)  # and once more, for good measure
    assert len(fake.messages(CHANNEL)) == 1
    assert len(fake.messages(PAT)) == 1 and len(fake.messages(MEDI)) == 1
    assert [r.status for r in outbox(people)] == ["sent"] * 3


def test_rate_limit_waits_for_retry_after(people: Engine, fake: FakeSlack, slack: WebClient) -> None:
    event = record(people, recorded(notices=three_notices(1)[:1]))
    fake.fail_next(1, "429", method="chat.postMessage")
    deliver(people, slack, event)
    limited, posted = fake.calls_to("chat.postMessage")
    assert limited.status == 429 and posted.ok
    assert posted.at - limited.at >= fake.retry_after * 0.9
    assert len(fake.messages(CHANNEL)) == 1 and outbox(people)[0].status == "sent"


def test_permanent_errors_park_the_row_and_the_rest_go_on(people: Engine, fake: FakeSlack,
                                                           slack: WebClient) -> None:
    fake.known_channels = {"C0OTHER"}
    event = record(people, recorded(notices=three_notices(1)))
    deliver(people, slack, event)
    channel_row, pat_row, medi_row = outbox(people)
    assert (channel_row.status, channel_row.error) == ("outbox", "slack: channel_not_found")
    assert pat_row.status == "sent" and medi_row.status == "sent"
    with people.connect() as conn:
        assert conn.execute(select(SLACK_MESSAGES)).all() == []  # the claim was released


def test_channel_override(people: Engine, fake: FakeSlack, slack: WebClient) -> None:
    event = record(people, recorded(notices=three_notices(1)[:1]))
    deliver(people, slack, event, channel_override="C0CONFLICTS")
    assert len(fake.messages("C0CONFLICTS")) == 1 and fake.messages(CHANNEL) == []


def test_a_case_message_being_posted_elsewhere_defers_only_the_channel(people: Engine, fake: FakeSlack,
                                                                      slack: WebClient) -> None:
    with people.begin() as conn:
        conn.execute(insert(SLACK_MESSAGES).values(dispute_id="PRL-1", channel=CHANNEL, ts=None,
                                                   claimed_at=utcnow()))
    event = record(people, recorded(notices=three_notices(1)))
    with pytest.raises(ApplicationError) as info:
        deliver(people, slack, event)
    assert info.value.type == "CaseMessagePending" and not info.value.non_retryable
    assert [r.status for r in outbox(people)] == ["pending", "sent", "sent"]

    with people.begin() as conn:  # the other delivery died long ago
        conn.execute(update(SLACK_MESSAGES).values(claimed_at=utcnow() - timedelta(hours=1)))
    deliver(people, slack, event)
    assert [r.status for r in outbox(people)] == ["sent"] * 3 and len(fake.messages(CHANNEL)) == 1


def test_a_deleted_case_message_is_posted_again(people: Engine, fake: FakeSlack, slack: WebClient) -> None:
    deliver(people, slack, record(people, recorded(seq=1, notices=three_notices(1)[:1])))
    with people.begin() as conn:
        conn.execute(update(SLACK_MESSAGES).values(ts="1.000001"))  # as if someone deleted the message
    deliver(people, slack, record(people, recorded(seq=2, notices=three_notices(2)[:1])))
    first, second = fake.messages(CHANNEL)
    assert second["thread_ts"] is None and second["blocks"]  # a new case message, not a reply
    with people.connect() as conn:
        assert conn.execute(select(SLACK_MESSAGES.c.ts)).scalar() == second["ts"]


def test_case_blocks_stay_within_slack_limits() -> None:
    long_view = view(title="T" * 200, account="<Globex & Co>")
    blocks = [b.to_dict() for b in case_blocks(long_view, "x" * 5000)]  # to_dict validates the limits
    assert len(blocks[0]["text"]["text"]) == 150
    assert "&lt;Globex &amp; Co&gt;" in " ".join(f["text"] for f in blocks[1]["fields"])


def test_a_person_who_wants_only_email_is_not_messaged_in_slack(people: Engine, fake: FakeSlack,
                                                                slack: WebClient) -> None:
    with people.begin() as conn:  # no SMTP here: their notices wait in the outbox
        conn.execute(update(USERS).where(USERS.c.email == COUNTERPARTY).values(notify="email"))
    deliver(people, slack, record(people, recorded(notices=three_notices(1))))
    channel_row, pat_row, medi_row = outbox(people)
    assert (pat_row.status, pat_row.email_status, pat_row.sent_at) == ("outbox", "none", None)
    assert fake.messages(PAT) == [] and fake.calls_to("users.lookupByEmail") == []
    assert channel_row.status == "sent" and medi_row.status == "sent" and len(fake.messages(MEDI)) == 1
