"""The admin's webhooks page: the subscriptions, each with its newest deliveries and how they stand, a
redeliver button per delivery, and forms to subscribe a URL (its secret shown once, on the answer) or
remove a subscription. Everything goes through `service.webhooks`, as the JSON API does."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from api.deps import SessionDep
from api.web.forms import FormState, errors_by_field
from api.web.render import PageRoute, render
from api.web.session import PageUser, flash
from domain.errors import InvalidInput
from domain.webhook_events import ALL, EVENT_TYPES
from service.disputes import Service
from service.webhooks import WebhookCreate, Webhooks
from store.tables import User
from store.webhook_tables import WebhookRow
from store.webhooks import events_of

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE = "/admin/webhooks"
SHOWN_DELIVERIES = 20


def _hooks(request: Request) -> Webhooks:
    service: Service = request.app.state.service
    return Webhooks(service)


@router.get(PAGE)
def webhooks_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    return _page(request, session, user, FormState("new"))


def _page(request: Request, session: Session, user: User, form: FormState, *, created: WebhookRow | None = None,
          status_code: int = 200) -> Response:
    hooks = _hooks(request)
    subscriptions = [(row, events_of(row), hooks.deliveries(session, user, row.id, limit=SHOWN_DELIVERIES))
                     for row in hooks.subscriptions(session, user)]
    return render(request, "webhooks.html", status_code=status_code, subscriptions=subscriptions, form=form,
                  created=created, event_types=[ALL, *EVENT_TYPES], shown=SHOWN_DELIVERIES)


@router.post(PAGE)
async def webhook_add(request: Request, user: PageUser) -> Response:
    data = await request.form()
    values = {"url": str(data.get("url", "")), "description": str(data.get("description", ""))}
    events = [str(e) for e in data.getlist("events")]
    form = FormState("new", {**values, "events": ",".join(events)})
    hooks = _hooks(request)

    def create() -> Response:
        with Session(hooks.service.engine) as session:
            try:
                body = WebhookCreate.model_validate({"url": values["url"], "events": events,
                                                     "description": values["description"] or None})
                row = hooks.create(session, user, body)
            except ValidationError as exc:
                for field, message in errors_by_field(exc).items():  # "events.1" is the events box's
                    form.errors.setdefault(field.split(".")[0], message)
                return _page(request, session, user, form, status_code=422)
            except InvalidInput as exc:
                form.errors = {exc.field or "form": exc.message[:1].upper() + exc.message[1:] + "."}
                return _page(request, session, user, form, status_code=422)
            return _page(request, session, user, FormState("new"), created=row, status_code=201)

    return await run_in_threadpool(create)


@router.post(PAGE + "/{webhook_id}/remove")
async def webhook_remove(request: Request, webhook_id: str, user: PageUser) -> Response:
    hooks = _hooks(request)

    def remove() -> None:
        with Session(hooks.service.engine) as session:
            hooks.remove(session, user, webhook_id)

    await run_in_threadpool(remove)
    flash(request, f"Removed webhook {webhook_id}: nothing more is sent to it.")
    return RedirectResponse(PAGE, status_code=303)


@router.post(PAGE + "/{webhook_id}/deliveries/{delivery_id}/redeliver")
async def delivery_redeliver(request: Request, webhook_id: str, delivery_id: str, user: PageUser) -> Response:
    row = await _hooks(request).redeliver(user, webhook_id, delivery_id)
    flash(request, f"Sending {row.type} {row.event_id} again (delivery {row.id}).")
    return RedirectResponse(f"{PAGE}#{row.id}", status_code=303)
