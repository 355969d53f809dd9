"""A stand-in DisputeWorkflow (the real name, so that its id counts as a dispute's) and an activity, both of
which log: through temporalio's logger adapters and through a plain logger, as Parley's code does."""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio import activity, workflow

PLAIN = "parley.stand_in"


@activity.defn(name="stand_in_logs")
def log_from_activity(note: str) -> None:
    activity.logger.warning("from the activity: %s", note)
    logging.getLogger(PLAIN).warning("plainly from the activity: %s", note)


@workflow.defn(name="DisputeWorkflow")
class LoggingDisputeWorkflow:
    @workflow.run
    async def run(self, note: str) -> None:
        workflow.logger.warning("from the workflow: %s", note)
        await workflow.execute_activity(log_from_activity, note, start_to_close_timeout=timedelta(seconds=10))
