"""What a digest says, in sections of lines that every medium shows alike: the e-mail (templates/email/
digest.*), Slack (render.slack_digest) and the outbox text and `parley digest show` (`digest_text`).

Deadlines are read on the calendar of the charter in force, in its time zone ("due Tue 10 Mar 2026,
17:00 EDT, 1 business day 4 h left"); a section lists its first `SHOWN` items and counts the rest.
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.calendar import BusinessCalendar
from domain.digest import Digest, OpenDispute, TierFigures
from domain.durations import format_business_time, format_due, format_duration
from render.email import STATUS_WORDS
from render.slack_blocks import money_text

SHOWN = 25
TIER_NAMES = {1: "frontline", 2: "mediation", 3: "executive"}
OWNER_WORDS = {"direct": "direct sales", "partner": "the partner", "co_sell": "both channels (co-sell)"}


@dataclass(frozen=True)
class Line:
    text: str
    link: str | None = None  # the page it is about


@dataclass(frozen=True)
class Section:
    title: str
    lines: tuple[Line, ...]
    empty: str  # what the section says when it has no lines
    more: int = 0  # lines left out


def headline(digest: Digest) -> str:
    """One sentence of what the digest holds."""
    parts = []
    if digest.open_disputes:
        late = sum(digest.past_deadline(d) for d in digest.open_disputes)
        past = f" ({late} past the deadline)" if late else ""
        parts.append(_count(len(digest.open_disputes), "open dispute") + past)
    if digest.breaches:
        parts.append(_count(len(digest.breaches), "deadline") + " missed this week")
    if digest.overlaps:
        parts.append(_count(len(digest.overlaps), "overlap") + " awaiting you")
    if digest.price_protections:
        parts.append(_count(len(digest.price_protections), "price protection") + " ending soon")
    if digest.governance is not None:
        parts.append("the governance summary")
    return "; ".join(parts) or "nothing needs you this week"


def sections(digest: Digest, cal: BusinessCalendar, base_url: str) -> list[Section]:
    base = base_url.rstrip("/")
    out: list[Section] = []
    if "open_disputes" in digest.sections:
        out.append(_section("Your open disputes, nearest deadline first", "No open disputes await you.", [
            Line(dispute_line(digest, d, cal), f"{base}/disputes/{d.id}") for d in digest.open_disputes]))
    if "breaches" in digest.sections:
        out.append(_section("Deadlines missed in the past week", "No deadline was missed.", [
            Line(f"{b.dispute_id} {b.title}: the {TIER_NAMES.get(b.tier, str(b.tier))} deadline ran out "
                 f"{format_due(b.at, cal)}", f"{base}/disputes/{b.dispute_id}") for b in digest.breaches]))
    if "overlaps" in digest.sections:
        out.append(_section("Overlapping registrations awaiting you", "No overlap awaits you.", [
            Line(f"{o.first} and {o.second}: {o.score}% alike, found {format_due(o.found_at, cal)}",
                 f"{base}/overlaps") for o in digest.overlaps]))
    if "price_protections" in digest.sections:
        out.append(_section("Price protection ending soon", "No price protection ends soon.", [
            Line(f"{p.dispute_id} {p.title} ({p.account}): price protection for {OWNER_WORDS.get(p.owner, p.owner)} "
                 f"ends {p.until:%a} {p.until.day} {p.until:%b %Y}", f"{base}/disputes/{p.dispute_id}")
            for p in digest.price_protections]))
    if (g := digest.governance) is not None:
        local = g.since.astimezone(cal.timezone)
        since = f"{local.day} {local:%b %Y}"
        out.append(_section(f"SLA breaches and time per tier (disputes filed since {since})", "",
                            [Line(tier_line(t)) for t in g.tiers]))
        rate = f"{g.deviation_rate:.0%}" if g.deviation_rate is not None else "—"
        out.append(_section(
            f"Decisions that departed from the recommendation: {len(g.deviations)} of {g.decisions} ({rate}) "
            f"since {since}", "Every decision followed the recommendation.",
            [Line(f"{d.dispute_id} {d.title}: {d.kind} by {d.actor} gave {OWNER_WORDS.get(d.owner, d.owner)}; "
                  f"the recommendation was {OWNER_WORDS.get(d.recommended, d.recommended)}",
                  f"{base}/disputes/{d.dispute_id}") for d in g.deviations]))
        out.append(_section("Registrations whose protection ends within two weeks", "None ends within two weeks.", [
            Line(f"{r.id} {r.account} ({r.partner_org or r.owner_email}): protected until "
                 f"{format_due(r.protected_until, cal)}", f"{base}/registrations/{r.id}") for r in g.expiring]))
    return out


def dispute_line(digest: Digest, d: OpenDispute, cal: BusinessCalendar) -> str:
    status = STATUS_WORDS.get(d.status, d.status)
    waiting = f"; waiting on {', '.join(d.waiting_on)}" if d.waiting_on else ""
    return f"{d.id} {d.title} ({d.account}, {money_text(d.deal_value, d.currency)}): {status}, " \
           f"{deadline_words(digest, d, cal)}{waiting}"


def deadline_words(digest: Digest, d: OpenDispute, cal: BusinessCalendar) -> str:
    if d.paused:
        return "clock paused (waiting for information)"
    if d.due_at is None:
        return "no deadline"
    when = format_due(d.due_at, cal)
    if digest.past_deadline(d):
        over = cal.between(d.due_at, digest.at)
        return f"past its deadline, {when}" + (f" (business time over: {format_business_time(over, cal)})"
                                                if over >= 1 else "")
    left = cal.between(digest.at, d.due_at)
    return f"due {when}" + (f" (business time left: {format_business_time(left, cal)})" if left >= 1 else "")


def tier_line(t: TierFigures) -> str:
    name = f"Tier {t.tier} ({TIER_NAMES.get(t.tier, '?')})"
    rate = f"{t.breached} of {t.entered} breached ({t.breach_rate:.0%})" if t.breach_rate is not None \
        else "no dispute entered it"
    median = f"median time {format_duration(t.median_s)} over {_count(t.closed, 'closed dispute')}" \
        if t.median_s is not None else "no closed dispute to time"
    return f"{name}: {rate}; {median}"


def digest_text(digest: Digest, cal: BusinessCalendar, base_url: str) -> str:
    """The digest as plain text: the outbox row, the Slack notification text and `parley digest show`."""
    out = [f"Parley digest for {digest.recipient.name or digest.recipient.email}, "
           f"{format_due(digest.at, cal)}: {headline(digest)}."]
    for section in sections(digest, cal, base_url):
        out += ["", section.title + ":"]
        out += [f"- {line.text}" for line in section.lines] or ([f"  {section.empty}"] if section.empty else [])
        if section.more:
            out.append(f"  … and {section.more} more in Parley")
    return "\n".join(out)


def _section(title: str, empty: str, lines: list[Line]) -> Section:
    return Section(title=title, lines=tuple(lines[:SHOWN]), empty=empty, more=max(0, len(lines) - SHOWN))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
