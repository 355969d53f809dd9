"""A 405 names in `Allow` every method of its path, also when they belong to different routes."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, FastAPI

from api.allow import AllowHeader


def _app() -> FastAPI:
    router = APIRouter(prefix="/things")

    @router.get("")
    def list_things() -> list[str]:
        return []

    @router.post("")
    def add_thing() -> str:
        return "added"

    @router.delete("/{thing_id}")
    def delete_thing(thing_id: str) -> None:
        return None

    app = FastAPI()
    app.include_router(router)
    app.add_middleware(AllowHeader)
    return app


async def test_a_405_names_every_method_of_the_path() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=_app()), base_url="http://test") as http:
        for method, path, allow in (("PUT", "/things", "GET, POST"), ("OPTIONS", "/things", "GET, POST"),
                                    ("GET", "/things/1", "DELETE")):
            response = await http.request(method, path)
            assert response.status_code == 405
            assert response.headers["allow"] == allow
        assert (await http.get("/things")).status_code == 200
        assert (await http.put("/nothing")).status_code == 404
