"""`GET /api/disputes/{id}` checks the token in the session that reads (api/deps.py `Reader`): it answers as
the list does, and a revoked token stops working at once, on every API process."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.conftest import Api, serve


def _without_clock(view: dict[str, Any]) -> dict[str, Any]:
    """The view less its SLA's remaining seconds (worked out at the moment of each request)."""
    sla = {k: v for k, v in view["sla"].items() if k != "remaining_s"}
    return {**view, "sla": sla}


async def test_a_dispute_reads_as_in_the_list_with_its_registrations(api: Api) -> None:
    dispute_id = str((await api.file(title=f"Read path {uuid.uuid4().hex[:6]}"))["id"])
    for who in ("dana", "pat", "mediator", "auditor"):
        shown = await api.dispute(dispute_id, who)
        listed = [d for d in (await api.get("/api/disputes", who, params={"limit": 1000})).json()
                  if d["id"] == dispute_id]
        assert len(listed) == 1, who
        assert shown["registrations"] == []
        assert _without_clock({k: v for k, v in shown.items() if k != "registrations"}) == _without_clock(listed[0])


async def test_who_may_not_see_it_gets_404_and_bad_credentials_401(api: Api) -> None:
    dispute_id = str((await api.file())["id"])
    assert (await api.get(f"/api/disputes/{dispute_id}", "quinn")).status_code == 404  # another partner org
    assert (await api.get("/api/disputes/PRL-NOPE0000", "auditor")).status_code == 404
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic eDp5"}):
        response = await api.http.get(f"/api/disputes/{dispute_id}", headers=headers)
        assert response.status_code == 401 and isinstance(response.json()["detail"], str), response.text
    assert (await api.get(f"/api/disputes/{dispute_id}", "bootstrap")).status_code == 200


async def test_a_revoked_token_stops_reading_at_once_on_every_api_process(api: Api) -> None:
    dispute_id = str((await api.file())["id"])
    issued = (await api.post(f"/api/users/{api.email('dana')}/tokens", "admin")).json()
    headers = {"Authorization": f"Bearer {issued['token']}"}
    path = f"/api/disputes/{dispute_id}"
    async with serve(api.settings) as other:  # a second API process on the same store
        assert (await api.http.get(path, headers=headers)).status_code == 200
        assert (await other.get(path, headers=headers)).status_code == 200
        assert (await api.delete(f"/api/tokens/{issued['token_id']}", "admin")).status_code == 204
        assert (await api.http.get(path, headers=headers)).status_code == 401
        assert (await other.get(path, headers=headers)).status_code == 401
        assert (await other.get(path, headers=api.auth("dana"))).status_code == 200  # dana's other token
