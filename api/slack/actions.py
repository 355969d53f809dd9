"""Buttons (`block_actions`) and the global shortcut: Bolt's action and shortcut listeners.

A one-click button (accept, approve, resume) acts after the acknowledgement and then replaces the
message's buttons with who did what. A button that needs input opens its modal, after checking that
the action is still open to the person (otherwise they are told why, ephemerally). A criterion
changed in a ruling or decision modal redraws the charter's recommendation.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi.concurrency import run_in_threadpool
from slack_bolt.async_app import AsyncApp
from sqlalchemy import Engine
from sqlmodel import Session

from api.slack import guards
from api.slack.commands import CHECK_WITHIN_S, DISPUTE_ID, open_filing
from api.slack.forms import metadata, read_metadata, read_values
from api.slack.identity import Unknown
from api.slack.listen import acknowledge, once
from api.slack.work import (
    Ctx,
    Where,
    act,
    done_line,
    guarded,
    identify,
    mark_done,
    read_view,
    refresh_message,
    refusal,
    reply,
    weights_of,
    within,
)
from domain.errors import ParleyError, WrongState
from domain.model import Accept, Action, Approve, DisputeView, Resume
from render import slack_blocks as kit
from render.slack_claims import claims_text
from render.slack_modals import ACT_CALLBACK, CRITERIA_BLOCKS, action_modal, ruling_of, summary_of
from render.slack_offers import DONE, NEEDS_INPUT, PRESSABLE, is_open, label
from render.slack_precedents import precedents_text
from service import dispute_claims, precedents
from service.precedents import Precedents
from store.tables import User

SHORTCUT = "parley_file"  # the global shortcut's callback id (see slack/manifest.yml)
ONE_CLICK: dict[str, Action] = {
    "accept": Accept(action="accept"), "approve": Approve(action="approve"), "resume": Resume(action="resume"),
}
ANY = re.compile(".*")
OUTCOME_WITHIN_S = 2.0  # a second press waits this long at most for the outcome of the first one


def _obj(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def where_of(payload: dict[str, Any]) -> Where:
    container, message, channel, view = (_obj(payload.get(k)) for k in ("container", "message", "channel", "view"))
    in_view = container.get("type") == "view"
    channel_id = channel.get("id") or container.get("channel_id")
    # a view (App Home) keeps its id as it is republished, its hash changes: a press is tied to both
    pressed_on = f"{view.get('id')}:{view.get('hash')}" if in_view and view.get("id") else None
    return Where(
        user_id=str(payload["user"]["id"]),
        response_url=str(payload.get("response_url") or "") or None,
        channel=str(channel_id) if channel_id else None,
        ts=str(container.get("message_ts") or message.get("ts") or "") or None,
        ephemeral=bool(container.get("is_ephemeral")),
        home=in_view and view.get("type") == "home",
        original=kit.first_section_text(message.get("blocks")) or str(message.get("text") or "") or None,
        view=pressed_on,
    )


def register(bolt: AsyncApp, base: Ctx) -> None:
    bolt.action(re.compile(f"^{re.escape(kit.ACTION_PREFIX)}"))(ack=acknowledge, lazy=[once(base, pressed)])
    bolt.action(kit.FILE_ACTION)(ack=acknowledge, lazy=[once(base, file_button, urgent=True)])
    bolt.action({"block_id": re.compile(f"^({'|'.join(CRITERIA_BLOCKS)})$")})(
        ack=acknowledge, lazy=[once(base, redraw_recommendation)])
    bolt.shortcut(SHORTCUT)(ack=acknowledge, lazy=[once(base, file_shortcut, urgent=True)])
    bolt.action(ANY)(acknowledge)  # link buttons, selects and dates inside modals: read at submission


async def pressed(ctx: Ctx, payload: dict[str, Any]) -> None:
    """An action button: `act:<action>`, its value the dispute id."""
    button: dict[str, Any] = payload["actions"][0]
    where = where_of(payload)
    if button.get("url"):
        return  # a link button: Slack opened the page
    name = str(button["action_id"]).removeprefix(kit.ACTION_PREFIX)
    dispute_id = str(button.get("value") or "")
    if name not in PRESSABLE or not DISPUTE_ID.match(dispute_id):
        await reply(ctx, where, ":no_entry: Parley does not know this button; nothing was recorded.")
    elif name in NEEDS_INPUT:
        await guarded(ctx, where, open_action(ctx, where, name, dispute_id, str(payload.get("trigger_id") or "")))
    else:
        await guarded(ctx, where, one_click(ctx, where, name, dispute_id))


async def file_button(ctx: Ctx, payload: dict[str, Any]) -> None:
    """The App Home's "File a conflict"."""
    where = where_of(payload)
    await guarded(ctx, where, open_filing(ctx, where, str(payload.get("trigger_id") or "")))


async def file_shortcut(ctx: Ctx, payload: dict[str, Any]) -> None:
    where = Where(user_id=str(payload["user"]["id"]))
    if payload.get("trigger_id"):
        await guarded(ctx, where, open_filing(ctx, where, str(payload["trigger_id"])))


# A press is claimed in the store per (person, message or view, action, dispute), so that a double
# click acts once even when its two requests reach two API processes (api/slack/guards.py).

def press(where: Where, name: str, dispute_id: str) -> str | None:
    return guards.press_key(where.user_id, where.place, name, dispute_id)


async def one_click(ctx: Ctx, where: Where, name: str, dispute_id: str) -> None:
    """accept / approve / resume: record it, then replace the buttons with who did what."""
    key = press(where, name, dispute_id)
    claim = await guards.claim(ctx.engine, key)
    if claim == guards.BUSY_TEXT and isinstance(await check_offer(ctx, where.user_id, name, dispute_id), str):
        # the press holding the claim has acted already (the action is no longer open): its outcome,
        # "Already handled: <who did what>", is moments away
        claim = await guards.claim(ctx.engine, key, wait=OUTCOME_WITHIN_S)
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
            await act(ctx, who, dispute_id, ONE_CLICK[name])
        except ParleyError as exc:
            await claim.release()
            await reply(ctx, where, refusal(exc, dispute_id))
            if isinstance(exc, WrongState):
                await refresh_message(ctx, where, who, dispute_id, refusal(exc, dispute_id))
            return
        line = done_line(who, DONE[name])
        await claim.settle(line)
    finally:
        await claim.release()  # nothing once settled or released: the work failed on the way
    await mark_done(ctx, where, line)


async def check_offer(ctx: Ctx, slack_user_id: str, name: str, dispute_id: str) -> tuple[User, DisputeView] | str:
    """The person and the dispute when `name` is open to them now; otherwise why not."""
    who = await identify(ctx, slack_user_id)
    if isinstance(who, Unknown):
        return who.reason
    try:
        view = await run_in_threadpool(read_view, ctx.service, who, dispute_id)
    except ParleyError as exc:
        return refusal(exc, dispute_id)
    if not is_open(view, who.email, who.role, name):
        waiting = ", ".join(view.waiting_on) or "nobody"
        return (f":no_entry: “{label(name, view)}” is not open to you on {view.id} now: it is "
                f"{view.status.value.replace('_', ' ')}, waiting on {waiting}. Nothing was recorded.")
    return who, view


async def open_action(ctx: Ctx, where: Where, name: str, dispute_id: str, trigger_id: str) -> None:
    """Open the action's modal (its trigger id lives 3 s), unless the action is no longer open."""
    key = press(where, name, dispute_id)
    if key and (already := await run_in_threadpool(guards.already, ctx.engine, key)) is not None:
        await reply(ctx, where, already)
        return
    checked = await within(CHECK_WITHIN_S, check_offer(ctx, where.user_id, name, dispute_id))
    if isinstance(checked, str):
        await refused(ctx, where, dispute_id, checked)
        return
    meta = await modal_metadata(ctx, where, name, dispute_id, checked[1] if checked is not None else None,
                                checked[0] if checked is not None else None)
    await ctx.slack.call("views_open", trigger_id=trigger_id, view=action_modal(meta))


async def refused(ctx: Ctx, where: Where, dispute_id: str, why: str) -> None:
    """Tell the presser why not, and show the buttons open now on the message pressed."""
    await reply(ctx, where, why)
    if where.key and not where.ephemeral:
        who = await identify(ctx, where.user_id)
        if isinstance(who, User):
            await refresh_message(ctx, where, who, dispute_id, why)


async def modal_metadata(ctx: Ctx, where: Where, name: str, dispute_id: str,
                         view: DisputeView | None, who: User | None = None) -> dict[str, Any]:
    """What the action's modal carries (the dispute as read, when it was read in time; a comment form
    offers a caucus note to `who` when they may write one)."""
    if view is None:
        return metadata(dispute_id, name, channel=None if where.ephemeral else where.channel,
                        ts=None if where.ephemeral else where.ts, original=where.original, home=where.home)
    weights = await within(0.5, run_in_threadpool(weights_of, ctx.engine, view)) if name in ("rule", "decide") else None
    question = str(view.info_request.get("question") or "") if view.info_request else None
    claims = await within(0.5, run_in_threadpool(dispute_claims.for_those_involved, ctx.engine, view)) \
        if name in ("rule", "decide") else None  # whoever rules or decides sees both claims
    found = await within(0.5, run_in_threadpool(precedents_for, ctx.engine, who, view.id)) \
        if name in ("rule", "decide") and who is not None else None  # and how similar disputes were decided
    return metadata(dispute_id, name, summary=summary_of(view), ruling=ruling_of(view),
                    mediation=view.status.value == "mediation", channel=None if where.ephemeral else where.channel,
                    ts=None if where.ephemeral else where.ts, original=where.original, home=where.home,
                    weights=weights, question=question, claims=claims_text(claims or []),
                    caucus=name == "comment" and who is not None and ctx.service.may_write_caucus(view, who),
                    precedents=precedents_text(found.found) if found is not None else None,
                    precedent_owners=found.owners if found is not None else None)


def precedents_for(engine: Engine, who: User, dispute_id: str) -> Precedents | None:
    """The precedents the ruling or decision modal shows `who` (None when they may not consult any)."""
    if not precedents.may_consult(who):
        return None
    with Session(engine) as session:
        return precedents.for_dispute(session, who, dispute_id)


async def redraw_recommendation(ctx: Ctx, payload: dict[str, Any]) -> None:
    """A criterion changed in a ruling/decision modal: show what the charter now recommends."""
    view = payload.get("view")
    if not isinstance(view, dict) or view.get("callback_id") != ACT_CALLBACK or not view.get("id"):
        return
    meta = read_metadata(view.get("private_metadata"))
    if meta is None:
        return
    modal = action_modal(meta, initial=read_values(view.get("state")))
    await ctx.slack.try_call("views_update", view_id=str(view["id"]), hash=view.get("hash"), view=modal)
