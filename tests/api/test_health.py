"""/healthz, and the OpenAPI description."""

from __future__ import annotations

from tests.api.conftest import Api


async def test_healthz_ok(api: Api) -> None:
    response = await api.get("/healthz", None)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "db": "ok", "temporal": "ok"}
