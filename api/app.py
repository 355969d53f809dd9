"""The FastAPI application: routes, error mapping, body limits, and the shared resources."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from api import web
from api.deps import ensure_charter_registered
from api.routes import audit, disputes, health, users
from api.routes import slack as slack_routes
from domain.errors import ParleyError
from settings import Settings, get_settings
from store import charters
from store.db import make_engine
from temporal_client import connect

log = logging.getLogger(__name__)


class LazyTemporal:
    """Connects on first use, so the API starts (and /healthz answers) while Temporal comes up."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await connect(self._settings)
        return self._client


class BodyLimit:
    """Refuses request bodies over the limit with 413 before the application reads them."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit():
            if int(declared) > self.limit:
                await _too_large(self.limit, send)
                return
            await self.app(scope, receive, send)  # the server holds the body to its declared length
            return
        # No declared length (chunked): read the body up to the limit before the application sees it.
        # (Raising from `receive` instead would reach FastAPI's body parser, which answers 400.)
        chunks: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            seen += len(chunk)
            if seen > self.limit:
                await _too_large(self.limit, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(limit: int, send: Send) -> None:
    response = JSONResponse({"detail": f"request body is larger than {limit} bytes"}, status_code=413)
    await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = make_engine(settings.db_url)
        charter, text = charters.load_charter_file(settings.charter)
        app.state.charter = charter
        app.state.charter_source = (text, f"loaded from {settings.charter}")
        app.state.charter_registered = False
        try:
            await run_in_threadpool(ensure_charter_registered, app.state)
        except (SQLAlchemyError, OSError) as exc:  # the store is down: start anyway; /healthz says so
            log.warning("charter %s not registered yet (%s); will retry on first use", charter.version_id, exc)
        app.state.temporal = LazyTemporal(settings)
        yield
        app.state.engine.dispose()

    app = FastAPI(
        title="Parley",
        summary="Channel conflicts between direct sales and partners, resolved on a durable workflow.",
        version="0.1.0",
        lifespan=lifespan,
    )
    for router in (health.router, users.router, disputes.router, audit.router, slack_routes.router):
        app.include_router(router)
    web.install(app, settings)  # the web pages, their session cookie and static files

    @app.exception_handler(ParleyError)
    async def parley_error(request: Request, exc: ParleyError) -> JSONResponse:
        message = exc.message
        if exc.field and not message.startswith(f"{exc.field}:"):
            message = f"{exc.field}: {message}"  # name the field, as every other 422 does
        return JSONResponse({"detail": message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _describe(exc)}, status_code=422)

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    return app


def _describe(exc: RequestValidationError) -> list[dict[str, object]]:
    """FastAPI's error list, with a `field` naming the offending input in dotted form."""
    body = exc.body if isinstance(exc.body, dict) else {}
    out = []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ())]
        if loc[:1] == ["body"]:
            loc = loc[1:]
            if loc and loc[0] == body.get("action"):
                loc = loc[1:]  # the tag of the action union, not a field: "outcome", not "propose.outcome"
        if err.get("type") in ("union_tag_invalid", "union_tag_not_found"):
            loc = ["action"]
        elif err.get("type") == "json_invalid":
            loc = ["body"]  # pydantic's location is a character offset
        out.append({"field": ".".join(loc), "msg": err.get("msg"), "type": err.get("type"), "loc": err.get("loc")})
    return out
