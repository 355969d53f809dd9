"""The baseline of bench/throughput.py: a workflow that runs one trivial activity, nothing else.

It lives in its own small module on purpose: the worker's sandbox re-imports a workflow's module for
every workflow run (and, with PYTHONDONTWRITEBYTECODE, compiles it from source each time), so the
baseline must not pay for re-executing the whole benchmark script on every run.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RetryPolicy


@activity.defn(name="bench_echo")
def echo(value: str) -> str:
    """A sync activity, run in the worker's thread pool like Parley's store activities."""
    return value


@workflow.defn(name="BenchBareWorkflow")
class BareWorkflow:
    @workflow.run
    async def run(self, value: str) -> str:
        result: str = await workflow.execute_activity(
            echo, value, start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )
        return result
