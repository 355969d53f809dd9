"""Who gets a digest and what each reads, gathered from a real store (SQLite and PostgreSQL) as of a pinned
moment, and the text every medium shows."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine

from render.digest_mail import render_digest_mail
from render.digest_text import digest_text
from render.slack_digest import digest_blocks, digest_fallback
from service.digest import digest_for, digest_of, recipients
from store.db import session
from tests.digest.samples import ADA, AT, BOB, CHARTER, DANA, EVE, MAX, MIA, PAT, fill

URL = "https://parley.example"


def test_mediators_executives_admins_and_price_protection_owners_get_one(engine: Engine) -> None:
    fill(engine)
    with session(engine) as s:
        people = recipients(s, AT)
    assert [(p.email, p.role) for p in people] == [
        (ADA, "admin"), (BOB, "executive"), (DANA.email, "rep"), (EVE, "executive"), (MAX, "mediator"),
        (MIA, "mediator"), (PAT.email, "rep"),
    ]  # Dana's channel shares a co-sell whose protection ends; the auditor gets none


def test_a_mediator_reads_their_disputes_breaches_and_overlaps(engine: Engine) -> None:
    fill(engine)
    with session(engine) as s:
        digest = digest_of(s, MIA.upper(), CHARTER, AT)
    assert digest is not None
    assert [d.id for d in digest.open_disputes] == ["PRL-LATE", "PRL-SOON", "PRL-LATER", "PRL-PAUSED"]
    assert digest.open_disputes[0].waiting_on == (MIA,)
    assert [(b.dispute_id, b.tier) for b in digest.breaches] == [("PRL-EXEC", 2), ("PRL-LATE", 1)]
    [overlap] = digest.overlaps
    assert "Globex" in overlap.first and "Globex" in overlap.second and overlap.mediators == (MIA,)
    assert digest.price_protections == () and digest.governance is None


def test_an_executive_reads_the_executive_tier_and_its_breaches(engine: Engine) -> None:
    fill(engine)
    with session(engine) as s:
        digest = digest_of(s, BOB, CHARTER, AT)  # the backup executive
    assert digest is not None
    assert [d.id for d in digest.open_disputes] == ["PRL-EXEC"]
    assert [(b.dispute_id, b.tier) for b in digest.breaches] == [("PRL-EXEC", 3)]
    assert digest.overlaps == ()


def test_the_owner_reads_the_price_protection_that_ends_soon(engine: Engine) -> None:
    fill(engine)
    with session(engine) as s:
        pat, dana = digest_of(s, PAT.email, CHARTER, AT), digest_of(s, DANA.email, CHARTER, AT)
    assert pat is not None and dana is not None
    assert [(p.dispute_id, p.owner) for p in pat.price_protections] == [("PRL-PP", "partner"),
                                                                        ("PRL-COSELL", "co_sell")]
    assert [p.dispute_id for p in dana.price_protections] == ["PRL-COSELL"]  # the co-sell is both channels'
    assert pat.price_protections[0].until == AT.date() + timedelta(days=10)


def test_an_admin_reads_the_governance_summary(engine: Engine) -> None:
    fill(engine)
    with session(engine) as s:
        digest = digest_of(s, ADA, CHARTER, AT)
    assert digest is not None and digest.open_disputes == ()
    governance = digest.governance
    assert governance is not None
    by_tier = {t.tier: (t.breached, t.entered) for t in governance.tiers}
    assert by_tier == {1: (2, 9), 2: (1, 2), 3: (1, 1)}  # PRL-LATE and PRL-EXEC left tier 1 late, PRL-EXEC tier 2
    assert governance.decisions == 3
    assert sorted(d.dispute_id for d in governance.deviations) == ["PRL-COSELL", "PRL-PPFAR"]
    assert [r.id for r in governance.expiring] == ["REG-EXP"]


def test_every_medium_says_the_same(engine: Engine) -> None:
    fill(engine)
    with session(engine) as s:
        person = next(p for p in recipients(s, AT) if p.email == MIA)
        digest = digest_for(s, person, CHARTER, AT)
    cal = CHARTER.business_calendar()
    text = digest_text(digest, cal, URL)
    assert text.startswith("Parley digest for Mia Mediator, Mon 16 Mar 2026, 00:30 EDT: 4 open disputes "
                           "(1 past the deadline); 2 deadlines missed this week; 1 overlap awaiting you.")
    late = text.index("PRL-LATE Deal PRL-LATE (Globex, USD\u00a0125,000.00): mediation (tier 2), past its deadline")
    assert late < text.index("PRL-SOON") < text.index("PRL-LATER") < text.index("PRL-PAUSED")
    assert "past its deadline, Sun 15 Mar 2026, 19:30 EDT; waiting on mia@example.com" in text
    assert "due Wed 18 Mar 2026, 00:30 EDT (business time left: 2 business days)" in text
    assert "clock paused (waiting for information)" in text
    assert "the frontline deadline ran out Sat 14 Mar 2026" in text
    mail = render_digest_mail(digest, cal, URL)
    assert mail.subject == "[Parley] Your digest of Mon 16 Mar 2026: 4 open disputes (1 past the deadline); " \
                           "2 deadlines missed this week; 1 overlap awaiting you"
    for part in (mail.text, mail.html):
        assert "Hello Mia Mediator," in part and "Your open disputes, nearest deadline first" in part
        assert f"{URL}/disputes/PRL-LATE" in part and f"{URL}/overlaps" in part
    blocks = [b.to_dict() for b in digest_blocks(digest, cal, URL)]
    assert blocks[0]["type"] == "header" and blocks[0]["text"]["text"] == "Your Parley digest"
    shown = "\n".join(str(b) for b in blocks)
    assert f"<{URL}/disputes/PRL-LATE|PRL-LATE>" in shown and "Overlapping registrations awaiting you" in shown
    assert digest_fallback(digest).startswith("Your Parley digest: 4 open disputes")
