"""The digest's Temporal Schedule on the dev server: the worker creates it from the charter in force, a run it
starts reads the schedule's action time, an adopted charter updates it (a paused schedule stays paused),
and two workers racing to create it agree. On SQLite and PostgreSQL (the charter in force is the store's)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    ScheduleDescription,
    ScheduleHandle,
    ScheduleOverlapPolicy,
    ScheduleRange,
)
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from domain.digest_runs import DigestReport, digest_key
from service import charters, digest_schedule
from service.digest_schedule import DigestTiming, ensure_digest_schedule, schedule_id
from settings import Settings
from store.db import make_engine, session
from tests.harness.paths import FAST_CHARTER
from tests.harness.people import seed_people
from tests.harness.stack import make_settings
from tests.harness.temporal import target_of
from tests.harness.waiting import eventually
from worker import run_worker


@pytest.fixture
def settings(db_url: str, tmp_path: Path, temporal_env: WorkflowEnvironment) -> Settings:
    """A deployment of its own (its task queue names its schedule) over a store seeded with the demo people."""
    engine = make_engine(db_url)
    seed_people(engine)
    engine.dispose()
    return make_settings(db_url, tmp_path, target_of(temporal_env))


@asynccontextmanager
async def worker_running(settings: Settings, client: Client) -> AsyncIterator[ScheduleHandle]:
    """`run_worker` (as `parley worker` runs it) until the block ends; yields its schedule, deleted afterwards."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(settings, stop))
    handle = client.get_schedule_handle(schedule_id(settings.task_queue))
    try:
        yield handle
    finally:
        stop.set()
        await task
        try:
            await handle.delete()
        except RPCError:
            pass  # never created


async def described(handle: ScheduleHandle) -> ScheduleDescription | None:
    try:
        return await handle.describe()
    except RPCError:
        return None  # not there (yet)


def calendar_of(description: ScheduleDescription) -> tuple[Sequence[ScheduleRange], ...]:
    [calendar] = description.schedule.spec.calendars  # the server's form of the cron
    return calendar.minute, calendar.hour, calendar.day_of_week


async def test_the_worker_creates_the_schedule_and_its_run_reads_the_action_time(
        settings: Settings, temporal_env: WorkflowEnvironment) -> None:
    client = temporal_env.client
    async with worker_running(settings, client) as handle:
        description = await eventually(lambda: described(handle), timeout=30, what="the worker's digest schedule")
        schedule = description.schedule
        assert schedule.state.note == "Parley digest: cron '0 8 * * MON' in UTC (the charter's digest.cron)"
        assert schedule.spec.time_zone_name == "UTC"  # fast.toml's calendar
        assert calendar_of(description) == ((ScheduleRange(0),), (ScheduleRange(8),), (ScheduleRange(1),))
        assert schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        action = schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == "DigestWorkflow" and action.task_queue == settings.task_queue

        await handle.trigger()  # what 08:00 on Monday does
        acted = await eventually(lambda: _first_action(handle), timeout=30, what="the schedule to start a run")
        report = await client.get_workflow_handle(acted[0], result_type=DigestReport).result()
    assert report.at == acted[1].replace(microsecond=0)  # the action time (to the second, as search attributes keep it)
    assert report.key == digest_key(acted[1], "UTC")
    assert [s.recipient for s in report.sent] == ["exec.backup@example.com", "exec@example.com",
                                                  "mediator2@example.com", "mediator@example.com",
                                                  "root@corp.example"]
    assert report.by_medium() == {"outbox": [s.recipient for s in report.sent]}  # no Slack, no SMTP here


async def _first_action(handle: ScheduleHandle) -> tuple[str, datetime] | None:
    """The workflow id and the action time of the schedule's first run, once there is one."""
    description = await handle.describe()
    for taken in description.info.recent_actions:
        if isinstance(taken.action, ScheduleActionExecutionStartWorkflow):
            return taken.action.workflow_id, taken.scheduled_at
    return None


async def test_an_adopted_charter_updates_the_schedule_and_a_pause_is_kept(
        settings: Settings, temporal_env: WorkflowEnvironment, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(digest_schedule, "FOLLOW_EVERY", timedelta(seconds=0.2))  # look at the store more often
    client = temporal_env.client
    async with worker_running(settings, client) as handle:
        await eventually(lambda: described(handle), timeout=30, what="the worker's digest schedule")
        await handle.pause(note="paused for the holidays")
        text = FAST_CHARTER.read_text().replace('cron = "0 8 * * MON"', 'cron = "30 6 * * TUE,THU"') \
            .replace('timezone = "UTC"', 'timezone = "Europe/Berlin"')
        engine = make_engine(settings.database_url)
        try:
            with session(engine) as s:
                adoption, new = charters.adopt(s, text, by="root@corp.example", reason="digest twice a week")
        finally:
            engine.dispose()
        assert new

        async def updated() -> ScheduleDescription | None:
            found = await described(handle)
            return found if found is not None and "30 6 * * TUE,THU" in (found.schedule.state.note or "") else None

        description = await eventually(updated, timeout=30, what="the schedule to follow the adopted charter")
    assert description.schedule.spec.time_zone_name == "Europe/Berlin"
    assert calendar_of(description) == ((ScheduleRange(30),), (ScheduleRange(6),),
                                        (ScheduleRange(2), ScheduleRange(4)))
    assert description.schedule.state.paused  # an operator's pause survives the charter change


async def test_two_workers_racing_to_create_it_agree(temporal_env: WorkflowEnvironment) -> None:
    client, queue = temporal_env.client, f"race-{uuid.uuid4().hex[:8]}"
    timing = DigestTiming(cron="0 8 * * MON", time_zone="America/New_York")
    try:
        results = await asyncio.gather(*(ensure_digest_schedule(client, timing, queue) for _ in range(2)))
        assert sorted(results) == ["created", "unchanged"]
        assert await ensure_digest_schedule(client, timing, queue) == "unchanged"
        later = DigestTiming(cron="0 9 * * MON", time_zone="America/New_York")
        assert await ensure_digest_schedule(client, later, queue) == "updated"
        description = await client.get_schedule_handle(schedule_id(queue)).describe()
        assert calendar_of(description)[1] == (ScheduleRange(9),)
    finally:
        await client.get_schedule_handle(schedule_id(queue)).delete()


def test_each_deployment_has_its_own_schedule() -> None:
    assert schedule_id("parley") == "parley-digest"
    assert schedule_id("eu") == "parley-digest-eu"
