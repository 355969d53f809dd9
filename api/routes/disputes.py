"""/api/disputes: file, list, read, act on, and read the audit trail of disputes."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from api.deps import CurrentUser, NowDep, ReaderDep, ServiceDep, SessionDep
from api.idempotency import OnceDep
from api.paging import page_headers
from api.routing import StoreRoute
from api.schemas import (
    PAGED,
    REPLAYED,
    AlreadyDisputed,
    AuditEventPublic,
    DisputeDetailPublic,
    DisputePublic,
    PrecedentsPublic,
    errors,
)
from domain.model import Action, DisputeView, Filing, Status
from domain.precedents import CONSULTED
from domain.precedents import MAX_LIMIT as MAX_PRECEDENTS
from service import precedents
from service.disputes import LIST_ORDER, list_rows, to_json, trail

router = APIRouter(prefix="/api/disputes", tags=["disputes"], route_class=StoreRoute)
MAX_OFFSET = 1_000_000_000  # every integer query parameter is bounded: the stores' OFFSET is a 64-bit integer


ALREADY_DISPUTED = {"model": AlreadyDisputed, "description": "Not allowed in the current state; for a filing "
                    "naming `registration_ids` that already have an open dispute, `existing` is that dispute."}


@router.post("", status_code=201, summary="File a dispute", response_model=DisputeDetailPublic,
             response_model_exclude_unset=True,
             responses={201: REPLAYED, **errors(401, 403, 409, 413, 422, 503), 409: ALREADY_DISPUTED})
async def file_dispute(filing: Filing, user: CurrentUser, service: ServiceDep, once: OnceDep) -> dict[str, Any]:
    """`registration_ids` (optional) names the two registrations the dispute is about: one of yours and the
    counterparty's (e.g. one overlapping yours). While a dispute about the same two is open, a filing answers
    409 with `existing`. The answer is the dispute as `GET /api/disputes/{id}` shows it, with the two claims
    side by side."""
    if (first := await once.begin(filing)) is not None:
        return first  # a retry with the same Idempotency-Key: the first answer
    return await once.finish(201, service.file_json(user, filing, dispute_id=once.dispute_id,
                                                    update_id=once.update_id))


@router.get("", summary="The disputes you may see", response_model=list[DisputePublic],
            response_model_exclude_unset=True, responses={200: PAGED, **errors(401, 422)},
            description=f"At most `limit` disputes from `offset`, {LIST_ORDER}: an order without ties, so that "
                        "pages read one after the other neither skip nor repeat one (a dispute that changes "
                        "meanwhile moves to the front). `X-Total-Count` says how many you may see with these "
                        'filters; `Link` gives the next page (`rel="next"`) while more remain, and the one '
                        'before (`rel="prev"`).')
def list_disputes(
    request: Request, response: Response, user: CurrentUser, session: SessionDep, now: NowDep,
    status: Status | None = None, tier: Annotated[int | None, Query(ge=1, le=3)] = None,
    mine: bool = False, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> list[dict[str, Any]]:
    page = list_rows(session, user, status=status, tier=tier, mine_only=mine, limit=limit, offset=offset)
    page_headers(request, response, page)
    return [to_json(session, row, now) for row in page.rows]


@router.get("/{dispute_id}", summary="One dispute, with its live SLA and the registrations it is about",
            response_model=DisputeDetailPublic, response_model_exclude_unset=True, responses=errors(401, 404, 422))
async def get_dispute(dispute_id: str, reader: ReaderDep, service: ServiceDep) -> dict[str, Any]:
    return await reader.read(lambda session, user: service.read_with_claims(session, user, dispute_id))


@router.post("/{dispute_id}/actions", summary="Act on a dispute", response_model=DisputePublic,
             response_model_exclude_unset=True,
             responses={200: REPLAYED, **errors(401, 403, 404, 409, 413, 422, 503)})
async def act(dispute_id: str, action: Annotated[Action, Body()], user: CurrentUser, service: ServiceDep,
              once: OnceDep) -> dict[str, Any]:
    if (first := await once.begin(action)) is not None:
        return first  # a retry with the same Idempotency-Key: the first answer
    return await once.finish(200, dumped(service.act(user, dispute_id, action, update_id=once.update_id)))


@router.get("/{dispute_id}/precedents", summary="The most similar resolved disputes, and why",
            response_model=PrecedentsPublic, responses=errors(401, 403, 404, 422))
def dispute_precedents(dispute_id: str, user: CurrentUser, session: SessionDep,
                       limit: Annotated[int, Query(ge=1, le=MAX_PRECEDENTS)] = CONSULTED) -> dict[str, Any]:
    """For mediators, executives, auditors and admins (a rep gets 403): the resolved disputes you may see that are
    most like this one (DESIGN §9), each with its outcome, whether it followed the recommendation, its tier,
    rationale, a similarity score and the reasons in plain words."""
    return precedents.for_dispute(session, user, dispute_id, limit).to_json()


@router.get("/{dispute_id}/audit", summary="The dispute's audit events, in order",
            response_model=list[AuditEventPublic], responses=errors(401, 404, 422))
def dispute_audit(dispute_id: str, user: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    """A party (any rep) does not see the caucus notes among them; mediators, executives, auditors and admins do."""
    return trail(session, user, dispute_id)


async def dumped(work: Awaitable[DisputeView]) -> dict[str, Any]:
    """The dispute an action answers, as JSON (what an `Idempotency-Key` keeps)."""
    return (await work).model_dump(mode="json")
