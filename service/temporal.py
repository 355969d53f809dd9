"""Sending work to the dispute workflows: filing starts one, every action is a validated update."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.errors import NotFound, ParleyError, Unavailable, WrongState, from_type
from domain.model import Command, DisputeStart, DisputeView
from workflows.dispute import DisputeWorkflow
from workflows.search import memo_of

T = TypeVar("T")
ANSWER_WITHIN_S = 20.0  # the default; the API takes `Settings.answer_within_s` (PARLEY_ANSWER_WITHIN_S)


async def file_dispute(client: Client, task_queue: str, start: DisputeStart, update_id: str | None = None, *,
                       within: float = ANSWER_WITHIN_S) -> DisputeView:
    """Start the workflow and return once the 'filed' event is recorded (read-your-writes).

    With an `update_id` (an `Idempotency-Key`'s) the filing may be a retry, and `start.id` is derived from
    the key: a running workflow of that id is joined instead of refused, a closed one is never started
    again, and the `settled` update of that id answers what it answered the first time.
    """
    retry = update_id is not None
    operation = WithStartWorkflowOperation(
        DisputeWorkflow.run, start, id=start.id, task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING if retry else WorkflowIDConflictPolicy.FAIL,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE if retry else WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        memo=memo_of(start.filing.title, start.filing.account),
    )
    try:
        view: DisputeView = await _answered(client.execute_update_with_start_workflow(
            DisputeWorkflow.settled, start_workflow_operation=operation, id=update_id,
        ), start.id, within)
    except WorkflowAlreadyStartedError as exc:  # what update-with-start raises for a taken id
        raise WrongState(f"dispute {start.id} already exists") from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.ALREADY_EXISTS:
            raise WrongState(f"dispute {start.id} already exists") from exc
        raise Unavailable(f"Temporal refused the filing ({exc.message}); it may still be applied") from exc
    finally:
        _forget_start_error(operation)
    if retry and (view.filed_by, view.title, view.description) != (
            start.filer.email, start.filing.title, start.filing.description):
        # The derived id is 32 bits, like a random one: it joined another filing's workflow (which the
        # `settled` update leaves as it was). Nothing was filed.
        raise WrongState(f"dispute id {start.id} is taken; file again with another Idempotency-Key")
    return view


async def act(client: Client, dispute_id: str, cmd: Command, update_id: str | None = None, *,
              within: float = ANSWER_WITHIN_S) -> DisputeView:
    """`update_id` names the update: Temporal applies an update id once per workflow (a new one when None),
    and answers a repeated id with the first outcome, even after the workflow has closed."""
    handle = client.get_workflow_handle_for(DisputeWorkflow.run, dispute_id)
    try:
        view: DisputeView = await _answered(handle.execute_update(DisputeWorkflow.act, cmd, id=update_id),
                                            dispute_id, within)
    except WorkflowUpdateFailedError as exc:
        raise _domain_error(exc.cause) from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            # "workflow execution already completed", or "workflow update was aborted by closing
            # workflow" while it finishes: the dispute has closed (callers found it in the store first)
            if "completed" in exc.message or "closing" in exc.message:
                raise WrongState(f"dispute {dispute_id} is closed; no further actions are possible") from exc
            raise NotFound(f"no dispute {dispute_id}") from exc
        raise Unavailable(f"Temporal refused the action ({exc.message}); it may still be applied") from exc
    return view


async def _answered(call: Awaitable[T], dispute_id: str, within: float) -> T:
    """Waits for the workflow's answer, but not forever: with no worker running, an update waits.

    Cancelled by the time limit, the SDK's update call raises `WorkflowUpdateRPCTimeoutOrCancelledError`
    (not the `TimeoutError` of `wait_for`); either means the same: no answer, and the work may still be
    applied later, when a worker takes it.
    """
    try:
        return await asyncio.wait_for(call, within)
    except (TimeoutError, RPCTimeoutOrCancelledError) as exc:
        raise Unavailable(
            f"the workflow for {dispute_id} did not answer within {within:g}s (is a worker running?); "
            "the request may still be applied"
        ) from exc


def _forget_start_error(operation: WithStartWorkflowOperation[Any, Any]) -> None:
    """The SDK also parks a failed start's error in the operation's handle future, which nothing here
    awaits; retrieve it, or asyncio logs "Future exception was never retrieved" for every 503."""
    future = getattr(operation, "_workflow_handle", None)
    if isinstance(future, asyncio.Future) and future.done() and not future.cancelled():
        future.exception()


def _domain_error(cause: BaseException | None) -> ParleyError | BaseException:
    if isinstance(cause, ApplicationError):
        error = from_type(cause.type, cause.message)
        if error is not None:
            return error
    return cause or RuntimeError("update failed")
