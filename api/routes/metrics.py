"""`GET /metrics`: Prometheus's text format (DESIGN §10); left out of the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import EngineDep
from api.routing import StoreRoute
from ops.metrics import CONTENT_TYPE, exposition

router = APIRouter(route_class=StoreRoute)


@router.get("/metrics", include_in_schema=False)
def metrics(engine: EngineDep) -> Response:
    return Response(exposition(engine), media_type=CONTENT_TYPE)
