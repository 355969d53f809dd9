"""The forms that change state, through the real workflow: a Temporal dev server, the real worker and
the store (the `stack` fixture). Every change goes through `service/`, as in the JSON API."""

from __future__ import annotations

import re
import time

from tests.web.conftest import PEOPLE, RATIONALE, Stack, Web, criteria_form, outcome_form


def status_of(web: Web, dispute_id: str) -> str:
    found = re.search(r'class="badge st-([a-z_]+)"', web.get(f"/disputes/{dispute_id}").text)
    assert found
    return found[1]


def actions_of(web: Web, dispute_id: str) -> list[str]:
    return re.findall(r'data-action-form="([a-z_]+)"', web.get(f"/disputes/{dispute_id}").text)


def timeline(web: Web, dispute_id: str) -> list[str]:
    return re.findall(r'<p class="ev-head">\s*<strong>([^<]+)</strong>', web.get(f"/disputes/{dispute_id}").text)


def test_filing_through_the_form_lands_on_the_new_dispute(web: Web) -> None:
    dispute_id = web.sign_in("dana").file(title="Globex expansion quoted twice", account="Globex Ltd")
    page = web.get(f"/disputes/{dispute_id}").text
    assert f"Filed {dispute_id}. It is at frontline now." in page
    assert "Globex expansion quoted twice" in page and "Globex Ltd" in page
    assert "CRM note 2024-05-01" in page and "E-mail of 3 May" in page  # the evidence, one item per line
    assert 'class="badge st-frontline"' in page
    assert dispute_id in web.sign_in("pat").get("/").text  # now waiting on pat (and dana)


def test_a_frontline_agreement_through_the_forms(web: Web) -> None:
    dispute_id = web.sign_in("dana").file()
    web.ok(dispute_id, "propose", **outcome_form("co_sell", 60), note="Let us split it")  # no partner share sent
    page = web.get(f"/disputes/{dispute_id}").text
    assert "Your proposal is recorded." in page and "direct 60% · partner 40%" in page
    assert actions_of(web, dispute_id) == ["propose", "escalate", "comment", "withdraw"]
    web.sign_in("pat")
    assert actions_of(web, dispute_id)[:2] == ["accept", "reject"]
    web.ok(dispute_id, "accept")
    page = web.get(f"/disputes/{dispute_id}").text
    assert 'class="badge st-resolved"' in page and "<h2 id=\"decision-h\">Agreement" in page
    assert timeline(web, dispute_id) == ["Filed", "Proposed a resolution", "Accepted"]
    assert actions_of(web, dispute_id) == []


def test_an_agreement_beyond_the_bounds_waits_for_the_mediator(web: Web) -> None:
    dispute_id = web.sign_in("pat").file(counterparty_email=PEOPLE["dana"].email)
    web.ok(dispute_id, "propose", **outcome_form("partner", 10))
    web.sign_in("dana").ok(dispute_id, "accept")
    assert status_of(web, dispute_id) == "awaiting_approval"
    web.sign_in("mediator")
    assert actions_of(web, dispute_id) == ["approve", "reject_agreement", "comment", "reassign"]
    web.ok(dispute_id, "reject_agreement", reason="Ten percent undervalues the direct work")
    assert status_of(web, dispute_id) == "frontline"
    assert timeline(web, dispute_id)[-1] == "Rejected the agreement"


def test_the_whole_escalation_path(web: Web) -> None:
    dispute_id = web.sign_in("dana").file()
    web.sign_in("pat").ok(dispute_id, "escalate", reason="We cannot agree")
    web.sign_in("mediator")
    assert dispute_id in web.get("/").text  # the mediator's inbox
    web.ok(dispute_id, "request_info", question="Who registered the deal first?")
    page = web.get(f"/disputes/{dispute_id}").text
    assert "Clock paused" in page and "Who registered the deal first?" in page
    assert dispute_id in web.sign_in("dana").get("/").text  # paused: waiting on the parties
    web.sign_in("mediator").ok(dispute_id, "resume", note="Thanks, got it")
    web.ok(dispute_id, "rule", **outcome_form("partner", 40), **criteria_form(), rationale=RATIONALE)
    page = web.get(f"/disputes/{dispute_id}").text
    assert 'class="badge st-appeal_window"' in page and "follows the recommendation" in page
    assert 'class="badge appealable">appealable</span>' in page
    web.sign_in("pat").ok(dispute_id, "appeal", reason="The ruling ignores our registration")
    assert status_of(web, dispute_id) == "executive"
    page = web.get(f"/disputes/{dispute_id}").text  # the ruling is under appeal: no longer "appealable"
    assert "appealable" not in page and 'class="badge appealed">appealed — the executive decides' in page
    web.sign_in("exec")
    assert actions_of(web, dispute_id) == ["decide", "comment", "reassign"]
    web.ok(dispute_id, "decide", **outcome_form("direct", 70), **criteria_form(),
           rationale="Direct sales owns the relationship and the renewal.")
    page = web.get(f"/disputes/{dispute_id}").text
    assert "Final decision" in page and 'class="badge final">final' in page
    assert "departs from the recommendation" in page
    assert timeline(web, dispute_id) == [
        "Filed", "Escalated", "Asked for information", "Resumed the clock", "Ruled", "Appealed", "Decided (final)",
    ]
    assert "Eve Executive" in page and "Mia Mediator" in page


def test_a_ruling_becomes_final_when_the_appeal_window_closes(web: Web) -> None:
    dispute_id = web.sign_in("dana").file()
    web.ok(dispute_id, "escalate", reason="Stuck")
    web.sign_in("mediator").ok(dispute_id, "rule", **outcome_form(), **criteria_form(), rationale=RATIONALE)
    seq = int(re.findall(r'data-seq="(\d+)"', web.get(f"/disputes/{dispute_id}").text)[0])
    assert web.get(f"/disputes/{dispute_id}/updates?since={seq}").status_code == 204
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # the charter's appeal window is five seconds
        news = web.get(f"/disputes/{dispute_id}/updates?since={seq}")
        if news.status_code == 200 and news.headers["x-parley-status"] == "resolved":
            break
        time.sleep(0.5)
    else:
        raise AssertionError("the ruling did not become final")
    assert "Ruling became final" in news.text and "Parley (appeal window)" in news.text


def test_a_refusal_of_the_workflow_comes_back_as_a_message(web: Web) -> None:
    dispute_id = web.sign_in("dana").file()
    web.ok(dispute_id, "propose", **outcome_form())
    # pia sees her organisation's dispute, but is no party to it: the workflow refuses (403)
    refused = web.sign_in("pia").act(dispute_id, "accept")
    assert refused.status_code == 403
    assert "Not done: only the other party can accept a proposal" in refused.text
    web.sign_in("pat").ok(dispute_id, "accept")
    stale = web.act(dispute_id, "accept")  # a form from before: the dispute is resolved now (409)
    assert stale.status_code == 409
    assert 'class="flash flash-error" role="alert">Not done. This dispute has moved on:' in stale.text
    assert 'class="badge st-resolved"' in stale.text


def test_a_stale_tab_is_told_what_changed_at_the_top_of_the_page(web: Web) -> None:
    dispute_id = web.sign_in("dana").file()
    assert "propose" in actions_of(web, dispute_id)  # dana's tab shows the proposal form …
    web.sign_in("pat").ok(dispute_id, "escalate", reason="We cannot agree")  # … while pat escalates
    stale = web.sign_in("dana").act(dispute_id, "propose", **outcome_form(), note="From the old tab")
    assert stale.status_code == 409
    assert ('class="flash flash-error" role="alert">Not done. This dispute has moved on: proposals are made at '
            "frontline; the dispute is in mediation — the page now shows its current state.</div>") in stale.text
    assert "Fix the problem below" not in stale.text  # there is nothing below to fix
    assert 'class="badge st-mediation"' in stale.text
    assert re.findall(r'data-action-form="([a-z_]+)"', stale.text) == ["comment", "withdraw"]
    assert timeline(web, dispute_id) == ["Filed", "Escalated"]


def test_a_party_answers_the_mediators_question(web: Web) -> None:
    dispute_id = web.sign_in("dana").file()
    web.sign_in("pat").ok(dispute_id, "escalate", reason="We cannot agree")
    web.sign_in("mediator").ok(dispute_id, "request_info", question="Who registered the deal first?")
    assert dispute_id not in web.get("/").text  # the parties' turn
    web.sign_in("pat")
    assert dispute_id in web.get("/").text
    assert actions_of(web, dispute_id) == ["answer", "comment"]
    page = web.get(f"/disputes/{dispute_id}").text
    assert "The mediator asks: “Who registered the deal first?”" in page
    web.ok(dispute_id, "answer", text="We registered it on 3 May.")
    page = web.get(f"/disputes/{dispute_id}").text
    assert "Your answer is recorded and the mediator is told" in page
    assert "<strong>Answer</strong> from Pat Partner: “We registered it on 3 May.”" in page
    assert "Clock paused" in page and "Answered; waiting for the mediator to resume" in page
    assert actions_of(web, dispute_id) == ["comment"]  # once is enough
    assert dispute_id not in web.get("/").text
    assert dispute_id not in web.sign_in("dana").get("/").text  # waiting on the mediator now
    web.sign_in("mediator")
    assert dispute_id in web.get("/").text
    assert timeline(web, dispute_id)[-1] == "Answered the question"
    web.ok(dispute_id, "resume", note="Thanks")
    assert dispute_id in web.get("/").text and "Clock paused" not in web.get(f"/disputes/{dispute_id}").text


def test_reassigning_moves_the_dispute_to_another_mediator(web: Web) -> None:
    dispute_id = web.sign_in("pat").file(counterparty_email=PEOPLE["dana"].email)
    web.ok(dispute_id, "escalate", reason="Need help")
    web.sign_in("mediator")
    assert re.search(r'<option value="mediator2@example.com"\s*>Max Mediator', web.get(f"/disputes/{dispute_id}").text)
    web.ok(dispute_id, "reassign", to=PEOPLE["mediator2"].email)
    assert web.get(f"/disputes/{dispute_id}").status_code == 404  # no longer routed to mia
    web.sign_in("mediator2")
    assert dispute_id in web.get("/").text
    assert "Mia Mediator → Max Mediator" in web.get(f"/disputes/{dispute_id}").text


def test_withdrawing_closes_the_dispute(stack: Stack, web: Web) -> None:
    dispute_id = web.sign_in("dana").file()
    web.ok(dispute_id, "withdraw", reason="We sorted it out by phone")
    page = web.get(f"/disputes/{dispute_id}").text
    assert "The dispute is withdrawn." in page and 'class="badge st-withdrawn"' in page
    assert "We sorted it out by phone" in page
    assert dispute_id not in web.get("/").text
