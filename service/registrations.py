"""Registering and acting on registrations, and the early warning of their overlaps (DESIGN §6): what
every surface does with a registration, written once.

`register` records the registration, its first audit event (`submitted`) and the overlaps it has
with live registrations in one transaction, then starts its workflow, which records everything
after. Each new overlap is an early warning: the new registration's workflow records `overlap_found`
and tells its owner and the routed mediator; the other registration's workflow records it too and
tells its owner. With the charter's `auto_file`, an overlap between a protected partner registration
and a direct opportunity files a dispute (the partner owner as filer) and both trails record it.

A little over 300 lines: registering and the early warning it raises are one transaction's story;
the views, rows, workflows and import live in the `registration_*` modules beside it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from domain import registration_rules as rules
from domain.charter import Charter
from domain.errors import ParleyError, WrongState
from domain.model import ConflictType, Event, Filing, Notice
from domain.registration_lifecycle import (
    Amendment,
    DisputeNote,
    OverlapNote,
    RegistrationCommand,
    RegistrationRecorded,
    RegistrationSnapshot,
    headline,
)
from domain.registration_rules import RegistrationAction, routed_mediators
from domain.registrations import LIVE, RegistrationIn
from service import registration_views as views
from service import registration_workflows as flows
from service.disputes import Service, actor_for
from service.registration_rows import first_event, new_row, owner_of
from service.registration_workflows import pinned_charter, snapshot_of, start_of
from store import overlaps, registration_trail, registrations
from store.db import session
from store.overlaps import Found
from store.tables import RegistrationRow, User
from store.users import user_by_email
from workflows.registration import RegistrationWorkflow

log = logging.getLogger(__name__)


@dataclass
class Registrations:
    service: Service  # the dispute service: the store, the settings, the charter, Temporal; `file` for auto_file

    async def register(self, user: User, body: RegistrationIn) -> dict[str, Any]:
        """Record a registration (channel and partner org from its owner), warn of its overlaps, start its
        workflow; returns it as `GET /api/registrations/{id}` shows it."""
        charter = self.service.charter()
        row, event, new = await asyncio.to_thread(self._record_new, user, body, charter)
        deliver = [event] if self._delivering() and event.action == "submitted" and row.status == "pending" else []
        mediator = routed_mediators(charter.routing, row.region, row.segment)[0]
        notes = [_note(f, tell=[row.owner_email, mediator]) for f in new]
        await self.send(start_of(row, charter, notes, deliver), RegistrationWorkflow.settled)
        await self._warn_others(row, new, mediator, charter)
        if charter.registrations.auto_file:
            await self.auto_file(row.id)
        return await self.read_json(user, row.id)

    async def act(self, user: User, registration_id: str, action: RegistrationAction) -> dict[str, Any]:
        """Take an action (the rules judge it here first, then the workflow's validator)."""
        def prepare() -> tuple[Any, Charter]:
            with Session(self.engine) as s:
                row = views.visible_row(s, user, registration_id)
                charter = pinned_charter(s, row, self.service.charter())
                rules.check(row, actor_for(user), action, _now(), routed_mediators(charter.routing, row.region,
                                                                                    row.segment))
                return start_of(row, charter), charter

        start, charter = await asyncio.to_thread(prepare)  # 404/403/409 without Temporal
        cmd = RegistrationCommand(actor=actor_for(user), act=action)
        await self.send(start, RegistrationWorkflow.act, cmd)
        if isinstance(action, rules.Approve) and charter.registrations.auto_file:
            await self.auto_file(registration_id)
        return await self.read_json(user, registration_id)

    async def amend(self, registration_id: str, actor: str, changes: dict[str, Any]) -> RegistrationSnapshot:
        """Record changed descriptive fields (a re-import) through the registration's workflow."""
        start = await asyncio.to_thread(self._start_for, registration_id)
        return await self.send(start, RegistrationWorkflow.amend, Amendment(actor=actor, changes=changes))

    async def read_json(self, user: User, registration_id: str) -> dict[str, Any]:
        def read() -> dict[str, Any]:
            with Session(self.engine) as s:
                return views.read(s, user, registration_id)

        return await asyncio.to_thread(read)

    # --- early warning and auto_file ---------------------------------------------------------------

    async def warn_of_overlaps(self, row: RegistrationRow, new: list[Found], charter: Charter) -> None:
        """The early warning for overlaps found without the registration's workflow (an import)."""
        mediator = routed_mediators(charter.routing, row.region, row.segment)[0]
        for found in new:
            await self._note_overlap(row.id, _note(found, tell=[row.owner_email, mediator]))
        await self._warn_others(row, new, mediator, charter)

    async def recheck(self, registration_id: str) -> None:
        """Look for overlaps again (the account changed) and warn of the new ones."""
        charter = self.service.charter()

        def find() -> tuple[RegistrationRow, list[Found]]:
            with session(self.engine, write=True) as s:
                row = registrations.require(s, registration_id)
                threshold = pinned_charter(s, row, charter).registrations.match_threshold
                return row, overlaps.record(s, row, overlaps.find(s, row, threshold)) if row.status in LIVE else []

        row, new = await asyncio.to_thread(find)
        if new:
            await self.warn_of_overlaps(row, new, charter)
            if charter.registrations.auto_file:
                await self.auto_file(row.id)

    async def _warn_others(self, row: RegistrationRow, new: list[Found], mediator: str, charter: Charter) -> None:
        def mediator_of(registration_id: str) -> str:
            with Session(self.engine) as s:
                other = registrations.require(s, registration_id)
                return routed_mediators(pinned_charter(s, other, charter).routing, other.region, other.segment)[0]

        for found in new:
            theirs = await asyncio.to_thread(mediator_of, found.registration_id)
            tell = [found.owner_email] + ([theirs] if theirs != mediator else [])
            note = OverlapNote(registration_id=row.id, channel=row.channel, partner_org=row.partner_org,
                               account=row.account, score=found.score, tell=tell)
            await self._note_overlap(found.registration_id, note)

    async def _note_overlap(self, registration_id: str, note: OverlapNote) -> None:
        try:
            start = await asyncio.to_thread(self._start_for, registration_id)
            await self.send(start, RegistrationWorkflow.note_overlap, note)
        except WrongState as exc:  # it ended meanwhile: nothing left to warn
            log.info("overlap of %s not recorded on %s: %s", note.registration_id, registration_id, exc)

    async def auto_file(self, registration_id: str) -> list[str]:
        """File a dispute for each live overlap of this registration that involves a protected partner
        registration and a direct opportunity, once per pair; returns the disputes filed."""
        def candidates() -> list[tuple[RegistrationRow, RegistrationRow, User | None]]:
            with Session(self.engine) as s:
                out = []
                for pair in overlaps.for_registration(s, registration_id):
                    a, b = registrations.require(s, pair.a.registration_id), registrations.require(
                        s, pair.b.registration_id)
                    partner, direct = (a, b) if a.channel == "partner" else (b, a)
                    if (direct.channel == "direct" and partner.channel == "partner" and _protected(partner)
                            and direct.status in LIVE and not registrations.disputes_linking(s, a.id, b.id)):
                        out.append((partner, direct, user_by_email(s, partner.owner_email)))
                return out

        filed = []
        for partner, direct, filer in await asyncio.to_thread(candidates):
            if filer is None:
                continue
            try:  # the path of every filing: the pair's one open dispute, linked as it is recorded
                view = await self.service.file(filer, _filing(partner, direct), filed_as=OVERLAP_ACTOR)
            except ParleyError as exc:  # a 409 `existing`: another process filed it first
                log.log(logging.INFO if exc.extra.get("existing") else logging.WARNING,
                        "could not file the overlap of %s and %s: %s", partner.id, direct.id, exc.message)
                continue
            for own, other in ((partner, direct), (direct, partner)):
                note = DisputeNote(dispute_id=view.id, other_registration_id=other.id)
                try:
                    start = await asyncio.to_thread(self._start_for, own.id)
                    await self.send(start, RegistrationWorkflow.note_dispute, note)
                except WrongState:
                    pass
            filed.append(view.id)
        return filed

    # --- the store ---------------------------------------------------------------------------------

    def _record_new(self, user: User, body: RegistrationIn, charter: Charter
                    ) -> tuple[RegistrationRow, Event, list[Found]]:
        now = _now()
        try:
            with session(self.engine, write=True) as s:
                owner = owner_of(s, user, body)
                if body.external_ref and (known := registrations.by_external_ref(s, body.external_ref)):
                    raise WrongState(_ref_taken(s, user, known.id, body.external_ref))
                row = new_row(body, owner, charter, now)
                registrations.insert(s, row)
                new = overlaps.record(s, row, overlaps.find(s, row, charter.registrations.match_threshold), now)
                event = first_event(row, user.email, "submitted", charter, body.model_dump(mode="json"))
                mediator = routed_mediators(charter.routing, row.region, row.segment)[0]
                tell = [mediator] if row.status == "pending" else []
                self._record_first(s, row, event, tell, charter, {user.email: user.name} if user.name else {})
                return row, event, new
        except IntegrityError as exc:  # another request took the external_ref first
            raise WrongState(f"a registration with external_ref {body.external_ref!r} exists") from exc

    def _record_first(self, s: Session, row: RegistrationRow, event: Event, tell: list[str], charter: Charter,
                      names: dict[str, str]) -> None:
        snapshot = snapshot_of(row).model_copy(update={"last_seq": 1})
        text = headline(event, snapshot, charter.business_calendar(), names)
        notices = [Notice(recipient=email, kind="action_required", text=text) for email in tell]
        registration_trail.record(s, RegistrationRecorded(event=event, registration=snapshot, notices=notices),
                                  "pending" if self._delivering() else "outbox")

    def _start_for(self, registration_id: str) -> Any:
        with Session(self.engine) as s:
            row = registrations.require(s, registration_id)
            return start_of(row, pinned_charter(s, row, self.service.charter()))

    async def send(self, start: Any, update: Any, arg: Any = None) -> RegistrationSnapshot:
        """Run a RegistrationWorkflow update, starting the workflow from `start` if it has none."""
        settings = self.service.settings
        return await flows.send(await self.service.temporal(), settings.task_queue, start, update, arg,
                                within=settings.answer_within_s)

    async def has_workflow(self, registration_id: str) -> bool:
        client = await self.service.temporal()
        return await flows.has_workflow(client, registration_id, within=self.service.settings.answer_within_s)

    def _delivering(self) -> bool:
        """Whether notices are delivered (Slack or e-mail), as the worker decides; else they stay in the outbox."""
        settings = self.service.settings
        return bool(settings.slack_bot_token or settings.smtp_url)

    @property
    def engine(self) -> Any:
        return self.service.engine


def _note(found: Found, tell: list[str]) -> OverlapNote:
    return OverlapNote(registration_id=found.registration_id, channel=found.channel, partner_org=found.partner_org,
                       account=found.account, score=found.score, tell=tell)


def _ref_taken(s: Session, user: User, registration_id: str, ref: str) -> str:
    """Why `ref` cannot be registered again: it names the registration holding it only to a caller who may
    see that one (a partner never learns of another organisation's registration, DESIGN §6)."""
    if registrations.may_see(s, user, registration_id):
        return f"registration {registration_id} already has external_ref {ref!r}"
    return f"external_ref {ref!r} is already used by a registration you cannot see"


def _protected(row: RegistrationRow) -> bool:
    return row.status == "approved" and row.protected_until is not None and row.protected_until > _now()


OVERLAP_ACTOR = "system:overlap"  # the actor of an overlap's events, and of the disputes Parley files about one


def _filing(partner: RegistrationRow, direct: RegistrationRow) -> Filing:
    return Filing(
        title=f"Registration overlap: {partner.account}"[:200], conflict_type=ConflictType.registration_overlap,
        account=partner.account, registration_ref=partner.id, opportunity_ref=direct.external_ref or direct.id,
        deal_value=partner.deal_value, currency=partner.currency, region=partner.region,
        segment=partner.segment, counterparty_email=direct.owner_email, registration_ids=[partner.id, direct.id],
        description=(f"Filed by Parley ({OVERLAP_ACTOR}): the protected partner registration {partner.id} and the "
                     f"direct opportunity {direct.id} claim the same account."),
    )


def _now() -> datetime:
    return datetime.now(UTC)
