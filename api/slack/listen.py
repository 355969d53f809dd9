"""What Parley's Bolt listeners share: the acknowledgement, and the claim that makes a request's work
run once across every API process.

A listener acknowledges at once (`acknowledge`, or an answer computed without the store) and leaves
the work to a lazy listener, which Bolt starts as an asyncio task in this process right after the
acknowledgement. `once` wraps that work: it first claims the request in the store (`api.slack.guards`:
by its signature, or an Events API delivery by its event id), so a replayed request, or an event
Slack sent again, is acknowledged like any other and its work never starts, on whichever process.
A modal submission, whose answer is the result, claims inside its bounded work instead (`claimed`).
Lazy work waits for a lull in the requests and for one of a few slots (`SlackClient.lull`), so that a
burst of presses is acknowledged first and worked through next.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi.concurrency import run_in_threadpool
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.request.async_request import AsyncBoltRequest

from api.slack import guards
from api.slack.work import Ctx
from domain.errors import Unavailable

log = logging.getLogger("parley.slack")
T = TypeVar("T")
Work = Callable[[Ctx, dict[str, Any]], Awaitable[None]]  # a request's work, given its body
Lazy = Callable[[AsyncBoltRequest], Awaitable[None]]


async def acknowledge(ack: AsyncAck) -> None:
    """The acknowledgement of a request whose work is done by its lazy listener: 200, empty."""
    await ack()


async def first_time(ctx: Ctx, body: dict[str, Any], *, by_event: bool = False) -> bool:
    """Claim the request in the store: True the first time any API process received it."""
    request = ctx.request_id or ""
    if by_event:
        return await run_in_threadpool(guards.first_event, ctx.engine, body, request)
    return await run_in_threadpool(guards.first_request, ctx.engine, request)


def once(base: Ctx, work: Work, *, by_event: bool = False, urgent: bool = False) -> Lazy:
    """`work` as a lazy listener that runs only for the first delivery of its request. `urgent` work
    (opening a modal before its trigger id expires, 3 s after the click) starts at once."""
    async def lazy(request: AsyncBoltRequest) -> None:
        ctx = base.at(request.context)
        ctx.slack.keep(asyncio.current_task())
        ctx.slack.tidy(ctx.engine)
        async with ctx.slack.at_once() if urgent else await ctx.slack.lull():
            try:
                first = await first_time(ctx, request.body, by_event=by_event)
            except Exception:
                log.exception("%s: not done, Parley's store did not answer the claim", work.__name__)
                return
            if not first:
                log.info("%s: not done, the request was a replay", work.__name__)
                return
            await work(ctx, request.body)

    lazy.__name__ = lazy.__qualname__ = work.__name__  # Bolt tells lazy listeners apart by name
    return lazy


async def claimed(ctx: Ctx, body: dict[str, Any], work: Coroutine[Any, Any, T]) -> T:
    """`work`, once its request is claimed; never, for a replay (`Replayed`) or a claim that failed."""
    try:
        first = await first_time(ctx, body)
    except Exception as exc:
        work.close()
        raise Unavailable("Parley's store is not answering; nothing was done") from exc
    except BaseException:
        work.close()
        raise
    if not first:
        work.close()
        raise guards.Replayed("this signed Slack request was already received")
    return await work
