"""The whole API over real HTTP: a Temporal dev server, the real worker, the real store, uvicorn.

One dev server per session (`temporal_env`, tests/harness/temporal.py: the installed `temporal`
binary; the SDK never downloads anything). Per test module and backend (SQLite, PostgreSQL), `stack`
is a migrated database holding the people of `PEOPLE` with their tokens, the real worker on a fresh
task queue, and the app served by uvicorn on a free port in the test's event loop
(`running_stack`, tests/harness/stack.py). Each test gets it as `api`: an `httpx.AsyncClient` with
everyone's token, plus a direct look at the store. The workflows a test starts are terminated when
it ends, so their timers do not write into the next test. Asynchronous effects are awaited with
`eventually` (a poll with a deadline), never with fixed sleeps.

The harness's names the API tests use (`PEOPLE`, `Person`, `serve`, `eventually` …) are importable
from here as well.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from store.tables import AUDIT_EVENTS, DISPUTES
from tests.harness.paths import FAST_CHARTER
from tests.harness.people import CRITERIA, ORG_A, ORG_B, OUTCOME, PEOPLE, RATIONALE, Person, seed_people
from tests.harness.ports import closed_port
from tests.harness.stack import ADMIN_TOKEN, Stack, make_settings, running_stack, serve
from tests.harness.temporal import DEV_SERVER, target_of, terminate
from tests.harness.waiting import eventually
from tests.pg import migrated_database

__all__ = [  # the harness's names, as the API tests import them from here
    "ADMIN_TOKEN", "CRITERIA", "FAST_CHARTER", "ORG_A", "ORG_B", "OUTCOME", "PEOPLE", "RATIONALE", "TEMPORAL_BIN",
    "Person", "Stack", "closed_port", "eventually", "make_settings", "seed_people", "serve", "target_of",
]
TEMPORAL_BIN = DEV_SERVER


def filing(**overrides: Any) -> dict[str, Any]:
    """A valid filing by dana (direct) against pat (partner, org A); fields may be overridden."""
    body: dict[str, Any] = {
        "title": "Acme renewal claimed twice",
        "conflict_type": "account_ownership",
        "account": "Acme GmbH",
        "opportunity_ref": "OPP-1001",
        "deal_value": 250_000,
        "currency": "EUR",
        "region": "EMEA",
        "segment": "enterprise",
        "description": "Both teams are working the Acme renewal.",
        "counterparty_email": PEOPLE["pat"].email,
        "evidence": ["CRM note 2024-05-01"],
    }
    body.update(overrides)
    return body


def problems(response: httpx.Response) -> list[dict[str, str]]:
    """The problems of a 422, checked to have the one shape every 422 has (DESIGN §5): `detail` is a
    non-empty list of exactly `{field, message}`, the message in plain words (not pydantic's)."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, response.text
    for problem in detail:
        assert isinstance(problem, dict) and set(problem) == {"field", "message"}, response.text
        assert isinstance(problem["field"], str) and problem["field"], response.text
        message = problem["message"]
        assert isinstance(message, str) and message.strip(), response.text
        assert not message.startswith(("Input should", "String should", "Value error", "Field required")), message
    return detail


def names_field(response: httpx.Response, field: str) -> bool:
    """Whether a 422 names `field` (and has the shape of every 422)."""
    return any(p["field"] == field for p in problems(response))


def message_for(response: httpx.Response, field: str) -> str:
    """The message of the first problem a 422 reports for `field`."""
    found = [p["message"] for p in problems(response) if p["field"] == field]
    assert found, f"no problem with {field!r}: {response.text}"
    return found[0]


@dataclass
class Api(Stack):
    """The running stack as a test sees it: HTTP with each person's token, plus a look at the store;
    it remembers the disputes the test filed."""

    filed: list[str] = field(default_factory=list)

    @staticmethod
    def email(who: str) -> str:
        return PEOPLE[who].email

    def auth(self, who: str | None) -> dict[str, str]:
        if who is None:
            return {}
        token = ADMIN_TOKEN if who == "bootstrap" else self.tokens[who]
        return {"Authorization": f"Bearer {token}"}

    async def get(self, path: str, who: str | None, **kwargs: Any) -> httpx.Response:
        return await self.http.get(path, headers=self.auth(who), **kwargs)

    async def post(self, path: str, who: str | None, body: Any = None, **kwargs: Any) -> httpx.Response:
        response = await self.http.post(path, headers=self.auth(who), json=body, **kwargs)
        if path == "/api/disputes" and response.status_code == 201:
            self.filed.append(response.json()["id"])
        return response

    async def delete(self, path: str, who: str | None) -> httpx.Response:
        return await self.http.delete(path, headers=self.auth(who))

    async def file(self, who: str = "dana", **overrides: Any) -> dict[str, Any]:
        response = await self.post("/api/disputes", who, filing(**overrides))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def act(self, dispute_id: str, who: str, action: str, **fields: Any) -> httpx.Response:
        return await self.post(f"/api/disputes/{dispute_id}/actions", who, {"action": action, **fields})

    async def ok(self, dispute_id: str, who: str, action: str, **fields: Any) -> dict[str, Any]:
        """An action that must succeed; returns the dispute it answers with."""
        response = await self.act(dispute_id, who, action, **fields)
        assert response.status_code == 200, f"{action} by {who}: {response.status_code} {response.text}"
        body: dict[str, Any] = response.json()
        return body

    async def in_state(self, state: str) -> str:
        """A new dispute of dana (direct) against pat (partner, org A), brought to `state`:
        frontline, proposed (dana's proposal open), mediation, paused, appeal_window, executive
        (filed straight to tier 3, where no timer changes the status) or resolved."""
        if state == "executive":
            return str((await self.file(deal_value=60_000_000))["id"])
        dispute_id = str((await self.file())["id"])
        if state == "proposed":
            await self.ok(dispute_id, "dana", "propose", outcome=OUTCOME, note="Split it")
        elif state == "resolved":
            await self.ok(dispute_id, "dana", "propose", outcome=OUTCOME)
            await self.ok(dispute_id, "pat", "accept")
        elif state in ("mediation", "paused", "appeal_window"):
            await self.ok(dispute_id, "pat", "escalate", reason="We cannot agree")
            if state == "paused":
                await self.ok(dispute_id, "mediator", "request_info", question="Who registered first?")
            if state == "appeal_window":
                await self.ok(dispute_id, "mediator", "rule", outcome=OUTCOME, criteria=CRITERIA,
                              rationale=RATIONALE)
        else:
            assert state == "frontline", state
        return dispute_id

    async def dispute(self, dispute_id: str, who: str = "auditor") -> dict[str, Any]:
        response = await self.get(f"/api/disputes/{dispute_id}", who)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def ids(self, who: str, **params: Any) -> set[str]:
        response = await self.get("/api/disputes", who, params=params)
        assert response.status_code == 200, response.text
        return {d["id"] for d in response.json()}

    async def wait_status(self, dispute_id: str, status: str, timeout: float = 15.0) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            view = await self.dispute(dispute_id)
            return view if view["status"] == status else None

        return await eventually(probe, timeout=timeout, what=f"{dispute_id} to be {status}")

    # --- the store, read directly ---------------------------------------------------------------

    def events(self, dispute_id: str) -> list[tuple[int, str, str]]:
        """(seq, actor, action) of the dispute's audit events."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(AUDIT_EVENTS.c.seq, AUDIT_EVENTS.c.actor, AUDIT_EVENTS.c.action)
                                .where(AUDIT_EVENTS.c.dispute_id == dispute_id)
                                .order_by(AUDIT_EVENTS.c.seq)).all()
        return [(r.seq, r.actor, r.action) for r in rows]

    def people_events(self, dispute_id: str) -> list[tuple[int, str, str]]:
        """The events people caused (timers add `system:` events on their own schedule)."""
        return [e for e in self.events(dispute_id) if not e[1].startswith("system:")]

    def counts(self) -> tuple[int, int]:
        """(disputes, "filed" audit events) in the store: only a filing adds to either."""
        with self.engine.connect() as conn:
            disputes = conn.execute(select(func.count()).select_from(DISPUTES)).scalar_one()
            filed = conn.execute(select(func.count()).select_from(AUDIT_EVENTS)
                                 .where(AUDIT_EVENTS.c.action == "filed")).scalar_one()
        return int(disputes), int(filed)


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database per test module and backend.

    The same databases as the shared `db_url` fixture, but kept for a whole module: a fresh
    database, worker and server per test cost about a second on PostgreSQL, which would put the
    suite well over its time budget. Tests therefore never assume an empty store: they look for
    their own disputes and create the users they change.
    """
    with migrated_database(request, tmp_path_factory, "api") as url:
        yield url


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(stack_db_url: str, tmp_path_factory: pytest.TempPathFactory,
                temporal_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    """The worker and the API on one database, for a module."""
    settings = make_settings(stack_db_url, tmp_path_factory.mktemp("api-data"), target_of(temporal_env))
    async with running_stack(temporal_env.client, settings) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def api(stack: Stack) -> AsyncIterator[Api]:
    """The module's stack for one test; the workflows the test started are terminated after it."""
    each = Api(http=stack.http, engine=stack.engine, temporal=stack.temporal, settings=stack.settings,
               tokens=stack.tokens, user_ids=stack.user_ids)
    try:
        yield each
    finally:
        await terminate(stack.temporal, each.filed)
