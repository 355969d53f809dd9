"""Block Kit for the registrations a dispute is about (DESIGN §6 "Linking"): a compact "Claims" section
for DMs, `/conflict status` and the case message, the line a ruling or decision modal shows, and the
filing modal's optional choice of a pair (its options, and the ids a modal carries in private_metadata).

Pure: claims and pairs in (from `service.dispute_claims`), blocks and text out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from babel.numbers import format_currency
from slack_sdk.models.blocks import Block, InputBlock, Option, OptionGroup, SectionBlock, StaticMultiSelectElement

from domain.claims import Claim, FilingPair
from render.slack_text import escape, slack_date

BLOCK_ID = "registrations"  # the filing modal's block, named after what it fills (`registration_ids`)
METADATA_KEY = "registration_ids"  # in the filing modal's private_metadata JSON
SECTION_MAX, OPTION_MAX, OPTIONS_MAX = 3000, 75, 100  # Slack's limits


def money_text(amount: float, currency: str) -> str:
    """An amount with its currency: "EUR 5,000.00", "JPY 5,000" (the currency's own decimals)."""
    return format_currency(amount, currency, format="¤¤\u00a0#,##0.00", locale="en", currency_digits=True)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def claim_line(c: Claim) -> str:
    """One claim in a line: whose, its state and protection, its value, when it was registered."""
    side = "direct" if c.channel == "direct" else f"partner{f' ({escape(c.partner_org)})' if c.partner_org else ''}"
    if c.protected_now and c.protected_until is not None:
        state = f"{c.status}, protected until {slack_date(c.protected_until)}"
    else:
        state = c.status + (", was protected when filed" if c.protected_when_filed else "")
    first = " · *registered first*" if c.first else ""
    return (f"`{c.id}` {side} · {escape(c.owner)} · {escape(c.account)} · {state} · "
            f"{money_text(c.deal_value, c.currency)} · registered {slack_date(c.submitted_at)}{first}")


def claims_text(claims: Sequence[Claim]) -> str:
    """"*Claims*" and a line per claim, the one registered first first; "" when there are none."""
    if not claims:
        return ""
    return _cut("*Claims*\n" + "\n".join(f"• {claim_line(c)}" for c in claims), SECTION_MAX)


def claims_blocks(claims: Sequence[Claim]) -> list[Block]:
    text = claims_text(claims)
    return [SectionBlock(block_id="claims", text=text)] if text else []


# --- the filing modal -------------------------------------------------------------------------------

def _option(c: Claim) -> Option:
    side = "direct" if c.channel == "direct" else c.partner_org or "partner"
    return Option(value=c.id, text=_cut(f"{c.id} · {c.account} · {side} · {c.status}", OPTION_MAX))


def registrations_block(pairs: Sequence[FilingPair], chosen: Sequence[str]) -> InputBlock | None:
    """The optional choice of the two registrations a filing is about: the filer's live registrations
    and those overlapping them (or, with no pairs on offer, the ids chosen elsewhere); None when there
    is nothing to choose."""
    groups: dict[str, dict[str, Option]] = {"Your registrations": {}, "Overlapping yours": {}}
    for pair in pairs:
        groups["Your registrations"].setdefault(pair.mine.id, _option(pair.mine))
        groups["Overlapping yours"].setdefault(pair.theirs.id, _option(pair.theirs))
    for registration_id in chosen:
        if all(registration_id not in g for g in groups.values()):
            groups["Overlapping yours"][registration_id] = Option(value=registration_id, text=registration_id)
    shown = {label: list(options.values())[:OPTIONS_MAX // 2] for label, options in groups.items() if options}
    if not shown:
        return None
    offered = {o.value: o for options in shown.values() for o in options}
    initial = [offered[i] for i in chosen if i in offered] or None
    option_groups = [OptionGroup(label=label, options=options) for label, options in shown.items()]
    return InputBlock(block_id=BLOCK_ID, label="Registrations it is about", optional=True,
                      hint="Pick yours and the one overlapping it: the dispute shows both claims side by side.",
                      element=StaticMultiSelectElement(action_id="v", option_groups=option_groups,
                                                       initial_options=initial, max_selected_items=2,
                                                       placeholder="Your registration and theirs"))


def ids_in_metadata(raw: object) -> list[str]:
    """The `registration_ids` a filing modal carries in its private_metadata JSON (none when absent)."""
    try:
        data = json.loads(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        return []
    ids = data.get(METADATA_KEY) if isinstance(data, dict) else None
    return [str(i) for i in ids if isinstance(i, str) and i] if isinstance(ids, list) else []


def with_ids(private_metadata: str | None, ids: Iterable[str]) -> str | None:
    """The private_metadata JSON with `registration_ids` set (other keys, such as "r", kept)."""
    ids = list(ids)
    if not ids:
        return private_metadata
    try:
        data = json.loads(private_metadata) if private_metadata else {}
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    return json.dumps({**data, METADATA_KEY: ids})
