"""PostgreSQL restarting under a running API: a request whose statement meets a connection the restart ended
gets 503 (retry it), never 500, and the next request works on new connections. Real PostgreSQL, real HTTP;
the server ends the API's backends as a restart would."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from temporalio.testing import WorkflowEnvironment

from store import db
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
