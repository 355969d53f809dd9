"""The registration pages: the list this user may see, the register form, a registration with its
overlaps, disputes, audit trail and the actions open to the viewer, and the small live-update endpoint
its page polls. The overlaps queue is `api.web.pages_overlaps`.

Registering, acting, reading and the actions offered come from the service (`service.registrations`,
`service.registration_views`), as for the JSON API and the CLI: these handlers parse forms and render.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from api.deps import SessionDep, charter_in_force, get_service
from api.web.forms import FormState, flat
from api.web.registration_forms import PAGE_SIZE, Filters, parse_action, parse_registration
from api.web.render import PageRoute, render
from api.web.session import PageUser, flash, flash_refusal
from domain.errors import Forbidden, InvalidInput, ParleyError
from domain.model import Role
from domain.plain_words import a_role
from domain.registrations import LIVE, STATUSES
from service import registration_views as views
from service.registrations import Registrations
from store.tables import User

router = APIRouter(route_class=PageRoute, include_in_schema=False)
LIST = "/registrations"
NEW = "/registrations/new"
STATUS_LABELS = {"pending": "Pending approval", "approved": "Approved", "rejected": "Rejected",
                 "expired": "Expired", "withdrawn": "Withdrawn", "closed": "Closed"}
FORM_TITLES = {"approve": "Approve the registration", "reject": "Reject the registration",
               "extend": "Extend the protection window", "withdraw": "Withdraw the registration",
               "close": "Close the registration (won or lost)"}
DONE = {"approve": "You approved the registration.", "reject": "You rejected the registration; its owner is told.",
        "extend": "The protection window is extended; its owner is told.", "withdraw": "The registration is withdrawn.",
        "close": "The registration is closed."}
FILE_ABOUT = "/disputes/new?registration_ids={own},{other}"  # the filing form, filled in from the pair
CHANGES_STATUS = {"approved", "rejected", "extended", "withdrawn", "closed", "expired"}


def _registrations(request: Request) -> Registrations:
    return Registrations(get_service(request))


# --- the list ----------------------------------------------------------------------------------------

@router.get(LIST)
def registration_list(request: Request, user: PageUser, session: SessionDep) -> Response:
    filters = Filters.parse(request.query_params)
    rows = views.listing(session, user, status=filters.status, channel=filters.channel, account=filters.account,
                         mine=filters.mine, limit=PAGE_SIZE + 1, offset=filters.offset)
    has_more, rows = len(rows) > PAGE_SIZE, rows[:PAGE_SIZE]
    overlapping = views.live_overlap_counts(session, [r["id"] for r in rows if r["status"] in LIVE])
    return render(request, "registrations.html", title="Registrations", rows=rows, filters=filters,
                  has_more=has_more, overlapping=overlapping, may_register=views.may_register(user),
                  statuses=[(s, STATUS_LABELS[s]) for s in STATUSES], labels=STATUS_LABELS,
                  now=get_service(request).clock())


# --- registering -------------------------------------------------------------------------------------

@router.get(NEW)
def register_form(request: Request, user: PageUser, session: SessionDep) -> Response:
    return _register_page(request, session, user, FormState("reg", {"region": user.region or "", "currency": "USD"}))


def _register_page(request: Request, session: Session, user: User, form: FormState, status_code: int = 200) -> Response:
    if not views.may_register(user):
        raise Forbidden("Only reps register deals (an admin may on a rep's behalf); "
                        f"you are signed in as {a_role(user.role)}.")
    charter = charter_in_force(request.app.state)
    regions, segments = views.choices(charter)
    for name, known in (("region", regions), ("segment", segments)):  # a value typed elsewhere stays a choice
        typed = form.value(name)
        if typed and typed not in known:
            known.insert(0, typed)
    on_behalf = Role(user.role) == Role.admin
    owners: dict[str, list[tuple[str, str]]] = {}
    for rep in views.owners(session) if on_behalf else []:
        group = "Direct sales" if rep.channel == "direct" else f"Partner: {rep.partner_org or 'no organisation'}"
        owners.setdefault(group, []).append((rep.email, f"{rep.name} ({rep.email})"))
    return render(request, "register.html", status_code=status_code, form=form, charter=charter, on_behalf=on_behalf,
                  owners=list(owners.items()), regions=[(r, r) for r in regions], segments=[(s, s) for s in segments])


@router.post(NEW)
async def register_submit(request: Request, user: PageUser) -> Response:
    values = flat(await request.form())
    body, errors = parse_registration(values, on_behalf=Role(user.role) == Role.admin)
    engine = request.app.state.engine

    def page(status_code: int) -> Response:
        with Session(engine) as session:
            return _register_page(request, session, user, FormState("reg", values, errors), status_code)

    if body is None:
        return await run_in_threadpool(page, 422)
    try:
        shown = await _registrations(request).register(user, body)
    except Forbidden:
        raise
    except ParleyError as exc:
        if exc.status == 409 and "external_ref" in exc.message:  # a CRM reference registered already
            errors["external_ref"] = sentence(exc)
        elif exc.status == 422:
            errors[exc.field or "form"] = sentence(exc)
        else:
            flash(request, f"Not registered: {exc.message}", "error")
        return await run_in_threadpool(page, exc.status)
    flash(request, registered_note(shown))
    return RedirectResponse(f"{LIST}/{shown['id']}", status_code=303)


def registered_note(shown: dict[str, Any]) -> str:
    note = f"Registered {shown['id']}. " + ("It awaits a mediator's approval." if shown["status"] == "pending"
                                            else "A direct opportunity is approved from the start.")
    if shown["overlaps"]:
        count = len(shown["overlaps"])
        note += f" Early warning: it overlaps {count} other registration{'s' if count > 1 else ''}; see below."
    return note


# --- one registration --------------------------------------------------------------------------------

def registration_context(request: Request, session: Session, user: User, registration_id: str) -> dict[str, Any]:
    service = get_service(request)
    now = service.clock()
    shown = views.detail(session, user, registration_id)
    events = views.trail(session, user, registration_id)
    people = {shown["owner"], shown["decided_by"], *(e["actor"] for e in events)} - {None}
    return {
        "reg": shown, "events": events, "names": views.names(session, people), "now": now,
        "actions": views.offers(session, user, registration_id, service.charter(), now), "labels": STATUS_LABELS,
        "form_titles": FORM_TITLES, "auditing": Role(user.role) in (Role.auditor, Role.admin), "moved_on": False,
        "file_about": FILE_ABOUT,
    }


def _registration_page(request: Request, session: Session, user: User, registration_id: str, *,
                       status_code: int = 200, failed: FormState | None = None) -> Response:
    context = registration_context(request, session, user, registration_id)
    forms = {name: FormState(f"act-{name}") for name in context["actions"]}
    failed_name = failed.prefix.removeprefix("act-") if failed is not None else None
    if failed is not None and failed_name in forms:
        forms[failed_name] = failed
    return render(request, "registration.html", status_code=status_code, forms=forms, failed=failed_name, **context)


@router.get(LIST + "/{registration_id}")
def registration_page(request: Request, registration_id: str, user: PageUser, session: SessionDep) -> Response:
    return _registration_page(request, session, user, registration_id)


@router.get(LIST + "/{registration_id}/updates")
def registration_updates(request: Request, registration_id: str, user: PageUser, session: SessionDep,
                         since: int = 0) -> Response:
    """The live parts of the page (status and trail) when there are new events; 204 otherwise."""
    if views.visible_row(session, user, registration_id).last_seq <= since:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    context = registration_context(request, session, user, registration_id)
    context["moved_on"] = any(e["seq"] > since and e["action"] in CHANGES_STATUS for e in context["events"])
    response = render(request, "_registration_live.html", **context)
    response.headers["X-Parley-Seq"] = str(context["reg"]["last_seq"])
    response.headers["X-Parley-Status"] = context["reg"]["status"]
    return response


@router.post(LIST + "/{registration_id}/act")
async def act_submit(request: Request, registration_id: str, user: PageUser) -> Response:
    values = flat(await request.form())
    name = values.get("action", "")
    engine = request.app.state.engine

    def page(status_code: int, errors: dict[str, str]) -> Response:
        with Session(engine) as session:
            return _registration_page(request, session, user, registration_id, status_code=status_code,
                                      failed=FormState(f"act-{name}", values, errors))

    charter = await run_in_threadpool(charter_in_force, request.app.state)
    action, errors = parse_action(name, values, charter)
    if action is None:
        if "form" in errors:
            flash(request, f"Not done: {errors['form']}", "error")
        return await run_in_threadpool(page, 422, errors)
    try:
        await _registrations(request).act(user, registration_id, action)
    except InvalidInput as exc:
        return await run_in_threadpool(page, 422, {exc.field or "form": sentence(exc)})
    except ParleyError as exc:
        if exc.status == 404:
            raise
        flash_refusal(request, exc, "registration")
        return await run_in_threadpool(page, exc.status, {})
    flash(request, DONE.get(name, "Done."))
    return RedirectResponse(f"{LIST}/{registration_id}", status_code=303)


def sentence(exc: ParleyError) -> str:
    """The service's message without the field name it starts with, as a sentence."""
    message = exc.message
    if exc.field and message.startswith(f"{exc.field}: "):
        message = message[len(exc.field) + 2:]
    message = message[:1].upper() + message[1:]
    return message if message.endswith(".") else message + "."
