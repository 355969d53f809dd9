"""The people panel of the dispute page says who is away, until when, and who stands in (DESIGN §8), at each
reference time (the app's clock pinned to it; the absences are dates around it in the charter's time zone)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete
from sqlmodel import Session

from store import absences
from store.absence_tables import AbsenceRow
from tests.web.conftest import PEOPLE, Seeded

NY = "America/New_York"  # charters/default.toml's calendar


@pytest.fixture
def away(seeded: Seeded) -> Iterator[Seeded]:
    """The mediator away since today (Max stands in); the executive away from next week (the backup stands in)."""
    today = seeded.now.astimezone(ZoneInfo(NY)).date()
    with Session(seeded.engine) as session:
        absences.save(session, email=PEOPLE["mediator"].email, starts_on=today, ends_on=today + timedelta(days=2),
                      time_zone=NY, delegate=PEOPLE["mediator2"].email, set_by=PEOPLE["mediator"].email)
        absences.save(session, email=PEOPLE["exec"].email, starts_on=today + timedelta(days=7),
                      ends_on=today + timedelta(days=9), time_zone=NY, delegate=PEOPLE["backup"].email,
                      set_by=PEOPLE["admin"].email)
        session.commit()
    try:
        yield seeded
    finally:
        with seeded.engine.begin() as conn:
            conn.execute(delete(AbsenceRow))


def test_the_people_panel_shows_who_is_away_and_who_stands_in(away: Seeded) -> None:
    today = away.now.astimezone(ZoneInfo(NY)).date()
    html = away.web.sign_in("dana").get(f"/disputes/{away.ids['mediation']}").text
    panel = html[html.index('id="people-h"'):html.index("</aside>")]
    assert f'data-away="{PEOPLE["mediator"].email}"' in panel
    assert f"Away until {(today + timedelta(days=2)).isoformat()} (inclusive, {NY}): Max Mediator stands in" in panel
    upcoming = f"Away {(today + timedelta(days=7)).isoformat()} to {(today + timedelta(days=9)).isoformat()}"
    assert f"{upcoming} (inclusive, {NY}): Bob Backup stands in" in panel
    assert f'data-away="{PEOPLE["backup"].email}"' not in panel  # the backup is not away


def test_nobody_away_nothing_shown(seeded: Seeded) -> None:
    html = seeded.web.sign_in("dana").get(f"/disputes/{seeded.ids['mediation']}").text
    assert "data-away=" not in html


def test_a_mediator_sets_and_clears_their_absence_on_the_settings_page(seeded: Seeded) -> None:
    today = seeded.now.astimezone(ZoneInfo(NY)).date()
    web = seeded.web.sign_in("mediator")
    page = web.get("/settings").text
    assert "Away and delegation" in page and "You are not away." in page and "Max Mediator" in page
    until = (today + timedelta(days=3)).isoformat()
    saved = web.post("/settings/away", {"from": today.isoformat(), "until": until,
                                        "delegate": PEOPLE["mediator2"].email})
    assert saved.status_code == 303, saved.text
    page = web.get("/settings").text
    assert f"You are away now from {today.isoformat()} to {until} (inclusive, {NY})" in page
    assert f"{PEOPLE['mediator2'].email} takes the work" in page
    backwards = web.post("/settings/away", {"from": until, "until": today.isoformat(),
                                            "delegate": PEOPLE["mediator2"].email})
    assert backwards.status_code == 303
    assert "before it starts" in web.get("/settings").text  # the refusal, flashed
    assert web.post("/settings/away", {"clear": "1"}).status_code == 303
    assert "You are not away." in web.get("/settings").text
    assert "Away and delegation" not in seeded.web.sign_in("dana").get("/settings").text  # reps delegate nothing
