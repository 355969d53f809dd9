"""The overlaps queue (`/overlaps`): live pairs of registrations claiming the same account, newest first,
both claims side by side and whether a dispute links them. Mediators, executives, auditors and admins
see every pair; a rep sees those touching their own registrations (`service.registration_views`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.deps import SessionDep
from api.web.pages_registrations import FILE_ABOUT, STATUS_LABELS
from api.web.render import PageRoute, render
from api.web.session import PageUser
from domain.model import Role
from service import registration_views as views

router = APIRouter(route_class=PageRoute, include_in_schema=False)
SHOWN = 200


@router.get("/overlaps")
def overlaps_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    pairs = views.overlap_queue_page(session, user, limit=SHOWN + 1)
    emails = {side["owner"] for pair in pairs for side in (pair["a"], pair["b"]) if side["owner"]}
    intro = ("Live registrations of yours that another channel or partner claims too, newest first."
             if Role(user.role) == Role.rep else
             "Every live pair of registrations claiming the same account, newest first.")
    return render(request, "overlaps.html", title="Overlaps", pairs=pairs[:SHOWN], more=len(pairs) > SHOWN,
                  shown=SHOWN, intro=intro, names=views.names(session, emails), labels=STATUS_LABELS,
                  file_about=FILE_ABOUT)
