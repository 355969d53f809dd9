"""WebhookDeliveryWorkflow: one event to one subscription, retried with exponential back-off for 24 hours.

A delivery's first try is made without a workflow (workflows.webhook_retries says how); this workflow makes
a delivery from its first try when that is skipped: a redelivery, or a first try the sweep finds never made.
One workflow per delivery (its id is the delivery's), so a dead receiver holds up nothing but its own
deliveries, never a deadline or another receiver. Each attempt is one try of the `deliver_webhook`
activity, which records itself in the deliveries log; Temporal schedules the retries (10 s, doubling, at
most an hour apart; a 429's `Retry-After` wins). An attempt heartbeats while it waits for the receiver:
one whose worker died is tried again after the heartbeat time-out and the back-off, not after the
attempt's minute. Once 24 hours have passed without a 2xx answer, or the subscription is removed, the
delivery is marked failed.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState, TimeoutError

with workflow.unsafe.imports_passed_through():
    from activities.names import DELIVER_WEBHOOK, GIVE_UP_WEBHOOK
    from domain.webhook_events import DeliveryGivenUp, DeliveryJob

DELIVERY_WINDOW = timedelta(hours=24)
ATTEMPT_TIMEOUT = timedelta(minutes=1)  # the activity's own HTTP time-out is much shorter
HEARTBEAT_TIMEOUT = timedelta(seconds=5)  # an attempt heartbeats every second (activities.webhooks)
WEBHOOK_RETRY = RetryPolicy(initial_interval=timedelta(seconds=10), backoff_coefficient=2.0,
                            maximum_interval=timedelta(hours=1))
GIVE_UP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


# Not sandboxed: its code is two activity calls and a reason, with nothing the sandbox guards against, and a
# sandboxed run re-imports its module each time: a cost paid per delivery, thousands of them in a burst.
@workflow.defn(sandboxed=False)
class WebhookDeliveryWorkflow:
    @workflow.run
    async def run(self, job: DeliveryJob) -> str:
        """"delivered", or "failed" once the delivery is given up."""
        try:
            await workflow.execute_activity(
                DELIVER_WEBHOOK, job, schedule_to_close_timeout=DELIVERY_WINDOW,
                start_to_close_timeout=ATTEMPT_TIMEOUT, heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=WEBHOOK_RETRY,
            )
            return "delivered"
        except ActivityError as exc:
            reason = given_up_reason(exc)
        await workflow.execute_activity(
            GIVE_UP_WEBHOOK, DeliveryGivenUp(delivery_id=job.delivery_id, reason=reason),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=GIVE_UP_RETRY,
        )
        return "failed"


def given_up_reason(exc: ActivityError) -> str:
    """Why a delivery's tries ended without a 2xx answer, for the deliveries log."""
    cause = exc.cause
    if isinstance(cause, ApplicationError) and cause.non_retryable:
        return cause.message
    if isinstance(cause, TimeoutError) or exc.retry_state == RetryState.TIMEOUT:
        return "gave up: no 2xx answer within 24 hours"
    return f"gave up: {cause if cause is not None else exc.message}"
