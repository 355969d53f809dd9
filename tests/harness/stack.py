"""The app and the real worker, in-process, against a Temporal server and a store: the whole stack a test drives.

`make_settings` is a stack's configuration (the fast charter, a task queue of its own, no Slack
unless asked); `serve` runs an app under uvicorn on a free local port in this event loop and yields
an httpx client for it; `running_stack` adds the real worker (on the stack's task queue, activities
on a thread pool) over a migrated store it seeds with the people, and yields a `Stack`. Everything
stops when the context is left: the server, then the worker, then the store's connections.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine
from temporalio.client import Client

from api.app import create_app
from settings import Settings
from store.db import make_engine
from tests.harness.paths import FAST_CHARTER
from tests.harness.people import Person, seed_people
from tests.harness.ports import free_socket
from tests.harness.waiting import eventually
from worker import build_worker

ADMIN_TOKEN = "admin-secret"  # the bootstrap admin's token of every test stack


def make_settings(db_url: str, data_dir: Path, temporal_address: str, task_queue: str | None = None, *,
                  charter: Path = FAST_CHARTER, **more: Any) -> Settings:
    """A test stack's settings: the fast charter, a fresh task queue, the test admin token, no Slack
    (pass `slack_bot_token=…` and the rest in `more` for one)."""
    fields: dict[str, Any] = {"slack_bot_token": None, "admin_token": ADMIN_TOKEN, **more}
    return Settings(database_url=db_url, temporal_address=temporal_address,
                    task_queue=task_queue or f"test-{uuid.uuid4().hex[:12]}", charter=charter, data_dir=data_dir,
                    **fields)


@asynccontextmanager
async def serve(app: FastAPI | Settings) -> AsyncIterator[httpx.AsyncClient]:
    """`app` (or the app of these settings) under uvicorn, lifespan on, on a free local port in this
    event loop; yields a client for its base URL."""
    served = app if isinstance(app, FastAPI) else create_app(app)
    sock = free_socket()
    server = uvicorn.Server(uvicorn.Config(served, log_level="warning", lifespan="on", ws="none"))
    task = asyncio.create_task(_serve(server, sock))
    try:
        await eventually(_started(server, task), timeout=10, interval=0.02, what="uvicorn to start")
        port = sock.getsockname()[1]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            yield http
    finally:
        server.should_exit = True
        await task
        sock.close()


async def _serve(server: uvicorn.Server, sock: socket.socket) -> None:
    try:
        await server.serve(sockets=[sock])
    except SystemExit as exc:  # uvicorn exits the process when the lifespan fails; fail the test instead
        raise RuntimeError(f"uvicorn stopped with exit code {exc.code}; see the log above") from None


def _started(server: uvicorn.Server, task: asyncio.Task[None]) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        if task.done():
            task.result()  # raises what stopped it
            raise AssertionError("uvicorn stopped before it started (did the lifespan fail?)")
        return server.started

    return probe


@dataclass
class Stack:
    """A running stack as a test sees it: the app over HTTP, its store, its Temporal client and
    settings, and the tokens and user ids of the people it was seeded with."""

    http: httpx.AsyncClient
    engine: Engine
    temporal: Client
    settings: Settings
    tokens: dict[str, str]
    user_ids: dict[str, int]

    @property
    def url(self) -> str:
        """The app's base URL (for a browser, say), without the trailing slash."""
        return str(self.http.base_url).rstrip("/")


@asynccontextmanager
async def running_stack(client: Client, settings: Settings, *, people: dict[str, Person] | None = None,
                        app: FastAPI | None = None, activity_threads: int = 8) -> AsyncIterator[Stack]:
    """The real worker and the app (by default the app of `settings`) on the store of `settings` (already
    migrated), seeded with `people` (default: the demo people), in this event loop."""
    engine = make_engine(settings.database_url)
    try:
        tokens, ids = seed_people(engine, people)
        with concurrent.futures.ThreadPoolExecutor(max_workers=activity_threads) as executor:
            worker = build_worker(client, settings, engine, executor)
            async with worker, serve(app or settings) as http:
                yield Stack(http=http, engine=engine, temporal=client, settings=settings, tokens=tokens,
                            user_ids=ids)
    finally:
        engine.dispose()
