"""The read-only queries behind the pages, on SQLite and on PostgreSQL (the shared `engine` fixture):
the same known disputes must give the same lists and the same dashboard figures on both."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from domain.model import Actor, Role
from store import digest_outbox, notifications, queries, stats
from store.charters import load_charter_file
from store.tables import User
from tests.reference_times import REFERENCE_TIMES
from tests.web import synthetic
from tests.web.conftest import DEFAULT_CHARTER, PEOPLE, known_disputes, seed_people


@pytest.fixture(params=list(REFERENCE_TIMES.values()), ids=list(REFERENCE_TIMES))
def now(request: pytest.FixtureRequest) -> datetime:
    reference: datetime = request.param
    return reference.astimezone(UTC)


def _seed(engine: Engine, now: datetime) -> dict[str, str]:
    seed_people(engine)
    charter, text = load_charter_file(DEFAULT_CHARTER)
    sims = known_disputes(charter, now)
    synthetic.write(engine, sims, charter, text)
    return {sim.dispute.start.filing.title.split()[0].lower(): sim.dispute.start.id for sim in sims}


def _user(session: Session, who: str) -> User:
    return session.exec(select(User).where(User.email == PEOPLE[who].email)).one()


def test_lists_on_each_backend(engine: Engine, now: datetime) -> None:
    ids = _seed(engine, now)
    none = queries.Filters()
    with Session(engine) as session:
        waiting = [r.id for r in queries.waiting_on(session, _user(session, "pat"), none)]
        assert set(waiting) == {ids["frontline"], ids["proposed"], ids["paused"]}
        assert waiting[-1] == ids["paused"]  # no deadline while paused: last
        assert [r.id for r in queries.waiting_on(session, _user(session, "backup"), none)] == [ids["executive"]]
        mine = queries.my_disputes(session, _user(session, "pia"), queries.Filters(), everything=True)
        assert ids["other"] not in {r.id for r in mine.rows} and ids["frontline"] in {r.id for r in mine.rows}
        page = queries.all_disputes(session, queries.Filters.parse({"actor": "mediator@example.com"}))
        assert {r.id for r in page.rows} == {ids["paused"], ids["ruled"]} and page.total == 2
        page = queries.all_disputes(session, queries.Filters.parse({"region": "amer", "outcome": "open"}))
        assert {r.id for r in page.rows} == {ids["mediation"], ids["other"]}
        rows, more = notifications.outbox(session, _user(session, "quinn"), None, 1)
        assert rows and not more and {r.dispute_id for r in rows} == {ids["other"]}


def test_dashboard_figures_on_each_backend(engine: Engine, now: datetime) -> None:
    _seed(engine, now)
    with Session(engine) as session:
        board = stats.compute(session, "all", now)
    assert (board.filed, board.still_open, board.resolved, board.withdrawn) == (8, 6, 1, 1)
    assert board.breach == {1: (0, 7), 2: (0, 3), 3: (1, 1)}
    assert [sum(counts) for counts in board.open_age.values()] == [3, 2, 1]
    median, n = board.median_s[1]
    assert n == 2 and median == pytest.approx(300, abs=0.01)  # both left frontline after 5 minutes
    assert board.median_s[3] == (None, 0)
    assert board.owners == {"direct": 1, "partner": 0, "co_sell": 0}
    assert board.credit_deals == pytest.approx({"direct": 0.7, "partner": 0.3})
    assert board.credit_value == [("EUR", 175_000.0, 75_000.0)]
    assert dict(board.by_type)["registration_overlap"] == 1 and sum(n for _, n in board.by_region) == 8


def test_an_answered_question_waits_on_the_mediator(engine: Engine) -> None:
    """SQL and the workflow agree on whom a paused mediation waits: the parties until one of them
    answers the mediator's question, then the mediator (the clock stays paused until they resume)."""
    seed_people(engine)
    charter, text = load_charter_file(DEFAULT_CHARTER)
    now = datetime(2027, 2, 3, 15, 0, tzinfo=UTC)  # a Wednesday, 10:00 in New York
    p = {k: v.party() for k, v in PEOPLE.items() if v.role == Role.rep}
    actor = {k: Actor(email=v.email, role=v.role, name=v.name) for k, v in PEOPLE.items()}
    sims: dict[str, synthetic.Sim] = {}
    for key in ("asked", "answered"):
        sim = synthetic.begin(synthetic.start(f"PRL-{key.upper()}", charter, p["dana"], p["pat"]),
                              now - timedelta(hours=3))
        sim.act(actor["pat"], "escalate", reason="We cannot agree")
        sim.act(actor["mediator"], "request_info", question="Who registered first?")
        if key == "answered":
            sim.act(actor["pat"], "answer", text="We did, on 3 May.")
        sims[key] = sim
    synthetic.write(engine, list(sims.values()), charter, text)
    with Session(engine) as session:
        def queue(who: str) -> set[str]:
            return {r.id for r in queries.waiting_on(session, _user(session, who), queries.Filters())}

        for who in ("dana", "pat", "mediator"):  # the SQL queue says what the workflow's view says
            expected = {sim.dispute.start.id for sim in sims.values()
                        if PEOPLE[who].email in sim.dispute.view(sim.now).waiting_on}
            assert queue(who) == expected, who
        assert queue("pat") == queue("dana") == {"PRL-ASKED"}
        assert queue("mediator") == {"PRL-ANSWERED"}


def test_a_digest_is_in_its_own_readers_outbox_only(engine: Engine) -> None:
    seed_people(engine)
    quinn, pat = PEOPLE["quinn"].email, PEOPLE["pat"].email
    with Session(engine) as session:
        digest_outbox.queue(session, "digest:2026-03-16T08:00:05Z", {quinn: "Your week: 2 open disputes"})
        session.commit()
        mine, _ = notifications.outbox(session, _user(session, "quinn"), None, 1)
        assert [(r.dispute_id, r.kind, r.text) for r in mine] == [
            ("digest:2026-03-16T08:00:05Z", "digest", "Your week: 2 open disputes")]
        assert pat != quinn and notifications.outbox(session, _user(session, "pat"), None, 1)[0] == []
