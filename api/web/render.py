"""Rendering pages: the Jinja2 environment, its filters, the page route class and error pages."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from babel.numbers import format_currency, format_decimal
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.routing import StoreRoute
from api.web.session import check_csrf, csrf_token, pop_flashes, via_sso
from domain.calendar import BusinessCalendar
from domain.durations import format_business_time, format_due, plural
from domain.errors import ParleyError
from domain.model import Role
from store.tables import User

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES_DIR = ROOT / "templates" / "web"
STATIC_DIR = TEMPLATES_DIR / "static"

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

ACTION_LABELS = {
    "filed": "Filed", "commented": "Commented", "proposed": "Proposed a resolution", "accepted": "Accepted",
    "proposal_rejected": "Rejected the proposal", "approval_rejected": "Rejected the agreement",
    "approved": "Approved the agreement", "escalated": "Escalated", "info_requested": "Asked for information",
    "resumed": "Resumed the clock", "answered": "Answered the question",
    "ruled": "Ruled", "appealed": "Appealed", "decided": "Decided (final)",
    "withdrawn": "Withdrew", "reassigned": "Reassigned", "sla_reminder": "SLA reminder",
    "sla_breached": "SLA breached", "ruling_final": "Ruling became final",
}
STATUS_LABELS = {
    "frontline": "Frontline", "awaiting_approval": "Awaiting approval", "mediation": "Mediation",
    "appeal_window": "Appeal window", "executive": "Executive", "resolved": "Resolved", "withdrawn": "Withdrawn",
}
OWNER_LABELS = {"direct": "Direct sales", "partner": "Partner", "co_sell": "Co-sell"}
TIER_NAMES = {1: "Frontline", 2: "Mediation", 3: "Executive"}


def _asset_version() -> str:
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.glob("*")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def iso(value: datetime | str | None) -> str:
    """The machine-readable UTC form for <time datetime="…">."""
    if value is None:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return ""  # a damaged stored time: shown as stored by `utc_text`, flagged by verification
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_text(value: datetime | str | None) -> str:
    """What a reader without JavaScript sees; the page script replaces it with local time."""
    stamp = iso(value)
    if not stamp:
        return str(value or "")
    return f"{stamp[:10]} {stamp[11:16]} UTC"


def duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "–"
    sign = "-" if seconds < 0 else ""
    s = int(round(abs(seconds)))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        text = f"{days}d {hours}h"
    elif hours:
        text = f"{hours}h {minutes}m"
    elif minutes:
        text = f"{minutes}m {secs}s"
    else:
        text = f"{secs}s"
    return sign + text


def business_time(seconds: float | None, calendar: BusinessCalendar) -> str:
    """Business time in the charter's business days and hours ("2 business days 3 h")."""
    if seconds is None or math.isnan(seconds):
        return "–"
    return format_business_time(seconds, calendar)


def wall(value: datetime | str | None, calendar: BusinessCalendar) -> str:
    """A wall-clock instant in the charter's time zone ("Tue 10 Mar 2026, 17:00 EST")."""
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return format_due(value if value.tzinfo else value.replace(tzinfo=UTC), calendar)


def from_now(due: datetime, now: datetime) -> str:
    """Wall-clock time to (or since) an instant, as the page's script counts it down."""
    left = (due - now).total_seconds()
    return f"{duration(left)} from now" if left > 0 else f"deadline passed {duration(abs(left))} ago"


DAY_NAMES = {"mon": "Mon", "tue": "Tue", "wed": "Wed", "thu": "Thu", "fri": "Fri", "sat": "Sat", "sun": "Sun"}


def calendar_note(calendar: BusinessCalendar) -> str:
    """What a business day is on this charter, in words."""
    spec = calendar.spec
    if spec.kind == "24x7":
        return "The charter's calendar runs round the clock: business time is wall-clock time."
    days = ", ".join(DAY_NAMES.get(d.lower()[:3], d) for d in spec.working_days)
    return (f"Business time counts only the charter's working hours: a business day is "
            f"{calendar.day_seconds / 3600:g} h ({spec.start}–{spec.end} {spec.timezone}, {days}; holidays excluded).")


def money(value: float | int | None, currency: str = "") -> str:
    """An amount with its currency code, formatted by Babel ("EUR 5,000", "EUR 5,000.50")."""
    if value is None:
        return "–"
    whole = float(value).is_integer()
    if not currency:
        return format_decimal(value, format="#,##0" if whole else "#,##0.00", locale="en")
    return format_currency(value, currency, format="¤¤ #,##0" if whole else "¤¤ #,##0.00", locale="en",
                           currency_digits=False)


def number(value: float | int | None, places: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{places}f}".rstrip("0").rstrip(".") if places else f"{value:,.0f}"


def day(value: date | datetime | None) -> str:
    return value.isoformat()[:10] if value else ""


def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html", "svg"]),
        undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(iso=iso, utc=utc_text, duration=duration, money=money, number=number, day=day,
                       business_time=business_time, wall=wall, from_now=from_now, calendar_note=calendar_note,
                       plural=plural,
                       action_label=lambda a: ACTION_LABELS.get(a, a.replace("_", " ").capitalize()),
                       status_label=lambda s: STATUS_LABELS.get(s, s),
                       owner_label=lambda o: OWNER_LABELS.get(o, o or "–"),
                       tier_name=lambda t: TIER_NAMES.get(t, f"Tier {t}"))
    env.globals.update(asset_version=_asset_version(), STATUS_LABELS=STATUS_LABELS, OWNER_LABELS=OWNER_LABELS,
                       TIER_NAMES=TIER_NAMES)
    return env


ENV = _env()


# --- navigation ---------------------------------------------------------------------------------

LEADERS = (Role.mediator, Role.executive, Role.auditor, Role.admin)


def nav_for(user: User | None) -> list[tuple[str, str]]:
    if user is None:
        return []
    role = Role(user.role)
    items = [("/", "Waiting on me")]
    if role == Role.auditor:
        items = [("/audit", "All disputes")]
    else:
        items.append(("/disputes", "My disputes"))
    if role == Role.rep:
        items.append(("/disputes/new", "File a dispute"))
    if role == Role.admin:
        items.append(("/audit", "Audit"))
    if role in LEADERS:
        items.append(("/dashboard", "Dashboard"))
    items.append(("/outbox", "Outbox"))
    return items


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    user: User | None = getattr(request.state, "user", None)
    path = request.url.path
    nav = nav_for(user)
    current = max((href for href, _ in nav if path == href or (href != "/" and path.startswith(href + "/"))),
                  key=len, default=None)
    html = ENV.get_template(template).render(
        request=request, user=user, csrf=csrf_token(request), flashes=pop_flashes(request),
        nav=nav, current=current, sso=via_sso(request), **context,
    )
    return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)


def error_page(request: Request, status_code: int, message: str) -> HTMLResponse:
    titles = {401: "Please sign in", 403: "Not allowed", 404: "Not found", 409: "Not possible right now",
              422: "Check your input", 503: "Temporarily unavailable"}
    return render(request, "error.html", status_code=status_code,
                  title=titles.get(status_code, "Something went wrong"), message=message)


class PageRoute(StoreRoute):
    """A page (its store sessions closed as it returns, as for every route: api.routing): every POST must carry
    the session's CSRF token, and Parley's errors become HTML pages (the JSON API's handler would answer them
    as JSON)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                if request.method == "POST":
                    await check_csrf(request)
                return await original(request)
            except ParleyError as exc:
                return error_page(request, exc.status, exc.message)

        return handler
