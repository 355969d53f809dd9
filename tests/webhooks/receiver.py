"""A real local HTTP receiver for webhook deliveries, on a free port in the test's event loop.

It answers each request by the next step of its script (then by `then`): an HTTP status (with headers,
a 429's `Retry-After` say), `HANG` (read the request, never answer), or `CLOSE` (read the request, close
the connection without a word). `stop()` takes it off the network (connections are refused) and
`start()` brings it back on the same port. Every request that arrives is kept, answered or not.
`verifies` checks a request's signature as a receiver should.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

HANG = "hang"
CLOSE = "close"


@dataclass(frozen=True)
class Answer:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


Step = Answer | int | str
REASONS = {200: "OK", 204: "No Content", 429: "Too Many Requests", 500: "Internal Server Error",
           503: "Service Unavailable"}


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    arrived: float  # time.time()

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, script: Iterable[Step] = (), then: Step = 200, path: str = "/hook") -> None:
        self.script = list(script)
        self.then = then
        self.path = path
        self.requests: list[Received] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._stopping = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    async def start(self) -> Receiver:
        self._stopping.clear()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._stopping.set()  # hanging answers end too
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Receiver:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    def answered(self, status: int) -> list[Received]:
        return [r for r in self.requests if r.headers.get("x-answered") == str(status)]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            method, path, _ = request_line.split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            step = self.script.pop(0) if self.script else self.then
            received = Received(method, path, headers, body, time.time())
            self.requests.append(received)
            if step == HANG:
                closed = asyncio.ensure_future(reader.read())  # the client gives up and closes
                stopping = asyncio.ensure_future(self._stopping.wait())
                await asyncio.wait([closed, stopping], return_when=asyncio.FIRST_COMPLETED)
                for task in (closed, stopping):
                    task.cancel()
                await asyncio.gather(closed, stopping, return_exceptions=True)
                return
            if step == CLOSE:
                return
            answer = step if isinstance(step, Answer) else Answer(int(step))
            received.headers["x-answered"] = str(answer.status)
            extra = "".join(f"{k}: {v}\r\n" for k, v in answer.headers.items())
            reason = REASONS.get(answer.status, "Whatever")
            writer.write(f"HTTP/1.1 {answer.status} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n{extra}\r\n"
                         .encode("latin-1"))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


def verifies(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's check, written from the contract: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>."""
    fields = dict(part.split("=", 1) for part in headers["parley-signature"].split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) < 300
