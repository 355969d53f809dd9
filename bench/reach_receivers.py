"""What lands where, for bench/reach.py: three local webhook receivers (aiohttp) and a local SMTP server
(aiosmtpd) that count what reaches them, and read-only counts in a stack's SQLite store."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from bench.throughput import _free_port

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


class Store:
    """Read-only counts in the stack's SQLite store (WAL: they never block the writers)."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False)

    def events(self, action: str) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM audit_events WHERE action = ?", (action,)).fetchone()[0])

    def mails(self, state: str) -> int:
        """Outbox rows whose e-mail is undecided or due ("due"), or sent ("sent")."""
        where = "email_status = 'sent'" if state == "sent" else "email_status IS NULL OR email_status = 'pending'"
        return int(self.conn.execute(f"SELECT COUNT(*) FROM notifications WHERE {where}").fetchone()[0])
