"""NoticeDeliveryWorkflow: the notices of one event that a deliveries worker's relay could not deliver at
its first attempt (activities.relay), delivered by `deliver_notices` with the retries, back-off and heartbeat
time-out a dispute's own delivery has. Its id names the event, so an event is handed over once at a time."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.names import DELIVER_NOTICES
    from domain.model import Event
    from workflows.dispute import DELIVERY_RETRY


def notice_delivery_id(dispute_id: str, seq: int) -> str:
    return f"notices-{dispute_id}-{seq}"


@workflow.defn
class NoticeDeliveryWorkflow:
    @workflow.run
    async def run(self, event: Event) -> None:
        await workflow.execute_activity(
            DELIVER_NOTICES, event, start_to_close_timeout=timedelta(seconds=60),
            schedule_to_close_timeout=timedelta(days=2), retry_policy=DELIVERY_RETRY,
            heartbeat_timeout=timedelta(seconds=20),  # a dead worker is noticed then (activities.notify)
        )
