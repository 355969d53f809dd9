"""Reading submitted modals back into the models the JSON API takes (`Filing`, `Propose`, `Rule`, …).

The modals themselves are drawn in `render.slack_modals`; each input block's `block_id` names the field
it fills, so a validation error (pydantic's, or the service's `InvalidInput`) is shown next to that
field with `response_action: errors`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import ValidationError

from api.errors import plain_message, sentence
from domain.charter import Weights
from domain.model import (
    Action,
    Answer,
    Appeal,
    Comment,
    Decide,
    Escalate,
    Filing,
    Propose,
    Reject,
    RequestInfo,
    Rule,
    Withdraw,
)
from render.slack_blocks import clip
from render.slack_claims import BLOCK_ID as REGISTRATIONS
from render.slack_claims import ids_in_metadata
from render.slack_modals import CRITERIA_BLOCKS, TEXT_FIELD, read_number

PLACEHOLDER_EMAIL = "counterparty@parley.invalid"  # stands in until the picked Slack user is looked up


def read_values(state: Mapping[str, Any] | None) -> dict[str, str]:
    """`view.state.values` as {block_id: value} for every filled input (empty ones left out)."""
    out: dict[str, str] = {}
    values = (state or {}).get("values") or {}
    if not isinstance(values, dict):
        return out
    for block_id, actions in values.items():
        if not isinstance(actions, dict):
            continue
        for element in actions.values():
            value = _element_value(element)
            if value is not None and value.strip() != "":
                out[str(block_id)] = value.strip()
    return out


def _element_value(element: Any) -> str | None:
    if not isinstance(element, dict):
        return None
    kind = element.get("type")
    if kind == "static_select":
        option = element.get("selected_option")
        return str(option["value"]) if isinstance(option, dict) and "value" in option else None
    if kind == "multi_static_select":  # "a,b" (the values are ids, which hold no comma)
        chosen = element.get("selected_options")
        return ",".join(str(o["value"]) for o in chosen if isinstance(o, dict) and "value" in o) \
            if isinstance(chosen, list) else None
    if kind == "users_select":
        user = element.get("selected_user")
        return str(user) if user else None
    if kind == "datepicker":
        day = element.get("selected_date")
        return str(day) if day else None
    value = element.get("value")
    return None if value is None else str(value)


def errors_of(exc: ValidationError, where: Mapping[str, str], default: str) -> dict[str, str]:
    """pydantic's errors keyed by the block that shows each field (`where` maps dotted field paths,
    or their leading part, to block ids)."""
    out: dict[str, str] = {}
    for err in exc.errors():
        path = ".".join(str(p) for p in err.get("loc", ()))
        block = next((where[k] for k in sorted(where, key=len, reverse=True)
                      if path == k or path.startswith(k + ".")), default)
        out.setdefault(block, sentence(plain_message(err))[:300])
    return out


# --- filing ------------------------------------------------------------------------------------

FILING_FIELDS = ("title", "conflict_type", "account", "opportunity_ref", "registration_ref", "deal_value",
                 "currency", "region", "segment", "description", "counterparty_email", "evidence")
FILING_BLOCK_OF = {f: f for f in FILING_FIELDS} | {"counterparty_email": "counterparty", "partner_org": "counterparty",
                                                   "registration_ids": REGISTRATIONS}


def filing_data(values: Mapping[str, str], counterparty_email: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The submitted form as the body of `POST /api/disputes`, and the errors found reading it."""
    errors: dict[str, str] = {}
    data: dict[str, Any] = {k: values[k] for k in ("title", "conflict_type", "account", "opportunity_ref",
                                                    "registration_ref", "currency", "region", "segment",
                                                    "description") if k in values}
    deal_value = read_number(values, "deal_value", errors)
    if deal_value is not None:
        data["deal_value"] = deal_value
    evidence = [line.strip() for line in values.get("evidence", "").splitlines() if line.strip()]
    if evidence:
        data["evidence"] = evidence
    data["counterparty_email"] = counterparty_email
    if ids := [i for i in values.get(REGISTRATIONS, "").split(",") if i]:
        data["registration_ids"] = ids
    return data, errors


def registrations_chosen(view: Mapping[str, Any]) -> list[str] | None:
    """The registrations a submitted filing modal names: those picked in its "Registrations" block when
    it has one, else those its private_metadata carries (`filing_modal(registration_ids=…)`)."""
    if any(isinstance(b, dict) and b.get("block_id") == REGISTRATIONS for b in view.get("blocks") or []):
        return None  # the block's own state says (an empty pick means none)
    return ids_in_metadata(view.get("private_metadata"))


def check_filing(values: Mapping[str, str]) -> dict[str, str]:
    """The errors a submitted filing form shows at once, without looking anything up."""
    data, errors = filing_data(values, PLACEHOLDER_EMAIL)
    if "counterparty" not in values:
        errors["counterparty"] = "Pick the other rep."
    try:
        Filing.model_validate(data)
    except ValidationError as exc:
        for block, message in errors_of(exc, FILING_BLOCK_OF, "title").items():
            errors.setdefault(block, message)
    return errors


# --- actions -----------------------------------------------------------------------------------

ACTION_MODELS: dict[str, type[Action]] = {
    "propose": Propose, "reject": Reject, "escalate": Escalate, "request_info": RequestInfo, "rule": Rule,
    "appeal": Appeal, "decide": Decide, "withdraw": Withdraw, "answer": Answer, "comment": Comment,
}
ACTION_BLOCK_OF = {
    "outcome.owner": "owner", "outcome.credit_split": "credit_direct", "outcome.co_sell_stipend": "co_sell_stipend",
    "outcome.renewal_bonus_pct": "renewal_bonus_pct", "outcome.price_protection_until": "price_protection_until",
    "outcome.discount_cap_pct": "discount_cap_pct", "outcome.terms": "terms", "outcome": "owner",
    "criteria.win_probability.direct": "win_direct", "criteria.win_probability.partner": "win_partner",
    "criteria.lifetime_value.direct": "ltv_direct", "criteria.lifetime_value.partner": "ltv_partner",
    "criteria.strategic_fit.direct": "fit_direct", "criteria.strategic_fit.partner": "fit_partner",
    "criteria": "win_direct", "rationale": "rationale", "reason": "reason", "question": "question", "note": "note",
    "text": "text", "visibility": "visibility",
}


def metadata(dispute_id: str, action: str, *, summary: str | None = None, ruling: str | None = None,
             mediation: bool = False, channel: str | None = None, ts: str | None = None, original: str | None = None,
             home: bool = False, weights: Weights | None = None, question: str | None = None,
             claims: str | None = None, caucus: bool = False, precedents: str | None = None,
             precedent_owners: list[str] | None = None) -> dict[str, Any]:
    """What a modal carries in its private_metadata: the dispute and action, what to show again when
    it is redrawn, and the message to update once the action is recorded."""
    data: dict[str, Any] = {"d": dispute_id, "a": action}
    if summary:
        data["s"] = summary
    if ruling:
        data["r"] = ruling
    if question:
        data["q"] = question
    if claims:
        data["c"] = claims  # `render.slack_claims.claims_text`: the ruling and decision modals show it
    if mediation:
        data["m"] = 1
    if channel and ts:
        data |= {"ch": channel, "ts": ts, "o": clip(original or "", 900)}
    if home:
        data["h"] = 1
    if weights is not None:
        data["w"] = weights.model_dump()
    if precedents:  # `render.slack_precedents.precedents_text`: the ruling and decision modals show it
        data["p"] = precedents
        data["po"] = precedent_owners or []  # their owners, for the warning when the owner chosen departs
    if caucus:
        data["cv"] = 1  # the comment form offers "Visible to: mediators only" (the workflow still judges it)
    return data


def read_metadata(raw: object) -> dict[str, Any] | None:
    try:
        data = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("d"), str) or data.get("a") not in ACTION_MODELS:
        return None
    return data


def action_data(action: str, values: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    data: dict[str, Any] = {"action": action}
    if action in ("propose", "rule", "decide"):
        outcome: dict[str, Any] = {}
        if "owner" in values:
            outcome["owner"] = values["owner"]
        direct = read_number(values, "credit_direct", errors, integer=True)
        if direct is not None:
            if not 0 <= direct <= 100:
                errors["credit_direct"] = "Between 0 and 100."
            else:
                outcome["credit_split"] = {"direct": direct, "partner": 100 - direct}
        for key in ("co_sell_stipend", "renewal_bonus_pct", "discount_cap_pct"):
            number = read_number(values, key, errors)
            if number is not None:
                outcome[key] = number
        if "price_protection_until" in values:
            try:
                outcome["price_protection_until"] = date.fromisoformat(values["price_protection_until"])
            except ValueError:
                errors["price_protection_until"] = "Pick a date."
        if "terms" in values:
            outcome["terms"] = values["terms"]
        data["outcome"] = outcome
    if action in ("rule", "decide"):
        n = {k: read_number(values, k, errors, integer=k.startswith("fit")) for k in CRITERIA_BLOCKS}
        data["criteria"] = {
            "win_probability": {"direct": n["win_direct"], "partner": n["win_partner"]},
            "lifetime_value": {"direct": n["ltv_direct"], "partner": n["ltv_partner"]},
            "strategic_fit": {"direct": n["fit_direct"], "partner": n["fit_partner"]},
        }
        data["rationale"] = values.get("rationale", "")
    if action == "propose" and "note" in values:
        data["note"] = values["note"]
    if action in TEXT_FIELD:
        field = TEXT_FIELD[action][0]
        data[field] = values.get(field, "")
    if action == "comment" and "visibility" in values:  # left out: the default, for everyone
        data["visibility"] = values["visibility"]
    return data, errors


def parse_action(action: str, values: Mapping[str, str]) -> tuple[Action | None, dict[str, str]]:
    """The submitted action as the model the API takes, or the errors keyed by block id."""
    data, errors = action_data(action, values)
    model = ACTION_MODELS[action]
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        default = "owner" if action in ("propose", "rule", "decide") else TEXT_FIELD.get(action, ("reason", ""))[0]
        for block, message in errors_of(exc, ACTION_BLOCK_OF, default).items():
            errors.setdefault(block, message)
        return None, errors
    return (None, errors) if errors else (parsed, {})


# --- simple modals -----------------------------------------------------------------------------
