"""/api/registrations and /api/overlaps: register deals, act on them, read them, import a CRM export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query, Request, Response
from starlette.convertors import Convertor, register_url_convertor

from api.deps import AdminUser, CurrentUser, SessionDep
from api.paging import page_headers
from api.routing import StoreRoute
from api.schemas import (
    IMPORT_BODY,
    PAGED,
    ImportPublic,
    OverlapPairPublic,
    RegistrationPublic,
    RegistrationStatus,
    RegistrationSummaryPublic,
    errors,
)
from domain.errors import InvalidInput
from domain.registration_rules import RegistrationAction
from domain.registrations import Channel, RegistrationIn
from service import registration_views as views
from service.disputes import Service
from service.imports import kind_of
from service.registration_import import Importer
from service.registrations import Registrations


class RegistrationId(Convertor[str]):
    """A registration id in a path: any segment but `import`, so that `/api/registrations/import` is
    the import's path alone (its 405 names POST only, as the OpenAPI document does)."""

    regex = r"(?!import(?:/|$))[^/]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("registration_id", RegistrationId())
ONE = "/registrations/{registration_id:registration_id}"
router = APIRouter(prefix="/api", tags=["registrations"], route_class=StoreRoute)
IMPORT_PATH = "/api/registrations/import"
IMPORT_MAX_BYTES = 256 * 1024 * 1024  # an import streams (the app's body limit does not apply to it)
MAX_OFFSET = 1_000_000_000


async def get_registrations(request: Request) -> Registrations:
    service: Service = request.app.state.service
    return Registrations(service)


RegistrationsDep = Annotated[Registrations, Depends(get_registrations)]


@router.post("/registrations", status_code=201, summary="Register a deal", response_model=RegistrationPublic,
             responses=errors(401, 403, 409, 413, 422, 503))
async def register(body: RegistrationIn, user: CurrentUser, regs: RegistrationsDep) -> dict[str, Any]:
    return await regs.register(user, body)


@router.get("/registrations", summary="The registrations you may see", response_model=list[RegistrationSummaryPublic],
            responses={200: PAGED, **errors(401, 422)},
            description="At most `limit` registrations from `offset`, newest first (`submitted_at` descending, "
                        "then `id` descending: an order without ties, so that pages read one after the other "
                        "neither skip nor repeat one). `X-Total-Count` says how many you may see with these "
                        'filters; `Link` gives the next page (`rel="next"`) while more remain, and the one '
                        'before (`rel="prev"`).')
def list_registrations(
    request: Request, response: Response, user: CurrentUser, session: SessionDep,
    status: RegistrationStatus | None = None,
    account: Annotated[str | None, Query(max_length=200, description="part of the account's name")] = None,
    channel: Channel | None = None, mine: bool = False, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[dict[str, Any]]:
    page = views.listing_page(session, user, status=status, account=account, channel=channel, mine=mine,
                              limit=limit, offset=offset)
    page_headers(request, response, page)
    return page.rows


@router.get(ONE, summary="One registration, with its overlaps and disputes",
            response_model=RegistrationPublic, responses=errors(401, 404, 422))
def get_registration(registration_id: str, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    return views.read(session, user, registration_id)


@router.post(f"{ONE}/actions", summary="Approve, reject, extend, withdraw or close",
             response_model=RegistrationPublic, responses=errors(401, 403, 404, 409, 413, 422, 503))
async def act(registration_id: str, action: Annotated[RegistrationAction, Body()], user: CurrentUser,
              regs: RegistrationsDep) -> dict[str, Any]:
    return await regs.act(user, registration_id, action)


@router.get("/overlaps", summary="Live overlapping registrations, newest first", response_model=list[OverlapPairPublic],
            responses=errors(401, 422))
def list_overlaps(user: CurrentUser, session: SessionDep,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 500) -> list[dict[str, Any]]:
    return views.overlap_queue(session, user, limit)


@router.post("/registrations/import", summary="Import a CRM export (CSV or JSON Lines; admin)",
             response_model=ImportPublic, openapi_extra=IMPORT_BODY, responses=errors(401, 403, 413, 422, 503),
             description="200 with the rows created, updated and unchanged and each refused row's `{line, field, "
                         "message}`, even when every row was refused. 422 for the file itself: a Content-Type other "
                         "than CSV or JSON Lines, or, before any row was imported, a CSV file without a header line "
                         "or whose header lacks a required column, text that is not UTF-8, a line too long to be a "
                         "registration's (the message starts with its line). 413 past 256 MiB.")
async def import_registrations(request: Request, admin: AdminUser, regs: RegistrationsDep) -> dict[str, Any]:
    kind = kind_of(request.headers.get("content-type"))
    if kind is None:
        raise InvalidInput("Content-Type: send text/csv or application/x-ndjson (JSON Lines)", "Content-Type")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > IMPORT_MAX_BYTES:
        raise HTTPException(413, f"request body is larger than {IMPORT_MAX_BYTES} bytes")
    result = await Importer(regs, admin, kind).run(_limited(request, IMPORT_MAX_BYTES))
    return result.as_dict()


async def _limited(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The body as it arrives; past `limit` bytes the import stops (the rows before it are kept)."""
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise HTTPException(413, f"request body is larger than {limit} bytes; the rows before were imported")
        yield chunk
