"""The durable half of a webhook delivery: retries once a first try has failed, and the sweep behind the first tries.

A delivery's first try is made by the worker straight after its event is recorded (activities.webhooks
`DeliveryStarter`), with no workflow: most receivers answer 2xx at once, and then Temporal does nothing.

`WebhookRetryWorkflow` (its id is the delivery's, as for `WebhookDeliveryWorkflow`) takes over a delivery
whose first try failed: it waits out the back-off (or the receiver's `Retry-After`), then tries again on the
schedule the first try began (20 s, 40 s … after the second try, at most an hour apart, until 24 hours after
the first try), and marks it failed after that.

`WebhookSweepWorkflow`, one per task queue, runs a sweep every minute: a delivery whose first try never
happened (its worker died between the event's commit and the try) gets its `WebhookDeliveryWorkflow`;
one whose next try is overdue with no workflow behind it (its worker died before starting one) gets its
`WebhookRetryWorkflow`. It continues as new every hour, so its history stays short.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.names import GIVE_UP_WEBHOOK
    from domain.webhook_events import DeliveryGivenUp
    from domain.webhook_retries import (
        MAX_BACKOFF,
        RETRY_WEBHOOK,
        SWEEP_WEBHOOKS,
        DeliveryRetry,
        SweepPlan,
        backoff,
    )
    from workflows.webhooks import ATTEMPT_TIMEOUT, GIVE_UP_RETRY, HEARTBEAT_TIMEOUT, given_up_reason

SWEEP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=1))
SWEEPS_PER_RUN = 60  # then continue as new: a run's history stays a few hundred events


def after(tries: int) -> RetryPolicy:
    """The retry policy that carries on the back-off of a delivery tried `tries` times already."""
    return RetryPolicy(initial_interval=backoff(tries + 1), backoff_coefficient=2.0, maximum_interval=MAX_BACKOFF)


# Not sandboxed, as WebhookDeliveryWorkflow: a timer, two activity calls and a reason.
@workflow.defn(sandboxed=False)
class WebhookRetryWorkflow:
    @workflow.run
    async def run(self, retry: DeliveryRetry) -> str:
        """"delivered", or "failed" once the delivery is given up."""
        began = workflow.now()
        if retry.wait_s > 0:
            await workflow.sleep(timedelta(seconds=retry.wait_s))
        left = timedelta(seconds=retry.window_s) - (workflow.now() - began)
        try:
            await workflow.execute_activity(
                RETRY_WEBHOOK, retry,
                schedule_to_close_timeout=max(left, timedelta(seconds=1)), start_to_close_timeout=ATTEMPT_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT, retry_policy=after(retry.tries),
            )
            return "delivered"
        except ActivityError as exc:
            reason = given_up_reason(exc)
        await workflow.execute_activity(
            GIVE_UP_WEBHOOK, DeliveryGivenUp(delivery_id=retry.delivery_id, reason=reason),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=GIVE_UP_RETRY,
        )
        return "failed"


@workflow.defn(sandboxed=False)
class WebhookSweepWorkflow:
    @workflow.run
    async def run(self, plan: SweepPlan) -> None:
        for _ in range(SWEEPS_PER_RUN):
            await workflow.execute_activity(SWEEP_WEBHOOKS, plan, start_to_close_timeout=timedelta(minutes=2),
                                            retry_policy=SWEEP_RETRY)
            await workflow.sleep(timedelta(seconds=plan.every_s))
        workflow.continue_as_new(plan)
