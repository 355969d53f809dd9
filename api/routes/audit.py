"""/api/audit: verify the hash chains and the signed checkpoints (optionally against a saved digest), export
them, and sign a checkpoint on demand."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from api.deps import AdminUser, AuditorUser, EngineDep, SessionDep, SettingsDep
from api.routing import StoreRoute
from api.schemas import EXPORT_CONTENT, DigestQuery, FirstBadPublic, SignedThroughPublic, VerifyPublic, errors
from api.streaming import download
from domain.errors import InvalidInput, WrongState
from store import audit

router = APIRouter(prefix="/api/audit", tags=["audit"], route_class=StoreRoute)


@router.get("/verify", summary="Verify the audit trail", response_model=VerifyPublic,
            responses=errors(401, 403, 422))
def verify(user: AuditorUser, session: SessionDep, settings: SettingsDep, digest: DigestQuery = None) -> dict[str, Any]:
    if digest is not None:  # only the digest is the caller's input: a damaged trail is a result, not a 422
        try:
            audit.parse_digest(digest)
        except ValueError as exc:
            raise InvalidInput(f"digest: {exc}", "digest") from exc
    key = settings.audit_key
    return audit.verify(session, digest=digest, public_key=key.public_key() if key else None).as_dict()


class CheckpointMade(BaseModel):
    checkpoint: SignedThroughPublic | None  # null: nothing to sign (`reason` says why)
    reason: str
    heads: int  # the chains whose head it signed
    left_out: list[FirstBadPublic]  # chains that gained events but do not verify: not signed


@router.post("/checkpoints", summary="Sign a checkpoint of the audit chains now", response_model=CheckpointMade,
             status_code=201, responses={200: {"description": "nothing to sign: no event since the last one"},
                                         **errors(401, 403, 409)})
async def checkpoint(user: AdminUser, engine: EngineDep, settings: SettingsDep, response: Response) -> dict[str, Any]:
    from store.audit.checkpoints import CheckpointRefused, create

    key = settings.audit_key
    if key is None:
        raise WrongState("no signing key: set PARLEY_AUDIT_SIGNING_KEY to sign audit checkpoints")
    try:
        made = await run_in_threadpool(create, engine, key)
    except CheckpointRefused as exc:
        raise WrongState(str(exc)) from exc
    if made.checkpoint is None:
        response.status_code = 200
    return made.as_dict()


@router.get("/export", summary="Export the audit trail as JSONL or CSV", response_class=StreamingResponse,
            responses={200: EXPORT_CONTENT, **errors(401, 403, 422)})
def export(user: AuditorUser, engine: EngineDep,
           format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl") -> StreamingResponse:
    media = "application/x-ndjson" if format == "jsonl" else "text/csv"
    headers = {"Content-Disposition": f'attachment; filename="parley-audit.{format}"'}
    return download(engine, lambda session: audit.export(session, format), media, headers)
