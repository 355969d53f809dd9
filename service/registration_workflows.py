"""Sending work to the registration workflows.

Every call is an update-with-start built from the stored row: a registration whose workflow is
running gets the update; one that has none yet (a direct opportunity imported from the CRM, whose
workflow would only wait) gets its workflow started from the row and then the update, once, however
many callers race (`USE_EXISTING`); one whose workflow has ended is refused (`REJECT_DUPLICATE`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import Session
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from domain.charter import Charter
from domain.errors import Unavailable, WrongState
from domain.model import Event
from domain.registration_lifecycle import OverlapNote, RegistrationSnapshot, RegistrationStart
from domain.registration_rules import routed_mediators
from service.temporal import _answered, _domain_error, _forget_start_error
from store.charters import charter_by_version
from store.tables import RegistrationRow
from workflows.registration import RegistrationWorkflow


def snapshot_of(row: RegistrationRow) -> RegistrationSnapshot:
    return RegistrationSnapshot(
        id=row.id, channel="partner" if row.channel == "partner" else "direct", partner_org=row.partner_org,
        owner_email=row.owner_email, account=row.account, title=row.title, region=row.region, segment=row.segment,
        status=row.status, submitted_at=row.submitted_at, approved_at=row.approved_at,
        protected_until=row.protected_until, decided_by=row.decided_by, reason=row.reason, won=row.won,
        last_seq=row.last_seq, updated_at=row.updated_at,
    )


def pinned_charter(session: Session, row: RegistrationRow, current: Charter) -> Charter:
    """The charter the registration was submitted under (the current one if the store lost it)."""
    return charter_by_version(session, row.charter_version) or current


def start_of(row: RegistrationRow, charter: Charter, overlaps: list[OverlapNote] | None = None,
             deliver: list[Event] | None = None) -> RegistrationStart:
    return RegistrationStart(
        registration=snapshot_of(row), charter=charter,
        mediators=list(routed_mediators(charter.routing, row.region, row.segment)),
        executive=charter.routing.executive, overlaps=overlaps or [], deliver=deliver or [],
    )


async def has_workflow(client: Client, registration_id: str, *, within: float) -> bool:
    """Whether the registration's workflow was ever started (a describe: no worker is involved)."""
    try:
        await asyncio.wait_for(client.get_workflow_handle(registration_id).describe(), within)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise Unavailable(f"Temporal did not describe {registration_id} ({exc.message})") from exc
    except TimeoutError as exc:
        raise Unavailable(f"Temporal did not describe {registration_id} within {within:g}s") from exc
    return True


async def send(client: Client, task_queue: str, start: RegistrationStart, update: Any, arg: Any = None, *,
               within: float, update_id: str | None = None) -> RegistrationSnapshot:
    """Run `update` (a RegistrationWorkflow update) on the registration's workflow, starting it first
    if it has none, and return the registration once the update's events are recorded."""
    registration_id = start.registration.id
    operation = WithStartWorkflowOperation(
        RegistrationWorkflow.run, start, id=registration_id, task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    try:
        snapshot: RegistrationSnapshot = await _answered(client.execute_update_with_start_workflow(
            update, args=[] if arg is None else [arg], start_workflow_operation=operation, id=update_id),
            registration_id, within)
    except WorkflowUpdateFailedError as exc:
        raise _domain_error(exc.cause) from exc
    except WorkflowAlreadyStartedError as exc:  # its workflow ran and ended
        raise WrongState(f"registration {registration_id} has ended; no further actions are possible") from exc
    except RPCError as exc:
        if exc.status == RPCStatusCode.ALREADY_EXISTS or (
                exc.status == RPCStatusCode.NOT_FOUND and ("completed" in exc.message or "closing" in exc.message)):
            raise WrongState(f"registration {registration_id} has ended; no further actions are possible") from exc
        raise Unavailable(f"Temporal refused the request ({exc.message}); it may still be applied") from exc
    finally:
        _forget_start_error(operation)
    return snapshot
