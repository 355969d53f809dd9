"""Tests for the fake Slack Web API, driven through the real slack_sdk WebClient."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from urllib.error import URLError

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator

from .slack import FakeSlack

FAST = FixedValueRetryIntervalCalculator(fixed_internal=0.05)


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    with FakeSlack() as f:
        yield f


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    # No retry handlers by default so every fault is visible to the test.
    return WebClient(token=fake.token, base_url=fake.base_url, timeout=5, retry_handlers=[])


def _error(exc: pytest.ExceptionInfo[SlackApiError]) -> str:
    return str(exc.value.response["error"])


# ---------------------------------------------------------------- basics


def test_lifecycle_and_base_url() -> None:
    fake = FakeSlack()
    with pytest.raises(RuntimeError):
        _ = fake.base_url
    fake.start()
    try:
        assert fake.base_url.startswith("http://127.0.0.1:")
        assert fake.base_url.endswith("/api/")
        assert fake.start() is fake  # idempotent
    finally:
        fake.stop()
    fake.stop()  # idempotent


def test_post_update_round_trip(fake: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C1", text="hello")
    second = client.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])
    assert first["ok"] and first["channel"] == "C1"
    assert first["message"]["text"] == "hello"
    assert float(second["ts"]) > float(first["ts"])
    assert abs(float(first["ts"]) - time.time()) < 60 and len(first["ts"].split(".")[1]) == 6  # Unix time

    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*updated*"}}]
    upd = client.chat_update(channel="C1", ts=first["ts"], text="updated", blocks=blocks)
    assert upd["ts"] == first["ts"] and upd["text"] == "updated"

    msgs = fake.messages("C1")
    assert msgs == [
        {"channel": "C1", "ts": first["ts"], "text": "updated", "blocks": blocks, "thread_ts": None},
        {"channel": "C1", "ts": second["ts"], "text": "reply", "blocks": None, "thread_ts": first["ts"]},
    ]
    assert fake.messages("C2") == []
    assert [c.method for c in fake.calls] == ["chat.postMessage", "chat.postMessage", "chat.update"]
    call = fake.calls_to("chat.update")[0]
    assert call.status == 200 and call.ok and call.args["blocks"] == blocks and "token" not in call.args


def test_form_encoded_json_args_are_decoded(fake: FakeSlack, client: WebClient) -> None:
    blocks = [{"type": "divider"}]
    resp = client.api_call(
        "chat.postMessage", data={"channel": "C9", "text": "[x]", "blocks": json.dumps(blocks)}
    )
    assert resp["ok"]
    (msg,) = fake.messages("C9")
    assert msg["blocks"] == blocks and msg["text"] == "[x]"


def test_bad_or_missing_token(fake: FakeSlack) -> None:
    bad = WebClient(token="xoxb-wrong", base_url=fake.base_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as exc:
        bad.chat_postMessage(channel="C1", text="nope")
    assert _error(exc) == "invalid_auth"
    assert exc.value.response.status_code == 200

    anon = WebClient(base_url=fake.base_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as exc:
        anon.auth_test()
    assert _error(exc) == "invalid_auth"
    assert fake.messages() == []


def test_missing_arguments(fake: FakeSlack, client: WebClient) -> None:
    cases = [
        ("chat.postMessage", {"text": "hi"}, "channel_not_found"),
        ("chat.postMessage", {"channel": "C1"}, "no_text"),
        ("chat.update", {"channel": "C1", "text": "x"}, "message_not_found"),
        ("chat.update", {"channel": "C1", "ts": "1.000001", "text": "x"}, "message_not_found"),
        ("chat.postEphemeral", {"channel": "C1", "text": "x"}, "invalid_arguments"),
        ("conversations.open", {}, "users_list_not_supplied"),
        ("views.open", {"view": json.dumps({"type": "modal"})}, "invalid_arguments"),
        ("views.open", {"trigger_id": "t1"}, "invalid_arguments"),
        ("views.update", {"view_id": "V404", "view": json.dumps({"type": "modal"})}, "not_found"),
        ("views.publish", {"view": json.dumps({"type": "home"})}, "invalid_arguments"),
        ("users.info", {}, "invalid_arguments"),
        ("users.info", {"user": "U404"}, "user_not_found"),
        ("users.lookupByEmail", {"email": "nobody@example.com"}, "users_not_found"),
        ("no.such.method", {}, "unknown_method"),
    ]
    for method, data, error in cases:
        with pytest.raises(SlackApiError) as exc:
            client.api_call(method, data=data)
        assert _error(exc) == error, (method, data)
    assert fake.messages() == []
    assert all(c.status == 200 and not c.ok for c in fake.calls)


def test_dm_ephemeral_and_auth(fake: FakeSlack, client: WebClient) -> None:
    dm = client.conversations_open(users="U1")["channel"]["id"]
    assert dm.startswith("D")
    assert client.conversations_open(users=["U1"])["channel"]["id"] == dm
    assert client.conversations_open(users="U2")["channel"]["id"] != dm
    assert fake.dm_channel("U1") == dm

    posted = client.chat_postMessage(channel="U1", text="psst")  # user id -> DM, like Slack
    assert posted["channel"] == dm
    assert fake.messages("U1") == fake.messages(dm) != []

    eph = client.chat_postEphemeral(channel="C1", user="U1", text="only you")
    assert eph["message_ts"]
    assert fake.ephemerals[0]["user"] == "U1" and fake.messages("C1") == []

    auth = client.auth_test()
    assert auth["user_id"] == fake.bot_user_id and auth["team_id"] == fake.team_id


def test_views(fake: FakeSlack, client: WebClient) -> None:
    modal = {"type": "modal", "title": {"type": "plain_text", "text": "T"}, "blocks": []}
    opened = client.views_open(trigger_id="123.456", view=modal)["view"]
    assert opened["id"].startswith("V") and opened["title"]["text"] == "T"

    modal2 = {**modal, "title": {"type": "plain_text", "text": "T2"}}
    updated = client.views_update(view_id=opened["id"], view=modal2, hash=opened["hash"])["view"]
    assert updated["id"] == opened["id"] and fake.views[opened["id"]]["title"]["text"] == "T2"
    with pytest.raises(SlackApiError) as exc:
        client.views_update(view_id=opened["id"], view=modal, hash=opened["hash"])  # stale hash
    assert _error(exc) == "hash_conflict"

    home = {"type": "home", "blocks": []}
    first = client.views_publish(user_id="U1", view=home)["view"]
    again = client.views_publish(user_id="U1", view=home)["view"]
    assert first["id"] == again["id"] and again["user_id"] == "U1"


def test_users_directory(fake: FakeSlack, client: WebClient) -> None:
    fake.users["U1"] = {"email": "ada@example.com", "real_name": "Ada Lovelace"}
    user = client.users_info(user="U1")["user"]
    assert user["id"] == "U1"
    assert user["profile"]["email"] == "ada@example.com"
    assert user["real_name"] == user["profile"]["real_name"] == "Ada Lovelace"
    assert client.users_lookupByEmail(email="ADA@example.com")["user"]["id"] == "U1"
    with pytest.raises(SlackApiError) as exc:
        client.users_info(user="U2")
    assert _error(exc) == "user_not_found"


def test_reset(fake: FakeSlack, client: WebClient) -> None:
    fake.users["U1"] = {"email": "a@example.com"}
    client.chat_postMessage(channel="C1", text="x")
    fake.fail_next(1, "500")
    fake.reset()
    assert fake.calls == [] and fake.messages() == [] and fake.faults == 0
    assert client.chat_postMessage(channel="C1", text="y")["ok"]  # fault was cleared
    assert client.users_info(user="U1")["ok"]  # directory survives reset


def test_concurrent_posts_get_unique_ts(fake: FakeSlack, client: WebClient) -> None:
    def post(i: int) -> None:
        client.chat_postMessage(channel="C1", text=str(i))

    threads = [threading.Thread(target=post, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tss = [m["ts"] for m in fake.messages("C1")]
    assert len(tss) == len(set(tss)) == 20 == len(fake.calls)


# ---------------------------------------------------------------- reading history (message metadata)


def test_history_newest_first_with_metadata_oldest_and_pages(fake: FakeSlack, client: WebClient) -> None:
    meta = {"event_type": "parley_notice", "event_payload": {"notice_id": 7}}
    before = client.chat_postMessage(channel="C1", text="before")["ts"]
    time.sleep(0.01)
    since = time.time()
    first = client.chat_postMessage(channel="C1", text="a", metadata=meta)["ts"]
    client.chat_postMessage(channel="C1", text="in thread", thread_ts=first)
    second = client.chat_postMessage(channel="C1", text="b")["ts"]
    third = client.chat_postMessage(channel="C1", text="c")["ts"]

    plain = client.conversations_history(channel="C1")
    assert [m["ts"] for m in plain["messages"]] == [third, second, first, before]  # top level, newest first
    assert "metadata" not in plain["messages"][2] and plain["has_more"] is False

    page = client.conversations_history(channel="C1", oldest=str(since), include_all_metadata=True, limit=2)
    assert [m["ts"] for m in page["messages"]] == [third, second] and page["has_more"] is True
    cursor = page["response_metadata"]["next_cursor"]
    rest = client.conversations_history(channel="C1", oldest=str(since), include_all_metadata=True, limit=2,
                                        cursor=cursor)
    assert [(m["ts"], m.get("metadata")) for m in rest["messages"]] == [(first, meta)]
    assert rest["has_more"] is False and rest["response_metadata"]["next_cursor"] == ""
    assert client.conversations_history(channel="C1", oldest=first)["messages"][-1]["ts"] == second  # exclusive
    assert client.conversations_history(channel="C1", oldest=first, inclusive=True)["messages"][-1]["ts"] == first

    replies = client.conversations_replies(channel="C1", ts=first, include_all_metadata=True)
    assert [m["text"] for m in replies["messages"]] == ["a", "in thread"]  # the parent first
    assert replies["messages"][0]["metadata"] == meta
    with pytest.raises(SlackApiError) as exc:
        client.conversations_replies(channel="C1", ts="1.000001")
    assert _error(exc) == "thread_not_found"


def test_channel_names_resolve_and_reading_wants_an_id(fake: FakeSlack, client: WebClient) -> None:
    fake.channel_names = {"conflicts": "C0CONF", "general": "C0GEN"}
    posted = client.chat_postMessage(channel="#conflicts", text="hi")
    assert posted["channel"] == "C0CONF" and fake.messages("C0CONF")[0]["text"] == "hi"
    with pytest.raises(SlackApiError) as exc:
        client.conversations_history(channel="#conflicts")
    assert _error(exc) == "channel_not_found"
    first = client.conversations_list(types="public_channel,private_channel", limit=1)
    rest = client.conversations_list(limit=1, cursor=first["response_metadata"]["next_cursor"])
    assert [c["name"] for c in first["channels"] + rest["channels"]] == ["conflicts", "general"]
    assert rest["response_metadata"]["next_cursor"] == ""


def test_a_bot_reads_only_the_channels_it_is_in(fake: FakeSlack, client: WebClient) -> None:
    fake.joined = set()
    client.chat_postMessage(channel="C1", text="posted without joining")  # chat:write.public
    with pytest.raises(SlackApiError) as exc:
        client.conversations_history(channel="C1")
    assert _error(exc) == "not_in_channel"
    assert client.conversations_join(channel="C1")["channel"]["id"] == "C1" and fake.joined == {"C1"}
    assert [m["text"] for m in client.conversations_history(channel="C1")["messages"]] == ["posted without joining"]
    dm = client.conversations_open(users="U1")["channel"]["id"]
    client.chat_postMessage(channel=dm, text="hi")
    assert client.conversations_history(channel=dm)["messages"][0]["text"] == "hi"  # the bot's own DMs


# ---------------------------------------------------------------- faults


def test_429_without_retry_handler_raises_and_is_not_applied(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next(1, "429")
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C1", text="hi")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "1"
    assert fake.messages() == [] and fake.faults == 1
    assert fake.calls[0].status == 429 and fake.calls[0].fault == "429"


def test_429_retried_with_rate_limit_handler(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next(1, "429")
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=2))
    resp = client.chat_postMessage(channel="C1", text="hi")
    assert resp["ok"]
    assert len(fake.messages("C1")) == 1
    assert [c.status for c in fake.calls] == [429, 200]
    assert fake.faults == 1 and fake.faults_by_kind["429"] == 1


def test_500_retried_with_server_error_handler(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next(2, "500")
    client.retry_handlers.append(ServerErrorRetryHandler(max_retry_count=2, interval_calculator=FAST))
    resp = client.chat_postMessage(channel="C1", text="hi")
    assert resp["ok"]
    assert [c.status for c in fake.calls] == [500, 500, 200]
    assert len(fake.messages()) == 1 and fake.faults == 2


def test_fail_next_can_target_a_method(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next(1, "500", method="chat.update")
    ts = client.chat_postMessage(channel="C1", text="a")["ts"]
    with pytest.raises(SlackApiError):
        client.chat_update(channel="C1", ts=ts, text="b")
    assert fake.messages()[0]["text"] == "a"  # failed update was not applied
    client.chat_update(channel="C1", ts=ts, text="b")
    assert fake.messages()[0]["text"] == "b"


def test_timeout_raises_and_is_not_applied_by_default(fake: FakeSlack) -> None:
    fake.hang_seconds = 2
    fake.fail_next(1, "timeout")
    client = WebClient(token=fake.token, base_url=fake.base_url, timeout=1, retry_handlers=[])
    started = time.monotonic()
    with pytest.raises((TimeoutError, URLError)):
        client.chat_postMessage(channel="C1", text="hi")
    assert time.monotonic() - started < 2
    assert fake.messages() == [] and fake.faults_by_kind["timeout"] == 1


def test_timeout_retried_with_connection_error_handler(fake: FakeSlack) -> None:
    fake.hang_seconds = 2
    fake.fail_next(1, "timeout")
    client = WebClient(token=fake.token, base_url=fake.base_url, timeout=1, retry_handlers=[])
    # urllib surfaces a read timeout as a bare TimeoutError, which the default handler ignores.
    client.retry_handlers.append(
        ConnectionErrorRetryHandler(interval_calculator=FAST, error_types=[URLError, TimeoutError])
    )
    resp = client.chat_postMessage(channel="C1", text="hi")
    assert resp["ok"]
    assert len(fake.messages()) == 1
    assert [c.fault for c in fake.calls] == ["timeout", None]


def test_timeout_that_applies_duplicates_on_retry(fake: FakeSlack) -> None:
    fake.hang_seconds = 2
    fake.timeout_applies = True
    fake.fail_next(1, "timeout")
    client = WebClient(token=fake.token, base_url=fake.base_url, timeout=1, retry_handlers=[])
    client.retry_handlers.append(
        ConnectionErrorRetryHandler(interval_calculator=FAST, error_types=[URLError, TimeoutError])
    )
    client.chat_postMessage(channel="C1", text="hi")
    assert [m["text"] for m in fake.messages("C1")] == ["hi", "hi"]  # the classic double post


def test_slow_answer_reaches_a_patient_client(fake: FakeSlack, client: WebClient) -> None:
    fake.hang_seconds = 0.2
    fake.fail_next(1, "timeout")
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C1", text="hi")
    assert _error(exc) == "request_timeout"
    fake.timeout_applies = True
    fake.fail_next(1, "timeout")
    assert client.chat_postMessage(channel="C1", text="hi")["ok"]
    assert len(fake.messages()) == 1


def test_fail_rate_is_seeded_and_consistent(fake: FakeSlack, client: WebClient) -> None:
    def run() -> list[bool]:
        fake.reset()
        fake.fail_rate(0.5, kinds=("429", "500"), seed=42)
        outcomes = []
        for i in range(20):
            try:
                client.chat_postMessage(channel="C1", text=str(i))
                outcomes.append(True)
            except SlackApiError:
                outcomes.append(False)
        return outcomes

    first = run()
    assert 0 < first.count(False) < 20
    assert fake.faults == first.count(False)
    assert len(fake.messages()) == first.count(True)
    assert set(fake.faults_by_kind) == {"429", "500"}
    assert run() == first
    fake.fail_rate(0)
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    with pytest.raises(ValueError):
        fake.fail_next(1, "404")


def test_min_interval_per_channel(fake: FakeSlack, client: WebClient) -> None:
    fake.min_interval_per_channel = 0.3
    client.chat_postMessage(channel="C1", text="1")
    with pytest.raises(SlackApiError) as exc:
        client.chat_postMessage(channel="C1", text="2")
    assert exc.value.response.status_code == 429
    assert exc.value.response.headers["Retry-After"] == "1"
    assert client.chat_postMessage(channel="C2", text="other channel")["ok"]
    time.sleep(0.35)
    assert client.chat_postMessage(channel="C1", text="3")["ok"]
    assert [m["text"] for m in fake.messages("C1")] == ["1", "3"]
    assert fake.rate_limited == 1 and fake.faults == 0
    assert fake.calls_to("chat.postMessage")[1].fault == "ratelimited"
