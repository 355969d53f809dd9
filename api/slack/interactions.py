"""Interactions: buttons (block_actions), modal submissions (view_submission) and the shortcut.

A one-click button (accept, approve, resume) acts after the acknowledgement and then replaces the
message's buttons with who did what. A button that needs input opens its modal, after checking that
the action is still open to the person (otherwise they are told why, ephemerally). A submission is
checked for well-formedness at once (`response_action: errors`), then recorded through the same
workflow update as the API; its result is the modal's answer when it is ready within Slack's 3 s,
or is shown in the modal with views.update when it is not.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from slack_sdk.models.blocks import SectionBlock
from slack_sdk.models.views import View

from api.slack import guards
from api.slack.handlers import CHECK_WITHIN_S, DISPUTE_ID, open_filing
from api.slack.identity import Unknown
from api.slack.modals import (
    ACT_CALLBACK,
    CRITERIA_BLOCKS,
    FILE_CALLBACK,
    FILING_BLOCK_OF,
    action_modal,
    check_filing,
    errors_of,
    filing_data,
    filing_modal,
    message_modal,
    metadata,
    parse_action,
    read_metadata,
    read_values,
    ruling_of,
    summary_of,
)
from api.slack.service import Replayed
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
from domain.charter import Charter
from domain.errors import InvalidInput, ParleyError, WrongState
from domain.model import Accept, Action, Approve, DisputeView, Filing, Resume
from render import slack_blocks as kit
from render.slack_offers import DONE, LABELS, NEEDS_INPUT, label, open_actions
from render.slack_text import due_text, escape
from service.disputes import Service
from store.tables import User

ANSWER_WITHIN_S = 2.0  # a view_submission must be answered within Slack's 3 s
SHORTCUT = "parley_file"  # the global shortcut's callback id (see slack/manifest.yml)
ONE_CLICK: dict[str, Action] = {
    "accept": Accept(action="accept"), "approve": Approve(action="approve"), "resume": Resume(action="resume"),
}


class Malformed(ValueError):
    """A signed request whose payload is not what Slack sends (answered 400, nothing done)."""


def user_of(payload: dict[str, Any]) -> str:
    user = payload.get("user")
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise Malformed("the payload names no user")
    return user_id


def where_of(payload: dict[str, Any]) -> Where:
    container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
    assert isinstance(container, dict)
    message = payload.get("message") if isinstance(payload.get("message"), dict) else {}
    assert isinstance(message, dict)
    channel = payload.get("channel")
    channel_id = (channel.get("id") if isinstance(channel, dict) else None) or container.get("channel_id")
    view = payload.get("view")
    home = container.get("type") == "view" and isinstance(view, dict) and view.get("type") == "home"
    text = str(message["text"]) if message.get("text") else None
    # a view (App Home) keeps its id as it is republished, its hash changes: a press is tied to both
    pressed_on = f"{view.get('id')}:{view.get('hash')}" if isinstance(view, dict) and view.get("id") else None
    return Where(
        user_id=user_of(payload),
        response_url=str(payload["response_url"]) if payload.get("response_url") else None,
        channel=str(channel_id) if channel_id else None,
        ts=str(container.get("message_ts") or message.get("ts") or "") or None,
        ephemeral=bool(container.get("is_ephemeral")),
        home=home,
        original=kit.first_section_text(message.get("blocks")) or text,
        view=pressed_on if container.get("type") == "view" else None,
    )


# --- the acknowledgement ----------------------------------------------------------------------------

async def on_interaction(ctx: Ctx, payload: dict[str, Any], received: float) -> dict[str, Any] | None:
    kind = payload.get("type")
    if kind == "block_actions":
        on_block_actions(ctx, payload)
        return None
    if kind == "view_submission":
        return await on_view_submission(ctx, payload, received)
    if kind == "shortcut" and payload.get("callback_id") == SHORTCUT:
        where = Where(user_id=user_of(payload))
        trigger = str(payload.get("trigger_id") or "")
        if trigger:
            ctx.slack.spawn(guarded(ctx, where, open_filing(ctx, where, trigger)), "open the filing modal",
                            urgent=True)
        return None
    user_of(payload)  # view_closed, message actions, …: nothing to do, but it must be a real payload
    return None


def on_block_actions(ctx: Ctx, payload: dict[str, Any]) -> None:
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise Malformed("block_actions without actions")
    pressed: dict[str, Any] = actions[0]
    where = where_of(payload)
    action_id = str(pressed.get("action_id") or "")
    trigger = str(payload.get("trigger_id") or "")
    view = payload.get("view") if isinstance(payload.get("view"), dict) else None
    if action_id == kit.LINK_ACTION or pressed.get("url"):
        return  # a link button: Slack opened the page
    if action_id == kit.FILE_ACTION:
        ctx.slack.spawn(guarded(ctx, where, open_filing(ctx, where, trigger)), "open the filing modal", urgent=True)
        return
    if view is not None and view.get("callback_id") == ACT_CALLBACK and pressed.get("block_id") in CRITERIA_BLOCKS:
        ctx.slack.spawn(redraw_recommendation(ctx, view), "recommendation", urgent=True)
        return
    if not action_id.startswith(kit.ACTION_PREFIX):
        return  # a select or date picker inside a modal: read at submission
    name = action_id.removeprefix(kit.ACTION_PREFIX)
    dispute_id = str(pressed.get("value") or "")
    if name not in LABELS or not DISPUTE_ID.match(dispute_id):
        ctx.slack.spawn(reply(ctx, where, ":no_entry: Parley does not know this button; nothing was recorded."),
                        "unknown button")
    elif name in NEEDS_INPUT:
        ctx.slack.spawn(guarded(ctx, where, open_action(ctx, where, name, dispute_id, trigger)), f"open {name}",
                        urgent=True)
    else:
        ctx.slack.spawn(guarded(ctx, where, one_click(ctx, where, name, dispute_id)), name)


# --- buttons ----------------------------------------------------------------------------------------

# A press is claimed in the store per (person, message or view, action, dispute), so that a double
# click acts once even when its two requests reach two API processes (api/slack/guards.py).

def _press(where: Where, name: str, dispute_id: str) -> str | None:
    return guards.press_key(where.user_id, where.place, name, dispute_id)


async def _already(ctx: Ctx, where: Where, name: str, dispute_id: str) -> str | None:
    key = _press(where, name, dispute_id)
    return await run_in_threadpool(guards.already, ctx.engine, key) if key else None


async def one_click(ctx: Ctx, where: Where, name: str, dispute_id: str) -> None:
    """accept / approve / resume: record it, then replace the buttons with who did what."""
    claim = await guards.claim(ctx.engine, _press(where, name, dispute_id))
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
    if name not in open_actions(view, who.email, who.role):
        waiting = ", ".join(view.waiting_on) or "nobody"
        return (f":no_entry: “{label(name, view)}” is not open to you on {view.id} now: it is "
                f"{view.status.value.replace('_', ' ')}, waiting on {waiting}. Nothing was recorded.")
    return who, view


async def open_action(ctx: Ctx, where: Where, name: str, dispute_id: str, trigger_id: str) -> None:
    """Open the action's modal (its trigger id lives 3 s), unless the action is no longer open."""
    if (already := await _already(ctx, where, name, dispute_id)) is not None:
        await reply(ctx, where, already)
        return
    checked = await within(CHECK_WITHIN_S, check_offer(ctx, where.user_id, name, dispute_id))
    if isinstance(checked, str):
        await reply(ctx, where, checked)
        if where.key and not where.ephemeral:
            who = await identify(ctx, where.user_id)
            if isinstance(who, User):
                await refresh_message(ctx, where, who, dispute_id, checked)
        return
    view = checked[1] if checked is not None else None
    weights = None
    if view is not None and name in ("rule", "decide"):
        weights = await within(0.5, run_in_threadpool(weights_of, ctx.engine, view))
    meta = metadata(dispute_id, name, summary=summary_of(view) if view else None,
                    ruling=ruling_of(view) if view else None,
                    mediation=view is not None and view.status.value == "mediation",
                    channel=None if where.ephemeral else where.channel, ts=None if where.ephemeral else where.ts,
                    original=where.original, home=where.home, weights=weights,
                    question=str(view.info_request.get("question") or "") if view and view.info_request else None)
    await ctx.slack.call("views_open", trigger_id=trigger_id, view=action_modal(meta))


async def redraw_recommendation(ctx: Ctx, view: dict[str, Any]) -> None:
    """A criterion changed in a ruling/decision modal: show what the charter now recommends."""
    meta = read_metadata(view.get("private_metadata"))
    if meta is None or not view.get("id"):
        return
    modal = action_modal(meta, initial=read_values(view.get("state")))
    await ctx.slack.try_call("views_update", view_id=str(view["id"]), hash=view.get("hash"), view=modal)


# --- submissions -------------------------------------------------------------------------------------

@dataclass
class Answer:
    """What a submitted modal turns into: field errors (with the form to redraw when it is too late
    for `response_action: errors`), or a view to show."""

    view: View | None = None
    errors: dict[str, str] | None = None
    form: View | None = None

    def inline(self) -> dict[str, Any]:
        if self.errors:
            return {"response_action": "errors", "errors": self.errors}
        assert self.view is not None
        return {"response_action": "update", "view": self.view.to_dict()}

    def late(self) -> View:
        if self.errors and self.form is not None:
            return self.form
        return self.view or message_modal("Parley", "Done.")


def said(title: str, text: str) -> Answer:
    return Answer(view=message_modal(title, text))


async def on_view_submission(ctx: Ctx, payload: dict[str, Any], received: float) -> dict[str, Any] | None:
    view = payload.get("view")
    if not isinstance(view, dict):
        raise Malformed("view_submission without a view")
    user_id = user_of(payload)
    values = read_values(view.get("state") if isinstance(view.get("state"), dict) else None)
    callback = view.get("callback_id")
    if callback == FILE_CALLBACK:
        errors = check_filing(values)
        if errors:
            return {"response_action": "errors", "errors": errors}
        reply_to = _response_url_in(view.get("private_metadata"))
        task = ctx.slack.spawn(file_from_modal(ctx, user_id, values, reply_to, view_id=str(view.get("id") or "")),
                               "file from the modal", urgent=True)
    elif callback == ACT_CALLBACK:
        meta = read_metadata(view.get("private_metadata"))
        if meta is None:
            return said("Not recorded", ":no_entry: This form is out of date; nothing was recorded.").inline()
        parsed, errors = parse_action(str(meta["a"]), values)
        if errors or parsed is None:
            return {"response_action": "errors", "errors": errors}
        task = ctx.slack.spawn(act_from_modal(ctx, user_id, meta, parsed, view_id=str(view.get("id") or "") or None),
                               f"{meta['a']} from the modal", urgent=True)
    else:
        return None
    answer = await within(ANSWER_WITHIN_S - (time.monotonic() - received), task)
    if answer is not None:
        return answer.inline()
    view_id = str(view.get("id") or "")
    if view_id:
        ctx.slack.spawn(show_later(ctx, task, view_id), "late modal answer", urgent=True)
    return said("Working on it", ":hourglass_flowing_sand: Parley is recording this. This window shows the "
                                 "result in a moment (and Parley will message you).").inline()


async def show_later(ctx: Ctx, task: asyncio.Task[Answer], view_id: str) -> None:
    try:
        answer = await task
        modal = answer.late()
    except Replayed:
        return  # the same submission was received before: its own answer stands
    except Exception:
        modal = message_modal("Not recorded", ":warning: Parley could not finish this; check "
                                              "`/conflict mine` before trying again.")
    await ctx.slack.try_call("views_update", view_id=view_id, view=modal)


def _response_url_in(raw: object) -> str | None:
    try:
        data = json.loads(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        return None
    url = data.get("r") if isinstance(data, dict) else None
    return url if isinstance(url, str) else None


async def file_from_modal(ctx: Ctx, user_id: str, values: dict[str, str], reply_to: str | None, *,
                          view_id: str = "") -> Answer:
    """File the dispute once per filing form, however often (and wherever) it is submitted; a form
    sent back with errors gives its claim up, so that it can be corrected and sent again."""
    claim = await guards.claim(ctx.engine, guards.press_key(user_id, f"view:{view_id}" if view_id else None,
                                                            "file", ""))
    if isinstance(claim, str):
        return said("Not filed", claim)
    try:
        return await _file_from_modal(ctx, user_id, values, reply_to, claim)
    finally:
        await claim.release()  # nothing once settled


async def _file_from_modal(ctx: Ctx, user_id: str, values: dict[str, str], reply_to: str | None,
                           claim: guards.PressClaim) -> Answer:
    """File the dispute; confirm in the modal and where /conflict was typed (else in a DM)."""
    charter: Charter = ctx.state.charter
    metadata_back = json.dumps({"r": reply_to}) if reply_to else None

    def form_with(errors: dict[str, str]) -> Answer:
        problem = "; ".join(errors.values())
        return Answer(errors=errors, form=filing_modal(charter, initial=values, problem=problem,
                                                       private_metadata=metadata_back))

    try:
        who = await identify(ctx, user_id)
        if isinstance(who, Unknown):
            return said("Not filed", who.reason)
        if not Service.may_file(who):
            return said("Not filed", f":no_entry: Only reps file conflicts; {who.email} is a {who.role}. "
                                     "Nothing was recorded.")
        other = await identify(ctx, values["counterparty"])
        if isinstance(other, Unknown):
            return form_with({"counterparty": "That person is not a Parley user, or Parley cannot match their "
                                              "Slack account. Ask a Parley admin to add them."})
        data, errors = filing_data(values, other.email)
        try:
            filing = Filing.model_validate(data)
        except ValidationError as exc:
            return form_with(errors | errors_of(exc, FILING_BLOCK_OF, "title"))
        try:
            view = await ctx.service.file(who, filing, update_id=ctx.update_id)
        except InvalidInput as exc:
            block = FILING_BLOCK_OF.get(exc.field or "", "title")
            return form_with({block: exc.message.removeprefix(f"{exc.field}: ")})
        await claim.settle(done_line(who, f"filed {view.id}"))
    except ParleyError as exc:
        return said("Not filed", refusal(exc))
    url = kit.link(ctx.public_url, view.id)
    opened = f" <{url}|Open it in Parley>." if url else ""
    waiting = ", ".join(view.waiting_on) or "nobody"
    text = (f":white_check_mark: Filed *{view.id}*: {escape(view.title)}.{opened}\n"
            f"It is at {view.status.value.replace('_', ' ')} (tier {view.tier}), waiting on {waiting}, "
            f"due {due_text(view)}.")
    ctx.slack.spawn(reply(ctx, Where(user_id=user_id, response_url=reply_to), f"Filed {view.id}: {view.title}",
                          [SectionBlock(text=kit.clip(text))]), "filing confirmation")
    return said("Filed", text)


async def act_from_modal(ctx: Ctx, user_id: str, meta: dict[str, Any], action: Action, *,
                         view_id: str | None = None) -> Answer:
    name, dispute_id = str(meta["a"]), str(meta["d"])
    where = Where(user_id=user_id, channel=meta.get("ch"), ts=meta.get("ts"), original=meta.get("o"),
                  home=bool(meta.get("h")), view=view_id)  # claimed per message it came from, else per modal
    claim = await guards.claim(ctx.engine, _press(where, name, dispute_id))
    if isinstance(claim, str):
        return said("Not recorded", claim)
    who: User | Unknown | None = None
    try:
        who = await identify(ctx, user_id)
        if isinstance(who, Unknown):
            await claim.release()
            return said("Not recorded", who.reason)
        view = await act(ctx, who, dispute_id, action)
        line = done_line(who, DONE[name])
        await claim.settle(line)
    except ParleyError as exc:
        await claim.release()
        if isinstance(exc, WrongState) and where.key and isinstance(who, User):
            ctx.slack.spawn(refresh_message(ctx, where, who, dispute_id, refusal(exc, dispute_id)), "refresh")
        return said("Not recorded", refusal(exc, dispute_id))
    finally:
        await claim.release()  # nothing once settled or released: the work failed on the way
    if where.key or where.home:
        ctx.slack.spawn(mark_done(ctx, where, line), "mark the message done")
    text = f"{line}\n*{view.id}* is now {view.status.value.replace('_', ' ')} (tier {view.tier})."
    decision = view.decision
    if name in ("rule", "decide") and decision is not None and decision.recommendation is not None:
        rec = decision.recommendation
        follows = "follows" if decision.follows_recommendation else "departs from"
        text += (f"\nThe charter recommended {rec.owner.replace('_', '-')} (direct {rec.scores['direct']:.2f}, "
                 f"partner {rec.scores['partner']:.2f}); this outcome {follows} it.")
    return said("Done", text)
