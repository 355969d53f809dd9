"""Block Kit for Parley's Slack messages: DMs with buttons, the line that replaces them after an action,
answers to `/conflict status|mine|help`, and the App Home queue.

Pure: views and texts in, `slack_sdk.models.blocks` out. Modals live in `render.slack_modals`; the
claims a dispute is about (its "Claims" section) in `render.slack_claims`.
"""

from __future__ import annotations

from collections.abc import Sequence

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from domain.claims import Claim
from domain.model import DisputeView, Outcome, Status
from domain.notices import name_of
from render.slack_claims import claims_blocks
from render.slack_claims import money_text as money_text  # (where the digest and registrations import it)
from render.slack_offers import COMMENT_LABEL, label
from render.slack_text import HEADER_MAX, TIER_NAMES, due_text, escape

SECTION_MAX = 3000  # Slack's limit for a section's text
ACTION_PREFIX = "act:"  # action_id of an action button: "act:<action>", value: the dispute id
FILE_ACTION = "file:open"  # the App Home button that opens the filing modal
LINK_ACTION = "link:open"  # link buttons (Slack still sends an interaction for them)
CONFIRM: dict[str, tuple[str, str]] = {  # one-click actions ask first
    "accept": ("Accept this proposal?", "The dispute resolves on these terms (or goes to the mediator "
                                        "for approval when the charter asks for it)."),
    "approve": ("Approve the agreement?", "The dispute resolves on the agreed terms."),
    "resume": ("Resume the clock?", "The mediation SLA runs again from where it was paused."),
}


def clip(text: str, limit: int = SECTION_MAX) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def link(public_url: str | None, dispute_id: str) -> str | None:
    return f"{public_url.rstrip('/')}/disputes/{dispute_id}" if public_url else None


def status_text(status: Status) -> str:
    return status.value.replace("_", " ")


def outcome_text(outcome: Outcome, currency: str) -> str:
    """The outcome in one line; `currency` is the dispute's, the currency of every amount in it."""
    split = outcome.credit_split
    parts = [f"{outcome.owner.replace('_', '-')}, direct {split.direct}% / partner {split.partner}%"]
    if outcome.co_sell_stipend is not None:
        parts.append(f"co-sell stipend {money_text(outcome.co_sell_stipend, currency)}")
    if outcome.renewal_bonus_pct is not None:
        parts.append(f"renewal bonus {outcome.renewal_bonus_pct:g}%")
    if outcome.price_protection_until is not None:
        parts.append(f"price protection until {outcome.price_protection_until.isoformat()}")
    if outcome.discount_cap_pct is not None:
        parts.append(f"discount cap {outcome.discount_cap_pct:g}%")
    if outcome.terms:
        parts.append(f"terms: {escape(outcome.terms)}")
    return "; ".join(parts)


def title_line(view: DisputeView, public_url: str | None) -> str:
    url = link(public_url, view.id)
    name = f"{view.id} · {escape(view.title)}"
    return f"*<{url}|{name}>*" if url else f"*{name}*"


def summary_fields(view: DisputeView) -> list[MarkdownTextObject]:
    waiting = ", ".join(escape(name_of(e, view)) for e in view.waiting_on) or "—"
    return [
        MarkdownTextObject(text=f"*Status*\n{status_text(view.status)} (tier {view.tier}, "
                                f"{TIER_NAMES.get(view.tier, '?')})"),
        MarkdownTextObject(text=f"*Due*\n{due_text(view)}"),
        MarkdownTextObject(text=f"*Waiting on*\n{waiting}"),
        MarkdownTextObject(text=f"*Account*\n{escape(view.account)} · {view.deal_value:,.0f} {view.currency}"),
    ]


def context_of(view: DisputeView) -> list[Block]:
    """What the reader needs to decide: the open proposal, the ruling under appeal, the question."""
    out: list[Block] = []
    proposal = view.open_proposal()
    if view.status == Status.frontline and proposal is not None:
        note = f"\n> {escape(proposal.note)}" if proposal.note else ""
        out.append(SectionBlock(text=clip(f"*Proposal #{proposal.id}* by {escape(name_of(proposal.by, view))}: "
                                          f"{outcome_text(proposal.outcome, view.currency)}{note}")))
    if view.status == Status.awaiting_approval:
        agreed = next((p for p in reversed(view.proposals) if p.state == "accepted"), None)
        if agreed is not None:
            out.append(SectionBlock(text=clip(f"*Agreement awaiting approval* (proposal #{agreed.id}): "
                                              f"{outcome_text(agreed.outcome, view.currency)}")))
    if view.decision is not None and view.status in (Status.appeal_window, Status.executive, Status.resolved):
        d = view.decision
        kind = {"agreement": "Agreement", "ruling": "Ruling", "decision": "Final decision"}[d.kind]
        rec = ""
        if d.recommendation is not None:
            follows = "follows" if d.follows_recommendation else "departs from"
            rec = f"\n_The charter recommended {d.recommendation.owner}; this {follows} it._"
        out.append(SectionBlock(text=clip(f"*{kind}* by {escape(d.actor)}: {outcome_text(d.outcome, view.currency)}\n"
                                          f"> {escape(d.rationale)}{rec}")))
    if view.info_request:
        question = escape(str(view.info_request.get("question", "")))
        out.append(SectionBlock(text=clip(f"*Information requested*: {question}")))
        for answer in view.info_request.get("answers", ()):
            if isinstance(answer, dict):
                by = escape(name_of(str(answer.get("by", "")), view))
                out.append(SectionBlock(text=clip(f"*Answer* from {by}: {escape(str(answer.get('text', '')))}")))
    return out


def action_buttons(view: DisputeView, offers: Sequence[str]) -> ActionsBlock | None:
    if not offers:
        return None
    buttons: list[ButtonElement] = []
    for i, name in enumerate(offers):
        confirm = None
        if name in CONFIRM:
            title, text = CONFIRM[name]
            confirm = ConfirmObject(title=title, text=text, confirm="Yes", deny="Not now")
        style = "primary" if i == 0 and name != "withdraw" else ("danger" if name == "withdraw" else None)
        buttons.append(ButtonElement(text=label(name, view), action_id=f"{ACTION_PREFIX}{name}",
                                     value=view.id, style=style, confirm=confirm))
    return ActionsBlock(block_id=f"acts:{view.id}", elements=buttons)


def dm_text(view: DisputeView, text: str) -> str:
    """The notification text of a DM (what the push notification and screen readers show)."""
    return clip(text, 300)


def head_text(view: DisputeView, text: str, public_url: str | None) -> str:
    """The first section of a DM: the dispute (linked) and what happened."""
    title = title_line(view, public_url)
    return clip(f"{title}\n{escape(text)}") if text else title


def dm_blocks(view: DisputeView, text: str, offers: Sequence[str], public_url: str | None,
              footer: str | None = None, claims: Sequence[Claim] = ()) -> list[Block]:
    """A direct message about a dispute: what happened, where it stands, the claims it is about, and the
    buttons open to the reader (none when `offers` is empty)."""
    return refreshed_blocks(head_text(view, text, public_url), view, offers, footer, claims)


def refreshed_blocks(head: str, view: DisputeView, offers: Sequence[str], footer: str | None = None,
                     claims: Sequence[Claim] = ()) -> list[Block]:
    """A DM's blocks under an already rendered first section (`head`), for the view as it is now."""
    blocks: list[Block] = [
        SectionBlock(text=clip(head)),
        SectionBlock(fields=summary_fields(view)),
        *claims_blocks(claims),
        *context_of(view),
    ]
    actions = action_buttons(view, offers)
    if actions is not None:
        blocks.append(actions)
    if footer:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=clip(footer, 2000))]))
    return blocks


def done_blocks(original_text: str, line: str) -> list[Block]:
    """A DM after its moment has passed: the original words, no buttons, and who did what."""
    return [
        SectionBlock(text=clip(original_text)),
        ContextBlock(elements=[MarkdownTextObject(text=clip(line, 2000))]),
    ]


def first_section_text(blocks: object) -> str | None:
    """The text of the first section of a message's blocks, as Slack sends them back."""
    if not isinstance(blocks, list):
        return None
    for block in blocks:
        if isinstance(block, dict) and block.get("type") == "section":
            text = block.get("text")
            if isinstance(text, dict) and isinstance(text.get("text"), str):
                return str(text["text"])
    return None


# --- answers to /conflict ------------------------------------------------------------------------

def help_blocks(note: str | None = None) -> list[Block]:
    lines = [
        "*Parley* resolves channel conflicts between direct sales and partners.",
        "• `/conflict` — file a conflict (opens a form)",
        "• `/conflict status PRL-XXXXXXXX` — where a dispute stands",
        "• `/conflict mine` — your open disputes, what waits on you first",
        "• `/conflict away` — your absence and delegate (`/conflict away FROM UNTIL delegate@…`, `… away clear`)",
        "• `/conflict help` — this help",
        "Buttons in Parley's direct messages and on its *Home* tab let you act without leaving Slack.",
    ]
    blocks: list[Block] = []
    if note:
        blocks.append(SectionBlock(text=note))
    blocks.append(SectionBlock(text="\n".join(lines)))
    return blocks


def comment_block(view: DisputeView, caucus: bool) -> SectionBlock:
    """The `/conflict status` answer's "Add a comment" (`caucus`: the reader may keep it to the mediators)."""
    text = ("*Comment* on the trail: for everyone on the dispute, or as a caucus note for the mediator, the "
            "executive and auditors only (never the parties)." if caucus else
            "*Comment* on the trail: everyone on the dispute can read it.")
    return SectionBlock(block_id=f"comment:{view.id}", text=text,
                        accessory=ButtonElement(text=COMMENT_LABEL, action_id=f"{ACTION_PREFIX}comment",
                                                value=view.id))


def status_blocks(view: DisputeView, public_url: str | None, offers: Sequence[str],
                  claims: Sequence[Claim] = (), comment: SectionBlock | None = None) -> list[Block]:
    blocks: list[Block] = [
        SectionBlock(text=clip(f"{title_line(view, public_url)}\n{escape(view.description)}")),
        SectionBlock(fields=[
            *summary_fields(view),
            MarkdownTextObject(text="*Parties*\n" + ", ".join(escape(name_of(p.email, view)) for p in view.parties)),
            MarkdownTextObject(text=f"*Mediator / executive*\n{escape(view.mediator)} / {escape(view.executive)}"),
        ]),
        *claims_blocks(claims),
        *context_of(view),
    ]
    actions = action_buttons(view, offers)
    if actions is not None:
        blocks.append(actions)
    if comment is not None:
        blocks.append(comment)
    return blocks


def queue_line(view: DisputeView, public_url: str | None, waiting: bool) -> str:
    others = ", ".join(escape(name_of(e, view)) for e in view.waiting_on) or "—"
    mark = "⏳ *your move*" if waiting else f"waiting on {others}"
    return (f"{title_line(view, public_url)}\n{status_text(view.status)} · due {due_text(view)} · {mark}")


def mine_blocks(mine: Sequence[tuple[DisputeView, bool]], public_url: str | None) -> list[Block]:
    if not mine:
        return [SectionBlock(text="You have no open disputes. `/conflict` files one.")]
    waiting = sum(1 for _, w in mine if w)
    blocks: list[Block] = [SectionBlock(text=f"*Your open disputes* ({len(mine)}; {waiting} waiting on you)")]
    for view, is_waiting in mine[:40]:
        blocks.append(SectionBlock(text=clip(queue_line(view, public_url, is_waiting))))
    if len(mine) > 40:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=f"… and {len(mine) - 40} more in Parley.")]))
    return blocks


# --- App Home --------------------------------------------------------------------------------------

HOME_MAX_ITEMS = 15  # per list; a Home tab holds at most 100 blocks


def home_view(name: str, queue: Sequence[tuple[DisputeView, list[str]]], others: Sequence[DisputeView],
              public_url: str | None, *, can_file: bool, notice: str | None = None) -> View:
    """The user's queue (what waits on them, soonest deadline first) and their other open disputes."""
    blocks: list[Block] = [HeaderBlock(text=clip(f"Parley · {name}", HEADER_MAX))]
    if notice:
        blocks.append(SectionBlock(text=clip(notice)))
    if can_file:
        blocks.append(ActionsBlock(block_id="home:file", elements=[
            ButtonElement(text="File a conflict", action_id=FILE_ACTION, value="file", style="primary")]))
    blocks.append(HeaderBlock(text=f"Waiting on you ({len(queue)})"))
    if not queue:
        blocks.append(SectionBlock(text="Nothing waits on you. :tada:"))
    for view, offers in queue[:HOME_MAX_ITEMS]:
        blocks.append(SectionBlock(text=clip(queue_line(view, public_url, True))))
        blocks.extend(context_of(view)[:1])
        actions = action_buttons(view, offers)
        if actions is not None:
            blocks.append(actions)
        blocks.append(DividerBlock())
    if len(queue) > HOME_MAX_ITEMS:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"… and {len(queue) - HOME_MAX_ITEMS} more; `/conflict mine` lists them all.")]))
    blocks.append(HeaderBlock(text=f"Your other open disputes ({len(others)})"))
    if not others:
        blocks.append(SectionBlock(text="None."))
    for view in others[:HOME_MAX_ITEMS]:
        blocks.append(SectionBlock(text=clip(queue_line(view, public_url, False))))
    return View(type="home", blocks=blocks[:100])


def unknown_home(text: str) -> View:
    return View(type="home", blocks=[HeaderBlock(text="Parley"), SectionBlock(text=clip(text))])
