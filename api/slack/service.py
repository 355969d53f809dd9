"""The Slack app's shared parts inside the API process: the signature verifier, the Web API client,
replies through `response_url`, and the background tasks that do the slow work after the ack.

One `SlackService` per application, created by the Slack router's lifespan (`app.state.slack`).
The verifier's clock can be injected (`app.state.slack_clock`, before the app starts) for tests.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.error import URLError

from fastapi.concurrency import run_in_threadpool
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.signature import Clock, SignatureVerifier
from slack_sdk.web import SlackResponse
from slack_sdk.webhook import WebhookClient
from sqlalchemy import Engine

from activities.slack import make_slack_client, retry_handlers
from api.slack import guards
from domain.errors import Unavailable
from settings import Settings

log = logging.getLogger("parley.slack")
T = TypeVar("T")

API_TIMEOUT_S = 5.0  # per Slack call from the API; a modal's trigger id only lives 3 s anyway
BACKGROUND_CONCURRENCY = 8  # pieces of ordinary work running at once: a burst does not starve the acks
QUIET_S = 0.02  # ordinary work starts once no request has arrived for this long ...
QUIET_MAX_S = 0.25  # ... or after this long at most
PURGE_EVERY_S = 600  # expired once-keys (replays, events, presses) are forgotten this often per process
SLACK_HOOKS = "https://hooks.slack.com/"



class Replayed(Exception):
    """The request's claim was lost: the same signed request was received before. Its work never runs."""


class RequestClaim:
    """One request's claim in the store (`api.slack.guards`), made once, when the first piece of the
    request's work is about to start: after the acknowledgement, never on its path."""

    def __init__(self, claim: Callable[[], bool]) -> None:
        self._claim = claim
        self._first: asyncio.Future[bool] | None = None

    async def first(self) -> bool:
        """True when this is the first time any API process received the request."""
        if self._first is None:
            self._first = asyncio.ensure_future(run_in_threadpool(self._claim))
        return await asyncio.shield(self._first)


# The claim of the request being handled (see `hold_work_for`): set in that request's own task, so it
# reaches exactly the work that request spawns.
_CLAIM: ContextVar[RequestClaim | None] = ContextVar("parley_slack_claim", default=None)


class SlackService:
    def __init__(self, settings: Settings, *, clock: Clock | None = None, web: WebClient | None = None) -> None:
        self.settings = settings
        secret = settings.slack_signing_secret
        self.verifier = SignatureVerifier(secret, clock or Clock()) if secret else None
        self.web = web or (make_slack_client(settings.slack_bot_token, settings.slack_api_url, timeout=API_TIMEOUT_S,
                                             retries=2) if settings.slack_bot_token else None)
        self.public_url = settings.base_url
        self.tasks: set[asyncio.Task[Any]] = set()
        self._gate = asyncio.Semaphore(BACKGROUND_CONCURRENCY)
        self._last_request = 0.0
        self._last_purge: float | None = None
        # Replays, Events API retries and double presses are claimed in the store (api/slack/guards.py),
        # never here: any number of API processes share them, and a restart forgets nothing.

    # --- requests ---------------------------------------------------------------------------------

    def arrived(self) -> None:
        """A request came in (ordinary work lets a burst of them be acknowledged first)."""
        self._last_request = time.monotonic()

    def hold_work_for(self, claim: RequestClaim) -> None:
        """The request is acknowledged without waiting for the store: the work it spawns from now on
        starts only once `claim` is won (a replay's work never starts; whoever waits for it gets
        `Replayed`)."""
        _CLAIM.set(claim)

    def tidy(self, engine: Engine) -> None:
        """Now and then (at start-up, then every PURGE_EVERY_S), forget the expired once-keys, as
        ordinary work after the acknowledgement: never on a request's own path."""
        now = time.monotonic()
        if self._last_purge is not None and now - self._last_purge < PURGE_EVERY_S:
            return
        self._last_purge = now
        self.spawn(run_in_threadpool(guards.purge, engine), "forget expired once-keys")

    # --- background work --------------------------------------------------------------------------

    def spawn(self, work: Coroutine[Any, Any, T], what: str, *, urgent: bool = False) -> asyncio.Task[T]:
        """Run `work` after the acknowledgement; failures are logged, never lost silently.

        Ordinary work waits for a lull in the requests (at most QUIET_MAX_S) and for one of a few
        slots, so that a burst of interactions is acknowledged first and worked through next; the
        workflow updates it sends would otherwise compete for the CPU with the acknowledgements still
        due. `urgent` work (opening a modal before its trigger id expires, answering a submission
        within Slack's 3 s) starts at once."""
        claim = _CLAIM.get()
        if claim is not None:
            work = _after(claim, work)
        task = asyncio.create_task(work if urgent else self._gated(work), name=f"slack: {what}")
        self.tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    async def _gated(self, work: Coroutine[Any, Any, T]) -> T:
        try:
            started = time.monotonic()
            while (now := time.monotonic()) - self._last_request < QUIET_S and now - started < QUIET_MAX_S:
                await asyncio.sleep(QUIET_S)
            await self._gate.acquire()
        except BaseException:
            work.close()  # cancelled while waiting for a slot: it never ran
            raise
        try:
            return await work
        finally:
            self._gate.release()

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and isinstance(task.exception(), Replayed):
            log.info("%s: not done, the request was a replay", task.get_name())
        elif not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, timeout: float = 10.0) -> None:
        """Let running work finish (the server is stopping), then cancel what is left."""
        if self.tasks:
            _, pending = await asyncio.wait(set(self.tasks), timeout=timeout)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1)

    # --- Slack calls --------------------------------------------------------------------------------

    async def call(self, method: str, **kwargs: Any) -> SlackResponse:
        """A Web API method through the retrying client, off the event loop. Raises SlackApiError
        (or a connection error once retries are spent); `RuntimeError` without a bot token."""
        if self.web is None:
            raise RuntimeError("PARLEY_SLACK_BOT_TOKEN is not set; Parley cannot call Slack")
        response: SlackResponse = await run_in_threadpool(getattr(self.web, method), **kwargs)
        return response

    async def try_call(self, method: str, **kwargs: Any) -> SlackResponse | None:
        """`call`, logging a failure instead of raising (for messages whose loss is not fatal)."""
        try:
            return await self.call(method, **kwargs)
        except (SlackApiError, URLError, OSError, RuntimeError) as exc:
            log.warning("Slack %s failed: %s", method, exc)
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
        client = WebhookClient(response_url, timeout=int(API_TIMEOUT_S), retry_handlers=retry_handlers(retries=2))
        body: dict[str, Any] = {"text": text, "replace_original": replace_original}
        if ephemeral:
            body["response_type"] = "ephemeral"
        if blocks is not None:
            body["blocks"] = [b.to_dict() for b in blocks]
        try:
            answer = await run_in_threadpool(client.send_dict, body)
        except (URLError, OSError) as exc:
            log.warning("response_url post failed: %s", exc)
            return False
        if answer.status_code != 200:
            log.warning("response_url answered %s: %s", answer.status_code, answer.body)
            return False
        return True


async def _after(claim: RequestClaim, work: Coroutine[Any, Any, T]) -> T:
    """`work`, once its request is claimed; never, for a replay or a claim that failed (logged)."""
    try:
        first = await claim.first()
    except Exception as exc:
        work.close()
        raise Unavailable("Parley's store is not answering; nothing was done") from exc
    except BaseException:
        work.close()
        raise
    if not first:
        work.close()
        raise Replayed("this signed Slack request was already received")
    return await work
