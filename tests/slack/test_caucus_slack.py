"""Caucus notes in Slack (issue 12 item 8), driven as Slack drives the app against the fake Slack.

`/conflict status` offers "Add a comment"; its form asks "Visible to" only of those who may write a caucus
note. A caucus note is never posted into the conflicts channel (whose threads the parties read): the
other adjudicator gets a direct message saying a note was added, without its text, and the parties hear
nothing. A party's forged caucus note is refused and nothing is recorded.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import select

from store.tables import NOTIFICATIONS
from tests.slack.harness import CHANNEL, PEOPLE, SlackDriver, events, eventually

NOTE = "Caucus: the partner's deal registration was approved after the direct quote went out."
MEGA = {"deal_value": "60000000"}  # straight to the executive, where no timer moves it on


def everything_posted(slack: SlackDriver) -> str:
    """Every message text and block Parley posted or updated in the fake Slack, in any channel or DM."""
    calls = [*slack.fake.calls_to("chat.postMessage"), *slack.fake.calls_to("chat.update"),
             *slack.fake.calls_to("chat.postEphemeral")]
    return json.dumps([c.args for c in calls], ensure_ascii=False)


async def comment_form(slack: SlackDriver, who: str, dispute_id: str) -> dict[str, Any]:
    """`/conflict status`, then its "Add a comment": the modal that opens."""
    answer, _ = await slack.status_message(who, dispute_id)
    section = next(b for b in answer["blocks"] if b.get("block_id") == f"comment:{dispute_id}")
    assert section["accessory"]["action_id"] == "act:comment"
    assert slack.buttons(answer) == {"dana": ["withdraw"], "mediator": [], "exec": ["decide"]}[who]  # as before
    sent = await slack.press(who, answer, "comment", ephemeral=True)
    assert sent.response.status_code == 200
    return await slack.modal(sent)


def visibility_of(modal: dict[str, Any]) -> list[str] | None:
    block = next((b for b in modal["blocks"] if b.get("block_id") == "visibility"), None)
    return None if block is None else [o["value"] for o in block["element"]["options"]]


async def test_a_caucus_note_reaches_the_executive_and_never_the_channel_or_the_parties(slack: SlackDriver) -> None:
    dispute_id = await slack.file("dana", against="pat", **MEGA)
    await slack.dm_with("exec", dispute_id, "decide")  # the filing's messages are out

    modal = await comment_form(slack, "mediator", dispute_id)
    assert visibility_of(modal) == ["all", "mediators"]
    answer = await slack.submit("mediator", modal, {"text": NOTE, "visibility": "mediators"})
    await slack.shown_after(modal, answer, "added a caucus note (mediators only)")
    assert events(slack.stack.engine, dispute_id)[-1] == (PEOPLE["mediator"].email, "commented")

    told = await eventually(lambda: [m for m in slack.dms("exec") if "caucus note" in m["text"]],
                            what="the executive to hear of the caucus note")
    assert dispute_id in told[-1]["text"] and slack.buttons(told[-1]) == []

    # a party's ordinary comment from Slack goes to the channel's thread as before
    party_modal = await comment_form(slack, "dana", dispute_id)
    assert visibility_of(party_modal) is None  # no "Visible to" for a party
    done = await slack.submit("dana", party_modal, {"text": "We have the signed order form."})
    await slack.shown_after(party_modal, done, "commented")
    thread = await eventually(lambda: [m for m in slack.fake.messages(CHANNEL) if m["thread_ts"]
                                       and f"{PEOPLE['dana'].name} commented on {dispute_id}" in m["text"]],
                              what="dana's comment in the channel's thread")
    assert thread

    posted = everything_posted(slack)
    assert NOTE not in posted  # the text never leaves Parley
    for message in slack.fake.messages(CHANNEL):
        assert "caucus" not in json.dumps(message).lower(), message
    for party in ("dana", "pat"):
        assert not [m for m in slack.dms(party) if "caucus" in json.dumps(m).lower()], party
    n = NOTIFICATIONS.c
    with slack.stack.engine.connect() as conn:
        rows = conn.execute(select(n.recipient, n.kind).where(n.dispute_id == dispute_id,
                                                              n.text.contains("caucus note"))).all()
    assert [(r.recipient, r.kind) for r in rows] == [(PEOPLE["exec"].email, "info")]


async def test_a_partys_forged_caucus_note_is_refused(slack: SlackDriver) -> None:
    dispute_id = await slack.file("dana", against="pat", **MEGA)
    modal = await comment_form(slack, "dana", dispute_id)
    before = events(slack.stack.engine, dispute_id)
    state = slack.state_of(modal, {"text": NOTE})
    state["values"]["visibility"] = {"v": {"type": "static_select", "selected_option": {
        "text": {"type": "plain_text", "text": "Mediators only"}, "value": "mediators"}}}
    payload = {"type": "view_submission", "api_app_id": "A0PARLEY", "token": "legacy",
               "team": {"id": "T0FAKE", "domain": "fake"},
               "user": {"id": PEOPLE["dana"].slack_id, "username": "dana", "team_id": "T0FAKE"},
               "trigger_id": f"trig-{uuid.uuid4().hex}", "view": {**modal, "state": state}}
    text = await slack.shown_after(modal, await slack.interact(payload), "Not recorded")
    assert "never by a party" in text
    assert events(slack.stack.engine, dispute_id) == before
