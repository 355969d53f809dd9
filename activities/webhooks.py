"""Webhook deliveries: every attempt (`WebhookActivities`), and what happens once an event that queued
deliveries has committed (`DeliveryStarter`, for the activities that record events).

A delivery's first try is made straight away by the worker that recorded its event, with no workflow
(`DeliveryStarter.start`): a receiver that answers 2xx costs Temporal nothing. Only a delivery whose first
try failed is handed to Temporal, as a `WebhookRetryWorkflow` that retries it with the `retry_webhook`
activity. Each subscription's first tries wait their turn among a few at a time (`PER_RECEIVER`), so a
slow receiver holds up only its own; once one of them has failed, the next ones for `FAILING_FOR_S` go
straight to a `WebhookDeliveryWorkflow` each (Temporal makes their first try and the retries), as does
one that waited `DIRECT_WITHIN_S` for its turn. A burst of first tries to one subscription reuses its
connections. A first try lost with its worker, or a retry never started, is found by the sweep
(`sweep_webhooks`, run every minute by `WebhookSweepWorkflow`, which `start` makes sure runs).

An attempt, whichever makes it, is marked under way in the deliveries log as it begins, then POSTs the
stored body, signed afresh, following no redirect (it could lead anywhere, a private address too), with a
short time-out; it is counted with how it ended (the receiver's status, why it failed in plain words,
when the next try is due) before it ends. In the activity a non-2xx answer, a time-out or a dropped
connection raises, and Temporal retries on the workflow's schedule; a 429 (or 503) with `Retry-After`
sets the next try itself. The attempt is asynchronous (no worker thread waits on a slow receiver) and,
in the activity, heartbeats while it waits, so that when its worker dies mid-request Temporal tries
again within the heartbeat time-out, not the attempt's.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import httpx
from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from activities.names import DELIVER_WEBHOOK, GIVE_UP_WEBHOOK
from domain.plain_words import a_or_an
from domain.webhook_events import DeliveryGivenUp, DeliveryJob, signature
from domain.webhook_retries import DELIVERY_WINDOW, RETRY_WEBHOOK, SWEEP_WEBHOOKS, DeliveryRetry, SweepPlan
from domain.webhook_retries import backoff as first_backoff
from domain.webhook_targets import address_reason, private_reason
from store import webhooks
from store.db import session
from store.group_commit import group_commit
from store.tables import utcnow
from workflows.webhook_retries import WebhookRetryWorkflow, WebhookSweepWorkflow, after
from workflows.webhooks import WEBHOOK_RETRY, WebhookDeliveryWorkflow

log = logging.getLogger(__name__)

USER_AGENT = "Parley-Webhooks/1"
HTTP_TIMEOUT_S = 10.0
KEEP_ALIVE_S = 2.0  # an idle connection is reused within this (a receiver's idle time-out is rarely under 5 s)
MAX_RETRY_AFTER = timedelta(hours=24)
HEARTBEAT_EVERY_S = 1.0  # well inside the workflow's HEARTBEAT_TIMEOUT
GAVE_UP = "gave up: no 2xx answer within 24 hours"  # as the workflows say it

NextTry = Callable[[timedelta | None, float], datetime | None]  # (Retry-After, seconds spent) -> next try, if any
Failed = tuple[str, timedelta | None, datetime | None]  # why, the receiver's Retry-After, the next try


class WebhookActivities:
    def __init__(self, engine: Engine, *, timeout_s: float = HTTP_TIMEOUT_S, allow_private: bool = False,
                 clock: Callable[[], Awaitable[datetime]] | None = None) -> None:
        self.engine = engine
        self.marks = group_commit(engine)  # each attempt's mark in the log, committed with those made beside it
        self.timeout_s = timeout_s
        self.allow_private = allow_private
        self.clock = clock or _wall_clock  # Temporal's, for first tries: the time-skipping tests pass the server's
        self.tls = httpx.create_ssl_context()  # made once (certifi's CAs): loading them costs more than a local POST

    @activity.defn(name=DELIVER_WEBHOOK)
    async def deliver_webhook(self, job: DeliveryJob) -> None:
        await self._retried(job.delivery_id, WEBHOOK_RETRY)

    @activity.defn(name=RETRY_WEBHOOK)
    async def retry_webhook(self, retry: DeliveryRetry) -> None:
        """`deliver_webhook` for `WebhookRetryWorkflow`, whose back-off carries on from the tries before it."""
        await self._retried(retry.delivery_id, after(retry.tries))

    async def _retried(self, delivery_id: str, policy: RetryPolicy) -> None:
        """One attempt as an activity Temporal retries (`policy` unless the server says which it follows)."""
        info = activity.info()
        failed = await self._attempt(delivery_id, lambda wait, spent_s: _next_try(info, wait, spent_s, policy),
                                     beat=True)
        if failed is not None:
            error, wait, _ = failed
            raise ApplicationError(error, type="WebhookNotDelivered", next_retry_delay=wait)

    async def first_try(self, delivery_id: str, http: aiohttp.ClientSession | None = None) -> DeliveryRetry | None:
        """The delivery's first try, made without a workflow; what Temporal is to retry, or None when nothing
        is left to do: delivered, refused for good (marked failed), or no such delivery."""
        tried_at = await self.clock()

        def next_try(wait: timedelta | None, spent_s: float) -> datetime | None:
            at = tried_at + timedelta(seconds=spent_s) + (wait if wait is not None else first_backoff(1))
            return at if at <= tried_at + DELIVERY_WINDOW else None

        try:
            failed = await self._attempt(delivery_id, next_try, beat=False, http=http)
        except ApplicationError as exc:  # refused before any request: as the workflows do, give it up
            if exc.type != "WebhookGone":
                await asyncio.to_thread(self.give_up_webhook, DeliveryGivenUp(delivery_id, exc.message))
            return None
        if failed is None:
            return None
        _, _, at = failed
        if at is None:  # the receiver asked for a wait beyond the 24 hours
            await asyncio.to_thread(self.give_up_webhook, DeliveryGivenUp(delivery_id, GAVE_UP))
            return None
        now = await self.clock()
        return DeliveryRetry(delivery_id=delivery_id, wait_s=max(0.0, (at - now).total_seconds()),
                             window_s=(tried_at + DELIVERY_WINDOW - now).total_seconds(), tries=1)

    def client(self, connections: int = 1, keep_alive_s: float = KEEP_ALIVE_S) -> aiohttp.ClientSession:
        """What POSTs (on the running loop): `connections` at most at once, each kept alive `keep_alive_s` between
        requests. aiohttp, not httpx: a POST cost httpx ten times the CPU (2 against 0.2 ms, 16 at a time)."""
        connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=keep_alive_s, ssl=self.tls)
        return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                                     skip_auto_headers=("Accept-Encoding",))

    async def _attempt(self, delivery_id: str, next_try: NextTry, *, beat: bool,
                       http: aiohttp.ClientSession | None = None) -> Failed | None:
        """One attempt, logged; None when the receiver answered 2xx, else why not, its `Retry-After` and the
        next try as logged. Raises a non-retryable `ApplicationError` when it may not be made. `http` is the
        client to POST with (its subscription's, kept alive between first tries), else one of its own."""
        started = time.monotonic()
        target = await asyncio.to_thread(self._begin, delivery_id)
        stamp = int(time.time())
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Parley-Event-Id": target.event_id,
                   "Parley-Signature": signature(target.secret, target.body, stamp)}
        status: int | None = None
        wait: timedelta | None = None
        beats: contextlib.AbstractAsyncContextManager[None] = heartbeating() if beat else contextlib.nullcontext()
        try:
            async with beats, contextlib.AsyncExitStack() as stack:
                if http is None:  # a connection of its own
                    http = await stack.enter_async_context(self.client())
                async with http.post(target.url, data=target.body.encode("utf-8"), headers=headers,
                                     allow_redirects=False) as response:
                    await response.read()  # all of it, so that the connection can be used again
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            error = self._failure(exc)
        else:
            status = response.status
            if 200 <= status < 300:
                await asyncio.to_thread(self._record, delivery_id, status=status, error=None, next_try_at=None,
                                        delivered_at=utcnow())
                return None
            error = f"the receiver answered {status} {response.reason or ''}".rstrip()
            if status in (429, 503):
                wait = retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
                if wait is not None:
                    error += f" (Retry-After: {int(wait.total_seconds())} s)"
        at = next_try(wait, time.monotonic() - started)
        await asyncio.to_thread(self._record, delivery_id, status=status, error=error, next_try_at=at)
        return error, wait, at

    def _begin(self, delivery_id: str) -> webhooks.Target:
        """What this attempt sends, and where, once it is counted in the log; raises when it may not be made."""
        target = self.marks.run(lambda s: webhooks.begin_attempt(s, delivery_id))
        if target is None:
            raise ApplicationError(f"no delivery {delivery_id}", type="WebhookGone", non_retryable=True)
        if not target.active:
            raise ApplicationError("the subscription was removed", type="WebhookRemoved", non_retryable=True)
        if not self.allow_private and (why := _private_now(target.url)):
            error = f"the URL now points at {a_or_an(why)} address"
            self._record(delivery_id, status=None, error=error, next_try_at=None)
            raise ApplicationError(error, type="WebhookRefused", non_retryable=True)
        return target

    def _record(self, delivery_id: str, *, status: int | None, error: str | None, next_try_at: datetime | None,
                delivered_at: datetime | None = None) -> None:
        self.marks.run(lambda s: webhooks.record_attempt(
            s, delivery_id, status=status, error=error, next_try_at=next_try_at, delivered_at=delivered_at))

    @activity.defn(name=GIVE_UP_WEBHOOK)
    def give_up_webhook(self, given_up: DeliveryGivenUp) -> None:
        with session(self.engine, write=True) as s:
            webhooks.mark_failed(s, given_up.delivery_id, reason=given_up.reason, at=utcnow())

    def _failure(self, exc: Exception) -> str:
        """Why no answer came, in plain words."""
        if isinstance(exc, TimeoutError):
            return f"no answer within {self.timeout_s:g} s (time-out)"
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return "the receiver closed the connection without answering"
        if isinstance(exc, aiohttp.ClientConnectorError):
            return f"could not connect to the receiver ({exc.os_error or 'connection refused'})"
        return f"the request failed ({type(exc).__name__}: {exc})"


async def _wall_clock() -> datetime:
    return utcnow()


@contextlib.asynccontextmanager
async def heartbeating(every_s: float = HEARTBEAT_EVERY_S) -> AsyncIterator[None]:
    """Heartbeat the current activity every `every_s` seconds while the block runs."""
    async def beat() -> None:
        while True:  # the first after `every_s`: an attempt answered at once costs Temporal no heartbeat
            await asyncio.sleep(every_s)
            activity.heartbeat()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A `Retry-After` header (seconds, or an HTTP date) as a wait; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        wait = timedelta(seconds=int(value))
    else:
        try:
            at = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        wait = (at if at.tzinfo else at.replace(tzinfo=UTC)) - now
    return max(timedelta(seconds=1), min(wait, MAX_RETRY_AFTER))


def backoff(attempt: int, policy: RetryPolicy | None = None) -> timedelta:
    """The wait after failed attempt `attempt` (1, 2, …) under the retry policy: 10 s, 20 s, 40 s … at most 1 h.
    Grown step by step up to the cap: the power itself would overflow a timedelta from the 44th attempt on, which
    a receiver answering 429 with a short Retry-After all day reaches."""
    retry = policy or WEBHOOK_RETRY
    most = retry.maximum_interval or retry.initial_interval * 100  # Temporal's default cap
    wait = retry.initial_interval
    for _ in range(attempt - 1):
        if wait >= most:
            break
        wait *= retry.backoff_coefficient
    return min(wait, most)


def _next_try(info: activity.Info, wait: timedelta | None, spent_s: float, policy: RetryPolicy) -> datetime | None:
    """When Temporal will try again (in its clock), or None when the 24 hours are up first."""
    failed_at = (info.started_time or info.current_attempt_scheduled_time) + timedelta(seconds=spent_s)
    at = failed_at + (wait if wait is not None else backoff(info.attempt, info.retry_policy or policy))
    if info.schedule_to_close_timeout and at > info.scheduled_time + info.schedule_to_close_timeout:
        return None
    return at


def _private_now(url: str) -> str | None:
    """Why the URL's host is (or now resolves to) a non-public address, if it does."""
    try:
        host = httpx.URL(url).host
    except httpx.InvalidURL:
        return None  # the attempt says so
    why = private_reason(host)
    if why is not None:
        return why
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (OSError, UnicodeError):
        return None  # unresolvable: the attempt says so
    return next((r for r in map(address_reason, sorted(str(a) for a in found)) if r), None)


# --- after an event's commit: first tries, the hand-over to Temporal, the sweep ----------------------

PER_RECEIVER = 16  # first tries in flight at once per subscription, in a worker
FAILING_FOR_S = 60.0  # after a first try to a subscription fails, its first tries are Temporal's for this long
DIRECT_WITHIN_S = 90.0  # nor is one that has waited this long for its turn (the sweep's grace is longer)
ENSURE_SWEEPER_EVERY_S = 600.0  # how often a worker checks that the sweep runs (on its next hand-over)
START_TRIES = 3  # a workflow start that fails is tried again this often, then left to the sweep
SWEEP = SweepPlan()  # every minute; a first or next try two minutes overdue is taken over


class DeliveryStarter:
    """What an activity that queued deliveries calls once its transaction has committed (`start`): each
    delivery never tried yet gets its first try here, on the worker's loop, without the activity waiting
    for it; one that fails goes to a `WebhookRetryWorkflow`. It also runs the sweep (`sweep_webhooks`).

    The workflow ids are the delivery ids and a closed one is never started again, so a delivery is
    never handed to two workflows. A retried activity (the transaction committed, then something failed)
    tries again only what no attempt has begun on."""

    def __init__(self, client: Client, task_queue: str, loop: asyncio.AbstractEventLoop, hooks: WebhookActivities,
                 *, within_s: float = 5.0, sweep: SweepPlan | None = SWEEP, per_receiver: int = PER_RECEIVER,
                 direct_within_s: float = DIRECT_WITHIN_S, failing_for_s: float = FAILING_FOR_S) -> None:
        self.client, self.task_queue, self.loop, self.hooks, self.within_s = client, task_queue, loop, hooks, within_s
        self.sweep = sweep  # None: no sweep is started from here (the time-skipping tests, which start their own)
        self.per_receiver, self.direct_within_s, self.failing_for_s = per_receiver, direct_within_s, failing_for_s
        self._slots: dict[str, asyncio.Semaphore] = {}  # per subscription, on the loop
        self._clients: dict[str, aiohttp.ClientSession] = {}  # per subscription with first tries to make, on the loop
        self._waiting: dict[str, int] = {}  # the first tries each of them has to make
        self._failing: dict[str, float] = {}  # subscriptions whose last first try failed: until when they count so
        self._in_hand: set[str] = set()  # deliveries whose first try this worker has yet to finish
        self._running: set[concurrent.futures.Future[None]] = set()
        self._sweeper_checked = float("-inf")

    def start(self, delivery_ids: Sequence[str]) -> None:
        """From an activity's thread, once its transaction has committed; returns without waiting for any try."""
        if not delivery_ids:
            return
        self._ensure_sweeper()  # before anything rests on it: a first try lost with this worker is its to find
        with session(self.hooks.engine) as s:
            fresh = webhooks.untried(s, delivery_ids)  # here, so that first tries queue in the order of events
        self._submit(fresh)

    def start_claimed(self, claimed: Sequence[tuple[str, str]]) -> None:
        """`start`, from a thread, for deliveries a relay took untried (activities.relay): (id, subscription)."""
        if not claimed:
            return
        self._ensure_sweeper()
        self._submit(list(claimed))

    def _submit(self, fresh: list[tuple[str, str]]) -> None:
        if fresh:
            running = asyncio.run_coroutine_threadsafe(self._hand_over(fresh, time.monotonic()), self.loop)
            self._running.add(running)
            running.add_done_callback(self._running.discard)

    async def settled(self) -> None:
        """Wait until the first tries handed over so far have ended (the tests)."""
        while self._running:
            await asyncio.wait([asyncio.wrap_future(f) for f in list(self._running)])

    def _ensure_sweeper(self) -> None:
        if self.sweep is None or time.monotonic() - self._sweeper_checked < ENSURE_SWEEPER_EVERY_S:
            return
        future = asyncio.run_coroutine_threadsafe(start_sweeper(self.client, self.task_queue, self.sweep), self.loop)
        try:
            future.result(timeout=self.within_s)
        except BaseException:
            future.cancel()
            raise  # the activity fails and is retried: the rows are in place, the hand-over is tried again
        self._sweeper_checked = time.monotonic()

    async def _hand_over(self, fresh: list[tuple[str, str]], queued: float) -> None:
        fresh = [(d, w) for d, w in fresh if d not in self._in_hand]  # a retried activity's, still on their way
        self._in_hand.update(d for d, _ in fresh)
        await asyncio.gather(*(self._first_try(d, w, queued) for d, w in fresh))

    async def _first_try(self, delivery_id: str, webhook_id: str, queued: float) -> None:
        def from_the_start() -> Awaitable[bool]:
            return start_delivery(self.client, self.task_queue, delivery_id)

        try:
            slots = self._slots.setdefault(webhook_id, asyncio.Semaphore(self.per_receiver))
            async with self._client(webhook_id) as http, slots:
                now = time.monotonic()
                if now < self._failing.get(webhook_id, now) or now - queued > self.direct_within_s:
                    await self._hand_to_temporal(from_the_start)  # its receiver fails or is slow: Temporal tries it
                    return
                try:
                    retry = await self.hooks.first_try(delivery_id, http)
                except Exception:  # the store failed it (say, SQLite busy beyond its time-out): Temporal tries it
                    log.warning("the first try of %s could not be made; Temporal will make it", delivery_id,
                                exc_info=True)
                    await self._hand_to_temporal(from_the_start)
                    return
            if retry is None:
                self._failing.pop(webhook_id, None)
            else:
                self._failing[webhook_id] = time.monotonic() + self.failing_for_s
                await self._hand_to_temporal(lambda: start_retry(self.client, self.task_queue, retry))
        except Exception:  # Temporal did not take it either: left as it is, the sweep takes it over
            log.exception("the delivery %s was not handed to Temporal; the sweep will take it over", delivery_id)
        finally:
            self._in_hand.discard(delivery_id)

    @contextlib.asynccontextmanager
    async def _client(self, webhook_id: str) -> AsyncIterator[aiohttp.ClientSession]:
        """The subscription's client for its first tries, closed once none is waiting: as many connections as
        first tries at once, kept alive briefly, so that a burst of events reuses them."""
        if (client := self._clients.get(webhook_id)) is None:
            client = self._clients[webhook_id] = self.hooks.client(connections=self.per_receiver)
        self._waiting[webhook_id] = self._waiting.get(webhook_id, 0) + 1
        try:
            yield client
        finally:
            self._waiting[webhook_id] -= 1
            if not self._waiting[webhook_id]:
                del self._waiting[webhook_id], self._clients[webhook_id]
                await client.close()

    @staticmethod
    async def _hand_to_temporal(start: Callable[[], Awaitable[bool]]) -> None:
        for tried in range(1, START_TRIES + 1):
            try:
                await start()
                return
            except Exception:
                if tried == START_TRIES:
                    raise
                await asyncio.sleep(tried)

    @activity.defn(name=SWEEP_WEBHOOKS)
    async def sweep_webhooks(self, plan: SweepPlan) -> int:
        """Hand Temporal the deliveries that no attempt is coming for; how many were started."""
        now = utcnow()
        found = await asyncio.to_thread(self._overdue, plan, now)
        started = 0
        for overdue in found:
            if overdue.delivery_id in self._in_hand:
                continue
            if not overdue.active:
                await asyncio.to_thread(self.hooks.give_up_webhook,
                                        DeliveryGivenUp(overdue.delivery_id, "the subscription was removed"))
                continue
            if overdue.attempts == 0:
                started += await start_delivery(self.client, self.task_queue, overdue.delivery_id)
            else:
                window = overdue.created_at + DELIVERY_WINDOW - now
                started += await start_retry(self.client, self.task_queue, DeliveryRetry(
                    overdue.delivery_id, wait_s=0.0, window_s=window.total_seconds(), tries=overdue.attempts))
            activity.heartbeat()
        if started:
            log.warning("the webhook sweep handed %d deliveries to Temporal", started)
        return started

    def _overdue(self, plan: SweepPlan, now: datetime) -> list[webhooks.Overdue]:
        with session(self.hooks.engine) as s:
            return webhooks.overdue(s, now=now, grace=timedelta(seconds=plan.grace_s), window=DELIVERY_WINDOW)


def sweeper_id(task_queue: str) -> str:
    return f"webhook-sweep:{task_queue}"


async def start_sweeper(client: Client, task_queue: str, plan: SweepPlan) -> WorkflowHandle[Any, None]:
    """The task queue's `WebhookSweepWorkflow`, started unless it runs already."""
    return await client.start_workflow(WebhookSweepWorkflow.run, plan, id=sweeper_id(task_queue),
                                       task_queue=task_queue, id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                                       id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)


async def start_delivery(client: Client, task_queue: str, delivery_id: str) -> bool:
    """Start the delivery's workflow (its first try now) unless one ran or runs already; whether it was started now."""
    try:
        await client.start_workflow(WebhookDeliveryWorkflow.run, DeliveryJob(delivery_id=delivery_id),
                                    id=delivery_id, task_queue=task_queue,
                                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, request_eager_start=True)
    except WorkflowAlreadyStartedError:
        return False
    return True


async def start_retry(client: Client, task_queue: str, retry: DeliveryRetry) -> bool:
    """Start the delivery's `WebhookRetryWorkflow` unless a workflow of it ran or runs already; whether it was now."""
    try:
        await client.start_workflow(WebhookRetryWorkflow.run, retry, id=retry.delivery_id, task_queue=task_queue,
                                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
    except WorkflowAlreadyStartedError:
        return False
    return True
