"""The early warning's "File a conflict" button (`reg:file`): the dispute filing form, pre-filled from the
two registrations as the presser may see them (the service's `registration_views.read`: a partner rep
never sees a direct opportunity, so they pick the counterparty themselves), with the two ids in the
form's private_metadata, `{"registration_ids": [mine, theirs]}`, merged into what `filing_modal` put
there. The filing itself is the filing form's submission (api/slack/views.py).
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from api.deps import charter_in_force
from api.slack.actions import where_of
from api.slack.commands import CHECK_WITHIN_S
from api.slack.identity import Unknown
from api.slack.work import Ctx, Where, guarded, identify, reply, within
from domain.errors import NotFound
from domain.plain_words import a_role
from render.slack_modals import filing_modal
from service import registration_views as views
from service.disputes import Service
from store.tables import User
from store.users import user_by_email

REGISTRATION_ID = re.compile(r"^REG-[0-9A-F]{8}$")
UNKNOWN_BUTTON = ":no_entry: Parley does not know this button; nothing was recorded."


async def file_pressed(ctx: Ctx, payload: dict[str, Any]) -> None:
    where = where_of(payload)
    ids = str(payload["actions"][0].get("value") or "").split()
    if len(ids) != 2 or not all(REGISTRATION_ID.match(i) for i in ids):
        await reply(ctx, where, UNKNOWN_BUTTON)
        return
    await guarded(ctx, where, open_overlap_filing(ctx, where, ids[0], ids[1], str(payload.get("trigger_id") or "")))


async def open_overlap_filing(ctx: Ctx, where: Where, mine: str, theirs: str, trigger_id: str) -> None:
    """The filing form, pre-filled from the two registrations, carrying both ids (the trigger id lives 3 s)."""
    who = await within(CHECK_WITHIN_S, identify(ctx, where.user_id))
    if isinstance(who, Unknown):
        await reply(ctx, where, who.reason)
        return
    if isinstance(who, User) and not Service.may_file(who):
        await reply(ctx, where, f":no_entry: Only reps file conflicts; {who.email} is {a_role(who.role)}. "
                                "Nothing was recorded.")
        return
    initial = await within(CHECK_WITHIN_S, run_in_threadpool(overlap_filing, ctx, who, mine, theirs)) \
        if isinstance(who, User) else None
    charter = await run_in_threadpool(charter_in_force, ctx.state)
    view = filing_modal(charter, initial=initial or {})
    view.private_metadata = with_registration_ids(view.private_metadata, where.response_url, [mine, theirs])
    await ctx.slack.call("views_open", trigger_id=trigger_id, view=view)


def overlap_filing(ctx: Ctx, who: User, mine: str, theirs: str) -> dict[str, str]:
    """The filing form's fields from the presser's registration and, as far as the service lets them
    see it, the other one (its owner is the counterparty)."""
    with Session(ctx.engine) as session:
        try:
            own = views.read(session, who, mine)
        except NotFound:
            return {}
        try:
            other_owner = views.read(session, who, theirs)["owner"]
        except NotFound:  # a partner rep never sees a direct opportunity: they pick the counterparty
            other_owner = None
        counterparty = user_by_email(session, other_owner) if other_owner else None
    value = float(own["deal_value"])
    initial = {
        "title": f"Registration overlap: {own['account']}"[:200], "account": str(own["account"]),
        "conflict_type": "registration_overlap", "deal_value": f"{value:.2f}".rstrip("0").rstrip("."),
        "currency": str(own["currency"]), "region": str(own["region"]),
        "registration_ref": mine if own["channel"] == "partner" else theirs,
    }
    if own.get("segment"):
        initial["segment"] = str(own["segment"])
    if counterparty is not None and counterparty.slack_user_id:
        initial["counterparty"] = counterparty.slack_user_id
    return initial


def with_registration_ids(raw: str | None, response_url: str | None, ids: list[str]) -> str:
    """The filing form's private_metadata with `registration_ids` (and the response_url to confirm
    through) merged into whatever JSON object `filing_modal` put there."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    if response_url:
        data.setdefault("r", response_url)
    data["registration_ids"] = ids
    return json.dumps(data)
