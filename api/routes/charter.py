"""/api/charter: the charter in force, its change log, and adopting a new version (admin) without a restart.

Adoption goes through `service.charters.adopt`, as the charter page and `parley charter adopt` do: 201
when the text becomes the charter in force, 200 (nothing recorded) when it already is, 422 naming
each key or routed person that is wrong.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminUser, CharterDep, CurrentUser, SessionDep
from api.routing import StoreRoute
from api.schemas import CharterChangePublic, CharterPublic, errors
from domain.model import NOT_BLANK
from service import charters
from service.charters import MAX_REASON, Adoption, CharterRefused

router = APIRouter(prefix="/api/charter", tags=["charter"], route_class=StoreRoute)
MAX_TOML = 200_000


class CharterAdopt(BaseModel):
    model_config = ConfigDict(extra="forbid")

    toml: str = Field(min_length=1, max_length=MAX_TOML, json_schema_extra=NOT_BLANK,
                      description="the charter as a TOML file holds it; kept byte for byte (its hash is the "
                                  "version's): checked like `parley charter validate`, and every routed person "
                                  "must be a Parley user with the role")
    reason: str = Field(min_length=1, max_length=MAX_REASON, json_schema_extra=NOT_BLANK,
                        description="why the charter changes; the change log keeps it",
                        examples=["Q3 review: mediation SLA from 3 to 2 business days"])


def _change(adoption: Adoption) -> dict[str, Any]:
    return {"id": adoption.version_id, "version": adoption.version, "name": adoption.name,
            "hash": adoption.sha256, "adopted_at": adoption.adopted_at, "adopted_by": adoption.adopted_by,
            "reason": adoption.reason, "in_force": adoption.in_force}


def _public(adoption: Adoption) -> CharterPublic:
    return CharterPublic(**_change(adoption), text=adoption.text)


@router.get("", summary="The charter in force", response_model=CharterPublic, responses=errors(401))
def charter_in_force(user: CurrentUser, session: SessionDep, registered: CharterDep) -> CharterPublic:
    return _public(charters.current(session))


@router.get("/versions", summary="The charter's change log, newest first",
            response_model=list[CharterChangePublic], responses=errors(401))
def charter_versions(user: CurrentUser, session: SessionDep, registered: CharterDep) -> list[CharterChangePublic]:
    return [CharterChangePublic(**_change(adoption)) for adoption in charters.change_log(session)]


@router.post("", status_code=201, summary="Adopt a charter version (admin)", response_model=CharterPublic,
             responses={200: {"model": CharterPublic, "description": "This text is the charter in force already: "
                                                                     "nothing was recorded."},
                        **errors(401, 403, 409, 413, 422)})
def adopt_charter(body: CharterAdopt, admin: AdminUser, session: SessionDep, registered: CharterDep) -> Any:
    """New disputes pin the adopted version at once, in every API process; running disputes keep theirs.
    The adoption is a change-log entry and an event of the audit chain `charter`."""
    try:
        adoption, new = charters.adopt(session, body.toml, by=admin.email, reason=body.reason)
    except CharterRefused as exc:
        detail = [{"field": field, "message": message} for field, message in exc.problems]
        return JSONResponse({"detail": detail}, status_code=422)
    public = _public(adoption)
    return public if new else JSONResponse(public.model_dump(mode="json"), status_code=200)
