"""Never a 500, never maybe (DESIGN §5): a filing or an action that Temporal does not answer in time is
a 503 in JSON, and a retry with the same `Idempotency-Key` gets the first answer and never applies the
request twice — whether the first attempt still waits, no worker took it yet, or its answer was lost
after Temporal applied it. A Temporal that refuses or went away is a 503 too; an unexpected fault on
/api is a JSON 500 with a request id.

`lone` is a second API on the module's database whose task queue has a worker only inside
`lone.working()`, and which waits `LIMIT_S` for an answer instead of 20 s.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

import store.once
from api.routes import disputes as dispute_routes
from service import disputes as service_disputes
from settings import Settings
from store.db import make_engine, migrate
from tests.api.conftest import (
    TEMPORAL_BIN,
    Api,
    closed_port,
    filing,
    make_settings,
    names_field,
    seed_people,
    serve,
    target_of,
)
from worker import build_worker
from workflows.search import KEYS

LIMIT_S = 1.5  # PARLEY_ANSWER_WITHIN_S of the APIs these tests start
COMMENT = {"action": "comment", "text": "Sent until it is answered"}


def new_key() -> str:
    return f"test-{uuid.uuid4()}"


@dataclass
class Lone:
    """An API whose task queue has a worker only while `working()` runs."""

    http: httpx.AsyncClient
    settings: Settings
    engine: Engine
    temporal: Client

    @asynccontextmanager
    async def working(self) -> AsyncIterator[None]:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
            async with build_worker(self.temporal, self.settings, self.engine, executor):
                yield


@pytest_asyncio.fixture(loop_scope="session")
async def lone(api: Api, stack_db_url: str, tmp_path: Path, temporal_env: WorkflowEnvironment
               ) -> AsyncIterator[Lone]:
    settings = make_settings(stack_db_url, tmp_path, target_of(temporal_env))
    settings = settings.model_copy(update={"answer_within_s": LIMIT_S})
    async with serve(settings) as http:
        yield Lone(http=http, settings=settings, engine=api.engine, temporal=temporal_env.client)


async def send(http: httpx.AsyncClient, api: Api, path: str, who: str, body: Any,
               key: str | bytes | None = None) -> httpx.Response:
    headers = [(name.encode(), value.encode()) for name, value in api.auth(who).items()]
    if key is not None:
        headers.append((b"Idempotency-Key", key if isinstance(key, bytes) else key.encode()))
    response = await http.post(path, json=body, headers=headers)
    if path == "/api/disputes" and response.status_code == 201:
        api.filed.append(response.json()["id"])  # terminated when the test ends
    return response


async def answered(call: Callable[[], Awaitable[httpx.Response]], timeout: float = 40.0) -> httpx.Response:
    """What a client does after a 503: send the same request (same key) again until it is answered."""
    deadline = time.monotonic() + timeout
    while True:
        response = await call()
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(0.2)


def assert_may_retry(response: httpx.Response, took: float) -> None:
    """The contract's 503: JSON, saying the request may still be applied and how to retry safely."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/json"), response.text
    assert response.headers["retry-after"] == "1"
    detail = response.json()["detail"]
    assert "may still be applied" in detail and "retry with the same Idempotency-Key" in detail, detail
    assert took < LIMIT_S + 5, f"answered after {took:.1f}s"


def comments(api: Api, dispute_id: str) -> list[tuple[int, str, str]]:
    return [e for e in api.people_events(dispute_id) if e[2] == "commented"]


# --- no worker: a 503, then the retry answers, applied once ------------------------------------

async def test_a_filing_no_worker_takes_is_a_503_and_its_retry_files_it_once(api: Api, lone: Lone) -> None:
    key, body = new_key(), filing(title="Filed while no worker runs")
    before = api.counts()
    started = time.monotonic()
    first = await send(lone.http, api, "/api/disputes", "dana", body, key)
    assert_may_retry(first, time.monotonic() - started)

    async with lone.working():
        retry = await answered(lambda: send(lone.http, api, "/api/disputes", "dana", body, key))
    assert retry.status_code == 201, retry.text
    dispute = retry.json()
    assert dispute["title"] == "Filed while no worker runs" and dispute["filed_by"] == api.email("dana")

    again = await send(lone.http, api, "/api/disputes", "dana", body, key)  # no worker needed any more
    assert (again.status_code, again.json()) == (201, dispute)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.counts() == (before[0] + 1, before[1] + 1)  # one dispute, one "filed" event


async def test_an_action_no_worker_takes_is_a_503_and_its_retry_applies_it_once(api: Api, lone: Lone) -> None:
    async with lone.working():
        filed = await answered(lambda: send(lone.http, api, "/api/disputes", "dana", filing(), new_key()))
    assert filed.status_code == 201, filed.text
    dispute_id = filed.json()["id"]
    path, key = f"/api/disputes/{dispute_id}/actions", new_key()

    started = time.monotonic()
    first = await send(lone.http, api, path, "pat", COMMENT, key)
    assert_may_retry(first, time.monotonic() - started)
    assert comments(api, dispute_id) == []  # not applied yet: no worker took it

    async with lone.working():
        retry = await answered(lambda: send(lone.http, api, path, "pat", COMMENT, key))
        assert retry.status_code == 200, retry.text
        again = await send(lone.http, api, path, "pat", COMMENT, key)
    assert (again.status_code, again.json()) == (200, retry.json())
    assert len(comments(api, dispute_id)) == 1


async def test_without_a_key_the_503_says_how_to_retry_safely(api: Api, lone: Lone) -> None:
    async with lone.working():
        filed = await answered(lambda: send(lone.http, api, "/api/disputes", "dana", filing(), new_key()))
    started = time.monotonic()
    response = await send(lone.http, api, f"/api/disputes/{filed.json()['id']}/actions", "pat", COMMENT)
    assert response.status_code == 503 and time.monotonic() - started < LIMIT_S + 5, response.text
    assert "may still be applied" in response.json()["detail"]
    assert "Idempotency-Key" in response.json()["detail"]


# --- with the worker up ----------------------------------------------------------------------------

async def test_an_answer_that_was_applied_but_not_kept_is_found_again(api: Api, monkeypatch: pytest.MonkeyPatch
                                                                       ) -> None:
    """As if the API died after Temporal applied the request and before the store kept its answer: the
    retry asks Temporal again under the same names, and Temporal answers what it did the first time."""
    settle = store.once.settle
    monkeypatch.setattr(store.once, "settle", broken_store)
    key, before = new_key(), api.counts()
    lost = await send(api.http, api, "/api/disputes", "dana", filing(), key)
    assert lost.status_code == 503 and "retry with the same Idempotency-Key" in lost.json()["detail"], lost.text
    monkeypatch.setattr(store.once, "settle", settle)
    filed = await send(api.http, api, "/api/disputes", "dana", filing(), key)
    assert filed.status_code == 201, filed.text
    assert api.counts() == (before[0] + 1, before[1] + 1)

    path, key = f"/api/disputes/{filed.json()['id']}/actions", new_key()
    monkeypatch.setattr(store.once, "settle", broken_store)
    assert (await send(api.http, api, path, "pat", COMMENT, key)).status_code == 503
    monkeypatch.setattr(store.once, "settle", settle)
    acted = await send(api.http, api, path, "pat", COMMENT, key)
    assert acted.status_code == 200, acted.text
    assert len(comments(api, filed.json()["id"])) == 1


def broken_store(*args: Any) -> None:
    raise OperationalError("UPDATE once_keys", {}, Exception("the database went away"))


async def test_the_same_key_twice_answers_the_same_and_applies_once(api: Api) -> None:
    key = new_key()
    before = api.counts()
    first = await send(api.http, api, "/api/disputes", "dana", filing(), key)
    second = await send(api.http, api, "/api/disputes", "dana", filing(), key)
    assert (first.status_code, second.status_code) == (201, 201), second.text
    assert second.json() == first.json() and second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert api.counts() == (before[0] + 1, before[1] + 1)

    path, key = f"/api/disputes/{first.json()['id']}/actions", new_key()
    done = await send(api.http, api, path, "dana", COMMENT, key)
    again = await send(api.http, api, path, "dana", COMMENT, key)
    assert (done.status_code, again.status_code) == (200, 200), again.text
    assert again.json() == done.json()
    assert len(comments(api, first.json()["id"])) == 1


async def test_a_refusal_is_kept_with_its_key(api: Api) -> None:
    dispute_id = await api.in_state("frontline")
    path, key = f"/api/disputes/{dispute_id}/actions", new_key()
    refused = await send(api.http, api, path, "pat", {"action": "accept"}, key)  # nothing to accept yet
    assert refused.status_code == 409, refused.text
    await api.ok(dispute_id, "dana", "propose", outcome={"owner": "co_sell",
                                                         "credit_split": {"direct": 60, "partner": 40}})
    again = await send(api.http, api, path, "pat", {"action": "accept"}, key)  # the first answer, not a 200
    assert (again.status_code, again.json()) == (409, refused.json())
    assert (await api.dispute(dispute_id))["status"] == "frontline"


async def test_a_key_used_for_another_request_is_refused(api: Api) -> None:
    key = new_key()
    before = api.counts()
    first = await send(api.http, api, "/api/disputes", "dana", filing(), key)
    assert first.status_code == 201, first.text
    other = await send(api.http, api, "/api/disputes", "dana", filing(title="Another conflict"), key)
    assert names_field(other, "Idempotency-Key"), other.text
    assert api.counts() == (before[0] + 1, before[1] + 1)

    dispute_id = first.json()["id"]
    path, key = f"/api/disputes/{dispute_id}/actions", new_key()
    assert (await send(api.http, api, path, "dana", COMMENT, key)).status_code == 200
    other = await send(api.http, api, path, "dana", {"action": "comment", "text": "Something else"}, key)
    assert names_field(other, "Idempotency-Key"), other.text
    # the key belongs to its user: another user's request with the same key is their own
    assert (await send(api.http, api, path, "pat", {"action": "comment", "text": "Mine"}, key)).status_code == 200
    assert [e[1] for e in comments(api, dispute_id)] == [api.email("dana"), api.email("pat")]


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there", "caf\xc3\xa9".encode("latin-1")],
                         ids=["empty", "too-long", "control", "non-ascii"])
async def test_a_malformed_key_is_refused(api: Api, key: str | bytes) -> None:
    before = api.counts()
    response = await send(api.http, api, "/api/disputes", "dana", filing(), key)
    assert names_field(response, "Idempotency-Key"), response.text
    assert api.counts() == before
    longest = new_key().ljust(200, "x")
    assert (await send(api.http, api, "/api/disputes", "dana", filing(), longest)).status_code == 201


async def test_concurrent_requests_with_one_key_apply_once(api: Api) -> None:
    key = new_key()
    before = api.counts()
    filed = await asyncio.gather(*(send(api.http, api, "/api/disputes", "dana", filing(), key) for _ in range(4)))
    assert [r.status_code for r in filed] == [201] * 4, [r.text for r in filed]
    assert all(r.json() == filed[0].json() for r in filed)
    assert api.counts() == (before[0] + 1, before[1] + 1)

    dispute_id = filed[0].json()["id"]
    path, key = f"/api/disputes/{dispute_id}/actions", new_key()
    acted = await asyncio.gather(*(send(api.http, api, path, "pat", COMMENT, key) for _ in range(4)))
    assert [r.status_code for r in acted] == [200] * 4, [r.text for r in acted]
    assert all(r.json() == acted[0].json() for r in acted)
    assert len(comments(api, dispute_id)) == 1


# --- Temporal down, and the last resort -----------------------------------------------------------

async def test_a_temporal_that_refuses_connections_is_a_503(api: Api, stack_db_url: str, tmp_path: Path) -> None:
    dispute_id = (await api.file())["id"]  # filed through the running stack; this API's Temporal is gone
    settings = make_settings(stack_db_url, tmp_path, f"127.0.0.1:{closed_port()}")
    async with serve(settings.model_copy(update={"answer_within_s": LIMIT_S})) as http:
        for path, body in (("/api/disputes", filing()), (f"/api/disputes/{dispute_id}/actions", COMMENT)):
            response = await send(http, api, path, "dana", body, new_key())
            assert response.status_code == 503, response.text
            assert "Idempotency-Key" in response.json()["detail"]


async def test_a_temporal_that_went_away_is_a_503(tmp_path: Path) -> None:
    """Connected, then Temporal stops: its own dev server and store (SQLite), so it runs once."""
    url = f"sqlite:///{tmp_path / 'parley.db'}"
    migrate(url)
    engine = make_engine(url)
    tokens, _ = seed_people(engine)
    env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(TEMPORAL_BIN), ui=False,
                                                data_converter=pydantic_data_converter,
                                                dev_server_log_level="error", search_attributes=KEYS)
    running = True
    try:
        settings = make_settings(url, tmp_path, target_of(env)).model_copy(update={"answer_within_s": LIMIT_S})
        async with serve(settings) as http:
            assert (await http.get("/healthz")).status_code == 200  # connected
            await env.shutdown()
            running = False
            started = time.monotonic()
            response = await http.post("/api/disputes", json=filing(), headers={
                "Authorization": f"Bearer {tokens['dana']}", "Idempotency-Key": new_key()})
            assert_may_retry(response, time.monotonic() - started)
    finally:
        if running:
            await env.shutdown()
        engine.dispose()


async def test_an_unexpected_failure_on_the_api_is_a_json_500(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(dispute_routes, "list_rows", broken)
    response = await api.get("/api/disputes", "dana")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/json"), response.text
    body = response.json()
    assert body["request_id"] == response.headers["X-Request-ID"] and body["request_id"] in body["detail"]


async def test_a_filing_whose_id_is_taken_is_a_409(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """A random id that is already a dispute's (one in four billion): refused, not a 500."""
    taken = (await api.file())["id"]
    monkeypatch.setattr(service_disputes, "new_dispute_id", lambda: taken)
    response = await send(api.http, api, "/api/disputes", "dana", filing())
    assert response.status_code == 409, response.text
    assert taken in response.json()["detail"]
