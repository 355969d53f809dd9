"""/api/disputes: file, list, read, act on, and read the audit trail of disputes."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.concurrency import run_in_threadpool
from sqlmodel import Session

from api import commands
from api.deps import CharterDep, CurrentUser, EngineDep, NowDep, SessionDep, SettingsDep, TemporalDep
from api.disputes import list_rows, prepare_filing, resolve_actor, to_json, visible_row
from api.idempotency import OnceDep
from api.schemas import REPLAYED, AuditEventPublic, DisputePublic, errors
from domain.errors import Forbidden
from domain.model import Action, Command, Filing, Reassign, Role, Status
from store.audit import events_for
from store.users import actor_of

router = APIRouter(prefix="/api/disputes", tags=["disputes"])
MAX_OFFSET = 1_000_000_000  # every integer query parameter is bounded: the stores' OFFSET is a 64-bit integer


def new_dispute_id() -> str:
    return f"PRL-{secrets.token_hex(4).upper()}"


@router.post("", status_code=201, summary="File a dispute", response_model=DisputePublic,
             response_model_exclude_unset=True, responses={201: REPLAYED, **errors(401, 403, 409, 413, 422, 503)})
async def file_dispute(filing: Filing, user: CurrentUser, engine: EngineDep, settings: SettingsDep,
                       charter: CharterDep, temporal: TemporalDep, once: OnceDep) -> dict[str, Any]:
    if (first := await once.begin(filing)) is not None:
        return first  # a retry with the same Idempotency-Key: the first answer

    def prepare() -> Any:
        with Session(engine) as session:
            return prepare_filing(session, user, filing, charter, once.dispute_id or new_dispute_id())

    start = await run_in_threadpool(prepare)
    view = await once.finish(201, commands.file_dispute(temporal, settings.task_queue, start, once.update_id,
                                                        within=settings.answer_within_s))
    return view.model_dump(mode="json")


@router.get("", summary="The disputes you may see", response_model=list[DisputePublic],
            response_model_exclude_unset=True, responses=errors(401, 422))
def list_disputes(
    user: CurrentUser, session: SessionDep, now: NowDep,
    status: Status | None = None, tier: Annotated[int | None, Query(ge=1, le=3)] = None,
    mine: bool = False, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[dict[str, Any]]:
    rows = list_rows(session, user, status=status, tier=tier, mine_only=mine, limit=limit, offset=offset)
    return [to_json(session, row, now) for row in rows]


@router.get("/{dispute_id}", summary="One dispute, with its live SLA", response_model=DisputePublic,
            response_model_exclude_unset=True, responses=errors(401, 404, 422))
def get_dispute(dispute_id: str, user: CurrentUser, session: SessionDep, now: NowDep) -> dict[str, Any]:
    return to_json(session, visible_row(session, user, dispute_id), now)


@router.post("/{dispute_id}/actions", summary="Act on a dispute", response_model=DisputePublic,
             response_model_exclude_unset=True,
             responses={200: REPLAYED, **errors(401, 403, 404, 409, 413, 422, 503)})
async def act(dispute_id: str, action: Annotated[Action, Body()], user: CurrentUser, engine: EngineDep,
              settings: SettingsDep, temporal: TemporalDep, once: OnceDep) -> dict[str, Any]:
    if (first := await once.begin(action)) is not None:
        return first  # a retry with the same Idempotency-Key: the first answer

    def prepare() -> Command:
        with Session(engine) as session:
            visible_row(session, user, dispute_id)
            if Role(user.role) == Role.auditor:  # also once the workflow has closed and cannot say so
                raise Forbidden("auditors have read-only access")
            to = resolve_actor(session, action.to) if isinstance(action, Reassign) else None
            return Command(actor=actor_of(user), act=action, reassign_to=to)

    cmd = await run_in_threadpool(prepare)
    view = await once.finish(200, commands.act(temporal, dispute_id, cmd, once.update_id,
                                               within=settings.answer_within_s))
    return view.model_dump(mode="json")


@router.get("/{dispute_id}/audit", summary="The dispute's audit events, in order",
            response_model=list[AuditEventPublic], responses=errors(401, 404, 422))
def dispute_audit(dispute_id: str, user: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    visible_row(session, user, dispute_id)
    return events_for(session, dispute_id)
