"""The dispute pages: the queues, the dispute itself with the actions open to the viewer, the
filing form, and the small live-update endpoint the dispute page polls.

Filing, acting, reading and the actions offered all come from the service (`service.disputes`), as for
the JSON API and the Slack app: these handlers parse forms and render pages.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Engine
from sqlmodel import Session

from api.deps import SessionDep, charter_in_force, get_charter, get_now, get_service
from api.web.forms import FormState, flat, parse_action, parse_filing, registration_ids_in
from api.web.render import ACTION_LABELS, PageRoute, render
from api.web.session import PageUser, flash, flash_refusal
from domain import caucus
from domain.errors import Forbidden, InvalidInput, ParleyError
from domain.model import Comment, ConflictType, Decide, Role, Rule, Status
from domain.plain_words import a_role
from domain.precedents import warning as precedent_warning
from service import away, dispute_claims, precedents, routing
from service.disputes import Service, trail
from store import queries
from store.charters import charter_by_version
from store.tables import User

router = APIRouter(route_class=PageRoute, include_in_schema=False)

FORM_TITLES = {
    "accept": "Accept the proposal", "reject": "Reject the proposal", "propose": "Propose a resolution",
    "approve": "Approve the agreement", "reject_agreement": "Reject the agreement",
    "request_info": "Ask for information (pauses the clock)", "resume": "Resume (restarts the clock)",
    "answer": "Answer the mediator's question",
    "rule": "Rule", "decide": "Make the final decision", "appeal": "Appeal the ruling",
    "escalate": "Escalate", "comment": "Comment", "reassign": "Reassign", "withdraw": "Withdraw the dispute",
}
DONE = {
    "accept": "You accepted the proposal.", "reject": "You rejected it.", "propose": "Your proposal is recorded.",
    "approve": "You approved the agreement.", "reject_agreement": "You rejected the agreement.",
    "request_info": "Your question is recorded; the clock is paused.", "resume": "The clock runs again.",
    "answer": "Your answer is recorded and the mediator is told; the clock stays paused until they resume.",
    "rule": "Your ruling is recorded; the appeal window is open.", "decide": "Your final decision is recorded.",
    "appeal": "Your appeal is recorded; the dispute goes to the executive.", "escalate": "Escalated.",
    "comment": "Comment added.", "reassign": "Reassigned.", "withdraw": "The dispute is withdrawn.",
    "caucus": "Caucus note added: the mediator, the executive, auditors and admins see it; the parties do not.",
}


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


# --- queues ----------------------------------------------------------------------------------------

@router.get("/")
def waiting_on_me(request: Request, user: PageUser, session: SessionDep) -> Response:
    if Role(user.role) == Role.auditor:
        return RedirectResponse("/audit", status_code=303)
    filters = queries.Filters.parse(request.query_params)
    rows = queries.waiting_on(session, user, filters)
    return render(request, "queue.html", title="Waiting on me", rows=rows, filters=filters, page=None,
                  now=get_now(request), regions=queries.regions(session), everything=False,
                  intro="Open disputes whose next step is yours, the nearest deadline first.")


@router.get("/disputes")
def my_disputes(request: Request, user: PageUser, session: SessionDep) -> Response:
    filters = queries.Filters.parse(request.query_params)
    everything = filters.scope == "all"
    page = queries.my_disputes(session, user, filters, everything)
    intro = ("Every dispute you may see, latest activity first." if everything else
             "Disputes you filed, are a party to, or are assigned to, latest activity first.")
    return render(request, "queue.html", title="My disputes", rows=page.rows, filters=filters, page=page,
                  now=get_now(request), regions=queries.regions(session), everything=everything, intro=intro)


# --- the dispute page ------------------------------------------------------------------------------

def dispute_context(session: Session, service: Service, user: User, dispute_id: str) -> dict[str, Any]:
    view = service.read(session, user, dispute_id)
    events = trail(session, user, dispute_id)
    actions = service.offers(view, user)
    now = service.clock()
    claims = dispute_claims.for_viewer(session, user, view, now)
    people = {p.email for p in view.parties} | {view.mediator, view.executive} | {e["actor"] for e in events} \
        | {c.owner for c in claims}
    if view.backup_executive:
        people.add(view.backup_executive)
    managers = {e: p.manager_email for e, p in routing.people(session, [p.email for p in view.parties]).items()
                if p.manager_email}  # the people panel shows each party's manager (DESIGN §8)
    people |= set(managers.values())
    away_now = away.periods_of(session, [view.mediator, view.executive, view.backup_executive], now)
    people |= {p.delegate for p in away_now.values()}  # the people panel says who is away, and who stands in
    charter = charter_by_version(session, view.charter_version) or service.charter()
    reassign_to: list[tuple[str, str]] = []
    if "reassign" in actions:
        role = Role.executive if view.status == Status.executive else Role.mediator
        current = view.executive if role == Role.executive else view.mediator
        reassign_to = [(u.email, f"{u.name} ({u.email})") for u in queries.people_with_role(session, role)
                       if u.email != current and routing.reassign_refusal(session, view, u.email, now) is None]
    return {
        "view": view, "events": events, "actions": actions, "names": queries.names_of(session, people),
        "charter": charter, "calendar": charter.business_calendar(),
        "weights_json": json.dumps(charter.weights.model_dump()),
        "reassign_to": reassign_to, "auditing": Role(user.role) in (Role.auditor, Role.admin), "managers": managers,
        "away": away_now,
        "open_proposal": view.open_proposal(), "now": now, "form_titles": FORM_TITLES, "claims": claims,
        "caucus": "comment" in actions and service.may_write_caucus(view, user),
        "seen_seq": caucus.last_readable(events, user.role, view.last_seq),  # what the live page follows
        # the ruling and decision forms show how similar disputes were decided (DESIGN §9)
        "precedents": precedents.for_dispute(session, user, dispute_id)
        if {"rule", "decide"} & set(actions) and precedents.may_consult(user) else None,
    }


def _dispute_page(request: Request, session: Session, user: User, dispute_id: str, *, status_code: int = 200,
                  failed: FormState | None = None) -> Response:
    context = dispute_context(session, get_service(request), user, dispute_id)
    forms = {name: FormState(name) for name in context["actions"]}
    if failed is not None and failed.prefix in forms:
        forms[failed.prefix] = failed
    return render(request, "dispute.html", status_code=status_code, forms=forms,
                  failed=failed.prefix if failed else None, **context)


@router.get("/disputes/new")
def filing_form(request: Request, user: PageUser, session: SessionDep, registration_ids: str = "") -> Response:
    """The filing form; `?registration_ids=A,B` fills it in from a pair of registrations."""
    values, errors = {"region": user.region or "", "currency": "USD"}, {}
    if ids := registration_ids_in(registration_ids):
        try:
            values |= dispute_claims.prefill(session, user, ids, get_charter(request))
        except InvalidInput as exc:
            errors["registration_ids"] = _without_field(exc)
    return _filing_page(request, session, user, FormState("file", values, errors))


def _filing_page(request: Request, session: Session, user: User, form: FormState, status_code: int = 200) -> Response:
    if Role(user.role) != Role.rep:
        raise Forbidden(f"Only reps file disputes; you are signed in as {a_role(user.role)}.")
    charter = get_charter(request)
    groups: dict[str, list[tuple[str, str]]] = {}
    for other in queries.counterparties(session, user):
        label = f"{other.name} ({other.email})"
        groups.setdefault(other.partner_org or "Direct sales", []).append((other.email, label))
    return render(request, "file.html", status_code=status_code, form=form, charter=charter,
                  counterparties=list(groups.items()), regions=queries.regions(session),
                  pairs=dispute_claims.filing_pairs(session, user, get_now(request)),
                  conflict_types=[(t.value, charter.conflict_types[t]) for t in ConflictType
                                  if t in charter.conflict_types])


@router.post("/disputes/new")
async def file_submit(request: Request, user: PageUser) -> Response:
    values = flat(await request.form())
    filing, errors = parse_filing(values)
    engine = _engine(request)
    if filing is None:  # report what the charter requires of this conflict type in the same round
        charter = await run_in_threadpool(charter_in_force, request.app.state)
        chosen = values.get("conflict_type", "")
        rules = next((r for t, r in charter.conflict_types.items() if t.value == chosen), None)
        for needed in rules.requires if rules else ():
            if needed != "partner_org" and not values.get(needed):
                errors.setdefault(needed, f"Required for {values['conflict_type']} conflicts.")

    def page(status_code: int) -> Response:
        with Session(engine) as session:
            return _filing_page(request, session, user, FormState("file", values, errors), status_code)

    if filing is None:
        return await run_in_threadpool(page, 422)
    try:
        view = await get_service(request).file(user, filing)
    except InvalidInput as exc:
        errors[exc.field or "form"] = _without_field(exc)
        return await run_in_threadpool(page, 422)
    except ParleyError as exc:
        if isinstance(exc, Forbidden):
            raise
        if "existing" in exc.extra:  # the pair's open dispute: said next to the registrations chosen
            errors["registration_ids"] = exc.message[:1].upper() + exc.message[1:] + "."
        else:
            flash(request, exc.message, "error")
        return await run_in_threadpool(page, exc.status)
    flash(request, f"Filed {view.id}. It is at {('frontline', 'mediation', 'the executive')[view.tier - 1]} now.")
    return RedirectResponse(f"/disputes/{view.id}", status_code=303)


@router.get("/disputes/{dispute_id}")
def dispute_page(request: Request, dispute_id: str, user: PageUser, session: SessionDep) -> Response:
    return _dispute_page(request, session, user, dispute_id)


@router.get("/disputes/{dispute_id}/updates")
def dispute_updates(request: Request, dispute_id: str, user: PageUser, session: SessionDep,
                    since: int = 0) -> Response:
    """The live parts of the dispute page (status and timeline) when there are new events; 204 otherwise."""
    seq = queries.last_seq(session, user, dispute_id)
    if seq is not None and seq <= since:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    context = dispute_context(session, get_service(request), user, dispute_id)
    if context["seen_seq"] <= since:  # only events this person may not read (caucus notes): nothing new
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    response = render(request, "_live.html", **context)
    response.headers["X-Parley-Seq"] = str(context["seen_seq"])
    response.headers["X-Parley-Status"] = context["view"].status.value
    return response


@router.post("/disputes/{dispute_id}/act")
async def act_submit(request: Request, dispute_id: str, user: PageUser) -> Response:
    values = flat(await request.form())
    form_name = values.get("action", "")
    action_name = "reject" if form_name == "reject_agreement" else form_name
    engine = _engine(request)

    def page(status_code: int, errors: dict[str, str]) -> Response:
        with Session(engine) as session:
            return _dispute_page(request, session, user, dispute_id, status_code=status_code,
                                 failed=FormState(form_name, values, errors))

    action, errors = parse_action(action_name, values)
    if action is None:
        return await run_in_threadpool(page, 422, errors)

    try:
        view = await get_service(request).act(user, dispute_id, action)
    except InvalidInput as exc:
        return await run_in_threadpool(page, 422, {exc.field or "form": _without_field(exc)})
    except ParleyError as exc:
        if exc.status == 404:
            raise
        flash_refusal(request, exc, "dispute")
        return await run_in_threadpool(page, exc.status, {})
    if isinstance(action, Comment) and caucus.is_caucus(action):
        form_name = "caucus"
    flash(request, DONE.get(form_name, f"{ACTION_LABELS.get(action_name, action_name)}: done."))
    if (decision := view.decision) is not None and isinstance(action, (Rule, Decide)) and decision.precedents:
        if warning := precedent_warning(decision.outcome.owner, [p.owner for p in decision.precedents]):
            flash(request, warning, "warning")  # recorded all the same: a warning, not a refusal
    return RedirectResponse(f"/disputes/{dispute_id}", status_code=303)


def _without_field(exc: InvalidInput) -> str:
    message = exc.message
    if exc.field and message.startswith(f"{exc.field}: "):
        message = message[len(exc.field) + 2:]
    return message[:1].upper() + message[1:]
