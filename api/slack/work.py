"""The work behind the Slack listeners, shared by commands, interactions and events: who is asking,
reading disputes, acting through the service (`service/`), and answering the person.

Everything here runs after Slack has been acknowledged (or, for a modal submission, within its
bounded answer); store reads run in the thread pool.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from fastapi.concurrency import run_in_threadpool
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from sqlalchemy import Engine, or_
from sqlmodel import Session, col, select

from api.slack.client import CALL_ERRORS, SlackClient
from api.slack.identity import Unknown, by_slack_id, email_from_info, link_by_email, lookup_failure
from domain.charter import Weights
from domain.errors import Forbidden, InvalidInput, NotFound, ParleyError, Unavailable, WrongState
from domain.model import CLOSED, Action, DisputeView, Role
from render import slack_blocks as kit
from render.slack_offers import open_actions
from render.slack_text import slack_date
from service.disputes import Service, to_json
from service.visibility import mine, visible_to
from store.charters import charter_by_version
from store.tables import DisputeRow, User

log = logging.getLogger("parley.slack")
T = TypeVar("T")


@dataclass(frozen=True)
class Ctx:
    """What the listeners need from the application, and the signed request being handled."""

    slack: SlackClient
    state: Any  # app.state: engine, charter, service, settings
    request_id: str | None = None  # api.slack.guards.request_id of the request (set by api.slack.verify)

    def at(self, context: Mapping[str, Any]) -> Ctx:
        """This context for the request of a Bolt `context`."""
        request_id = context.get("request_id")
        return dataclasses.replace(self, request_id=request_id if isinstance(request_id, str) else None)

    @property
    def update_id(self) -> str | None:
        """The id of the workflow update this request sends: the same request never acts twice."""
        return f"slack-{self.request_id}" if self.request_id else None

    @property
    def engine(self) -> Engine:
        engine: Engine = self.state.engine
        return engine

    @property
    def public_url(self) -> str:
        return self.slack.public_url

    @property
    def service(self) -> Service:
        service: Service = self.state.service
        return service


@dataclass
class Where:
    """Where an interaction came from, and so how to answer it and which message to update."""

    user_id: str
    response_url: str | None = None
    channel: str | None = None
    ts: str | None = None  # the message carrying the pressed button
    ephemeral: bool = False  # that message is ephemeral (updated through response_url only)
    home: bool = False  # pressed on the App Home tab
    original: str | None = None  # the first section of that message, kept when its buttons go
    view: str | None = None  # no message: the view pressed on (App Home: id and hash) or the modal submitted

    @property
    def key(self) -> tuple[str, str] | None:
        return (self.channel, self.ts) if self.channel and self.ts else None

    @property
    def place(self) -> str | None:
        """What a press is tied to, for its double-press claim: the message, else the view."""
        if self.key:
            return f"message:{self.channel}:{self.ts}"
        return f"view:{self.view}" if self.view else None


async def within(seconds: float, work: Awaitable[T]) -> T | None:
    """`work`'s result if it is ready within `seconds`; otherwise None, and it goes on running."""
    task = asyncio.ensure_future(work)
    try:
        return await asyncio.wait_for(asyncio.shield(task), max(0.0, seconds))
    except TimeoutError:
        task.add_done_callback(_retrieve)  # whoever needed the result has gone on without it
        return None


def _retrieve(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("late work failed: %r", task.exception())


# --- who is asking ---------------------------------------------------------------------------------

async def identify(ctx: Ctx, slack_user_id: str) -> User | Unknown:
    """The Parley user of a Slack user: by the remembered id, else by the e-mail from users.info."""
    if not slack_user_id:
        return Unknown("Slack did not say who you are; nothing was recorded.")
    user = await run_in_threadpool(by_slack_id, ctx.engine, slack_user_id)
    if user is not None:
        return user
    try:
        info = await ctx.slack.call("users_info", user=slack_user_id)
    except SlackApiError as exc:  # (one of CALL_ERRORS: Slack answered, and said why)
        return lookup_failure(exc)
    except CALL_ERRORS as exc:
        return Unknown(f"Parley could not reach Slack to look you up ({exc!r}); nothing was recorded.")
    email = email_from_info(info.data)
    if email is None:
        return Unknown("Your Slack profile shows no e-mail address Parley can match; nothing was recorded.")
    return await run_in_threadpool(link_by_email, ctx.engine, slack_user_id, email)


# --- reading disputes -----------------------------------------------------------------------------

def read_view(service: Service, user: User, dispute_id: str) -> DisputeView:
    """The dispute as `user` may see it (NotFound otherwise), its SLA brought up to now."""
    with Session(service.engine) as session:
        return service.read(session, user, dispute_id)


def weights_of(engine: Engine, view: DisputeView) -> Weights | None:
    with Session(engine) as session:
        charter = charter_by_version(session, view.charter_version)
    return charter.weights if charter else None


def open_disputes(service: Service, user: User, limit: int = 200) -> list[DisputeView]:
    """The open disputes `user` takes part in (as party, mediator, executive or backup), soonest due first."""
    now = service.clock()
    with Session(service.engine) as session:
        query = (select(DisputeRow)
                 .where(visible_to(user), or_(mine(user), col(DisputeRow.backup_executive) == user.email),
                        col(DisputeRow.status).not_in([s.value for s in CLOSED]))
                 .order_by(col(DisputeRow.due_at).is_(None), col(DisputeRow.due_at))
                 .limit(limit))
        views = [DisputeView.model_validate(to_json(session, row, now)) for row in session.exec(query)]
    return views


def queue_of(views: list[DisputeView], user: User) -> tuple[list[tuple[DisputeView, list[str]]], list[DisputeView]]:
    """(what waits on `user`, with the actions open to them; the rest), each soonest due first."""
    waiting: list[tuple[DisputeView, list[str]]] = []
    others: list[DisputeView] = []
    for view in views:
        if user.email in view.waiting_on:
            waiting.append((view, list(open_actions(view, user.email, user.role))))
        else:
            others.append(view)
    return waiting, others


async def act(ctx: Ctx, user: User, dispute_id: str, action: Action) -> DisputeView:
    """The same as POST /api/disputes/{id}/actions (`Service.act`); the workflow's validator decides."""
    return await ctx.service.act(user, dispute_id, action, update_id=ctx.update_id)


def refusal(exc: ParleyError, dispute_id: str | None = None) -> str:
    """A refusal as the person reads it: what was not done, and why."""
    message = exc.message
    if isinstance(exc, WrongState) and dispute_id:
        return f":no_entry: Nothing was recorded: {dispute_id} has moved on — {message}."
    if isinstance(exc, NotFound):
        return f":no_entry: Nothing was recorded: {message}."
    if isinstance(exc, Unavailable):
        return f":warning: {message}"
    if isinstance(exc, Forbidden):
        return f":no_entry: Nothing was recorded: {message}."
    if isinstance(exc, InvalidInput):
        return f":no_entry: Nothing was recorded: {message}"
    return f":no_entry: Nothing was recorded: {message}"


def store_trouble(exc: BaseException) -> str:
    return (f":warning: Parley could not finish this ({type(exc).__name__}); nothing was recorded unless a "
            "message says otherwise. Try again in a moment.")


# --- answering ----------------------------------------------------------------------------------

async def reply(ctx: Ctx, where: Where, text: str, blocks: list[Block] | None = None) -> None:
    """An answer only the asker sees: through response_url, on their Home tab, or ephemerally."""
    if where.response_url and await ctx.slack.respond(where.response_url, text, blocks):
        return
    if where.home:
        await publish_home(ctx, where.user_id, notice=text)
        return
    if where.channel:
        sent = await ctx.slack.try_call("chat_postEphemeral", channel=where.channel, user=where.user_id, text=text,
                                        blocks=blocks)
        if sent is not None:
            return
    await ctx.slack.try_call("chat_postMessage", channel=where.user_id, text=text, blocks=blocks)


async def mark_done(ctx: Ctx, where: Where, line: str) -> None:
    """Replace the buttons of the message the action came from with who did what."""
    if where.home:
        await publish_home(ctx, where.user_id, notice=line)
        return
    original = where.original or " "
    done = kit.done_blocks(original, line)
    if where.ephemeral and where.response_url:
        await ctx.slack.respond(where.response_url, line, done, replace_original=True)
    elif where.channel and where.ts:
        await ctx.slack.try_call("chat_update", channel=where.channel, ts=where.ts, text=line, blocks=done)


async def refresh_message(ctx: Ctx, where: Where, user: User, dispute_id: str, footer: str) -> None:
    """After a refused (stale) press: show the buttons that are open now, and why the press failed."""
    if where.home:
        await publish_home(ctx, where.user_id)
        return
    if not where.channel or not where.ts or where.ephemeral:
        return
    try:
        view = await run_in_threadpool(read_view, ctx.service, user, dispute_id)
    except ParleyError:
        return
    offers = open_actions(view, user.email, user.role)
    head = where.original or kit.head_text(view, "", ctx.public_url)
    blocks = kit.refreshed_blocks(head, view, offers, footer)
    await ctx.slack.try_call("chat_update", channel=where.channel, ts=where.ts, text=kit.clip(footer, 300),
                             blocks=blocks)


def done_line(user: User, did: str) -> str:
    return f":white_check_mark: {user.name or user.email} ({user.email}) {did} · {slack_date(datetime.now(UTC))}"


# --- App Home -----------------------------------------------------------------------------------

async def publish_home(ctx: Ctx, slack_user_id: str, notice: str | None = None) -> None:
    who = await identify(ctx, slack_user_id)
    if isinstance(who, Unknown):
        home = kit.unknown_home(who.reason.replace("; nothing was recorded", ""))
    else:
        views = await run_in_threadpool(open_disputes, ctx.service, who)
        waiting, others = queue_of(views, who)
        home = kit.home_view(who.name or who.email, waiting, others, ctx.public_url,
                             can_file=Role(who.role) == Role.rep, notice=notice)
    await ctx.slack.try_call("views_publish", user_id=slack_user_id, view=home)


async def guarded(ctx: Ctx, where: Where, work: Coroutine[Any, Any, None]) -> None:
    """`work`, telling the person when it fails for a reason of Parley's own (store, Temporal)."""
    try:
        await work
    except ParleyError as exc:
        await reply(ctx, where, refusal(exc))
    except Exception as exc:
        log.exception("Slack work failed")
        await reply(ctx, where, store_trouble(exc))
