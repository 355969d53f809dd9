"""Block Kit for registrations in Slack (DESIGN §6): the register form and the reject-reason form, the
answers to `/conflict register` and `/conflict registrations`, and the buttons that registration
notices carry: Approve and Reject on a pending registration's approval request and reminder (for the
routed mediator), File a conflict on an owner's early warning.

Pure: registrations as the service shows them (`service.registration_views`, dicts) and notice texts
in, `slack_sdk.models.blocks` out. The app (`api/slack/registrations.py`) and the delivery activity
(`activities/registration_notices.py`) both draw with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from domain.charter import Charter
from render.slack_blocks import clip, money_text
from render.slack_modals import CURRENCIES, VALUE, regions, segments
from render.slack_text import escape, slack_date

REGISTER_CALLBACK = "parley:register"
REJECT_CALLBACK = "parley:registration-reject"
APPROVE_ACTION = "reg:approve"  # value: the registration id
REJECT_ACTION = "reg:reject"  # value: the registration id
FILE_ACTION = "reg:file"  # value: "<the reader's registration id> <the other registration's id>"
REGISTER_FIELDS = ("account", "account_domain", "title", "deal_value", "currency", "region", "segment",
                   "expected_close", "external_ref")
LIST_MAX = 30  # registrations listed by `/conflict registrations`; the rest are on the web


# --- the register form ---------------------------------------------------------------------------

def _option(value: str) -> Option:
    return Option(value=value, text=clip(value, 75))


def _select(values: Sequence[str], initial: str | None, placeholder: str) -> StaticSelectElement:
    options = [_option(v) for v in values]
    chosen = next((o for o in options if o.value == initial), None)
    return StaticSelectElement(action_id=VALUE, options=options, initial_option=chosen, placeholder=placeholder)


def _text(initial: str | None, max_length: int, placeholder: str | None = None,
          multiline: bool = False) -> PlainTextInputElement:
    return PlainTextInputElement(action_id=VALUE, initial_value=initial, max_length=max_length,
                                 placeholder=placeholder, multiline=multiline)


def register_modal(charter: Charter, initial: Mapping[str, str] | None = None, problem: str | None = None,
                   private_metadata: str | None = None) -> View:
    """The fields of `POST /api/registrations` a rep fills in for themselves; each block_id names its
    field. Regions and segments are the charter's (those it routes first). `private_metadata` carries
    the slash command's response_url, for the confirmation."""
    v = dict(initial or {})
    blocks: list[Block] = []
    if problem:
        blocks.append(SectionBlock(block_id="problem", text=clip(f":warning: {problem}")))
    blocks += [
        InputBlock(block_id="account", label="Account", element=_text(v.get("account"), 200, "Acme GmbH")),
        InputBlock(block_id="account_domain", label="Account's web domain", optional=True,
                   element=_text(v.get("account_domain"), 300, "acme.com"),
                   hint="The surest way to spot another claim on the same customer."),
        InputBlock(block_id="title", label="Deal", element=_text(v.get("title"), 200, "Acme renewal 2027")),
        InputBlock(block_id="deal_value", label="Deal value",
                   element=NumberInputElement(action_id=VALUE, is_decimal_allowed=True, min_value=0,
                                              initial_value=v.get("deal_value"))),
        InputBlock(block_id="currency", label="Currency",
                   element=_select(CURRENCIES, v.get("currency") or "USD", "Currency")),
        InputBlock(block_id="region", label="Region",
                   element=_select(regions(charter), v.get("region"), "Choose a region")),
        InputBlock(block_id="segment", label="Segment", optional=True,
                   element=_select(segments(charter), v.get("segment"), "Choose a segment")),
        InputBlock(block_id="expected_close", label="Expected close", optional=True,
                   element=DatePickerElement(action_id=VALUE, initial_date=v.get("expected_close"))),
        InputBlock(block_id="external_ref", label="Your reference", optional=True,
                   element=_text(v.get("external_ref"), 100, "CRM opportunity id"),
                   hint="Your CRM's id for the deal; Parley refuses a second registration with it."),
    ]
    return View(type="modal", callback_id=REGISTER_CALLBACK, title="Register a deal", submit="Register",
                close="Cancel", blocks=blocks, private_metadata=private_metadata)


def reject_modal(registration_id: str, summary: str, private_metadata: str, *, problem: str | None = None) -> View:
    """The reason for rejecting a pending registration (the only field the rejection takes)."""
    blocks: list[Block] = [ContextBlock(elements=[MarkdownTextObject(text=clip(summary or f"*{registration_id}*",
                                                                               2000))])]
    if problem:
        blocks.append(SectionBlock(block_id="problem", text=clip(f":warning: {problem}")))
    blocks.append(InputBlock(block_id="reason", label="Why reject it?",
                             element=_text(None, 2000, "Told to the owner", multiline=True)))
    return View(type="modal", callback_id=REJECT_CALLBACK, title="Reject registration", submit="Reject",
                close="Cancel", blocks=blocks, private_metadata=private_metadata)


# --- registrations as text -----------------------------------------------------------------------

def _when(value: object) -> str:
    return slack_date(value) if isinstance(value, datetime) else "—"


def registration_line(reg: Mapping[str, Any]) -> str:
    """One registration in one line: id, deal, account, value, channel, status."""
    owner = "partner " + escape(str(reg.get("partner_org") or "")) if reg.get("channel") == "partner" else "direct"
    status = str(reg.get("status") or "")
    if status == "approved" and reg.get("protected_until"):
        status += f", protected until {_when(reg['protected_until'])}"
    return (f"*{reg['id']}* · {escape(str(reg.get('title') or ''))} · {escape(str(reg.get('account') or ''))} · "
            f"{money_text(float(reg.get('deal_value') or 0), str(reg.get('currency') or 'USD'))} · "
            f"{owner.strip()} · {status}")


def overlap_line(overlap: Mapping[str, Any]) -> str:
    kind = "a direct opportunity" if overlap.get("channel") == "direct" else "a partner registration"
    return (f"• {overlap.get('registration_id')}, {kind} for {escape(str(overlap.get('account') or ''))} "
            f"(match {overlap.get('score')}/100)")


def registered_text(reg: Mapping[str, Any]) -> str:
    """What a rep is told once their registration is recorded: its id, status and overlaps."""
    ref = f" (your reference {escape(str(reg['ref']))})" if reg.get("ref") else ""
    status = str(reg.get("status") or "")
    waiting = " — it awaits a mediator's approval" if status == "pending" else ""
    lines = [f":white_check_mark: Registered *{reg['id']}*{ref}: {escape(str(reg.get('title') or ''))} "
             f"({escape(str(reg.get('account') or ''))}). Status: *{status}*{waiting}."]
    overlaps: Sequence[Mapping[str, Any]] = reg.get("overlaps") or []
    if overlaps:
        lines.append(f":warning: *Early warning:* it overlaps {len(overlaps)} live registration"
                     f"{'s' if len(overlaps) != 1 else ''}; their owners and the mediator have been told.")
        lines += [overlap_line(o) for o in overlaps[:20]]
    else:
        lines.append("No other live registration claims this account.")
    return clip("\n".join(lines))


def listing_blocks(regs: Sequence[Mapping[str, Any]], me: str) -> list[Block]:
    """`/conflict registrations`: the live registrations the asker may see, newest first (theirs marked)."""
    if not regs:
        return [SectionBlock(text="No live registrations that you can see. `/conflict register` registers a deal.")]
    shown = regs[:LIST_MAX]
    blocks: list[Block] = [SectionBlock(text=f"*Live registrations you can see* ({len(shown)}"
                                             f"{'+' if len(regs) > LIST_MAX else ''}, newest first)")]
    for reg in shown:
        mine = " · _yours_" if reg.get("owner") == me else ""
        blocks.append(SectionBlock(text=clip(registration_line(reg) + mine)))
    if len(regs) > LIST_MAX:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text="… and more in Parley.")]))
    return blocks


def help_blocks() -> list[Block]:
    return [SectionBlock(text="\n".join([
        "*Registrations* — claim a deal early and hear at once when someone else claims it:",
        "• `/conflict register` — register a deal (opens a form); overlaps are reported at once",
        "• `/conflict registrations` — the live registrations you can see",
        "Mediators approve or reject partner registrations from their direct messages; an early warning "
        "carries a *File a conflict* button.",
    ]))]


# --- notices with buttons ------------------------------------------------------------------------

def approval_blocks(text: str, registration_id: str, summary: str | None = None) -> list[Block]:
    """A pending registration's approval request or reminder (`summary`: the registration in one line,
    `registration_line`), with Approve and Reject."""
    return [
        SectionBlock(text=clip(escape(text))),
        *([ContextBlock(elements=[MarkdownTextObject(text=clip(summary, 2000))])] if summary else []),
        ActionsBlock(block_id=f"reg:{registration_id}", elements=[
            ButtonElement(text="Approve", action_id=APPROVE_ACTION, value=registration_id, style="primary",
                          confirm=ConfirmObject(title="Approve the registration?",
                                                text="Its protection window starts now.", confirm="Yes",
                                                deny="Not now")),
            ButtonElement(text="Reject", action_id=REJECT_ACTION, value=registration_id, style="danger"),
        ]),
    ]


def overlap_blocks(text: str, mine: str, theirs: str) -> list[Block]:
    """An owner's early warning, with File a conflict (the form pre-filled from both registrations)."""
    return [
        SectionBlock(text=clip(escape(text))),
        ActionsBlock(block_id=f"reg:{mine}:{theirs}", elements=[
            ButtonElement(text="File a conflict", action_id=FILE_ACTION, value=f"{mine} {theirs}", style="primary"),
        ]),
    ]


def decided_line(verb: str, name: str, email: str, at: datetime, detail: str = "") -> str:
    """What replaces the buttons once the registration is decided: "Approved by …"."""
    mark = ":white_check_mark:" if verb == "Approved" else ":x:"
    return f"{mark} {verb} by {escape(name)} ({email}) · {slack_date(at)}{detail}"
