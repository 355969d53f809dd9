"""Precedents in Slack (DESIGN §9), driven as Slack drives the app: the ruling modal shows how the most
similar disputes were decided and why, warns once the owner picked departs from most of them, and the
answer to a departing ruling says so (the ruling is recorded all the same, with the flag in its record)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlmodel import Session

from domain.model import Accept, Escalate, Filing, Propose
from store.users import user_by_email
from tests.slack.harness import CRITERIA_VALUES, PEOPLE, RATIONALE, SlackDriver, eventually
from tests.slack.harness import status as status_of


def block(view: dict[str, Any], block_id: str) -> dict[str, Any] | None:
    return next((b for b in view["blocks"] if b.get("block_id") == block_id), None)


async def as_user(slack: SlackDriver, who: str) -> Any:
    with Session(slack.stack.engine) as session:
        user = user_by_email(session, PEOPLE[who].email)
    assert user is not None
    return user


async def filed(slack: SlackDriver, region: str) -> str:
    service = slack.stack.app.state.service
    filing = Filing.model_validate({
        "title": "Acme renewal claimed twice", "conflict_type": "account_ownership", "account": "Acme GmbH",
        "deal_value": 250_000, "currency": "EUR", "region": region, "segment": "enterprise",
        "description": "Both teams are working the Acme renewal.", "counterparty_email": PEOPLE["pat"].email})
    view = await service.file(await as_user(slack, "dana"), filing)
    slack.stack.filed.append(view.id)
    return str(view.id)


async def agreed(slack: SlackDriver, region: str) -> str:
    """A dispute the parties settled for direct sales, 70/30 (inside the charter's bounds)."""
    service = slack.stack.app.state.service
    dispute_id = await filed(slack, region)
    outcome = {"owner": "direct", "credit_split": {"direct": 70, "partner": 30}}
    await service.act(await as_user(slack, "dana"), dispute_id,
                      Propose.model_validate({"action": "propose", "outcome": outcome}))
    view = await service.act(await as_user(slack, "pat"), dispute_id, Accept(action="accept"))
    assert view.status.value == "resolved"
    return dispute_id


async def test_the_ruling_modal_shows_the_precedents_and_warns_of_a_departure(slack: SlackDriver) -> None:
    region = f"S-{uuid.uuid4().hex[:6].upper()}"
    precedents = [await agreed(slack, region) for _ in range(3)]
    dispute_id = await filed(slack, region)
    await slack.stack.app.state.service.act(await as_user(slack, "pat"), dispute_id,
                                            Escalate(action="escalate", reason="We cannot agree"))
    await eventually(lambda: status_of(slack.stack.engine, dispute_id) == "mediation", what="mediation")

    message = await slack.dm_with("mediator", dispute_id, "rule")
    modal = await slack.modal(await slack.press("mediator", message, "rule"))
    shown = block(modal, "precedents")
    assert shown is not None
    text = json.dumps(shown)
    assert [text.index(p) for p in precedents[::-1]] == sorted(text.index(p) for p in precedents)  # latest first
    assert dispute_id not in text
    assert f"same region ({region})" in text and "deal value within 20%" in text and "(1.00)" in text
    assert "closest precedents went to direct sales" in text
    assert block(modal, "precedent_warning") is None  # no owner picked yet

    # the owner picked departs from most of them: the redrawn modal warns (a criterion changed redraws it)
    values = {"owner": "partner", "credit_direct": "30", **CRITERIA_VALUES, "rationale": RATIONALE}
    await slack.dispatch("mediator", modal, values, "fit_partner")
    redrawn = await eventually(lambda: block(slack.current(modal["id"]), "precedent_warning")
                               and slack.current(modal["id"]), what="the warning in the redrawn modal")
    warning = json.dumps(block(redrawn, "precedent_warning"))
    assert "departs from most of the closest precedents" in warning

    # submitted anyway: recorded, and the answer says it departs from precedent
    answer = (await slack.submit("mediator", redrawn, values)).json()
    said = json.dumps(answer["view"])
    assert "ruled" in said and "departs from most of the closest precedents" in said
    await eventually(lambda: status_of(slack.stack.engine, dispute_id) == "appeal_window", what="the appeal window")
    with Session(slack.stack.engine) as session:
        view = slack.stack.app.state.service.read(session, await as_user(slack, "auditor"), dispute_id)
    assert view.decision is not None and view.decision.consistent_with_precedents is False
    assert {p.id for p in view.decision.precedents or []} >= set(precedents)
