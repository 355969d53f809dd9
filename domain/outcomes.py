"""What a new outcome may not say (a proposal, a ruling, a decision): the owner gets some of the credit, and
price protection ends on a day still to come.

The service checks these as an outcome is made (every surface goes through it), not the model: outcomes
already recorded travel in their workflows' histories and must stay readable whatever these rules become.
Pure: no I/O.
"""

from __future__ import annotations

from datetime import date

from domain.errors import InvalidInput
from domain.model import Outcome

OWNERS = {"direct": "direct sales", "partner": "the partner"}


def check(outcome: Outcome, today: date) -> None:
    """Raises InvalidInput naming the field when the outcome contradicts itself or has lapsed already."""
    if outcome.owner in OWNERS and getattr(outcome.credit_split, outcome.owner) == 0:
        raise InvalidInput(f"outcome.credit_split: gives the owner ({OWNERS[outcome.owner]}) none of the credit; "
                           "give the owner a share, or make the owner co_sell", "outcome.credit_split")
    until = outcome.price_protection_until
    if until is not None and until < today:
        raise InvalidInput(f"outcome.price_protection_until: {until.isoformat()} has passed; price protection "
                           f"runs until a day from today ({today.isoformat()}) on", "outcome.price_protection_until")
