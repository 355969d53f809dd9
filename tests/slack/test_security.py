"""Only requests signed by Slack reach Parley: anything else gets 401 and does nothing at all."""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import Clock, SignatureVerifier

from tests.slack.harness import PEOPLE, SECRET, SlackDriver, counts, eventually, signature, signed_headers

COMMAND = urlencode({"command": "/conflict", "text": "", "user_id": PEOPLE["dana"].slack_id, "trigger_id": "t1",
                     "channel_id": "C0GENERAL", "response_url": "http://127.0.0.1:9/hooks/x"}).encode()
BUTTON = urlencode({"payload": json.dumps({
    "type": "block_actions", "user": {"id": PEOPLE["pat"].slack_id}, "trigger_id": "t2",
    "actions": [{"action_id": "act:accept", "value": "PRL-0000ABCD", "block_id": "acts:PRL-0000ABCD"}],
})}).encode()
EVENT = json.dumps({"type": "event_callback", "event_id": "Ev1", "event": {
    "type": "app_home_opened", "user": PEOPLE["dana"].slack_id, "tab": "home"}}).encode()
ENDPOINTS = [("/slack/commands", COMMAND), ("/slack/interactions", BUTTON), ("/slack/events", EVENT)]


BAD = {
    "no headers": lambda body: {"Content-Type": "application/x-www-form-urlencoded"},
    "no signature": lambda body: {"X-Slack-Request-Timestamp": str(int(time.time()))},
    "no timestamp": lambda body: {"X-Slack-Signature": signed_headers(body)["X-Slack-Signature"]},
    "wrong secret": lambda body: signed_headers(body, secret="not-the-secret"),
    "garbage signature": lambda body: {**signed_headers(body), "X-Slack-Signature": "v0=deadbeef"},
    "unversioned signature": lambda body: {**signed_headers(body),
                                           "X-Slack-Signature": signed_headers(body)["X-Slack-Signature"][3:]},
    "stale (over 5 minutes)": lambda body: signed_headers(body, timestamp=int(time.time()) - 301),
    "from the future": lambda body: signed_headers(body, timestamp=int(time.time()) + 301),
    "timestamp not a number": lambda body: {**signed_headers(body), "X-Slack-Request-Timestamp": "soon"},
    "timestamp of another request": lambda body: {
        **signed_headers(body), "X-Slack-Request-Timestamp": str(int(time.time()) - 1)},
}


@pytest.mark.parametrize("kind", BAD)
@pytest.mark.parametrize(("path", "body"), ENDPOINTS, ids=["commands", "interactions", "events"])
async def test_a_bad_signature_gets_401_and_does_nothing(slack: SlackDriver, path: str, body: bytes,
                                                         kind: str) -> None:
    before, calls = counts(slack.stack.engine), len(slack.fake.calls)
    response = await slack.post(path, body, BAD[kind](body))
    assert response.status_code == 401, response.text
    assert "detail" in response.json()
    assert counts(slack.stack.engine) == before and len(slack.fake.calls) == calls


@pytest.mark.parametrize(("path", "body"), ENDPOINTS, ids=["commands", "interactions", "events"])
async def test_a_body_changed_after_signing_gets_401(slack: SlackDriver, path: str, body: bytes) -> None:
    headers = signed_headers(body)
    changed = body.replace(b"dana", b"pat").replace(PEOPLE["pat"].slack_id.encode(), b"U0MALLORY") + b"&x=1"
    response = await slack.post(path, changed, headers)
    assert response.status_code == 401


async def test_a_body_that_is_not_utf8_gets_401(slack: SlackDriver) -> None:
    body = b"payload=\xff\xfe"
    response = await slack.post("/slack/interactions", body, signed_headers(b"payload="))
    assert response.status_code == 401
    ts = str(int(time.time()))  # even "signed": the verifier cannot read it, so it cannot be Slack's
    response = await slack.post("/slack/interactions", body, {"X-Slack-Request-Timestamp": ts,
                                                              "X-Slack-Signature": "v0=00"})
    assert response.status_code == 401


async def test_the_same_signed_request_twice_does_nothing_the_second_time(slack: SlackDriver) -> None:
    """Acknowledged like any request (the claim is made after the acknowledgement), and nothing more is
    done: see test_replays.py for every kind of request and a second API process."""
    hook, url = slack.stack.sink.url()
    body = urlencode({"command": "/conflict", "text": "mine", "user_id": PEOPLE["dana"].slack_id,
                      "response_url": url}).encode()
    headers = signed_headers(body)
    assert (await slack.post("/slack/commands", body, headers)).status_code == 200
    await eventually(lambda: slack.stack.sink.of(hook), what="the answer")
    replay = await slack.post("/slack/commands", body, headers)
    assert replay.status_code == 200 and not replay.content
    await asyncio.sleep(0.5)
    assert len(slack.stack.sink.of(hook)) == 1


async def test_the_verifier_clock_is_injectable(slack: SlackDriver) -> None:
    body = urlencode({"command": "/conflict", "text": "help", "user_id": PEOPLE["dana"].slack_id}).encode()
    slack.stack.clock.offset = 3600  # the app believes it is an hour later
    assert (await slack.post("/slack/commands", body, signed_headers(body))).status_code == 401
    later = int(time.time()) + 3600 - 200  # signed 200 s before the app's "now"
    assert (await slack.post("/slack/commands", body, signed_headers(body, timestamp=later))).status_code == 200
    slack.stack.clock.offset = 0


async def test_url_verification_is_answered(slack: SlackDriver) -> None:
    response = await slack.event({"type": "url_verification", "token": "legacy", "challenge": "3eZbrw1aBm2rZgRNFdxV"})
    assert response.status_code == 200 and response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}
    raw = json.dumps({"type": "url_verification", "challenge": "x"}).encode()
    unsigned = await slack.post("/slack/events", raw, {"Content-Type": "application/json"})
    assert unsigned.status_code == 401


def test_signing_matches_slacks_documented_example() -> None:
    """The example of Slack's 'Verifying requests from Slack' page, byte for byte."""
    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRsk"
            b"XaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    expected = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    assert signature(SECRET, "1531420618", body) == expected

    class Then(Clock):
        def now(self) -> float:
            return 1531420618 + 299

    assert SignatureVerifier(SECRET, Then()).is_valid(body, "1531420618", expected)
    Then.now = lambda self: 1531420618 + 301  # type: ignore[method-assign]
    assert not SignatureVerifier(SECRET, Then()).is_valid(body, "1531420618", expected)
