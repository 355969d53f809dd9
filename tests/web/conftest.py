"""Fixtures of the web page tests.

`stack` (one per session): a migrated SQLite store with the people of `PEOPLE`, a Temporal dev server
(the installed binary), the real worker and the app served by uvicorn (tests/harness), all on an event
loop of their own in a background thread (`LoopThread`). That way both kinds of test can use it: the
synchronous route tests (FastAPI's TestClient, `web`) and the asynchronous Playwright tests (the
`uvicorn` URL), while the worker keeps running whatever the test's own loop is doing. The store also
holds a few hundred synthetic disputes (tests/web/synthetic.py) so that lists and the dashboard have
something to show.

`seeded` (one per module that asks): a store with synthetic disputes in known states and no
Temporal at all, for the pages that only read.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from playwright.async_api import Browser, async_playwright
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from domain.charter import Charter
from domain.model import Actor, Role
from settings import Settings
from store.charters import load_charter_file
from store.db import make_engine, migrate
from tests.harness.loop import LoopThread
from tests.harness.paths import DEFAULT_CHARTER, ROOT
from tests.harness.people import CRITERIA, OUTCOME, PEOPLE, RATIONALE, Person, seed_people
from tests.harness.ports import closed_port
from tests.harness.stack import ADMIN_TOKEN, make_settings, running_stack
from tests.harness.temporal import dev_server, target_of, terminate_running
from tests.reference_times import REFERENCE_TIMES
from tests.web import synthetic

with warnings.catch_warnings():  # starlette would rather have httpx2; with httpx it works the same
    warnings.filterwarnings("ignore", message=".*install `httpx2` instead", category=UserWarning)
    from fastapi.testclient import TestClient

__all__ = [  # TestClient for the tests that build an app of their own; the rest as the tests import them
    "ADMIN_TOKEN", "CRITERIA", "DEFAULT_CHARTER", "OUTCOME", "PEOPLE", "RATIONALE", "Person", "TestClient",
    "seed_people",
]
WEB_CHARTER = Path(__file__).resolve().parent / "charter.toml"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")


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


@dataclass
class Stack:
    settings: Settings
    engine: Engine
    tokens: dict[str, str]
    url: str  # uvicorn, for the browser
    web: Web  # TestClient on its own app instance, same store and Temporal
    env: WorkflowEnvironment
    loop: LoopThread


def _seed_synthetic(url: str, count: int) -> None:
    """Closed and open disputes filed over the past months (real lifecycle, simulated times)."""
    charter, text = load_charter_file(DEFAULT_CHARTER)
    engine = make_engine(url)
    try:
        synthetic.write(engine, list(synthetic.mix(count, charter, datetime.now(UTC), seed=11)), charter, text)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data = tmp_path_factory.mktemp("web-stack")
    url = f"sqlite:///{data / 'parley.db'}"
    migrate(url)
    _seed_synthetic(url, 300)
    loop = LoopThread("web-stack-loop")
    try:
        env = loop.enter(dev_server())
        settings = make_settings(url, data, target_of(env), charter=WEB_CHARTER)
        running = loop.enter(running_stack(env.client, settings))
        loop.on_close(terminate_running, env.client)  # the server is the stack's own: nothing else runs there
        with TestClient(create_app(settings)) as client:
            yield Stack(settings=settings, engine=running.engine, tokens=running.tokens, url=running.url,
                        web=Web(client, running.tokens), env=env, loop=loop)
    finally:
        loop.close()


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
    tokens, _ = seed_people(engine)
    charter, text = load_charter_file(DEFAULT_CHARTER)
    sims = known_disputes(charter, now)
    synthetic.write(engine, sims, charter, text)
    ids = {sim.dispute.start.filing.title.split()[0].lower(): sim.dispute.start.id for sim in sims}
    nowhere = f"127.0.0.1:{closed_port()}"  # these pages must not need Temporal
    settings = make_settings(url, data, nowhere, charter=DEFAULT_CHARTER)
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


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium under Playwright, one per test module."""
    executable = chromium_or_skip()
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=executable, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield chromium
        finally:
            await chromium.close()


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

