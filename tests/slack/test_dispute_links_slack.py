"""Disputes about registrations in Slack (DESIGN §6 "Linking"), driven as Slack drives the app: the
filing modal offers the rep's registrations and those overlapping them, a modal opened about a pair
(`filing_modal(registration_ids=…)`, or only `registration_ids` in its private_metadata) files it
linked, a second open dispute about the pair is refused next to the field with the existing one, and
the DMs, the case message, `/conflict status` and the ruling modal show both claims."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest_asyncio
from sqlalchemy import select
from sqlmodel import Session

from domain.registrations import RegistrationIn
from render.slack_modals import filing_modal
from service.registrations import Registrations
from store.charters import load_charter_file
from store.tables import DISPUTE_REGISTRATIONS
from store.users import user_by_email
from tests.harness.paths import FAST_CHARTER
from tests.slack.harness import CHANNEL, PEOPLE, SlackDriver, eventually, status, terminate

VALUES = {"title": "Registration overlap", "counterparty": str(PEOPLE["pat"].slack_id),
          "conflict_type": "registration_overlap", "deal_value": "90000", "currency": "EUR", "region": "EMEA",
          "description": "Both claim the account."}


@pytest_asyncio.fixture(loop_scope="session")
async def registered(slack: SlackDriver) -> AsyncIterator[list[str]]:
    """The registrations a test makes; their workflows end with it."""
    ids: list[str] = []
    yield ids
    await terminate(slack.stack.temporal, ids)


async def overlapping_pair(slack: SlackDriver, ids: list[str]) -> tuple[str, str, str]:
    """pat's partner registration (pending), then dana's direct opportunity for the same account."""
    word = "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:9]).capitalize()
    service = Registrations(slack.stack.app.state.service)
    for who, account in (("pat", f"{word} GmbH"), ("dana", f"{word} Ltd")):
        with Session(slack.stack.engine) as s:
            user = user_by_email(s, PEOPLE[who].email)
        assert user is not None
        body = RegistrationIn(account=account, title=f"{account} platform", deal_value=90_000, currency="EUR",
                              region="EMEA")
        ids.append(str((await service.register(user, body))["id"]))
    return ids[-2], ids[-1], word


async def submit(slack: SlackDriver, who: str, view: dict[str, Any], values: dict[str, str],
                 picked: list[str] | None) -> httpx.Response:
    """A view_submission whose "Registrations" block has `picked` chosen (as Slack sends a multi-select)."""
    slack.fake.views.setdefault(view["id"], view)  # Slack holds every open modal, made up here or not
    state = slack.state_of(view, values)
    if picked is not None:
        state["values"]["registrations"] = {"v": {"type": "multi_static_select", "selected_options": [
            {"text": {"type": "plain_text", "text": i}, "value": i} for i in picked]}}
    payload = {"type": "view_submission", "api_app_id": "A0PARLEY", "token": "legacy",
               "team": {"id": "T0FAKE", "domain": "fake"}, "trigger_id": f"trig-{uuid.uuid4().hex}",
               "user": {"id": PEOPLE[who].slack_id, "username": who, "team_id": "T0FAKE"},
               "view": {**view, "state": state}}
    return await slack.post("/slack/interactions", urlencode({"payload": json.dumps(payload)}).encode())


async def filed_id(slack: SlackDriver, view: dict[str, Any], answer: httpx.Response) -> str:
    """The dispute a filing modal's submission filed: in its answer, or, when the filing took longer than the
    answer may wait ("Working on it"), in the modal's update once it is filed."""
    body = answer.json()
    assert answer.status_code == 200 and body.get("response_action") == "update", answer.text
    text = json.dumps(body["view"])
    if "PRL-" not in text:
        assert "Working on it" in text, text

        def updated() -> str | None:
            shown = json.dumps(slack.current(view["id"]))
            return shown if "PRL-" in shown else None

        text = await eventually(updated, timeout=30, what="the filing modal to show the dispute filed")
    dispute_id = text[text.index("PRL-"):text.index("PRL-") + 12]
    slack.stack.filed.append(dispute_id)
    return dispute_id


def linked(slack: SlackDriver, dispute_id: str) -> set[str]:
    with slack.stack.engine.connect() as conn:
        return set(conn.execute(select(DISPUTE_REGISTRATIONS.c.registration_id)
                                .where(DISPUTE_REGISTRATIONS.c.dispute_id == dispute_id)).scalars())


def block(view: dict[str, Any], block_id: str) -> dict[str, Any] | None:
    return next((b for b in view.get("blocks") or [] if b.get("block_id") == block_id), None)


def modal_about(ids: list[str], *, keep_block: bool = True) -> dict[str, Any]:
    """The filing modal the early warning's "File a conflict" button opens about a pair, as Slack holds it."""
    charter, _ = load_charter_file(FAST_CHARTER)
    view = filing_modal(charter, initial={"title": "Registration overlap"}, registration_ids=ids).to_dict()
    if not keep_block:  # a modal drawn without the choice: the ids travel in private_metadata alone
        view["blocks"] = [b for b in view["blocks"] if b.get("block_id") != "registrations"]
    return {**view, "id": f"V{uuid.uuid4().hex[:10].upper()}", "hash": "h"}


async def test_the_filing_modal_offers_the_pair_and_files_it_linked(slack: SlackDriver,
                                                                      registered: list[str]) -> None:
    pats, danas, word = await overlapping_pair(slack, registered)
    sent = await slack.command("dana")
    modal = await slack.modal(sent)
    choice = block(modal, "registrations")
    assert choice is not None and choice["element"]["type"] == "multi_static_select" and choice["optional"]
    groups = {g["label"]["text"]: [o["value"] for o in g["options"]] for g in choice["element"]["option_groups"]}
    assert danas in groups["Your registrations"] and pats in groups["Overlapping yours"]

    one = await submit(slack, "dana", modal, {**VALUES, "account": f"{word} Ltd"}, [danas])
    assert "exactly two" in one.json()["errors"]["registrations"]  # said next to the field, nothing filed
    dispute_id = await filed_id(slack, modal, await submit(slack, "dana", modal, {**VALUES, "account": f"{word} Ltd"},
                                              [danas, pats]))
    assert linked(slack, dispute_id) == {pats, danas}

    # pat's DM and the case message show both claims, pat's (registered first) first
    def with_claims(messages: list[dict[str, Any]]) -> list[str]:
        return [json.dumps(b) for m in messages if slack.about(m, dispute_id) for b in m.get("blocks") or []
                if b.get("block_id") == "claims"]

    dm = await eventually(lambda: with_claims(slack.dms("pat")), what="pat's DM with the claims")
    assert dm[-1].index(pats) < dm[-1].index(danas) and "registered first" in dm[-1]
    await eventually(lambda: with_claims(slack.fake.messages(CHANNEL)), what="the case message with the claims")
    answer, _ = await slack.status_message("dana", dispute_id)
    assert pats in json.dumps(answer["blocks"]) and "*Claims*" in json.dumps(answer["blocks"])

    # a second filing about the pair (in a new form): refused next to the choice, naming the open dispute
    second_form = await slack.modal(await slack.command("dana"))
    again = await submit(slack, "dana", second_form, {**VALUES, "account": f"{word} Ltd", "title": "Again"},
                         [pats, danas])
    assert again.json()["response_action"] == "errors", again.text
    assert dispute_id in again.json()["errors"]["registrations"]


async def test_a_modal_opened_about_a_pair_files_it_linked(slack: SlackDriver, registered: list[str]) -> None:
    pats, danas, word = await overlapping_pair(slack, registered)
    about = modal_about([danas, pats])
    assert json.loads(about["private_metadata"]) == {"registration_ids": [danas, pats]}
    initial = block(about, "registrations")
    assert initial is not None and [o["value"] for o in initial["element"]["initial_options"]] == [danas, pats]
    first = await filed_id(slack, about, await submit(slack, "dana", about, {**VALUES, "account": f"{word} Ltd"},
                                                      [danas, pats]))
    assert linked(slack, first) == {pats, danas}

    withdrawn = await slack.act_via_modal("dana", first, "withdraw", {"reason": "Filed from the wrong modal"})
    assert withdrawn["response_action"] == "update"
    await eventually(lambda: status(slack.stack.engine, first) == "withdrawn", what="the first to be withdrawn")
    bare = modal_about([danas, pats], keep_block=False)  # only private_metadata names the pair
    second = await filed_id(slack, bare, await submit(slack, "dana", bare, {**VALUES, "account": f"{word} Ltd"},
                                                      None))
    assert linked(slack, second) == {pats, danas}


async def test_the_ruling_modal_shows_both_claims(slack: SlackDriver, registered: list[str]) -> None:
    pats, danas, word = await overlapping_pair(slack, registered)
    modal = modal_about([danas, pats])
    dispute_id = await filed_id(slack, modal, await submit(slack, "dana", modal, {**VALUES, "account": f"{word} Ltd"},
                                              [danas, pats]))
    await slack.act_via_modal("pat", dispute_id, "escalate", {"reason": "We registered it first"})
    message = await slack.dm_with("mediator", dispute_id, "rule")
    ruling = await slack.modal(await slack.press("mediator", message, "rule"))
    claims = block(ruling, "claims")
    assert claims is not None and claims["type"] == "context"
    text = json.dumps(claims)
    assert text.index(pats) < text.index(danas) and "registered first" in text
    escalation = await slack.modal(await slack.press("mediator", message, "escalate"))
    assert block(escalation, "claims") is None  # only whoever rules or decides needs them in the form
