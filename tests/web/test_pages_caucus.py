"""Caucus notes on the web (issue 12 item 8): the comment form offers "Visible to: mediators only" to those
who may write one, and the note shows on the dispute page, its live timeline and the auditor's export for
mediators, executives, auditors and admins only; a party sees no trace of its text anywhere, and a party's
forged caucus note is refused. Through the real workflow (the `stack` fixture)."""

from __future__ import annotations

import json
import re

from tests.web.conftest import Web

NOTE = "Caucus: the partner registration predates the CRM record by a week; ask sales ops."
CHOICE = 'name="visibility"'


def in_mediation(web: Web) -> str:
    dispute_id = web.sign_in("dana").file(title="Initech upgrade claimed twice", account="Initech")
    web.sign_in("pat").ok(dispute_id, "escalate", reason="We cannot agree on who found it")
    return dispute_id


def test_the_mediator_keeps_a_note_the_parties_never_see(web: Web) -> None:
    dispute_id = in_mediation(web)
    for party in ("dana", "pat", "pia"):
        page = web.sign_in(party).get(f"/disputes/{dispute_id}").text
        assert CHOICE not in page, party  # the parties' comment form has no "Visible to"

    def followed(html: str) -> int:
        found = re.search(r'id="live-status" data-dispute="[^"]+" data-seq="(\d+)"', html)
        assert found
        return int(found[1])

    seen = followed(web.sign_in("dana").get(f"/disputes/{dispute_id}").text)
    web.sign_in("mediator")
    page = web.get(f"/disputes/{dispute_id}").text
    assert CHOICE in page and "Mediators only (a caucus note)" in page
    web.ok(dispute_id, "comment", text=NOTE, visibility="mediators")
    page = web.get(f"/disputes/{dispute_id}").text
    assert "Caucus note added" in page and followed(page) == seen + 1
    # the party's open page polls: a note it may not read is no "new activity"
    quiet = web.sign_in("dana").get(f"/disputes/{dispute_id}/updates", params={"since": seen})
    assert quiet.status_code == 204
    assert followed(web.get(f"/disputes/{dispute_id}").text) == seen
    web.sign_in("mediator")
    web.ok(dispute_id, "comment", text="Both of you: please send the CRM export.", visibility="all")
    page = web.get(f"/disputes/{dispute_id}").text
    assert NOTE in page and "ev-caucus" in page
    assert "visible to mediators, executives and auditors only" in page

    for reader in ("auditor", "admin"):
        assert NOTE in web.sign_in(reader).get(f"/disputes/{dispute_id}").text, reader
    export = web.sign_in("auditor").get("/audit/export.jsonl")
    notes = [json.loads(line) for line in export.text.splitlines() if NOTE in line]
    assert [(n["dispute_id"], n["payload"]["visibility"]) for n in notes] == [(dispute_id, "mediators")]

    for party in ("dana", "pat", "pia"):
        web.sign_in(party)
        page = web.get(f"/disputes/{dispute_id}").text
        assert NOTE not in page and "ev-caucus" not in page and "caucus note" not in page.lower(), party
        assert "Both of you: please send the CRM export." in page  # the ordinary comment is there
        live = web.get(f"/disputes/{dispute_id}/updates", params={"since": 0})
        assert live.status_code == 200 and NOTE not in live.text and "Both of you" in live.text
        assert "caucus" not in web.get("/outbox").text.lower(), party  # nor what Parley told the mediators
        assert web.get("/audit/export.jsonl").status_code == 403


def test_a_partys_forged_caucus_note_is_refused(web: Web) -> None:
    dispute_id = in_mediation(web)
    web.sign_in("dana")
    refused = web.act(dispute_id, "comment", text=NOTE, visibility="mediators")
    assert refused.status_code == 403
    assert "never by a party" in refused.text and CHOICE not in refused.text
    unknown = web.act(dispute_id, "comment", text=NOTE, visibility="everyone")
    assert unknown.status_code == 422 and "Choose one of the options." in unknown.text
    timeline = re.findall(r'<p class="ev-head">\s*<strong>([^<]+)</strong>',
                          web.sign_in("mediator").get(f"/disputes/{dispute_id}").text)
    assert "Commented" not in timeline  # nothing was recorded
