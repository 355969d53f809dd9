"""The claims behind replay, re-sent event and double-press protection (`api.slack.guards`), on SQLite
and PostgreSQL: what a second caller is told, abandoned claims, and the occasional purge."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from api.slack import guards
from api.slack.client import SlackClient
from settings import Settings
from store import once

T0 = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)


def test_a_signed_request_is_claimed_once(engine: Engine) -> None:
    request = guards.request_id("1531420618", "v0=abc")
    assert request != guards.request_id("1531420619", "v0=abc") != guards.request_id("1531420618", "v0=abd")
    with ThreadPoolExecutor(8) as pool:
        wins = list(pool.map(lambda _: guards.first_request(engine, request), range(16)))
    assert wins.count(True) == 1


def test_an_event_is_claimed_by_its_id(engine: Engine) -> None:
    event = {"type": "event_callback", "event_id": "Ev0123", "event": {"type": "app_home_opened"}}
    assert guards.first_event(engine, event, "request-1")
    assert not guards.first_event(engine, event, "request-2")  # re-sent by Slack: re-signed, same event id
    without_id = {"type": "event_callback", "event": {}}
    assert guards.first_event(engine, without_id, "request-3") and not guards.first_event(engine, without_id,
                                                                                           "request-3")
    challenge = {"type": "url_verification", "challenge": "x"}
    assert guards.first_event(engine, challenge, "request-4") and guards.first_event(engine, challenge, "request-4")


def test_a_press_acts_once_and_the_second_is_told_why(engine: Engine) -> None:
    key = guards.press_key("U0DANA", "message:D0:1.2", "accept", "PRL-0000ABCD")
    assert key is not None and guards.press_key("U0DANA", None, "accept", "PRL-0000ABCD") is None
    assert key != guards.press_key("U0PAT", "message:D0:1.2", "accept", "PRL-0000ABCD")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: guards.claim_press(engine, key, now=T0), range(16)))
    assert answers.count(None) == 1 and set(answers) == {None, guards.BUSY_TEXT}
    assert guards.already(engine, key, now=T0) == guards.BUSY_TEXT
    once.settle(engine, key, 200, "Dana accepted")
    assert guards.claim_press(engine, key, now=T0) == "Already handled: Dana accepted. Nothing more was recorded."
    assert guards.already(engine, key, now=T0 + guards.BUSY * 10) is not None  # settled: remembered


def test_a_refused_press_gives_its_claim_up(engine: Engine) -> None:
    key = guards.press_key("U0DANA", "view:V1:h1", "propose", "PRL-0000ABCD")
    assert key is not None and guards.claim_press(engine, key, now=T0) is None
    once.release(engine, key)
    assert guards.already(engine, key, now=T0) is None and guards.claim_press(engine, key, now=T0) is None


def test_a_claim_its_process_abandoned_is_taken_over(engine: Engine) -> None:
    key = "press:abandoned"
    assert guards.claim_press(engine, key, now=T0) is None  # ... and the process died before settling it
    assert guards.claim_press(engine, key, now=T0 + guards.BUSY - timedelta(seconds=1)) == guards.BUSY_TEXT
    assert guards.already(engine, key, now=T0 + guards.BUSY) is None
    assert guards.claim_press(engine, key, now=T0 + guards.BUSY) is None
    assert guards.claim_press(engine, key, now=T0 + guards.BUSY) == guards.BUSY_TEXT


async def test_expired_claims_are_purged_now_and_then(engine: Engine) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=30)
    assert once.claim(engine, "slack:old", "slack", guards.REPLAY_TTL, now=long_ago)
    service = SlackClient(Settings(slack_signing_secret="s"))
    service.tidy(engine)
    await asyncio.wait(set(service.tasks), timeout=5)
    assert once.recall(engine, "slack:old") is None
    assert once.claim(engine, "slack:old-too", "slack", guards.REPLAY_TTL, now=long_ago)
    service.tidy(engine)  # not again so soon: purging is occasional, never per request
    assert not service.tasks
    assert once.recall(engine, "slack:old-too") is not None
