"""The relay of a deliveries worker (PARLEY_WORKER_ROLE=deliveries): what the workflows' workers recorded and
left to it, delivered without a Temporal activity per event.

With the roles split, `record_event` (and `record_registration_event`) commit an event's outbox rows and
webhook deliveries marked for the relay (store.relay) and start nothing: the workflow goes on without
scheduling a delivery, so a filing costs the Temporal server and the workflows' worker what it costs with
nothing to deliver. The relay, in a process of its own at a lower CPU priority, looks for that work every
`every_s` (at once again while it finds some):

- webhook deliveries are taken once each and get their first tries as any others do
  (`DeliveryStarter.start_claimed`): a failed one goes to a `WebhookRetryWorkflow`, one lost with this
  worker to the sweep;
- an event's notices are held for a lease (`lease_s`, PARLEY_WORKER_RELAY_LEASE_S: longer than an attempt,
  which SMTP's and Slack's time-outs bound) and sent as `deliver_notices` sends them, at most
  `concurrency` events at once. Whatever that attempt leaves undone (Slack or the SMTP server in trouble, a
  channel's turn not yet come) is handed to a `NoticeDeliveryWorkflow`, whose `deliver_notices` activity
  retries it with back-off; should even that hand-over fail, the lease runs out and a relay tries again.
  A relay that died mid-event leaves its lease to run out too: the next attempt finds what was sent
  marked sent (`deliver_notices` marks each row in its own commit, and looks in Slack for a post whose
  outcome it never learned), so nothing is lost and nothing is sent twice beyond what a killed activity
  would send.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from datetime import timedelta

from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.notify import NotifyActivities
from activities.webhooks import DeliveryStarter
from domain.model import Event
from store import relay
from store.db import session
from store.tables import utcnow
from workflows.notice_retries import NoticeDeliveryWorkflow, notice_delivery_id

log = logging.getLogger(__name__)

EVERY_S = 0.2  # how often an idle relay looks for work
BATCH = 50  # webhook deliveries taken at a time
CONCURRENCY = 8  # events delivered at once


class OutboxRelay:
    def __init__(self, engine: Engine, notify: NotifyActivities, starter: DeliveryStarter, client: Client,
                 task_queue: str, executor: concurrent.futures.Executor, *, every_s: float = EVERY_S,
                 lease_s: float = 300.0, concurrency: int = CONCURRENCY) -> None:
        self.engine, self.notify, self.starter, self.client = engine, notify, starter, client
        self.task_queue, self.executor = task_queue, executor
        self.every_s, self.lease = every_s, timedelta(seconds=lease_s)
        self.concurrency = concurrency
        self._in_flight: set[asyncio.Task[None]] = set()
        self._done: list[tuple[str, int]] = []  # events delivered or handed over, to release

    async def run(self) -> None:
        """Until cancelled; what it delivered by then is released on the way out."""
        try:
            await self._loop()
        finally:
            if self._done:
                done, self._done = self._done, []
                await asyncio.shield(asyncio.get_running_loop().run_in_executor(self.executor, self._release, done))

    async def _loop(self) -> None:
        while True:
            try:
                found = await self.turn()
            except Exception:  # the store or Temporal in trouble: look again shortly
                log.exception("the relay could not look for deliveries; it looks again shortly")
                found = False
            if not found:
                await asyncio.sleep(self.every_s)  # what is done meanwhile is released by the next turn
            elif len(self._in_flight) >= self.concurrency:
                await asyncio.wait(self._in_flight, return_when=asyncio.FIRST_COMPLETED)

    async def turn(self) -> bool:
        """Release what was delivered, take what is due now; whether anything was due."""
        done, self._done = self._done, []
        room = self.concurrency - len(self._in_flight)
        try:
            hooks, events = await asyncio.get_running_loop().run_in_executor(self.executor, self._exchange, done, room)
        except BaseException:
            self._done = done + self._done  # released by a later turn
            raise
        for event in events:
            task = asyncio.create_task(self._deliver(event))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return bool(hooks or events)

    async def settled(self) -> None:
        """Wait until the events taken so far are delivered or handed over (the tests)."""
        while self._in_flight:
            await asyncio.wait(set(self._in_flight))

    def _exchange(self, done: list[tuple[str, int]], room: int) -> tuple[int, list[Event]]:
        """One write transaction a turn, and none while idle: SQLite has one writer, the workflows' included."""
        now = utcnow()
        with session(self.engine) as s:
            due = relay.events_due(s, now, room) if room > 0 else []
            hooks = relay.webhooks_due(s, now, BATCH)
        if not (done or due or hooks):
            return 0, []
        with session(self.engine, write=True) as s:
            for dispute_id, seq in done:
                relay.release_event(s, dispute_id, seq)
            taken = [(d, w) for d, w, untried in hooks if relay.claim_webhook(s, d) and untried]
            claimed = [(d, seq) for d, seq in due if relay.claim_event(s, d, seq, now, now + self.lease)]
            for dispute_id, seq in claimed:  # chosen here, deliver_notices finds none to choose: one write fewer
                self.notify.decide_media(s, dispute_id, seq)
        self.starter.start_claimed(taken)
        with session(self.engine) as s:  # the claimed events at once, not one query each
            events = relay.recorded_events(s, claimed)
        for dispute_id, seq in claimed:
            if (dispute_id, seq) not in events:
                log.error("the notices of %s event %d have no recorded event; they stay in the outbox", dispute_id,
                          seq)
        return len(hooks), [events[key] for key in claimed if key in events]

    async def _deliver(self, event: Event) -> None:
        loop = asyncio.get_running_loop()
        try:
            left = await loop.run_in_executor(self.executor, self._attempt, event)
            if left:  # something is left: Temporal retries it from here
                await self._hand_over(event)
            self._done.append((event.dispute_id, event.seq))  # released by the next turn
        except Exception:  # held until the lease runs out, then tried again
            log.exception("the notices of %s event %d were neither delivered nor handed over; a relay tries "
                          "again once its lease has run out", event.dispute_id, event.seq)

    def _attempt(self, event: Event) -> bool:
        """Deliver the event's notices, whose media the claim chose; whether something is left to retry."""
        try:
            self.notify.deliver_decided(event)
        except Exception as exc:
            log.info("the notices of %s event %d go to Temporal: %s", event.dispute_id, event.seq, exc)
            return True
        return False

    async def _hand_over(self, event: Event) -> None:
        try:
            await self.client.start_workflow(NoticeDeliveryWorkflow.run, event, task_queue=self.task_queue,
                                              id=notice_delivery_id(event.dispute_id, event.seq))
        except WorkflowAlreadyStartedError:
            pass  # handed over already: its activity delivers what is left

    def _release(self, done: list[tuple[str, int]]) -> None:
        with session(self.engine, write=True) as s:
            for dispute_id, seq in done:
                relay.release_event(s, dispute_id, seq)
