"""Webhook subscriptions and their deliveries log, for the admin (DESIGN §7): what the REST routes and the
admin page call.

A subscription's URL must be http(s) and, unless PARLEY_WEBHOOK_ALLOW_PRIVATE is set, reach a public
host. Its secret is answered once, when it is made. A redelivery starts the delivery's
`WebhookDeliveryWorkflow` afresh from a first try (ending any workflow of it still retrying, its
`WebhookRetryWorkflow` too, which has the same id): the same body, the same event id.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

import httpx
from pydantic import Field
from sqlmodel import Session
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

from domain.errors import Forbidden, InvalidInput, NotFound, Unavailable
from domain.model import Role, Strict
from domain.plain_words import a_role
from domain.webhook_events import DeliveryJob, Subscribable
from domain.webhook_targets import MAX_URL, Resolver, check_target
from service.disputes import Service
from store import webhooks
from store.tables import User
from store.webhook_tables import WebhookDeliveryRow, WebhookRow
from workflows.webhooks import WebhookDeliveryWorkflow

# what the URL must look like, as the OpenAPI document states it (after trimming); the rest is checked
URL_PATTERN = r"^[\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[Hh][Tt][Tt][Pp][Ss]?://"


class WebhookCreate(Strict):
    url: str = Field(max_length=MAX_URL, json_schema_extra={"pattern": URL_PATTERN},
                     description="an http:// or https:// URL of a public host")
    events: list[Subscribable] = Field(min_length=1, max_length=20, description="event types, or `*` for all")
    description: Annotated[str, Field(max_length=500)] | None = None


def resolve(host: str) -> list[str]:
    """The addresses a host name resolves to; none when it does not (yet)."""
    try:
        return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, None)})
    except (OSError, UnicodeError, ValueError):
        return []


def admin_only(user: User) -> None:
    if Role(user.role) != Role.admin:
        raise Forbidden(f"webhooks are managed by admins; {user.email} is {a_role(user.role)}")


@dataclass
class Webhooks:
    service: Service
    resolve: Resolver = resolve

    def create(self, session: Session, user: User, body: WebhookCreate) -> WebhookRow:
        admin_only(user)
        check_target(body.url, allow_private=self.service.settings.webhook_allow_private, resolve=self.resolve)
        try:
            httpx.URL(body.url)  # what the delivery will parse
        except httpx.InvalidURL as exc:
            raise InvalidInput(f"is not a valid URL ({exc})", field="url") from exc
        events = list(dict.fromkeys(body.events))
        row = webhooks.create(session, url=body.url, events=events, description=body.description,
                              created_by=user.email, now=self.service.clock())
        session.commit()
        return row

    def subscriptions(self, session: Session, user: User) -> list[WebhookRow]:
        admin_only(user)
        return webhooks.active(session)

    def get(self, session: Session, user: User, webhook_id: str) -> WebhookRow:
        admin_only(user)
        row = webhooks.webhook(session, webhook_id)
        if row is None:
            raise NotFound(f"no webhook {webhook_id}")
        return row

    def remove(self, session: Session, user: User, webhook_id: str) -> None:
        admin_only(user)
        if not webhooks.deactivate(session, webhook_id):
            raise NotFound(f"no webhook {webhook_id}")
        session.commit()

    def deliveries(self, session: Session, user: User, webhook_id: str, *, limit: int = 100,
                   offset: int = 0) -> list[WebhookDeliveryRow]:
        self.get(session, user, webhook_id)
        return webhooks.deliveries(session, webhook_id, limit=limit, offset=offset)

    def delivery(self, session: Session, user: User, webhook_id: str, delivery_id: str) -> WebhookDeliveryRow:
        self.get(session, user, webhook_id)
        row = webhooks.delivery(session, delivery_id)
        if row is None or row.webhook_id != webhook_id:
            raise NotFound(f"no delivery {delivery_id} of webhook {webhook_id}")
        return row

    async def redeliver(self, user: User, webhook_id: str, delivery_id: str) -> WebhookDeliveryRow:
        """Send the delivery again from its first try, whatever became of it; the same body and event id."""
        def check() -> None:
            with Session(self.service.engine) as session:
                self.delivery(session, user, webhook_id, delivery_id)

        def write(state: dict[str, datetime | None] | None) -> dict[str, datetime | None]:
            with Session(self.service.engine) as session:
                before = webhooks.state_of(self.delivery(session, user, webhook_id, delivery_id))
                if state is None:  # due again; written before the start, since its first try records itself
                    webhooks.reopen(session, delivery_id, at=self.service.clock())
                else:
                    webhooks.put_back(session, delivery_id, state)
                session.commit()
                return before

        await asyncio.to_thread(check)  # 403/404 before Temporal is asked anything
        client = await self.service.temporal()
        before = await asyncio.to_thread(write, None)
        try:
            await client.start_workflow(
                WebhookDeliveryWorkflow.run, DeliveryJob(delivery_id=delivery_id), id=delivery_id,
                task_queue=self.service.settings.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.TERMINATE_EXISTING,
            )
        except RPCError as exc:
            await asyncio.to_thread(write, before)
            raise Unavailable(f"Temporal did not take the redelivery ({exc.message}); try again shortly") from exc

        def read() -> WebhookDeliveryRow:
            with Session(self.service.engine) as session:
                return self.delivery(session, user, webhook_id, delivery_id)

        return await asyncio.to_thread(read)


# --- what the API and the page show --------------------------------------------------------------

def webhook_json(row: WebhookRow) -> dict[str, Any]:
    return {"id": row.id, "url": row.url, "events": webhooks.events_of(row), "description": row.description,
            "created_by": row.created_by, "created_at": row.created_at}


def delivery_json(row: WebhookDeliveryRow) -> dict[str, Any]:
    return {"id": row.id, "event_id": row.event_id, "type": row.type, "status": webhooks.status_of(row),
            "attempts": row.attempts, "last_status": row.last_status, "last_error": row.last_error,
            "next_try_at": row.next_try_at, "created_at": row.created_at, "delivered_at": row.delivered_at,
            "failed_at": row.failed_at}
