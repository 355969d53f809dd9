"""/api/users/{email}/away: away and delegation (DESIGN §8). Thin: `service.away` decides and tells the disputes."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import ConfigDict, Field

from api.deps import CurrentUser, ServiceDep
from api.routing import StoreRoute
from api.schemas import AbsencePublic, AwayPublic, errors
from domain.model import Email, IsoDate, Strict
from service import away
from service.away import AwayPeriod, AwayStatus

router = APIRouter(prefix="/api", tags=["users"], route_class=StoreRoute)


class AwayUpdate(Strict):
    """Away from `from` to `until`, both inclusive, dates in the charter calendar's time zone."""

    model_config = ConfigDict(populate_by_name=True)

    from_: IsoDate = Field(alias="from", description="the first day away (YYYY-MM-DD), at most a year before today")
    until: IsoDate = Field(description="the last day away, inclusive (YYYY-MM-DD), at most two years after today")
    delegate: Email | None = Field(default=None, description="who takes the work meanwhile: a mediator for a "
                                   "mediator; for an executive another executive, the charter's backup by default")


def absence_public(found: AwayPeriod) -> AbsencePublic:
    return AbsencePublic.model_validate(found.as_json())


def away_public(status: AwayStatus) -> AwayPublic:
    return AwayPublic(email=status.email, away=absence_public(status.absence) if status.absence else None,
                      standing_in_for=[absence_public(p) for p in status.standing_in_for])


@router.put("/users/{email}/away", summary="Set a user's absence and delegate (admin, or the user)",
            responses=errors(401, 403, 404, 413, 422))
async def put_away(email: str, body: AwayUpdate, user: CurrentUser, service: ServiceDep) -> AwayPublic:
    return away_public(await away.put(service, user, email, body.from_, body.until, body.delegate))


@router.delete("/users/{email}/away", summary="Clear a user's absence (admin, or the user)",
               responses=errors(401, 403, 404, 422))
async def delete_away(email: str, user: CurrentUser, service: ServiceDep) -> AwayPublic:
    return away_public(await away.delete(service, user, email))
