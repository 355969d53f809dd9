"""A DigestWorkflow changed without `workflow.patched`, which the replay test must catch. Its own module, with
nothing but the workflow, so that the sandbox can re-import it."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.digest_runs import PLAN_DIGESTS, DigestReport, DigestRequest, DigestRun


@workflow.defn(name="DigestWorkflow")
class PlanTwiceDigestWorkflow:
    """The plan runs twice (say, to refresh it) before anything is delivered."""

    @workflow.run
    async def run(self, request: DigestRequest) -> DigestReport:
        run = DigestRun(key=request.key or "digest:x", at=request.at or workflow.now())
        for _ in range(2):
            await workflow.execute_activity(PLAN_DIGESTS, run, result_type=list[str],
                                            start_to_close_timeout=timedelta(minutes=5))
        return DigestReport(key=run.key, at=run.at)
