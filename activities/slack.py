"""Slack plumbing for the activities and the API: a WebClient that retries like Slack asks, the
per-channel pacing of posts, and finding a notice Parley posted (by its message metadata) when an attempt
died before it could record the post. What the messages say is rendered in `render/`."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.client import RemoteDisconnected
from typing import Any, cast
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import RetryHandler, default_interval_calculator
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.models.metadata import Metadata

SLACK_TIMEOUT_S = 10
# Connection trouble worth another try. Read time-outs surface as a bare TimeoutError, which
# slack-sdk's handler does not retry unless told to.
CONNECTION_ERRORS: list[type[Exception]] = [URLError, TimeoutError, ConnectionResetError, RemoteDisconnected]


def retry_handlers(*, retries: int = 3, rate_limit_retries: int = 5,
                   interval: RetryIntervalCalculator = default_interval_calculator) -> list[RetryHandler]:
    """Wait out rate limits (honouring Retry-After); retry server errors, connection errors and
    time-outs with backoff."""
    return [
        RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        ServerErrorRetryHandler(max_retry_count=retries, interval_calculator=interval),
        ConnectionErrorRetryHandler(max_retry_count=retries, interval_calculator=interval,
                                    error_types=CONNECTION_ERRORS),
    ]


def make_slack_client(token: str, base_url: str = WebClient.BASE_URL, *,
                      interval: RetryIntervalCalculator = default_interval_calculator,
                      timeout: float | None = None, retries: int = 3) -> WebClient:
    """A WebClient that waits out rate limits (honouring Retry-After) and retries server errors,
    connection errors and time-outs a few times before the caller gives up (the delivery activity
    then fails its attempt and Temporal retries it)."""
    return WebClient(
        token=token,
        base_url=base_url,
        # typed int by slack-sdk, but urllib takes float seconds (tests use sub-second time-outs)
        timeout=cast(int, timeout if timeout is not None else SLACK_TIMEOUT_S),
        retry_handlers=retry_handlers(retries=retries, interval=interval),
    )


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
