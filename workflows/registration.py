"""RegistrationWorkflow: one registration from approval (or not) to its end (DESIGN §6).

The lifecycle lives in the pure `domain.registration_lifecycle.Registration`; this workflow gives it
a clock (the approval SLA in business time, the protection window in calendar time), a front door
(the `act` update, validated before anything is written; `note_overlap`, `note_dispute` and `amend`
for what the service learns) and hands every event, in order, to `record_registration_event`.
`extend` moves the end of the window: the loop waits on a condition whose timeout is recomputed
whenever something happened (samples-python's updatable timer). Notices are delivered in the
background, as the dispute workflow's are.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.names import DELIVER_NOTICES, RECORD_REGISTRATION_EVENT
    from domain.errors import ParleyError
    from domain.model import Event
    from domain.registration_lifecycle import (
        Amendment,
        DisputeNote,
        OverlapNote,
        Registration,
        RegistrationCommand,
        RegistrationRecorded,
        RegistrationSnapshot,
        RegistrationStart,
    )

RECORD_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))
DELIVERY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn
class RegistrationWorkflow:
    @workflow.init
    def __init__(self, start: RegistrationStart) -> None:
        self._reg = Registration(start, workflow.now())
        self._queue: list[RegistrationRecorded] = self._reg.take()
        self._recorded_seq = start.registration.last_seq
        self._woken = False
        self._deliveries: list[asyncio.Future[None]] = []

    @workflow.run
    async def run(self, start: RegistrationStart) -> RegistrationSnapshot:
        for event in start.deliver:
            self._deliver(event)
        while True:
            await self._record_queued()
            if self._reg.closed:
                break
            await self._sleep_until_next_timer()
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._record_queued()
        await asyncio.gather(*self._deliveries, return_exceptions=True)
        return self._reg.reg

    @workflow.query
    def view(self) -> RegistrationSnapshot:
        return self._reg.reg

    @workflow.update
    async def settled(self) -> RegistrationSnapshot:
        """Returns once every event so far is recorded: lets a caller read its own writes."""
        return await self._recorded()

    @workflow.update
    async def act(self, cmd: RegistrationCommand) -> RegistrationSnapshot:
        try:
            self._reg.apply(cmd, workflow.now())
        except ParleyError as exc:  # the state moved between validation and handling
            raise _rejection(exc) from exc
        return await self._recorded()

    @act.validator
    def _may_act(self, cmd: RegistrationCommand) -> None:
        try:
            self._reg.check(cmd, workflow.now())
        except ParleyError as exc:
            raise _rejection(exc) from exc

    @workflow.update
    async def note_overlap(self, note: OverlapNote) -> RegistrationSnapshot:
        self._reg.note_overlap(note, workflow.now())
        return await self._recorded()

    @workflow.update
    async def note_dispute(self, note: DisputeNote) -> RegistrationSnapshot:
        self._reg.note_dispute(note, workflow.now())
        return await self._recorded()

    @workflow.update
    async def amend(self, amendment: Amendment) -> RegistrationSnapshot:
        self._reg.amend(amendment, workflow.now())
        return await self._recorded()

    @note_overlap.validator
    def _live_for_overlap(self, note: OverlapNote) -> None:
        self._must_be_live()

    @note_dispute.validator
    def _live_for_dispute(self, note: DisputeNote) -> None:
        self._must_be_live()

    @amend.validator
    def _live_for_amendment(self, amendment: Amendment) -> None:
        self._must_be_live()

    def _must_be_live(self) -> None:
        if self._reg.closed:
            raise ApplicationError(f"the registration is {self._reg.status}", type="WrongState", non_retryable=True)

    async def _recorded(self) -> RegistrationSnapshot:
        self._queue += self._reg.take()
        self._woken = True
        await workflow.wait_condition(lambda: self._recorded_seq >= self._reg.seq)
        return self._reg.reg

    async def _sleep_until_next_timer(self) -> None:
        at = self._reg.next_timer()
        timeout = max(0.0, (at - workflow.now()).total_seconds()) if at else None
        try:
            await workflow.wait_condition(lambda: self._woken, timeout=timeout)
        except TimeoutError:
            self._reg.on_timer(workflow.now())
            self._queue += self._reg.take()
        self._woken = False

    async def _record_queued(self) -> None:
        while self._queue:
            item = self._queue.pop(0)
            to_deliver = await workflow.execute_activity(
                RECORD_REGISTRATION_EVENT, item, start_to_close_timeout=timedelta(seconds=10),
                retry_policy=RECORD_RETRY,
            )
            self._recorded_seq = item.event.seq
            if to_deliver:
                self._deliver(item.event)

    def _deliver(self, event: Event) -> None:
        self._deliveries.append(workflow.start_activity(
            DELIVER_NOTICES, event, start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=timedelta(days=2), retry_policy=DELIVERY_RETRY,
            heartbeat_timeout=timedelta(seconds=20),  # a dead worker is noticed then (activities.notify)
        ))


def _rejection(exc: ParleyError) -> ApplicationError:
    return ApplicationError(exc.message, type=type(exc).__name__, non_retryable=True)
