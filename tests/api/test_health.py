"""/healthz (ok, and 503 naming the part that is down) and the OpenAPI description."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.api.conftest import Api, closed_port, make_settings, serve, target_of


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
