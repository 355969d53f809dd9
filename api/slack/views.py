"""Modal submissions (`view_submission`): Bolt's view listeners, whose answer is the result.

A submission is checked for well-formedness at once (`response_action: errors`), then recorded
through the same service call as the API: the listener does that work before it acknowledges, and
answers with its result when it is ready within Slack's 3 s; when it is not, it answers "working on
it" and shows the result in the modal with views.update. The work claims its request first
(`listen.claimed`): a replayed submission learns that it lost, and gets 401.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi.concurrency import run_in_threadpool
from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.models.blocks import SectionBlock
from slack_sdk.models.views import View

from api.deps import charter_in_force
from api.slack import guards
from api.slack.forms import (
    FILING_BLOCK_OF,
    check_filing,
    errors_of,
    filing_data,
    parse_action,
    read_metadata,
    read_values,
    registrations_chosen,
)
from api.slack.guards import Replayed
from api.slack.identity import Unknown
from api.slack.listen import acknowledge, claimed
from api.slack.work import Ctx, Where, act, done_line, identify, mark_done, refresh_message, refusal, reply, within
from domain import caucus
from domain.charter import Charter
from domain.claims import FilingPair
from domain.errors import InvalidInput, ParleyError, WrongState
from domain.model import Action, Comment, Filing
from domain.plain_words import a_role
from domain.precedents import warning as precedent_warning
from render import slack_blocks as kit
from render.slack_claims import BLOCK_ID as REGISTRATIONS
from render.slack_modals import ACT_CALLBACK, FILE_CALLBACK, filing_modal, message_modal
from render.slack_offers import DONE
from render.slack_text import due_text, escape
from service import dispute_claims
from service.disputes import Service
from store.tables import User

ANSWER_WITHIN_S = 2.0  # a view_submission must be answered within Slack's 3 s
ANY = re.compile(".*")


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


def register(bolt: AsyncApp, base: Ctx) -> None:
    async def filing_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> BoltResponse | None:
        view, user_id = body["view"], str(body["user"]["id"])
        values = read_values(view.get("state") if isinstance(view.get("state"), dict) else None)
        if carried := registrations_chosen(view):  # a modal with no choice, opened about a pair
            values[REGISTRATIONS] = ",".join(carried)
        errors = check_filing(values)
        if errors:
            await ack(response_action="errors", errors=errors)
            return None
        ctx = base.at(context)
        reply_to = _response_url_in(view.get("private_metadata"))
        work = file_from_modal(ctx, user_id, values, reply_to, view_id=str(view.get("id") or ""))
        return await answer(ack, ctx, body, context, work)

    async def action_submitted(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> BoltResponse | None:
        view, user_id = body["view"], str(body["user"]["id"])
        meta = read_metadata(view.get("private_metadata"))
        if meta is None:
            await ack(said("Not recorded", ":no_entry: This form is out of date; nothing was recorded.").inline())
            return None
        values = read_values(view.get("state") if isinstance(view.get("state"), dict) else None)
        parsed, errors = parse_action(str(meta["a"]), values)
        if errors or parsed is None:
            await ack(response_action="errors", errors=errors)
            return None
        ctx = base.at(context)
        work = act_from_modal(ctx, user_id, meta, parsed, view_id=str(view.get("id") or "") or None)
        return await answer(ack, ctx, body, context, work)

    bolt.view(FILE_CALLBACK)(filing_submitted)
    bolt.view(ACT_CALLBACK)(action_submitted)
    bolt.view(ANY)(acknowledge)  # another app's modal: nothing to do
    bolt.view_closed(ANY)(acknowledge)


async def answer(ack: AsyncAck, ctx: Ctx, body: dict[str, Any], context: AsyncBoltContext,
                 work: Coroutine[Any, Any, Answer]) -> BoltResponse | None:
    """Acknowledge with the work's answer when it is ready in time; else say it is on its way."""
    task = ctx.slack.start(claimed(ctx, body, work), "answer a modal")
    received = float(context.get("received") or time.monotonic())
    try:
        result = await within(ANSWER_WITHIN_S - (time.monotonic() - received), task)
    except Replayed as exc:  # its answer waits for its work, so it learns that its claim was lost
        return BoltResponse(status=401, body={"detail": str(exc)})
    except ParleyError as exc:  # the store did not answer the claim
        result = said("Not recorded", refusal(exc))
    if result is not None:
        await ack(result.inline())
        return None
    view_id = str(body["view"].get("id") or "")
    if view_id:
        ctx.slack.start(show_later(ctx, task, view_id), "late modal answer")
    await ack(said("Working on it", ":hourglass_flowing_sand: Parley is recording this. This window shows the "
                                    "result in a moment (and Parley will message you).").inline())
    return None


async def show_later(ctx: Ctx, task: asyncio.Task[Answer], view_id: str) -> None:
    try:
        modal: View = (await task).late()
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
    charter: Charter = await run_in_threadpool(charter_in_force, ctx.state)
    metadata_back = json.dumps({"r": reply_to}) if reply_to else None
    pairs: list[FilingPair] = []

    def form_with(errors: dict[str, str]) -> Answer:
        problem = "; ".join(errors.values())
        return Answer(errors=errors, form=filing_modal(charter, initial=values, problem=problem,
                                                       private_metadata=metadata_back, pairs=pairs))

    try:
        who = await identify(ctx, user_id)
        if isinstance(who, Unknown):
            return said("Not filed", who.reason)
        if not Service.may_file(who):
            return said("Not filed", f":no_entry: Only reps file conflicts; {who.email} is {a_role(who.role)}. "
                                     "Nothing was recorded.")
        pairs = await run_in_threadpool(dispute_claims.pairs_for, ctx.engine, who)  # (for a form drawn again)
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
        except WrongState as exc:
            if "existing" not in exc.extra:
                raise
            return form_with({REGISTRATIONS: exc.message})  # the pair's open dispute: unpick it, or add to that one
        await claim.settle(done_line(who, f"filed {view.id}"))
    except ParleyError as exc:
        return said("Not filed", refusal(exc))
    url = kit.link(ctx.public_url, view.id)
    opened = f" <{url}|Open it in Parley>." if url else ""
    waiting = ", ".join(view.waiting_on) or "nobody"
    text = (f":white_check_mark: Filed *{view.id}*: {escape(view.title)}.{opened}\n"
            f"It is at {view.status.value.replace('_', ' ')} (tier {view.tier}), waiting on {waiting}, "
            f"due {due_text(view)}.")
    ctx.slack.start(reply(ctx, Where(user_id=user_id, response_url=reply_to), f"Filed {view.id}: {view.title}",
                          [SectionBlock(text=kit.clip(text))]), "filing confirmation")
    return said("Filed", text)


async def act_from_modal(ctx: Ctx, user_id: str, meta: dict[str, Any], action: Action, *,
                         view_id: str | None = None) -> Answer:
    name, dispute_id = str(meta["a"]), str(meta["d"])
    where = Where(user_id=user_id, channel=meta.get("ch"), ts=meta.get("ts"), original=meta.get("o"),
                  home=bool(meta.get("h")), view=view_id)  # claimed per message it came from, else per modal
    # a comment is no step: one per form, however many from the same message, and its message keeps its buttons
    step = not isinstance(action, Comment)
    place = where.place if step else (f"view:{view_id}" if view_id else None)
    claim = await guards.claim(ctx.engine, guards.press_key(where.user_id, place, name, dispute_id))
    if isinstance(claim, str):
        return said("Not recorded", claim)
    who: User | Unknown | None = None
    try:
        who = await identify(ctx, user_id)
        if isinstance(who, Unknown):
            await claim.release()
            return said("Not recorded", who.reason)
        view = await act(ctx, who, dispute_id, action)
        caucus_note = isinstance(action, Comment) and caucus.is_caucus(action)
        line = done_line(who, "added a caucus note (mediators only)" if caucus_note else DONE[name])
        await claim.settle(line)
    except ParleyError as exc:
        await claim.release()
        if isinstance(exc, WrongState) and where.key and isinstance(who, User):
            ctx.slack.start(refresh_message(ctx, where, who, dispute_id, refusal(exc, dispute_id)), "refresh")
        return said("Not recorded", refusal(exc, dispute_id))
    finally:
        await claim.release()  # nothing once settled or released: the work failed on the way
    if step and (where.key or where.home):
        ctx.slack.start(mark_done(ctx, where, line), "mark the message done")
    text = f"{line}\n*{view.id}* is now {view.status.value.replace('_', ' ')} (tier {view.tier})."
    decision = view.decision
    if name in ("rule", "decide") and decision is not None and decision.recommendation is not None:
        rec = decision.recommendation
        follows = "follows" if decision.follows_recommendation else "departs from"
        text += (f"\nThe charter recommended {rec.owner.replace('_', '-')} (direct {rec.scores['direct']:.2f}, "
                 f"partner {rec.scores['partner']:.2f}); this outcome {follows} it.")
    if name in ("rule", "decide") and decision is not None and decision.precedents:  # recorded all the same
        if warning := precedent_warning(decision.outcome.owner, [p.owner for p in decision.precedents]):
            text += f"\n:warning: {warning}"
    return said("Done", text)
