"""DigestWorkflow: one digest for everyone who gets one, started by the `parley-digest` Schedule (or on demand).

Its moment is the schedule's action time (the `TemporalScheduledStartTime` search attribute), its outbox
event `digest:<date>` in the charter calendar's zone (domain.digest_runs): a second run for the same
action, or a retried activity, sends nothing twice. `plan_digests` queues a row per person; then each
person's digest goes out in its own `deliver_digest` activity, a batch at a time, so a person whose mail
server is down holds up nobody else. After twelve hours of retries a person's digest is given up (a
week-old digest is no use) and the report says why.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from domain.digest_runs import (
        DELIVER_DIGEST,
        PLAN_DIGESTS,
        DigestDelivery,
        DigestReport,
        DigestRequest,
        DigestRun,
        DigestSent,
        digest_key,
    )

SCHEDULED_AT = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
BATCH = 20  # people whose digests go out at once
PLAN_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1))
DELIVERY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), backoff_coefficient=2.0,
                             maximum_interval=timedelta(minutes=10))
DELIVERY_WINDOW = timedelta(hours=12)


@workflow.defn
class DigestWorkflow:
    @workflow.run
    async def run(self, request: DigestRequest) -> DigestReport:
        at = request.at or workflow.info().typed_search_attributes.get(SCHEDULED_AT) or workflow.now()
        digest = DigestRun(key=request.key or digest_key(at, request.time_zone), at=at)
        recipients = await workflow.execute_activity(
            PLAN_DIGESTS, digest, result_type=list[str], start_to_close_timeout=timedelta(minutes=5),
            schedule_to_close_timeout=timedelta(hours=1), retry_policy=PLAN_RETRY,
        )
        sent: list[DigestSent] = []
        for start in range(0, len(recipients), BATCH):
            batch = recipients[start:start + BATCH]
            sent += await asyncio.gather(*(self._deliver(digest, person) for person in batch))
        return DigestReport(key=digest.key, at=at, sent=sent)

    async def _deliver(self, digest: DigestRun, recipient: str) -> DigestSent:
        try:
            result: DigestSent = await workflow.execute_activity(
                DELIVER_DIGEST, DigestDelivery(key=digest.key, at=digest.at, recipient=recipient),
                result_type=DigestSent, start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=timedelta(seconds=20),  # a dead worker's delivery is retried in seconds
                schedule_to_close_timeout=DELIVERY_WINDOW, retry_policy=DELIVERY_RETRY,
            )
        except ActivityError as exc:
            return DigestSent(recipient=recipient, error=f"gave up: {exc.cause or exc.message}")
        return result

