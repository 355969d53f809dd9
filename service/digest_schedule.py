"""The digest's Temporal Schedule (DESIGN §7): the charter's `[digest] cron`, in its calendar's time zone.

`ensure_digest_schedule` creates the schedule when it is missing and updates it when the cron, the time
zone or the task queue differ from the charter's; anything else about it (paused in the Temporal UI, say)
is left as it is. Two workers starting at once both try to create it: the one that finds it there already
checks it like any other. The server turns a cron into calendar specs (what the UI shows), so the
schedule's note keeps the cron as the charter says it, and that is what the check reads.

`follow_charter` is the worker's: it ensures the schedule at start, then looks at the charter in force in
the store every `FOLLOW_EVERY` and ensures it again when the digest's cron or zone changed (an adoption
through the API, the charter page or `parley charter adopt`, from any process, even while Temporal was
unreachable), and every `RECHECK_EVERY` regardless (a schedule deleted by hand comes back).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import Engine
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from domain.charter import Charter
from domain.cron import five_fields
from domain.digest_runs import DigestRequest
from service.digest import charter_in_force
from store.db import session
from workflows.digest import DigestWorkflow

log = logging.getLogger(__name__)
SCHEDULE_ID = "parley-digest"
CATCHUP_WINDOW = timedelta(hours=12)  # after a Temporal outage, a digest later than this is skipped
FOLLOW_EVERY = timedelta(seconds=15)
RECHECK_EVERY = timedelta(hours=1)
Change = Literal["created", "updated", "unchanged"]


def schedule_id(task_queue: str) -> str:
    """`parley-digest` for the default task queue; one per task queue otherwise (a deployment each)."""
    return SCHEDULE_ID if task_queue == "parley" else f"{SCHEDULE_ID}-{task_queue}"


@dataclass(frozen=True)
class DigestTiming:
    cron: str
    time_zone: str

    @classmethod
    def of(cls, charter: Charter) -> DigestTiming:
        return cls(cron=charter.digest.cron, time_zone=charter.calendar.timezone)

    @property
    def note(self) -> str:
        return f"Parley digest: cron {self.cron!r} in {self.time_zone} (the charter's digest.cron)"


def digest_schedule(timing: DigestTiming, task_queue: str, *, paused: bool = False) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(DigestWorkflow.run, DigestRequest(time_zone=timing.time_zone),
                                           id=schedule_id(task_queue), task_queue=task_queue),
        spec=ScheduleSpec(cron_expressions=[five_fields(timing.cron)], time_zone_name=timing.time_zone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP_WINDOW),
        state=ScheduleState(note=timing.note, paused=paused),
    )


async def ensure_digest_schedule(client: Client, timing: DigestTiming, task_queue: str) -> Change:
    """Make the schedule run the digest at `timing` on `task_queue`: created, updated or left unchanged."""
    sid = schedule_id(task_queue)
    try:
        await client.create_schedule(sid, digest_schedule(timing, task_queue))
        log.info("digest schedule %s created: %s", sid, timing.note)
        return "created"
    except ScheduleAlreadyRunningError:
        pass  # there already (another worker may have created it a moment ago): check it
    changed: list[bool] = []

    def update(current: ScheduleUpdateInput) -> ScheduleUpdate | None:
        schedule = current.description.schedule
        action = schedule.action
        if schedule.state.note == timing.note and schedule.spec.time_zone_name == timing.time_zone \
                and isinstance(action, ScheduleActionStartWorkflow) and action.task_queue == task_queue \
                and action.workflow == "DigestWorkflow":
            return None
        changed.append(True)
        return ScheduleUpdate(schedule=digest_schedule(timing, task_queue, paused=schedule.state.paused))

    await client.get_schedule_handle(sid).update(update)
    if changed:
        log.info("digest schedule %s updated: %s", sid, timing.note)
    return "updated" if changed else "unchanged"


async def follow_charter(client: Client, engine: Engine, fallback: Charter, task_queue: str, *,
                         every: timedelta | None = None) -> None:
    """Keep the schedule on the charter in force, for as long as the worker runs (cancel the task to stop)."""
    loop = asyncio.get_running_loop()
    pause = (every or FOLLOW_EVERY).total_seconds()
    ensured: DigestTiming | None = None
    checked_at = 0.0
    while True:
        try:
            timing = DigestTiming.of(await asyncio.to_thread(_charter_in_force, engine, fallback))
            if timing != ensured or loop.time() - checked_at >= RECHECK_EVERY.total_seconds():
                await ensure_digest_schedule(client, timing, task_queue)
                ensured, checked_at = timing, loop.time()
        except asyncio.CancelledError:
            raise
        except Exception:  # the store or Temporal is away: the next round tries again
            log.warning("could not bring the digest schedule up to date; will try again", exc_info=True)
        await asyncio.sleep(pause)


def _charter_in_force(engine: Engine, fallback: Charter) -> Charter:
    with session(engine) as s:
        return charter_in_force(s, fallback)
