"""PostgreSQL restarting under a running API: a request whose statement meets a connection the restart ended
gets 503 (retry it), never 500, and the next request works on new connections. Real PostgreSQL, real HTTP;
the server ends the API's backends as a restart would."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import httpx
import psycopg
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from ops import threads
from store import db
from store.db import make_engine
from tests.api.conftest import make_settings, serve, target_of
from tests.harness.people import seed_store
from tests.pg import fresh_database


def end_api_backends(pg_server: str, database: str) -> int:
    with psycopg.connect(pg_server, autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND "
                            "application_name = 'parley-api'", (database,)).fetchall()
    return len(rows)


async def test_a_request_that_meets_a_restarted_store_gets_503_and_the_next_one_works(
        pg_server: str, tmp_path: Path, temporal_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)  # as for connections in use a moment before the restart
    with fresh_database(pg_server, "parley_outage") as url:
        tokens = seed_store(url)
        auth = {"Authorization": f"Bearer {tokens['dana']}"}
        async with serve(make_settings(url, tmp_path, target_of(temporal_env))) as http:
            assert (await http.get("/api/disputes", headers=auth)).status_code == 200
            assert end_api_backends(pg_server, url.rsplit("/", 1)[1]) >= 1

            lost = await http.get("/api/disputes", headers=auth)
            assert lost.status_code == 503, lost.text
            assert lost.headers["Retry-After"] == "1"
            assert lost.json()["detail"].startswith("the store did not answer (")

            again = await http.get("/api/disputes", headers=auth)
            assert again.status_code == 200, again.text
            assert (await http.get("/healthz")).json()["db"] == "ok"


Served = tuple[httpx.AsyncClient, FastAPI, dict[str, str]]  # the client, the app, a rep's Authorization header


@contextlib.asynccontextmanager
async def served_with_one_connection(db_url: str, tmp_path: Path, temporal_env: WorkflowEnvironment, *,
                                     patience_s: float) -> AsyncIterator[Served]:
    """The API served, its store pool then cut to one connection that a request waits `patience_s` for."""
    tokens = seed_store(db_url)
    auth = {"Authorization": f"Bearer {tokens['dana']}"}
    app = create_app(make_settings(db_url, tmp_path, target_of(temporal_env)))
    async with serve(app) as http:
        assert (await http.get("/api/disputes", headers=auth)).status_code == 200
        app.state.engine.dispose()
        app.state.engine = make_engine(db_url, pool_size=1, pool_timeout=patience_s)
        yield http, app, auth


async def test_a_request_that_finds_every_connection_in_use_gets_503_and_the_threads_are_logged(
        db_url: str, tmp_path: Path, temporal_env: WorkflowEnvironment, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A wedged pool (every connection held, as once seen in the many-process test) answers 503, not 500, and
    logs what each thread is doing, so that the holders can be found."""
    async with served_with_one_connection(db_url, tmp_path, temporal_env, patience_s=0.2) as (http, app, auth):
        monkeypatch.setattr(threads, "_last", float("-inf"))  # whatever an earlier test logged
        with app.state.engine.connect():  # held: none left for the request
            with caplog.at_level(logging.WARNING, logger="ops.threads"):
                wedged = await http.get("/api/disputes", headers=auth)
        assert wedged.status_code == 503, wedged.text
        assert wedged.json()["detail"].startswith("every connection of this process to the store is in use")
        assert "every thread's stack follows" in caplog.text and "--- thread MainThread" in caplog.text
        assert (await http.get("/api/disputes", headers=auth)).status_code == 200  # given back: served again


async def test_requests_beyond_the_pool_and_the_thread_pool_are_all_served(
        db_url: str, tmp_path: Path, temporal_env: WorkflowEnvironment) -> None:
    """More requests at once than the process has threads and store connections: each waits its turn and is
    served. A session FastAPI closes only after validating the response (in the thread pool, behind the
    requests waiting there for a connection) once held every connection until those requests gave up: 503s
    for minutes in the many-process test. The connection goes back as the route returns."""
    async with served_with_one_connection(db_url, tmp_path, temporal_env, patience_s=5) as (http, _, auth):
        threads_now = anyio.to_thread.current_default_thread_limiter()
        before, threads_now.total_tokens = threads_now.total_tokens, 3  # three threads
        try:
            answers = await asyncio.gather(*(http.get("/api/users/me", headers=auth) for _ in range(24)))
        finally:
            threads_now.total_tokens = before
    assert [a.status_code for a in answers] == [200] * 24, [a.text for a in answers if a.status_code != 200][:1]
