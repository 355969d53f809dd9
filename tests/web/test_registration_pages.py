"""The registration pages over HTTP (TestClient) on the live stack (a Temporal dev server, the real worker,
the SQLite store): the list and its filters, the register form and its errors, a registration with its
overlaps, disputes, trail and the actions open to each role, every action through its form, refusals,
each role's visibility, the overlaps queue and the live updates. Each test registers accounts of its own
(`fresh`), so the session's store can hold anything else. Dates are derived from the registrations
themselves (their protection window), never from today."""

from __future__ import annotations

import html as html_lib
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session

from store import registrations as registration_store
from tests.web.conftest import PEOPLE, Stack, Web

REG_ID = re.compile(r"/registrations/(REG-[0-9A-F]{8})$")


def fresh(kind: str = "Corp") -> str:
    """An account name no other test uses ("Zyqbrx Corp")."""
    word = "".join(chr(ord("a") + int(c, 16) % 26) for c in uuid.uuid4().hex[:8]).capitalize()
    return f"{word} {kind}"


def register_form(account: str, **overrides: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "account": account, "account_domain": "", "title": f"{account} data platform", "deal_value": "120000",
        "currency": "eur", "region": "EMEA", "segment": "enterprise", "expected_close": "2027-06-30",
        "external_ref": "", "products": "Platform, Support",
    }
    form.update(overrides)
    return form


def register(web: Web, who: str, account: str, **overrides: Any) -> str:
    response = web.sign_in(who).post("/registrations/new", register_form(account, **overrides))
    assert response.status_code == 303, flashes(response.text) or response.text[:3000]
    found = REG_ID.search(response.headers["location"])
    assert found, response.headers["location"]
    return found[1]


def act(web: Web, registration_id: str, action: str, **fields: Any) -> Any:
    return web.post(f"/registrations/{registration_id}/act", {"action": action, **fields})


def done(web: Web, registration_id: str, action: str, **fields: Any) -> str:
    response = act(web, registration_id, action, **fields)
    assert response.status_code == 303, f"{action} by {web.who}: {response.status_code} {flashes(response.text)}"
    return str(web.get(f"/registrations/{registration_id}").text)


def flashes(html: str) -> list[str]:
    found = re.findall(r'<div class="flash flash-\w+"[^>]*>(.*?)</div>', html, re.S)
    return [html_lib.unescape(text.strip()) for text in found]


def offered(html: str) -> list[str]:
    return re.findall(r'data-action-form="([a-z_]+)"', html)


def status_of(html: str) -> str:
    found = re.search(r'<span class="badge rs-([a-z]+)">', html)
    assert found, "no status badge"
    return found[1]


def trail(html: str) -> list[str]:
    return re.findall(r'<p class="ev-head">\s*<strong>([^<]+)</strong>', html)


def field_error(html: str, field_id: str) -> str | None:
    found = re.search(rf'id="{re.escape(field_id)}-error"><span class="sr-only">Error: </span>(.*?)</p>', html, re.S)
    return html_lib.unescape(found[1].strip()) if found else None


def listed(html: str) -> list[str]:
    return re.findall(r'<a href="/registrations/(REG-[0-9A-F]{8})"><span class="mono">', html)


def overlap_card(html: str, registration_id: str) -> str:
    """The overlaps queue's card of the pair holding this registration."""
    cards = [c.split("</li>")[0] for c in html.split('<li class="card" id="overlap-')[1:]]
    found = [c for c in cards if registration_id in c]
    assert len(found) == 1, f"{len(found)} pairs hold {registration_id}"
    return found[0]


def protected_until(stack: Stack, registration_id: str) -> datetime:
    with Session(stack.engine) as session:
        row = registration_store.require(session, registration_id)
        assert row.protected_until is not None
        return row.protected_until


# --- registering ---------------------------------------------------------------------------------------

def test_a_partner_registers_a_deal_that_waits_for_the_mediator(web: Web) -> None:
    account = fresh()
    registration_id = register(web, "pat", account, account_domain=f"https://www.{account.split()[0].lower()}.example/")
    page = web.get(f"/registrations/{registration_id}").text
    assert flashes(page) == [f"Registered {registration_id}. It awaits a mediator's approval."]
    assert status_of(page) == "pending" and "Pending approval" in page and "awaiting a mediator" in page
    assert "EUR 120,000" in page and "Platform, Support" in page and "2027-06-30" in page
    assert f"{account.split()[0].lower()}.example" in page  # the domain as the store keeps it
    assert f"Partner · {PEOPLE['pat'].partner_org}" in page
    assert trail(page) == ["Registered"]
    assert offered(page) == ["withdraw", "close"]
    assert 'data-poll="/registrations/' in page  # a live registration's page follows it
    assert offered(web.sign_in("mediator").get(f"/registrations/{registration_id}").text) == ["approve", "reject"]
    assert offered(web.sign_in("mediator2").get(f"/registrations/{registration_id}").text) == []  # not routed
    assert offered(web.sign_in("admin").get(f"/registrations/{registration_id}").text) == [
        "approve", "reject", "withdraw", "close"]
    page = web.sign_in("auditor").get(f"/registrations/{registration_id}").text
    assert offered(page) == [] and "Read-only: auditors see every registration" in page
    assert re.search(r'class="hash mono"[^>]*>#1 · charter web-1', page)  # the auditor sees the chain


def test_a_direct_opportunity_is_approved_from_the_start(web: Web) -> None:
    registration_id = register(web, "dana", fresh(), currency="USD", deal_value="75000.5")
    page = web.get(f"/registrations/{registration_id}").text
    assert "A direct opportunity is approved from the start." in flashes(page)[0]
    assert status_of(page) == "approved" and "USD 75,000.50" in page and "no window (direct)" in page
    assert offered(page) == ["withdraw", "close"]
    assert offered(web.sign_in("mediator").get(f"/registrations/{registration_id}").text) == []  # nothing to extend


def test_the_register_form_shows_each_error_next_to_its_field_and_keeps_the_input(web: Web) -> None:
    form = register_form("Keep This Account", title="", currency="EURO", deal_value="lots",
                         account_domain="not a domain", products="Platform")
    response = web.sign_in("pat").post("/registrations/new", form)
    assert response.status_code == 422
    page = response.text
    assert field_error(page, "reg-title") == "Required."
    assert "three-letter ISO 4217" in (field_error(page, "reg-currency") or "")
    assert field_error(page, "reg-deal-value") == "Enter a number."
    assert "is not a domain name" in (field_error(page, "reg-account-domain") or "")
    assert 'value="Keep This Account"' in page and 'value="Platform"' in page and 'value="EURO"' in page
    assert re.search(r'<option value="EMEA" selected>', page)
    assert 'class="error-summary" role="alert"' in page and 'href="#reg-title"' in page


def test_region_and_segment_are_the_charters_choices(web: Web) -> None:
    page = web.sign_in("pat").get("/registrations/new").text
    regions = re.findall(r'<option value="([^"]*)"', page.split('id="reg-region"')[1].split("</select>")[0])
    assert regions[:1] == [""] and {"EMEA", "AMER", "APAC"} <= set(regions)
    assert re.search(r'<option value="EMEA" selected>', page)  # pat works in EMEA
    for label in ("Customer account", "Account web domain (optional)", "Title", "Deal value", "Currency", "Region",
                  "Segment (optional)", "Expected close (optional)", "CRM reference (optional)", "Products (optional)"):
        assert re.search(rf'<label for="reg-[a-z-]+">{re.escape(label)}', page), label


def test_a_crm_reference_is_registered_once(web: Web) -> None:
    ref = f"CRM-{uuid.uuid4().hex[:8]}"
    register(web, "dana", fresh(), external_ref=ref)
    response = web.post("/registrations/new", register_form(fresh(), external_ref=ref))
    assert response.status_code == 409
    assert ref in (field_error(response.text, "reg-external-ref") or "")


@pytest.mark.parametrize("who", ["mediator", "exec", "auditor"])
def test_only_reps_and_admins_register(web: Web, who: str) -> None:
    web.sign_in(who)
    for response in (web.get("/registrations/new"), web.post("/registrations/new", register_form(fresh()))):
        assert response.status_code == 403
        assert "only reps register deals" in response.text.lower()
    assert "Register a deal" not in web.get("/registrations").text


def test_an_admin_registers_on_a_reps_behalf(web: Web) -> None:
    web.sign_in("admin")
    page = web.get("/registrations/new").text
    assert '<optgroup label="Partner: Resellers Inc">' in page and f'value="{PEOPLE["pat"].email}"' in page
    response = web.post("/registrations/new", register_form(fresh()))
    assert response.status_code == 422
    assert field_error(response.text, "reg-owner-email") == "An admin registers on behalf of a rep: name them."
    registration_id = register(web, "admin", fresh(), owner_email=PEOPLE["pat"].email)
    page = web.get(f"/registrations/{registration_id}").text
    assert status_of(page) == "pending" and "Pat Partner" in page and PEOPLE["pat"].partner_org in page
    # a rep cannot name another owner: the field is not theirs to send
    mine = register(web, "dana", fresh(), owner_email=PEOPLE["drew"].email)
    assert "Dana Direct" in web.get(f"/registrations/{mine}").text


# --- acting ----------------------------------------------------------------------------------------------

def test_the_mediator_approves_and_extends_the_protection_window(stack: Stack, web: Web) -> None:
    registration_id = register(web, "pat", fresh())
    page = done(web.sign_in("mediator"), registration_id, "approve", note="Looks right")
    assert "You approved the registration." in flashes(page)
    assert status_of(page) == "approved" and "Mia Mediator" in page
    assert trail(page) == ["Registered", "Approved"] and "“Looks right”" in page
    assert offered(page) == ["extend"]
    end = protected_until(stack, registration_id)
    assert f'data-countdown="{end.strftime("%Y-%m-%dT%H:%M:%SZ")}"' in page

    too_early = act(web, registration_id, "extend", until=(end - timedelta(days=2)).date().isoformat())
    assert too_early.status_code == 422
    assert "Must be later than the current end" in (field_error(too_early.text, "act-extend-until") or "")
    assert 'id="action-extend" open' in too_early.text
    assert act(web, registration_id, "extend", until="soon").status_code == 422

    later = (end + timedelta(days=10)).date()
    page = done(web, registration_id, "extend", until=later.isoformat())
    assert "The protection window is extended; its owner is told." in flashes(page)
    assert trail(page)[-1] == "Protection extended"
    assert f'data-countdown="{later.isoformat()}T23:59:59Z"' in page  # to the end of that day (UTC charter)
    assert offered(web.sign_in("pat").get(f"/registrations/{registration_id}").text) == ["withdraw", "close"]


def test_rejecting_needs_a_reason_that_the_owner_reads(web: Web) -> None:
    registration_id = register(web, "pat", fresh())
    web.sign_in("mediator")
    missing = act(web, registration_id, "reject", reason="  ")
    assert missing.status_code == 422 and field_error(missing.text, "act-reject-reason") == "Required."
    page = done(web, registration_id, "reject", reason="The customer already works with direct sales")
    assert status_of(page) == "rejected" and offered(page) == []
    page = web.sign_in("pat").get(f"/registrations/{registration_id}").text
    assert "Rejected because" in page and "The customer already works with direct sales" in page
    assert offered(page) == [] and "data-poll" not in page  # nothing more will happen to it


def test_the_owner_withdraws_or_closes(web: Web) -> None:
    withdrawn = register(web, "dana", fresh())
    assert act(web, withdrawn, "withdraw").status_code == 422
    page = done(web, withdrawn, "withdraw", reason="Lost interest")
    assert status_of(page) == "withdrawn" and trail(page) == ["Registered", "Withdrawn"] and "Lost interest" in page
    closed = register(web, "dana", fresh())
    unchosen = act(web, closed, "close")
    assert unchosen.status_code == 422 and field_error(unchosen.text, "act-close-outcome") == "Choose won or lost."
    page = done(web, closed, "close", outcome="won")
    assert status_of(page) == "closed" and "Closed · won" in page and trail(page)[-1] == "Closed"


def test_refusals_come_back_as_messages_on_the_page(web: Web) -> None:
    registration_id = register(web, "pat", fresh())
    refused = act(web.sign_in("pia"), registration_id, "withdraw", reason="Not mine")  # her colleague's
    assert refused.status_code == 403
    assert "Not done: only the owner (pat@resellers.example) or an admin can withdraw" in flashes(refused.text)[0]
    assert offered(refused.text) == []
    done(web.sign_in("mediator"), registration_id, "approve")
    stale = act(web, registration_id, "approve")  # a tab from before
    assert stale.status_code == 409
    assert flashes(stale.text)[0].startswith("Not done. This registration has moved on: only a pending registration")
    assert status_of(stale.text) == "approved"
    unknown = act(web, registration_id, "promote")
    assert unknown.status_code == 422 and "Unknown action 'promote'." in flashes(unknown.text)[0]
    forged = web.post(f"/registrations/{registration_id}/act", {"action": "approve"}, csrf="forged")
    assert forged.status_code == 403 and "did not come from Parley" in forged.text
    assert act(web, "REG-00000000", "approve").status_code == 404


# --- who sees what ----------------------------------------------------------------------------------------

def test_each_role_sees_what_the_design_says(web: Web) -> None:
    partner = register(web, "pat", fresh())
    direct = register(web, "dana", fresh())
    can_see = {
        "pat": {partner}, "pia": {partner}, "quinn": set(), "dana": {direct}, "drew": {direct},
        "mediator": {partner, direct}, "exec": {partner, direct}, "auditor": {partner, direct},
        "admin": {partner, direct},
    }
    for who, visible in can_see.items():
        web.sign_in(who)
        shown = set(listed(web.get("/registrations").text))
        for registration_id in (partner, direct):
            seen = registration_id in visible
            assert (registration_id in shown) == seen, (who, registration_id)
            assert web.get(f"/registrations/{registration_id}").status_code == (200 if seen else 404), who
            assert web.get(f"/registrations/{registration_id}/updates").status_code == (200 if seen else 404), who
    assert act(web.sign_in("quinn"), partner, "withdraw", reason="x").status_code == 404


def test_overlaps_show_on_both_registrations_without_naming_another_partner(web: Web) -> None:
    name = fresh()
    domain = f"{name.split()[0].lower()}.example"
    partner = register(web, "pat", f"{name} Inc", account_domain=domain)
    direct = register(web, "dana", f"{name.upper()} Corporation", account_domain=domain)
    page = web.get(f"/registrations/{direct}").text
    assert "Early warning: it overlaps 1 other registration" in flashes(page)[0]
    assert f'<a href="/registrations/{partner}" class="mono">{partner}</a>' in page  # it overlaps dana's: visible
    assert "100/100" in page and "same web domain" in page and 'class="badge overlap"' in page
    link = f'href="/disputes/new?registration_ids={direct},{partner}">File a conflict about this overlap</a>'
    assert link in page  # the filing form, filled in from the pair
    assert "File a conflict" not in web.sign_in("drew").get(f"/registrations/{direct}").text  # not drew's

    other = register(web, "quinn", f"{name} Ltd", account_domain=domain)
    page = web.sign_in("pat").get(f"/registrations/{partner}").text
    assert f'<span class="mono">{direct}</span> <span class="muted">(not visible to you)</span>' in page
    assert f"{other}</span> <span class=\"muted\">(not visible to you)" in page
    assert "Other Partners Ltd" not in page  # not in the overlaps, not in the trail
    assert trail(page).count("Early warning: overlap") == 2
    assert f'href="/disputes/new?registration_ids={partner},{direct}"' in page  # pat and dana: a dispute may be filed
    assert f"registration_ids={partner},{other}" not in page  # two partners: no dispute between them
    assert "Other Partners Ltd" in web.sign_in("mediator").get(f"/registrations/{partner}").text


def test_a_dispute_linking_two_registrations_is_shown_on_both(stack: Stack, web: Web) -> None:
    name = fresh()
    partner = register(web, "pat", name)
    direct = register(web, "dana", name)
    dispute_id = web.file(title=f"{name} claimed twice", account=name)
    with Session(stack.engine) as session:
        registration_store.link_dispute(session, dispute_id, [partner, direct])
        session.commit()
    page = web.get(f"/registrations/{direct}").text
    assert f'<a href="/disputes/{dispute_id}" class="mono">{dispute_id}</a>' in page
    assert "linked by a dispute" in page and "File a conflict" not in page
    card = overlap_card(web.sign_in("mediator").get("/overlaps").text, partner)
    assert direct in card and f'href="/disputes/{dispute_id}"' in card and "No dispute yet" not in card


def test_the_list_filters_and_marks_overlaps(web: Web) -> None:
    name = fresh()
    pending = register(web, "pat", name)
    overlapping = register(web, "dana", name)
    alone = register(web, "dana", fresh())
    web.sign_in("dana")
    page = web.get("/registrations?mine=1").text
    assert {overlapping, alone} <= set(listed(page)) and pending not in listed(page)
    row = page.split(f'href="/registrations/{overlapping}"')[1].split("</tr>")[0]
    assert 'class="badge overlap">Overlap' in row and "EUR 120,000" in row
    assert 'class="badge overlap"' not in page.split(f'href="/registrations/{alone}"')[1].split("</tr>")[0]
    assert set(listed(web.get("/registrations?channel=partner").text)) >= {pending}
    assert alone not in listed(web.get("/registrations?channel=partner").text)
    assert set(listed(web.get(f"/registrations?account={name.split()[0]}").text)) == {pending, overlapping}
    assert pending not in listed(web.sign_in("mediator").get("/registrations?status=approved").text)
    assert pending in listed(web.get("/registrations?status=pending").text)
    bad = web.get("/registrations?status=nope&channel=both&page=x")
    assert bad.status_code == 200
    assert "Choose one of the statuses." in bad.text and "Choose direct or partner." in bad.text


# --- the overlaps queue -----------------------------------------------------------------------------------

def test_the_overlaps_queue_sets_both_claims_side_by_side(web: Web) -> None:
    name = fresh()
    partner = register(web, "pat", name)
    direct = register(web, "dana", f"{name}.")
    for who in ("mediator", "exec", "auditor", "admin", "dana", "pat"):
        page = web.sign_in(who).get("/overlaps").text
        assert "<h1>Overlaps</h1>" in page, who
        assert partner in page and direct in page, who
    card = overlap_card(web.sign_in("mediator").get("/overlaps").text, partner)
    assert f'{partner}</a> <span class="badge">first</span>' in card  # the partner registered first
    assert f'{direct}</a></h3>' in card and "Dana Direct" in card and "Pat Partner" in card
    assert "No dispute yet" in card and "File a conflict" not in card
    page = web.sign_in("dana").get("/overlaps").text
    assert f'href="/disputes/new?registration_ids={direct},{partner}"' in page
    page = web.sign_in("pat").get("/overlaps").text
    assert "not shown to you" in page  # the direct owner's name is not a partner's to read
    assert partner not in web.sign_in("drew").get("/overlaps").text  # neither registration is his
    assert partner not in web.sign_in("quinn").get("/overlaps").text


# --- live updates -----------------------------------------------------------------------------------------

def test_the_page_polls_for_new_events(web: Web) -> None:
    registration_id = register(web, "pat", fresh())
    page = web.get(f"/registrations/{registration_id}").text
    seq = int(re.findall(r'data-seq="(\d+)"', page)[0])
    assert web.get(f"/registrations/{registration_id}/updates?since={seq}").status_code == 204
    done(web.sign_in("mediator"), registration_id, "approve")
    news = web.sign_in("pat").get(f"/registrations/{registration_id}/updates?since={seq}")
    assert news.status_code == 200 and news.headers["x-parley-status"] == "approved"
    assert int(news.headers["x-parley-seq"]) > seq
    assert "This registration moved on (now approved)" in news.text and "Approved" in trail(news.text)


def test_navigation_links_every_page(web: Web) -> None:
    page = web.sign_in("dana").get("/registrations").text
    assert '<a href="/registrations" aria-current="page">Registrations</a>' in page
    assert '<a href="/overlaps">Overlaps</a>' in page
    assert '<a href="/overlaps" aria-current="page">Overlaps</a>' in web.get("/overlaps").text


def test_the_trail_reads_every_kind_of_event() -> None:
    """Events the live tests do not all reach (reminders, expiry, `auto_file`'s dispute, a re-import) in words,
    rendered from the template with the shapes the workflow records."""
    from api.web.pages_registrations import STATUS_LABELS
    from api.web.render import ENV

    at = "2026-03-11T17:00:00+00:00"
    kinds: dict[str, tuple[dict[str, Any], str]] = {
        "imported": ({"account": "Globex", "title": "Globex rollout", "deal_value": 5000, "currency": "EUR",
                      "status": "approved"}, "Globex: Globex rollout, EUR 5,000; approved."),
        "approved": ({"note": "", "protected_until": at}, "Protected until"),
        "extended": ({"from": at, "until": at}, "From"),
        "closed": ({"won": False}, "Lost."),
        "approval_reminder": ({"fraction": 0.5, "due_at": at, "to": "mediator@example.com"},
                              "Mia Mediator was reminded"),
        "approval_overdue": ({"due_at": at, "told": "exec@example.com"}, "exec@example.com was told"),
        "expiry_reminder": ({"before_s": 60, "protected_until": at}, "The protection window ends"),
        "expired": ({"protected_until": at}, "The protection window ended"),
        "overlap_found": ({"registration_id": "REG-0000000A", "channel": "partner", "partner_org": None,
                           "account": "Globex", "score": 91}, "a partner registration for Globex (match 91/100)"),
        "dispute_filed": ({"dispute_id": "PRL-0000000A", "other_registration_id": "REG-0000000A"},
                          '<a href="/disputes/PRL-0000000A" class="mono">PRL-0000000A</a> is about'),
        "amended": ({"changes": {"account_domain": "globex.com"}}, "Changed: account domain."),
    }
    events = [{"seq": n, "at": at, "actor": "system:protection", "action": action, "payload": payload,
               "prev_hash": "0" * 64, "hash": "f" * 64, "charter_version": "web-1"}
              for n, (action, (payload, _)) in enumerate(kinds.items(), start=1)]
    reg = {"overlaps": [], "disputes": [{"id": "PRL-0000000A", "status": "frontline", "visible": True}]}
    html = ENV.get_template("_registration_trail.html").render(
        events=events, reg=reg, names={"mediator@example.com": "Mia Mediator"}, labels=STATUS_LABELS, auditing=True)
    text = " ".join(html.split())
    for action, (_, words) in kinds.items():
        assert words in text, action
    assert html.count("Parley (protection window)") == len(kinds) and html.count('class="hash mono"') == len(kinds)
