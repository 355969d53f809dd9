"""Slack plumbing for the activities: a WebClient that retries like Slack asks, and the case message.

The case message is the one message per dispute in the conflicts channel; it is rewritten in place
after every event (header, status fields) while the events themselves go into its thread.
"""

from __future__ import annotations

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.handler import default_interval_calculator
from slack_sdk.http_retry.interval_calculator import RetryIntervalCalculator
from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, SectionBlock

from domain.model import CLOSED, DisputeView

SLACK_TIMEOUT_S = 10
HEADER_MAX = 150  # Slack's limit for a header block's text
LATEST_MAX = 1000  # a context element takes 2000 characters, after escaping
TIER_NAMES = {1: "frontline", 2: "mediation", 3: "executive"}


def make_slack_client(token: str, base_url: str = WebClient.BASE_URL, *,
                      interval: RetryIntervalCalculator = default_interval_calculator) -> WebClient:
    """A WebClient that waits out rate limits (honouring Retry-After) and retries server and
    connection errors a few times before the activity gives up and Temporal retries it."""
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=SLACK_TIMEOUT_S,
        retry_handlers=[
            RateLimitErrorRetryHandler(max_retry_count=5),
            ServerErrorRetryHandler(max_retry_count=3, interval_calculator=interval),
            ConnectionErrorRetryHandler(max_retry_count=3, interval_calculator=interval),
        ],
    )


def escape(text: str) -> str:
    """Slack mrkdwn escaping for text people typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def case_text(view: DisputeView) -> str:
    """The plain-text fallback of the case message (notifications, screen readers)."""
    return f"{view.id}: {view.title} ({view.status.value}, tier {view.tier})"


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
        MarkdownTextObject(text=f"*SLA due*\n{_due(view)}"),
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


def _due(view: DisputeView) -> str:
    sla = view.sla
    if view.status in CLOSED:
        return "—"
    if sla.paused:
        return "paused (waiting for information)"
    if sla.due_at is None:
        return "—"
    fallback = sla.due_at.strftime("%Y-%m-%d %H:%M UTC")
    stamp = f"<!date^{int(sla.due_at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"
    return f"{stamp} (breached)" if sla.breached else stamp


def _outcome(view: DisputeView) -> str:
    if view.decision is None:
        return "—"
    outcome = view.decision.outcome
    split = outcome.credit_split
    final = ", final" if view.decision.final else ""
    return f"{outcome.owner} (direct {split.direct}% / partner {split.partner}%{final})"
