"""What crosses Temporal for the webhook deliveries that need it (DESIGN §7): a delivery whose first try,
made straight after its event was recorded, failed (`WebhookRetryWorkflow`), and the sweep that hands
Temporal the deliveries whose first try never happened or whose retries never began (`WebhookSweepWorkflow`).
Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

RETRY_WEBHOOK = "retry_webhook"  # deliver_webhook's attempt, told the tries before it (activities.webhooks)
SWEEP_WEBHOOKS = "sweep_webhooks"  # the sweep's activity (activities.webhooks.DeliveryStarter)

DELIVERY_WINDOW = timedelta(hours=24)  # how long a delivery is tried, from its first try
FIRST_BACKOFF = timedelta(seconds=10)  # the wait after a first failed try; it doubles after each failure
MAX_BACKOFF = timedelta(hours=1)


def backoff(attempt: int) -> timedelta:
    """The wait after failed attempt number `attempt` (1, 2, …): 10 s, 20 s, 40 s …, at most an hour."""
    return min(FIRST_BACKOFF * 2.0 ** min(attempt - 1, 20), MAX_BACKOFF)


@dataclass
class DeliveryRetry:
    """The input of `WebhookRetryWorkflow`: a delivery tried `tries` times already, the last of which failed."""

    delivery_id: str
    wait_s: float  # until its next try: the back-off after the last, or what the receiver's Retry-After asked
    window_s: float  # what is left of its 24 hours, from now
    tries: int = 1  # the retries carry on the back-off from here: 10 s after the 1st, 20 s after the 2nd …


@dataclass
class SweepPlan:
    """The input of `WebhookSweepWorkflow` and of each of its sweeps."""

    every_s: float = 60.0  # between two sweeps
    grace_s: float = 120.0  # how long a first try or a next try may be overdue before the sweep takes it over
