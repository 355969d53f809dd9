"""/healthz (ok, and 503 naming the part that is down) and the OpenAPI description."""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from api.routes.health import WITHIN_S
from store import charters
from store.db import make_engine, migrate
from tests.api.conftest import Api, closed_port, filing, make_settings, seed_people, serve, target_of
from worker import build_worker


async def test_healthz_is_ok_with_everything_up(api: Api) -> None:
    response = await api.get("/healthz", None)  # anyone may ask
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "db": "ok", "temporal": "ok"}


async def test_healthz_names_temporal_when_nothing_listens(db_url: str, tmp_path: Path) -> None:
    settings = make_settings(db_url, tmp_path, f"127.0.0.1:{closed_port()}")
    async with serve(settings) as http:
        response = await http.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert (body["status"], body["db"]) == ("error", "ok")
        assert body["temporal"].startswith("error:")
        # the rest of the API still answers; what needs Temporal fails without hanging
        assert (await http.get("/openapi.json")).status_code == 200


async def test_healthz_says_how_long_a_silent_temporal_was_waited_for(db_url: str, tmp_path: Path) -> None:
    """A Temporal that takes the connection and never answers: a time-out has no message of its own."""
    silent = await asyncio.start_server(lambda _reader, _writer: None, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    try:
        async with serve(make_settings(db_url, tmp_path, f"127.0.0.1:{port}")) as http:
            response = await http.get("/healthz")
    finally:
        silent.close()
    assert response.status_code == 503
    assert response.json() == {"status": "error", "db": "ok", "temporal": f"error: no answer within {WITHIN_S} s"}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_healthz_names_the_database_when_it_is_unreachable(
        backend: str, tmp_path: Path, temporal_env: WorkflowEnvironment) -> None:
    # SQLite: the database "file" is a directory; PostgreSQL: nothing listens on the port.
    url = f"sqlite:///{tmp_path}" if backend == "sqlite" else \
        f"postgresql://postgres@127.0.0.1:{closed_port()}/parley"
    settings = make_settings(url, tmp_path, target_of(temporal_env))
    async with serve(settings) as http:  # the API starts anyway, so that /healthz can say what is wrong
        response = await http.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert (body["status"], body["temporal"]) == ("error", "ok")
        assert body["db"].startswith("error:") and "OperationalError" in body["db"]


async def test_the_api_recovers_when_the_database_comes_up(pg_server: str, tmp_path: Path,
                                                          temporal_env: WorkflowEnvironment) -> None:
    """Started before its PostgreSQL database exists, the API reports it, then works once it is there,
    and registers its charter version on first use."""
    name = f"parley_late_{uuid.uuid4().hex[:8]}"
    url = make_url(pg_server).set(database=name).render_as_string(hide_password=False)
    settings = make_settings(url, tmp_path, target_of(temporal_env))
    async with serve(settings) as http:
        down = await http.get("/healthz")
        assert down.status_code == 503 and down.json()["db"].startswith("error:")
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        engine = make_engine(url)
        try:
            migrate(url)
            tokens, _ = seed_people(engine)
            assert (await http.get("/healthz")).status_code == 200
            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
                async with build_worker(temporal_env.client, settings, engine, executor):
                    filed = await http.post("/api/disputes", json=filing(),
                                            headers={"Authorization": f"Bearer {tokens['dana']}"})
                    assert filed.status_code == 201, filed.text
                    await temporal_env.client.get_workflow_handle(filed.json()["id"]).terminate()
            with Session(engine) as session:
                versions = [c.version_id for c in charters.history(session)]
            assert versions == [filed.json()["charter_version"]]
        finally:
            engine.dispose()
            with psycopg.connect(pg_server, autocommit=True) as conn:
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def test_openapi_and_docs_are_served(api: Api) -> None:
    response = await api.get("/openapi.json", None)
    assert response.status_code == 200
    spec = response.json()
    assert spec["info"]["title"] == "Parley"
    for path in ("/healthz", "/api/users", "/api/users/{email}/tokens", "/api/tokens/{token_id}",
                 "/api/disputes", "/api/disputes/{dispute_id}", "/api/disputes/{dispute_id}/actions",
                 "/api/disputes/{dispute_id}/audit", "/api/audit/verify", "/api/audit/export"):
        assert path in spec["paths"], path
    assert "post" in spec["paths"]["/api/disputes"] and "get" in spec["paths"]["/api/disputes"]
    docs = await api.get("/docs", None)
    assert docs.status_code == 200
    assert docs.headers["content-type"].startswith("text/html") and "swagger" in docs.text.lower()
