"""A post Slack took but answered 500 (or answered too late) is in Slack once, on SQLite and PostgreSQL.

chat.postMessage has no idempotency key: the Slack client repeats no post whose outcome is unknown (a 5xx,
a time-out, a connection dropped after the request went out). The row stays marked "posting", and the same
attempt looks a moment later: it finds the message by its metadata and marks the row with it, or posts
again when it is not there. When the look fails too (Slack still in trouble), the attempt fails and
Temporal's retry looks first; digests too. Rate limits (Slack did nothing) are still waited out, briefly,
and a long one defers the row instead of holding the activity past its heartbeat time-out. The activity
heartbeats before each row and around waits.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from sqlalchemy import Engine, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.digest import DigestActivities
from activities.notify import NotifyActivities
from activities.slack import (
    LOOK_AFTER_S,
    NOTICE_EVENT,
    POSTS_PER_ATTEMPT,
    ChannelPacer,
    make_slack_client,
    retry_handlers,
)
from domain.digest_runs import DigestDelivery, DigestRun
from store.db import session
from store.tables import NOTIFICATIONS, User
from tests.digest.samples import AT, CHARTER, MAX, MIA
from tests.digest.samples import fill as fill_digests
from tests.fakes.slack import FakeSlack
from tests.harness.waiting import eventually
from tests.slack.harness import SlackDriver, slack_stack
from tests.slack.test_delivery import channel, dm, record
from tests.store.samples import COUNTERPARTY, FILER, MEDIATOR

PAT, DANA, MEDI = "U0PAT", "U0DANA", "U0MEDI"
CONFLICTS = "C0CONFLICTS"
FAST = FixedValueRetryIntervalCalculator(0.05)
CLIENT_TIMEOUT_S = 0.4  # the fake holds a "timeout" answer for 1 s


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(hang_seconds=1.0) as fake:
        fake.users[PAT] = {"email": COUNTERPARTY, "real_name": "Pat Partner"}
        fake.users[DANA] = {"email": FILER, "real_name": "Dana Direct"}
        fake.users[MEDI] = {"email": MEDIATOR, "real_name": "Mo Mediator"}
        fake.users["U0MIA"] = {"email": MIA, "real_name": "Mia Mediator"}
        fake.users["U0MAX"] = {"email": MAX, "real_name": "Max Mediator"}
        yield fake


@pytest.fixture
def slack(fake: FakeSlack) -> WebClient:
    return make_slack_client(fake.token, fake.base_url, interval=FAST, timeout=CLIENT_TIMEOUT_S)


@pytest.fixture
def people(engine: Engine) -> Engine:
    with session(engine) as s:
        s.add(User(email=FILER, name="Dana Direct", role="rep", channel="direct", slack_user_id=DANA))
        s.add(User(email=COUNTERPARTY, name="Pat Partner", role="rep", channel="partner", partner_org="Acme",
                   slack_user_id=PAT))
        s.add(User(email=MEDIATOR, name="Mo Mediator", role="mediator", slack_user_id=MEDI))
    return engine


def unpaced(engine: Engine, slack: WebClient, **options: Any) -> NotifyActivities:
    """deliver_notices without per-channel pacing (a retry here comes at once, not after Temporal's back-off)."""
    return NotifyActivities(engine, slack, pacer=ChannelPacer(interval=0), **options)


def rows(engine: Engine, dispute_id: str | None = None) -> list[Any]:
    query = select(NOTIFICATIONS).order_by(NOTIFICATIONS.c.id)
    if dispute_id is not None:
        query = query.where(NOTIFICATIONS.c.dispute_id == dispute_id)
    with engine.connect() as conn:
        return list(conn.execute(query).all())


def notice_of(message: dict[str, Any]) -> int | None:
    metadata = message.get("metadata") or {}
    return int(metadata["event_payload"]["notice_id"]) if metadata.get("event_type") == NOTICE_EVENT else None


def cannot_look(fake: FakeSlack, method: str = "conversations.history") -> None:
    """Slack answers the look 500, past the client's retries of it."""
    fake.fail_next(4, "500", method=method)


# --- the client: which failures it repeats ---------------------------------------------------------------

def request(method: str) -> HttpRequest:
    return HttpRequest(method="POST", url=f"https://slack.com/api/{method}", headers={})


def response(status: int, **headers: str) -> HttpResponse:
    return HttpResponse(status_code=status, headers={k: [v] for k, v in headers.items()})


def repeated_by(method: str, *, status: int | None = None, error: Exception | None = None,
                headers: dict[str, str] | None = None) -> list[str]:
    """The names of the client's handlers that would send the failed call again."""
    answer = response(status, **(headers or {})) if status is not None else None
    return [type(h).__name__ for h in retry_handlers()
            if h.can_retry(state=RetryState(), request=request(method), response=answer, error=error)]


def test_the_client_never_repeats_a_post_slack_may_have_taken() -> None:
    for unknown in ({"status": 500}, {"status": 503}, {"error": TimeoutError("timed out")},
                    {"error": ConnectionResetError()}):
        assert repeated_by("chat.postMessage", **unknown) == [], unknown
        assert repeated_by("conversations.history", **unknown), unknown
    # a post that never left (refused connection: urllib wraps it) and a short rate limit are safe to repeat
    assert repeated_by("chat.postMessage", error=URLError(ConnectionRefusedError())) == ["ConnectionErrorRetry"]
    assert repeated_by("chat.postMessage", status=429, headers={"Retry-After": "1"}) == ["RateLimitRetry"]
    # a long one is not waited out inside the activity (it would outlast the heartbeat time-out)
    assert repeated_by("chat.postMessage", status=429, headers={"Retry-After": "30"}) == []


# --- deliver_notices ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["500", "timeout"])
@pytest.mark.parametrize("to", ["dm", "channel"])
def test_a_post_slack_took_before_failing_is_found_not_posted_again(people: Engine, fake: FakeSlack,
                                                                    slack: WebClient, fault: str, to: str) -> None:
    notify = unpaced(people, slack, channel_override=CONFLICTS)
    notice = dm(COUNTERPARTY, "filed. Your move.") if to == "dm" else channel("filed")
    fake.fail_next(1, fault, method="chat.postMessage", taken=True)
    first = record(people, 1, "filed", [notice])
    ActivityEnvironment().run(notify.deliver_notices, first)  # the attempt looks, and finds it
    [taken] = fake.calls_to("chat.postMessage")  # the client did not send it again, nor did the activity
    assert taken.taken and taken.fault == fault
    [looked] = fake.calls_to("conversations.history")
    assert looked.at > taken.at
    [posted] = fake.messages()
    [row] = rows(people)
    assert notice_of(posted) == row.id
    assert (row.status, row.slack_channel, row.slack_ts) == ("sent", posted["channel"], posted["ts"])
    assert row.attempts == 2 and row.error is None  # the unknown outcome was counted, then the row was sent

    # what was found is what later events build on: the channel's next update is a reply to the found post
    ActivityEnvironment().run(notify.deliver_notices, record(people, 2, "commented", [channel("a comment")]))
    if to == "channel":
        assert [m["thread_ts"] for m in fake.messages(CONFLICTS)] == [None, posted["ts"]]
    assert Counter(notice_of(m) for m in fake.messages()) == Counter({r.id: 1 for r in rows(people)})


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_a_post_slack_did_not_take_is_posted_again_after_the_look(people: Engine, fake: FakeSlack,
                                                                  slack: WebClient, fault: str) -> None:
    notify = unpaced(people, slack)
    fake.fail_next(1, fault, method="chat.postMessage")
    event = record(people, 1, "filed", [dm(COUNTERPARTY, "filed. Your move.")])
    ActivityEnvironment().run(notify.deliver_notices, event)
    failed, posted = fake.calls_to("chat.postMessage")
    [looked] = fake.calls_to("conversations.history")
    assert (failed.fault, posted.fault) == (fault, None) and failed.at < looked.at < posted.at
    [message] = fake.messages(PAT)
    [row] = rows(people)
    assert row.status == "sent" and row.slack_ts == message["ts"]


@pytest.mark.parametrize("to", ["dm", "channel"])
def test_when_the_look_fails_too_the_attempt_fails_and_the_retry_looks_first(
        people: Engine, fake: FakeSlack, slack: WebClient, to: str) -> None:
    notify = unpaced(people, slack, channel_override=CONFLICTS)
    notice = dm(COUNTERPARTY, "filed. Your move.") if to == "dm" else channel("filed")
    fake.fail_next(1, "500", method="chat.postMessage", taken=True)
    cannot_look(fake)
    first = record(people, 1, "filed", [notice])
    with pytest.raises(ApplicationError, match="internal_error"):
        ActivityEnvironment().run(notify.deliver_notices, first)
    [posted] = fake.messages()
    [row] = rows(people)
    assert row.status == "pending" and row.slack_posting_at is not None and notice_of(posted) == row.id
    assert len(fake.calls_to("chat.postMessage")) == 1  # not posted again without a look

    ActivityEnvironment().run(notify.deliver_notices, first)  # Temporal's retry
    assert len(fake.calls_to("chat.postMessage")) == 1 and fake.calls_to("conversations.history")[-1].ok
    [row] = rows(people)
    assert (row.status, row.slack_channel, row.slack_ts) == ("sent", posted["channel"], posted["ts"])


def test_a_post_whose_outcome_stays_unknown_is_left_to_the_retry(people: Engine, fake: FakeSlack,
                                                                 slack: WebClient) -> None:
    notify = unpaced(people, slack)
    fake.fail_next(POSTS_PER_ATTEMPT, "500", method="chat.postMessage")
    event = record(people, 1, "filed", [dm(COUNTERPARTY, "filed. Your move.")])
    with pytest.raises(ApplicationError, match="internal_error"):
        ActivityEnvironment().run(notify.deliver_notices, event)
    assert len(fake.calls_to("chat.postMessage")) == POSTS_PER_ATTEMPT  # a look before each post again
    assert len(fake.calls_to("conversations.history")) == POSTS_PER_ATTEMPT - 1
    [row] = rows(people)
    assert row.status == "pending" and row.slack_posting_at is not None and row.attempts == POSTS_PER_ATTEMPT

    ActivityEnvironment().run(notify.deliver_notices, event)  # Temporal's retry looks first, then posts
    assert len(fake.calls_to("conversations.history")) == POSTS_PER_ATTEMPT
    assert len(fake.messages(PAT)) == 1 and rows(people)[0].status == "sent"


def test_the_delivery_heartbeats_while_it_waits_to_look(people: Engine, fake: FakeSlack, slack: WebClient) -> None:
    beats: list[float] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(time.time())
    fake.fail_next(1, "timeout", method="chat.postMessage", taken=True)
    env.run(unpaced(people, slack).deliver_notices, record(people, 1, "filed", [dm(COUNTERPARTY, "filed.")]))
    [taken] = fake.calls_to("chat.postMessage")
    [looked] = fake.calls_to("conversations.history")
    assert looked.at - taken.at >= LOOK_AFTER_S
    waited = [beat for beat in beats if taken.at < beat < looked.at]
    assert waited and max(waited) - min(waited) >= LOOK_AFTER_S * 0.9  # before and after the wait


def test_reads_are_still_retried_by_the_client(people: Engine, fake: FakeSlack, slack: WebClient) -> None:
    fake.fail_next(1, "500", method="conversations.open")
    fake.fail_next(1, "timeout", method="conversations.open")
    ActivityEnvironment().run(unpaced(people, slack).deliver_notices,
                              record(people, 1, "filed", [dm(COUNTERPARTY, "filed. Your move.")]))
    assert [c.fault for c in fake.calls_to("conversations.open")] == ["500", "timeout", None]
    assert len(fake.messages(PAT)) == 1 and rows(people)[0].status == "sent"


def test_a_long_rate_limit_defers_its_row_and_the_others_go_on(people: Engine, fake: FakeSlack,
                                                                slack: WebClient) -> None:
    notify = unpaced(people, slack)
    fake.retry_after = 30
    fake.fail_next(1, "429", method="chat.postMessage")
    event = record(people, 1, "filed", [dm(COUNTERPARTY, "filed. Your move."), dm(MEDIATOR, "a new dispute", "info")])
    with pytest.raises(ApplicationError) as info:
        ActivityEnvironment().run(notify.deliver_notices, event)
    assert info.value.type == "ChannelPaced" and info.value.next_retry_delay == timedelta(seconds=30)
    limited, other = fake.calls_to("chat.postMessage")  # not waited out inside the activity
    assert limited.status == 429 and other.ok and other.args["channel"] == fake.dm_channel(MEDI)
    pat_row, medi_row = rows(people)
    assert pat_row.status == "pending" and pat_row.slack_posting_at is None  # Slack took nothing: no look needed
    assert medi_row.status == "sent"

    ActivityEnvironment().run(notify.deliver_notices, event)  # Temporal, after Retry-After
    assert not fake.calls_to("conversations.history")
    assert len(fake.messages(PAT)) == 1 and len(fake.messages(MEDI)) == 1


def test_the_delivery_heartbeats_before_each_row_and_around_a_rate_limit_wait(people: Engine, fake: FakeSlack,
                                                                              slack: WebClient) -> None:
    beats: list[float] = []
    env = ActivityEnvironment()
    env.on_heartbeat = lambda *details: beats.append(time.time())
    fake.fail_next(1, "429", method="chat.postMessage")  # Retry-After: 1, waited out by the client
    env.run(unpaced(people, slack).deliver_notices,
            record(people, 1, "filed", [dm(COUNTERPARTY, "filed. Your move."), dm(MEDIATOR, "a new dispute", "info")]))
    limited, retried, second = fake.calls_to("chat.postMessage")
    assert limited.status == 429 and retried.ok and second.ok
    assert any(limited.at < beat < retried.at for beat in beats)  # during the wait
    assert any(retried.at < beat < second.at for beat in beats)  # before the next row
    assert beats[0] < limited.at


# --- the digest's direct messages -----------------------------------------------------------------------

@pytest.fixture
def digests(engine: Engine, slack: WebClient) -> DigestActivities:
    fill_digests(engine)
    return DigestActivities(engine, CHARTER, slack=slack, public_url="https://parley.example")


def planned(digests: DigestActivities, recipient: str) -> DigestDelivery:
    run = DigestRun(key="digest:post-once", at=AT)
    assert recipient in ActivityEnvironment().run(digests.plan_digests, run)
    return DigestDelivery(key=run.key, at=run.at, recipient=recipient)


def digest_row(engine: Engine, recipient: str) -> Any:
    [row] = [r for r in rows(engine, "digest:post-once") if r.recipient == recipient]
    return row


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_a_digest_slack_took_before_failing_is_found_not_posted_again(engine: Engine, fake: FakeSlack,
                                                                      digests: DigestActivities, fault: str) -> None:
    job = planned(digests, MIA)
    fake.fail_next(1, fault, method="chat.postMessage", taken=True)
    sent = ActivityEnvironment().run(digests.deliver_digest, job)  # the attempt looks, and finds it
    assert sent.media == ["slack"] and sent.error is None
    [posted] = fake.messages("U0MIA")
    assert len(fake.calls_to("chat.postMessage")) == 1 and len(fake.calls_to("conversations.history")) == 1
    row = digest_row(engine, MIA)
    assert notice_of(posted) == row.id
    assert (row.status, row.slack_channel, row.slack_ts) == ("sent", posted["channel"], posted["ts"])

    ActivityEnvironment().run(digests.deliver_digest, job)  # and again: nothing more
    assert len(fake.calls_to("chat.postMessage")) == 1


def test_a_digest_slack_did_not_take_is_posted_again_after_the_look(engine: Engine, fake: FakeSlack,
                                                                    digests: DigestActivities) -> None:
    job = planned(digests, MAX)
    fake.fail_next(1, "500", method="chat.postMessage")
    assert ActivityEnvironment().run(digests.deliver_digest, job).media == ["slack"]
    [message] = fake.messages("U0MAX")
    assert notice_of(message) is not None and [c.fault for c in fake.calls_to("chat.postMessage")] == ["500", None]
    assert len(fake.calls_to("conversations.history")) == 1
    assert digest_row(engine, MAX).attempts == 2  # the failed post is counted


@pytest.mark.parametrize("fault", ["500", "timeout"])
def test_a_digest_whose_look_fails_too_is_found_by_the_retry(engine: Engine, fake: FakeSlack,
                                                             digests: DigestActivities, fault: str) -> None:
    job = planned(digests, MIA)
    fake.fail_next(1, fault, method="chat.postMessage", taken=True)
    cannot_look(fake)
    with pytest.raises(SlackApiError):
        ActivityEnvironment().run(digests.deliver_digest, job)
    [posted] = fake.messages("U0MIA")
    row = digest_row(engine, MIA)
    assert row.status == "pending" and row.slack_posting_at is not None and notice_of(posted) == row.id

    sent = ActivityEnvironment().run(digests.deliver_digest, job)  # Temporal's retry
    assert sent.media == ["slack"] and sent.error is None
    assert len(fake.calls_to("chat.postMessage")) == 1 and len(fake.messages("U0MIA")) == 1
    row = digest_row(engine, MIA)
    assert (row.status, row.slack_channel, row.slack_ts) == ("sent", posted["channel"], posted["ts"])


# --- the whole stack: Temporal retries the delivery ----------------------------------------------------------

async def test_through_temporal_posts_answered_500_or_too_late_arrive_once(temporal_env: WorkflowEnvironment,
                                                                           tmp_path: Path) -> None:
    fake = FakeSlack(hang_seconds=1.0)
    async with slack_stack(temporal_env, tmp_path, fake=fake, worker_slack_timeout=CLIENT_TIMEOUT_S) as stack:
        fake.fail_next(1, "500", method="chat.postMessage", taken=True)
        fake.fail_next(1, "timeout", method="chat.postMessage", taken=True)
        dispute_id = await SlackDriver(stack).file("dana", against="pat", title=f"Post once {uuid.uuid4().hex[:6]}")

        def filing_delivered() -> bool:
            filing = [r for r in rows(stack.engine, dispute_id) if r.seq == 1]
            return bool(filing) and all(r.status == "sent" for r in filing)

        await eventually(filing_delivered, timeout=60, interval=0.2, what="the filing's notices")
        taken = [c for c in fake.calls_to("chat.postMessage") if c.taken]
        assert [c.fault for c in taken] == ["500", "timeout"]
        posts = Counter(notice_of(m) for m in fake.messages())
        assert None not in posts and max(posts.values()) == 1, posts  # every message posted for a row, none twice
        messages = {notice_of(m): m for m in fake.messages()}
        by_id = {r.id: r for r in rows(stack.engine, dispute_id)}
        for call in taken:  # each post Slack took is the one its row was marked sent with (found, not posted again)
            row = by_id[call.args["metadata"]["event_payload"]["notice_id"]]
            assert (row.slack_channel, row.slack_ts) == (messages[row.id]["channel"], messages[row.id]["ts"])
