"""Importing registrations from a CRM export (DESIGN §6, `POST /api/registrations/import`, `parley
registrations import`): idempotent by `external_ref`, a bad row never stops the good ones.

The answer is an `ImportResult` whatever the rows hold, even when none of them could be imported: each
refused row is one of its `errors`. Only a problem with the file itself (service.imports: no header line,
a header without a required column, text that is not UTF-8, a line too long to be a registration's) met
before any row was imported refuses the whole file, as `InvalidInput`; met after some were, it is the last
of the result's errors, and the rows before it stay imported.

Rows stream in (service.imports) and are handled in batches, each batch in one transaction: a new
registration is written with its first audit event (`imported`) and the overlaps it has; a known one
(same `external_ref`) whose descriptive fields changed is amended through its workflow; an unchanged
one is left alone, so importing the same file twice creates nothing the second time.

Workflows: a partner registration that is pending, or approved with a protection window, has timers
and gets its workflow at once; a direct opportunity's workflow would only wait for its owner, so it
is started on first use (service.registration_workflows). A new overlap is warned of as for a
registration typed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from domain.errors import Forbidden, InvalidInput, ParleyError
from domain.model import Role
from domain.plain_words import a_role
from domain.registrations import LIVE
from service.imports import ImportRow, Kind, RowError, RowParser
from service.registration_rows import first_event, new_values
from service.registration_workflows import start_of
from service.registrations import Registrations
from store import overlaps, registration_bulk
from store.db import session
from store.overlaps import Found
from store.tables import RegistrationRow, User
from store.users import user_by_email
from workflows.registration import RegistrationWorkflow

BATCH = 1000
CONCURRENCY = 16  # workflow calls in flight at once
MAX_ERRORS = 1000  # listed; `error_count` counts them all


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0

    def error(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(error)

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged

    def as_dict(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "errors": [e.as_dict() for e in sorted(self.errors, key=lambda e: e.line)],
                "error_count": self.error_count}


@dataclass
class _Batch:
    created: list[dict[str, Any]] = field(default_factory=list)  # the new rows' columns
    overlaps: list[tuple[RegistrationRow, list[Found]]] = field(default_factory=list)
    amend: list[tuple[ImportRow, RegistrationRow, dict[str, Any]]] = field(default_factory=list)
    ensure: list[RegistrationRow] = field(default_factory=list)  # unchanged, with timers: make sure they run
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)


class Importer:
    def __init__(self, registrations: Registrations, user: User, kind: Kind,
                 on_rows: Callable[[int], None] | None = None) -> None:
        if Role(user.role) != Role.admin:
            raise Forbidden(f"only an admin imports registrations; {user.email} is {a_role(user.role)}")
        self.regs, self.user = registrations, user
        self.charter = registrations.service.charter()
        self.parser = RowParser(kind)
        self.result = ImportResult()
        self.on_rows = on_rows
        self._owners: dict[str, User | None] = {}
        self._lines: dict[str, int] = {}  # external_ref -> the line that first named it
        self._line_of: dict[str, int] = {}  # registration id -> its line
        self._calls = asyncio.Semaphore(CONCURRENCY)
        self._previous: asyncio.Task[None] | None = None  # the batch being stored while the next one is read

    async def run(self, chunks: AsyncIterable[bytes]) -> ImportResult:
        """Import the rows of the file `chunks` brings; InvalidInput when the file itself cannot be read and
        no row of it was imported."""
        batch: list[ImportRow] = []
        try:
            async for chunk in chunks:
                for item in self.parser.feed(chunk):
                    batch = await self._take(item, batch)
            for item in self.parser.close():
                batch = await self._take(item, batch)
            await self._next(batch)
            await self._next([])
        finally:
            if self._previous is not None and not self._previous.done():
                self._previous.cancel()
        if (problem := self.parser.stopped) is not None and not self.result.rows:
            raise InvalidInput(f"line {problem.line}: {problem.message}", problem.field)
        return self.result

    async def _next(self, batch: list[ImportRow]) -> None:
        """Hand a batch on once the one before it is done: batches are stored in order, one at a time,
        while the rows after them are read and validated (SQLite works without holding the GIL)."""
        if self._previous is not None:
            previous, self._previous = self._previous, None
            await previous
        if batch:
            self._previous = asyncio.create_task(self._handle(batch))

    async def _take(self, item: ImportRow | RowError, batch: list[ImportRow]) -> list[ImportRow]:
        if isinstance(item, RowError):
            self.result.error(item)
            self._report(1)
            return batch
        batch.append(item)
        if len(batch) < BATCH:
            return batch
        await self._next(batch)
        return []

    async def _handle(self, rows: list[ImportRow]) -> None:
        if not rows:
            return
        try:
            done = await asyncio.to_thread(self._store, rows)
        except IntegrityError:  # another import wrote one of these external_refs meanwhile: compare again
            done = await asyncio.to_thread(self._store, rows)
        self.result.created += len(done.created)
        self.result.unchanged += done.unchanged
        for error in done.errors:
            self.result.error(error)
        calls = [self._started(RegistrationRow(**row)) for row in done.created if _has_timers(row)]
        calls += [self._started(row, only_if_missing=True) for row in done.ensure]
        calls += [self._warned(row, found) for row, found in done.overlaps]
        calls += [self._amended(item, row, changes) for item, row, changes in done.amend]
        await asyncio.gather(*calls)
        self._report(len(rows))

    def _report(self, count: int) -> None:
        if self.on_rows is not None:
            self.on_rows(count)

    # --- the store: one transaction per batch ----------------------------------------------------

    def _store(self, rows: list[ImportRow]) -> _Batch:
        now = datetime.now(UTC)
        done = _Batch()
        threshold = self.charter.registrations.match_threshold
        with session(self.regs.engine, write=True) as s:
            registration_bulk.make_room(s)
            known = registration_bulk.by_external_refs(s, [r.body.external_ref for r in rows if r.body.external_ref])
            events = []
            for item in rows:
                error = self._refusal(item, s)
                if error is not None:
                    done.errors.append(error)
                    continue
                owner = self._owners[(item.body.owner_email or "").lower()]
                assert owner is not None
                if (row := known.get(item.body.external_ref or "")) is not None:
                    self._line_of[row.id] = item.line
                    self._compare(item, row, owner, done)
                    continue
                values = new_values(item.body, owner, self.charter, now, status=item.status,
                                    submitted_at=item.submitted_at)
                values["last_seq"] = 1
                self._line_of[values["id"]] = item.line
                fields = {**item.body.model_dump(mode="json"), "line": item.line}
                events.append(first_event(values, self.user.email, "imported", self.charter, fields))
                done.created.append(values)
            registration_bulk.insert_new(s, done.created, events)
            for registration_id, found in registration_bulk.find_many(s, done.created, threshold).items():
                row = s.get(RegistrationRow, registration_id)
                assert row is not None
                if new := overlaps.record(s, row, found, now):
                    done.overlaps.append((row, new))
        return done

    def _refusal(self, item: ImportRow, s: Any) -> RowError | None:
        """Why this row cannot be imported (its owner, channel, status or a repeated external_ref)."""
        email = (item.body.owner_email or "").lower()
        if email not in self._owners:
            self._owners[email] = user_by_email(s, email)
        owner, line = self._owners[email], item.line
        if owner is None:
            return RowError(line, "owner_email", f"no Parley user {email}")
        if Role(owner.role) != Role.rep or owner.channel not in ("direct", "partner"):
            return RowError(line, "owner_email", f"{owner.email} is {a_role(owner.role)}, not a rep")
        if item.channel and item.channel != owner.channel:
            return RowError(line, "channel", f"{owner.email} is a {owner.channel} rep, not {item.channel}")
        if item.partner_org and item.partner_org != owner.partner_org:
            return RowError(line, "partner_org", f"{owner.email} belongs to {owner.partner_org or 'no partner'}")
        if owner.channel == "direct" and item.status in ("pending", "rejected", "expired"):
            return RowError(line, "status", f"a direct opportunity is never {item.status}: it starts approved, "
                                            "with no protection window")
        ref = item.body.external_ref
        if ref is not None:
            if (first := self._lines.setdefault(ref, line)) != line:
                return RowError(line, "external_ref", f"{ref!r} appears again (first on line {first})")
        return None

    def _compare(self, item: ImportRow, row: RegistrationRow, owner: User, done: _Batch) -> None:
        line = item.line
        if row.owner_email != owner.email:
            done.errors.append(RowError(line, "owner_email", f"{row.id} belongs to {row.owner_email}; an import "
                                                            "does not move a registration to another owner"))
        elif item.status and item.status != row.status:
            done.errors.append(RowError(line, "status", f"{row.id} is {row.status} in Parley; an import does not "
                                                       f"change a status: act on it instead"))
        elif changes := registration_bulk.changes(row, item.body):
            if row.status not in LIVE:
                done.errors.append(RowError(line, next(iter(changes)), f"{row.id} is {row.status}; an import "
                                                                      "does not change an ended registration"))
            else:
                done.amend.append((item, row, changes))
        else:
            done.unchanged += 1
            if _has_timers(row):
                done.ensure.append(row)

    # --- Temporal -----------------------------------------------------------------------------------

    async def _started(self, row: RegistrationRow, *, only_if_missing: bool = False) -> None:
        """Start the workflow of a registration with timers (one imported before whose start failed, only
        if it has none: asking costs a describe, starting costs a workflow task)."""
        async with self._calls:
            try:
                if only_if_missing and await self.regs.has_workflow(row.id):
                    return
                await self.regs.send(start_of(row, self.charter), RegistrationWorkflow.settled)
            except ParleyError as exc:
                self.result.error(RowError(self._line_of.get(row.id, 0), "row", f"{row.id} is recorded but its "
                                           f"workflow did not start ({exc.message}): import the file again"))

    async def _warned(self, row: RegistrationRow, found: list[Found]) -> None:
        async with self._calls:
            try:
                await self.regs.warn_of_overlaps(row, found, self.charter)
                if self.charter.registrations.auto_file:
                    await self.regs.auto_file(row.id)
            except ParleyError as exc:
                self.result.error(RowError(self._line_of.get(row.id, 0), "row", f"{row.id} is recorded with its "
                                           f"overlaps, but the early warning did not go out ({exc.message})"))

    async def _amended(self, item: ImportRow, row: RegistrationRow, changes: dict[str, Any]) -> None:
        async with self._calls:
            try:
                await self.regs.amend(row.id, self.user.email, changes)
            except ParleyError as exc:
                self.result.error(RowError(item.line, next(iter(changes)), exc.message))
                return
            self.result.updated += 1
            if {"account", "account_domain"} & set(changes):
                await self.regs.recheck(row.id)


def _has_timers(row: RegistrationRow | dict[str, Any]) -> bool:
    values = row if isinstance(row, dict) else {"status": row.status, "protected_until": row.protected_until}
    return values["status"] == "pending" or (values["status"] == "approved" and values["protected_until"] is not None)
