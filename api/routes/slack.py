"""/slack/commands, /slack/interactions, /slack/events: the requests Slack sends to Parley.

Each request is verified on its raw body (401 otherwise, nothing done), then acknowledged at once:
the acknowledgement touches neither the store nor Temporal, so it stays far inside Slack's 3 s even
when they are slow. The work is done afterwards (`api.slack.handlers` / `.interactions`), answering
through response_url, views.open/update/publish, chat.update or an ephemeral message; it starts only
once the request is claimed in the store (`api.slack.guards`: one small insert in `once_keys`), so a
replayed command or interaction, or an event Slack sent again, does nothing on whichever API process
it lands. The one exception is a modal submission, whose answer *is* the result: it waits up to 2 s
for it (and a replayed one learns it lost its claim: 401).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from api.slack import guards
from api.slack.handlers import on_command, on_event
from api.slack.interactions import Malformed, on_interaction
from api.slack.service import Replayed, RequestClaim, SlackService
from api.slack.verify import OnceBody, SignedBody, SlackDep
from api.slack.work import Ctx
from domain.errors import NotAuthenticated


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.slack = SlackService(app.state.settings, clock=getattr(app.state, "slack_clock", None))
    yield
    await app.state.slack.drain()


router = APIRouter(prefix="/slack", tags=["slack"], lifespan=lifespan)


def _form(body: bytes) -> dict[str, str]:
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed("the body is not a form") from exc
    return {key: values[-1] for key, values in fields.items()}


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise Malformed("the payload is not JSON") from exc
    if not isinstance(data, dict):
        raise Malformed("the payload is not a JSON object")
    return data


def _ack(answer: dict[str, Any] | None) -> Response:
    return Response(status_code=200) if answer is None else JSONResponse(answer)


def _ctx(request: Request, slack: SlackService) -> Ctx:
    return Ctx(slack, request.app.state, request_id=getattr(request.state, "slack_request_id", None))


def _bad(exc: Malformed) -> JSONResponse:
    return JSONResponse({"detail": f"not a Slack request Parley understands: {exc}"}, status_code=400)


@router.post("/commands", summary="Slash command /conflict (signed by Slack)")
async def commands(request: Request, body: OnceBody, slack: SlackDep) -> Response:
    try:
        form = _form(body)
        if form.get("ssl_check"):
            return Response(status_code=200)
        if not form.get("user_id") or not form.get("command"):
            raise Malformed("a slash command needs command and user_id")
    except Malformed as exc:
        return _bad(exc)
    return _ack(on_command(_ctx(request, slack), form))


@router.post("/interactions", summary="Buttons, modals and shortcuts (signed by Slack)")
async def interactions(request: Request, body: OnceBody, slack: SlackDep) -> Response:
    received = time.monotonic()
    try:
        payload = _json(_form(body).get("payload", ""))
        return _ack(await on_interaction(_ctx(request, slack), payload, received))
    except Malformed as exc:
        return _bad(exc)
    except Replayed as exc:  # a submission waits for its work, so it learns that its claim was lost
        raise NotAuthenticated(str(exc)) from exc


@router.post("/events", summary="Events API: url_verification, app_home_opened (signed by Slack)")
async def events(request: Request, body: SignedBody, slack: SlackDep) -> Response:
    try:
        data = _json(body.decode("utf-8"))
    except UnicodeDecodeError:
        return _bad(Malformed("the body is not UTF-8"))
    except Malformed as exc:
        return _bad(exc)
    # Every delivery is acknowledged 200 at once, a copy Slack re-sent (X-Slack-Retry-Num) too, so that it
    # stops: the event's work starts only once its event id is claimed, on whichever API process.
    engine = request.app.state.engine
    slack.tidy(engine)
    slack.hold_work_for(RequestClaim(partial(guards.first_event, engine, data, request.state.slack_request_id)))
    return _ack(on_event(_ctx(request, slack), data))
