"""Replays, re-sent events and double presses take effect once across API processes and restarts:
their claims live in the store (`once_keys`), never in one process's memory. Every test here runs on
SQLite and on PostgreSQL, with a second API process (`another_api`: its own application and memory,
the same store) started after the first request, as behind a load balancer or after a restart.

Whatever its headers (Slack retries only Events API deliveries, so an `X-Slack-Retry-Num` on a command
or an interaction proves nothing), a replayed request is acknowledged like any other and does nothing:
the request is claimed in the store when its work is about to start, after the acknowledgement, and
the work of the one that loses never starts. A replayed form submission, whose answer waits for its
work, gets 401. A re-sent event gets 200 (Slack would otherwise keep retrying it) and is not handled
again.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.slack import guards
from tests.pg import fresh_database
from tests.slack.harness import (
    PEOPLE,
    STRANGER,
    SlackDriver,
    Stack,
    another_api,
    counts,
    events,
    eventually,
    signed_headers,
    slack_stack,
    status,
)

PROPOSAL = {"owner": "co_sell", "credit_direct": "50"}
FILING = {"title": "Initech renewal claimed twice", "counterparty": PEOPLE["pat"].slack_id,
          "conflict_type": "account_ownership", "account": "Initech", "deal_value": "90000", "currency": "USD",
          "region": "AMER", "description": "Both teams are quoting the Initech renewal."}
RETRY = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["sqlite", "postgresql"])
async def stack(request: pytest.FixtureRequest, temporal_env: WorkflowEnvironment,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """This module's stack, once per store (overrides conftest's SQLite-only one)."""
    data_dir = tmp_path_factory.mktemp("slack")
    if request.param == "sqlite":
        async with slack_stack(temporal_env, data_dir) as running:
            yield running
        return
    with fresh_database(request.getfixturevalue("pg_server"), "parley_slack") as url:
        async with slack_stack(temporal_env, data_dir, database_url=url) as running:
            yield running


def proposals(slack: SlackDriver, dispute_id: str) -> int:
    return [action for _, action in events(slack.stack.engine, dispute_id)].count("proposed")


async def proposal_form(slack: SlackDriver) -> tuple[str, dict[str, Any]]:
    """A dispute of dana against pat, and the proposal modal pat opened from `/conflict status` (an
    ephemeral message: the modal's submission is tied to the modal itself, not to a message)."""
    dispute_id = await slack.file("dana", against="pat")
    message, _ = await slack.status_message("pat", dispute_id)
    pressed = await slack.press("pat", message, "propose", ephemeral=True)
    return dispute_id, await slack.modal(pressed)


def command_body(who: str, text: str, response_url: str) -> bytes:
    return urlencode({"token": "legacy", "team_id": "T0FAKE", "channel_id": "C0GENERAL",
                      "user_id": PEOPLE[who].slack_id, "command": "/conflict", "text": text,
                      "response_url": response_url, "trigger_id": f"trig-{uuid.uuid4().hex}"}).encode()


def refused_as_replay(response: httpx.Response) -> bool:
    return response.status_code == 401 and "already received" in response.json()["detail"]


def acknowledged_only(response: httpx.Response) -> bool:
    """200 and an empty body: acknowledged; whatever it did (nothing, for a replay) happens afterwards."""
    return response.status_code == 200 and not response.content


async def settle() -> None:
    """Give anything a wrongly accepted request set off the time to show."""
    await asyncio.sleep(0.5)


# --- replays ---------------------------------------------------------------------------------------------

async def test_a_command_replayed_as_a_retry_does_nothing_here_or_elsewhere(slack: SlackDriver) -> None:
    hook, url = slack.stack.sink.url()
    body = command_body("dana", "mine", url)
    headers = signed_headers(body)
    assert (await slack.post("/slack/commands", body, headers)).status_code == 200
    await eventually(lambda: slack.stack.sink.of(hook), what="the answer to /conflict mine")

    assert acknowledged_only(await slack.post("/slack/commands", body, {**headers, **RETRY}))
    async with another_api(slack.stack) as elsewhere:
        there = SlackDriver(elsewhere)
        assert acknowledged_only(await there.post("/slack/commands", body, headers))
        assert acknowledged_only(await there.post("/slack/commands", body, {**headers, **RETRY}))
        await settle()
    assert len(slack.stack.sink.of(hook)) == 1


async def test_a_submission_replayed_as_a_retry_is_recorded_once(slack: SlackDriver) -> None:
    dispute_id, form = await proposal_form(slack)
    body = slack.submission("pat", form, PROPOSAL)
    headers = signed_headers(body)
    first = await slack.post("/slack/interactions", body, headers)
    assert first.status_code == 200 and "proposed a resolution" in first.text, first.text

    assert refused_as_replay(await slack.post("/slack/interactions", body, {**headers, **RETRY}))
    await settle()
    assert proposals(slack, dispute_id) == 1


async def test_a_submission_replayed_to_another_api_process_is_recorded_once(slack: SlackDriver) -> None:
    dispute_id, form = await proposal_form(slack)
    body = slack.submission("pat", form, PROPOSAL)
    headers = signed_headers(body)
    assert (await slack.post("/slack/interactions", body, headers)).status_code == 200

    async with another_api(slack.stack) as elsewhere:  # started after the request: a restart, or a peer
        there = SlackDriver(elsewhere)
        assert refused_as_replay(await there.post("/slack/interactions", body, headers))
        assert refused_as_replay(await there.post("/slack/interactions", body, {**headers, **RETRY}))
        await settle()
    assert proposals(slack, dispute_id) == 1


async def test_acknowledgements_do_not_wait_for_the_store(slack: SlackDriver,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    real, claimed = guards.first_request, []

    def slow(engine: Engine, request: str) -> bool:  # a store that takes 1 s to claim each request
        time.sleep(1.0)
        claimed.append(request)
        return real(engine, request)

    monkeypatch.setattr(guards, "first_request", slow)
    hook, url = slack.stack.sink.url()
    body = command_body("dana", "mine", url)
    headers = signed_headers(body)
    assert acknowledged_only(await slack.post("/slack/commands", body, headers)) and not claimed
    assert acknowledged_only(await slack.post("/slack/commands", body, {**headers, **RETRY})) and not claimed
    await eventually(lambda: slack.stack.sink.of(hook), what="the answer to /conflict mine")
    await eventually(lambda: len(claimed) == 2, what="both claims")
    await settle()
    assert len(slack.stack.sink.of(hook)) == 1

    # a submission's answer waits for its work anyway, so its replay still learns that it lost
    monkeypatch.setattr(guards, "first_request", real)  # (quick while the modal opens: the SLA is 4 s)
    dispute_id, form = await proposal_form(slack)
    monkeypatch.setattr(guards, "first_request", slow)
    body = slack.submission("pat", form, PROPOSAL)
    headers = signed_headers(body)
    assert "proposed a resolution" in (await slack.post("/slack/interactions", body, headers)).text
    assert refused_as_replay(await slack.post("/slack/interactions", body, {**headers, **RETRY}))
    await settle()
    assert proposals(slack, dispute_id) == 1


# --- double presses ----------------------------------------------------------------------------------------

async def test_a_double_press_on_two_api_processes_acts_once(slack: SlackDriver) -> None:
    dispute_id = await slack.file("dana", against="pat")
    await slack.act_via_modal("pat", dispute_id, "propose", PROPOSAL)
    offer = await slack.dm_with("dana", dispute_id, "accept")
    async with another_api(slack.stack) as elsewhere:
        there = SlackDriver(elsewhere)
        presses = await asyncio.gather(slack.press("dana", offer, "accept"), there.press("dana", offer, "accept"))
        assert [p.response.status_code for p in presses] == [200, 200]
        await eventually(lambda: status(slack.stack.engine, dispute_id) == "resolved", what="the acceptance")
        # the press that lost the claim says so (not the workflow's "has moved on": it never got that far)
        answers = await eventually(lambda: slack.answers(presses[0]) + there.answers(presses[1]),
                                   what="an answer to the second press")
    assert "nothing more was recorded" in " ".join(answers).lower(), answers
    await settle()
    assert [a for _, a in events(slack.stack.engine, dispute_id)].count("accepted") == 1


async def test_a_double_submission_on_two_api_processes_records_once(slack: SlackDriver) -> None:
    dispute_id, form = await proposal_form(slack)
    async with another_api(slack.stack) as elsewhere:
        there = SlackDriver(elsewhere)
        # two submissions of one modal (each its own signed request), landing on two API processes
        answers = await asyncio.gather(slack.post("/slack/interactions", slack.submission("pat", form, PROPOSAL)),
                                       there.post("/slack/interactions", there.submission("pat", form, PROPOSAL)))
        assert [a.status_code for a in answers] == [200, 200]
        texts = [json.dumps(a.json()) for a in answers]
        assert sum("nothing more was recorded" in t.lower() for t in texts) == 1, texts
        await eventually(lambda: proposals(slack, dispute_id) == 1, what="the proposal")
        await settle()
    assert proposals(slack, dispute_id) == 1


async def test_a_filing_form_submitted_twice_on_two_api_processes_files_once(slack: SlackDriver) -> None:
    modal = await slack.modal(await slack.command("dana"))
    filed_before = counts(slack.stack.engine)[0]
    # sent back with an error first: that gives the form's claim up, so the corrected form can file
    wrong = await slack.submit("dana", modal, {**FILING, "counterparty": STRANGER})
    assert wrong.json()["response_action"] == "errors", wrong.text
    async with another_api(slack.stack) as elsewhere:
        there = SlackDriver(elsewhere)
        answers = await asyncio.gather(slack.post("/slack/interactions", slack.submission("dana", modal, FILING)),
                                       there.post("/slack/interactions", there.submission("dana", modal, FILING)))
        texts = [json.dumps(a.json()) for a in answers]
        slack.stack.filed.extend(t[t.index("PRL-"):t.index("PRL-") + 12] for t in texts if "PRL-" in t)
        assert [a.status_code for a in answers] == [200, 200]
        assert sum("nothing more was recorded" in t.lower() for t in texts) == 1, texts
        await eventually(lambda: counts(slack.stack.engine)[0] == filed_before + 1, what="the filing")
        await settle()
    assert counts(slack.stack.engine)[0] == filed_before + 1


# --- Events API ---------------------------------------------------------------------------------------------

async def test_an_event_slack_sends_again_is_handled_once_by_any_api_process(slack: SlackDriver) -> None:
    exec_id = PEOPLE["exec"].slack_id

    def published() -> int:
        return len([c for c in slack.fake.calls_to("views.publish") if c.args.get("user_id") == exec_id])

    before = published()
    raw = json.dumps({"type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10]}",
                      "event_time": int(time.time()),
                      "event": {"type": "app_home_opened", "user": exec_id, "tab": "home"}}).encode()
    headers = signed_headers(raw, content_type="application/json")
    assert (await slack.post("/slack/events", raw, headers)).status_code == 200
    await eventually(lambda: published() == before + 1, what="the App Home")

    async with another_api(slack.stack) as elsewhere:
        there = SlackDriver(elsewhere)
        resent = signed_headers(raw, timestamp=int(time.time()) + 1, content_type="application/json")
        for path_headers in ({**resent, **RETRY}, {**headers, **RETRY}, headers):  # Slack's retry; replays
            assert (await there.post("/slack/events", raw, path_headers)).status_code == 200
        assert (await slack.post("/slack/events", raw, {**resent, "X-Slack-Retry-Num": "2"})).status_code == 200
        await settle()
    assert published() == before + 1
