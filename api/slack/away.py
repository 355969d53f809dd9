"""`/conflict away`: see, set or clear your own absence (DESIGN §8), over `service.away` as the API's route is.

    /conflict away                                   your absence, and whose work you stand in for
    /conflict away 2026-12-21 2027-01-03 [delegate]  away from the first date to the second, both inclusive
                                                     (the charter calendar's time zone); the delegate by e-mail
    /conflict away clear                             back: the absence is cleared
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from fastapi.concurrency import run_in_threadpool
from slack_bolt.async_app import AsyncApp
from slack_sdk.models.blocks import Block, SectionBlock
from sqlmodel import Session

from api.slack.commands import COMMAND, words_of
from api.slack.identity import Unknown
from api.slack.listen import acknowledge, once
from api.slack.work import Ctx, Where, guarded, identify, reply
from domain.errors import InvalidInput
from render.slack_text import escape
from service import away
from service.away import AwayStatus
from store.tables import User

VERB = "away"
CLEAR = ("clear", "off", "back", "none")
USAGE = ("`/conflict away` shows your absence · `/conflict away 2026-12-21 2027-01-03 delegate@corp.example` "
         "sets it (both dates inclusive) · `/conflict away clear` clears it")
MAILTO = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")  # how Slack sends an e-mail address typed in a command


def register(bolt: AsyncApp, base: Ctx) -> None:
    async def is_away(body: dict[str, Any]) -> bool:
        return words_of(body)[0] == VERB

    bolt.command(COMMAND, matchers=[is_away])(ack=acknowledge, lazy=[once(base, answer_away)])


async def answer_away(ctx: Ctx, form: dict[str, Any]) -> None:
    where = Where(user_id=str(form["user_id"]), response_url=form.get("response_url") or None,
                  channel=form.get("channel_id") or None)
    await guarded(ctx, where, _answer(ctx, where, words_of(form)[1][1:]))


async def _answer(ctx: Ctx, where: Where, args: list[str]) -> None:
    who = await identify(ctx, where.user_id)
    if isinstance(who, Unknown):
        await reply(ctx, where, who.reason)
        return
    if not args:
        status = await run_in_threadpool(_status, ctx, who)
        text = "Your absence"
    elif args[0].lower() in CLEAR:
        status = await away.delete(ctx.service, who, who.email)
        text = "Welcome back: your absence is cleared"
    else:
        starts_on, ends_on, delegate = parse(args)
        status = await away.put(ctx.service, who, who.email, starts_on, ends_on, delegate)
        text = "Your absence is set"
    await reply(ctx, where, text, blocks(text, status))


def _status(ctx: Ctx, who: User) -> AwayStatus:
    with Session(ctx.engine) as session:
        return away.status_of(session, who.email, ctx.service.clock())


def parse(args: list[str]) -> tuple[date, date, str | None]:
    """FROM UNTIL [delegate] of `/conflict away`; InvalidInput naming what is wrong."""
    if len(args) not in (2, 3):
        raise InvalidInput(f"{VERB}: {USAGE}", field=VERB)
    days: list[date] = []
    for name, text in zip(("from", "until"), args[:2], strict=True):
        try:
            days.append(date.fromisoformat(text))
        except ValueError:
            raise InvalidInput(f"{name}: {text!r} is not a date like 2026-12-21", field=name) from None
    delegate = None
    if len(args) == 3:
        found = MAILTO.match(args[2])
        delegate = found.group(1) if found else args[2]
    return days[0], days[1], delegate


def blocks(title: str, status: AwayStatus) -> list[Block]:
    lines = [f"*{escape(title)}*"]
    if status.absence is None:
        lines.append("You are not away." if title == "Your absence" else "You are not away any more.")
    else:
        lines.append(f"You are {escape(status.absence.sentence())}.")
    for other in status.standing_in_for:
        lines.append(f"You stand in for {escape(other.email)}: {escape(other.sentence())}.")
    lines.append(USAGE)
    return [SectionBlock(text="\n".join(lines))]
