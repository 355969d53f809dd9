"""Away and delegation over HTTP (DESIGN §8), on SQLite and PostgreSQL, with the real worker: set and clear an
absence, every refusal naming its field, `GET /api/users/me`, new work routed to the delegate (the backup for
an executive), an open dispute moved to the delegate by its own workflow (`system:away`), and a `reassign` to
someone away now refused with 409 naming their stand-in.

The stack's charter is the fast one (24x7, UTC). Dates are computed from the stack's clock (today, yesterday,
tomorrow), never written in, so the tests pass on any day.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine, delete
from sqlmodel import Session

from domain.charter import parse_charter
from domain.errors import InvalidInput
from service.away import set_away
from store.absence_tables import AbsenceRow
from store.users import user_by_email
from tests.api.conftest import FAST_CHARTER, PEOPLE, Api, eventually, filing, message_for, names_field, seed_people


@pytest_asyncio.fixture(loop_scope="session")
async def people(api: Api) -> AsyncIterator[Api]:
    """`api`, with every absence cleared after the test (the stack and its people are the module's)."""
    try:
        yield api
    finally:
        with api.engine.begin() as conn:
            conn.execute(delete(AbsenceRow))


def today() -> date:
    return datetime.now(UTC).date()  # the fast charter's calendar is UTC


def day(offset: int) -> str:
    return (today() + timedelta(days=offset)).isoformat()


async def put_away(api: Api, who: str, email: str, body: dict[str, Any]) -> httpx.Response:
    return await api.http.put(f"/api/users/{email}/away", headers=api.auth(who), json=body)


async def new_user(api: Api, role: str, **extra: Any) -> str:
    email = f"{role}-{uuid.uuid4().hex[:8]}@corp.example"
    body = {"email": email, "name": f"New {role}", "role": role, **extra}
    response = await api.post("/api/users", "admin", body)
    assert response.status_code == 201, response.text
    return email


async def me(api: Api, who: str) -> dict[str, Any]:
    response = await api.get("/api/users/me", who)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# --- setting, showing, clearing ------------------------------------------------------------------

async def test_a_mediator_sets_and_clears_their_absence_and_me_shows_it(people: Api) -> None:
    api = people
    mediator, mediator2 = api.email("mediator"), api.email("mediator2")
    response = await put_away(api, "mediator", mediator, {"from": day(2), "until": day(4), "delegate": mediator2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["email"] == mediator and body["standing_in_for"] == []
    away = body["away"]
    assert (away["from"], away["until"], away["delegate"], away["time_zone"]) == (day(2), day(4), mediator2, "UTC")
    assert away["away_now"] is False and away["set_by"] == mediator
    # `until` is inclusive: away until the start of the day after it, in the charter's time zone
    assert datetime.fromisoformat(away["starts_at"]) == datetime.fromisoformat(f"{day(2)}T00:00:00+00:00")
    assert datetime.fromisoformat(away["ends_at"]) == datetime.fromisoformat(f"{day(5)}T00:00:00+00:00")

    mine = await me(api, "mediator")
    assert mine["away"] == away
    theirs = await me(api, "mediator2")  # who delegated to me
    assert theirs["away"] is None and [a["email"] for a in theirs["standing_in_for"]] == [mediator]

    # set again: replaced, not added
    again = await put_away(api, "mediator", mediator, {"from": day(0), "until": day(1), "delegate": mediator2})
    assert again.status_code == 200 and again.json()["away"]["away_now"] is True
    cleared = await api.delete(f"/api/users/{mediator}/away", "mediator")
    assert cleared.status_code == 200, cleared.text
    assert cleared.json()["away"] is None
    assert (await me(api, "mediator"))["away"] is None
    assert (await me(api, "mediator2"))["standing_in_for"] == []


async def test_an_executive_stands_in_the_backup_by_default(people: Api) -> None:
    api = people
    response = await put_away(api, "exec", api.email("exec"), {"from": day(1), "until": day(1)})
    assert response.status_code == 200, response.text
    assert response.json()["away"]["delegate"] == api.email("backup")


async def test_only_an_admin_or_the_person_sets_an_absence(people: Api) -> None:
    api = people
    mediator = api.email("mediator")
    body = {"from": day(1), "until": day(2), "delegate": api.email("mediator2")}
    for who in ("dana", "mediator2", "exec", "auditor"):
        response = await put_away(api, who, mediator, body)
        assert response.status_code == 403, (who, response.text)
        assert (await api.delete(f"/api/users/{mediator}/away", who)).status_code == 403
    assert (await put_away(api, "admin", mediator, body)).json()["away"]["set_by"] == api.email("admin")
    assert (await api.delete(f"/api/users/{mediator}/away", "admin")).status_code == 200
    assert (await put_away(api, "admin", "nobody-here@corp.example", body)).status_code == 404
    assert (await api.delete("/api/users/nobody-here@corp.example/away", "admin")).status_code == 404
    assert (await api.http.put(f"/api/users/{mediator}/away", json=body)).status_code == 401


# --- refusals: 422 naming the field ----------------------------------------------------------------

async def test_bad_absences_are_refused_naming_the_field(people: Api) -> None:
    api = people
    person = await new_user(api, "mediator")
    other = await new_user(api, "mediator")
    busy = await new_user(api, "mediator")
    assert (await put_away(api, "admin", busy, {"from": day(3), "until": day(9), "delegate": other})).status_code == 200
    rep = api.email("dana")
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("ends before it starts", {"from": day(5), "until": day(4), "delegate": other}, "until"),
        ("over already", {"from": day(-5), "until": day(-1), "delegate": other}, "until"),
        ("delegate unknown", {"from": day(1), "until": day(2), "delegate": "ghost@corp.example"}, "delegate"),
        ("delegate is the person", {"from": day(1), "until": day(2), "delegate": person}, "delegate"),
        ("delegate is a rep", {"from": day(1), "until": day(2), "delegate": rep}, "delegate"),
        ("delegate is an executive", {"from": day(1), "until": day(2), "delegate": api.email("exec")}, "delegate"),
        ("delegate away too", {"from": day(1), "until": day(3), "delegate": busy}, "delegate"),
        ("no delegate for a mediator", {"from": day(1), "until": day(2)}, "delegate"),
        ("not a date", {"from": "next monday", "until": day(2), "delegate": other}, "from"),
        ("a number", {"from": 0, "until": day(2), "delegate": other}, "from"),
        ("a number as text", {"from": day(1), "until": "12345", "delegate": other}, "until"),
        ("past the last day there is", {"from": day(1), "until": "9999-12-31", "delegate": other}, "until"),
        ("more than two years ahead", {"from": day(1), "until": day(2 * 366 + 1), "delegate": other}, "until"),
        ("from the first day there is", {"from": "0001-01-01", "until": day(2), "delegate": other}, "from"),
        ("started more than a year ago", {"from": day(-367), "until": day(2), "delegate": other}, "from"),
        ("no from", {"until": day(2), "delegate": other}, "from"),
        ("not an e-mail", {"from": day(1), "until": day(2), "delegate": "max"}, "delegate"),
        ("unknown field", {"from": day(1), "until": day(2), "delegate": other, "why": "ski"}, "why"),
    ]
    for label, body, field in cases:
        response = await put_away(api, "admin", person, body)
        assert response.status_code == 422, (label, response.text)
        assert names_field(response, field), (label, response.text)
    zero = await put_away(api, "admin", person, {"from": 0, "until": day(2), "delegate": other})
    assert message_for(zero, "from") == "must be a date (YYYY-MM-DD), not a number"
    far = await put_away(api, "admin", person, {"from": day(1), "until": "9999-12-31", "delegate": other})
    assert message_for(far, "until").startswith("an absence ends at most two years after today, ")
    # as far as an absence reaches, both ways
    widest = await put_away(api, "admin", person, {"from": day(-365), "until": day(730), "delegate": other})
    assert widest.status_code == 200, widest.text
    # a delegate away over days that do not overlap is fine; a rep has no work to hand over
    later = {"from": day(10), "until": day(12), "delegate": busy}
    assert (await put_away(api, "admin", person, later)).status_code == 200
    refused = await put_away(api, "dana", rep, {"from": day(1), "until": day(2), "delegate": other})
    assert names_field(refused, "email"), refused.text
    assert (await me(api, "dana"))["away"] is None


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "Pacific/Pago_Pago"])
def test_no_date_set_away_takes_overflows_east_or_west_of_utc(engine: Engine, zone: str) -> None:
    """QA's 500s, in the service every surface calls: the end of 9999-12-31 is past the last instant there is,
    and the start of 0001-01-01 in Tokyo is before the first one in UTC. Both are refused naming the field
    before any instant is worked out."""
    seed_people(engine, {k: PEOPLE[k] for k in ("mediator", "mediator2", "admin")})
    charter = parse_charter(FAST_CHARTER.read_text().replace('timezone = "UTC"', f'timezone = "{zone}"'))
    now = datetime(2026, 12, 7, 12, tzinfo=UTC)
    with Session(engine) as session:
        admin = user_by_email(session, PEOPLE["admin"].email)
        assert admin is not None
        for first, last, field in [("2026-12-07", "9999-12-31", "until"), ("0001-01-01", "2026-12-08", "from"),
                                   ("0001-01-01", "0001-01-01", "until"), ("9999-12-31", "9999-12-31", "until")]:
            with pytest.raises(InvalidInput) as refused:
                set_away(session, admin, PEOPLE["mediator"].email, date.fromisoformat(first),
                         date.fromisoformat(last), PEOPLE["mediator2"].email, charter, now)
            assert refused.value.field == field, (first, last, refused.value.message)
        status, _ = set_away(session, admin, PEOPLE["mediator"].email, date(2025, 12, 7), date(2028, 12, 7),
                             PEOPLE["mediator2"].email, charter, now)
        assert status.absence is not None and status.absence.time_zone == zone


async def test_a_delegate_conflicted_on_an_open_dispute_is_refused(people: Api) -> None:
    api = people
    boss = await new_user(api, "mediator")
    rep = await new_user(api, "rep", channel="direct", region="EMEA", manager_email=boss)
    token = (await api.post(f"/api/users/{rep}/tokens", "admin")).json()["token"]
    filed = await api.http.post("/api/disputes", json=filing(), headers={"Authorization": f"Bearer {token}"})
    assert filed.status_code == 201, filed.text
    dispute_id = filed.json()["id"]
    api.filed.append(dispute_id)
    assert filed.json()["mediator"] == api.email("mediator")
    # the rep's manager may not adjudicate the rep's dispute, so may not take the mediator's work over
    response = await put_away(api, "mediator", api.email("mediator"), {"from": day(1), "until": day(2),
                                                                       "delegate": boss})
    assert names_field(response, "delegate"), response.text
    assert dispute_id in message_for(response, "delegate")
    assert (await me(api, "mediator"))["away"] is None


# --- a reassign to someone away ---------------------------------------------------------------------

async def test_a_reassign_to_someone_away_now_is_409_naming_until_when_and_their_stand_in(people: Api) -> None:
    api = people
    mediator2, backup = api.email("mediator2"), api.email("backup")
    stand_in = await new_user(api, "mediator")
    assert (await put_away(api, "admin", mediator2, {"from": day(0), "until": day(2),
                                                     "delegate": stand_in})).status_code == 200
    dispute_id = await api.in_state("paused")  # in mediation, its clock stopped: no timer moves it on meanwhile
    before = api.people_events(dispute_id)
    for who in ("mediator", "admin"):
        refused = await api.act(dispute_id, who, "reassign", to=mediator2)
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == (f"{mediator2} is away until {day(2)} (inclusive, UTC); their stand-in "
                                            f"is {stand_in}")
    assert api.people_events(dispute_id) == before  # nothing recorded, nothing moved
    # an executive away: the backup's stand-in is the sponsor
    assert (await put_away(api, "admin", backup, {"from": day(-1), "until": day(0)})).status_code == 200
    at_tier_3 = await api.in_state("executive")
    refused = await api.act(at_tier_3, "exec", "reassign", to=backup)
    assert refused.status_code == 409, refused.text
    assert refused.json()["detail"] == (f"{backup} is away until {day(0)} (inclusive, UTC); their stand-in is "
                                        f"{api.email('exec')}")
    # back (or away only later): the reassign goes through
    assert (await api.delete(f"/api/users/{mediator2}/away", "admin")).status_code == 200
    assert (await put_away(api, "admin", mediator2, {"from": day(3), "until": day(4),
                                                     "delegate": stand_in})).status_code == 200
    assert (await api.ok(dispute_id, "mediator", "reassign", to=mediator2))["mediator"] == mediator2


# --- routing new work, moving open work --------------------------------------------------------------

async def test_new_disputes_go_to_the_delegate_and_the_backup(people: Api) -> None:
    api = people
    mediator, mediator2 = api.email("mediator"), api.email("mediator2")
    assert (await put_away(api, "mediator", mediator,
                           {"from": day(-1), "until": day(1), "delegate": mediator2})).status_code == 200
    assert (await put_away(api, "exec", api.email("exec"), {"from": day(-1), "until": day(1)})).status_code == 200
    filed = await api.file()
    assert filed["mediator"] == mediator2, filed
    huge = await api.file(deal_value=60_000_000)  # straight to the executive, who is away
    assert huge["status"] == "executive" and huge["executive"] == api.email("backup"), huge
    assert huge["waiting_on"] == [api.email("backup")]
    # the delegate acts in their own name
    await api.ok(huge["id"], "backup", "comment", text="Taking this while Eve is away.")
    assert (await api.delete(f"/api/users/{mediator}/away", "mediator")).status_code == 200
    assert (await api.file())["mediator"] == mediator  # back: new work is theirs again


async def test_an_open_dispute_moves_to_the_delegate_when_the_absence_starts(people: Api) -> None:
    api = people
    mediator, mediator2 = api.email("mediator"), api.email("mediator2")
    dispute_id = await api.in_state("mediation")
    assert (await api.dispute(dispute_id))["mediator"] == mediator
    # away since today: the absence has started, the workflow moves the dispute at once, by itself
    assert (await put_away(api, "mediator", mediator,
                           {"from": day(0), "until": day(2), "delegate": mediator2})).status_code == 200

    async def moved() -> dict[str, Any] | None:
        view = await api.dispute(dispute_id)
        return view if view["mediator"] == mediator2 else None

    view = await eventually(moved, what=f"{dispute_id} to move to {mediator2}")
    assert view["waiting_on"] == [mediator2] or view["status"] != "mediation"
    assert (len(api.events(dispute_id)), "system:away", "reassigned") in api.events(dispute_id) \
        or any(e[1:] == ("system:away", "reassigned") for e in api.events(dispute_id))
    events = (await api.get(f"/api/disputes/{dispute_id}/audit", "auditor")).json()
    (moved_event,) = [e for e in events if e["action"] == "reassigned"]
    assert moved_event["actor"] == "system:away"
    assert moved_event["payload"] == {"role": "mediator", "from": mediator, "to": mediator2}
    assert dispute_id in await api.ids("mediator2", mine="true")


async def test_a_dispute_filed_before_an_absence_is_told_of_it_with_a_stand_in_free_to_take_it(people: Api) -> None:
    api = people
    mediator, mediator2 = api.email("mediator"), api.email("mediator2")
    assert (await put_away(api, "mediator", mediator,
                           {"from": day(1), "until": day(2), "delegate": mediator2})).status_code == 200
    plain = (await api.file())["id"]
    # a rep whose manager is the delegate: for their dispute, the delegate is conflicted and routing passes over
    rep = await new_user(api, "rep", channel="direct", region="EMEA", manager_email=mediator2)
    token = (await api.post(f"/api/users/{rep}/tokens", "admin")).json()["token"]
    filed = await api.http.post("/api/disputes", json=filing(), headers={"Authorization": f"Bearer {token}"})
    assert filed.status_code == 201, filed.text
    managed = filed.json()["id"]
    api.filed.append(managed)
    assert [(a["email"], a["stand_in"]) for a in await started_with(api, plain)] == [(mediator, mediator2)]
    ((email, stand_in),) = [(a["email"], a["stand_in"]) for a in await started_with(api, managed)]
    assert email == mediator and stand_in not in (mediator2, mediator)


async def started_with(api: Api, dispute_id: str) -> list[dict[str, Any]]:
    """The absences the dispute's workflow was started with (its input)."""
    history = await api.temporal.get_workflow_handle(dispute_id).fetch_history()
    payload = history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    absences: list[dict[str, Any]] = json.loads(payload.data)["absences"]
    return absences
