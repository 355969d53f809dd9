"""Block Kit for Parley's modals: filing a conflict, the actions that need more than a click, and the
modals that only say something. The app opens them (`api/slack`), and reads their submissions back
with `api.slack.forms`.

Each input block's `block_id` names the field it fills, so a validation error is shown next to that
field with `response_action: errors`. A ruling or decision form shows the charter's recommendation for
the criteria filled in so far, so it reads those back here too (`criteria_from`).

A little over 300 lines: the filing form and the action forms share their field builders here.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DatePickerElement,
    InputBlock,
    MarkdownTextObject,
    NumberInputElement,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from domain.charter import Charter, Weights
from domain.claims import FilingPair
from domain.model import Criteria, DisputeView, Status
from domain.precedents import warning as precedent_warning
from domain.scoring import recommend
from render.slack_blocks import clip, outcome_text
from render.slack_claims import BLOCK_ID, ids_in_metadata, registrations_block, with_ids
from render.slack_text import escape

FILE_CALLBACK = "parley:file"
ACT_CALLBACK = "parley:act"
VALUE = "v"  # the action_id of every input element; the block_id says which field it is
CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF", "SGD", "INR", "BRL")
REGIONS = ("AMER", "EMEA", "APAC", "LATAM")
SEGMENTS = ("enterprise", "mid-market", "smb", "public-sector")
CRITERIA_BLOCKS = ("win_direct", "win_partner", "ltv_direct", "ltv_partner", "fit_direct", "fit_partner")


def read_number(values: Mapping[str, str], key: str, errors: dict[str, str], *, integer: bool = False) -> Any:
    """The number typed into block `key` (None when empty or not a number: then `errors[key]` says why)."""
    raw = values.get(key)
    if raw is None:
        return None
    try:
        number = float(raw.replace(",", ""))
    except ValueError:
        errors[key] = "Enter a number."
        return None
    if not math.isfinite(number):  # "nan", "inf", "1e400": no amount, and int() of one is an error
        errors[key] = "Enter a finite number."
        return None
    if integer:
        if number != int(number):
            errors[key] = "Enter a whole number."
            return None
        return int(number)
    return number


# --- filing ------------------------------------------------------------------------------------

def regions(charter: Charter) -> list[str]:
    routed = [r.region for r in charter.routing.routes if r.region != "*"]
    return _once_each([*routed, *REGIONS])


def segments(charter: Charter) -> list[str]:
    routed = [r.segment for r in charter.routing.routes if r.segment != "*"]
    return _once_each([*routed, *SEGMENTS])


def _once_each(names: list[str]) -> list[str]:
    """Each name once, as first spelled: routing matches regions and segments ignoring case ("emea" is "EMEA")."""
    first: dict[str, str] = {}
    for name in names:
        first.setdefault(name.casefold(), name)
    return list(first.values())


def _option(value: str, text: str | None = None, description: str | None = None) -> Option:
    return Option(value=value, text=clip(text or value, 75),
                  description=clip(description, 75) if description else None)


def _select(options: list[Option], initial: str | None, placeholder: str) -> StaticSelectElement:
    chosen = next((o for o in options if o.value == initial), None)
    return StaticSelectElement(action_id=VALUE, options=options, initial_option=chosen, placeholder=placeholder)


def _text(initial: str | None = None, *, multiline: bool = False, max_length: int | None = None,
          placeholder: str | None = None) -> PlainTextInputElement:
    return PlainTextInputElement(action_id=VALUE, initial_value=initial, multiline=multiline,
                                 max_length=max_length, placeholder=placeholder)


def _required_by(charter: Charter, field: str) -> str | None:
    kinds = [t.value.replace("_", " ") for t, rules in charter.conflict_types.items() if field in rules.requires]
    return f"Required for {', '.join(kinds)} conflicts." if kinds else None


def filing_modal(charter: Charter, initial: Mapping[str, str] | None = None, problem: str | None = None,
                 private_metadata: str | None = None, *, registration_ids: Sequence[str] = (),
                 pairs: Sequence[FilingPair] = ()) -> View:
    """The filing form: the fields of `POST /api/disputes`, typed where Slack has the input.
    `private_metadata` (JSON) carries the slash command's response_url ("r", for the confirmation) and may
    carry `registration_ids`, the pair the filing is about; `registration_ids` given here is added to it.
    `pairs` (`service.dispute_claims.filing_pairs`) are offered as the optional "Registrations" choice,
    with the pair chosen (from `initial["registrations"]`, else the metadata's) already picked."""
    v = dict(initial or {})
    private_metadata = with_ids(private_metadata, registration_ids)
    chosen = [i for i in v.get(BLOCK_ID, "").split(",") if i] or ids_in_metadata(private_metadata)
    registrations = registrations_block(pairs, chosen)
    types = [_option(t.value, t.value.replace("_", " "), rules.description or None)
             for t, rules in charter.conflict_types.items()]
    blocks: list[Block] = []
    if problem:
        blocks.append(SectionBlock(block_id="problem", text=clip(f":warning: {problem}")))
    if registrations is not None:
        blocks.append(registrations)
    blocks += [
        InputBlock(block_id="title", label="Title", element=_text(v.get("title"), max_length=200,
                                                                   placeholder="Acme renewal claimed twice")),
        InputBlock(block_id="counterparty", label="Counterparty (the other rep)",
                   element=UserSelectElement(action_id=VALUE, initial_user=v.get("counterparty"),
                                             placeholder="Pick the direct or partner rep"),
                   hint="A direct rep files against a partner rep, or the other way round."),
        InputBlock(block_id="conflict_type", label="Conflict type",
                   element=_select(types, v.get("conflict_type"), "Choose a type")),
        InputBlock(block_id="account", label="Account", element=_text(v.get("account"), max_length=200)),
        InputBlock(block_id="deal_value", label="Deal value",
                   element=NumberInputElement(action_id=VALUE, is_decimal_allowed=True, min_value=0,
                                              initial_value=v.get("deal_value"))),
        InputBlock(block_id="currency", label="Currency",
                   element=_select([_option(c) for c in CURRENCIES], v.get("currency") or "USD", "Currency")),
        InputBlock(block_id="region", label="Region",
                   element=_select([_option(r) for r in regions(charter)], v.get("region"), "Choose a region")),
        InputBlock(block_id="segment", label="Segment", optional=True,
                   element=_select([_option(s) for s in segments(charter)], v.get("segment"), "Choose a segment")),
        InputBlock(block_id="opportunity_ref", label="Opportunity reference", optional=True,
                   element=_text(v.get("opportunity_ref"), max_length=100),
                   hint=_required_by(charter, "opportunity_ref")),
        InputBlock(block_id="registration_ref", label="Deal registration reference", optional=True,
                   element=_text(v.get("registration_ref"), max_length=100),
                   hint=_required_by(charter, "registration_ref")),
        InputBlock(block_id="description", label="What happened",
                   element=_text(v.get("description"), multiline=True, max_length=3000)),
        InputBlock(block_id="evidence", label="Evidence", optional=True, hint="One item per line (links, CRM notes).",
                   element=_text(v.get("evidence"), multiline=True, max_length=3000)),
    ]
    return View(type="modal", callback_id=FILE_CALLBACK, title="File a conflict", submit="File",
                close="Cancel", blocks=blocks, private_metadata=private_metadata)


# --- actions -----------------------------------------------------------------------------------

TITLES = {
    "propose": "Propose a resolution", "reject": "Reject", "escalate": "Escalate to executive",
    "request_info": "Request information", "rule": "Rule", "appeal": "Appeal the ruling",
    "decide": "Final decision", "withdraw": "Withdraw the dispute", "answer": "Answer the mediator",
    "comment": "Add a comment",
}
SUBMITS = {"propose": "Propose", "reject": "Reject", "escalate": "Escalate", "request_info": "Ask",
           "rule": "Rule", "appeal": "Appeal", "decide": "Decide", "withdraw": "Withdraw", "answer": "Answer",
           "comment": "Add"}
TEXT_FIELD = {"reject": ("reason", "Why not?"), "escalate": ("reason", "Why escalate?"),
              "request_info": ("question", "What do you need to know?"), "appeal": ("reason", "Grounds for the appeal"),
              "withdraw": ("reason", "Why withdraw?"), "answer": ("text", "Your answer"),
              "comment": ("text", "Comment")}
# The comment form's "Visible to", drawn only for those who may write a caucus note (`domain.caucus`)
VISIBILITY = (("all", "Everyone on the dispute"), ("mediators", "Mediators only (a caucus note)"))


def summary_of(view: DisputeView) -> str:
    """One line that tells the reader of a modal which dispute it is about."""
    return clip(f"*{view.id}* · {escape(view.title)} · {escape(view.account)} · {view.deal_value:,.0f} "
                f"{view.currency} · {view.status.value.replace('_', ' ')}", 300)


def ruling_of(view: DisputeView) -> str | None:
    """The ruling under appeal (shown when appealing or deciding)."""
    if view.decision is None or view.status not in (Status.appeal_window, Status.executive):
        return None
    d = view.decision
    return clip(f"*Ruling under review:* {outcome_text(d.outcome, view.currency)}\n> {escape(d.rationale)}", 1000)


METADATA_MAX = 3000  # Slack's limit on private_metadata


def encode_metadata(meta: Mapping[str, Any]) -> str:
    """`meta` as private_metadata, the texts it carries for display cut to fit Slack's limit."""
    data = dict(meta)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    while len(text) > METADATA_MAX:
        key = max(("o", "r", "s", "q", "c", "p"), key=lambda k: len(str(data.get(k) or "")))
        value = str(data.get(key) or "")
        if not value:
            raise ValueError("private_metadata does not fit even without its texts")
        data[key] = clip(value, max(1, len(value) - (len(text) - METADATA_MAX) - 20))
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text


def weights_in(meta: Mapping[str, Any]) -> Weights | None:
    try:
        return Weights.model_validate(meta["w"]) if isinstance(meta.get("w"), dict) else None
    except ValidationError:
        return None


def _outcome_blocks(v: Mapping[str, str]) -> list[Block]:
    owners = [_option("direct", "Direct"), _option("partner", "Partner"), _option("co_sell", "Co-sell")]
    return [
        InputBlock(block_id="owner", label="Owner", element=_select(owners, v.get("owner"), "Who owns the deal")),
        InputBlock(block_id="credit_direct", label="Credit to direct (%)", hint="The partner gets the rest.",
                   element=NumberInputElement(action_id=VALUE, is_decimal_allowed=False, min_value=0, max_value=100,
                                              initial_value=v.get("credit_direct"))),
        InputBlock(block_id="co_sell_stipend", label="Co-selling stipend", optional=True,
                   element=NumberInputElement(action_id=VALUE, is_decimal_allowed=True, min_value=0,
                                              initial_value=v.get("co_sell_stipend"))),
        InputBlock(block_id="renewal_bonus_pct", label="Renewal bonus (%)", optional=True,
                   element=NumberInputElement(action_id=VALUE, is_decimal_allowed=True, min_value=0, max_value=100,
                                              initial_value=v.get("renewal_bonus_pct"))),
        InputBlock(block_id="price_protection_until", label="Price protection until", optional=True,
                   element=DatePickerElement(action_id=VALUE, initial_date=v.get("price_protection_until"))),
        InputBlock(block_id="discount_cap_pct", label="Discount cap (%)", optional=True,
                   element=NumberInputElement(action_id=VALUE, is_decimal_allowed=True, min_value=0, max_value=100,
                                              initial_value=v.get("discount_cap_pct"))),
        InputBlock(block_id="terms", label="Other terms", optional=True,
                   element=_text(v.get("terms"), multiline=True, max_length=4000)),
    ]


def _criteria_blocks(v: Mapping[str, str]) -> list[Block]:
    fits = [_option(str(i)) for i in range(1, 6)]

    def prob(block: str, who: str) -> InputBlock:
        return InputBlock(block_id=block, label=f"Win probability, {who} (0–1)", dispatch_action=True,
                          element=NumberInputElement(action_id=VALUE, is_decimal_allowed=True, min_value=0,
                                                     max_value=1, initial_value=v.get(block)))

    def ltv(block: str, who: str) -> InputBlock:
        return InputBlock(block_id=block, label=f"Customer lifetime value, {who}", dispatch_action=True,
                          element=NumberInputElement(action_id=VALUE, is_decimal_allowed=True, min_value=0,
                                                     initial_value=v.get(block)))

    def fit(block: str, who: str) -> InputBlock:
        return InputBlock(block_id=block, label=f"Strategic fit, {who} (1–5)", dispatch_action=True,
                          element=_select(fits, v.get(block), "1–5"))

    return [prob("win_direct", "direct"), prob("win_partner", "partner"), ltv("ltv_direct", "direct"),
            ltv("ltv_partner", "partner"), fit("fit_direct", "direct"), fit("fit_partner", "partner")]


def criteria_from(values: Mapping[str, str]) -> Criteria | None:
    """The criteria when all six are filled in and valid, else None."""
    errors: dict[str, str] = {}
    n = {k: read_number(values, k, errors) for k in CRITERIA_BLOCKS}
    if errors or any(x is None for x in n.values()):
        return None
    try:
        return Criteria.model_validate({
            "win_probability": {"direct": n["win_direct"], "partner": n["win_partner"]},
            "lifetime_value": {"direct": n["ltv_direct"], "partner": n["ltv_partner"]},
            "strategic_fit": {"direct": int(n["fit_direct"]), "partner": int(n["fit_partner"])},
        })
    except (ValidationError, ValueError):
        return None


def recommendation_text(values: Mapping[str, str], weights: Weights | None) -> str:
    if weights is None:
        return "_The charter's recommendation is shown once the criteria are filled in._"
    criteria = criteria_from(values)
    if criteria is None:
        return ("*Charter recommendation:* fill in the six criteria (press Enter in a number field) to see "
                "what the charter's weights recommend.")
    rec = recommend(criteria, weights)
    owner = rec.owner.replace("_", "-")
    return (f"*Charter recommendation:* {owner}, direct {rec.credit_split.direct}% / partner "
            f"{rec.credit_split.partner}% (scores: direct {rec.scores['direct']:.2f}, partner "
            f"{rec.scores['partner']:.2f}; weights win {weights.win_probability:g}, value "
            f"{weights.lifetime_value:g}, fit {weights.strategic_fit:g}).")


def action_modal(meta: Mapping[str, Any], *, initial: Mapping[str, str] | None = None,
                 problem: str | None = None) -> View:
    """The form of an action that needs input (`meta` from `metadata`); for a ruling or a decision it
    shows the charter's recommendation for the criteria filled in so far."""
    action = str(meta["a"])
    v = dict(initial or {})
    weights = weights_in(meta)
    blocks: list[Block] = [ContextBlock(elements=[MarkdownTextObject(text=str(meta.get("s") or f"*{meta['d']}*"))])]
    if problem:
        blocks.append(SectionBlock(block_id="problem", text=clip(f":warning: {problem}")))
    if meta.get("c") and action in ("rule", "decide"):  # the claims, side by side, for whoever decides
        blocks.append(ContextBlock(block_id="claims", elements=[MarkdownTextObject(text=clip(str(meta["c"]), 2000))]))
    if meta.get("r") and action in ("appeal", "decide"):
        blocks.append(SectionBlock(text=clip(str(meta["r"]))))
    if meta.get("p") and action in ("rule", "decide"):  # how similar disputes were decided (DESIGN §9)
        blocks.append(SectionBlock(block_id="precedents", text=clip(str(meta["p"]))))
        owners = [str(o) for o in meta.get("po") or []]
        if v.get("owner") and (warning := precedent_warning(v["owner"], owners)):
            blocks.append(SectionBlock(block_id="precedent_warning", text=clip(f":warning: {warning}")))
    if meta.get("q") and action == "answer":
        blocks.append(SectionBlock(text=clip(f"*The mediator asks:* {escape(str(meta['q']))}")))
    if action in ("propose", "rule", "decide"):
        blocks += _outcome_blocks(v)
    if action in ("rule", "decide"):
        blocks += _criteria_blocks(v)
        blocks.append(SectionBlock(block_id="recommendation", text=recommendation_text(v, weights)))
        blocks.append(InputBlock(block_id="rationale", label="Rationale",
                                 hint="At least three words: why this outcome.",
                                 element=_text(v.get("rationale"), multiline=True, max_length=8000)))
    if action == "propose":
        blocks.append(InputBlock(block_id="note", label="Note to the other party", optional=True,
                                 element=_text(v.get("note"), multiline=True, max_length=2000)))
    if action in TEXT_FIELD:
        field, prompt = TEXT_FIELD[action]
        blocks.append(InputBlock(block_id=field, label=prompt, element=_text(v.get(field), multiline=True,
                                                                             max_length=2000)))
    if action == "comment" and meta.get("cv"):
        blocks.append(InputBlock(
            block_id="visibility", label="Visible to",
            hint="A caucus note is seen by the mediator, the executive, auditors and admins, never by the parties; "
                 "it stays in the audit trail.",
            element=_select([_option(value, text) for value, text in VISIBILITY], v.get("visibility") or "all",
                            "Who may read it")))
    title = "Ask for mediation" if action == "escalate" and not meta.get("m") else TITLES[action]
    return View(type="modal", callback_id=ACT_CALLBACK, title=title, submit=SUBMITS[action], close="Cancel",
                private_metadata=encode_metadata(meta), blocks=blocks)


# --- simple modals -----------------------------------------------------------------------------

def message_modal(title: str, text: str, *, extra: list[Block] | None = None) -> View:
    """A modal that only says something (the result of a submission, a refusal, work in progress)."""
    return View(type="modal", title=clip(title, 24), close="Close",
                blocks=[SectionBlock(text=clip(text)), *(extra or [])])
