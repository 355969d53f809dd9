"""/slack/commands, /slack/interactions, /slack/events: the requests Slack sends to Parley, handed to
the Bolt app (`api.slack.app`) through Bolt's FastAPI adapter.

Bolt verifies each request on its raw body (401 otherwise, nothing done) and its listeners acknowledge
at once, without the store or Temporal; lazy listeners do the work afterwards, once the request is
claimed in the store, so that a replay does nothing on whichever API process it lands. A modal
submission, whose answer *is* the result, waits up to 2 s for it (and a replayed one gets 401).

Around Bolt: a body that is not what Slack sends to the endpoint never reaches it (400 when signed,
else 401: `api.slack.payloads`), a 401 is answered like every other one (`domain.errors.NotAuthenticated`),
and a verified request no listener is for is acknowledged with 200, as Slack expects.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from api.routing import StoreRoute
from api.slack.app import SlackApp
from api.slack.payloads import Aside, command_aside, event_aside, interaction_aside
from domain.errors import NotAuthenticated


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.slack = SlackApp(app.state, clock=getattr(app.state, "slack_clock", None))
    yield
    await app.state.slack.close()


router = APIRouter(prefix="/slack", tags=["slack"], lifespan=lifespan, route_class=StoreRoute)


async def handle(request: Request, aside_of: Callable[[bytes], Aside | None]) -> Response:
    slack: SlackApp = request.app.state.slack
    slack.client.arrived()
    body = await request.body()
    aside = aside_of(body)
    if aside is not None:
        refused = slack.verification.refusal(request.headers.get("x-slack-request-timestamp"),
                                             request.headers.get("x-slack-signature"), body)
        if refused is not None:
            raise NotAuthenticated(refused)
        if aside.problem is None:
            return Response(status_code=200)
        return JSONResponse({"detail": f"not a Slack request Parley understands: {aside.problem}"}, status_code=400)
    answer = await slack.handler.handle(request, {"received": time.monotonic()})
    if answer.status_code == 401:
        raise NotAuthenticated(str(json.loads(bytes(answer.body))["detail"]))
    if answer.status_code == 404:  # no listener for it (a view closed, …): Slack only needs to hear it arrived
        return Response(status_code=200)
    return answer


@router.post("/commands", summary="Slash command /conflict (signed by Slack)")
async def commands(request: Request) -> Response:
    return await handle(request, command_aside)


@router.post("/interactions", summary="Buttons, modals and shortcuts (signed by Slack)")
async def interactions(request: Request) -> Response:
    return await handle(request, interaction_aside)


@router.post("/events", summary="Events API: url_verification, app_home_opened (signed by Slack)")
async def events(request: Request) -> Response:
    return await handle(request, event_aside)
