"""Webhook deliveries: one attempt at a time (`deliver_webhook`), giving up (`give_up_webhook`), and starting
a `WebhookDeliveryWorkflow` per queued delivery (`DeliveryStarter`, for the activities that queue them).

An attempt is marked under way in the deliveries log as it begins, then POSTs the stored body, signed
afresh, with a short time-out; it is counted with how it ended (the receiver's status, why it failed in
plain words, when the next try is due) before it ends. A non-2xx answer, a time-out or a dropped
connection raises, and Temporal retries on the workflow's schedule; a 429 (or 503) with `Retry-After`
sets the next try itself. The attempt is asynchronous (no worker thread waits on a slow receiver) and
heartbeats while it waits, so that when its worker dies mid-request Temporal tries again within the
heartbeat time-out, not the attempt's.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
from sqlalchemy import Engine
from temporalio import activity
from temporalio.client import Client
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from activities.names import DELIVER_WEBHOOK, GIVE_UP_WEBHOOK
from domain.webhook_events import DeliveryGivenUp, DeliveryJob, signature
from domain.webhook_targets import address_reason, private_reason
from store import webhooks
from store.db import session
from store.tables import utcnow
from workflows.webhooks import WEBHOOK_RETRY, WebhookDeliveryWorkflow

USER_AGENT = "Parley-Webhooks/1"
HTTP_TIMEOUT_S = 10.0
MAX_RETRY_AFTER = timedelta(hours=24)
HEARTBEAT_EVERY_S = 1.0  # well inside the workflow's HEARTBEAT_TIMEOUT


class WebhookActivities:
    def __init__(self, engine: Engine, *, timeout_s: float = HTTP_TIMEOUT_S, allow_private: bool = False) -> None:
        self.engine = engine
        self.timeout_s = timeout_s
        self.allow_private = allow_private
        self.tls = httpx.create_ssl_context()  # made once: loading the CA bundle costs more than a local POST

    @activity.defn(name=DELIVER_WEBHOOK)
    async def deliver_webhook(self, job: DeliveryJob) -> None:
        started = time.monotonic()
        target = await asyncio.to_thread(self._begin, job.delivery_id)
        stamp = int(time.time())
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Parley-Event-Id": target.event_id,
                   "Parley-Signature": signature(target.secret, target.body, stamp)}
        status: int | None = None
        wait: timedelta | None = None
        try:
            # a connection of its own, and never a redirect followed: it could lead anywhere, a private address too
            async with heartbeating(), httpx.AsyncClient(timeout=self.timeout_s, follow_redirects=False,
                                                         verify=self.tls) as http:
                response = await http.post(target.url, content=target.body.encode("utf-8"), headers=headers)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            error = self._failure(exc)
        else:
            status = response.status_code
            if 200 <= status < 300:
                await asyncio.to_thread(self._record, job.delivery_id, status=status, error=None, next_try_at=None,
                                        delivered_at=utcnow())
                return
            error = f"the receiver answered {status} {response.reason_phrase}".rstrip()
            if status in (429, 503):
                wait = retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
                if wait is not None:
                    error += f" (Retry-After: {int(wait.total_seconds())} s)"
        next_try = _next_try(activity.info(), wait, time.monotonic() - started)
        await asyncio.to_thread(self._record, job.delivery_id, status=status, error=error, next_try_at=next_try)
        raise ApplicationError(error, type="WebhookNotDelivered", next_retry_delay=wait)

    def _begin(self, delivery_id: str) -> webhooks.Target:
        """What this attempt sends, and where, once it is counted in the log; raises when it may not be made."""
        with session(self.engine, write=True) as s:
            target = webhooks.begin_attempt(s, delivery_id)
        if target is None:
            raise ApplicationError(f"no delivery {delivery_id}", type="WebhookGone", non_retryable=True)
        if not target.active:
            raise ApplicationError("the subscription was removed", type="WebhookRemoved", non_retryable=True)
        if not self.allow_private and (why := _private_now(target.url)):
            error = f"the URL now points at a {why} address"
            self._record(delivery_id, status=None, error=error, next_try_at=None)
            raise ApplicationError(error, type="WebhookRefused", non_retryable=True)
        return target

    def _record(self, delivery_id: str, *, status: int | None, error: str | None, next_try_at: datetime | None,
                delivered_at: datetime | None = None) -> None:
        with session(self.engine) as s:
            webhooks.record_attempt(s, delivery_id, status=status, error=error, next_try_at=next_try_at,
                                    delivered_at=delivered_at)

    @activity.defn(name=GIVE_UP_WEBHOOK)
    def give_up_webhook(self, given_up: DeliveryGivenUp) -> None:
        with session(self.engine, write=True) as s:
            webhooks.mark_failed(s, given_up.delivery_id, reason=given_up.reason, at=utcnow())

    def _failure(self, exc: httpx.HTTPError | httpx.InvalidURL) -> str:
        """Why no answer came, in plain words."""
        if isinstance(exc, httpx.TimeoutException):
            return f"no answer within {self.timeout_s:g} s (time-out)"
        if isinstance(exc, httpx.RemoteProtocolError):
            return "the receiver closed the connection without answering"
        if isinstance(exc, httpx.ConnectError):
            return f"could not connect to the receiver ({exc or 'connection refused'})"
        return f"the request failed ({type(exc).__name__}: {exc})"


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
    """The wait after failed attempt `attempt` (1, 2, …) under the retry policy: 10 s, 20 s, 40 s … at most 1 h."""
    retry = policy or WEBHOOK_RETRY
    most = retry.maximum_interval or retry.initial_interval * 100  # Temporal's default cap
    return min(retry.initial_interval * retry.backoff_coefficient ** (attempt - 1), most)


def _next_try(info: activity.Info, wait: timedelta | None, spent_s: float) -> datetime | None:
    """When Temporal will try again (in its clock), or None when the 24 hours are up first."""
    failed_at = (info.started_time or info.current_attempt_scheduled_time) + timedelta(seconds=spent_s)
    at = failed_at + (wait if wait is not None else backoff(info.attempt, info.retry_policy))
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


# --- starting deliveries -------------------------------------------------------------------------

class DeliveryStarter:
    """Starts one `WebhookDeliveryWorkflow` per delivery, from an activity's thread, on the worker's loop.

    The workflow id is the delivery id and a closed one is never started again, so a retried activity
    (the transaction committed, the start was lost) starts what is missing and nothing twice."""

    def __init__(self, client: Client, task_queue: str, loop: asyncio.AbstractEventLoop, *,
                 within_s: float = 5.0) -> None:
        self.client, self.task_queue, self.loop, self.within_s = client, task_queue, loop, within_s

    def start(self, delivery_ids: Sequence[str]) -> None:
        if not delivery_ids:
            return
        future = asyncio.run_coroutine_threadsafe(self._start_all(delivery_ids), self.loop)
        try:
            future.result(timeout=self.within_s)
        except BaseException:
            future.cancel()
            raise  # the activity fails and is retried: the rows are in place, the starts are tried again

    async def _start_all(self, delivery_ids: Sequence[str]) -> None:
        await asyncio.gather(*(start_delivery(self.client, self.task_queue, d) for d in delivery_ids))


async def start_delivery(client: Client, task_queue: str, delivery_id: str) -> bool:
    """Start the delivery's workflow unless it ran or runs already; whether it was started now."""
    try:
        await client.start_workflow(WebhookDeliveryWorkflow.run, DeliveryJob(delivery_id=delivery_id),
                                    id=delivery_id, task_queue=task_queue,
                                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE, request_eager_start=True)
    except WorkflowAlreadyStartedError:
        return False
    return True
