"""The Slack Web API as the app's listeners use it: slack-sdk's `AsyncWebClient` (on aiohttp, retrying
rate limits, server errors and lost connections like the delivery activity's client), answers
through an interaction's `response_url`, and the few tasks the app keeps track of (the work of
listeners still running when the server stops, the occasional purge of expired once-keys).

One `SlackClient` per application, created with the Slack app (`api.slack.app`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import aiohttp
from aiohttp import ClientOSError, ServerConnectionError
from fastapi.concurrency import run_in_threadpool
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient
from sqlalchemy import Engine

from api.slack import guards
from settings import Settings

log = logging.getLogger("parley.slack")
T = TypeVar("T")

API_TIMEOUT_S = 5  # per Slack call from the API; a modal's trigger id only lives 3 s anyway
PURGE_EVERY_S = 600  # expired once-keys (replays, events, presses) are forgotten this often per process
WORK_AT_ONCE = 8  # lazy work running at once: a burst's workflow updates do not starve its acknowledgements
QUIET_S = 0.02  # lazy work starts once no request has arrived for this long ...
QUIET_MAX_S = 0.25  # ... or after this long at most
SLACK_HOOKS = "https://hooks.slack.com/"
# What a failed call raises once its retries are spent (RuntimeError: no bot token).
CALL_ERRORS = (SlackApiError, aiohttp.ClientError, TimeoutError, OSError, RuntimeError)


def retry_handlers(retries: int = 2) -> list[AsyncRetryHandler]:
    """The async twin of `activities.slack.retry_handlers`: wait out rate limits (Retry-After), retry
    server errors, dropped connections and time-outs with backoff."""
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=5),
        AsyncServerErrorRetryHandler(max_retry_count=retries),
        AsyncConnectionErrorRetryHandler(max_retry_count=retries,
                                         error_types=[ServerConnectionError, ClientOSError, TimeoutError]),
    ]


class SlackClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.public_url = settings.base_url
        self.tasks: set[asyncio.Task[Any]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._web: AsyncWebClient | None = None
        self._last_purge: float | None = None
        self._last_request = 0.0
        self._work_slots: asyncio.Semaphore | None = None

    # --- pacing the work behind the acknowledgements ------------------------------------------------

    def arrived(self) -> None:
        """A request came in: lazy work already waiting lets its acknowledgement go first."""
        self._last_request = time.monotonic()

    async def lull(self) -> asyncio.Semaphore:
        """Wait for a lull in the requests (at most QUIET_MAX_S), then return the slots the work holds
        while it runs: 50 presses at once are acknowledged first and worked through next, instead of
        their workflow updates competing for the CPU with the acknowledgements still due."""
        started = time.monotonic()
        while (now := time.monotonic()) - self._last_request < QUIET_S and now - started < QUIET_MAX_S:
            await asyncio.sleep(QUIET_S)
        if self._work_slots is None:  # made in the event loop, at first use
            self._work_slots = asyncio.Semaphore(WORK_AT_ONCE)
        return self._work_slots

    @staticmethod
    def at_once() -> contextlib.AbstractAsyncContextManager[None]:
        """No waiting (urgent work)."""
        return contextlib.nullcontext()

    # --- Slack calls --------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:  # made in the event loop, at first use
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=API_TIMEOUT_S))
        return self._session

    async def call(self, method: str, **kwargs: Any) -> AsyncSlackResponse:
        """A Web API method (`"chat_update"`, …) through the retrying client. Raises one of CALL_ERRORS
        once retries are spent (`RuntimeError` without a bot token)."""
        if not self.settings.slack_bot_token:
            raise RuntimeError("PARLEY_SLACK_BOT_TOKEN is not set; Parley cannot call Slack")
        if self._web is None or self._web.session is not self._http():
            self._web = AsyncWebClient(token=self.settings.slack_bot_token, base_url=self.settings.slack_api_url,
                                       timeout=API_TIMEOUT_S, session=self._http(), retry_handlers=retry_handlers())
        response: AsyncSlackResponse = await getattr(self._web, method)(**kwargs)
        return response

    async def try_call(self, method: str, **kwargs: Any) -> AsyncSlackResponse | None:
        """`call`, logging a failure instead of raising (for messages whose loss is not fatal)."""
        try:
            return await self.call(method, **kwargs)
        except CALL_ERRORS as exc:
            log.warning("Slack %s failed: %r", method, exc)
            return None

    def response_url_ok(self, url: str | None) -> bool:
        """Only Slack's own hooks (or anything, when pointed at a local fake Slack)."""
        if not url:
            return False
        return url.startswith(SLACK_HOOKS) or not self.settings.slack_api_url.startswith("https://slack.com/")

    async def respond(self, response_url: str, text: str, blocks: Sequence[Block] | None = None, *,
                      replace_original: bool = False, ephemeral: bool = True) -> bool:
        """Answer through an interaction's `response_url` (works in any channel, needs no token)."""
        if not self.response_url_ok(response_url):
            log.warning("refusing to post to response_url %s", response_url)
            return False
        hook = AsyncWebhookClient(response_url, timeout=API_TIMEOUT_S, session=self._http(),
                                  retry_handlers=retry_handlers())
        body: dict[str, Any] = {"text": text, "replace_original": replace_original}
        if ephemeral:
            body["response_type"] = "ephemeral"
        if blocks is not None:
            body["blocks"] = [b.to_dict() for b in blocks]
        try:
            answer = await hook.send_dict(body)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("response_url post failed: %r", exc)
            return False
        if answer.status_code != 200:
            log.warning("response_url answered %s: %s", answer.status_code, answer.body)
            return False
        return True

    # --- tasks --------------------------------------------------------------------------------------

    def keep(self, task: asyncio.Task[T] | None) -> None:
        """Hold on to `task` until it is done (asyncio keeps only weak references), so that the server
        lets it finish when it stops. Failures are logged, never lost silently."""
        if task is not None and task not in self.tasks:
            self.tasks.add(task)
            task.add_done_callback(self._finished)

    def start(self, work: Coroutine[Any, Any, T], what: str) -> asyncio.Task[T]:
        task = asyncio.create_task(work, name=f"slack: {what}")
        self.keep(task)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and isinstance(task.exception(), guards.Replayed):
            log.info("%s: not done, the request was a replay", task.get_name())
        elif not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    def tidy(self, engine: Engine) -> None:
        """Now and then (at the first request, then every PURGE_EVERY_S), forget the expired once-keys,
        after the acknowledgement: never on a request's own path."""
        now = time.monotonic()
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY_S:
            return
        self._last_purge = now
        self.start(run_in_threadpool(guards.purge, engine), "forget expired once-keys")

    async def close(self, timeout: float = 10.0) -> None:
        """The server is stopping: let running work finish, cancel what is left, close the connections."""
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1)
        if self._session is not None:
            await self._session.close()
