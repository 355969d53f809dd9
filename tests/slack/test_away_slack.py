"""`/conflict away` (DESIGN §8), driven as Slack drives the app, against the real app, store and Temporal dev
server with the local fake Slack: see, set and clear your own absence, and the refusals in plain words.
Dates are computed from today (UTC, the fast charter's calendar), never written in."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from sqlmodel import Session

from domain.model import Role
from store import absences
from store.users import create_user, user_by_email
from tests.slack.harness import PEOPLE, SlackDriver

DELEGATE = "max.mediator@example.com"


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


def ensure_delegate(slack: SlackDriver) -> None:
    with Session(slack.stack.engine) as session:
        if user_by_email(session, DELEGATE) is None:
            create_user(session, email=DELEGATE, name="Max Mediator", role=Role.mediator)
            session.commit()


async def test_a_mediator_sees_sets_and_clears_their_absence(slack: SlackDriver) -> None:
    ensure_delegate(slack)
    assert "/conflict away" in json.dumps((await slack.command("mediator", "help")).response.json()["blocks"])
    shown = await slack.answer(await slack.command("mediator", "away"))
    assert "You are not away" in shown

    sent = await slack.command("mediator", f"away {day(1)} {day(3)} <mailto:{DELEGATE}|{DELEGATE}>")
    assert sent.response.status_code == 200, sent.response.text
    answer = await slack.answer(sent)
    assert "Your absence is set" in answer and f"from {day(1)} to {day(3)}" in answer and DELEGATE in answer
    with Session(slack.stack.engine) as session:
        row = absences.absence_of(session, PEOPLE["mediator"].email)
        assert row is not None and (row.starts_on.isoformat(), row.ends_on.isoformat(), row.delegate) == (
            day(1), day(3), DELEGATE)

    cleared = await slack.answer(await slack.command("mediator", "away clear"))
    assert "your absence is cleared" in cleared and "You are not away any more" in cleared
    with Session(slack.stack.engine) as session:
        assert absences.absence_of(session, PEOPLE["mediator"].email) is None


async def test_bad_absences_are_refused_in_plain_words(slack: SlackDriver) -> None:
    ensure_delegate(slack)
    backwards = await slack.answer(await slack.command("mediator", f"away {day(3)} {day(1)} {DELEGATE}"))
    assert "Nothing was recorded" in backwards and "ends" in backwards and "before it starts" in backwards
    not_a_date = await slack.answer(await slack.command("mediator", f"away tomorrow {day(1)} {DELEGATE}"))
    assert "is not a date" in not_a_date
    executive = await slack.answer(await slack.command("mediator", f"away {day(1)} {day(2)} {PEOPLE['exec'].email}"))
    assert "goes to another mediator" in executive
    rep = await slack.answer(await slack.command("dana", f"away {day(1)} {day(2)} {DELEGATE}"))
    assert "only mediators and executives" in rep
    with Session(slack.stack.engine) as session:
        assert absences.absence_of(session, PEOPLE["mediator"].email) is None
