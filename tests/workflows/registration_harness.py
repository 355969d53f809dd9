"""The RegistrationWorkflow's side of the workflow harness: a worker on its own task queue with
stand-in activities under the real names (they remember what the workflow handed them), on the
session's time-skipping server (`env` of conftest.py, tests/workflows/harness.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.names import DELIVER_NOTICES, RECORD_REGISTRATION_EVENT
from domain.charter import Charter
from domain.model import Actor, Event
from domain.registration_lifecycle import (
    OverlapNote,
    RegistrationCommand,
    RegistrationRecorded,
    RegistrationSnapshot,
    RegistrationStart,
)
from domain.registration_rules import routed_mediators
from tests.workflows.harness import DEFAULT, RUNNER, H
from workflows.registration import RegistrationWorkflow

RegHandle = WorkflowHandle[Any, RegistrationSnapshot]
PARTNER_OWNER = "pat@partner.example"
DIRECT_OWNER = "dana@corp.example"
APPROVAL_SLA = 16 * H  # "2d" on the default charter: two 8-hour business days


class RegRecorder:
    def __init__(self) -> None:
        self.recorded: dict[str, list[RegistrationRecorded]] = defaultdict(list)
        self.delivered: dict[str, list[Event]] = defaultdict(list)

    @activity.defn(name=RECORD_REGISTRATION_EVENT)
    async def record_registration_event(self, item: RegistrationRecorded) -> bool:
        self.recorded[activity.info().workflow_id or ""].append(item)
        return bool(item.notices)

    @activity.defn(name=DELIVER_NOTICES)
    async def deliver_notices(self, event: Event) -> None:
        self.delivered[activity.info().workflow_id or ""].append(event)


@dataclass
class RegHarness:
    env: WorkflowEnvironment
    task_queue: str
    recorder: RegRecorder = field(default_factory=RegRecorder)
    handles: dict[str, RegHandle] = field(default_factory=dict)

    async def now(self) -> datetime:
        return await self.env.get_current_time()

    async def sleep_until(self, at: datetime) -> None:
        now = await self.now()
        assert at > now, f"{at} is in the test server's past ({now})"
        await self.env.sleep(at - now)

    async def register(self, label: str = "registration", *, channel: str = "partner", charter: Charter = DEFAULT,
                       status: str | None = None, submitted_at: datetime | None = None,
                       overlaps: list[OverlapNote] | None = None, **fields: Any) -> RegHandle:
        """Start the workflow as the service does once it has recorded event 1 ("submitted")."""
        registration_id = f"REG-{uuid.uuid4().hex[:8].upper()}"
        region = fields.pop("region", "EMEA")
        snapshot = RegistrationSnapshot.model_validate({
            "id": registration_id, "channel": channel, "partner_org": "Resellers Inc" if channel == "partner" else None,
            "owner_email": PARTNER_OWNER if channel == "partner" else DIRECT_OWNER, "account": "Globex Corp",
            "title": "Globex data platform", "region": region,
            "status": status or ("pending" if channel == "partner" else "approved"),
            "submitted_at": submitted_at or await self.now(), "last_seq": 1, **fields,
        })
        start = RegistrationStart(registration=snapshot, charter=charter,
                                  mediators=list(routed_mediators(charter.routing, region, None)),
                                  executive=charter.routing.executive, overlaps=overlaps or [])
        handle: RegHandle = await self.env.client.start_workflow(
            RegistrationWorkflow.run, start, id=registration_id, task_queue=self.task_queue)
        self.handles[label] = handle
        await self.settle(handle)
        return handle

    async def act(self, handle: RegHandle, actor: Actor, action: str, **fields: Any) -> RegistrationSnapshot:
        cmd = RegistrationCommand.model_validate({"actor": actor, "act": {"action": action, **fields}})
        return await handle.execute_update(RegistrationWorkflow.act, cmd)

    async def refused(self, handle: RegHandle, actor: Actor, action: str, error: str, **fields: Any) -> str:
        """An action the validator must refuse with `error`; returns its message."""
        try:
            await self.act(handle, actor, action, **fields)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            assert isinstance(cause, ApplicationError) and cause.type == error, cause
            assert cause.non_retryable
            return cause.message
        raise AssertionError(f"{actor.email} {action} was accepted; expected {error}")

    async def view(self, handle: RegHandle) -> RegistrationSnapshot:
        return await handle.query(RegistrationWorkflow.view)

    def recorded(self, handle: RegHandle) -> list[RegistrationRecorded]:
        return self.recorder.recorded[handle.id]

    def events(self, handle: RegHandle) -> list[Event]:
        return [r.event for r in self.recorded(handle)]

    def actions(self, handle: RegHandle) -> list[str]:
        return [e.action for e in self.events(handle)]

    def item(self, handle: RegHandle, action: str) -> RegistrationRecorded:
        (found,) = [r for r in self.recorded(handle) if r.event.action == action]
        return found

    def told(self, handle: RegHandle, action: str) -> set[tuple[str, str]]:
        return {(n.recipient, n.kind) for n in self.item(handle, action).notices}

    async def settle(self, handle: RegHandle) -> RegistrationSnapshot:
        """The registration once every event the workflow produced has reached the record activity."""
        for _ in range(250):
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                return await self.finished(handle)
            snapshot = await self.view(handle)
            if 1 + len(self.recorded(handle)) >= snapshot.last_seq:
                return snapshot
            await asyncio.sleep(0.02)
        raise AssertionError(f"{handle.id}: events were not recorded")

    async def finished(self, handle: RegHandle) -> RegistrationSnapshot:
        """The result of a closing workflow, after checking its trail: events 2..n, in order, once each."""
        with self.env.auto_time_skipping_disabled():
            result = await handle.result()
        events = self.events(handle)
        assert [e.seq for e in events] == list(range(2, len(events) + 2))
        assert result.last_seq == len(events) + 1
        assert [e.at for e in events] == sorted(e.at for e in events)
        told = [r.event.seq for r in self.recorded(handle) if r.notices]
        assert sorted(e.seq for e in self.recorder.delivered[handle.id]) == told
        return result

    async def close(self) -> None:
        for handle in self.handles.values():
            if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                await handle.terminate("test finished")


@asynccontextmanager
async def registration_harness(env: WorkflowEnvironment) -> AsyncIterator[RegHarness]:
    h = RegHarness(env=env, task_queue=f"tq-reg-{uuid.uuid4()}")
    async with Worker(env.client, task_queue=h.task_queue, workflows=[RegistrationWorkflow],
                      activities=[h.recorder.record_registration_event, h.recorder.deliver_notices],
                      workflow_runner=RUNNER):
        try:
            yield h
        finally:
            await h.close()
