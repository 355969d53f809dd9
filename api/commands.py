"""Sending work to the dispute workflows: filing starts one, every action is a validated update."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import NotFound, ParleyError, Unavailable, WrongState, from_type
from domain.model import Command, DisputeStart, DisputeView
from workflows.dispute import DisputeWorkflow


async def file_dispute(client: Client, task_queue: str, start: DisputeStart) -> DisputeView:
    """Start the workflow and return once the 'filed' event is recorded (read-your-writes)."""
    operation = WithStartWorkflowOperation(
        DisputeWorkflow.run, start, id=start.id, task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
    )
    try:
        view: DisputeView = await _answered(client.execute_update_with_start_workflow(
            DisputeWorkflow.settled, start_workflow_operation=operation
        ), start.id)
    except RPCError as exc:
        if exc.status == RPCStatusCode.ALREADY_EXISTS:
            raise WrongState(f"dispute {start.id} already exists") from exc
        raise Unavailable(f"Temporal refused the filing: {exc.message}") from exc
    return view


async def act(client: Client, dispute_id: str, cmd: Command) -> DisputeView:
    handle = client.get_workflow_handle_for(DisputeWorkflow.run, dispute_id)
    try:
        view: DisputeView = await _answered(handle.execute_update(DisputeWorkflow.act, cmd), dispute_id)
    except WorkflowUpdateFailedError as exc:
        raise _domain_error(exc.cause) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            # "workflow execution already completed", or "workflow update was aborted by closing
            # workflow" while it finishes: the dispute has closed (callers found it in the store first)
            if "completed" in exc.message or "closing" in exc.message:
                raise WrongState(f"dispute {dispute_id} is closed; no further actions are possible") from exc
            raise NotFound(f"no dispute {dispute_id}") from exc
        raise Unavailable(f"Temporal refused the action: {exc.message}") from exc
    return view


T = TypeVar("T")
ANSWER_WITHIN_S = 20.0


async def _answered(call: Awaitable[T], dispute_id: str) -> T:
    """Waits for the workflow's answer, but not forever: with no worker running, an update waits."""
    try:
        return await asyncio.wait_for(call, ANSWER_WITHIN_S)
    except TimeoutError as exc:
        raise Unavailable(
            f"the workflow for {dispute_id} did not answer within {ANSWER_WITHIN_S:.0f}s (is a worker running?); "
            "the request may still be applied, so check the dispute before retrying"
        ) from exc


def _domain_error(cause: BaseException | None) -> ParleyError | BaseException:
    if isinstance(cause, ApplicationError):
        error = from_type(cause.type, cause.message)
        if error is not None:
            return error
    return cause or RuntimeError("update failed")
