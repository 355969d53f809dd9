"""`/conflict`: Bolt's command listeners.

    /conflict                 the filing modal (views.open with the command's trigger id)
    /conflict status <id>     the dispute, ephemeral, with the buttons open to the asker and "Add a comment"
                              (mediators and executives may keep it to themselves: a caucus note)
    /conflict mine            the asker's open disputes, what waits on them first
    /conflict help            usage (answered in the acknowledgement itself, as is anything unknown)

`/conflict register` and `/conflict registrations` are api/slack/registrations.py's (registered first).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.concurrency import run_in_threadpool
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from api.deps import charter_in_force
from api.slack.identity import Unknown
from api.slack.listen import acknowledge, once
from api.slack.work import (
    Ctx,
    Where,
    guarded,
    identify,
    open_disputes,
    queue_of,
    read_view,
    refusal,
    reply,
    within,
)
from domain.durations import plural
from domain.errors import ParleyError
from domain.model import Role
from domain.plain_words import a_role
from render import slack_blocks as kit
from render import slack_registrations
from render.slack_modals import filing_modal
from render.slack_offers import is_open, open_actions
from service import dispute_claims
from store.tables import User

COMMAND = "/conflict"
CHECK_WITHIN_S = 1.2  # who is asking, before a modal is opened with a trigger id that lives 3 s
DISPUTE_ID = re.compile(r"^PRL-[0-9A-F]{8}$", re.IGNORECASE)
HELP = ("help", "?", "-h", "--help")
FILE = ("", "new", "file")


def ephemeral(text: str, blocks: list[Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"response_type": "ephemeral", "text": text}
    if blocks is not None:
        body["blocks"] = [b.to_dict() for b in blocks]
    return body


def words_of(form: dict[str, Any]) -> tuple[str, list[str]]:
    words = str(form.get("text") or "").split()
    return (words[0].lower() if words else ""), words


def status_id(verb: str, words: list[str]) -> str:
    """The dispute `/conflict status <id>` (or `/conflict <id>`) asks about ("" when none is named)."""
    if verb == "status":
        return words[1].upper() if len(words) > 1 else ""
    return verb.upper()


def answer_at_once(form: dict[str, Any]) -> dict[str, Any] | None:
    """The answer of a command that needs neither the store nor Slack, or None."""
    verb, words = words_of(form)
    if verb in HELP:
        return ephemeral("How to use /conflict", help_blocks())
    if verb in FILE:
        if form.get("trigger_id"):
            return None
        return ephemeral("Slack sent no trigger id, so the form cannot open. Try `/conflict` again.")
    if verb == "status" or DISPUTE_ID.match(verb):
        return None if status_id(verb, words) else ephemeral("Which dispute? `/conflict status PRL-XXXXXXXX`")
    if verb == "mine":
        return None
    return ephemeral(f"/conflict {verb}?", help_blocks(note=f"I don't know `{kit.clip(verb, 40)}`."))


def help_blocks(note: str | None = None) -> list[Any]:
    """Usage: disputes, then registrations."""
    return [*kit.help_blocks(note=note), *slack_registrations.help_blocks()]


async def run_command(ctx: Ctx, form: dict[str, Any]) -> None:
    verb, words = words_of(form)
    where = Where(user_id=str(form["user_id"]), response_url=form.get("response_url") or None,
                  channel=form.get("channel_id") or None)
    if verb in FILE:
        await guarded(ctx, where, open_filing(ctx, where, str(form["trigger_id"])))
    elif verb == "mine":
        await guarded(ctx, where, answer_mine(ctx, where))
    else:
        await guarded(ctx, where, answer_status(ctx, where, status_id(verb, words)))


def register(bolt: AsyncApp, base: Ctx) -> None:
    async def answered_at_once(body: dict[str, Any]) -> bool:
        return answer_at_once(body) is not None

    async def answer(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack(answer_at_once(body) or {})

    bolt.command(COMMAND, matchers=[answered_at_once])(answer)
    bolt.command(COMMAND)(ack=acknowledge, lazy=[once(base, run_command, urgent=True)])


async def open_filing(ctx: Ctx, where: Where, trigger_id: str) -> None:
    """Open the form at once (the trigger id expires in 3 s), unless the asker is known not to be a rep."""
    who = await within(CHECK_WITHIN_S, identify(ctx, where.user_id))
    if isinstance(who, Unknown):
        await reply(ctx, where, who.reason)
        return
    if isinstance(who, User) and Role(who.role) != Role.rep:
        await reply(ctx, where, f":no_entry: Only reps file conflicts; {who.email} is {a_role(who.role)}. "
                                "Nothing was recorded.")
        return
    charter = await run_in_threadpool(charter_in_force, ctx.state)  # the version adopted last, on any process
    reply_to = json.dumps({"r": where.response_url}) if where.response_url else None
    pairs = await within(0.5, run_in_threadpool(dispute_claims.pairs_for, ctx.engine, who)) \
        if isinstance(who, User) else None  # the registrations on offer, if known in time
    await ctx.slack.call("views_open", trigger_id=trigger_id,
                         view=filing_modal(charter, private_metadata=reply_to, pairs=pairs or ()))


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
    comment = kit.comment_block(view, ctx.service.may_write_caucus(view, who)) \
        if is_open(view, who.email, who.role, "comment") else None
    text = f"{view.id}: {view.title} ({view.status.value.replace('_', ' ')}, tier {view.tier})"
    claims = await run_in_threadpool(dispute_claims.for_user, ctx.engine, who, view)
    await reply(ctx, where, text, kit.status_blocks(view, ctx.public_url, offers, claims, comment))


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
