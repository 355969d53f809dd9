"""/api/webhooks: the admin's subscriptions, their deliveries log and redelivery (DESIGN §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import AdminUser, SessionDep
from api.routing import StoreRoute
from api.schemas import errors
from domain.webhook_events import Subscribable
from service.disputes import Service
from service.webhooks import WebhookCreate, Webhooks, delivery_json, webhook_json

router = APIRouter(prefix="/api", tags=["webhooks"], route_class=StoreRoute)
MAX_OFFSET = 1_000_000_000


async def get_webhooks(request: Request) -> Webhooks:
    service: Service = request.app.state.service
    return Webhooks(service)


WebhooksDep = Annotated[Webhooks, Depends(get_webhooks)]


class WebhookPublic(BaseModel):
    id: str = Field(examples=["WH-1a2b3c4d5e6f"])
    url: str
    events: list[Subscribable]
    description: str | None
    created_by: str
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="the HMAC key of `Parley-Signature`; shown only in this answer")


class DeliveryPublic(BaseModel):
    id: str = Field(examples=["WHD-0123456789abcdef0123"])
    event_id: str = Field(description="the body's `id` and the `Parley-Event-Id` header: the same on every try")
    type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status: int | None = Field(description="the receiver's HTTP status at the last attempt; null if none")
    last_error: str | None = Field(description="why the last attempt failed, in plain words")
    next_try_at: datetime | None = Field(description="when the next attempt is due; null when none will be made")
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None = Field(description="when the delivery was given up (24 hours without a 2xx answer, "
                                                   "or the subscription was removed)")


@router.post("/webhooks", status_code=201, summary="Subscribe a URL to events (admin)",
             responses=errors(401, 403, 413, 422))
def add_webhook(body: WebhookCreate, admin: AdminUser, session: SessionDep, hooks: WebhooksDep) -> WebhookCreated:
    row = hooks.create(session, admin, body)
    return WebhookCreated.model_validate({**webhook_json(row), "secret": row.secret})


@router.get("/webhooks", summary="The subscriptions (admin)", responses=errors(401, 403))
def list_webhooks(admin: AdminUser, session: SessionDep, hooks: WebhooksDep) -> list[WebhookPublic]:
    return [WebhookPublic.model_validate(webhook_json(row)) for row in hooks.subscriptions(session, admin)]


@router.get("/webhooks/{webhook_id}", summary="One subscription (admin)", responses=errors(401, 403, 404, 422))
def get_webhook(webhook_id: str, admin: AdminUser, session: SessionDep, hooks: WebhooksDep) -> WebhookPublic:
    return WebhookPublic.model_validate(webhook_json(hooks.get(session, admin, webhook_id)))


@router.delete("/webhooks/{webhook_id}", status_code=204, summary="Remove a subscription (admin)",
               responses=errors(401, 403, 404, 422))
def delete_webhook(webhook_id: str, admin: AdminUser, session: SessionDep, hooks: WebhooksDep) -> Response:
    hooks.remove(session, admin, webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries", summary="A subscription's deliveries, newest first (admin)",
            responses=errors(401, 403, 404, 422))
def list_deliveries(webhook_id: str, admin: AdminUser, session: SessionDep, hooks: WebhooksDep,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> list[DeliveryPublic]:
    rows = hooks.deliveries(session, admin, webhook_id, limit=limit, offset=offset)
    return [DeliveryPublic.model_validate(delivery_json(row)) for row in rows]


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202,
             summary="Send a delivery again, from its first try (admin)", responses=errors(401, 403, 404, 422, 503))
async def redeliver(webhook_id: str, delivery_id: str, admin: AdminUser, hooks: WebhooksDep) -> DeliveryPublic:
    row = await hooks.redeliver(admin, webhook_id, delivery_id)
    return DeliveryPublic.model_validate(delivery_json(row))
