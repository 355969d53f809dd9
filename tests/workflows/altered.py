"""A deliberately changed DisputeWorkflow, registered under the real name: it records one extra
activity before every record, as a careless edit (a new notification call, say) would. Replaying
the stored histories against it must fail; test_replay.py proves that it does."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.names import DELIVER_NOTICES
    from domain.model import DisputeStart, DisputeView
    from workflows.dispute import DisputeWorkflow


@workflow.defn(name="DisputeWorkflow")
class AlteredDisputeWorkflow(DisputeWorkflow):
    @workflow.run
    async def run(self, start: DisputeStart) -> DisputeView:
        return await super().run(start)

    async def _record_queued(self) -> None:
        if self._queue:  # the unguarded new command: no `workflow.patched`
            await workflow.execute_activity(
                DELIVER_NOTICES, self._queue[0].event, start_to_close_timeout=timedelta(seconds=10)
            )
        await super()._record_queued()
