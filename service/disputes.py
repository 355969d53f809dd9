"""Filing, acting, reading and offering: what every surface does with a dispute, written once.

`Service` holds what the work needs (the store, the settings, the charter in force, a Temporal
client, the clock) and is made once per app (`api.app`); the functions below it are the store reads
it is built from.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, exists
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import Select, SelectOfScalar
from temporalio.client import Client

from domain import caucus, outcomes
from domain.calendar import BusinessCalendar
from domain.charter import Charter
from domain.errors import Forbidden, InvalidInput, NotFound, ParleyError, Unavailable
from domain.model import (
    Action,
    Actor,
    Command,
    Decide,
    DisputeStart,
    DisputeView,
    Filing,
    Party,
    Propose,
    Reassign,
    Role,
    Rule,
    Status,
    check_in_use,
)
from domain.offers import Offer, open_actions
from domain.plain_words import a_role
from service import away, dispute_claims, precedents, temporal
from service.ids import new_dispute_id
from service.paging import Page, page_of
from service.routing import NOBODY_AWAY, check_reassign, route
from service.visibility import mine_of_viewer, viewer_kind, viewer_params, visible_to, visible_to_viewer
from settings import Settings
from store import absences
from store.audit import events_for
from store.charters import charter_by_version
from store.tables import DISPUTE_REGISTRATIONS, DisputeRow, User
from store.users import actor_of, user_by_email

ADMIN_EMAIL = "admin@parley.local"  # the bootstrap admin of PARLEY_ADMIN_TOKEN, who is no stored user


@dataclass
class Service:
    engine: Engine
    settings: Settings
    charter: Callable[[], Charter]  # the charter new disputes pin
    temporal: Callable[[], Awaitable[Client]]
    clock: Callable[[], datetime]
    charter_in: Callable[[Session], Charter] | None = None  # the same, asked in a session already open

    def charter_now(self, session: Session) -> Charter:
        """The charter new disputes pin, asked in `session` when the app says how (no session of its own)."""
        return self.charter() if self.charter_in is None else self.charter_in(session)

    async def file(self, user: User, filing: Filing, *, dispute_id: str | None = None,
                   update_id: str | None = None, filed_as: str | None = None) -> DisputeView:
        """Start a dispute's workflow and return it once its filing is recorded. `filed_as` names the `filed`
        event's actor when Parley files for `user` ("system:overlap")."""
        def prepare() -> DisputeStart:
            with Session(self.engine) as session:
                charter = self.charter_now(session)  # one charter for the whole filing
                now = self.clock()  # who is away now is routed around; the workflow keeps the absences to come
                start, other = _prepare_filing(session, user, filing, charter, dispute_id or new_dispute_id(),
                                               away=absences.stand_ins(session, now))
                told = away.absences_at_filing(session, start, [user, other], charter, now)
                return start.model_copy(update={"absences": told, "filed_as": filed_as})

        start = await asyncio.to_thread(prepare)  # a filing's mistakes are named even while Temporal is down
        ids = start.filing.registration_ids or []
        within = self.settings.answer_within_s
        # one open dispute per pair of registrations: 409 `existing` while another is open
        claimed = bool(ids) and await dispute_claims.reserve(self.engine, self.temporal, ids, start.id, within=within)
        try:
            return await temporal.file_dispute(await self.temporal(), self.settings.task_queue, start, update_id,
                                               within=within)
        except Unavailable:
            raise  # it may still be filed: the claim stays, and frees itself if nothing was started
        except ParleyError:
            if claimed:
                await dispute_claims.release(self.engine, ids, start.id)
            raise

    async def file_json(self, user: User, filing: Filing, *, dispute_id: str | None = None,
                        update_id: str | None = None) -> dict[str, Any]:
        """`file`, answered as `GET /api/disputes/{id}` shows the dispute: with the registrations it is about."""
        view = await self.file(user, filing, dispute_id=dispute_id, update_id=update_id)

        def claims() -> list[dict[str, Any]]:
            if not filing.registration_ids:
                return []
            with Session(self.engine) as session:
                return [c.model_dump(mode="json")
                        for c in dispute_claims.for_viewer(session, user, view, self.clock())]

        return {**view.model_dump(mode="json"), "registrations": await asyncio.to_thread(claims)}

    async def act(self, user: User, dispute_id: str, action: Action, *, update_id: str | None = None) -> DisputeView:
        """Take an action (the workflow's validator judges it) and return the dispute after it."""
        def prepare() -> Command:
            with Session(self.engine) as session:
                visible_row(session, user, dispute_id)
                if Role(user.role) == Role.auditor:  # also once the workflow has closed and cannot say so
                    raise Forbidden("auditors have read-only access")
                if isinstance(action, (Propose, Rule, Decide)):
                    outcomes.check(action.outcome, self.clock().date())
                to = resolve_actor(session, action.to) if isinstance(action, Reassign) else None
                if to is not None:  # 409 naming a conflict of interest or an absence, whichever surface asks (§8)
                    check_reassign(session, self.read(session, user, dispute_id), actor_for(user), action, to,
                                   self.clock())
                # a ruling or decision keeps the precedents it was checked against (DESIGN §9), found here so that
                # the workflow stays deterministic: they travel inside the command
                consulted = precedents.consult(session, user, dispute_id, action.criteria) \
                    if isinstance(action, (Rule, Decide)) else None
                return Command(actor=actor_for(user), act=action, reassign_to=to, precedents=consulted)

        cmd = await asyncio.to_thread(prepare)  # who may act is known without Temporal: 404/403 first
        return await temporal.act(await self.temporal(), dispute_id, cmd, update_id,
                                  within=self.settings.answer_within_s)

    def read_json(self, session: Session, user: User, dispute_id: str) -> dict[str, Any]:
        """The dispute as `GET /api/disputes/{id}` shows it, its SLA brought up to this moment."""
        return to_json(session, visible_row(session, user, dispute_id), self.clock())

    def read(self, session: Session, user: User, dispute_id: str) -> DisputeView:
        return DisputeView.model_validate(self.read_json(session, user, dispute_id))

    def read_with_claims(self, session: Session, user: User, dispute_id: str) -> dict[str, Any]:
        """`GET /api/disputes/{id}`: the dispute and, side by side, the registrations it is about (looked up
        only for a dispute that names some: most name none)."""
        row = session.exec(_read_query(viewer_kind(user)),
                           params={"dispute_id": dispute_id, **viewer_params(user)}).first()
        if row is None:
            raise NotFound(f"no dispute {dispute_id} that you can see")
        view_json, due_at, linked = row
        now = self.clock()
        found = live_view(session, view_json, due_at, now)
        claims = dispute_claims.for_viewer(session, user, DisputeView.model_validate(found), now) if linked else []
        return {**found, "registrations": [c.model_dump(mode="json") for c in claims]}

    @staticmethod
    def offers(view: DisputeView, user: User) -> list[Offer]:
        """The actions open to `user` on the dispute now (the forms and buttons they are shown)."""
        return open_actions(view, actor_for(user))

    @staticmethod
    def may_write_caucus(view: DisputeView, user: User) -> bool:
        """Whether the comment forms offer `user` a caucus note ("Visible to: mediators only")."""
        return caucus.may_write(view, actor_for(user))

    @staticmethod
    def may_file(user: User) -> bool:
        return Role(user.role) == Role.rep


def actor_for(user: User) -> Actor:
    if user.id == 0 and user.email == ADMIN_EMAIL:
        return Actor(email=ADMIN_EMAIL, role=Role.admin, name=user.name)
    return actor_of(user)


_reads: dict[str, Select[str, datetime | None, bool]] = {}  # by `viewer_kind`


def _read_query(kind: str) -> Select[str, datetime | None, bool]:
    """`read_with_claims`'s one query, built once per kind of viewer (building it cost more than running it):
    the stored view and due time of the dispute `dispute_id` if the viewer may see it, and whether it names
    registrations (`store.dispute_links`)."""
    if (known := _reads.get(kind)) is None:
        linked = exists().where(DISPUTE_REGISTRATIONS.c.dispute_id == DisputeRow.id).label("linked")
        known = _reads[kind] = select(col(DisputeRow.view_json), col(DisputeRow.due_at), linked).where(
            col(DisputeRow.id) == bindparam("dispute_id"), visible_to_viewer(kind))
    return known


def visible_row(session: Session, user: User, dispute_id: str) -> DisputeRow:
    row = session.exec(select(DisputeRow).where(DisputeRow.id == dispute_id, visible_to(user))).first()
    if row is None:
        raise NotFound(f"no dispute {dispute_id} that you can see")
    return row


def trail(session: Session, user: User, dispute_id: str) -> list[dict[str, Any]]:
    """The dispute's audit events in order, as `user` may read them: its caucus notes only for those
    `domain.caucus` lets read them (`GET /api/disputes/{id}/audit`, the dispute page and its live timeline)."""
    visible_row(session, user, dispute_id)
    return caucus.readable(events_for(session, dispute_id), user.role)


LIST_ORDER = "latest change first (`updated_at` descending), then by `id`"
_lists: dict[tuple[str, bool, bool, bool], tuple[SelectOfScalar[DisputeRow], SelectOfScalar[int]]] = {}


def _list_queries(kind: str, status: bool, tier: bool, mine_only: bool) -> tuple[SelectOfScalar[DisputeRow],
                                                                                 SelectOfScalar[int]]:
    """`list_rows`'s page and its COUNT, built once per kind of viewer and filters given (as `_read_query`): the
    viewer, the filters' values, `limit` and `offset` are parameters. The order ends with the primary key, so it
    is total: pages read one after the other neither skip nor repeat a dispute (while none changes)."""
    key = (kind, status, tier, mine_only)
    if (known := _lists.get(key)) is None:
        where = [visible_to_viewer(kind)]
        if status:
            where.append(col(DisputeRow.status) == bindparam("status"))
        if tier:
            where.append(col(DisputeRow.tier) == bindparam("tier"))
        if mine_only:
            where.append(mine_of_viewer())
        rows = (select(DisputeRow).where(*where).order_by(col(DisputeRow.updated_at).desc(), col(DisputeRow.id))
                .offset(bindparam("offset")).limit(bindparam("limit")))
        known = _lists[key] = (rows, select(func.count()).select_from(DisputeRow).where(*where))
    return known


def list_rows(session: Session, user: User, *, status: Status | None, tier: int | None, mine_only: bool,
              limit: int, offset: int) -> Page[DisputeRow]:
    """`GET /api/disputes`: a page of the disputes `user` may see, in `LIST_ORDER`, with how many there are."""
    rows, count = _list_queries(viewer_kind(user), status is not None, tier is not None, mine_only)
    params: dict[str, Any] = viewer_params(user)
    if status is not None:
        params["status"] = status.value
    if tier is not None:
        params["tier"] = tier
    found = list(session.exec(rows, params={**params, "limit": limit, "offset": offset}))
    return page_of(found, limit, offset, lambda: session.exec(count, params=params).one())


def to_json(session: Session, row: DisputeRow, now: datetime | None = None) -> dict[str, Any]:
    """The stored view with its SLA brought up to this moment, in business time."""
    return live_view(session, row.view_json, row.due_at, now)


def live_view(session: Session, view_json: str, due: datetime | None, now: datetime | None = None) -> dict[str, Any]:
    """`to_json` of a projection row's `view_json` and `due_at`."""
    view: dict[str, Any] = json.loads(view_json)
    sla = view.get("sla") or {}
    if due is not None and not sla.get("paused"):
        now = now or datetime.now(UTC)
        cal = _calendar_of(session, view["charter_version"])
        if cal is not None:
            remaining = cal.between(now, due) if now < due else -cal.between(due, now)
        else:
            remaining = (due - now).total_seconds()
        sla["remaining_s"] = round(remaining, 3)
        sla["breached"] = bool(sla.get("breached")) or remaining <= 0
    return view


_calendars: dict[str, BusinessCalendar] = {}  # by charter version (a version never changes once stored)


def _calendar_of(session: Session, version_id: str) -> BusinessCalendar | None:
    if (known := _calendars.get(version_id)) is not None:
        return known
    charter = charter_by_version(session, version_id)
    if charter is None:
        return None
    calendar = _calendars[version_id] = charter.business_calendar()
    return calendar


def prepare_filing(session: Session, user: User, filing: Filing, charter: Charter, dispute_id: str,
                   away: Mapping[str, str] = NOBODY_AWAY) -> DisputeStart:
    """The workflow's input for `filing` by `user`; its adjudicators are routed by `service.routing` (`away`:
    the e-mail of someone away now → their stand-in's)."""
    return _prepare_filing(session, user, filing, charter, dispute_id, away)[0]


def _prepare_filing(session: Session, user: User, filing: Filing, charter: Charter, dispute_id: str,
                    away: Mapping[str, str] = NOBODY_AWAY) -> tuple[DisputeStart, User]:
    """`prepare_filing`, and the counterparty it found."""
    if not Service.may_file(user):
        raise Forbidden(f"only reps file disputes; {user.email} is {a_role(user.role)}")
    if (problem := check_in_use(filing.currency)) is not None:
        raise InvalidInput(f"currency: {problem}", "currency")
    other = user_by_email(session, filing.counterparty_email)
    if other is None:
        raise InvalidInput(f"counterparty_email: no Parley user {filing.counterparty_email}", "counterparty_email")
    if other.email == user.email:
        raise InvalidInput("counterparty_email: you cannot file a dispute against yourself", "counterparty_email")
    if Role(other.role) != Role.rep:
        raise InvalidInput(f"counterparty_email: {other.email} is {a_role(other.role)}, not a rep",
                           "counterparty_email")
    if {user.channel, other.channel} != {"direct", "partner"}:
        raise InvalidInput("counterparty_email: a channel conflict is between a direct rep and a partner rep; "
                           f"both are {user.channel}", "counterparty_email")
    if filing.registration_ids:
        filing = dispute_claims.with_refs(filing, *dispute_claims.check_pair(session, user, other,
                                                                              filing.registration_ids))
    partner = user if user.channel == "partner" else other
    if filing.partner_org and filing.partner_org != partner.partner_org:
        raise InvalidInput(f"partner_org: the partner party belongs to {partner.partner_org!r}", "partner_org")
    rules = charter.conflict_types.get(filing.conflict_type)
    if rules is None:
        raise InvalidInput(f"conflict_type: {filing.conflict_type.value} is not allowed by the charter",
                           "conflict_type")
    for field in rules.requires:
        if field == "partner_org":
            continue  # taken from the partner party
        if not getattr(filing, field):
            raise InvalidInput(f"{field}: required for {filing.conflict_type.value} conflicts", field)
    filing = filing.model_copy(update={"partner_org": partner.partner_org})
    routed = route(session, charter, (user, other), partner_org=partner.partner_org, region=filing.region,
                   segment=filing.segment, away=away)
    return DisputeStart(
        id=dispute_id, filing=filing, filer=_party(user), counterparty=_party(other),
        mediator=routed.mediator, executive=routed.executive, backup_executive=routed.backup_executive,
        charter=charter, routing_note=routed.note,
    ), other


def resolve_actor(session: Session, email: str) -> Actor:
    user = user_by_email(session, email)
    if user is None:
        raise InvalidInput(f"to: no Parley user {email}", "to")
    return actor_of(user)


def _party(user: User) -> Party:
    channel = "partner" if user.channel == "partner" else "direct"
    return Party(email=user.email, name=user.name, channel=channel, partner_org=user.partner_org,
                 slack_user_id=user.slack_user_id)
