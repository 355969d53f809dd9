"""What the workflow tests, the replay test and `make_histories` share.

The samples-python pattern: one time-skipping test server per session, a Worker per test on its own
task queue, and stand-in activities registered under the real names that remember what the workflow
handed them (the real activities are tested in tests/activities).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType, WorkflowExecutionStatus
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest, DescribeWorkflowExecutionResponse
from temporalio.client import WorkflowHandle, WorkflowHistory, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

import worker
from activities.names import DELIVER_NOTICES, RECORD_EVENT
from domain import caucus
from domain.calendar import BusinessCalendar
from domain.charter import Charter, parse_charter
from domain.model import Actor, Command, DisputeStart, DisputeView, Event, Party, Recorded, Role
from tests.harness.temporal import start_time_skipping
from workflows.dispute import DisputeWorkflow

ROOT = Path(__file__).resolve().parents[2]
HISTORIES = ROOT / "tests" / "histories"
DEFAULT = parse_charter((ROOT / "charters" / "default.toml").read_text())
FAST = parse_charter((ROOT / "charters" / "fast.toml").read_text())
CALENDAR: BusinessCalendar = DEFAULT.business_calendar()

# The same sandbox set-up as the production worker.
RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(*worker.PASSTHROUGH)
)


start_environment = start_time_skipping  # one time-skipping test server (the installed binary)


# --- people ------------------------------------------------------------------------------------

DANA = Party(email="dana@corp.example", name="Dana Direct", channel="direct")
PAT = Party(email="pat@partner.example", name="Pat Partner", channel="partner", partner_org="Resellers Inc")
FILER = Actor(email=DANA.email, role=Role.rep)
OTHER = Actor(email=PAT.email, role=Role.rep)
STRANGER = Actor(email="sam@corp.example", role=Role.rep)
MEDIATOR = Actor(email=DEFAULT.routing.default_mediator, role=Role.mediator)
MEDIATOR2 = Actor(email="mediator2@example.com", role=Role.mediator)
EXEC = Actor(email=DEFAULT.routing.executive, role=Role.executive)
BACKUP = Actor(email=DEFAULT.routing.backup_executive or "", role=Role.executive)
AUDITOR = Actor(email="audrey@corp.example", role=Role.auditor)
ADMIN = Actor(email="root@corp.example", role=Role.admin)

CRITERIA = {
    "win_probability": {"direct": 0.4, "partner": 0.7},
    "lifetime_value": {"direct": 120000, "partner": 90000},
    "strategic_fit": {"direct": 3, "partner": 4},
}  # recommends partner
SPLIT_70 = {"owner": "direct", "credit_split": {"direct": 70, "partner": 30}}
SPLIT_75 = {"owner": "direct", "credit_split": {"direct": 75, "partner": 25}}
PARTNER_60 = {"owner": "partner", "credit_split": {"direct": 40, "partner": 60}, "terms": "Partner leads"}
RATIONALE = "The partner registered the deal first and ran the evaluation."


# --- stand-in activities -------------------------------------------------------------------------

class Recorder:
    """Stand-ins for the store and notification activities, keyed by workflow id. A test can make
    them fail: the store for the first attempts at some events, Slack for as long as it is down."""

    def __init__(self) -> None:
        self.recorded: dict[str, list[Recorded]] = defaultdict(list)
        self.delivered: dict[str, list[Event]] = defaultdict(list)
        self.record_attempts: list[tuple[int, int]] = []  # (seq, attempt)
        self.store_fails_first: dict[int, int] = {}  # seq -> how many attempts fail
        self.slack_down = False

    @activity.defn(name=RECORD_EVENT)
    async def record_event(self, item: Recorded) -> None:
        attempt = activity.info().attempt
        self.record_attempts.append((item.event.seq, attempt))
        if attempt <= self.store_fails_first.get(item.event.seq, 0):
            raise RuntimeError("the store is unavailable")  # transient: retried
        self.recorded[activity.info().workflow_id or ""].append(item)

    @activity.defn(name=DELIVER_NOTICES)
    async def deliver_notices(self, event: Event) -> None:
        if self.slack_down:
            raise RuntimeError("Slack is down")
        self.delivered[activity.info().workflow_id or ""].append(event)


# --- the harness ---------------------------------------------------------------------------------

Handle = WorkflowHandle[Any, DisputeView]


@dataclass
class Harness:
    env: WorkflowEnvironment
    task_queue: str
    recorder: Recorder = field(default_factory=Recorder)
    handles: dict[str, Handle] = field(default_factory=dict)  # label -> handle, in filing order

    # time ----------------------------------------------------------------------------------------

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def sleep(self, **kwargs: float) -> None:
        await self.env.sleep(timedelta(**kwargs))

    async def sleep_until(self, at: datetime) -> None:
        now = await self.now()
        assert at > now, f"{at} is in the test server's past ({now})"
        await self.env.sleep(at - now)

    # filing and acting ---------------------------------------------------------------------------

    async def file(self, label: str = "dispute", charter: Charter = DEFAULT, absences: list[Any] | None = None,
                   **filing: Any) -> Handle:
        dispute_id = f"D-{uuid.uuid4().hex[:12]}"
        start = DisputeStart.model_validate({
            "id": dispute_id,
            "filing": {
                "title": "Overlap on Acme renewal", "conflict_type": "registration_overlap", "account": "Acme",
                "registration_ref": "REG-1", "deal_value": 120_000, "region": "AMER",
                "description": "Both sides claim the renewal.", "counterparty_email": PAT.email,
                "partner_org": "Resellers Inc", **filing,
            },
            "filer": DANA, "counterparty": PAT,
            "mediator": charter.routing.mediator_for("AMER", None), "executive": charter.routing.executive,
            "backup_executive": charter.routing.backup_executive, "charter": charter,
            **({"absences": absences} if absences else {}),  # domain.away: known at filing
        })
        handle: Handle = await self.env.client.start_workflow(
            DisputeWorkflow.run, start, id=dispute_id, task_queue=self.task_queue
        )
        assert label not in self.handles
        self.handles[label] = handle
        for _ in range(250):  # the filing is recorded before the caller looks at it
            if self.recorded(handle):
                break
            await asyncio.sleep(0.02)
        await self.settle(handle)
        return handle

    async def act(self, handle: Handle, actor: Actor, action: str, *, reassign_to: Actor | None = None,
                  update_id: str | None = None, precedents: list[dict[str, Any]] | None = None,
                  **fields: Any) -> DisputeView:
        cmd = Command.model_validate({"actor": actor, "act": {"action": action, **fields},
                                      "reassign_to": reassign_to, "precedents": precedents})
        return await handle.execute_update(DisputeWorkflow.act, cmd, id=update_id)

    async def refused(self, handle: Handle, actor: Actor, action: str, error: str, **fields: Any) -> str:
        """Send an action that the validator must reject with `error`; returns the update id."""
        update_id = f"refused-{uuid.uuid4().hex[:8]}"
        try:
            await self.act(handle, actor, action, update_id=update_id, **fields)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            assert isinstance(cause, ApplicationError), cause
            assert cause.type == error, (cause.type, cause.message)
            assert cause.non_retryable
        else:
            raise AssertionError(f"{actor.email} {action} was accepted; expected {error}")
        return update_id

    async def view(self, handle: Handle) -> DisputeView:
        return await handle.query(DisputeWorkflow.view)

    # what the activities saw ---------------------------------------------------------------------

    def recorded(self, handle: Handle) -> list[Recorded]:
        return self.recorder.recorded[handle.id]

    def events(self, handle: Handle) -> list[Event]:
        return [r.event for r in self.recorded(handle)]

    def actions(self, handle: Handle) -> list[str]:
        return [e.action for e in self.events(handle)]

    def event(self, handle: Handle, action: str) -> Event:
        (found,) = [e for e in self.events(handle) if e.action == action]
        return found

    async def finished(self, handle: Handle) -> DisputeView:
        """The result of a workflow that is closing, after checking its audit trail.

        Waiting for a result normally lets the test server skip time, and it was seen to jump days or
        years ahead (to timers the closing workflow no longer has); tests move the clock with `sleep`."""
        with self.env.auto_time_skipping_disabled():
            view = await handle.result()
        self.check_audit_trail(handle, view)
        return view

    def check_audit_trail(self, handle: Handle, view: DisputeView) -> None:
        """Every state change is exactly one event, numbered 1..n, recorded once and in order; the
        notifications went out for each event once."""
        events = self.events(handle)
        assert [e.seq for e in events] == list(range(1, len(events) + 1)), [e.seq for e in events]
        assert view.last_seq == len(events)
        assert all(e.dispute_id == handle.id for e in events)
        assert all(e.charter_version == view.charter_version for e in events)
        times = [e.at for e in events]
        assert times == sorted(times)
        assert sorted(e.seq for e in self.recorder.delivered[handle.id]) == [e.seq for e in events]
        for item in self.recorded(handle):
            if caucus.is_caucus_event(item.event.action, item.event.payload):  # never the channel
                assert all(n.recipient != "channel" for n in item.notices), item.notices
            else:
                assert item.notices[0].recipient == "channel"
            assert item.view.last_seq >= item.event.seq

    async def history(self, handle: Handle) -> WorkflowHistory:
        return await handle.fetch_history()

    async def settle(self, handle: Handle) -> DisputeView:
        """The view once every event the workflow produced has reached the record activity (a time
        skip can return while the last timer's activity is still running)."""
        for _ in range(200):
            view = await self.view(handle)
            if len(self.recorded(handle)) >= view.last_seq:
                return view
            await asyncio.sleep(0.02)
        raise AssertionError(f"{handle.id}: events were not recorded")

    async def quiet(self, handle: Handle) -> WorkflowHistory:
        """The history once nothing is in flight: no activity (notifications run in the background)
        and no workflow task pending."""
        for _ in range(200):
            raw = await raw_description(handle)
            if not raw.pending_activities and not raw.HasField("pending_workflow_task"):
                first = await handle.fetch_history()
                await asyncio.sleep(0.05)
                second = await handle.fetch_history()
                if len(first.events) == len(second.events):
                    return second
            await asyncio.sleep(0.02)
        raise AssertionError(f"{handle.id}: the workflow did not go quiet")

    async def close(self) -> None:
        """Terminate what a test left running, so that later time skips do not wake it."""
        for handle in self.handles.values():
            if (await raw_description(handle)).workflow_execution_info.status == RUNNING:
                await handle.terminate("test finished")


RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


async def raw_description(handle: Handle) -> DescribeWorkflowExecutionResponse:
    """The description as the server sends it. The time-skipping server answers an unset Datetime search
    attribute (ParleyDueAt once a dispute closes) with a null payload, which `handle.describe()` cannot
    decode; the dev server and clusters answer without it."""
    return await handle._client.workflow_service.describe_workflow_execution(DescribeWorkflowExecutionRequest(
        namespace=handle._client.namespace, execution=WorkflowExecution(workflow_id=handle.id)))


@asynccontextmanager
async def harness(env: WorkflowEnvironment) -> AsyncIterator[Harness]:
    h = Harness(env=env, task_queue=f"tq-{uuid.uuid4()}")
    async with Worker(
        env.client, task_queue=h.task_queue, workflows=[DisputeWorkflow],
        activities=[h.recorder.record_event, h.recorder.deliver_notices], workflow_runner=RUNNER,
    ):
        try:
            yield h
        finally:
            await h.close()


# --- history helpers -----------------------------------------------------------------------------

def accepted_update_ids(history: WorkflowHistory) -> list[str]:
    return [
        e.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]


def history_text(history: WorkflowHistory) -> str:
    """The whole history as text, to search for an update id."""
    return "\n".join(str(e) for e in history.events)


# --- paths whose histories are kept for the replay test ------------------------------------------

F = TypeVar("F", bound=Callable[[Harness], Coroutine[Any, Any, None]])


def keeps_history(name: str) -> Callable[[F], F]:
    """Marks a workflow test as a lifecycle path: `make_histories` runs it and saves the history of
    every dispute it filed under tests/histories/<name>[-<label>].json."""

    def mark(fn: F) -> F:
        fn.history_name = name  # type: ignore[attr-defined]
        return fn

    return mark


def history_files(name: str, h: Harness) -> dict[str, Handle]:
    if len(h.handles) == 1:
        return {f"{name}.json": next(iter(h.handles.values()))}
    return {f"{name}-{label}.json": handle for label, handle in h.handles.items()}


# --- business time -------------------------------------------------------------------------------

H = 3600.0


def business(start: datetime, seconds: float) -> datetime:
    """The instant `seconds` of business time after `start`, on the default charter's calendar."""
    return CALENDAR.add(start, seconds)


def assert_at(actual: datetime, expected: datetime) -> None:
    """A timer-driven event happens at its due instant: never early, and within seconds (the server
    hands a timer back a few milliseconds after its instant; allow for a slow machine)."""
    assert expected <= actual < expected + timedelta(seconds=5), (actual, expected)
