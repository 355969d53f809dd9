"""Registrations in Slack (DESIGN §6), driven only as Slack drives the app: `/conflict register` and its
form, `/conflict registrations`, the routed mediator's Approve and Reject buttons, and the early
warning's "File a conflict" button. Every test runs on SQLite and on PostgreSQL, against the real app,
worker and Temporal dev server, with the local fake Slack; each uses accounts of its own, so that no
test's registrations overlap another's.

The fast charter: approval SLA 4 s (a reminder to the mediator at 2 s, then the executive is told; the
registration stays pending), protection 12 s. Nothing here waits on those clocks.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import Engine, select
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from store.tables import REGISTRATIONS
from store.users import issue_token, user_by_email
from tests.harness.waiting import eventually
from tests.pg import fresh_database
from tests.slack.harness import PEOPLE, Sent, SlackDriver, Stack, another_api, events, slack_stack

APPROVE, REJECT, FILE = "reg:approve", "reg:reject", "reg:file"


@pytest_asyncio.fixture(scope="module", loop_scope="session", params=["sqlite", "postgresql"])
async def stack(request: pytest.FixtureRequest, temporal_env: WorkflowEnvironment,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """This module's stack, once per store (overrides conftest's SQLite-only one)."""
    data_dir = tmp_path_factory.mktemp("slack-registrations")
    if request.param == "sqlite":
        async with slack_stack(temporal_env, data_dir) as running:
            yield running
        return
    with fresh_database(request.getfixturevalue("pg_server"), "parley_slack_reg") as url:
        async with slack_stack(temporal_env, data_dir, database_url=url) as running:
            yield running


def account_name() -> str:
    """An account no other test's registration resembles (letters only: no shared match keys)."""
    return "".join(chr(ord("a") + int(c, 16)) for c in uuid.uuid4().hex[:10]).title() + " GmbH"


def form_values(account: str, **fields: str) -> dict[str, str]:
    return {"account": account, "account_domain": f"{account.split()[0].lower()}.example", "title": "Renewal 2031",
            "deal_value": "120000", "currency": "EUR", "region": "EMEA", "segment": "enterprise",
            "expected_close": "2031-06-30", "external_ref": f"CRM-{uuid.uuid4().hex[:8]}", **fields}


def reg_status(engine: Engine, registration_id: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(REGISTRATIONS.c.status).where(REGISTRATIONS.c.id == registration_id)).scalar()


def token_of(engine: Engine, who: str) -> str:
    with Session(engine) as session:
        user = user_by_email(session, PEOPLE[who].email)
        assert user is not None
        secret = issue_token(session, user, label="test").secret
        session.commit()
    return secret


async def api_get(slack: SlackDriver, who: str, path: str) -> Any:
    answer = await slack.stack.http.get(path, headers={"Authorization": f"Bearer {token_of(slack.stack.engine, who)}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def elements(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]]


async def dm_with(slack: SlackDriver, who: str, registration_id: str, action_id: str) -> dict[str, Any]:
    """The newest DM to `who` with the button `action_id` about the registration."""
    def probe() -> dict[str, Any] | None:
        found = [m for m in slack.dms(who) if any(e["action_id"] == action_id and
                                                  str(e["value"]).startswith(registration_id) for e in elements(m))]
        return found[-1] if found else None

    message: dict[str, Any] = await eventually(probe, what=f"a DM to {who} with {action_id} on {registration_id}")
    return message


async def press(slack: SlackDriver, who: str, message: dict[str, Any], action_id: str, *,
                user_id: str | None = None) -> Sent:
    """The block_actions payload Slack sends when `who` presses the button on the message."""
    element, block_id = next((e, b["block_id"]) for b in message["blocks"] if b["type"] == "actions"
                             for e in b["elements"] if e["action_id"] == action_id)
    hook, url = slack.stack.sink.url()
    trigger = f"trig-{uuid.uuid4().hex}"
    user = user_id or PEOPLE[who].slack_id
    payload = {
        "type": "block_actions", "api_app_id": "A0PARLEY", "token": "legacy", "trigger_id": trigger,
        "team": {"id": "T0FAKE", "domain": "fake"}, "user": {"id": user, "username": who, "team_id": "T0FAKE"},
        "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"],
                      "is_ephemeral": False},
        "channel": {"id": message["channel"], "name": "directmessage"}, "response_url": url,
        "message": {"type": "message", "ts": message["ts"], "text": message["text"], "blocks": message["blocks"],
                    "user": slack.fake.bot_user_id},
        "actions": [{"type": "button", "action_id": action_id, "block_id": block_id, "text": element["text"],
                     "value": element["value"], "action_ts": f"{time.time():.6f}"}],
    }
    response = await slack.interact(payload)
    assert response.status_code == 200 and not response.content, response.text
    return Sent(response, hook, trigger)


async def register(slack: SlackDriver, who: str, values: dict[str, str]) -> tuple[str, Sent, dict[str, Any]]:
    """`/conflict register`, fill the form, submit: the new registration's id, the command, the answer."""
    sent = await slack.command(who, "register")
    assert sent.response.status_code == 200 and not sent.response.content, sent.response.text
    modal = await slack.modal(sent)
    assert modal["callback_id"] == "parley:register"
    answer = await slack.submit(who, modal, values)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    assert body.get("response_action") == "update", body
    text = json.dumps(body["view"])
    registration_id = text[text.index("REG-"):text.index("REG-") + 12]
    slack.stack.filed.append(registration_id)  # its workflow is terminated after the test
    return registration_id, sent, body


async def message_now(slack: SlackDriver, message: dict[str, Any], *mentions: str) -> str:
    """The message as it reads once its buttons gave way to the outcome."""
    def probe() -> str | None:
        now = next((m for m in slack.fake.messages(str(message["channel"])) if m["ts"] == message["ts"]), None)
        text = json.dumps(now["blocks"]) if now is not None and not elements(now) else ""
        return text if text and all(m in text for m in mentions) else None

    text: str = await eventually(probe, what=f"the pressed message to say {mentions}")
    return text


# --- /conflict register, /conflict registrations ---------------------------------------------------------

async def test_register_through_the_form_then_list(slack: SlackDriver) -> None:
    help_text = json.dumps((await slack.command("dana", "help")).response.json()["blocks"])
    assert "/conflict register" in help_text and "/conflict registrations" in help_text

    account = account_name()
    values = form_values(account, title="Zenith renewal")
    registration_id, sent, body = await register(slack, "dana", values)
    said = json.dumps(body["view"])
    assert "approved" in said and values["external_ref"] in said and "No other live registration" in said

    listed = await api_get(slack, "dana", "/api/registrations?mine=true")
    mine = next(r for r in listed if r["id"] == registration_id)
    assert (mine["account"], mine["title"], mine["deal_value"], mine["currency"], mine["region"], mine["segment"],
            mine["expected_close"], mine["ref"], mine["owner"]) == (
        account, "Zenith renewal", 120000, "EUR", "EMEA", "enterprise", "2031-06-30", values["external_ref"],
        PEOPLE["dana"].email)
    assert events(slack.stack.engine, registration_id)[0] == (PEOPLE["dana"].email, "submitted")
    confirmation = await slack.answer(sent)  # where /conflict register was typed, ephemeral
    assert registration_id in confirmation and "approved" in confirmation

    listing = await slack.answer(await slack.command("dana", "registrations"))
    assert registration_id in listing and "Zenith renewal" in listing and "yours" in listing
    hidden = await slack.answer(await slack.command("quinn", "registrations"))  # another partner organisation
    assert registration_id not in hidden


async def test_field_errors_come_back_in_the_form(slack: SlackDriver) -> None:
    sent = await slack.command("pat", "register")
    modal = await slack.modal(sent)
    before = len(await api_get(slack, "pat", "/api/registrations?mine=true"))

    bad = form_values(account_name(), account_domain="not a domain", title="x", deal_value="-5")
    del bad["region"]
    answer = (await slack.submit("pat", modal, bad)).json()
    assert answer["response_action"] == "errors"
    assert set(answer["errors"]) == {"account_domain", "title", "deal_value", "region"}, answer
    assert "domain" in answer["errors"]["account_domain"]

    refused = (await slack.submit("mediator", await slack.modal(await slack.command("mediator", "register")),
                                  form_values(account_name()))).json()
    assert refused["response_action"] == "update" and "only reps register deals" in json.dumps(refused["view"])
    assert len(await api_get(slack, "pat", "/api/registrations?mine=true")) == before


async def test_a_form_submitted_twice_on_two_api_processes_registers_once(slack: SlackDriver) -> None:
    modal = await slack.modal(await slack.command("dana", "register"))
    values = form_values(account_name())
    async with another_api(slack.stack) as elsewhere:
        there = SlackDriver(elsewhere)
        answers = await asyncio.gather(slack.post("/slack/interactions", slack.submission("dana", modal, values)),
                                       there.post("/slack/interactions", there.submission("dana", modal, values)))
    texts = [json.dumps(a.json()) for a in answers]
    slack.stack.filed.extend(t[t.index("REG-"):t.index("REG-") + 12] for t in texts if "REG-" in t)
    assert sum("nothing more was recorded" in t.lower() for t in texts) == 1, texts
    listed = await api_get(slack, "dana", f"/api/registrations?mine=true&account={values['account'].split()[0]}")
    assert len(listed) == 1


# --- Approve, Reject ---------------------------------------------------------------------------------------

async def test_the_routed_mediator_approves_once_from_the_dm(slack: SlackDriver) -> None:
    registration_id, _, body = await register(slack, "pat", form_values(account_name()))
    assert "pending" in json.dumps(body["view"]) and "awaits a mediator" in json.dumps(body["view"])
    message = await dm_with(slack, "mediator", registration_id, APPROVE)
    assert [e["action_id"] for e in elements(message)] == [APPROVE, REJECT]
    assert "EUR\u00a0120,000.00" in json.dumps(message["blocks"], ensure_ascii=False)  # what is at stake

    stranger = await press(slack, "exec", message, APPROVE)  # not routed for EMEA: the service refuses
    refusal = await slack.answer(stranger)
    assert "only a mediator routed for EMEA (mediator@example.com) or an admin can approve" in refusal
    assert slack.stack.sink.of(stranger.hook or "")[-1]["response_type"] == "ephemeral"
    assert reg_status(slack.stack.engine, registration_id) == "pending"

    async with another_api(slack.stack) as elsewhere:  # a double press, landing on two API processes
        presses = await asyncio.gather(press(slack, "mediator", message, APPROVE),
                                       press(SlackDriver(elsewhere), "mediator", message, APPROVE))
        await eventually(lambda: reg_status(slack.stack.engine, registration_id) == "approved", what="approval")
        second = await eventually(lambda: slack.answers(presses[0]) + slack.answers(presses[1]),
                                  what="an answer to the second press")
    assert "nothing more was recorded" in " ".join(second).lower(), second
    await message_now(slack, message, "Approved by Mia Mediator", "mediator@example.com")
    await asyncio.sleep(0.5)  # anything the second press wrongly set off would show by now
    decided = [e for e in events(slack.stack.engine, registration_id) if e[1] == "approved"]
    assert decided == [(PEOPLE["mediator"].email, "approved")]
    shown = await api_get(slack, "pat", f"/api/registrations/{registration_id}")
    assert shown["status"] == "approved" and shown["protected_until"] is not None


async def test_a_button_pressed_after_a_decision_elsewhere_says_where_it_stands(slack: SlackDriver) -> None:
    registration_id, _, _ = await register(slack, "pat", form_values(account_name()))
    message = await dm_with(slack, "mediator", registration_id, APPROVE)
    token = token_of(slack.stack.engine, "mediator")
    decided = await slack.stack.http.post(f"/api/registrations/{registration_id}/actions", json={"action": "approve"},
                                          headers={"Authorization": f"Bearer {token}"})
    assert decided.status_code == 200, decided.text

    late = await press(slack, "mediator", message, APPROVE)  # approved on the web meanwhile
    assert "has moved on" in await slack.answer(late)
    await message_now(slack, message, f"{registration_id} is approved by mediator@example.com")
    assert [e for e in events(slack.stack.engine, registration_id) if e[1] == "approved"] == [
        (PEOPLE["mediator"].email, "approved")]


async def test_reject_asks_for_the_reason_in_a_form(slack: SlackDriver) -> None:
    registration_id, _, _ = await register(slack, "pat", form_values(account_name()))
    message = await dm_with(slack, "mediator", registration_id, REJECT)

    not_theirs = await press(slack, "exec", message, REJECT)  # sees every registration, decides none
    assert "not open to you" in await slack.answer(not_theirs)
    assert not [c for c in slack.fake.calls_to("views.open") if c.args.get("trigger_id") == not_theirs.trigger_id]

    modal = await slack.modal(await press(slack, "mediator", message, REJECT))
    assert modal["callback_id"] == "parley:registration-reject" and registration_id in json.dumps(modal["blocks"])
    empty = (await slack.submit("mediator", modal, {})).json()
    assert empty["response_action"] == "errors" and set(empty["errors"]) == {"reason"}
    done = (await slack.submit("mediator", modal, {"reason": "Duplicate of an older registration"})).json()
    assert done["response_action"] == "update" and "Rejected by Mia Mediator" in json.dumps(done["view"])

    assert reg_status(slack.stack.engine, registration_id) == "rejected"
    assert [e for e in events(slack.stack.engine, registration_id) if e[1] == "rejected"] == [
        (PEOPLE["mediator"].email, "rejected")]
    await message_now(slack, message, "Rejected by Mia Mediator", "Duplicate of an older registration")
    await eventually(lambda: [m for m in slack.dms("pat") if registration_id in m["text"] and "rejected" in m["text"]],
                     what="pat to hear of the rejection")


# --- the early warning ---------------------------------------------------------------------------------------

async def test_an_early_warning_offers_a_prefilled_filing_form(slack: SlackDriver) -> None:
    account = account_name()
    direct, _, _ = await register(slack, "dana", form_values(account))
    partner, _, body = await register(slack, "pat", form_values(account, title="Partner deal"))
    assert "Early warning" in json.dumps(body["view"]) and direct in json.dumps(body["view"])

    warned = await dm_with(slack, "dana", direct, FILE)
    assert partner in warned["text"] and "Early warning" in warned["text"]
    sent = await press(slack, "dana", warned, FILE)
    modal = await slack.modal(sent)
    assert modal["callback_id"] == "parley:file"
    assert json.loads(modal["private_metadata"])["registration_ids"] == [direct, partner]
    initial = {b["block_id"]: b["element"] for b in modal["blocks"] if b["type"] == "input"}
    assert initial["account"]["initial_value"] == account and account in initial["title"]["initial_value"]
    assert initial["counterparty"]["initial_user"] == PEOPLE["pat"].slack_id  # the other registration's owner
    assert initial["conflict_type"]["initial_option"]["value"] == "registration_overlap"

    # the partner owner is warned too; a partner never sees a direct opportunity, so they pick the other rep
    theirs = await dm_with(slack, "pat", partner, FILE)
    modal = await slack.modal(await press(slack, "pat", theirs, FILE))
    assert json.loads(modal["private_metadata"])["registration_ids"] == [partner, direct]
    assert not next(b for b in modal["blocks"] if b.get("block_id") == "counterparty")["element"].get("initial_user")

    # the routed mediator hears of it too, without a filing button: mediators do not file
    told = await eventually(lambda: [m for m in slack.dms("mediator") if "Early warning" in m["text"]
                                     and partner in m["text"]], what="the mediator's early warning")
    assert all(FILE not in [e["action_id"] for e in elements(m)] for m in told)
    shown = await api_get(slack, "pat", f"/api/registrations/{partner}")
    assert [o["registration_id"] for o in shown["overlaps"]] == [direct]
