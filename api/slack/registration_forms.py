"""Registration modal submissions: the register form (`/conflict register`) and the reason for a
rejection (the Reject button). Bolt view listeners whose answer is the result, as api/slack/views.py's.

A submission is read into the models the JSON API takes (`RegistrationIn`, `Reject`); a field they
refuse is shown next to it at once (`response_action: errors`), and so is a field the service refuses
(`InvalidInput`). Then the work claims its request and its form (a double submission records once)
and calls the service; its answer is shown in the modal, and a registration is also confirmed where
`/conflict register` was typed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.models.blocks import SectionBlock

from api.deps import charter_in_force
from api.slack import guards
from api.slack.forms import errors_of, read_values
from api.slack.identity import Unknown
from api.slack.registrations import press, registrations_of, show_where_it_stands
from api.slack.views import Answer, answer, said
from api.slack.work import Ctx, Where, done_line, identify, mark_done, refusal, reply
from domain.errors import InvalidInput, ParleyError, WrongState
from domain.registration_rules import Reject
from domain.registrations import RegistrationIn
from render import slack_registrations as kit
from render.slack_blocks import clip
from render.slack_modals import read_number
from store.tables import User

BLOCK_OF = {name: name for name in kit.REGISTER_FIELDS}
TEXT_FIELDS = ("account", "account_domain", "title", "currency", "region", "segment", "expected_close",
               "external_ref")


def register(bolt: AsyncApp, base: Ctx) -> None:
    async def register_submitted(ack: AsyncAck, body: dict[str, Any],
                                 context: AsyncBoltContext) -> BoltResponse | None:
        view, user_id = body["view"], str(body["user"]["id"])
        values = read_values(view.get("state") if isinstance(view.get("state"), dict) else None)
        registration, errors = parse_registration(values)
        if registration is None:
            await ack(response_action="errors", errors=errors)
            return None
        ctx = base.at(context)
        work = register_from_modal(ctx, user_id, registration, values, _meta(view).get("r"),
                                   view_id=str(view.get("id") or ""))
        return await answer(ack, ctx, body, context, work)

    async def reason_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> BoltResponse | None:
        view, user_id = body["view"], str(body["user"]["id"])
        meta = _meta(view)
        if not isinstance(meta.get("g"), str):
            await ack(said("Not recorded", ":no_entry: This form is out of date; nothing was recorded.").inline())
            return None
        values = read_values(view.get("state") if isinstance(view.get("state"), dict) else None)
        try:
            action = Reject(reason=values.get("reason", ""))
        except ValidationError as exc:
            await ack(response_action="errors", errors=errors_of(exc, {"reason": "reason"}, "reason"))
            return None
        ctx = base.at(context)
        work = reject_from_modal(ctx, user_id, meta, action, view_id=str(view.get("id") or ""))
        return await answer(ack, ctx, body, context, work)

    bolt.view(kit.REGISTER_CALLBACK)(register_submitted)
    bolt.view(kit.REJECT_CALLBACK)(reason_submitted)


def _meta(view: dict[str, Any]) -> dict[str, Any]:
    raw = view.get("private_metadata")
    try:
        data = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def parse_registration(values: dict[str, str]) -> tuple[RegistrationIn | None, dict[str, str]]:
    """The submitted form as the body of `POST /api/registrations`, or the errors keyed by block id."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {k: values[k] for k in TEXT_FIELDS if k in values}
    deal_value = read_number(values, "deal_value", errors)
    if deal_value is not None:
        data["deal_value"] = deal_value
    try:
        registration = RegistrationIn.model_validate(data)
    except ValidationError as exc:
        for block, message in errors_of(exc, BLOCK_OF, "title").items():
            errors.setdefault(block, message)
        return None, errors
    return (None, errors) if errors else (registration, {})


async def register_from_modal(ctx: Ctx, user_id: str, registration: RegistrationIn, values: dict[str, str],
                              reply_to: object, *, view_id: str) -> Answer:
    """Register once per form, however often (and wherever) it is submitted; a form sent back with
    errors gives its claim up, so that it can be corrected and sent again."""
    response_url = reply_to if isinstance(reply_to, str) else None
    claim = await guards.claim(ctx.engine, guards.press_key(user_id, f"view:{view_id}" if view_id else None,
                                                            "register", ""))
    if isinstance(claim, str):
        return said("Not registered", claim)
    try:
        who = await identify(ctx, user_id)
        if isinstance(who, Unknown):
            return said("Not registered", who.reason)
        try:
            reg = await registrations_of(ctx).register(who, registration)
        except InvalidInput as exc:
            if exc.field not in BLOCK_OF:
                return said("Not registered", refusal(exc))
            charter = await run_in_threadpool(charter_in_force, ctx.state)
            message = exc.message.removeprefix(f"{exc.field}: ")
            form = kit.register_modal(charter, initial=values, problem=message,
                                      private_metadata=json.dumps({"r": response_url}) if response_url else None)
            return Answer(errors={BLOCK_OF[str(exc.field)]: message}, form=form)
        await claim.settle(done_line(who, f"registered {reg['id']}"))
    except ParleyError as exc:
        return said("Not registered", refusal(exc))
    finally:
        await claim.release()  # nothing once settled
    text = kit.registered_text(reg)
    confirm = reply(ctx, Where(user_id=user_id, response_url=response_url), f"Registered {reg['id']}: {reg['title']}",
                    [SectionBlock(text=text)])
    ctx.slack.start(confirm, "registration confirmation")
    return said("Registered", text)


async def reject_from_modal(ctx: Ctx, user_id: str, meta: dict[str, Any], action: Reject, *, view_id: str) -> Answer:
    """Reject through the service, once per message (else per form); then the message says who rejected."""
    registration_id = str(meta["g"])
    where = Where(user_id=user_id, channel=meta.get("ch"), ts=meta.get("ts"), original=meta.get("o"),
                  view=f"{view_id}" if view_id else None)
    claim = await guards.claim(ctx.engine, press(where, "reject", registration_id))
    if isinstance(claim, str):
        return said("Not recorded", claim)
    who: User | Unknown | None = None
    try:
        who = await identify(ctx, user_id)
        if isinstance(who, Unknown):
            return said("Not recorded", who.reason)
        reg = await registrations_of(ctx).act(who, registration_id, action)
        line = kit.decided_line("Rejected", who.name or who.email, who.email, datetime.now(UTC),
                                f": {clip(action.reason, 500)}")
        await claim.settle(line)
    except ParleyError as exc:
        await claim.release()
        if isinstance(exc, WrongState) and isinstance(who, User):
            ctx.slack.start(show_where_it_stands(ctx, where, who, registration_id), "show where it stands")
        return said("Not recorded", refusal(exc, registration_id))
    finally:
        await claim.release()  # nothing once settled or released: the work failed on the way
    if where.key:
        ctx.slack.start(mark_done(ctx, where, line), "mark the message decided")
    return said("Rejected", f"{line}\n*{registration_id}* is now {reg['status']}; its owner is told.")
