"""Slack text for every sender: escaping, dates every reader sees in their own zone, the due line,
and the case message (the one message per dispute in the conflicts channel, rewritten in place after
every event while the events themselves go into its thread)."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from domain.model import CLOSED, DisputeView

HEADER_MAX = 150  # Slack's limit for a header block's text
LATEST_MAX = 1000  # a context element takes 2000 characters, after escaping
TIER_NAMES = {1: "frontline", 2: "mediation", 3: "executive"}


def escape(text: str) -> str:
    """Slack mrkdwn escaping for text people typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def case_text(view: DisputeView) -> str:
    """The plain-text fallback of the case message (notifications, screen readers)."""
    return f"{view.id}: {view.title} ({view.status.value.replace('_', ' ')}, tier {view.tier})"


def case_blocks(view: DisputeView, latest: str | None = None,
                mentions: dict[str, str] | None = None) -> list[Block]:
    """The case message: who, where it stands, what it waits for. `mentions` maps e-mail to Slack id."""
    mentions = mentions or {}
    header = f"{view.id} · {view.title}"
    if len(header) > HEADER_MAX:
        header = header[: HEADER_MAX - 1] + "…"
    waiting = ", ".join(f"<@{mentions[e]}>" if e in mentions else escape(e) for e in view.waiting_on)
    fields = [
        MarkdownTextObject(text=f"*Status*\n{view.status.value.replace('_', ' ')}"),
        MarkdownTextObject(text=f"*Tier*\n{view.tier} ({TIER_NAMES.get(view.tier, '?')})"),
        MarkdownTextObject(text=f"*SLA due*\n{due_text(view)}"),
        MarkdownTextObject(text=f"*Waiting on*\n{waiting or '—'}"),
        MarkdownTextObject(text=f"*Outcome*\n{_outcome(view)}"),
        MarkdownTextObject(
            text=f"*Account*\n{escape(view.account)} · {view.deal_value:,.0f} {view.currency}"
        ),
    ]
    blocks: list[Block] = [HeaderBlock(text=header), SectionBlock(fields=fields)]
    if latest:
        latest = latest if len(latest) <= LATEST_MAX else latest[: LATEST_MAX - 1] + "…"
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"Latest: {escape(latest)}")]))
    return blocks


def slack_date(at: datetime) -> str:
    """A timestamp every reader sees in their own time zone (with a UTC fallback)."""
    fallback = at.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def due_text(view: DisputeView) -> str:
    sla = view.sla
    if view.status in CLOSED:
        return "closed"
    if sla.paused:
        return "paused (waiting for information)"
    if sla.due_at is None:
        return "—"
    return f"{slack_date(sla.due_at)}{' (breached)' if sla.breached else ''}"


def _outcome(view: DisputeView) -> str:
    if view.decision is None:
        return "—"
    outcome = view.decision.outcome
    split = outcome.credit_split
    final = ", final" if view.decision.final else ""
    return f"{outcome.owner} (direct {split.direct}% / partner {split.partner}%{final})"
