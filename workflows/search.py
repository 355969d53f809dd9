"""The dispute workflow's typed search attributes: what an operator filters on in the Temporal UI or with
`temporal workflow list --query "ParleyStatus='mediation' AND ParleyDueAt < '…'"`.

The workflow upserts them on every state change (behind the `search-attributes` patch); the worker
registers them on its namespace when they are missing (`service.search_attributes`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from domain.model import DisputeView

PATCH = "search-attributes"

STATUS = SearchAttributeKey.for_keyword("ParleyStatus")
TIER = SearchAttributeKey.for_int("ParleyTier")
ACCOUNT = SearchAttributeKey.for_keyword("ParleyAccount")
REGION = SearchAttributeKey.for_keyword("ParleyRegion")
DEAL_VALUE = SearchAttributeKey.for_float("ParleyDealValue")
DUE_AT = SearchAttributeKey.for_datetime("ParleyDueAt")
MEDIATOR = SearchAttributeKey.for_keyword("ParleyMediator")

KEYS: Sequence[SearchAttributeKey[Any]] = (STATUS, TIER, ACCOUNT, REGION, DEAL_VALUE, DUE_AT, MEDIATOR)


def values_of(view: DisputeView) -> dict[str, Any]:
    """Each attribute's value for the dispute as it stands (None: unset, e.g. no deadline once closed)."""
    return {
        STATUS.name: view.status, TIER.name: view.tier, ACCOUNT.name: view.account, REGION.name: view.region,
        DEAL_VALUE.name: float(view.deal_value), DUE_AT.name: view.sla.due_at, MEDIATOR.name: view.mediator,
    }


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[SearchAttributeUpdate[Any]]:
    """The updates that turn the attributes `before` into `after`."""
    updates: list[SearchAttributeUpdate[Any]] = []
    for key in KEYS:
        value = after.get(key.name)
        if key.name in before and before[key.name] == value:
            continue
        updates.append(key.value_unset() if value is None else key.value_set(value))
    return updates


def memo_of(title: str, account: str) -> dict[str, str]:
    """The memo a dispute's workflow carries: what the Temporal UI shows beside its id."""
    return {"title": title, "account": account}
