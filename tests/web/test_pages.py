"""Every page as each role sees it, and every form's validation, on a store of known disputes (no
Temporal: these pages only read, and invalid forms never reach the workflow)."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any
from xml.etree import ElementTree

import pytest
from sqlmodel import Session

from store import digest_outbox
from tests.web.conftest import PEOPLE, Seeded, filing_form, outcome_form


def forms_on(html: str) -> list[str]:
    """The actions offered as forms on a dispute page."""
    return re.findall(r'data-action-form="([a-z_]+)"', html)


def ids_listed(html: str) -> list[str]:
    return re.findall(r'<a href="/disputes/(PRL-[A-Z0-9_-]+)"><span class="mono">', html)


def field_error(html: str, field_id: str) -> str | None:
    found = re.search(rf'id="{re.escape(field_id)}-error"><span class="sr-only">Error: </span>(.*?)</p>', html, re.S)
    return html_lib.unescape(found[1].strip()) if found else None


# --- queues ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("who", "expected", "absent"), [
    ("dana", {"frontline", "paused"}, {"proposed", "mediation", "executive", "withdrawn", "ruled"}),
    ("pat", {"frontline", "proposed", "paused"}, {"mediation", "other"}),
    ("mediator", {"mediation"}, {"paused", "frontline", "executive"}),
    ("exec", {"executive"}, {"mediation"}),
    ("backup", {"executive"}, set()),  # the executive deadline was missed: the backup is paged too
    ("quinn", {"other"}, {"frontline"}),
])
def test_waiting_on_me(seeded: Seeded, who: str, expected: set[str], absent: set[str]) -> None:
    html = seeded.web.sign_in(who).get("/").text
    assert "<h1>Waiting on me</h1>" in html
    listed = set(ids_listed(html))
    assert {seeded.ids[k] for k in expected} <= listed
    assert not {seeded.ids[k] for k in absent} & listed


def test_waiting_on_me_is_sorted_by_deadline(seeded: Seeded) -> None:
    html = seeded.web.sign_in("pat").get("/").text
    rows = re.findall(r'<td data-label="Deadline">(.*?)</td>', html, re.S)
    dues = [re.search(r'datetime="([^"]+)"', r) for r in rows]
    known = [d[1] for d in dues if d]
    assert len(known) >= 2 and known == sorted(known)
    assert "paused" in rows[-1]  # no deadline while the clock is paused: last


def test_an_auditor_lands_on_the_audit_view(seeded: Seeded) -> None:
    response = seeded.web.sign_in("auditor").get("/", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/audit")


@pytest.mark.parametrize(("query", "expected"), [
    ("status=mediation", {"mediation", "paused"}),
    ("tier=2", {"mediation", "paused", "ruled"}),
    ("region=amer", {"mediation"}),
    ("conflict_type=registration_overlap", {"ruled"}),
    ("status=withdrawn&tier=1", {"withdrawn"}),
])
def test_my_disputes_filters(seeded: Seeded, query: str, expected: set[str]) -> None:
    html = seeded.web.sign_in("dana").get(f"/disputes?{query}").text
    assert set(ids_listed(html)) == {seeded.ids[k] for k in expected}


def test_a_bad_filter_value_is_explained_not_refused(seeded: Seeded) -> None:
    response = seeded.web.sign_in("dana").get("/disputes?tier=9&status=nope")
    assert response.status_code == 200
    assert "Choose tier 1, 2 or 3." in response.text and "Choose one of the statuses." in response.text


def test_a_partner_never_sees_another_organisations_dispute(seeded: Seeded) -> None:
    other = seeded.ids["other"]
    for who in ("pat", "pia"):
        web = seeded.web.sign_in(who)
        for path in ("/", "/disputes", "/disputes?scope=all", "/outbox"):
            assert other not in web.get(path).text, (who, path)
        assert web.get(f"/disputes/{other}").status_code == 404
        assert web.get(f"/disputes/{other}/updates").status_code == 404
        assert web.post(f"/disputes/{other}/act", {"action": "comment", "text": "hi"}).status_code == 404
    # pia sees her organisation's disputes although she is no party to them
    assert seeded.ids["frontline"] in seeded.web.sign_in("pia").get("/disputes?scope=all").text
    web = seeded.web.sign_in("quinn")
    assert web.get(f"/disputes/{seeded.ids['frontline']}").status_code == 404
    assert set(ids_listed(web.get("/disputes?scope=all").text)) == {other}


def test_an_executive_sees_only_what_reached_tier_3(seeded: Seeded) -> None:
    web = seeded.web.sign_in("exec")
    assert web.get(f"/disputes/{seeded.ids['mediation']}").status_code == 404
    assert set(ids_listed(web.get("/disputes?scope=all").text)) == {seeded.ids["executive"]}


# --- the dispute page ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("who", "state", "offered"), [
    ("dana", "frontline", ["propose", "escalate", "comment", "withdraw"]),
    ("pat", "frontline", ["propose", "escalate", "comment"]),
    ("pat", "proposed", ["accept", "reject", "propose", "escalate", "comment"]),
    ("dana", "proposed", ["propose", "escalate", "comment", "withdraw"]),
    ("mediator", "mediation", ["request_info", "rule", "escalate", "comment", "reassign"]),
    ("mediator", "paused", ["resume", "rule", "escalate", "comment", "reassign"]),
    ("dana", "mediation", ["comment"]),  # pat filed it: only the filer withdraws
    ("dana", "paused", ["answer", "comment", "withdraw"]),  # the mediator's question is open
    ("exec", "executive", ["decide", "comment", "reassign"]),
    ("backup", "executive", ["decide", "comment", "reassign"]),
    ("admin", "mediation", ["comment", "reassign"]),
    ("dana", "ruled", []),
    ("auditor", "frontline", []),
    ("auditor", "mediation", []),
    ("auditor", "executive", []),
])
def test_only_the_actions_open_to_the_viewer_are_offered(seeded: Seeded, who: str, state: str,
                                                         offered: list[str]) -> None:
    html = seeded.web.sign_in(who).get(f"/disputes/{seeded.ids[state]}").text
    assert forms_on(html) == offered
    if who == "auditor":
        assert "/act" not in html and "Read-only" in html


def test_the_dispute_page_shows_status_people_and_timeline(seeded: Seeded) -> None:
    html = seeded.web.sign_in("dana").get(f"/disputes/{seeded.ids['frontline']}").text
    assert "<h1><span class=\"mono\">PRL-FRONTLIN</span> Frontline dispute</h1>" in html
    assert 'class="badge st-frontline">Frontline' in html and "1 · Frontline" in html
    assert re.search(r'Due <time class="local due" datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">', html)
    assert 'role="timer" data-countdown=' in html
    assert "Dana Direct" in html and "Pat Partner" in html and "Mia Mediator" in html and "Eve Executive" in html
    assert "Resellers Inc" in html and "Bob Backup" in html
    assert 'id="event-1"' in html and "<strong>Filed</strong>" in html
    assert 'class="hash mono"' not in html  # the hash chain is for auditors


def test_a_paused_clock_and_a_breach_are_shown_plainly(seeded: Seeded) -> None:
    web = seeded.web.sign_in("auditor")
    paused = web.get(f"/disputes/{seeded.ids['paused']}").text
    assert "Clock paused" in paused and "of business time left when the mediator resumes" in paused
    assert "Information requested" in paused and "Who registered first?" in paused
    breached = web.get(f"/disputes/{seeded.ids['executive']}").text
    assert '<span class="badge breached">SLA breached</span>' in breached
    assert "SLA breached</strong>" in breached and "paged Bob Backup" in breached


def test_the_decision_shows_outcome_criteria_recommendation_and_rationale(seeded: Seeded) -> None:
    html = seeded.web.sign_in("pat").get(f"/disputes/{seeded.ids['ruled']}").text
    decision = html[html.index('id="decision"'):html.index('id="conflict"')]
    assert "Ruling" in decision and 'class="badge final">final' in decision
    assert "Direct sales" in decision and "direct 70% · partner 30%" in decision
    assert "Win probability</th><td>0.4</td><td>0.7</td>" in decision
    assert "Recommendation: <strong>Partner</strong>" in decision
    assert "departs from the recommendation" in decision  # the mediator gave it to direct sales
    assert "The partner registered first" in decision
    assert "Ruling became final" in html  # the appeal window closed


def test_the_auditor_sees_the_decision_trail_with_its_hashes(seeded: Seeded) -> None:
    html = seeded.web.sign_in("auditor").get(f"/disputes/{seeded.ids['ruled']}").text
    assert "Timeline and decision trail" in html
    hashes = re.findall(r'class="hash mono" title="prev ([0-9a-f]{64}) / hash ([0-9a-f]{64})"', html)
    assert len(hashes) >= 4 and hashes[0][0] == "0" * 64
    assert all(later[0] == earlier[1] for earlier, later in zip(hashes, hashes[1:], strict=False))


def test_unknown_dispute_is_a_404_page(seeded: Seeded) -> None:
    response = seeded.web.sign_in("dana").get("/disputes/PRL-NOPE")
    assert response.status_code == 404 and "<h1>Not found</h1>" in response.text


def test_the_live_endpoint_answers_only_news(seeded: Seeded) -> None:
    web = seeded.web.sign_in("dana")
    path = f"/disputes/{seeded.ids['mediation']}/updates"
    assert web.get(f"{path}?since=999").status_code == 204
    fresh = web.get(f"{path}?since=0")
    assert fresh.status_code == 200 and fresh.headers["x-parley-status"] == "mediation"
    assert 'data-part="timeline"' in fresh.text and "Escalated" in fresh.text


# --- the filing form ---------------------------------------------------------------------------------

def test_the_filing_form_offers_reps_of_the_other_channel(seeded: Seeded) -> None:
    html = seeded.web.sign_in("dana").get("/disputes/new").text
    options = re.findall(r'<option value="([^"]+@[^"]+)"', html)
    assert set(options) == {PEOPLE[k].email for k in ("pat", "pia", "quinn")}
    assert '<optgroup label="Other Partners Ltd">' in html and '<optgroup label="Resellers Inc">' in html
    partner = seeded.web.sign_in("pat").get("/disputes/new").text
    assert set(re.findall(r'<option value="([^"]+@[^"]+)"', partner)) == {PEOPLE[k].email for k in ("dana", "drew")}


def test_every_filing_field_has_a_label(seeded: Seeded) -> None:
    html = seeded.web.sign_in("dana").get("/disputes/new").text
    fields = re.findall(r'<(?:input|select|textarea) id="([^"]+)"', html)
    assert len(fields) >= 12
    for field_id in fields:
        assert f'<label for="{field_id}">' in html, field_id
    assert 'value="EMEA"' in html  # the rep's region, filled in


def test_only_reps_file(seeded: Seeded) -> None:
    web = seeded.web.sign_in("mediator")
    assert web.get("/disputes/new").status_code == 403
    assert web.post("/disputes/new", filing_form()).status_code == 403
    for who, role in (("mediator", "a mediator"), ("exec", "an executive"), ("auditor", "an auditor")):
        refused = seeded.web.sign_in(who).get("/disputes/new")
        assert refused.status_code == 403 and f"you are signed in as {role}." in refused.text, who


@pytest.mark.parametrize(("overrides", "errors"), [
    ({"title": "", "account": "", "deal_value": "", "description": "", "region": "", "conflict_type": "",
      "counterparty_email": ""},
     {"title": "Required.", "account": "Required.", "deal_value": "Required.", "description": "Required.",
      "region": "Required.", "conflict_type": "Required.", "counterparty_email": "Required."}),
    ({"title": "ab"}, {"title": "Must be at least 3 characters long."}),
    ({"deal_value": "lots", "currency": "euro"}, {
        "deal_value": "Enter a number.",
        "currency": "Must be a three-letter ISO 4217 currency code in capitals, such as USD or EUR."}),
    ({"currency": "zzz"}, {"currency": "ZZZ is not an ISO 4217 currency code."}),
    ({"deal_value": "nan"}, {"deal_value": "Must be a finite number."}),
    ({"deal_value": "-5"}, {"deal_value": "Must be greater than 0."}),
    ({"conflict_type": "registration_overlap"}, {"registration_ref": "Required for registration_overlap conflicts"}),
    ({"conflict_type": "registration_overlap", "title": ""},  # both at once, not one round after the other
     {"registration_ref": "Required for registration_overlap conflicts.", "title": "Required."}),
    ({"counterparty_email": PEOPLE["drew"].email},
     {"counterparty_email": "A channel conflict is between a direct rep and a partner rep; both are direct"}),
    ({"counterparty_email": "nobody@example.com"}, {"counterparty_email": "No Parley user nobody@example.com"}),
])
def test_filing_errors_are_shown_next_to_their_fields(seeded: Seeded, overrides: dict[str, Any],
                                                      errors: dict[str, str]) -> None:
    response = seeded.web.sign_in("dana").post("/disputes/new", filing_form(**overrides))
    assert response.status_code == 422
    html = response.text
    for field, message in errors.items():
        assert field_error(html, f"file-{field.replace('_', '-')}") == message, field
        assert f'href="#file-{field.replace("_", "-")}"' in html  # the summary links to the field
    assert 'class="error-summary" role="alert"' in html
    kept = filing_form(**overrides)
    if kept["account"]:
        assert f'value="{kept["account"]}"' in html  # what was typed is kept
    assert "CRM note 2024-05-01\nE-mail of 3 May</textarea>" in html


# --- action forms: validation happens before anything reaches the workflow ---------------------------------

def test_a_ruling_without_criteria_or_rationale_is_refused_field_by_field(seeded: Seeded) -> None:
    web = seeded.web.sign_in("mediator")
    form = {**outcome_form("partner", 30), "criteria.win_probability.direct": "1.5",
            "criteria.lifetime_value.direct": "abc", "rationale": "because"}
    response = web.act(seeded.ids["mediation"], "rule", **form)
    assert response.status_code == 422
    html = response.text
    assert field_error(html, "rule-rationale") == "Must explain the decision: at least three words and 15 characters."
    assert 'id="rule-criteria-win-probability-direct-error">Must be at most 1.' in html
    assert 'id="rule-criteria-lifetime-value-direct-error">Enter a number.' in html
    assert 'id="rule-criteria-strategic-fit-error">Required.' in html  # the whole row is missing
    assert '<details class="action action-rule" id="action-rule" open>' in html
    assert 'value="1.5"' in html and 'name="outcome.owner" value="partner" data-owner checked' in html
    assert 'data-share="partner"' in html and 'value="70"' in html  # the split's second half, filled in


def test_a_credit_split_that_does_not_add_up_is_refused(seeded: Seeded) -> None:
    web = seeded.web.sign_in("dana")
    response = web.act(seeded.ids["frontline"], "propose", **{"outcome.owner": "direct",
                                                               "outcome.credit_split.direct": "80",
                                                               "outcome.credit_split.partner": "30"})
    assert response.status_code == 422
    assert field_error(response.text, "propose-outcome-credit-split") == \
        "Must add up to 100 (got 80 + 30)."


def test_an_unknown_action_is_refused(seeded: Seeded) -> None:
    response = seeded.web.sign_in("dana").act(seeded.ids["frontline"], "explode")
    assert response.status_code == 422


def test_an_auditor_cannot_act(seeded: Seeded) -> None:
    response = seeded.web.sign_in("auditor").act(seeded.ids["frontline"], "comment", text="I see")
    assert response.status_code == 403 and "Not done: auditors have read-only access" in response.text


def test_when_temporal_is_down_the_page_says_so(seeded: Seeded) -> None:
    response = seeded.web.sign_in("dana").act(seeded.ids["frontline"], "comment", text="Anyone there?")
    assert response.status_code == 503
    assert "Temporal is not reachable right now" in response.text
    assert "Anyone there?</textarea>" in response.text  # the comment is not lost


# --- the auditor's view -------------------------------------------------------------------------------

def test_the_audit_view_is_for_auditors_and_admins(seeded: Seeded) -> None:
    for who, status in (("auditor", 200), ("admin", 200), ("mediator", 403), ("dana", 403)):
        web = seeded.web.sign_in(who)
        assert web.get("/audit").status_code == status
        assert web.get("/audit/verify").status_code == status
        assert web.get("/audit/export.csv").status_code == status
    refused = seeded.web.sign_in("exec").get("/audit")
    assert "you are signed in as an executive." in refused.text  # not "a executive"


def test_the_audit_view_lists_every_dispute_read_only(seeded: Seeded) -> None:
    html = seeded.web.sign_in("auditor").get("/audit").text
    assert set(ids_listed(html)) == set(seeded.ids.values())
    assert f"{len(seeded.ids)} disputes match." in html
    assert 'method="post"' not in html.replace('action="/sign-out"', "").split("</header>", 1)[1]


@pytest.mark.parametrize(("query", "expected"), [
    ("region=AMER", {"mediation", "other"}),
    ("outcome=direct", {"ruled"}),
    ("outcome=withdrawn", {"withdrawn"}),
    ("outcome=open", {"frontline", "proposed", "mediation", "paused", "executive", "other"}),
    ("actor=mediator@example.com", {"paused", "ruled"}),
    ("actor=system:appeal_window", {"ruled"}),
    ("date_from=2000-01-01&date_to=2000-12-31", set()),
])
def test_the_audit_filters(seeded: Seeded, query: str, expected: set[str]) -> None:
    html = seeded.web.sign_in("auditor").get(f"/audit?{query}").text
    assert set(ids_listed(html)) == {seeded.ids[k] for k in expected}


def test_the_audit_date_filter_covers_the_days_given(seeded: Seeded) -> None:
    from datetime import timedelta

    today = seeded.now.date()
    html = seeded.web.sign_in("auditor").get(f"/audit?date_from={today - timedelta(days=2)}&date_to={today}").text
    listed = set(ids_listed(html))
    assert seeded.ids["frontline"] in listed and seeded.ids["executive"] not in listed  # filed 30 days ago
    bad = seeded.web.get("/audit?date_from=yesterday")
    assert bad.status_code == 200 and "Enter a date as YYYY-MM-DD." in bad.text


def test_verify_shows_the_result_and_the_digest_to_save(seeded: Seeded) -> None:
    web = seeded.web.sign_in("auditor")
    html = web.get("/audit/verify").text
    assert "The trail verifies." in html
    digest = re.search(r'id="digest-now" class="mono" readonly value="(v1:[^"]+)"', html)
    assert digest
    again = web.get("/audit/verify", params={"digest": digest[1]}).text
    assert "every event covered by your digest is still there, unchanged" in again
    wrong = web.get("/audit/verify", params={"digest": digest[1][:-4] + "0000"}).text
    assert "The trail does not verify." in wrong and "missing or changed since the digest" in wrong
    malformed = web.get("/audit/verify", params={"digest": "nonsense"})
    assert malformed.status_code == 422 and 'id="digest-error"' in malformed.text


def test_export_downloads_csv_and_jsonl(seeded: Seeded) -> None:
    web = seeded.web.sign_in("auditor")
    csv = web.get("/audit/export.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in csv.headers["content-disposition"]
    lines = csv.text.splitlines()
    assert lines[0] == "id,dispute_id,seq,at,actor,action,tier,payload,charter_version,prev_hash,hash"
    jsonl = web.get("/audit/export.jsonl")
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    assert len(jsonl.text.splitlines()) == len(lines) - 1
    assert web.get("/audit/export.xml").status_code == 404


# --- dashboard and outbox ------------------------------------------------------------------------------

@pytest.mark.parametrize(("who", "status"), [("mediator", 200), ("exec", 200), ("auditor", 200), ("admin", 200),
                                             ("dana", 403)])
def test_the_dashboard_is_for_leaders(seeded: Seeded, who: str, status: int) -> None:
    assert seeded.web.sign_in(who).get("/dashboard").status_code == status


@pytest.mark.parametrize("period", ["7d", "30d", "90d", "365d", "all", "bogus"])
def test_the_dashboard_charts_are_svg(seeded: Seeded, period: str) -> None:
    html = seeded.web.sign_in("auditor").get(f"/dashboard?period={period}").text
    charts = re.findall(r'<svg class="chart".*?</svg>', html, re.S)
    assert len(charts) == 9
    for chart in charts:
        root = ElementTree.fromstring(chart)  # well-formed
        assert root.get("role") == "img" and root.get("aria-labelledby")
    assert "selected>Last 30 days" in html if period == "bogus" else True


def test_the_dashboard_figures(seeded: Seeded) -> None:
    html = seeded.web.sign_in("auditor").get("/dashboard?period=all").text
    kpis = dict((label, int(n)) for n, label in re.findall(r'<span class="n">(\d+)</span> ([a-z ]+)</li>', html))
    assert kpis == {"filed": 8, "still open": 6, "resolved": 1, "withdrawn": 1}
    breach = re.search(r"Breaches per tier.*?</table>", html, re.S)
    assert breach
    rows = re.findall(r'<tr><th scope="row">(\d) · \w+</th><td>(\d+)</td><td>(\d+)</td></tr>', breach[0])
    assert rows == [("1", "0", "7"), ("2", "0", "3"), ("3", "1", "1")]
    assert "Direct sales: 1" in html  # the ruled dispute went to direct sales
    # both closed disputes left frontline five minutes after filing
    assert "<th scope=\"row\">1 · Frontline</th><td>5m 0s</td><td>2</td>" in html


def test_the_outbox_shows_the_notifications_per_recipient(seeded: Seeded) -> None:
    web = seeded.web.sign_in("pat")
    html = web.get("/outbox").text
    assert "Slack is not configured" in html
    recipients = set(re.findall(r'<td data-label="To">([^<]+)</td>', html))
    assert recipients <= {PEOPLE["pat"].email, "Conflicts channel"} and recipients
    assert "Per recipient" not in html
    auditor = seeded.web.sign_in("auditor")
    everyone = auditor.get("/outbox").text
    assert "Per recipient" in everyone and "/outbox?recipient=mediator%40example.com" in everyone
    mediator = auditor.get("/outbox", params={"recipient": "mediator@example.com"}).text
    assert set(re.findall(r'<td data-label="To">([^<]+)</td>', mediator)) == {"mediator@example.com"}


def test_a_digest_in_the_outbox_reads_in_place_for_its_reader(seeded: Seeded) -> None:
    pat = PEOPLE["pat"].email
    with Session(seeded.engine) as session:
        digest_outbox.queue(session, "digest:2026-03-09T08:00:00Z", {pat: "Waiting on you: 1 dispute <b>soon</b>"})
        session.commit()
    html = seeded.web.sign_in("pat").get("/outbox").text
    assert "<summary>The weekly digest</summary>" in html
    assert "Waiting on you: 1 dispute &lt;b&gt;soon&lt;/b&gt;" in html  # escaped, not markup
    assert "/disputes/digest:" not in html  # no link to a dispute page that does not exist


@pytest.mark.parametrize("path", ["/disputes", "/outbox", "/audit"])
@pytest.mark.parametrize("page", ["²", "٣", "99999999999999999999999", "-1", "x"])
def test_a_strange_page_number_shows_the_first_page(seeded: Seeded, path: str, page: str) -> None:
    answer = seeded.web.sign_in("auditor" if path == "/audit" else "mediator").get(path, params={"page": page})
    assert answer.status_code == 200
