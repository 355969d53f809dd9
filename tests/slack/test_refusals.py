"""Whoever may not do something is told why, ephemerally, and nothing is recorded: unknown people,
people without the right, stale or doubled buttons, malformed payloads and invalid forms."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.slack.harness import (
    NO_EMAIL,
    PEOPLE,
    STRANGER,
    SlackDriver,
    counts,
    events,
    eventually,
    forget_presses,
    pending_notices,
    status,
)

FILING = {"title": "Globex overlap", "conflict_type": "account_ownership", "account": "Globex",
          "deal_value": "120000", "currency": "USD", "region": "AMER", "description": "Both teams quote."}


async def proposed(slack: SlackDriver) -> tuple[str, dict[str, Any]]:
    """A dispute of dana against pat with pat's open proposal; dana's DM offering to accept it."""
    dispute_id = await slack.file("dana", against="pat")
    await slack.act_via_modal("pat", dispute_id, "propose", {"owner": "co_sell", "credit_direct": "50"})
    return dispute_id, await slack.dm_with("dana", dispute_id, "accept")


# --- who is asking ------------------------------------------------------------------------------------

@pytest.mark.parametrize("slack_id", [STRANGER, NO_EMAIL, "U0NOSUCH"])
async def test_someone_parley_does_not_know_is_told_and_nothing_opens(slack: SlackDriver, slack_id: str) -> None:
    before, opened = counts(slack.stack.engine), len(slack.fake.calls_to("views.open"))
    sent = await slack.command("dana", user_id=slack_id)
    assert sent.response.status_code == 200
    answer = await slack.answer(sent)
    assert "nothing was recorded" in answer
    if slack_id == STRANGER:
        assert "stranger@elsewhere.example" in answer and "admin" in answer
    assert len(slack.fake.calls_to("views.open")) == opened and counts(slack.stack.engine) == before


async def test_an_unknown_person_pressing_a_button_is_told(slack: SlackDriver) -> None:
    dispute_id, offer = await proposed(slack)
    before = events(slack.stack.engine, dispute_id)
    sent = await slack.press("dana", offer, "accept", user_id=STRANGER)
    assert "Parley has no user with your Slack e-mail" in await slack.answer(sent)
    assert events(slack.stack.engine, dispute_id) == before and status(slack.stack.engine, dispute_id) == "frontline"


async def test_only_reps_file(slack: SlackDriver) -> None:
    sent = await slack.command("mediator")
    assert "Only reps file conflicts" in await slack.answer(sent)
    assert not [c for c in slack.fake.calls_to("views.open") if c.args.get("trigger_id") == sent.trigger_id]


@pytest.mark.parametrize(("who", "button", "why"), [
    ("quinn", "accept", "no dispute"),  # another partner organisation cannot even see it
    ("auditor", "accept", "auditors have read-only access"),
    ("pat", "accept", "you cannot accept your own proposal"),
    ("dana", "approve", "only the assigned mediator"),  # a forged button: the validator decides
    ("exec", "resume", "no dispute"),  # the executive sees disputes only once they reach tier 3
])
async def test_someone_without_the_right_is_told_and_nothing_is_recorded(slack: SlackDriver, who: str,
                                                                        button: str, why: str) -> None:
    dispute_id, offer = await proposed(slack)
    before = events(slack.stack.engine, dispute_id)
    forged = json.loads(json.dumps(offer).replace("act:accept", f"act:{button}"))
    sent = await slack.press(who, forged, button)
    assert sent.response.status_code == 200
    answer = await slack.answer(sent)
    assert "Nothing was recorded" in answer and why in answer, answer
    assert events(slack.stack.engine, dispute_id) == before


async def test_someone_without_the_right_gets_no_modal(slack: SlackDriver) -> None:
    dispute_id, offer = await proposed(slack)
    forged = json.loads(json.dumps(offer).replace("act:accept", "act:rule"))
    sent = await slack.press("pat", forged, "rule")
    answer = await slack.answer(sent)
    assert "is not open to you" in answer and "frontline" in answer
    assert not [c for c in slack.fake.calls_to("views.open") if c.args.get("trigger_id") == sent.trigger_id]


# --- stale and doubled buttons -------------------------------------------------------------------------

async def test_a_button_pressed_twice_acts_once(slack: SlackDriver) -> None:
    dispute_id, offer = await proposed(slack)
    first, second = await asyncio.gather(slack.press("dana", offer, "accept"), slack.press("dana", offer, "accept"))
    assert first.response.status_code == second.response.status_code == 200
    await eventually(lambda: status(slack.stack.engine, dispute_id) == "resolved", what="the acceptance")
    again = await slack.answer(second if slack.answers(second) else first)
    assert "Nothing" in again or "nothing more was recorded" in again
    assert [a for _, a in events(slack.stack.engine, dispute_id)].count("accepted") == 1


async def test_a_stale_button_is_refused_clearly(slack: SlackDriver) -> None:
    dispute_id, offer = await proposed(slack)
    _, pressed = await slack.click("dana", dispute_id, "accept")
    await eventually(lambda: status(slack.stack.engine, dispute_id) == "resolved", what="the acceptance")
    recorded = events(slack.stack.engine, dispute_id)

    # the same message again: the store remembers it (for every API process: see test_replays.py)
    again = await slack.press("dana", offer, "accept")
    assert "Already handled" in await slack.answer(again)
    # once that claim has expired: the workflow's validator refuses it
    forget_presses(slack.stack.engine)
    elsewhere = await slack.press("dana", offer, "accept")
    assert "has moved on" in await slack.answer(elsewhere) and "resolved" in await slack.answer(elsewhere)
    # an older message whose moment has passed: the modal does not even open
    old = next(m for m in slack.dms("pat") if slack.about(m, dispute_id) and m["ts"] < offer["ts"])
    stale = await slack.press("pat", {**old, "blocks": offer["blocks"]}, "propose")
    assert "is not open to you" in await slack.answer(stale)
    assert events(slack.stack.engine, dispute_id) == recorded
    assert pressed.response.status_code == 200


async def test_a_refused_press_refreshes_the_buttons(slack: SlackDriver) -> None:
    dispute_id, offer = await proposed(slack)
    # nobody accepts in time: at the frontline SLA (4 s) the dispute moves to mediation by itself
    await eventually(lambda: status(slack.stack.engine, dispute_id) == "mediation", what="mediation")

    def message() -> dict[str, Any]:
        return next(m for m in slack.fake.messages(offer["channel"]) if m["ts"] == offer["ts"])

    # the escalation's delivery sends its notices, then takes the buttons off the earlier DMs: the press comes
    # after that (an escalation delivered later, under load, would take the refreshed buttons off again)
    await eventually(lambda: pending_notices(slack.stack.engine, dispute_id) == 0 and not slack.buttons(message()),
                     timeout=60, what="the escalation's notices and the offer's buttons taken off")
    sent = await slack.press("dana", offer, "accept")  # the offer as it was: a stale button
    assert "has moved on" in await slack.answer(sent)

    def refreshed() -> list[str] | None:
        now = message()
        return slack.buttons(now) if "has moved on" in json.dumps(now["blocks"]) else None

    assert await eventually(refreshed, timeout=30, what="the message to show what is open now") == ["withdraw"]


# --- malformed requests ---------------------------------------------------------------------------------

MALFORMED = {
    "payload not JSON": urlencode({"payload": "{not json"}),
    "payload a JSON list": urlencode({"payload": "[1, 2]"}),
    "no payload": urlencode({"nothing": "here"}),
    "not a form": "%%%",
    "no actions": urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U0DANA"}})}),
    "actions not a list": urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U0DANA"},
                                                            "actions": {"a": 1}})}),
    "no user": urlencode({"payload": json.dumps({"type": "block_actions", "actions": [{"action_id": "act:accept"}]})}),
    "submission without view": urlencode({"payload": json.dumps({"type": "view_submission",
                                                                 "user": {"id": "U0DANA"}})}),
    "unknown type without user": urlencode({"payload": json.dumps({"type": "mystery"})}),
}


@pytest.mark.parametrize("kind", MALFORMED)
async def test_a_malformed_interaction_is_refused_without_a_500(slack: SlackDriver, kind: str) -> None:
    before = counts(slack.stack.engine)
    response = await slack.post("/slack/interactions", MALFORMED[kind].encode())
    assert response.status_code == 400, response.text
    assert "not a Slack request" in response.json()["detail"]
    assert counts(slack.stack.engine) == before


@pytest.mark.parametrize(("path", "body"), [
    ("/slack/commands", urlencode({"text": "mine"})),  # no user, no command
    ("/slack/events", "{not json"),
    ("/slack/events", "[]"),
])
async def test_malformed_commands_and_events_are_refused_without_a_500(slack: SlackDriver, path: str,
                                                                       body: str) -> None:
    response = await slack.post(path, body.encode())
    assert response.status_code == 400


@pytest.mark.parametrize("payload", [
    {"action_id": "act:frobnicate", "value": "PRL-0000ABCD"},
    {"action_id": "act:accept", "value": "not-a-dispute"},
    {"action_id": "act:accept", "value": "PRL-0000ABCD"},  # well formed, but no such dispute
])
async def test_an_unknown_button_gets_an_ephemeral_answer(slack: SlackDriver, payload: dict[str, str]) -> None:
    hook, url = slack.stack.sink.url()
    body = {"type": "block_actions", "user": {"id": PEOPLE["dana"].slack_id}, "response_url": url,
            "trigger_id": "t", "actions": [{**payload, "block_id": "b", "type": "button"}]}
    before = counts(slack.stack.engine)
    assert (await slack.interact(body)).status_code == 200
    answer = await eventually(lambda: slack.stack.sink.of(hook), what="an answer")
    assert "recorded" in answer[-1]["text"]
    assert counts(slack.stack.engine) == before


async def test_harmless_interactions_are_acknowledged(slack: SlackDriver) -> None:
    for payload in ({"type": "view_closed", "user": {"id": "U0DANA"}, "view": {}},
                    {"type": "block_actions", "user": {"id": "U0DANA"},
                     "actions": [{"action_id": "link:open", "url": "https://parley.example"}]},
                    {"type": "view_submission", "user": {"id": "U0DANA"}, "view": {"callback_id": "someone_else"}}):
        response = await slack.interact(payload)
        assert response.status_code == 200 and response.content == b""


# --- invalid forms: errors next to the fields -----------------------------------------------------------

@pytest.mark.parametrize(("changes", "block", "says"), [
    ({"title": "ab"}, "title", "at least 3 characters"),
    ({"deal_value": "0"}, "deal_value", "greater than 0"),
    ({"deal_value": "lots"}, "deal_value", "Enter a number"),
    ({"conflict_type": "discount_undercut"}, "opportunity_ref", "required for discount_undercut"),
    ({"conflict_type": "registration_overlap"}, "registration_ref", "required for registration_overlap"),
    ({"counterparty": STRANGER}, "counterparty", "not a Parley user"),
    ({"counterparty": PEOPLE["drew"].slack_id}, "counterparty", "between a direct rep and a partner rep"),
    ({"counterparty": PEOPLE["dana"].slack_id}, "counterparty", "against yourself"),
    ({"counterparty": PEOPLE["mediator"].slack_id}, "counterparty", "not a rep"),
])
async def test_an_invalid_filing_shows_errors_next_to_the_fields(slack: SlackDriver, changes: dict[str, str],
                                                                 block: str, says: str) -> None:
    sent = await slack.command("dana")
    modal = await slack.modal(sent)
    before = counts(slack.stack.engine)
    answer = await slack.submit("dana", modal, {**FILING, "counterparty": PEOPLE["pat"].slack_id, **changes})
    assert answer.status_code == 200
    body = answer.json()
    assert body["response_action"] == "errors", body
    assert says in body["errors"][block], body
    assert counts(slack.stack.engine) == before


@pytest.mark.parametrize(("button", "values", "block"), [
    ("propose", {"owner": "co_sell", "credit_direct": "150"}, "credit_direct"),
    ("propose", {"owner": "co_sell", "credit_direct": "50", "discount_cap_pct": "120"}, "discount_cap_pct"),
    ("escalate", {"reason": "   "}, "reason"),
])
async def test_an_invalid_action_form_shows_errors_next_to_the_fields(slack: SlackDriver, button: str,
                                                                      values: dict[str, str], block: str) -> None:
    dispute_id = await slack.file("dana", against="pat")
    before = events(slack.stack.engine, dispute_id)
    body = await slack.act_via_modal("pat", dispute_id, button, values)
    assert body["response_action"] == "errors" and block in body["errors"], body
    assert events(slack.stack.engine, dispute_id) == before


async def test_a_ruling_needs_a_real_rationale_and_valid_criteria(slack: SlackDriver) -> None:
    dispute_id = await slack.file("dana", against="pat", deal_value="6000000")  # starts in mediation
    values = {"owner": "partner", "credit_direct": "30", "win_direct": "1.5", "win_partner": "0.7",
              "ltv_direct": "1", "ltv_partner": "2", "fit_direct": "3", "fit_partner": "4", "rationale": "ok"}
    body = await slack.act_via_modal("mediator", dispute_id, "rule", values)
    assert body["response_action"] == "errors"
    assert "at least three words" in body["errors"]["rationale"] and "win_direct" in body["errors"]
    assert [a for _, a in events(slack.stack.engine, dispute_id)] == ["filed"]
