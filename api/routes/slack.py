"""/slack/commands, /slack/interactions, /slack/events: the requests Slack sends to Parley.

Each request is verified on its raw body (401 otherwise, nothing done), then acknowledged at once:
the acknowledgement touches neither the store nor Temporal, so it stays far inside Slack's 3 s
even when they are slow. The work is done afterwards (`api.slack.handlers` / `.interactions`),
answering through response_url, views.open/update/publish, chat.update or an ephemeral message.
The one exception is a modal submission, whose answer *is* the result: it waits up to 2 s for it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from api.slack.handlers import on_command, on_event
from api.slack.interactions import Malformed, on_interaction
from api.slack.service import SlackService
from api.slack.verify import SignedBody, SlackDep
from api.slack.work import Ctx


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


def _bad(exc: Malformed) -> JSONResponse:
    return JSONResponse({"detail": f"not a Slack request Parley understands: {exc}"}, status_code=400)


@router.post("/commands", summary="Slash command /conflict (signed by Slack)")
async def commands(request: Request, body: SignedBody, slack: SlackDep) -> Response:
    try:
        form = _form(body)
        if form.get("ssl_check"):
            return Response(status_code=200)
        if not form.get("user_id") or not form.get("command"):
            raise Malformed("a slash command needs command and user_id")
    except Malformed as exc:
        return _bad(exc)
    return _ack(on_command(Ctx(slack, request.app.state), form))


@router.post("/interactions", summary="Buttons, modals and shortcuts (signed by Slack)")
async def interactions(request: Request, body: SignedBody, slack: SlackDep) -> Response:
    received = time.monotonic()
    try:
        payload = _json(_form(body).get("payload", ""))
        return _ack(await on_interaction(Ctx(slack, request.app.state), payload, received))
    except Malformed as exc:
        return _bad(exc)


@router.post("/events", summary="Events API: url_verification, app_home_opened (signed by Slack)")
async def events(request: Request, body: SignedBody, slack: SlackDep) -> Response:
    try:
        text = body.decode("utf-8")
        return _ack(on_event(Ctx(slack, request.app.state), _json(text)))
    except UnicodeDecodeError:
        return _bad(Malformed("the body is not UTF-8"))
    except Malformed as exc:
        return _bad(exc)
