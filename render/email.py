"""What a notice says by e-mail: the subject, a plain-text part and an HTML part (Jinja2, templates/email/).

A mail greets its reader by name, says what happened (the notice's own line, as Slack shows it), where
the dispute stands and its deadline in business time on the charter's calendar, in the charter's time
zone ("Due Thu 4 Feb 2027, 10:00 EST, business time left: 1 business day 5 h", as the pages and Slack
texts write it), and links to the dispute's page (a registration's notice: to the registration's page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from domain.calendar import BusinessCalendar
from domain.durations import format_business_time, format_due, format_duration
from domain.model import CLOSED, DisputeView

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates" / "email"
SUBJECT_MAX = 150
SUBJECT_PREFIX = {
    "action_required": "Your move", "reminder": "Reminder", "escalated": "Escalated", "paged": "Past deadline",
    "resolved": "Closed",
}
STATUS_WORDS = {
    "frontline": "frontline (tier 1)", "awaiting_approval": "awaiting the mediator's approval",
    "mediation": "mediation (tier 2)", "appeal_window": "appeal window", "executive": "executive (tier 3)",
    "resolved": "resolved", "withdrawn": "withdrawn",
}

_ENV = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=select_autoescape(["html"]),
                   undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


@dataclass(frozen=True)
class MailNotice:
    """One notice to one person, with what the mail shows beside it."""

    dispute_id: str
    kind: str
    text: str
    recipient: str
    name: str | None  # None: not a Parley user (the mail greets the address)
    view: DisputeView | None  # the dispute as it stands (None for a registration)
    calendar: BusinessCalendar | None  # the dispute's charter calendar, when its charter is stored
    link: str | None
    now: datetime


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def render_notice(notice: MailNotice) -> RenderedMail:
    context = {
        "n": notice, "greeting": notice.name or notice.recipient, "deadline": deadline(notice),
        "status": STATUS_WORDS.get(notice.view.status.value, notice.view.status.value) if notice.view else None,
        "title": notice.view.title if notice.view else None,
    }
    return RenderedMail(subject=subject(notice), text=_ENV.get_template("notice.txt").render(context),
                        html=_ENV.get_template("notice.html").render(context))


def subject(notice: MailNotice) -> str:
    """The subject: "[Parley] Your move: PRL-… <title>". A registration's notice says what happened instead,
    and one that begins with its prefix already ("Reminder: REG-… awaits approval") is not given it twice."""
    prefix = SUBJECT_PREFIX.get(notice.kind, "Update")
    about = f"{notice.dispute_id} {notice.view.title}" if notice.view else notice.text
    said = about if about.startswith(f"{prefix}:") else f"{prefix}: {about}"
    text = " ".join(f"[Parley] {said}".split())  # no line breaks in a header
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 1] + "…"


def deadline(notice: MailNotice) -> str | None:
    """The deadline line, in business time on the charter's calendar; None when there is none."""
    view, cal = notice.view, notice.calendar
    if view is None or view.status in CLOSED:
        return None
    sla = view.sla
    if sla.paused:
        kept = f"; business time kept for when it resumes: {_business(sla.remaining_s, cal)}" \
            if sla.remaining_s is not None else ""
        return f"The clock is paused while the mediator waits for information{kept}."
    if sla.due_at is None:
        return None
    due = sla.due_at
    if cal is None:
        left = (due - notice.now).total_seconds()
        when = due.strftime("%a %d %b %Y, %H:%M UTC")
    else:
        left = cal.between(notice.now, due) if notice.now < due else -cal.between(due, notice.now)
        when = format_due(due, cal)
    if left > 0:
        return f"Due {when} (business time left: {_business(left, cal)})."
    return f"Due {when}: past its deadline by {_business(-left, cal)} of business time."


def _business(seconds: float, cal: BusinessCalendar | None) -> str:
    return format_business_time(seconds, cal) if cal is not None else format_duration(seconds)
