"""What lands where, for bench/reach.py: three local webhook receivers (aiohttp) and a local SMTP server
(aiosmtpd) that count what reaches them, and read-only counts in a stack's SQLite store.

The receivers stand for other machines (a CRM, a compensation system, a warehouse, the mail relay), so they
run in a process of their own (`RemoteReceivers`, `python -m bench.reach_receivers`): in the bench's own
process they would take the event loop and the GIL from the clients whose filing rate it measures."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from aiosmtpd.controller import Controller

from bench.throughput import _free_port
from ops import priority

ROOT = Path(__file__).resolve().parents[1]

# a CRM and a compensation system act on outcomes; a data warehouse keeps everything
SUBSCRIPTIONS = {"crm": ["dispute.resolved"], "compensation": ["dispute.resolved"], "warehouse": ["*"]}


class Receivers:
    """The webhook receivers (aiohttp) and the SMTP server (aiosmtpd), counting what lands."""

    def __init__(self) -> None:
        self.seen: dict[str, set[tuple[str, str]]] = {name: set() for name in SUBSCRIPTIONS}  # (type, event id)
        self.posts = 0
        self.mails = 0
        self.runners: list[web.AppRunner] = []
        self.urls: dict[str, str] = {}
        self.smtp: Controller | None = None

    async def start(self) -> None:
        for name in SUBSCRIPTIONS:
            app = web.Application()
            app.router.add_post("/hook", self._handler(name))
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            port = _free_port()
            await web.TCPSite(runner, "127.0.0.1", port).start()
            self.runners.append(runner)
            self.urls[name] = f"http://127.0.0.1:{port}/hook"
        self.smtp = Controller(self, hostname="127.0.0.1", port=_free_port())
        self.smtp.start()

    async def stop(self) -> None:
        for runner in self.runners:
            await runner.cleanup()
        if self.smtp is not None:
            self.smtp.stop()

    def _handler(self, name: str) -> Any:
        async def receive(request: web.Request) -> web.Response:
            event = json.loads(await request.read())
            self.seen[name].add((event["type"], event["id"]))
            self.posts += 1
            return web.Response(status=204)
        return receive

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        self.mails += len(envelope.rcpt_tos)
        return "250 Message accepted for delivery"

    def count(self, name: str, kind: str) -> int:
        return sum(1 for seen_kind, _ in self.seen[name] if seen_kind == kind)

    def counts(self) -> dict[str, Any]:
        """What landed: POSTs and e-mails, and each receiver's distinct events by type."""
        by_type = {name: {kind: self.count(name, kind) for kind in {k for k, _ in seen}}
                   for name, seen in self.seen.items()}
        return {"posts": self.posts, "mails": self.mails, "by_type": by_type,
                "events": {name: len(seen) for name, seen in self.seen.items()}}


class RemoteReceivers:
    """`Receivers` in a child process, asked over HTTP what landed."""

    def __init__(self, nice: int = 0) -> None:
        self.nice = nice
        self.proc: subprocess.Popen[bytes] | None = None
        self.urls: dict[str, str] = {}
        self.smtp_port = 0
        self.control = ""
        self.landed: dict[str, Any] = {}  # as last asked

    async def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.reach_receivers", str(self.nice)], cwd=ROOT,
                                     stdout=subprocess.PIPE, start_new_session=True)
        assert self.proc.stdout is not None
        line = await asyncio.to_thread(self.proc.stdout.readline)
        if not line:
            raise RuntimeError("the receivers' process exited before it was ready")
        ready = json.loads(line)
        self.urls, self.smtp_port, self.control = ready["urls"], ready["smtp_port"], ready["control"]

    async def ask(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as http:
            self.landed = (await http.get(self.control)).json()
        return self.landed

    def count(self, name: str, kind: str) -> int:
        """From the last `ask`."""
        return int(self.landed.get("by_type", {}).get(name, {}).get(kind, 0))

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            await asyncio.to_thread(self.proc.wait, 10)


async def serve_receivers(nice: int) -> None:
    """The child process: the receivers, and /counts on a control port; one JSON line on stdout once ready.
    At `nice` > 0 it yields the cores to the stack as a deliveries worker does (ops.priority: its session too),
    so that the machines it stands for take as little as they can of the stack's cores."""
    if nice:
        priority.lower(nice)
    receivers = Receivers()
    await receivers.start()
    app = web.Application()

    async def counts(request: web.Request) -> web.Response:
        return web.json_response(receivers.counts())

    app.router.add_get("/counts", counts)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    assert receivers.smtp is not None
    print(json.dumps({"urls": receivers.urls, "smtp_port": receivers.smtp.port,
                      "control": f"http://127.0.0.1:{port}/counts"}), flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()
    await receivers.stop()


class Store:
    """Read-only counts in the stack's store: its SQLite file (WAL: they never block the writers) or its
    PostgreSQL database."""

    def __init__(self, url: str) -> None:
        from sqlalchemy import create_engine

        if url.startswith("sqlite:///"):
            path = url.removeprefix("sqlite:///")
            url = f"sqlite:///file:{path}?mode=ro&uri=true"
        self.engine = create_engine(url, pool_size=2)

    def count(self, query: str, **params: Any) -> int:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return int(conn.execute(text(query), params).scalar_one())

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query))]

    def events(self, action: str) -> int:
        return self.count("SELECT COUNT(*) FROM audit_events WHERE action = :action", action=action)

    def mails(self, state: str) -> int:
        """Outbox rows whose e-mail is undecided or due ("due"), or sent ("sent")."""
        where = "email_status = 'sent'" if state == "sent" else "email_status IS NULL OR email_status = 'pending'"
        return self.count(f"SELECT COUNT(*) FROM notifications WHERE {where}")

    def close(self) -> None:
        self.engine.dispose()


if __name__ == "__main__":
    asyncio.run(serve_receivers(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
