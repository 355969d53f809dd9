"""Slack plumbing for the activities and the API: a WebClient that retries like Slack asks (and never
repeats a post blindly), the per-channel pacing of posts, and finding a notice Parley posted (by its
message metadata) when Slack's answer to the post was lost, or an attempt ended before it could record the
post (`post_or_find`, `find_notice`). What the messages say is rendered in `render/`."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.client import RemoteDisconnected
from typing import Any, TypeVar, cast
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler, default_interval_calculator
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.models.metadata import Metadata
from temporalio import activity

SLACK_TIMEOUT_S = 10
# Connection trouble worth another try. Read time-outs surface as a bare TimeoutError, which
# slack-sdk's handler does not retry unless told to.
CONNECTION_ERRORS: list[type[Exception]] = [URLError, TimeoutError, ConnectionResetError, RemoteDisconnected]
# Methods that make something new each time they are called: chat.postMessage has no idempotency key, so
# a post repeated after Slack took it is a second message. A 5xx answer, or none (a time-out, a connection
# dropped after the request went out), leaves its outcome unknown: such a call is never sent again blindly.
# The caller looks for the message first (`post_or_find`, `find_notice`), and posts again only when it is
# not there. Rate limits (429: Slack did nothing) and requests that never left are safe to repeat.
NOT_REPEATABLE = frozenset({"chat.postMessage"})
# How long after a post whose outcome is unknown the caller looks for the message (heartbeating meanwhile):
# a moment for Slack to finish storing a post it took. As long as Temporal's first retry used to wait.
LOOK_AFTER_S = 1.0
# Posts of one message in one attempt while every answer leaves the outcome unknown and every look finds
# nothing; then the attempt fails (the row still marked "posting") and Temporal's retry looks first.
POSTS_PER_ATTEMPT = 3
# The longest Retry-After the client waits out itself, heartbeating before and after: far below the
# delivery activity's heartbeat time-out. A longer one reaches the caller (a delivery defers the row).
RATE_LIMIT_WAIT_MAX_S = 5

T = TypeVar("T")


def heartbeat() -> None:
    """Tell Temporal that the activity running this is alive (nothing outside an activity). The delivery
    activities call it before each row and around every wait, so a worker that died is noticed after the
    activity's heartbeat time-out, and an attempt that outlived its time-out learns it and stops."""
    if activity.in_activity():
        activity.heartbeat()


def api_method(request: HttpRequest) -> str:
    """The Web API method a request calls ("chat.postMessage")."""
    return urlsplit(request.url).path.rstrip("/").rsplit("/", 1)[-1]


def never_sent(error: Exception | None) -> bool:
    """The request failed before it was all sent (connecting or sending: urllib wraps those in URLError;
    a time-out or a dropped connection while waiting for the answer comes bare), so Slack did nothing."""
    return isinstance(error, URLError) and not isinstance(error, HTTPError)


class _Heartbeating(RetryHandler):
    """Heartbeats before and after each back-off, so a wait never passes the activity's heartbeat time-out."""

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None, error: Exception | None = None) -> None:
        heartbeat()
        super().prepare_for_next_attempt(state=state, request=request, response=response, error=error)
        heartbeat()


class RateLimitRetry(_Heartbeating, RateLimitErrorRetryHandler):
    """slack-sdk's rate-limit handler (wait Retry-After, then repeat: Slack did nothing), for waits of at
    most `max_wait` seconds, with a heartbeat before and after the wait."""

    def __init__(self, max_retry_count: int, max_wait: float = RATE_LIMIT_WAIT_MAX_S) -> None:
        super().__init__(max_retry_count)
        self.max_wait = max_wait

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return (super()._can_retry(state=state, request=request, response=response, error=error)
                and response is not None and retry_after(response.headers) <= self.max_wait)


class ServerErrorRetry(_Heartbeating, ServerErrorRetryHandler):
    """slack-sdk's server-error handler, except for a post (a 500 may come after Slack took it), with a
    heartbeat before and after the back-off."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return (api_method(request) not in NOT_REPEATABLE
                and super()._can_retry(state=state, request=request, response=response, error=error))


class ConnectionErrorRetry(_Heartbeating, ConnectionErrorRetryHandler):
    """slack-sdk's connection-error handler, except for a post whose request went out (the answer timed out
    or the connection dropped: Slack may have it), with a heartbeat before and after the back-off."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return ((api_method(request) not in NOT_REPEATABLE or never_sent(error))
                and super()._can_retry(state=state, request=request, response=response, error=error))


def retry_handlers(*, retries: int = 3, rate_limit_retries: int = 5,
                   interval: RetryIntervalCalculator = default_interval_calculator,
                   rate_limit_wait_max: float = RATE_LIMIT_WAIT_MAX_S) -> list[RetryHandler]:
    """Wait out short rate limits (honouring Retry-After); retry server errors, connection errors and
    time-outs with backoff, except where that could post a message twice (`NOT_REPEATABLE`)."""
    return [
        RateLimitRetry(max_retry_count=rate_limit_retries, max_wait=rate_limit_wait_max),
        ServerErrorRetry(max_retry_count=retries, interval_calculator=interval),
        ConnectionErrorRetry(max_retry_count=retries, interval_calculator=interval, error_types=CONNECTION_ERRORS),
    ]


def make_slack_client(token: str, base_url: str = WebClient.BASE_URL, *,
                      interval: RetryIntervalCalculator = default_interval_calculator,
                      timeout: float | None = None, retries: int = 3) -> WebClient:
    """A WebClient that waits out short rate limits (honouring Retry-After) and retries server errors,
    connection errors and time-outs a few times before the caller gives up (the delivery activity then
    fails its attempt and Temporal retries it). A post whose outcome is unknown is not retried: the
    caller looks for it first (see `NOT_REPEATABLE`, `post_or_find`)."""
    return WebClient(
        token=token,
        base_url=base_url,
        # typed int by slack-sdk, but urllib takes float seconds (tests use sub-second time-outs)
        timeout=cast(int, timeout if timeout is not None else SLACK_TIMEOUT_S),
        retry_handlers=retry_handlers(retries=retries, interval=interval),
    )


def retry_after(headers: dict[str, Any] | Any) -> float:
    """The seconds a rate-limited answer asks to wait (its Retry-After header; 1 when it has none)."""
    for name, value in dict(headers or {}).items():
        if name.lower() == "retry-after":
            raw = value[0] if isinstance(value, list) and value else value
            try:
                return max(0.0, float(raw))
            except (TypeError, ValueError):
                break
    return 1.0


def posted_nothing(status_code: int) -> bool:
    """Slack answered a post with an API error (200, `ok: false`) or a rate limit (429): nothing was
    posted. A 5xx, like no answer at all, may come after Slack took the post."""
    return status_code in (200, 429)


def outcome_unknown(exc: BaseException) -> bool:
    """Slack may have taken the post that raised `exc`: it answered 5xx, or not at all (a time-out, a
    connection dropped after the request went out)."""
    if isinstance(exc, SlackApiError):
        return not posted_nothing(exc.response.status_code)
    return isinstance(exc, OSError) and not never_sent(exc)


def failure(exc: BaseException) -> str:
    """What a failed Slack call ran into, as an outbox row records it ("slack: HTTP 500")."""
    if isinstance(exc, SlackApiError):
        return f"slack: {exc.response.get('error') or f'HTTP {exc.response.status_code}'}"
    return f"connection: {exc or type(exc).__name__}"


def pause(seconds: float) -> None:
    """Wait a moment inside a delivery activity, with a heartbeat before and after."""
    heartbeat()
    time.sleep(seconds)
    heartbeat()


def post_or_find(post: Callable[[], T], find: Callable[[], T | None], *,
                 unknown: Callable[[Exception], None] | None = None, look_after: float = LOOK_AFTER_S,
                 posts: int = POSTS_PER_ATTEMPT) -> T:
    """What `post()` answered, posting at most once: when the answer leaves the outcome unknown
    (`outcome_unknown`; `unknown` hears of it), wait `look_after` seconds and `find()` the message (by its
    metadata). What it finds is the answer; when it finds nothing, Slack has no such post and it goes
    again, up to `posts` posts in all. The last post's unknown outcome, like a look Slack fails (it is still
    in trouble), propagates: the caller's row stays marked "posting", and its next attempt looks first."""
    left = posts
    while True:
        left -= 1
        try:
            return post()
        except (SlackApiError, OSError) as exc:
            if left <= 0 or not outcome_unknown(exc):
                raise
            if unknown is not None:
                unknown(exc)
        pause(look_after)
        found = find()
        if found is not None:
            return found


# --- finding a notice already posted ----------------------------------------------------------------

NOTICE_EVENT = "parley_notice"  # the metadata event type of every message posted for an outbox row
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,}")  # a conversation ID, not a "#name"
PAGE_SIZE = 200  # messages (or channels) per page while looking


def notice_metadata(notice_id: int, dispute_id: str, seq: int) -> Metadata:
    """The message metadata that says which outbox row a message was posted for (chat.postMessage has no
    idempotency key: this is how a retry recognises a post that an attempt made before it died)."""
    return Metadata(event_type=NOTICE_EVENT,
                    event_payload={"notice_id": notice_id, "dispute_id": dispute_id, "seq": seq})


def find_notice(slack: WebClient, channel: str, metadata: Metadata, *, oldest: float,
                thread_ts: str | None = None) -> str | None:
    """The ts of the message carrying `metadata` posted in `channel` (or, with `thread_ts`, in that
    thread) at or after `oldest` (Unix seconds), if Slack has it: conversations.history (or .replies)
    with `include_all_metadata`, page by page. `channel` must be an ID (see `channel_id`)."""
    cursor: str | None = None
    while True:
        heartbeat()
        args: dict[str, Any] = {"channel": channel, "oldest": f"{oldest:.6f}", "inclusive": True,
                                "include_all_metadata": True, "limit": PAGE_SIZE}
        if cursor:
            args["cursor"] = cursor
        page = (slack.conversations_replies(ts=thread_ts, **args) if thread_ts
                else slack.conversations_history(**args))
        for message in page.get("messages") or []:
            found = message.get("metadata") or {}
            if (found.get("event_type") == metadata.event_type
                    and found.get("event_payload") == metadata.event_payload):
                return str(message["ts"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return None


def channel_id(slack: WebClient, name: str) -> str | None:
    """The ID of the channel `name` ("#conflicts", "conflicts", or already an ID), or None when no channel
    the app can see is called that (conversations.list: chat.postMessage takes a name, the reading
    methods want the ID)."""
    if _CHANNEL_ID.fullmatch(name):
        return name
    wanted = name.removeprefix("#")
    cursor: str | None = None
    while True:
        page = slack.conversations_list(types="public_channel,private_channel", exclude_archived=True,
                                        limit=PAGE_SIZE, cursor=cursor)
        for channel in page.get("channels") or []:
            if channel.get("name") == wanted:
                return str(channel["id"])
        cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            return None


# --- pacing ----------------------------------------------------------------------------------------

class ChannelBusy(Exception):
    """The channel has no free posting turn soon; come back in `wait` seconds."""

    def __init__(self, channel: str, wait: float) -> None:
        super().__init__(f"channel {channel} is busy; next turn in about {wait:.1f}s")
        self.wait = wait


class ChannelPacer:
    """Spaces posts to each channel (Slack allows about one message per second per channel).

    `turn(channel)` is a context manager around one post: posts to a channel take turns, and each
    starts at least `interval` seconds after the previous one *finished*, so however slow a request
    is, Slack never sees two posts to a channel closer than `interval`. A caller that would wait
    more than `max_wait` gets `ChannelBusy` instead (and should come back later rather than hold a
    worker thread). Process-local: several workers each pace their own posts, and slack-sdk's
    rate-limit handler (which honours Retry-After) covers the rest.
    """

    def __init__(self, interval: float = 1.0, max_wait: float = 0.25,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self.interval = interval
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._last: dict[str, float] = {}
        self._waiting: dict[str, int] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._alias: dict[str, str] = {}
        self._lock = threading.Lock()

    def alias(self, name: str, channel_id: str) -> None:
        """`name` ("#conflicts") and `channel_id` ("C123") are the same channel."""
        with self._lock:
            if name != channel_id:
                self._alias[name] = channel_id

    def _key(self, channel: str) -> str:
        return self._alias.get(channel, channel)

    def wait_for(self, channel: str) -> float:
        """Roughly how long a post to the channel would wait now (0 when it could go at once)."""
        with self._lock:
            key = self._key(channel)
            queued = self._waiting.get(key, 0)
            lock = self._locks.get(key)
            if lock is not None and lock.locked():
                queued += 1  # a post is being sent right now
            since = self._clock() - self._last.get(key, float("-inf"))
            return max(0.0, self.interval - since) + queued * self.interval

    @contextmanager
    def turn(self, channel: str) -> Iterator[None]:
        with self._lock:
            key = self._key(channel)
            lock = self._locks.setdefault(key, threading.Lock())
            self._waiting[key] = self._waiting.get(key, 0) + 1
        started = self._clock()
        try:
            if not lock.acquire(timeout=self.max_wait):
                raise ChannelBusy(channel, self.wait_for(channel) + self.interval)
        finally:
            with self._lock:
                self._waiting[key] -= 1
        posted = False
        try:
            wait = self._last.get(key, float("-inf")) + self.interval - self._clock()
            if wait > self.max_wait - (self._clock() - started):
                raise ChannelBusy(channel, wait)
            if wait > 0:
                self._sleep(wait)
            posted = True
            yield
        finally:
            if posted:  # the request went out (whatever Slack answered): the next one waits for it
                self._last[key] = self._clock()
            lock.release()
