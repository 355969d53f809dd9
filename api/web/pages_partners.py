"""The partner review page (`/partners/{org}`) and its CSV (`/partners/{org}.csv`, or `?format=csv`): one
partner organisation's disputes in a period, for its quarterly business review. Who may see it, the
period and the figures are `service.partner_review`'s, as for `GET /api/partners/{org}/review`."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlmodel import Session

from api.deps import EngineDep, SessionDep, charter_in_force, get_now
from api.streaming import download
from api.web.render import PageRoute, render
from api.web.session import PageUser
from domain.errors import InvalidInput, NotFound
from service import partner_review
from store.tables import User

router = APIRouter(route_class=PageRoute, include_in_schema=False)
FromQuery = Annotated[str, Query(alias="from")]


def _csv(request: Request, user: User, engine: EngineDep, org: str, date_from: str, date_to: str) -> Response:
    charter = charter_in_force(request.app.state)
    with Session(engine) as session:
        name, period = partner_review.checked(session, user, org, charter, get_now(request), date_from, date_to)

    headers = {"Content-Disposition": f'attachment; filename="{partner_review.csv_filename(name, period)}"',
               "Cache-Control": "no-store"}
    return download(engine, lambda session: partner_review.csv_lines(session, user, name, period),
                    "text/csv; charset=utf-8", headers)


@router.get("/partners/{org}.csv")
def partner_csv(request: Request, org: str, user: PageUser, engine: EngineDep, date_from: FromQuery = "",
                to: str = "") -> Response:
    return _csv(request, user, engine, org, date_from, to)


@router.get("/partners/{org}")
def partner_page(request: Request, org: str, user: PageUser, session: SessionDep, engine: EngineDep,
                 date_from: FromQuery = "", to: str = "", format: str = "") -> Response:
    if format == "csv":
        return _csv(request, user, engine, org, date_from, to)
    if format not in ("", "html"):
        raise NotFound(f"There is no {format!r} format of the partner review; use CSV.")
    charter = charter_in_force(request.app.state)
    values = {"from": date_from.strip(), "to": to.strip()}
    try:
        found = partner_review.review(session, user, org, charter, get_now(request), date_from, to)
    except InvalidInput as exc:
        field = exc.field or "from"
        message = exc.message.split(": ", 1)[1] if exc.message.startswith(f"{field}: ") else exc.message
        return render(request, "partner.html", status_code=422, org=org.strip(), found=None, values=values,
                      errors={field: message[:1].upper() + message[1:]}, links={})
    period = found.period
    chosen = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    base = f"/partners/{quote(found.org, safe='')}"
    links = {"csv": f"{base}.csv?{urlencode(chosen)}",
             "api": f"/api/partners/{quote(found.org, safe='')}/review?{urlencode(chosen)}"}
    return render(request, "partner.html", org=found.org, found=found, values=chosen, errors={}, links=links,
                  limit=partner_review.ROW_LIMIT)
