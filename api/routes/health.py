"""/healthz: is the store reachable, is Temporal reachable."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.routing import StoreRoute
from api.schemas import Health

router = APIRouter(tags=["health"], route_class=StoreRoute)
WITHIN_S = 3  # how long each part may take to answer


def _failure(exc: Exception) -> str:
    """Why a part is not healthy, in a line: a time-out says how long it was waited for (it has no message)."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return f"error: no answer within {WITHIN_S} s"
    return f"error: {type(exc).__name__}: {exc}"[:300]


@router.get("/healthz", summary="Liveness of the API, the store and Temporal", response_model=Health,
            responses={503: {"model": Health, "description": "The store or Temporal is not answering: "
                                                            "its field says why."}})
async def healthz(request: Request) -> JSONResponse:
    state = request.app.state

    def db_ok() -> None:
        with state.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    body = {"status": "ok", "db": "ok", "temporal": "ok"}
    try:
        await asyncio.wait_for(run_in_threadpool(db_ok), timeout=WITHIN_S)
    except Exception as exc:  # any failure is the answer here
        body["db"] = _failure(exc)
    try:
        client = await asyncio.wait_for(state.temporal.get(), timeout=WITHIN_S)
        await asyncio.wait_for(client.service_client.check_health(), timeout=WITHIN_S)
    except Exception as exc:
        body["temporal"] = _failure(exc)
    ok = body["db"] == "ok" and body["temporal"] == "ok"
    if not ok:
        body["status"] = "error"
    return JSONResponse(body, status_code=200 if ok else 503)
