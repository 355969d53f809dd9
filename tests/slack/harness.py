"""The whole Slack app over real HTTP, driven the way Slack drives it.

`slack_stack` runs the real app (uvicorn, in this event loop) and the real worker against a Temporal
dev server, a migrated SQLite store (or a PostgreSQL database), the local `FakeSlack` Web API and a
`ResponseSink` that stands in for Slack's `response_url` hooks; `another_api` adds a second API process
on the same store. `SlackDriver` then plays Slack: it signs every request exactly as
Slack does (v0 HMAC-SHA256 over "v0:{timestamp}:{body}"), reads the buttons of the messages the app
posted in the fake, sends the `block_actions` payload of the pressed button, fills the modal the app
opened (from `fake.views`) and sends the `view_submission`. Every wait polls with a deadline.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, delete, func, select
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

import activities.slack
from api.app import create_app
from domain.model import Role
from settings import Settings
from store.db import make_engine, migrate
from store.tables import AUDIT_EVENTS, DISPUTES, NOTIFICATIONS, ONCE_KEYS
from tests.fakes.slack import FakeSlack
from tests.harness.paths import FAST_CHARTER
from tests.harness.people import Person, seed_people
from tests.harness.stack import serve
from tests.harness.temporal import terminate
from tests.harness.waiting import eventually
from worker import build_worker

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0CONFLICTS"
PUBLIC_URL = "https://parley.example"
T = TypeVar("T")


PEOPLE: dict[str, Person] = {
    "dana": Person("dana@corp.example", "Dana Direct", Role.rep, "direct", slack_id="U0DANA"),
    "drew": Person("drew@corp.example", "Drew Direct", Role.rep, "direct", slack_id="U0DREW", linked=False),
    "pat": Person("pat@resellers.example", "Pat Partner", Role.rep, "partner", "Resellers Inc", slack_id="U0PAT",
                  linked=False),
    "quinn": Person("quinn@other.example", "Quinn Other", Role.rep, "partner", "Other Ltd", slack_id="U0QUINN"),
    "mediator": Person("mediator@example.com", "Mia Mediator", Role.mediator, slack_id="U0MEDI"),
    "exec": Person("exec@example.com", "Eve Executive", Role.executive, slack_id="U0EXEC"),
    "backup": Person("exec.backup@example.com", "Bob Backup", Role.executive, slack_id="U0BACKUP"),
    "auditor": Person("audrey@corp.example", "Audrey Auditor", Role.auditor, slack_id="U0AUDREY"),
}
STRANGER = "U0STRANGER"  # in Slack, not in Parley
NO_EMAIL = "U0NOMAIL"  # in Slack without an e-mail (a bot, a guest)

CRITERIA_VALUES = {"win_direct": "0.4", "win_partner": "0.7", "ltv_direct": "120000", "ltv_partner": "90000",
                   "fit_direct": "3", "fit_partner": "4"}  # the charter recommends the partner
RATIONALE = "The partner registered first and carries the stronger relationship."


# --- Slack's side: signing, response_url -----------------------------------------------------------

def signature(secret: str, timestamp: str, body: bytes) -> str:
    base = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, *, secret: str = SECRET, timestamp: int | None = None,
                   content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature(secret, ts, body),
            "Content-Type": content_type}


class ResponseSink:
    """Stands in for Slack's response_url hooks: records every JSON body posted to /hooks/<id>."""

    def __init__(self) -> None:
        self.posts: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with sink._lock:
                    sink.posts.setdefault(self.path.rsplit("/", 1)[-1], []).append(body)
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def url(self) -> tuple[str, str]:
        hook = uuid.uuid4().hex
        return hook, f"http://127.0.0.1:{self._server.server_address[1]}/hooks/{hook}"

    def of(self, hook: str) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.posts.get(hook, []))

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class MovableClock:
    """The app's signature clock (slack-sdk's `Clock` interface), shifted by `offset` seconds."""

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset


# --- the stack -------------------------------------------------------------------------------------

@dataclass
class Stack:
    http: httpx.AsyncClient
    fake: FakeSlack
    sink: ResponseSink
    engine: Engine
    temporal: Client
    settings: Settings
    clock: MovableClock
    app: FastAPI
    filed: list[str] = field(default_factory=list)


def seed(engine: Engine, fake: FakeSlack) -> None:
    seed_people(engine, PEOPLE)
    for p in PEOPLE.values():
        fake.users[str(p.slack_id)] = {"email": p.email, "real_name": p.name}
    fake.users[STRANGER] = {"email": "stranger@elsewhere.example", "real_name": "Sam Stranger"}
    fake.users[NO_EMAIL] = {"real_name": "No Mail", "is_bot": True}


@contextmanager
def slack_timeout(seconds: float | None) -> Iterator[None]:
    """The worker's Slack client time-out while it is built (the fault tests use a short one)."""
    before = activities.slack.SLACK_TIMEOUT_S
    if seconds is not None:
        activities.slack.SLACK_TIMEOUT_S = seconds  # type: ignore[assignment]
    try:
        yield
    finally:
        activities.slack.SLACK_TIMEOUT_S = before


@asynccontextmanager
async def slack_stack(env: WorkflowEnvironment, data_dir: Path, *, fake: FakeSlack | None = None,
                      worker_slack_timeout: float | None = None, database_url: str | None = None,
                      ) -> AsyncIterator[Stack]:
    """The stack on a migrated SQLite file in `data_dir`, or on `database_url` (an empty database)."""
    fake = fake or FakeSlack(min_interval_per_channel=1.0)
    db_url = database_url or f"sqlite:///{data_dir / 'parley.db'}"
    migrate(db_url)
    engine = make_engine(db_url)
    sink = ResponseSink()
    clock = MovableClock()
    with fake:
        seed(engine, fake)
        settings = Settings(
            database_url=db_url, temporal_address=env.client.service_client.config.target_host,
            task_queue=f"slack-test-{uuid.uuid4().hex[:12]}", charter=FAST_CHARTER, data_dir=data_dir,
            slack_bot_token=fake.token, slack_signing_secret=SECRET, slack_api_url=fake.base_url,
            slack_channel=CHANNEL, public_url=PUBLIC_URL,
        )
        app = create_app(settings)
        app.state.slack_clock = clock
        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=16) as executor:
                with slack_timeout(worker_slack_timeout):
                    worker = build_worker(env.client, settings, engine, executor)
                async with worker, serve(app) as http:
                    stack = Stack(http=http, fake=fake, sink=sink, engine=engine, temporal=env.client,
                                  settings=settings, clock=clock, app=app)
                    try:
                        yield stack
                    finally:
                        await terminate(env.client, stack.filed)
        finally:
            sink.close()
            engine.dispose()


@asynccontextmanager
async def another_api(stack: Stack) -> AsyncIterator[Stack]:
    """A second API process on the same store, Temporal and fake Slack: its own application (and so
    its own memory) on its own port, as behind a load balancer or after a restart. The stack's worker
    serves both; a `SlackDriver` of the result sends its requests to the second API."""
    app = create_app(stack.settings)
    app.state.slack_clock = stack.clock
    async with serve(app) as http:
        yield dataclasses.replace(stack, http=http, app=app)


def forget_presses(engine: Engine) -> None:
    """Drop every double-press claim, as if they had expired (store/once.py, scope "press")."""
    with engine.begin() as conn:
        conn.execute(delete(ONCE_KEYS).where(ONCE_KEYS.c.scope == "press"))


# --- playing Slack ---------------------------------------------------------------------------------

@dataclass
class Sent:
    """A request the driver sent, and where its answers go."""

    response: httpx.Response
    hook: str | None = None
    trigger_id: str | None = None


class SlackDriver:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.fake = stack.fake
        self.filing_hooks: dict[str, str] = {}  # dispute id -> response_url hook of its /conflict

    # -- raw requests

    async def post(self, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.stack.http.post(path, content=body, headers=signed_headers(body) if headers is None
                                          else headers)

    async def command(self, who: str, text: str = "", *, user_id: str | None = None,
                      channel: str = "C0GENERAL") -> Sent:
        hook, url = self.stack.sink.url()
        trigger = f"trig-{uuid.uuid4().hex}"
        form = {"token": "legacy", "team_id": "T0FAKE", "team_domain": "fake", "channel_id": channel,
                "channel_name": "general", "user_id": user_id or PEOPLE[who].slack_id, "user_name": who,
                "command": "/conflict", "text": text, "api_app_id": "A0PARLEY", "response_url": url,
                "trigger_id": trigger}
        response = await self.post("/slack/commands", urlencode(form).encode())
        return Sent(response, hook, trigger)

    async def interact(self, payload: dict[str, Any]) -> httpx.Response:
        return await self.post("/slack/interactions", urlencode({"payload": json.dumps(payload)}).encode())

    async def event(self, body: dict[str, Any]) -> httpx.Response:
        raw = json.dumps(body).encode()
        return await self.post("/slack/events", raw, signed_headers(raw, content_type="application/json"))

    # -- messages and their buttons

    def dms(self, who: str) -> list[dict[str, Any]]:
        return self.fake.messages(PEOPLE[who].slack_id)

    @staticmethod
    def buttons(message: dict[str, Any]) -> list[str]:
        return [e["action_id"].removeprefix("act:") for b in message.get("blocks") or [] if b["type"] == "actions"
                for e in b["elements"] if e.get("action_id", "").startswith("act:")]

    @staticmethod
    def about(message: dict[str, Any], dispute_id: str) -> bool:
        return dispute_id in json.dumps(message.get("blocks") or []) or dispute_id in message.get("text", "")

    async def dm_with(self, who: str, dispute_id: str, button: str, timeout: float = 10.0) -> dict[str, Any]:
        """The newest DM to `who` about the dispute that offers `button`."""
        def probe() -> dict[str, Any] | None:
            found = [m for m in self.dms(who) if self.about(m, dispute_id) and button in self.buttons(m)]
            return found[-1] if found else None

        try:
            message: dict[str, Any] = await eventually(probe, timeout=timeout,
                                                       what=f"a DM to {who} about {dispute_id} with {button}")
            return message
        except AssertionError as exc:
            seen = [(self.buttons(m), m["text"]) for m in self.dms(who) if self.about(m, dispute_id)]
            raise AssertionError(f"{exc}; {dispute_id} is {status(self.stack.engine, dispute_id)} after "
                                 f"{events(self.stack.engine, dispute_id)}; {who} has {seen}") from None

    async def press(self, who: str, message: dict[str, Any], button: str, *, user_id: str | None = None,
                    value: str | None = None, ephemeral: bool = False) -> Sent:
        """Send the block_actions payload of pressing `button` on `message` (as Slack would; an
        ephemeral message comes without its content, and is answered through response_url only)."""
        element, block_id = next((e, b["block_id"]) for b in message["blocks"]
                                 for e in (b.get("elements") if b["type"] == "actions" else [b.get("accessory")])
                                 if e and e.get("action_id") == f"act:{button}")  # a row's, or a section's
        hook, url = self.stack.sink.url()
        trigger = f"trig-{uuid.uuid4().hex}"
        user = user_id or PEOPLE[who].slack_id
        payload: dict[str, Any] = {
            "type": "block_actions", "api_app_id": "A0PARLEY", "token": "legacy", "trigger_id": trigger,
            "team": {"id": "T0FAKE", "domain": "fake"},
            "user": {"id": user, "username": who, "team_id": "T0FAKE"},
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": message["channel"],
                          "is_ephemeral": ephemeral},
            "channel": {"id": message["channel"], "name": "directmessage"},
            "response_url": url,
            "actions": [{"type": "button", "action_id": element["action_id"], "block_id": block_id,
                         "text": element["text"], "value": value if value is not None else element["value"],
                         "action_ts": f"{time.time():.6f}"}],
        }
        if not ephemeral:
            payload["message"] = {"type": "message", "ts": message["ts"], "text": message["text"],
                                  "blocks": message["blocks"], "user": self.fake.bot_user_id}
        response = await self.interact(payload)
        return Sent(response, hook, trigger)

    async def status_message(self, who: str, dispute_id: str) -> tuple[dict[str, Any], Sent]:
        """`/conflict status <id>`: the ephemeral answer, as a message the person can press buttons on."""
        sent = await self.command(who, f"status {dispute_id}")
        assert sent.response.status_code == 200 and not sent.response.content, sent.response.text
        await eventually(lambda: self.stack.sink.of(sent.hook or ""), what="the status answer")
        posted = self.stack.sink.of(sent.hook or "")[-1]
        return {"ts": f"{time.time():.6f}", "channel": "C0GENERAL", "text": posted["text"],
                "blocks": posted.get("blocks", [])}, sent

    def answers(self, sent: Sent) -> list[str]:
        """The texts answered to a request: through its response_url, or ephemerally."""
        posts = self.stack.sink.of(sent.hook or "")
        return [str(p.get("text", "")) + " " + json.dumps(p.get("blocks", [])) for p in posts]

    async def answer(self, sent: Sent, timeout: float = 10.0) -> str:
        found: list[str] = await eventually(lambda: self.answers(sent), timeout=timeout,
                                            what="an answer through response_url")
        return found[-1]

    # -- modals

    async def modal(self, sent: Sent, timeout: float = 10.0) -> dict[str, Any]:
        """The modal opened with the request's trigger id (its current version)."""
        def probe() -> dict[str, Any] | None:
            for call in self.fake.calls_to("views.open"):
                if call.ok and call.args.get("trigger_id") == sent.trigger_id:
                    assert call.response is not None
                    return self.fake.views[call.response["view"]["id"]]
            return None

        modal: dict[str, Any] = await eventually(probe, timeout=timeout, what="a modal opened with the trigger id")
        return modal

    def current(self, view_id: str) -> dict[str, Any]:
        return self.fake.views[view_id]

    @staticmethod
    def state_of(view: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
        """view.state as Slack builds it from what the person typed or picked."""
        state: dict[str, dict[str, Any]] = {}
        for block in view["blocks"]:
            if block["type"] != "input" or block["block_id"] not in values:
                continue
            element, value = block["element"], values[block["block_id"]]
            kind = element["type"]
            if kind == "static_select":
                entry = {"type": kind, "selected_option": {"text": {"type": "plain_text", "text": value},
                                                           "value": value}}
            elif kind == "users_select":
                entry = {"type": kind, "selected_user": value}
            elif kind == "datepicker":
                entry = {"type": kind, "selected_date": value}
            else:
                entry = {"type": kind, "value": value}
            state[block["block_id"]] = {element["action_id"]: entry}
        return {"values": state}

    async def submit(self, who: str, view: dict[str, Any], values: dict[str, str], *,
                     user_id: str | None = None) -> httpx.Response:
        return await self.post("/slack/interactions", self.submission(who, view, values, user_id=user_id))

    async def shown_after(self, view: dict[str, Any], answer: httpx.Response, shows: str) -> str:
        """The submitted modal, as JSON, once it shows `shows`: in the submission's answer or, when the work took
        longer than the answer may wait ("Working on it", on a busy machine), in the modal's update after."""
        text = json.dumps(answer.json()["view"])
        if shows in text:
            return text
        assert "Working on it" in text, text

        def updated() -> str | None:
            now = json.dumps(self.current(view["id"]))
            return now if shows in now else None

        return await eventually(updated, timeout=30, what=f"the modal to show {shows!r}")

    def submission(self, who: str, view: dict[str, Any], values: dict[str, str], *,
                   user_id: str | None = None) -> bytes:
        """The body of a view_submission (each call a new one: Slack gives every request a trigger id)."""
        payload = {
            "type": "view_submission", "api_app_id": "A0PARLEY", "token": "legacy",
            "team": {"id": "T0FAKE", "domain": "fake"},
            "user": {"id": user_id or PEOPLE[who].slack_id, "username": who, "team_id": "T0FAKE"},
            "trigger_id": f"trig-{uuid.uuid4().hex}",
            "view": {**view, "state": self.state_of(view, values)},
        }
        return urlencode({"payload": json.dumps(payload)}).encode()

    async def dispatch(self, who: str, view: dict[str, Any], values: dict[str, str], block_id: str) -> httpx.Response:
        """A dispatch_action input changed in a modal (block_actions from the view)."""
        element = next(b["element"] for b in view["blocks"] if b.get("block_id") == block_id)
        payload = {
            "type": "block_actions", "api_app_id": "A0PARLEY", "token": "legacy",
            "team": {"id": "T0FAKE", "domain": "fake"}, "trigger_id": f"trig-{uuid.uuid4().hex}",
            "user": {"id": PEOPLE[who].slack_id, "username": who, "team_id": "T0FAKE"},
            "container": {"type": "view", "view_id": view["id"]},
            "view": {**view, "state": self.state_of(view, values)},
            "actions": [{"type": element["type"], "action_id": element["action_id"], "block_id": block_id,
                         "value": values[block_id], "action_ts": f"{time.time():.6f}"}],
        }
        return await self.interact(payload)

    # -- whole steps

    async def file(self, who: str = "dana", against: str = "pat", **fields: str) -> str:
        """/conflict, fill the modal, submit: the new dispute's id."""
        sent = await self.command(who)
        assert sent.response.status_code == 200, sent.response.text
        modal = await self.modal(sent)
        values = {"title": "Acme renewal claimed twice", "counterparty": PEOPLE[against].slack_id,
                  "conflict_type": "account_ownership", "account": "Acme GmbH", "deal_value": "250000",
                  "currency": "EUR", "region": "EMEA", "description": "Both teams are working the Acme renewal.",
                  **fields}
        answer = await self.submit(who, modal, values)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body.get("response_action") == "update", body
        text = json.dumps(body["view"])
        if "PRL-" not in text:  # answered after Slack's 3 s on a busy machine: the modal shows it in a moment

            def shown() -> str | None:
                later = json.dumps(self.current(modal["id"]))
                return later if "PRL-" in later else None

            text = await eventually(shown, timeout=30, what="the filing modal's late answer")
        dispute_id = text[text.index("PRL-"):text.index("PRL-") + 12]
        self.stack.filed.append(dispute_id)
        self.filing_hooks[dispute_id] = sent.hook or ""
        return dispute_id

    async def act_via_modal(self, who: str, dispute_id: str, button: str, values: dict[str, str]) -> dict[str, Any]:
        """Press `button` on the newest DM offering it, fill its modal, submit: the answer."""
        message = await self.dm_with(who, dispute_id, button)
        sent = await self.press(who, message, button)
        assert sent.response.status_code == 200
        modal = await self.modal(sent)
        answer = await self.submit(who, modal, values)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    async def click(self, who: str, dispute_id: str, button: str) -> tuple[dict[str, Any], Sent]:
        message = await self.dm_with(who, dispute_id, button)
        sent = await self.press(who, message, button)
        assert sent.response.status_code == 200
        return message, sent


# --- the store, read directly --------------------------------------------------------------------------

def events(engine: Engine, dispute_id: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(AUDIT_EVENTS.c.actor, AUDIT_EVENTS.c.action)
                            .where(AUDIT_EVENTS.c.dispute_id == dispute_id).order_by(AUDIT_EVENTS.c.seq)).all()
    return [(r.actor, r.action) for r in rows]


def status(engine: Engine, dispute_id: str) -> str | None:
    with engine.connect() as conn:
        value = conn.execute(select(DISPUTES.c.status).where(DISPUTES.c.id == dispute_id)).scalar()
    return str(value) if value is not None else None


def counts(engine: Engine) -> tuple[int, int]:
    """(disputes, audit events): what a refused request must leave unchanged."""
    with engine.connect() as conn:
        disputes = conn.execute(select(func.count()).select_from(DISPUTES)).scalar_one()
        audit = conn.execute(select(func.count()).select_from(AUDIT_EVENTS)).scalar_one()
    return int(disputes), int(audit)


def pending_notices(engine: Engine, dispute_id: str | None = None) -> int:
    """Notices still to deliver: all of them, or one dispute's."""
    query = select(func.count()).select_from(NOTIFICATIONS).where(NOTIFICATIONS.c.status == "pending")
    if dispute_id is not None:
        query = query.where(NOTIFICATIONS.c.dispute_id == dispute_id)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
