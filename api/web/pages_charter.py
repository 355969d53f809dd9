"""The charter page (`/charter`): the version in force and its text, the days off it gives this year,
the change log, a diff between two versions, and for admins a form to adopt a new version. Adopting
goes through `service.charters.adopt`, as `POST /api/charter` does."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from api.deps import SessionDep, charter_in_force, get_now
from api.web.forms import FormState
from api.web.render import PageRoute, render
from api.web.session import PageUser, flash
from domain import public_holidays
from domain.errors import Forbidden
from domain.model import Role
from domain.plain_words import a_role
from service import charters
from service.charters import CharterRefused
from store.tables import User

router = APIRouter(route_class=PageRoute, include_in_schema=False)
PAGE = "/charter"


@router.get(PAGE)
def charter_page(request: Request, user: PageUser, session: SessionDep, old: str = "", new: str = "") -> Response:
    return _page(request, session, user, FormState("adopt"), old.strip(), new.strip())


def _page(request: Request, session: Session, user: User, form: FormState, old: str = "", new: str = "",
          status_code: int = 200) -> Response:
    charter = charter_in_force(request.app.state)
    current = charters.current(session)
    log = charters.change_log(session)
    versions = list(dict.fromkeys(adoption.version_id for adoption in log))  # newest first, each once
    if not new:
        new = current.version_id
    if not old:
        old = next((v for v in versions if v != new), new)
    year = get_now(request).astimezone(charter.business_calendar().timezone).year
    if Role(user.role) == Role.admin and not form.values:
        form.values = {"toml": current.text}
    return render(request, "charter.html", status_code=status_code, in_force=current, charter=charter, log=log,
                  versions=versions, old=old, new=new,
                  diff=charters.diff(session, old, new) if old != new else [],
                  year=year, holidays=charters.holidays_in(charter, year), years=public_holidays.YEARS,
                  form=form, admin=Role(user.role) == Role.admin)


@router.post(PAGE)
async def charter_adopt(request: Request, user: PageUser) -> Response:
    if Role(user.role) != Role.admin:
        raise Forbidden(f"Only admins adopt a charter; you are signed in as {a_role(user.role)}.")
    data = await request.form()
    toml, reason = str(data.get("toml", "")), str(data.get("reason", ""))
    toml = toml.replace("\r\n", "\n")  # a browser sends a textarea's lines with CRLF; files keep LF
    engine = request.app.state.engine

    def adopt() -> Response:
        with Session(engine) as session:
            charter_in_force(request.app.state)  # the API's own file is in the change log first
            try:
                adoption, new = charters.adopt(session, toml, by=user.email, reason=reason)
            except CharterRefused as exc:
                errors: dict[str, list[str]] = {}
                for field, message in exc.problems:
                    errors.setdefault(field, []).append(message)
                form = FormState("adopt", {"toml": toml, "reason": reason.strip()},
                                 {field: "; ".join(messages) for field, messages in errors.items()})
                return _page(request, session, user, form, status_code=422)
        if new:
            flash(request, f"Adopted {adoption.version_id}: new disputes pin it from now on; running disputes "
                           "keep the version they were filed under.")
        else:
            flash(request, f"{adoption.version_id} is the charter in force already: nothing changed.", "info")
        return RedirectResponse(PAGE, status_code=303)

    return await run_in_threadpool(adopt)
