"""The auditor's view (every dispute, verification, export), the dashboard and the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from api.deps import EngineDep, SessionDep, get_now
from api.streaming import download
from api.web import charts
from api.web.render import LEADERS, OWNER_LABELS, TIER_NAMES, PageRoute, duration, render
from api.web.session import PageUser
from domain.errors import Forbidden, NotFound
from domain.model import Role
from domain.plain_words import a_role
from store import audit, notifications, queries, stats
from store.audit import signing
from store.audit.checkpoints import Status, status
from store.tables import User

router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _auditor(user: User) -> None:
    if Role(user.role) not in (Role.auditor, Role.admin):
        raise Forbidden(f"The audit view is for auditors and admins; you are signed in as {a_role(user.role)}.")


@router.get("/audit")
def audit_page(request: Request, user: PageUser, session: SessionDep) -> Response:
    _auditor(user)
    return _audit_page(request, session, None, None)


@router.get("/audit/verify")
def audit_verify(request: Request, user: PageUser, session: SessionDep, digest: str = "") -> Response:
    _auditor(user)
    digest = digest.strip()
    if digest:  # only the digest is the auditor's input: a damaged trail is a result, shown as such
        try:
            audit.parse_digest(digest)
        except ValueError as exc:
            return _audit_page(request, session, None, digest, digest_error=str(exc), status_code=422)
    key = _public_key(request)
    return _audit_page(request, session, audit.verify(session, digest=digest or None, public_key=key), digest)


def _public_key(request: Request) -> Ed25519PublicKey | None:
    """The public half of PARLEY_AUDIT_SIGNING_KEY, which the signed checkpoints are checked with (None: unset)."""
    private = request.app.state.settings.audit_key
    return private.public_key() if private is not None else None


@dataclass(frozen=True)
class Signing:
    """The signature status the page shows: the key (None: none configured) and the latest stored checkpoint
    with the events after it (what verification then checks, signature and all)."""

    key: str | None  # the public key, base64
    stored: Status


def _audit_page(request: Request, session: Session, result: audit.VerifyResult | None, digest: str | None,
                digest_error: str | None = None, status_code: int = 200) -> Response:
    filters = queries.Filters.parse(request.query_params)
    page = queries.all_disputes(session, filters)
    key = _public_key(request)
    signing_ = Signing(key=signing.public_b64(key) if key is not None else None, stored=status(session))
    return render(request, "audit.html", status_code=status_code, rows=page.rows, page=page, filters=filters,
                  result=result, digest=digest or "", digest_error=digest_error, now=get_now(request),
                  regions=queries.regions(session), outcomes=queries.OUTCOME_CHOICES, signing=signing_)


@router.get("/audit/export.{fmt}")
def audit_export(fmt: str, user: PageUser, engine: EngineDep) -> Response:
    _auditor(user)
    if fmt not in ("csv", "jsonl"):
        raise NotFound(f"There is no {fmt!r} export; use CSV or JSONL.")
    kind: Literal["csv", "jsonl"] = "csv" if fmt == "csv" else "jsonl"

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    media = "application/x-ndjson" if fmt == "jsonl" else "text/csv"
    headers = {"Content-Disposition": f'attachment; filename="parley-audit-{stamp}.{fmt}"',
               "Cache-Control": "no-store"}
    return download(engine, lambda session: audit.export(session, kind), media, headers)


@router.get("/dashboard")
def dashboard_page(request: Request, user: PageUser, session: SessionDep, period: str = "") -> Response:
    if Role(user.role) not in LEADERS:
        raise Forbidden("The dashboard is for mediators, executives, auditors and admins.")
    board = stats.dashboard(session, stats.period_of(period), get_now(request))
    names = queries.names_of(session, {d.actor for d in board.deviations})
    return render(request, "dashboard.html", board=board, periods=stats.PERIODS, charts=_charts(board, names),
                  age_buckets=[label for label, _ in stats.AGE_BUCKETS], names=names)


def _charts(board: stats.Dashboard, names: dict[str, str]) -> dict[str, object]:
    def pct(breached: int, entered: int) -> float:
        return 100.0 * breached / entered if entered else 0.0

    breach_rows = [(f"Tier {t} · {TIER_NAMES[t]}", pct(b, e), f"{pct(b, e):.0f}% ({b} of {e})")
                   for t, (b, e) in board.breach.items()]
    median_rows = [(f"Tier {t} · {TIER_NAMES[t]}", m or 0.0, duration(m) + f" (n={n})" if m is not None else "no data")
                   for t, (m, n) in board.median_s.items()]
    owners = [(OWNER_LABELS[o], float(n), f"{n}") for o, n in board.owners.items()]
    credit = [("Credit (deals)", [board.credit_deals.get("direct", 0.0), board.credit_deals.get("partner", 0.0)])]
    return {
        "open_age": charts.stacked("chart-open-age", "Open disputes by tier and age",
                                   [label for label, _ in stats.AGE_BUCKETS],
                                   [(f"Tier {t} · {TIER_NAMES[t]}", [float(v) for v in counts])
                                    for t, counts in board.open_age.items()]),
        "breach": charts.bars("chart-breach", "SLA breach rate per tier", breach_rows, scale_max=100,
                              color=charts.PALETTE[5]),
        "median": charts.bars("chart-median", "Median time spent in each tier", median_rows,
                              color=charts.PALETTE[2]),
        "owners": charts.bars("chart-owners", "Outcomes: who got ownership", owners, color=charts.PALETTE[0]),
        "credit": charts.stacked("chart-credit", "Credit split totals", ["Direct sales", "Partner"], credit),
        "types": charts.bars("chart-types", "Disputes by conflict type",
                             [(t.replace("_", " "), float(n), str(n)) for t, n in board.by_type],
                             color=charts.PALETTE[3]),
        "regions": charts.bars("chart-regions", "Disputes by region",
                               [(r, float(n), str(n)) for r, n in board.by_region], color=charts.PALETTE[4]),
        "deviation": charts.bars("chart-deviation", "Departed from the recommendation, per mediator and executive",
                                 [(names.get(d.actor, d.actor), 100 * d.rate,
                                   f"{100 * d.rate:.0f}% ({d.departed} of {d.decisions})") for d in board.deviations],
                                 scale_max=100, color=charts.PALETTE[1]),
        "resolution": charts.bars("chart-resolution", "Median time to resolution per conflict type",
                                  [(t.replace("_", " "), m or 0.0, duration(m) + f" (n={n})" if m is not None
                                    else "no data") for t, (m, n) in board.resolution_by_type.items()],
                                  color=charts.PALETTE[2]),
    }


@router.get("/outbox")
def outbox_page(request: Request, user: PageUser, session: SessionDep, recipient: str = "",
                page: str = "1") -> Response:
    page_no = int(page) if page.isascii() and page.isdigit() and 0 < int(page) < 10_000 else 1
    rows, has_more = notifications.outbox(session, user, recipient.strip() or None, page_no)
    slack = bool(request.app.state.settings.slack_bot_token)
    return render(request, "outbox.html", rows=rows, has_more=has_more, page_no=page_no, recipient=recipient.strip(),
                  recipients=notifications.outbox_recipients(session, user), slack=slack,
                  everyone=Role(user.role) in (Role.auditor, Role.admin))
