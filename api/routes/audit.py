"""/api/audit: verify the hash chain (optionally against a saved digest) and export it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from api.deps import AuditorUser, EngineDep, SessionDep
from api.schemas import EXPORT_CONTENT, DigestQuery, VerifyPublic, errors
from domain.errors import InvalidInput
from store import audit

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("/verify", summary="Verify the audit trail", response_model=VerifyPublic,
            responses=errors(401, 403, 422))
def verify(user: AuditorUser, session: SessionDep, digest: DigestQuery = None) -> dict[str, Any]:
    if digest is not None:  # only the digest is the caller's input: a damaged trail is a result, not a 422
        try:
            audit.parse_digest(digest)
        except ValueError as exc:
            raise InvalidInput(f"digest: {exc}", "digest") from exc
    return audit.verify(session, digest=digest).as_dict()


@router.get("/export", summary="Export the audit trail as JSONL or CSV", response_class=StreamingResponse,
            responses={200: EXPORT_CONTENT, **errors(401, 403, 422)})
def export(user: AuditorUser, engine: EngineDep,
           format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl") -> StreamingResponse:
    def lines() -> Any:
        with Session(engine) as session:
            yield from audit.export(session, format)

    media = "application/x-ndjson" if format == "jsonl" else "text/csv"
    headers = {"Content-Disposition": f'attachment; filename="parley-audit.{format}"'}
    return StreamingResponse(lines(), media_type=media, headers=headers)
