"""DisputeWorkflow: one dispute from filing to resolution.

The lifecycle itself lives in the pure `domain.lifecycle.Dispute`; this workflow gives it a clock
(durable timers for reminders and breaches), a front door (the `act` update, validated before
anything is written) and hands, in order, every event it produces to the `record_event` activity.
Notifications are started in the background: a Slack outage delays a message, never a deadline.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.names import DELIVER_NOTICES, RECORD_EVENT
    from domain.away import Absence, next_start, stand_ins
    from domain.errors import ParleyError
    from domain.lifecycle import Dispute
    from domain.model import (
        CLOSED,
        Command,
        Decide,
        DisputeStart,
        DisputeView,
        Event,
        Reassign,
        Recorded,
        Rule,
        Status,
    )
    from domain.notices import notices_for
    from workflows import search

RECORD_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))
DELIVERY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# Rulings and decisions made before this patch said "follows the recommendation" by the owner alone; replayed,
# they keep that verdict (their audit events and projection say so); later ones compare the credit split too.
FOLLOWS_PATCH = "follows-credit-split"
# Away and delegation (DESIGN §8): the workflow keeps the absences of its adjudicators it is told about (the
# `away` signal, or its input), wakes when one starts and moves the dispute to the stand-in (`system:away`).
AWAY_PATCH = "away-delegation"
# Decisions and tier-3 reassignments made before this patch could come from the backup executive at any time;
# replayed, they stand. Since, the backup decides once paged, when the executive tier's deadline has passed.
BACKUP_PATCH = "backup-decides-when-paged"
# A deal value in another currency than the charter's thresholds was compared with them as it was (60,000,000 IDR,
# about US$3,700, went to the executive); since this patch it is converted at the charter's `exchange_rates`, or
# not compared without a rate. Asked only of such a filing: disputes filed before it replay with the old rule.
CURRENCY_PATCH = "deal-value-in-charter-currency"


@workflow.defn
class DisputeWorkflow:
    @workflow.init
    def __init__(self, start: DisputeStart) -> None:
        self._dispute = Dispute(start, workflow.now(), converts_currency=lambda: workflow.patched(CURRENCY_PATCH))
        self._queue: list[Recorded] = []
        self._recorded_seq = 0
        self._woken = False
        self._deliveries: list[asyncio.Future[None]] = []
        self._indexed: dict[str, Any] = {}  # the search attributes as last upserted
        self._absences: dict[str, Absence] = {a.email: a for a in start.absences}  # by e-mail, as last told
        self._queue_events(self._dispute.events)

    @workflow.run
    async def run(self, start: DisputeStart) -> DisputeView:
        while True:
            self._route_around_absences()
            await self._record_queued()
            if self._dispute.status in CLOSED:
                break
            await self._sleep_until_next_milestone()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._record_queued()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        return self._dispute.view(workflow.now())

    @workflow.query
    def view(self) -> DisputeView:
        return self._dispute.view(workflow.now())

    @workflow.update
    async def settled(self) -> DisputeView:
        """Returns once every event so far is recorded: lets a caller read its own writes."""
        await workflow.wait_condition(lambda: self._recorded_seq >= self._dispute.seq)
        return self._dispute.view(workflow.now())

    @workflow.update
    async def act(self, cmd: Command) -> DisputeView:
        if isinstance(cmd.act, (Rule, Decide)):
            self._dispute.follows_split = workflow.patched(FOLLOWS_PATCH)
        if isinstance(cmd.act, (Decide, Reassign)) and self._dispute.status == Status.executive:
            self._dispute.backup_waits = workflow.patched(BACKUP_PATCH)
        try:
            events = self._dispute.apply(cmd, workflow.now())
        except ParleyError as exc:  # state moved between validation and handling
            raise _rejection(exc) from exc
        self._queue_events(events)
        self._route_around_absences()  # it may have entered the tier of someone away
        self._woken = True
        await workflow.wait_condition(lambda: self._recorded_seq >= self._dispute.seq)
        return self._dispute.view(workflow.now())

    @workflow.signal
    def away(self, absence: Absence) -> None:
        """Someone of this dispute is away over a period (or no longer: `cleared`); the latest word counts."""
        if absence.cleared:
            self._absences.pop(absence.email, None)
        else:
            self._absences[absence.email] = absence
        self._woken = True  # the next timer may change

    @act.validator
    def _may_act(self, cmd: Command) -> None:
        try:
            self._dispute.check(cmd)
        except ParleyError as exc:
            raise _rejection(exc) from exc

    async def _sleep_until_next_milestone(self) -> None:
        at = self._dispute.next_timer()
        if self._away_on() and (starts := next_start(self._absences, workflow.now())) is not None:
            at = min(at, starts) if at else starts
        timeout = max(0.0, (at - workflow.now()).total_seconds()) if at else None
        try:
            await workflow.wait_condition(lambda: self._woken, timeout=timeout)
        except TimeoutError:
            self._queue_events(self._dispute.on_timer(workflow.now()))
        self._woken = False

    def _away_on(self) -> bool:
        """Whether absences count here: only when it was told of some, and after the patch that brought them."""
        return bool(self._absences) and workflow.patched(AWAY_PATCH)

    def _route_around_absences(self) -> None:
        """The tier's adjudicator is away now: the dispute moves to their stand-in."""
        if self._dispute.status in CLOSED or not self._away_on():
            return
        now = workflow.now()
        self._queue_events(self._dispute.route_around(stand_ins(self._absences, now), now))

    def _queue_events(self, events: list[Event]) -> None:
        if not events:
            return
        view = self._dispute.view(workflow.now())
        notify = self._dispute.charter.notifications
        for event in events:
            # names and the calendar only change the texts (activity inputs), never the commands
            notices = notices_for(event, view, notify.dm_on, self._dispute.names, self._dispute.cal)
            self._queue.append(Recorded(event=event, view=view, notices=notices, channel=notify.channel))

    def _index(self) -> None:
        """Upserts the search attributes that the queued events changed."""
        values = search.values_of(self._dispute.view(workflow.now()))
        updates = search.changes(self._indexed, values)
        if updates and workflow.patched(search.PATCH):
            workflow.upsert_search_attributes(updates)
            self._indexed = values

    async def _record_queued(self) -> None:
        if self._queue:
            self._index()
        while self._queue:
            item = self._queue.pop(0)
            # A regular activity, never a local one: a local activity writes before its workflow task
            # completes, and a task retried after its worker died makes the event again at a new
            # workflow.now(), which the audit chain then refuses as a different event 4 (the chaos test).
            to_deliver = await workflow.execute_activity(
                RECORD_EVENT, item, start_to_close_timeout=timedelta(seconds=10), retry_policy=RECORD_RETRY
            )
            self._recorded_seq = item.event.seq
            if to_deliver is False:  # None in histories from before the activity answered
                continue
            self._deliveries.append(workflow.start_activity(
                DELIVER_NOTICES, item.event, start_to_close_timeout=timedelta(seconds=60),
                schedule_to_close_timeout=timedelta(days=2), retry_policy=DELIVERY_RETRY,
                heartbeat_timeout=timedelta(seconds=20),  # a dead worker is noticed then (activities.notify)
            ))


def _rejection(exc: ParleyError) -> ApplicationError:
    return ApplicationError(exc.message, type=type(exc).__name__, non_retryable=True)
