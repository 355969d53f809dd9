"""Registrations in Slack (DESIGN §6): Bolt listeners over `service.registrations`, no rules of their own.

    /conflict register        the register form (its submission: api/slack/registration_forms.py)
    /conflict registrations   the live registrations the asker may see, ephemeral, theirs marked
    reg:approve               approves at once, claimed per press like the dispute buttons (a double
                              press acts once); the message then says "Approved by …"
    reg:reject                the reason form, when rejecting is open to the presser (the service's
                              `offers`); its submission rejects and the message says "Rejected by …"
    reg:file                  the dispute filing form, pre-filled from the early warning's two
                              registrations, their ids in its private_metadata (registration_filing.py)

The buttons are on the direct messages `deliver_notices` sends (activities/registration_notices.py). A
refusal (the service's words) is answered ephemerally. These listeners are registered before the
others (api/slack/app.py): Bolt runs the first that matches, and `/conflict`'s own and the actions'
catch-all would otherwise take them.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from sqlmodel import Session

from api.deps import charter_in_force
from api.slack import guards
from api.slack.actions import where_of
from api.slack.commands import CHECK_WITHIN_S, COMMAND, ephemeral, words_of
from api.slack.identity import Unknown
from api.slack.listen import acknowledge, once
from api.slack.registration_filing import REGISTRATION_ID, UNKNOWN_BUTTON, file_pressed
from api.slack.work import Ctx, Where, guarded, identify, mark_done, refusal, reply, within
from domain.errors import ParleyError, WrongState
from domain.registration_rules import Approve
from domain.registrations import LIVE
from render import slack_registrations as kit
from render.slack_blocks import clip, done_blocks
from render.slack_text import slack_date
from service import registration_views as views
from service.registrations import Registrations
from store.tables import User

OUTCOME_WITHIN_S = 2.0  # a second press waits this long at most for the outcome of the first one


def register(bolt: AsyncApp, base: Ctx) -> None:
    async def is_register(body: dict[str, Any]) -> bool:
        return words_of(body)[0] == "register"

    async def is_listing(body: dict[str, Any]) -> bool:
        return words_of(body)[0] == "registrations"

    async def ack_register(ack: AsyncAck, body: dict[str, Any]) -> None:
        if body.get("trigger_id"):
            await ack()
        else:
            await ack(ephemeral("Slack sent no trigger id, so the form cannot open. Try `/conflict register` again."))

    bolt.command(COMMAND, matchers=[is_register])(ack=ack_register, lazy=[once(base, open_register, urgent=True)])
    bolt.command(COMMAND, matchers=[is_listing])(ack=acknowledge, lazy=[once(base, list_registrations)])
    bolt.action(kit.APPROVE_ACTION)(ack=acknowledge, lazy=[once(base, approve_pressed)])
    bolt.action(kit.REJECT_ACTION)(ack=acknowledge, lazy=[once(base, reject_pressed, urgent=True)])
    bolt.action(kit.FILE_ACTION)(ack=acknowledge, lazy=[once(base, file_pressed, urgent=True)])


def registrations_of(ctx: Ctx) -> Registrations:
    return Registrations(ctx.service)


def read_registration(ctx: Ctx, who: User, registration_id: str) -> dict[str, Any]:
    """The registration as `who` may see it (NotFound otherwise)."""
    with Session(ctx.engine) as session:
        return views.read(session, who, registration_id)


# --- /conflict register, /conflict registrations ---------------------------------------------------

def where_typed(form: dict[str, Any]) -> Where:
    return Where(user_id=str(form["user_id"]), response_url=form.get("response_url") or None,
                 channel=form.get("channel_id") or None)


async def open_register(ctx: Ctx, form: dict[str, Any]) -> None:
    if form.get("trigger_id"):
        where = where_typed(form)
        await guarded(ctx, where, _open_register(ctx, where, str(form["trigger_id"])))


async def _open_register(ctx: Ctx, where: Where, trigger_id: str) -> None:
    """Open the form at once (the trigger id lives 3 s), unless the asker is known not to be a Parley user."""
    who = await within(CHECK_WITHIN_S, identify(ctx, where.user_id))
    if isinstance(who, Unknown):
        await reply(ctx, where, who.reason)
        return
    charter = await run_in_threadpool(charter_in_force, ctx.state)
    reply_to = json.dumps({"r": where.response_url}) if where.response_url else None
    await ctx.slack.call("views_open", trigger_id=trigger_id,
                         view=kit.register_modal(charter, private_metadata=reply_to))


async def list_registrations(ctx: Ctx, form: dict[str, Any]) -> None:
    where = where_typed(form)
    await guarded(ctx, where, _list_registrations(ctx, where))


async def _list_registrations(ctx: Ctx, where: Where) -> None:
    who = await identify(ctx, where.user_id)
    if isinstance(who, Unknown):
        await reply(ctx, where, who.reason)
        return

    def live() -> list[dict[str, Any]]:
        with Session(ctx.engine) as session:
            return views.listing(session, who, status=sorted(LIVE), limit=kit.LIST_MAX + 1)

    regs = await run_in_threadpool(live)
    text = f"{len(regs) if len(regs) <= kit.LIST_MAX else f'{kit.LIST_MAX}+'} live registrations you can see"
    await reply(ctx, where, text, kit.listing_blocks(regs, who.email))


# --- Approve ---------------------------------------------------------------------------------------

def registration_of(payload: dict[str, Any]) -> str | None:
    value = str(payload["actions"][0].get("value") or "")
    return value if REGISTRATION_ID.match(value) else None


async def approve_pressed(ctx: Ctx, payload: dict[str, Any]) -> None:
    where, registration_id = where_of(payload), registration_of(payload)
    if registration_id is None:
        await reply(ctx, where, UNKNOWN_BUTTON)
        return
    await guarded(ctx, where, approve(ctx, where, registration_id))


def press(where: Where, name: str, registration_id: str) -> str | None:
    """The double-press claim of one person's action on a registration from one message or view."""
    return guards.press_key(where.user_id, where.place, f"registration:{name}", registration_id)


async def approve(ctx: Ctx, where: Where, registration_id: str) -> None:
    """Approve through the service, once per press; then replace the buttons with who approved."""
    claim = await guards.claim(ctx.engine, press(where, "approve", registration_id), wait=OUTCOME_WITHIN_S)
    if isinstance(claim, str):
        await reply(ctx, where, claim)
        return
    try:
        who = await identify(ctx, where.user_id)
        if isinstance(who, Unknown):
            await claim.release()
            await reply(ctx, where, who.reason)
            return
        try:
            reg = await registrations_of(ctx).act(who, registration_id, Approve())
        except ParleyError as exc:
            await claim.release()
            await refused(ctx, where, who, registration_id, exc)
            return
        until = reg.get("protected_until")
        detail = f"; protected until {slack_date(until)}" if isinstance(until, datetime) else ""
        line = kit.decided_line("Approved", who.name or who.email, who.email, datetime.now(UTC), detail)
        await claim.settle(line)
    finally:
        await claim.release()  # nothing once settled or released: the work failed on the way
    await mark_done(ctx, where, line)


async def refused(ctx: Ctx, where: Where, who: User, registration_id: str, exc: ParleyError) -> None:
    """Tell the presser the service's refusal; a registration decided meanwhile loses its buttons."""
    await reply(ctx, where, refusal(exc, registration_id))
    if isinstance(exc, WrongState):
        await show_where_it_stands(ctx, where, who, registration_id)


async def show_where_it_stands(ctx: Ctx, where: Where, who: User, registration_id: str) -> None:
    """The pressed message without its buttons, saying where the registration stands now."""
    if not where.key or where.ephemeral:
        return
    try:
        reg = await run_in_threadpool(read_registration, ctx, who, registration_id)
    except ParleyError:
        return
    by = f" by {reg['decided_by']}" if reg.get("decided_by") else ""
    line = f":arrow_right_hook: {registration_id} is {reg['status']}{by}."
    await ctx.slack.try_call("chat_update", channel=where.channel, ts=where.ts, text=line,
                             blocks=done_blocks(where.original or " ", line))


# --- Reject ----------------------------------------------------------------------------------------

async def reject_pressed(ctx: Ctx, payload: dict[str, Any]) -> None:
    where, registration_id = where_of(payload), registration_of(payload)
    if registration_id is None:
        await reply(ctx, where, UNKNOWN_BUTTON)
        return
    trigger_id = str(payload.get("trigger_id") or "")
    await guarded(ctx, where, open_reject(ctx, where, registration_id, trigger_id))


async def open_reject(ctx: Ctx, where: Where, registration_id: str, trigger_id: str) -> None:
    """Open the reason form (its trigger id lives 3 s), unless rejecting is not open to the presser."""
    key = press(where, "reject", registration_id)
    if key and (already := await run_in_threadpool(guards.already, ctx.engine, key)) is not None:
        await reply(ctx, where, already)
        return
    checked = await within(CHECK_WITHIN_S, may_reject(ctx, where.user_id, registration_id))
    if isinstance(checked, str):
        await reply(ctx, where, checked)
        return
    summary = kit.registration_line(checked) if checked is not None else f"*{registration_id}*"
    meta: dict[str, Any] = {"g": registration_id, "s": clip(summary, 500)}
    if where.key and not where.ephemeral:
        meta |= {"ch": where.channel, "ts": where.ts, "o": clip(where.original or "", 900)}
    await ctx.slack.call("views_open", trigger_id=trigger_id,
                         view=kit.reject_modal(registration_id, summary, json.dumps(meta, ensure_ascii=False)))


async def may_reject(ctx: Ctx, slack_user_id: str, registration_id: str) -> dict[str, Any] | str:
    """The registration when rejecting it is open to the person now (the service's `offers`); else why not."""
    who = await identify(ctx, slack_user_id)
    if isinstance(who, Unknown):
        return who.reason

    def read() -> tuple[dict[str, Any], list[str]]:
        with Session(ctx.engine) as session:
            reg = views.read(session, who, registration_id)
            return reg, views.offers(session, who, registration_id, ctx.service.charter(), ctx.service.clock())

    try:
        reg, offers = await run_in_threadpool(read)
    except ParleyError as exc:
        return refusal(exc, registration_id)
    if "reject" not in offers:
        return (f":no_entry: Rejecting {registration_id} is not open to you now (it is {reg['status']}; "
                "a mediator routed for its region decides a pending one). Nothing was recorded.")
    return reg
