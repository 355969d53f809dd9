"""Fair routing on the web (DESIGN §8): the dispute page shows each party's manager and the routing note;
the reassign form offers no conflicted person, and a reassign to one comes back as the service's 409,
naming the conflict; so does a reassign to someone away, naming their stand-in."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete
from sqlmodel import Session, col

from domain.model import Role
from store import absences
from store.absence_tables import AbsenceRow
from store.users import create_user
from tests.web.conftest import PEOPLE, Stack, Web

MIA, MAX = PEOPLE["mediator"].email, PEOPLE["mediator2"].email


def rep_managed_by(stack: Stack, key: str, manager: str) -> str:
    """A new direct rep whose manager is `manager`, signed in as `key`; their e-mail."""
    email = f"{key}-{uuid.uuid4().hex[:8]}@corp.example"
    with Session(stack.engine) as session:
        _, token = create_user(session, email=email, name="Sue Managed", role=Role.rep, channel="direct",
                               region="EMEA", manager_email=manager)
        session.commit()
    stack.tokens[key] = token.secret
    return email


def test_a_reassign_to_a_party_s_manager_is_refused_naming_the_conflict(stack: Stack, web: Web) -> None:
    sue = rep_managed_by(stack, "sue-web", MAX)
    dispute_id = web.sign_in("sue-web").file()
    page = web.get(f"/disputes/{dispute_id}").text
    assert re.search(r'data-manager>Manager: Max Mediator</span>', page)
    assert "data-routing-note" not in page  # mia is not conflicted: nothing to explain
    web.sign_in("pat").ok(dispute_id, "escalate", reason="We cannot agree")
    web.sign_in("mediator")
    page = web.get(f"/disputes/{dispute_id}").text
    assert 'data-action-form="reassign"' in page
    assert f'<option value="{MAX}"' not in page  # max manages sue: not offered
    refused = web.act(dispute_id, "reassign", to=MAX)
    assert refused.status_code == 409
    assert (f"{MAX} cannot adjudicate this dispute: {MAX} manages a party, {sue}"
            in html.unescape(refused.text)), refused.text[:3000]
    assert 'class="badge st-mediation"' in refused.text


def test_a_reassign_to_someone_away_is_refused_naming_until_when_and_their_stand_in(stack: Stack, web: Web) -> None:
    dispute_id = web.sign_in("dana").file()
    web.sign_in("pat").ok(dispute_id, "escalate", reason="We cannot agree")
    today = datetime.now(UTC).date()  # the web charter's calendar is UTC, and the stack's clock the real one
    until = today + timedelta(days=1)
    with Session(stack.engine) as session:
        absences.save(session, email=MAX, starts_on=today - timedelta(days=1), ends_on=until, time_zone="UTC",
                      delegate=MIA, set_by=MAX)
        session.commit()
    try:
        page = web.sign_in("mediator").get(f"/disputes/{dispute_id}").text
        assert 'data-action-form="reassign"' in page and f'<option value="{MAX}"' not in page  # not offered
        refused = web.act(dispute_id, "reassign", to=MAX)  # sent all the same: the service's 409
        assert refused.status_code == 409
        assert (f"{MAX} is away until {until.isoformat()} (inclusive, UTC); their stand-in is {MIA}"
                in html.unescape(refused.text)), refused.text[:3000]
    finally:
        with stack.engine.begin() as conn:
            conn.execute(delete(AbsenceRow).where(col(AbsenceRow.email) == MAX))
    web.ok(dispute_id, "reassign", to=MAX)  # back: it goes through


def test_a_dispute_with_no_eligible_mediator_shows_why_it_went_to_the_sponsor(stack: Stack, web: Web) -> None:
    sue = rep_managed_by(stack, "sue-web2", MIA)  # the web charter routes every region to mia alone
    dispute_id = web.sign_in("sue-web2").file()
    found = re.search(r'<p class="prose" data-routing-note[^>]*>([^<]+)</p>', web.get(f"/disputes/{dispute_id}").text)
    assert found, "no routing note on the page"
    note = html.unescape(found[1])
    assert f"{MIA} was passed over: manages a party, {sue}" in note
    assert f"the executive {PEOPLE['exec'].email} adjudicates it" in note
    web.sign_in("pat").ok(dispute_id, "escalate", reason="We cannot agree")
    web.sign_in("exec")
    assert dispute_id in web.get("/").text  # the sponsor's queue: it waits on them as its mediator
    assert 'data-action-form="rule"' in web.get(f"/disputes/{dispute_id}").text
