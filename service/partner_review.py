"""The partner review (DESIGN §9): one partner organisation's disputes in a period for its quarterly
business review: counts, outcomes, the credit it won and lost, the median time to resolution, how often
a ruling or decision departed from the charter's recommendation, and its registrations and overlaps.

The rules every surface shares (the page and its CSV, `GET /api/partners/{org}/review`):
- who may see it: mediators, executives, auditors and admins (a rep gets 403, whatever the organisation);
- the organisation must be one Parley knows (404 otherwise), matched case-insensitively;
- the period is whole days in the charter's time zone, `from` and `to` both included; without them, the
  last full calendar quarter; with only `to`, from the start of `to`'s quarter; with only `from`, up to
  today. A date that is not YYYY-MM-DD, or a `to` before `from`, is refused naming the field (422).
The figures cover all the organisation's disputes filed in the period (as the dashboard's do); the list of
disputes holds those the viewer may see.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlmodel import Session

from domain.charter import Charter
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.model import Role
from store import partner_review
from store.partner_review import Review, ReviewRow
from store.tables import User

REVIEWERS = (Role.mediator, Role.executive, Role.auditor, Role.admin)
ROW_LIMIT = partner_review.ROW_LIMIT  # disputes listed on the page; the CSV and the JSON list them all
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9998, 12, 31)
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Period:
    """Whole days in the charter's time zone, both included, and the same span in UTC: [start, end)."""

    first: date
    last: date
    timezone: str
    start: datetime
    end: datetime
    default: bool  # the last full quarter, as nobody chose a period

    @property
    def label(self) -> str:
        quarter = quarter_of(self.first)
        if quarter == (self.first, self.last):
            return f"Q{(self.first.month - 1) // 3 + 1} {self.first.year}"
        return f"{self.first.isoformat()} – {self.last.isoformat()}"


@dataclass
class PartnerReview:
    review: Review
    period: Period
    rows: list[ReviewRow]  # the disputes the viewer may see (the first `ROW_LIMIT` on the page)
    visible: int  # how many of the organisation's disputes in the period the viewer may see

    @property
    def org(self) -> str:
        return self.review.org

    @property
    def not_visible(self) -> int:
        return max(0, self.review.disputes.filed - self.visible)


# --- the period --------------------------------------------------------------------------------------

def quarter_of(day: date) -> tuple[date, date]:
    """The calendar quarter `day` falls in: its first and last day."""
    first = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    after = date(first.year + 1, 1, 1) if first.month == 10 else date(first.year, first.month + 3, 1)
    return first, after - timedelta(days=1)


def last_full_quarter(today: date) -> tuple[date, date]:
    """The latest calendar quarter that has ended before `today`."""
    first, _ = quarter_of(today)
    return quarter_of(first - timedelta(days=1))


def _day(field: str, text: str | None) -> date | None:
    value = (text or "").strip()
    if not value:
        return None
    try:
        if not _ISO_DAY.match(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field}: is not a date; write it as YYYY-MM-DD, e.g. 2026-03-31", field) from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidInput(f"{field}: must lie between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}", field)
    return day


def period_of(charter: Charter, now: datetime, date_from: str | None, date_to: str | None) -> Period:
    """The period asked for (or the default one), checked; raises InvalidInput naming `from` or `to`."""
    zone = charter.business_calendar().timezone
    today = now.astimezone(zone).date()
    first, last = _day("from", date_from), _day("to", date_to)
    default = first is None and last is None
    if first is None and last is None:
        first, last = last_full_quarter(today)
    elif first is None:
        assert last is not None
        first = quarter_of(last)[0]
    elif last is None:
        if first > today:
            raise InvalidInput(f"from: {first.isoformat()} is after today ({today.isoformat()}); give a `to` "
                               "date too", "from")
        last = today
    if last < first:
        raise InvalidInput(f"to: {last.isoformat()} is before from ({first.isoformat()})", "to")
    start = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return Period(first=first, last=last, timezone=charter.calendar.timezone, start=start, end=end, default=default)


# --- the review --------------------------------------------------------------------------------------

def check_reviewer(user: User) -> None:
    if Role(user.role) not in REVIEWERS:
        raise Forbidden(f"The partner review is for mediators, executives, auditors and admins; {user.email} is a "
                        f"{user.role}.")


def checked(session: Session, user: User, org: str, charter: Charter, now: datetime, date_from: str | None,
            date_to: str | None) -> tuple[str, Period]:
    """The organisation as Parley spells it and the period, once the user may see the review; raises
    Forbidden, InvalidInput (naming `from` or `to`) or NotFound, in that order."""
    check_reviewer(user)
    period = period_of(charter, now, date_from, date_to)
    name = partner_review.known_org(session, org)
    if name is None:
        raise NotFound(f"Parley knows no partner organisation {org.strip()!r}.")
    return name, period


def review(session: Session, user: User, org: str, charter: Charter, now: datetime, date_from: str | None = None,
           date_to: str | None = None, *, row_limit: int | None = ROW_LIMIT) -> PartnerReview:
    """The organisation's review for the period, listing at most `row_limit` disputes (None: all of them)."""
    name, period = checked(session, user, org, charter, now, date_from, date_to)
    figures = partner_review.review(session, name, period.start, period.end)
    rows = partner_review.rows(session, name, period.start, period.end, user, limit=row_limit) if row_limit != 0 else []
    visible = partner_review.visible_count(session, name, period.start, period.end, user)
    return PartnerReview(review=figures, period=period, rows=rows, visible=visible)


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def as_dict(found: PartnerReview) -> dict[str, Any]:
    """The review as `GET /api/partners/{org}/review` answers it."""
    r, d, p = found.review, found.review.disputes, found.period
    return {
        "org": r.org,
        "from": p.first, "to": p.last, "timezone": p.timezone,
        "disputes": {"filed": d.filed, "open": d.still_open, "resolved": d.resolved, "withdrawn": d.withdrawn},
        "outcomes": dict(d.owners),
        "credit": {
            "deals": {"partner": round(d.credit_deals.get("partner", 0.0), 4),
                      "direct": round(d.credit_deals.get("direct", 0.0), 4)},
            "by_currency": [{"currency": c, "partner": round(partner, 2), "direct": round(direct, 2)}
                            for c, direct, partner in d.credit_value],
        },
        "time_to_resolution": {"median_s": None if r.median_resolution_s is None else round(r.median_resolution_s, 3),
                               "resolved": r.resolved_timed},
        "recommendations": {"decisions": r.decisions, "departed": r.departed,
                            "deviation_rate": _rate(r.departed, r.decisions)},
        "registrations": {"submitted": r.registrations_submitted, "by_status": dict(sorted(r.registrations.items())),
                          "won": r.registrations_won, "lost": r.registrations_lost},
        "overlaps": {"found": r.overlaps, "disputed": r.overlaps_disputed},
        "listed": [_listed(row) for row in found.rows],
        "not_visible": found.not_visible,
    }


def _listed(row: ReviewRow) -> dict[str, Any]:
    split = None if row.direct_pct is None else {"direct": row.direct_pct, "partner": row.partner_pct}
    return {"id": row.id, "title": row.title, "conflict_type": row.conflict_type, "region": row.region,
            "account": row.account, "status": row.status, "deal_value": row.deal_value, "currency": row.currency,
            "filed_at": row.created_at, "closed_at": row.closed_at, "owner": row.outcome_owner,
            "credit_split": split, "follows_recommendation": row.follows_recommendation,
            "resolution_s": row.resolution_s}


# --- the CSV -------------------------------------------------------------------------------------------

CSV_COLUMNS = ("dispute_id", "title", "conflict_type", "region", "account", "status", "filed_at", "resolved_at",
               "deal_value", "currency", "owner", "direct_pct", "partner_pct", "partner_credit", "direct_credit",
               "follows_recommendation", "time_to_resolution_h")


def _cell(text: str) -> str:
    """Free text as a spreadsheet shows it, never as a formula it would run."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _utc(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else ""


def _number(value: float | None, places: int = 2) -> str:
    return "" if value is None else f"{value:.{places}f}".rstrip("0").rstrip(".")


def csv_lines(session: Session, user: User, org: str, period: Period) -> Iterator[str]:
    """Every dispute of the organisation in the period that the viewer may see, one CSV row each (times in
    UTC); `org` and `period` as `checked` gives them."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for n, row in enumerate(partner_review.iter_rows(session, org, period.start, period.end, user), 1):
        share = row.partner_pct
        hours = None if row.resolution_s is None else row.resolution_s / 3600
        follows = "" if row.follows_recommendation is None else ("yes" if row.follows_recommendation else "no")
        writer.writerow([
            row.id, _cell(row.title), row.conflict_type, _cell(row.region), _cell(row.account), row.status,
            _utc(row.created_at), _utc(row.closed_at), _number(row.deal_value), row.currency, row.outcome_owner or "",
            _number(row.direct_pct), _number(share),
            _number(None if share is None else row.deal_value * share / 100),
            _number(None if row.direct_pct is None else row.deal_value * row.direct_pct / 100),
            follows, _number(hours),
        ])
        if n % 200 == 0:
            yield flush()
    yield flush()


def csv_filename(org: str, period: Period) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "-", org).strip("-").lower() or "partner"
    return f"parley-partner-{slug}-{period.first.isoformat()}-{period.last.isoformat()}.csv"
