"""What the many-process test drives the stack with: a client that persists through chaos, and the chaos.

`Persistent` sends each request with an `Idempotency-Key` of its own and sends it again, with the same
key, after a connection error, a time-out or a 503, until it gets another answer; `Tally` counts every
answer and error it saw, and the answers outside the contract (anything but 200, 201, 4xx and 503).
`Chaos` SIGKILLs a random worker and a random API process of a `parley up --workers N --apis M` every
few seconds, and the Temporal dev server once; the supervisor starts each again.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.e2e.harness import Stack

REQUEST_TIMEOUT_S = 30.0
RETRY_PAUSE_S = 0.25  # between the attempts of one request: paces the retries, waits for nothing
PERSIST_S = 150.0  # a request that only ever gets 503s and errors for this long fails the test


def within_contract(status: int) -> bool:
    return status in (200, 201, 503) or 400 <= status < 500


@dataclass
class Tally:
    answers: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # connection errors and time-outs, by kind
    outside_contract: list[str] = field(default_factory=list)
    unavailable: Counter[str] = field(default_factory=Counter)  # 503s: from the "front" (no API up), or an "api"
    retried_after_503: list[tuple[str, int]] = field(default_factory=list)  # (request, its final answer)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    after_503: bool  # a 503 came first, and the request was sent again with the same key


class Persistent:
    """An API client for people with tokens that keeps sending a request until it is answered."""

    def __init__(self, base_url: str, tokens: dict[str, str], tally: Tally) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_S)
        self.tokens = tokens
        self.tally = tally

    async def aclose(self) -> None:
        await self.http.aclose()

    async def send(self, method: str, path: str, by: str, body: dict[str, Any] | None = None) -> Answer:
        headers = {"Authorization": f"Bearer {self.tokens[by]}", "Idempotency-Key": uuid.uuid4().hex}
        what = f"{method} {path} by {by}" + (f" ({body.get('action')})" if body and "action" in body else "")
        deadline = time.monotonic() + PERSIST_S
        saw_503 = False
        while True:
            try:
                response = await self.http.request(method, path, json=body, headers=headers)
            except httpx.TransportError as exc:  # refused, reset mid-answer, timed out: the answer is lost
                self.tally.errors[type(exc).__name__] += 1
            else:
                self.tally.answers[response.status_code] += 1
                if not within_contract(response.status_code):
                    self.tally.outside_contract.append(f"{what}: {response.status_code} {response.text[:300]}")
                if response.status_code != 503:
                    if saw_503:
                        self.tally.retried_after_503.append((what, response.status_code))
                    return Answer(response.status_code, _json(response), saw_503)
                saw_503 = True
                self.tally.unavailable["front" if "no API process" in response.text else "api"] += 1
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: only 503s and connection errors for {PERSIST_S:.0f}s")
            await asyncio.sleep(RETRY_PAUSE_S)

    async def get(self, path: str, by: str) -> Any:
        answer = await self.send("GET", path, by)
        assert answer.status == 200, f"GET {path}: {answer.status} {answer.body}"
        return answer.body


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return response.text


@dataclass
class Chaos:
    """Kills a random live worker and API process every `every_s` seconds, and Temporal once at `temporal_at`
    (a share of the run); counts what it killed and the rounds where the one it picked was not running."""

    stack: Stack
    rng: random.Random
    every_s: float
    temporal_at: float = 1 / 3
    kills: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    async def run(self, seconds: float) -> None:
        start = time.monotonic()
        temporal_due = start + seconds * self.temporal_at
        while time.monotonic() - start < seconds:
            await asyncio.sleep(self.every_s)  # the pace of the chaos itself
            pids: dict[str, int] = (await asyncio.to_thread(self.stack.state))["pids"]
            for kind in ("worker", "api"):
                self._kill(kind, self.rng.choice(sorted(n for n in pids if n.startswith(f"{kind}-"))), pids)
            if "temporal" not in self.kills and time.monotonic() >= temporal_due:
                self._kill("temporal", "temporal", pids)

    def _kill(self, kind: str, name: str, pids: dict[str, int]) -> None:
        pid = pids[name]
        if pid not in self.stack.processes():  # restarting (or waiting to): this round spares it
            self.skipped[kind] += 1
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            self.skipped[kind] += 1
            return
        self.kills[kind] += 1
