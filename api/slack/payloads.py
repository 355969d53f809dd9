"""Is a body what Slack sends to this endpoint? Checked before Bolt reads it (Bolt's request parser
raises on a payload that is not a JSON object, its listener matching on a view without a type), so
that a signed but malformed request is answered 400 with a reason, and the listeners can rely on what
they read.

Each check returns None for a request for Bolt, or an `Aside`: a request Bolt does not see, answered
once its signature is verified (the same check as Bolt's).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs


class Malformed(ValueError):
    """A body that is not what Slack sends (answered 400, nothing done)."""


@dataclass(frozen=True)
class Aside:
    """A request kept from Bolt: 400 with `problem`, or, without one, acknowledged with 200 and nothing
    done (Slack checking the certificate; a view without the type Slack always gives it)."""

    problem: str | None = None


def _form(body: bytes) -> dict[str, str]:
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed("the body is not a form") from exc
    return {key: values[-1] for key, values in fields.items()}


def _object(text: str, what: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise Malformed(f"the {what} is not JSON") from exc
    if not isinstance(data, dict):
        raise Malformed(f"the {what} is not a JSON object")
    return data


def _user_of(payload: dict[str, Any]) -> None:
    user = payload.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise Malformed("the payload names no user")


def _interaction(payload: dict[str, Any]) -> None:
    kind = payload.get("type")
    if kind == "block_actions":
        actions = payload.get("actions")
        if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
            raise Malformed("block_actions without actions")
        if not all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions):
            raise Malformed("an action without an action_id")
    elif kind in ("view_submission", "view_closed") and not isinstance(payload.get("view"), dict):
        raise Malformed(f"{kind} without a view")
    _user_of(payload)


def command_aside(body: bytes) -> Aside | None:
    try:
        form = _form(body)
    except Malformed as exc:
        return Aside(str(exc))
    if form.get("ssl_check"):
        return Aside()
    return None if form.get("user_id") and form.get("command") else Aside("a slash command needs command and user_id")


def interaction_aside(body: bytes) -> Aside | None:
    try:
        payload = _object(_form(body).get("payload", ""), "payload")
        _interaction(payload)
    except Malformed as exc:
        return Aside(str(exc))
    view = payload.get("view")
    return Aside() if isinstance(view, dict) and "callback_id" in view and "type" not in view else None


def event_aside(body: bytes) -> Aside | None:
    try:
        data = _object(body.decode("utf-8"), "body")
    except UnicodeDecodeError:
        return Aside("the body is not UTF-8")
    except Malformed as exc:
        return Aside(str(exc))
    if data.get("type") == "event_callback" and not isinstance(data.get("event"), dict):
        return Aside("an event_callback without an event")
    return None
