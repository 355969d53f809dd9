"""`/conflict` and the Events API: what each does once Slack has been acknowledged.

    /conflict                 the filing modal (views.open with the command's trigger id)
    /conflict status <id>     the dispute, ephemeral, with the buttons open to the asker
    /conflict mine            the asker's open disputes, what waits on them first
    /conflict help            usage (answered in the acknowledgement itself)
    app_home_opened           the App Home tab: the asker's queue, soonest deadline first
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.concurrency import run_in_threadpool

from api.slack.identity import Unknown
from api.slack.modals import filing_modal
from api.slack.work import (
    Ctx,
    Where,
    guarded,
    identify,
    open_disputes,
    publish_home,
    queue_of,
    read_view,
    refusal,
    reply,
    within,
)
from domain.durations import plural
from domain.errors import ParleyError
from domain.model import Role
from render import slack_blocks as kit
from render.slack_offers import open_actions
from store.tables import User

CHECK_WITHIN_S = 1.2  # who is asking, before a modal is opened with a trigger id that lives 3 s
DISPUTE_ID = re.compile(r"^PRL-[0-9A-F]{8}$", re.IGNORECASE)


def ephemeral(text: str, blocks: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"response_type": "ephemeral", "text": text}
    if blocks is not None:
        body["blocks"] = [b.to_dict() for b in blocks]
    return body


def on_command(ctx: Ctx, form: dict[str, str]) -> dict[str, Any] | None:
    """Acknowledge a slash command: help inline; everything else is scheduled and answered later."""
    words = form.get("text", "").split()
    verb = words[0].lower() if words else ""
    where = Where(user_id=form["user_id"], response_url=form.get("response_url") or None,
                  channel=form.get("channel_id") or None)
    if verb in ("help", "?", "-h", "--help"):
        return ephemeral("How to use /conflict", kit.help_blocks())
    if verb in ("", "new", "file"):
        trigger = form.get("trigger_id", "")
        if not trigger:
            return ephemeral("Slack sent no trigger id, so the form cannot open. Try `/conflict` again.")
        ctx.slack.spawn(guarded(ctx, where, open_filing(ctx, where, trigger)), "open the filing modal", urgent=True)
        return None
    if verb == "status" or DISPUTE_ID.match(verb):
        dispute_id = words[1] if verb == "status" and len(words) > 1 else (verb if verb != "status" else "")
        if not dispute_id:
            return ephemeral("Which dispute? `/conflict status PRL-XXXXXXXX`")
        ctx.slack.spawn(guarded(ctx, where, answer_status(ctx, where, dispute_id.upper())), "answer status")
        return None
    if verb == "mine":
        ctx.slack.spawn(guarded(ctx, where, answer_mine(ctx, where)), "answer mine")
        return None
    return ephemeral(f"/conflict {verb}?", kit.help_blocks(note=f"I don't know `{kit.clip(verb, 40)}`."))


async def open_filing(ctx: Ctx, where: Where, trigger_id: str) -> None:
    """Open the form at once (the trigger id expires in 3 s), unless the asker is known not to be a rep."""
    who = await within(CHECK_WITHIN_S, identify(ctx, where.user_id))
    if isinstance(who, Unknown):
        await reply(ctx, where, who.reason)
        return
    if isinstance(who, User) and Role(who.role) != Role.rep:
        await reply(ctx, where, f":no_entry: Only reps file conflicts; {who.email} is a {who.role}. "
                                "Nothing was recorded.")
        return
    charter = ctx.state.charter  # the form needs no store: the charter is loaded at start-up
    reply_to = json.dumps({"r": where.response_url}) if where.response_url else None
    await ctx.slack.call("views_open", trigger_id=trigger_id, view=filing_modal(charter, private_metadata=reply_to))


async def answer_status(ctx: Ctx, where: Where, dispute_id: str) -> None:
    who = await identify(ctx, where.user_id)
    if isinstance(who, Unknown):
        await reply(ctx, where, who.reason)
        return
    try:
        view = await run_in_threadpool(read_view, ctx.service, who, dispute_id)
    except ParleyError as exc:
        await reply(ctx, where, refusal(exc).replace("Nothing was recorded: ", ""))
        return
    offers = open_actions(view, who.email, who.role)
    text = f"{view.id}: {view.title} ({view.status.value.replace('_', ' ')}, tier {view.tier})"
    await reply(ctx, where, text, kit.status_blocks(view, ctx.public_url, offers))


async def answer_mine(ctx: Ctx, where: Where) -> None:
    who = await identify(ctx, where.user_id)
    if isinstance(who, Unknown):
        await reply(ctx, where, who.reason)
        return
    views = await run_in_threadpool(open_disputes, ctx.service, who)
    waiting, others = queue_of(views, who)
    listed = [(v, True) for v, _ in waiting] + [(v, False) for v in others]
    text = f"{plural(len(listed), 'open dispute')}, {len(waiting)} waiting on you"
    await reply(ctx, where, text, kit.mine_blocks(listed, ctx.public_url))


def on_event(ctx: Ctx, body: dict[str, Any]) -> dict[str, Any] | None:
    """Acknowledge an Events API request; `url_verification` is answered with its challenge.
    (An event Slack re-sends never gets here: the route claims each event id once, in the store.)"""
    if body.get("type") == "url_verification":
        return {"challenge": str(body.get("challenge", ""))}
    if body.get("type") != "event_callback":
        return None
    event = body.get("event")
    if isinstance(event, dict) and event.get("type") == "app_home_opened" and event.get("tab", "home") == "home":
        user = event.get("user")
        if isinstance(user, str) and user:
            ctx.slack.spawn(publish_home(ctx, user), "publish App Home")
    return None
