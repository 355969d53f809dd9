"""The FastAPI application: routes, error mapping, body limits, and the shared resources."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from urllib.parse import unquote_to_bytes

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.client import Client

from api import docs, web
from api.allow import AllowHeader
from api.deps import charter_in_force, charter_in_session, ensure_charter_registered, reach_temporal
from api.errors import UNREADABLE_JSON, is_json, not_labelled_json, problems_of_domain, problems_of_validation
from api.routes import audit, disputes, health, registrations, users
from api.routes import away as away_routes
from api.routes import charter as charter_routes
from api.routes import metrics as metrics_routes
from api.routes import partners as partner_routes
from api.routes import slack as slack_routes
from api.routes import webhooks as webhook_routes
from api.web import pages_charter, pages_webhooks
from domain.errors import ParleyError
from domain.model import unstorable
from ops import tracing
from ops.http import ObservedRequests, request_id_of
from ops.threads import log_holders
from service.disputes import Service
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

    @property
    def connected(self) -> Client | None:
        """The client once connected (None before): no waiting, no task."""
        return self._client

    async def get(self) -> Client:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    self._client = await connect(self._settings)
        return self._client


class BodyLimit:
    """Refuses request bodies over the limit with 413 before the application reads them.

    The rest of a refused body is read and thrown away (up to `DRAIN_MAX_BYTES`, while it keeps
    coming): a server that answers and closes while the client is still sending resets the
    connection, and the client then sees a broken pipe instead of the 413. A route that streams its body
    (the registration import) is left to count it itself."""

    def __init__(self, app: ASGIApp, limit: int, streamed: tuple[str, ...] = ()) -> None:
        self.app, self.limit, self.streamed = app, limit, streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in self.streamed:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isascii() and declared.isdigit():
            if int(declared) > self.limit:
                await _too_large(self.limit, scope, receive, send)
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
                await _too_large(self.limit, scope, receive, send)
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


DRAIN_MAX_BYTES = 64 * 1024 * 1024  # past this, a refused body is not read on: the connection just closes
DRAIN_IDLE_S = 2.0  # a client that stopped sending (it saw the 413 early) is not waited for longer
DRAIN_TOTAL_S = 15.0


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse({"detail": f"request body is larger than {limit} bytes"}, status_code=413)
    await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
    if b"100-continue" not in dict(scope["headers"]).get(b"expect", b"").lower():
        await _drain(receive)  # (a client that asked to continue first sends no body at all)
    await send({"type": "http.response.body", "body": response.body})


async def _drain(receive: Receive) -> None:
    """Read and discard the rest of the request body, so that the client gets to read the answer.
    (The server stops delivering the body once the response is complete: drain before that.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DRAIN_TOTAL_S
    drained = 0
    while drained <= DRAIN_MAX_BYTES:
        left = deadline - loop.time()
        if left <= 0:
            return
        try:
            message = await asyncio.wait_for(receive(), min(DRAIN_IDLE_S, left))
        except TimeoutError:
            return
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        drained += len(message.get("body", b""))


class UnstorableUrl:
    """A path or query that no store can hold is refused with 422 naming `path` or `query` before any route
    looks it up: a NUL byte (PostgreSQL would refuse the query with an error, a 500), or %-escapes that do not
    decode to UTF-8 (the server would read each bad byte as U+FFFD, and a route would look up or echo text that
    was never sent), lone surrogates encoded as UTF-8 (%ED%A0%80) among them.

    It runs on every request: a path or query of plain ASCII with no %-escape (nearly all of them) is passed
    after a scan or two of its bytes, with nothing decoded or copied."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path = scope.get("raw_path")
            problem = _url_problem(raw_path) if raw_path is not None else unstorable(str(scope.get("path", "")))
            where = "path"
            if problem is None:
                problem, where = _url_problem(bytes(scope.get("query_string", b""))), "query"
            if problem is not None:
                body = {"detail": [{"field": where, "message": problem}]}
                await JSONResponse(body, status_code=422)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _url_problem(raw: bytes) -> str | None:
    """Why a path or query as sent (%-escaped) is not storable text, or None."""
    if raw.isascii() and b"%" not in raw and b"\x00" not in raw:
        return None  # nothing escaped: it is ASCII text as it stands
    text = unquote_to_bytes(raw)
    if b"\x00" in text:
        return "must not contain the NUL character"
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return "must be UTF-8 text (its %-escapes decode to bytes that are not)"
    return None


# What a client is told beside the error: how to authenticate (RFC 9110 §11.6.1), when to try again.
ERROR_HEADERS = {401: {"WWW-Authenticate": "Bearer"}, 503: {"Retry-After": "1"}}


def real_now() -> datetime:
    return datetime.now(UTC)


def create_app(settings: Settings | None = None, clock: Callable[[], datetime] = real_now) -> FastAPI:
    """The app; `clock` tells it the time (tests pin it to a reference time so that no page depends
    on the day or the hour they run)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.clock = clock
        app.state.engine = make_engine(settings.db_url, name="parley-api", pool_size=settings.db_pool_size)
        charter, text = charters.load_charter_file(settings.charter)
        app.state.charter = charter
        app.state.charter_source = (text, f"loaded from {settings.charter}")
        app.state.charter_registered = False
        try:
            await run_in_threadpool(ensure_charter_registered, app.state)
        except (SQLAlchemyError, OSError) as exc:  # the store is down: start anyway; /healthz says so
            log.warning("charter %s not registered yet (%s); will retry on first use", charter.version_id, exc)
        app.state.temporal = LazyTemporal(settings)
        app.state.service = Service(engine=app.state.engine, settings=settings, clock=clock,
                                    charter=lambda: charter_in_force(app.state),
                                    charter_in=lambda session: charter_in_session(app.state, session),
                                    temporal=lambda: reach_temporal(app.state))
        yield
        app.state.engine.dispose()
        tracing.flush()

    app = FastAPI(
        title="Parley",
        summary="Channel conflicts between direct sales and partners, resolved on a durable workflow.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load Swagger UI from a CDN: api.docs serves it from Parley
        redoc_url=None,
    )
    for router in (health.router, users.router, disputes.router, registrations.router, audit.router,
                   slack_routes.router):
        app.include_router(router)
    app.include_router(away_routes.router)  # /api/users/{email}/away (DESIGN §8)
    app.include_router(webhook_routes.router)
    app.include_router(pages_webhooks.router)  # the admin's webhooks page
    app.include_router(charter_routes.router)  # /api/charter and the charter page
    app.include_router(pages_charter.router)
    app.include_router(partner_routes.router)  # /api/partners/{org}/review (the page is in api/web)
    app.include_router(metrics_routes.router)  # /metrics for Prometheus (not in the OpenAPI document)
    web.install(app, settings)  # the web pages, their session cookie and static files
    docs.install(app)  # /docs: Swagger UI with its assets served locally (works offline)

    @app.exception_handler(ParleyError)
    async def parley_error(request: Request, exc: ParleyError) -> JSONResponse:
        if exc.status == 422:  # every 422 has one shape: a list of {field, message}
            return JSONResponse({"detail": problems_of_domain(exc)}, status_code=422)
        return JSONResponse({**exc.extra, "detail": exc.message}, status_code=exc.status,
                            headers=ERROR_HEADERS.get(exc.status))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = problems_of_validation(exc.errors(), exc.body)
        said = request.headers.get("content-type")
        if not is_json(said):  # FastAPI reads a body as JSON only when it is labelled so
            problems = [{"field": "body", "message": not_labelled_json(said)}
                        if p == {"field": "body", "message": "must be an object"} else p for p in problems]
        return JSONResponse({"detail": problems}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers 400 for a JSON body it cannot even decode (not UTF-8): invalid input like any other
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            problem = {"field": "body", "message": UNREADABLE_JSON}
            return JSONResponse({"detail": [problem]}, status_code=422)
        return await http_exception_handler(request, exc)

    @app.exception_handler(SQLAlchemyError)
    async def store_error(request: Request, exc: SQLAlchemyError) -> Response:
        """The store went away mid-request (a restart, a lost connection, SQLite's write lock held too long), or
        every connection of this process's pool stayed in use past the pool's time-out: 503, as for Temporal.
        Other store errors are bugs."""
        if isinstance(exc, PoolTimeout):
            log_holders(f"{request.method} {request.url.path} found every store connection in use")
            why = "every connection of this process to the store is in use"
        elif isinstance(exc, OperationalError) or (isinstance(exc, DBAPIError) and exc.connection_invalidated):
            log.warning("the store did not answer %s %s: %s", request.method, request.url.path, exc.orig or exc)
            why = f"the store did not answer ({type(exc.orig or exc).__name__})"
        else:
            return await unexpected(request, exc)
        message = f"{why}; the request may still have been applied: retry it (with the same Idempotency-Key)"
        headers = {"Retry-After": "1"}
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": message}, status_code=503, headers=headers)
        return PlainTextResponse(f"Service Unavailable: {message}", status_code=503, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        """The last resort, which should never be reached: the failure is logged with a request id, and
        /api answers JSON (not Starlette's plain-text 500)."""
        request_id = request_id_of(request.scope) or uuid.uuid4().hex[:16]
        log.error("unexpected %s on %s %s (request id %s)", type(exc).__name__, request.method, request.url.path,
                  request_id, exc_info=exc)
        headers = {"X-Request-ID": request_id}
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": f"internal error (request id {request_id}); it is logged",
                                 "request_id": request_id}, status_code=500, headers=headers)
        return PlainTextResponse(f"Internal Server Error (request id {request_id})", status_code=500,
                                 headers=headers)

    app.add_middleware(BodyLimit, limit=settings.max_body_bytes, streamed=(registrations.IMPORT_PATH,))
    app.add_middleware(UnstorableUrl)
    app.add_middleware(AllowHeader)  # a 405 names every method of the path
    app.add_middleware(ObservedRequests)  # request id, and counted and timed by route template
    tracing.configure_tracing("parley-api")
    tracing.instrument(app)  # when tracing is on
    return app
