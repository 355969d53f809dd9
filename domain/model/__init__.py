"""The values that cross Temporal and the HTTP API: filings, actions, outcomes, the dispute view.

Pydantic models validate at the edge (the API answers 422 naming the field) and travel through
Temporal with the pydantic data converter.

Import them from here. The modules: `fields` (the validated field types and `Strict`, the base of
every model), `inputs` (people, filings, actions, outcomes and criteria: what is handed to Parley),
`views` (the status, the dispute view, audit events and notices: what Parley shows and records).
"""

from domain.model.fields import (
    CURRENCIES,
    EMAIL_PATTERN,
    IN_USE,
    MAX_MONEY,
    NONSPACE,
    NOT_BLANK,
    RATIONALE_PATTERN,
    TEXT_INPUT,
    ANumber,
    Currency,
    CurrencyInUse,
    Email,
    IsoDate,
    IsoDateTime,
    Money,
    Percent,
    Rationale,
    ShortText,
    Strict,
    check_in_use,
    unstorable,
)
from domain.model.inputs import (
    ACTION_NAMES,
    Accept,
    Action,
    Actor,
    Answer,
    Appeal,
    Approve,
    Command,
    Comment,
    ConflictType,
    CreditSplit,
    Criteria,
    Decide,
    DisputeStart,
    Escalate,
    Filing,
    Outcome,
    Party,
    PerChannelFit,
    PerChannelMoney,
    PerChannelProbability,
    PrecedentRef,
    Propose,
    Reassign,
    Recommendation,
    Reject,
    RequestInfo,
    Resume,
    Role,
    Rule,
    Visibility,
    Withdraw,
)
from domain.model.views import CLOSED, Decision, DisputeView, Event, Notice, Proposal, Recorded, Sla, Status

__all__ = [
    "ACTION_NAMES", "CLOSED", "CURRENCIES", "EMAIL_PATTERN", "IN_USE", "MAX_MONEY", "NONSPACE", "NOT_BLANK",
    "RATIONALE_PATTERN", "TEXT_INPUT", "ANumber", "Accept", "Action", "Actor", "Answer", "Appeal", "Approve",
    "Command", "Comment", "ConflictType", "CreditSplit", "Criteria", "Currency", "CurrencyInUse", "Decide", "Decision",
    "DisputeStart", "DisputeView", "Email", "Escalate", "Event", "Filing", "IsoDate", "IsoDateTime", "Money",
    "Notice", "Outcome", "Party", "PerChannelFit", "PerChannelMoney", "PerChannelProbability", "Percent",
    "PrecedentRef", "Proposal", "Propose", "Rationale", "Reassign", "Recommendation", "Recorded", "Reject",
    "RequestInfo", "Resume", "Role", "Rule", "ShortText", "Sla", "Status", "Strict", "Visibility", "Withdraw",
    "check_in_use", "unstorable",
]
