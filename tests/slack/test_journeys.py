"""Every lifecycle path, from `/conflict` to the final word, driven only through Slack.

The fast charter: frontline 4 s, mediation 8 s, appeal window 4 s, executive 4 s. Each journey files
through the modal, then reads the buttons of the DMs the worker posted, presses them and fills the
modals they open, exactly as Slack would send it all.
"""

from __future__ import annotations

import json

from tests.slack.harness import (
    CHANNEL,
    CRITERIA_VALUES,
    PEOPLE,
    RATIONALE,
    SlackDriver,
    events,
    eventually,
    status,
)

CO_SELL = {"owner": "co_sell", "credit_direct": "60"}  # within the fast charter's auto-approval bounds
LOPSIDED = {"owner": "direct", "credit_direct": "80"}  # outside them: the mediator must approve


async def reaches(slack: SlackDriver, dispute_id: str, wanted: str, timeout: float = 15) -> None:
    await eventually(lambda: status(slack.stack.engine, dispute_id) == wanted, timeout=timeout,
                     what=f"{dispute_id} to be {wanted}")


def people_events(slack: SlackDriver, dispute_id: str) -> list[tuple[str, str]]:
    return [e for e in events(slack.stack.engine, dispute_id) if not e[0].startswith("system:")]


async def buttons_gone(slack: SlackDriver, message: dict[str, object], *mentions: str) -> str:
    """The pressed message lost its buttons and now says who did what."""
    def probe() -> str | None:
        now = next((m for m in slack.fake.messages(str(message["channel"])) if m["ts"] == message["ts"]), None)
        if now is None or slack.buttons(now):
            return None
        text = json.dumps(now["blocks"])
        return text if all(m in text for m in mentions) else None

    text: str = await eventually(probe, what="the pressed message to lose its buttons")
    return text


async def test_frontline_agreement_resolves_at_once(slack: SlackDriver) -> None:
    dispute_id = await slack.file("dana", against="pat")

    # pat, the counterparty, is asked to act; dana (the filer) is told, where she typed /conflict,
    # the dispute's id and link
    first = await slack.dm_with("pat", dispute_id, "propose")
    assert slack.buttons(first) == ["propose", "escalate"]
    confirmation = await eventually(lambda: slack.stack.sink.of(slack.filing_hooks[dispute_id]))
    assert confirmation[0]["response_type"] == "ephemeral" and confirmation[0]["text"].startswith(f"Filed {dispute_id}")
    assert f"https://parley.example/disputes/{dispute_id}" in json.dumps(confirmation[0]["blocks"])

    proposed = await slack.act_via_modal("pat", dispute_id, "propose", {**CO_SELL, "note": "Split it"})
    assert proposed["response_action"] == "update" and "proposed a resolution" in json.dumps(proposed["view"])
    await buttons_gone(slack, first, PEOPLE["pat"].name)  # "Pat Partner proposed …": named, not addressed

    offer = await slack.dm_with("dana", dispute_id, "accept")
    assert slack.buttons(offer) == ["accept", "reject", "propose", "escalate", "withdraw"]
    assert "co-sell, direct 60% / partner 40%" in json.dumps(offer["blocks"])
    _, sent = await slack.click("dana", dispute_id, "accept")
    await reaches(slack, dispute_id, "resolved")
    await buttons_gone(slack, offer, "accepted the proposal", PEOPLE["dana"].name)

    assert people_events(slack, dispute_id) == [
        (PEOPLE["dana"].email, "filed"), (PEOPLE["pat"].email, "proposed"), (PEOPLE["dana"].email, "accepted")]
    # everyone involved hears it is over; the case message in the channel says so
    await eventually(lambda: [m for m in slack.dms("pat") if "accepted the proposal" in m["text"]],
                     what="pat to hear of the agreement")
    case = await eventually(lambda: [m for m in slack.fake.messages(CHANNEL)
                                     if m["thread_ts"] is None and dispute_id in m["text"] and "resolved" in m["text"]],
                            what="the case message to say resolved")
    assert len(case) == 1


async def test_agreement_outside_bounds_needs_the_mediator(slack: SlackDriver) -> None:
    dispute_id = await slack.file("pat", against="dana")  # a partner files against a direct rep
    await slack.act_via_modal("dana", dispute_id, "propose", LOPSIDED)
    await slack.click("pat", dispute_id, "accept")
    await reaches(slack, dispute_id, "awaiting_approval")

    message = await slack.dm_with("mediator", dispute_id, "approve")
    assert slack.buttons(message) == ["approve", "reject"]
    assert "Agreement awaiting approval" in json.dumps(message["blocks"])
    await slack.press("mediator", message, "approve")
    await reaches(slack, dispute_id, "resolved")
    await buttons_gone(slack, message, "approved the agreement")
    assert people_events(slack, dispute_id)[-1] == (PEOPLE["mediator"].email, "approved")


async def test_rejected_agreement_goes_back_then_the_filer_withdraws(slack: SlackDriver) -> None:
    dispute_id = await slack.file("dana", against="pat")
    await slack.act_via_modal("pat", dispute_id, "propose", LOPSIDED)
    await slack.click("dana", dispute_id, "accept")
    await slack.act_via_modal("mediator", dispute_id, "reject", {"reason": "Too lopsided for this account"})
    await reaches(slack, dispute_id, "frontline")

    withdrawn = await slack.act_via_modal("dana", dispute_id, "withdraw", {"reason": "Sorted out offline"})
    assert "withdrew the dispute" in json.dumps(withdrawn["view"])
    await reaches(slack, dispute_id, "withdrawn")
    assert [a for _, a in people_events(slack, dispute_id)] == [
        "filed", "proposed", "accepted", "approval_rejected", "withdrawn"]


async def test_mediation_with_a_question_then_a_ruling_nobody_appeals(slack: SlackDriver) -> None:
    dispute_id = await slack.file("dana", against="pat")
    await slack.act_via_modal("pat", dispute_id, "escalate", {"reason": "We cannot agree on the split"})
    await reaches(slack, dispute_id, "mediation")

    asked = await slack.act_via_modal("mediator", dispute_id, "request_info", {"question": "Who registered first?"})
    assert "requested information" in json.dumps(asked["view"])
    # while paused the dispute waits on the parties, so the mediator resumes from `/conflict status`
    answer, _ = await slack.status_message("mediator", dispute_id)
    assert slack.buttons(answer) == ["rule", "resume", "escalate"]
    assert "paused" in json.dumps(answer["blocks"]) and "Who registered first?" in json.dumps(answer["blocks"])
    pressed = await slack.press("mediator", answer, "resume", ephemeral=True)
    await eventually(lambda: people_events(slack, dispute_id)[-1][1] == "resumed", what="the clock to resume")
    replaced = await eventually(lambda: [p for p in slack.stack.sink.of(pressed.hook or "") if p["replace_original"]],
                                what="the ephemeral answer to be replaced")
    assert "resumed the clock" in replaced[-1]["text"] and "actions" not in json.dumps(replaced[-1]["blocks"])

    # the ruling modal shows the charter's recommendation as the criteria are filled in
    message = await slack.dm_with("mediator", dispute_id, "rule")
    sent = await slack.press("mediator", message, "rule")
    modal = await slack.modal(sent)
    assert "fill in the six criteria" in json.dumps(modal["blocks"])
    values = {**CO_SELL, **CRITERIA_VALUES, "rationale": RATIONALE}
    await slack.dispatch("mediator", modal, values, "fit_partner")
    redrawn = await eventually(lambda: "partner, direct" in json.dumps(slack.current(modal["id"])["blocks"])
                               and slack.current(modal["id"]), what="the recommendation to be shown")
    assert "Charter recommendation:* partner" in json.dumps(redrawn["blocks"])
    ruled = (await slack.submit("mediator", redrawn, values)).json()
    assert "departs from it" in json.dumps(ruled["view"])  # co-sell, while the charter says partner
    await reaches(slack, dispute_id, "appeal_window")

    appeal = await slack.dm_with("pat", dispute_id, "appeal")
    assert "Ruling" in json.dumps(appeal["blocks"])
    await reaches(slack, dispute_id, "resolved", timeout=15)  # nobody appealed within 4 s
    assert events(slack.stack.engine, dispute_id)[-1] == ("system:appeal_window", "ruling_final")


async def test_a_party_answers_the_question_from_its_dm_and_the_mediator_resumes(slack: SlackDriver) -> None:
    dispute_id = await slack.file("dana", against="pat")
    await slack.act_via_modal("pat", dispute_id, "escalate", {"reason": "We cannot agree on the split"})
    await reaches(slack, dispute_id, "mediation")
    await slack.act_via_modal("mediator", dispute_id, "request_info", {"question": "Who registered first?"})

    # pat is asked in a DM whose Answer button opens a form that shows the question
    asked = await slack.dm_with("pat", dispute_id, "answer")
    assert slack.buttons(asked) == ["answer"]
    sent = await slack.press("pat", asked, "answer")
    modal = await slack.modal(sent)
    assert modal["title"]["text"] == "Answer the mediator"
    assert "Who registered first?" in json.dumps(modal["blocks"])
    answered = (await slack.submit("pat", modal, {"text": "We registered it on 3 May."})).json()
    assert "answered the mediator's question" in json.dumps(answered["view"])
    await buttons_gone(slack, asked, f"{PEOPLE['pat'].name} answered")

    # the mediator hears at once, by pat's name, with the answer and the buttons to go on
    told = await slack.dm_with("mediator", dispute_id, "resume")
    assert told["text"].startswith(f"{PEOPLE['pat'].name} answered the question on {dispute_id}")
    assert slack.buttons(told) == ["rule", "resume", "escalate"]
    assert "We registered it on 3 May." in json.dumps(told["blocks"])
    await slack.press("mediator", told, "resume")
    await eventually(lambda: people_events(slack, dispute_id)[-1][1] == "resumed", what="the clock to resume")
    assert [a for _, a in people_events(slack, dispute_id)] == [
        "filed", "escalated", "info_requested", "answered", "resumed"]


async def test_sla_breach_then_ruling_appealed_then_executive_decides(slack: SlackDriver) -> None:
    dispute_id = await slack.file("dana", against="pat")
    await reaches(slack, dispute_id, "mediation", timeout=15)  # nobody acted: the SLA escalates it
    assert ("system:sla", "escalated") in events(slack.stack.engine, dispute_id)

    await slack.act_via_modal("mediator", dispute_id, "rule", {**LOPSIDED, **CRITERIA_VALUES, "rationale": RATIONALE})
    appealed = await slack.act_via_modal("pat", dispute_id, "appeal", {"reason": "The ruling ignores our registration"})
    assert "appealed the ruling" in json.dumps(appealed["view"])
    await reaches(slack, dispute_id, "executive")

    decision = await slack.act_via_modal("exec", dispute_id, "decide",
                                         {"owner": "partner", "credit_direct": "40", **CRITERIA_VALUES,
                                          "rationale": "The partner registered first; they keep the deal."})
    assert "follows it" in json.dumps(decision["view"])
    await reaches(slack, dispute_id, "resolved")
    assert people_events(slack, dispute_id)[-1] == (PEOPLE["exec"].email, "decided")


async def test_mediator_escalates_and_the_executive_decides(slack: SlackDriver) -> None:
    dispute_id = await slack.file("dana", against="pat")
    # the filer is not messaged about her own filing: she asks for mediation from `/conflict status`
    answer, _ = await slack.status_message("dana", dispute_id)
    assert slack.buttons(answer) == ["propose", "escalate", "withdraw"]
    sent = await slack.press("dana", answer, "escalate", ephemeral=True)
    modal = await slack.modal(sent)
    assert modal["title"]["text"] == "Ask for mediation"
    submitted = await slack.submit("dana", modal, {"reason": "Pat undercut our quote"})
    assert submitted.json()["response_action"] == "update"
    await reaches(slack, dispute_id, "mediation")
    await slack.act_via_modal("mediator", dispute_id, "escalate", {"reason": "Needs an executive call"})
    await reaches(slack, dispute_id, "executive")
    await slack.act_via_modal("exec", dispute_id, "decide", {**CO_SELL, **CRITERIA_VALUES, "rationale": RATIONALE})
    await reaches(slack, dispute_id, "resolved")
    assert [a for _, a in people_events(slack, dispute_id)] == ["filed", "escalated", "escalated", "decided"]


async def test_a_large_deal_goes_straight_to_the_executive(slack: SlackDriver) -> None:
    dispute_id = await slack.file("dana", against="pat", deal_value="60000000", title="The mega deal")
    assert status(slack.stack.engine, dispute_id) == "executive"
    decide = await slack.dm_with("exec", dispute_id, "decide")
    assert slack.buttons(decide) == ["decide"]
    await slack.act_via_modal("exec", dispute_id, "decide", {**CO_SELL, **CRITERIA_VALUES, "rationale": RATIONALE})
    await reaches(slack, dispute_id, "resolved")


async def test_the_worker_paced_its_posts(slack: SlackDriver) -> None:
    """After all the journeys above: the worker's posts never hit the fake's one-post-per-second-per-
    channel limit. (The API's filing confirmation may: it shares the filer's DM channel with the
    worker, is not paced with it, and simply waits out the 429's Retry-After.)"""
    limited = [(c.args.get("channel"), c.args.get("text")) for c in slack.fake.calls_to("chat.postMessage")
               if c.fault == "ratelimited" and not str(c.args.get("text")).startswith("Filed PRL-")]
    assert limited == []
