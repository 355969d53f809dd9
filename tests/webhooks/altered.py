"""A WebhookRetryWorkflow changed without `workflow.patched`, which the replay test must catch: it tries again
at once instead of first waiting out the back-off. Its own module, with nothing but the workflow."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.webhook_retries import RETRY_WEBHOOK, DeliveryRetry
    from workflows.webhook_retries import after


@workflow.defn(name="WebhookRetryWorkflow", sandboxed=False)
class NoWaitWebhookRetryWorkflow:
    @workflow.run
    async def run(self, retry: DeliveryRetry) -> str:
        await workflow.execute_activity(RETRY_WEBHOOK, retry, schedule_to_close_timeout=timedelta(hours=24),
                                        retry_policy=after(retry.tries))
        return "delivered"
