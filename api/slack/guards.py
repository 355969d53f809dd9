"""Once across every API process (DESIGN §3): Slack replays, Events API retries and double presses are
claimed in the store (`store.once`, table `once_keys`), never in one process's memory, so they hold for
any number of API processes and across restarts.

    replay  "slack:" + sha256(timestamp, signature), scope "slack". The signature covers the body, so the
            same signed request sent again (to this process, another one, or after a restart) finds its
            key taken, whatever its headers say: acknowledged 200 like any request, its work never
            starts (a form submission, whose answer waits for its work, gets 401). Slack retries only
            Events API deliveries, so a command or an interaction is never legitimately received
            twice. Kept REPLAY_TTL: the verifier accepts a timestamp up to five minutes either side of
            its clock.
    event   "slack-event:" + sha256(event_id), scope "slack". Slack re-sends an event it thinks was lost
            (re-signed, with `X-Slack-Retry-Num`); every delivery is acknowledged 200 at once, and the
            work of a copy never starts.
    press   "press:" + sha256(person, message or view, action, dispute), scope "press". The first press
            acts; a second one (a double click, on whichever process) is told "being recorded" or
            "Already handled: <who did what>". A refused action gives its claim up, so a corrected
            retry can act; a claim left unsettled (its process died) is taken over after BUSY.

A replay or event is claimed when the request's work is about to start (`api.slack.listen.once`, in
Bolt's lazy listener, or a modal submission's bounded work), not before the acknowledgement: on SQLite a
write can queue behind the worker's, and 50 claims at once cost a loaded 2-core machine a few hundred
ms of acknowledgement time (bench/slack.py).

Expired rows are purged now and then by `SlackClient.tidy`, after an acknowledgement, not per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from store import once
from store.tables import utcnow

log = logging.getLogger("parley.slack")
T = TypeVar("T")

REPLAY_TTL = timedelta(minutes=11)  # a signed request is valid for at most 10 min (±5 around the clock)
EVENT_TTL = timedelta(hours=1)  # Slack retries an event three times within about five minutes
PRESS_TTL = timedelta(days=7)  # a message's buttons are replaced once acted on; this outlives stale copies
BUSY = timedelta(minutes=2)  # far longer than an action takes (its workflow update gives up after 20 s)
SETTLE_POLL_S = 0.05  # how often a press waiting for another one's outcome looks again
BUSY_TEXT = ":hourglass: An action from this message is being recorded; nothing more was recorded."

# SQLite takes one writer at a time. A burst of requests queues its claims on this lock, where a waiter
# goes on the moment the writer before it is done, instead of in SQLite's busy handler, which sleeps in
# steps of up to 100 ms (50 claims at once: the slowest waited about half as long). The lock only
# orders this process's writes; the store alone decides who wins.
_SQLITE_WRITES = threading.Lock()


class Replayed(Exception):
    """The request's claim was lost: the same signed request was received before. Its work never runs."""


def _write(engine: Engine, change: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    if engine.dialect.name != "sqlite":
        return change(engine, *args, **kwargs)
    with _SQLITE_WRITES:
        return change(engine, *args, **kwargs)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def request_id(timestamp: str, signature: str) -> str:
    """What identifies one signed Slack request (its Temporal update id is derived from it too)."""
    return _digest(timestamp, signature)


def first_request(engine: Engine, request: str) -> bool:
    """True the first time this signed request reaches any Parley API process."""
    return _write(engine, once.claim, f"slack:{request}", "slack", REPLAY_TTL)


def first_event(engine: Engine, body: dict[str, Any], request: str) -> bool:
    """True the first time this Events API delivery is seen: by its event id, else as this request."""
    if body.get("type") != "event_callback":
        return True  # url_verification and the like: answering twice does nothing
    event_id = body.get("event_id")
    if isinstance(event_id, str) and event_id:
        return _write(engine, once.claim, f"slack-event:{_digest(event_id)}", "slack", EVENT_TTL)
    return first_request(engine, request)


def purge(engine: Engine) -> int:
    """Forget every expired claim (`SlackClient.tidy` calls it now and then)."""
    return _write(engine, once.purge)


def press_key(user_id: str, place: str | None, action: str, dispute_id: str) -> str | None:
    """The claim of one person's action from one message or view; None when it came from neither."""
    return f"press:{_digest(user_id, place, action, dispute_id)}" if place else None


def _seen(seen: once.Seen, now: datetime) -> str | None:
    """What to tell the second presser, or None when the first claim was abandoned."""
    if seen.status is not None:
        return f"Already handled: {seen.result}. Nothing more was recorded."
    return BUSY_TEXT if now - seen.created_at < BUSY else None


def claim_press(engine: Engine, key: str, now: datetime | None = None) -> str | None:
    """None when this press may act (the caller then settles or releases the claim); otherwise why not."""
    now = now or utcnow()
    for _ in range(3):
        if _write(engine, once.claim, key, "press", PRESS_TTL, now=now):
            return None
        seen = once.recall(engine, key)
        if seen is None:
            continue  # released in between: claim again
        answer = _seen(seen, now)
        if answer is not None:
            return answer
        # Claimed over BUSY ago and never settled: the process that claimed it died mid-action. (Two
        # presses taking it over at the same instant could both act; the workflow's validator still
        # refuses a one-click action that is no longer open.)
        log.warning("taking over the abandoned claim %s of %s", key, seen.created_at)
        _write(engine, once.release, key)
    return BUSY_TEXT


def already(engine: Engine, key: str | None, now: datetime | None = None) -> str | None:
    """Why a press may not act (read only: before a modal opens), or None."""
    seen = once.recall(engine, key) if key else None
    return _seen(seen, now or utcnow()) if seen is not None else None


class PressClaim:
    """A press's claim while its action runs: `settle` it with the line that replaced the buttons, or
    `release` it when the action was refused or failed (a second call of either does nothing)."""

    def __init__(self, engine: Engine, key: str | None) -> None:
        self.engine, self.key = engine, key

    async def settle(self, line: str) -> None:
        key, self.key = self.key, None
        if key:
            await run_in_threadpool(_write, self.engine, once.settle, key, 200, line)

    async def release(self) -> None:
        key, self.key = self.key, None
        if key:
            await run_in_threadpool(_write, self.engine, once.release, key)


async def claim(engine: Engine, key: str | None, *, wait: float = 0.0) -> PressClaim | str:
    """The claim on a press (nothing to claim when `key` is None), or why it may not act.

    With `wait`, a press that finds the claim held by a press still acting waits up to that long for
    its outcome: "Already handled: <who did what>" (or, should that action be refused meanwhile, the
    claim itself)."""
    if not key:
        return PressClaim(engine, key)
    refused = await run_in_threadpool(claim_press, engine, key)
    deadline = time.monotonic() + wait
    while refused == BUSY_TEXT and time.monotonic() < deadline:
        await asyncio.sleep(SETTLE_POLL_S)
        refused = await run_in_threadpool(claim_press, engine, key)
    return refused if refused is not None else PressClaim(engine, key)
