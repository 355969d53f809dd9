"""deliver_notices, the Slack app's side: DMs with exactly the recipient's buttons, earlier DMs closed
with what happened, per-channel pacing, and time-outs retried (by the activity, never by the client) without a
second message."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from sqlalchemy import Engine
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.notify import NotifyActivities
from activities.record import StoreActivities
from activities.slack import ChannelBusy, ChannelPacer, make_slack_client
from domain.model import CreditSplit, Notice, Outcome, Proposal, Recorded, Status
from store.db import session
from store.tables import User
from tests.fakes.slack import FakeSlack
from tests.store.samples import CHANNEL, COUNTERPARTY, FILER, MEDIATOR, T0, event, view

PAT, DANA, MEDI = "U0PAT", "U0DANA", "U0MEDI"
FAST = FixedValueRetryIntervalCalculator(0.05)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack(min_interval_per_channel=1.0, hang_seconds=1.0) as fake:
        fake.users[PAT] = {"email": COUNTERPARTY, "real_name": "Pat Partner"}
        fake.users[DANA] = {"email": FILER, "real_name": "Dana Direct"}
        fake.users[MEDI] = {"email": MEDIATOR, "real_name": "Mo Mediator"}
        yield fake


@pytest.fixture
def slack(fake: FakeSlack) -> WebClient:
    return make_slack_client(fake.token, fake.base_url, interval=FAST, timeout=0.4)


@pytest.fixture
def people(engine: Engine) -> Engine:
    with session(engine) as s:
        s.add(User(email=FILER, name="Dana Direct", role="rep", channel="direct", slack_user_id=DANA))
        s.add(User(email=COUNTERPARTY, name="Pat Partner", role="rep", channel="partner", partner_org="Acme",
                   slack_user_id=PAT))
        s.add(User(email=MEDIATOR, name="Mo Mediator", role="mediator", slack_user_id=MEDI))
    return engine


def record(engine: Engine, seq: int, action: str, notices: list[Notice], **view_changes: Any) -> Any:
    item = Recorded(event=event(seq=seq, action=action), view=view(last_seq=seq, **view_changes), notices=notices,
                    channel=CHANNEL)
    ActivityEnvironment().run(StoreActivities(engine).record_event, item)
    return item.event


def deliver(notify: NotifyActivities, ev: Any) -> None:
    ActivityEnvironment().run(notify.deliver_notices, ev)


def until_delivered(notify: NotifyActivities, ev: Any) -> None:
    """What Temporal does: retry the activity when it asks to come back later."""
    for _ in range(30):
        try:
            deliver(notify, ev)
            return
        except ApplicationError as exc:
            assert exc.type in ("ChannelPaced", "CaseMessagePending"), exc
            time.sleep(exc.next_retry_delay.total_seconds() if exc.next_retry_delay else 0.2)
    raise AssertionError("never delivered")


def buttons(message: dict[str, Any]) -> list[str]:
    return [e["action_id"] for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


def dm(notice_to: str, text: str, kind: str = "action_required") -> Notice:
    return Notice(recipient=notice_to, kind=kind, text=text)


def channel(text: str) -> Notice:
    return Notice(recipient="channel", kind="case_update", text=text)


PROPOSAL = Proposal(id=1, by=COUNTERPARTY, outcome=Outcome(owner="co_sell", credit_split=CreditSplit(direct=60,
                                                                                                    partner=40)),
                    note="Split it", at=T0)


def test_a_dm_carries_exactly_the_recipients_buttons(people: Engine, fake: FakeSlack, slack: WebClient) -> None:
    notify = NotifyActivities(people, slack, public_url="https://parley.example")
    until_delivered(notify, record(people, 1, "filed", [channel("filed"), dm(COUNTERPARTY, "filed. Your move.")]))
    [message] = fake.messages(PAT)
    assert buttons(message) == ["act:propose", "act:escalate"]
    actions = next(b for b in message["blocks"] if b["type"] == "actions")
    assert {e["value"] for e in actions["elements"]} == {"PRL-1"}
    assert "https://parley.example/disputes/PRL-1" in message["blocks"][0]["text"]["text"]

    until_delivered(notify, record(people, 2, "proposed", [channel("proposed"), dm(FILER, "proposed. Your move.")],
                                   proposals=[PROPOSAL], waiting_on=[FILER]))
    [offer] = fake.messages(DANA)
    assert buttons(offer) == ["act:accept", "act:reject", "act:propose", "act:escalate", "act:withdraw"]
    assert "co-sell, direct 60% / partner 40%" in str(offer["blocks"])
    accept = next(e for b in offer["blocks"] if b["type"] == "actions" for e in b["elements"]
                  if e["action_id"] == "act:accept")
    assert accept["confirm"]["title"]["text"] == "Accept this proposal?"


def test_earlier_dms_lose_their_buttons_and_say_what_happened(people: Engine, fake: FakeSlack,
                                                              slack: WebClient) -> None:
    notify = NotifyActivities(people, slack)
    until_delivered(notify, record(people, 1, "filed", [channel("filed"), dm(COUNTERPARTY, "filed. Your move.")]))
    until_delivered(notify, record(people, 2, "sla_reminder", [channel("reminder"),
                                                               dm(COUNTERPARTY, "Reminder", "reminder")]))
    assert [buttons(m) for m in fake.messages(PAT)] == [["act:propose", "act:escalate"]] * 2  # a reminder keeps them
    until_delivered(notify, record(people, 3, "commented", [channel("a comment")]))
    assert all(buttons(m) for m in fake.messages(PAT))  # so does a comment

    until_delivered(notify, record(people, 4, "proposed", [channel("proposed"), dm(FILER, "proposed. Your move.")],
                                   proposals=[PROPOSAL], waiting_on=[FILER]))
    closed = fake.messages(PAT)
    assert [buttons(m) for m in closed] == [[], []]
    # who did it, by name (the users table knows it), not by e-mail address
    assert all("Pat Partner proposed a resolution for PRL-1" in str(m["blocks"]) for m in closed)
    assert not any(f"{COUNTERPARTY} proposed" in str(m["blocks"]) for m in closed)
    assert "filed. Your move." in str(closed[0]["blocks"])  # the original words stay
    assert buttons(fake.messages(DANA)[0])  # the new DM has its own buttons


def test_a_closed_dispute_sends_no_buttons(people: Engine, fake: FakeSlack, slack: WebClient) -> None:
    notify = NotifyActivities(people, slack)
    deliver(notify, record(people, 1, "decided", [channel("decided"), dm(COUNTERPARTY, "Resolved", "resolved")],
                           status=Status.resolved, waiting_on=[]))
    assert buttons(fake.messages(PAT)[0]) == []


def test_posts_to_a_channel_are_paced_and_dms_do_not_wait_for_them(people: Engine, fake: FakeSlack,
                                                                   slack: WebClient) -> None:
    notify = NotifyActivities(people, slack, channel_override="C0CONFLICTS")
    first = record(people, 1, "filed", [channel("filed")])
    deliver(notify, first)
    later = [record(people, seq, "commented", [channel(f"comment {seq}"), dm(MEDIATOR, f"note {seq}", "info")])
             for seq in range(2, 6)]
    threads = [threading.Thread(target=until_delivered, args=(notify, ev)) for ev in later]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    posts = [c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == "C0CONFLICTS"]
    assert fake.rate_limited == 0 and all(c.ok for c in posts) and len(posts) == 5
    gaps = [b.at - a.at for a, b in zip(posts, posts[1:], strict=False)]
    assert min(gaps) >= 0.99, gaps
    first_dm = min(c.at for c in fake.calls_to("chat.postMessage") if c.args["channel"].startswith("D"))
    assert first_dm < posts[2].at  # the DMs did not queue behind the channel's log


def test_a_busy_channel_is_retried_later_instead_of_holding_a_thread(people: Engine, fake: FakeSlack,
                                                                    slack: WebClient) -> None:
    pacer = ChannelPacer(interval=1.0, max_wait=0.2)
    notify = NotifyActivities(people, slack, channel_override="C0CONFLICTS", pacer=pacer)
    deliver(notify, record(people, 1, "filed", [channel("filed")]))
    with pytest.raises(ApplicationError) as info:
        deliver(notify, record(people, 2, "commented", [channel("soon after")]))
    assert info.value.type == "ChannelPaced" and not info.value.non_retryable
    delay = info.value.next_retry_delay
    assert delay is not None and timedelta(0) < delay <= timedelta(seconds=2)


def test_a_timed_out_post_is_looked_for_then_posted_again_once(people: Engine, fake: FakeSlack,
                                                              slack: WebClient) -> None:
    notify = NotifyActivities(people, slack, pacer=ChannelPacer(interval=0))
    fake.fail_next(1, "timeout", method="chat.postMessage")
    fake.fail_next(1, "500", method="chat.postMessage")
    filed = record(people, 1, "filed", [dm(COUNTERPARTY, "filed. Your move.")])
    # the client does not repeat a post Slack may have taken: the attempt looks for it (nothing there) and
    # posts again, Slack answers 500, it looks again and posts again, all in one attempt
    deliver(notify, filed)
    calls = fake.calls_to("chat.postMessage")
    assert [c.fault for c in calls] == ["timeout", "500", None]
    assert len(fake.calls_to("conversations.history")) == 2  # each post again came after a look
    assert len(fake.messages(PAT)) == 1


def test_the_pacer_spaces_turns_from_the_end_of_the_previous_post() -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = ChannelPacer(interval=1.0, max_wait=1.5, clock=lambda: now[0], sleep=sleep)
    with pacer.turn("C1"):
        now[0] += 0.3  # a slow request
    assert pacer.wait_for("C1") == pytest.approx(1.0)
    with pacer.turn("C1"):
        pass
    assert slept == [pytest.approx(1.0)]
    with pacer.turn("C2"):  # other channels are independent
        pass
    assert len(slept) == 1
    pacer.alias("#conflicts", "C1")
    now[0] -= 0.8  # as if the last post to C1 had just finished
    pacer.max_wait = 0.5
    before = pacer.wait_for("C1")
    with pytest.raises(ChannelBusy) as busy, pacer.turn("#conflicts"):
        pass
    assert busy.value.wait == pytest.approx(before) and pacer.wait_for("C1") == pytest.approx(before)  # no slot used
