"""The lists handed out a page at a time (`GET /api/disputes`, `GET /api/registrations`): the body a plain
list, `X-Total-Count` how many the user may see with the filters, `Link` the next page (and the one before).

The store is shared by the module, so each test works with people it creates (a direct rep, a partner
organisation of its own): what they may see is exactly what the test made.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest_asyncio
from sqlalchemy import update

from store.tables import DISPUTES, REGISTRATIONS
from tests.api.conftest import Api, filing
from tests.harness.temporal import terminate


@dataclass
class People:
    """Users made for one test, with their tokens; the registrations they made end with the test."""

    api: Api
    org: str = field(default_factory=lambda: f"Paging Partners {uuid.uuid4().hex[:8]}")
    tokens: dict[str, str] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    registrations: list[str] = field(default_factory=list)

    async def add(self, who: str, channel: str) -> None:
        email = f"{who}-{uuid.uuid4().hex[:8]}@corp.example"
        body: dict[str, Any] = {"email": email, "name": who.title(), "role": "rep", "channel": channel,
                                "region": "EMEA", **({"partner_org": self.org} if channel == "partner" else {})}
        response = await self.api.post("/api/users", "admin", body)
        assert response.status_code == 201, response.text
        self.tokens[who], self.emails[who] = response.json()["token"], email

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    async def file(self, who: str, against: str, title: str) -> str:
        response = await self.api.http.post("/api/disputes", headers=self.auth(who), json=filing(
            title=title, counterparty_email=self.emails[against], partner_org=self.org))
        assert response.status_code == 201, response.text
        self.api.filed.append(response.json()["id"])
        return str(response.json()["id"])

    async def register(self, who: str, account: str) -> str:
        response = await self.api.http.post("/api/registrations", headers=self.auth(who), json={
            "account": account, "title": f"{account} platform", "deal_value": 50_000, "region": "EMEA"})
        assert response.status_code == 201, response.text
        self.registrations.append(response.json()["id"])
        return str(response.json()["id"])

    async def get(self, who: str, path: str, **params: Any) -> httpx.Response:
        response = await self.api.http.get(path, headers=self.auth(who), params=params)
        assert response.status_code == 200, response.text
        return response

    async def total(self, who: str, path: str, **params: Any) -> int:
        return int((await self.get(who, path, **params)).headers["X-Total-Count"])

    async def walk(self, who: str, path: str, **params: Any) -> tuple[list[str], list[httpx.Response]]:
        """Every page from the first, following `Link: rel="next"`: the ids in the order read, and the answers."""
        pages = [await self.get(who, path, **params)]
        while (after := pages[-1].links.get("next")) is not None:
            answer = await self.api.http.get(after["url"], headers=self.auth(who))
            assert answer.status_code == 200, answer.text
            pages.append(answer)
        return [item["id"] for page in pages for item in page.json()], pages


@pytest_asyncio.fixture(loop_scope="session")
async def people(api: Api) -> AsyncIterator[People]:
    made = People(api)
    try:
        yield made
    finally:
        await terminate(api.temporal, made.registrations)


def same_time(api: Api, table: Any, column: str, ids: list[str]) -> None:
    """Give these rows one value of the column the list is ordered by: only the tie-break orders them."""
    with api.engine.begin() as conn:
        conn.execute(update(table).where(table.c.id.in_(ids)).values({column: datetime(2026, 1, 5, 9, tzinfo=UTC)}))


async def test_the_dispute_list_pages_by_its_link_and_counts_what_each_may_see(people: People) -> None:
    for who, channel in (("ann", "direct"), ("ben", "direct"), ("pam", "partner"), ("pip", "partner")):
        await people.add(who, channel)
    anns = [await people.file("ann", "pam", f"Paging dispute {n}") for n in range(5)]
    for dispute_id in anns:  # withdrawn: no timer moves them while the test pages through them
        response = await people.api.http.post(f"/api/disputes/{dispute_id}/actions", headers=people.auth("ann"),
                                              json={"action": "withdraw", "reason": "Settled for the paging test"})
        assert response.status_code == 200, response.text
    same_time(people.api, DISPUTES, "updated_at", anns)
    bens = await people.file("ben", "pam", "Paging dispute of Ben")

    listed, pages = await people.walk("ann", "/api/disputes", limit=2)
    assert sorted(listed) == sorted(anns) and len(listed) == 5  # each exactly once, ties and all
    assert listed == sorted(anns)  # the tie-break: by id
    assert [len(p.json()) for p in pages] == [2, 2, 1]
    assert [p.headers["X-Total-Count"] for p in pages] == ["5", "5", "5"]
    assert [set(p.links) for p in pages] == [{"next"}, {"next", "prev"}, {"prev"}]  # no next on the last page
    assert httpx.URL(pages[1].links["prev"]["url"]).params["offset"] == "0"
    assert "Link" not in (await people.get("ann", "/api/disputes")).headers  # all on one page

    # with filters: the count is of those the filters keep, and the links keep the filters
    assert await people.total("pam", "/api/disputes") == 6
    assert await people.total("pam", "/api/disputes", status="withdrawn") == 5
    assert await people.total("pam", "/api/disputes", status="withdrawn", tier=1) == 5
    assert await people.total("pam", "/api/disputes", status="resolved") == 0
    withdrawn, pages = await people.walk("pam", "/api/disputes", status="withdrawn", limit=3)
    assert sorted(withdrawn) == sorted(anns)
    assert httpx.URL(pages[0].links["next"]["url"]).params["status"] == "withdrawn"
    assert bens not in withdrawn
    # a colleague sees the organisation's disputes but is party to none; a rep who sees fewer counts fewer
    assert await people.total("pip", "/api/disputes") == 6
    assert await people.total("pip", "/api/disputes", mine="true") == 0
    assert await people.total("ben", "/api/disputes") == 1
    ben = await people.get("ben", "/api/disputes", limit=1)
    assert [d["id"] for d in ben.json()] == [bens] and "Link" not in ben.headers
    # past the end: nothing, the count, and the way back
    beyond = await people.get("ann", "/api/disputes", limit=2, offset=10)
    assert beyond.json() == [] and beyond.headers["X-Total-Count"] == "5" and set(beyond.links) == {"prev"}


async def test_the_registration_list_pages_the_same_way(people: People) -> None:
    await people.add("pam", "partner")
    await people.add("pip", "partner")
    pams = [await people.register("pam", f"Paging Account {uuid.uuid4().hex[:6]} Corp") for _ in range(5)]
    pips = [await people.register("pip", f"Paging Account {uuid.uuid4().hex[:6]} Corp") for _ in range(2)]
    same_time(people.api, REGISTRATIONS, "submitted_at", pams)

    listed, pages = await people.walk("pam", "/api/registrations", limit=2, mine="true")
    assert listed == sorted(pams, reverse=True)  # each exactly once; the tie-break: by id, descending
    assert [p.headers["X-Total-Count"] for p in pages] == ["5", "5", "5"]
    assert [set(p.links) for p in pages] == [{"next"}, {"next", "prev"}, {"prev"}]
    assert httpx.URL(pages[0].links["next"]["url"]).params["mine"] == "true"
    assert await people.total("pam", "/api/registrations") == 7  # the organisation's
    assert await people.total("pip", "/api/registrations", mine="true") == 2
    assert await people.total("pip", "/api/registrations", status="approved") == 0
    everything, _ = await people.walk("pip", "/api/registrations", limit=3)
    assert sorted(everything) == sorted(pams + pips)
