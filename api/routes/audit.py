"""/api/audit: verify the hash chain (optionally against a saved digest) and export it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from api.deps import AuditorUser, EngineDep, SessionDep
from domain.errors import InvalidInput
from store import audit

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("/verify", summary="Verify the audit trail")
def verify(user: AuditorUser, session: SessionDep, digest: str | None = None) -> dict[str, Any]:
    try:
        result = audit.verify(session, digest=digest)
    except ValueError as exc:
        raise InvalidInput(f"digest: {exc}", "digest") from exc
    return result.as_dict()


@router.get("/export", summary="Export the audit trail as JSONL or CSV")
def export(user: AuditorUser, engine: EngineDep,
           format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl") -> StreamingResponse:
    def lines() -> Any:
        with Session(engine) as session:
            yield from audit.export(session, format)

    media = "application/x-ndjson" if format == "jsonl" else "text/csv"
    headers = {"Content-Disposition": f'attachment; filename="parley-audit.{format}"'}
    return StreamingResponse(lines(), media_type=media, headers=headers)
