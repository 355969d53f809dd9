"""A deliveries worker (PARLEY_WORKER_ROLE=deliveries) runs at the CPU niceness PARLEY_WORKER_NICE gives it, every
thread of it: on Linux niceness belongs to each thread, and a thread keeps the niceness of the thread that made
it, so the Temporal SDK's Core threads (tokio's, and the workflow-processing thread they start) must be made after
the worker lowers its priority. A real `python -m cli worker` process against the session's Temporal dev server."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from store.db import migrate
from tests.harness.paths import DEFAULT_CHARTER
from tests.harness.temporal import target_of
from tests.harness.waiting import eventually
from tests.harness.worker_process import WorkerProcess, worker_env

NICE = 7  # above this process's niceness


def threads(pid: int) -> list[tuple[str, int]]:
    """The name and niceness of every thread of the process (Linux: /proc/<pid>/task/<tid>/stat, field 19)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        after_name = (task / "stat").read_text().rsplit(")", 1)[1].split()  # fields 3 … follow the name
        found.append(((task / "comm").read_text().strip(), int(after_name[16])))
    return found


async def test_every_thread_of_a_deliveries_worker_runs_at_its_niceness(
        temporal_env: WorkflowEnvironment, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'parley.db'}"
    migrate(db_url)
    env = worker_env(db_url, target_of(temporal_env), f"apart-{uuid.uuid4().hex[:12]}", tmp_path, DEFAULT_CHARTER,
                     PARLEY_WORKER_ROLE="deliveries", PARLEY_WORKER_NICE=str(NICE))
    deliveries = WorkerProcess(env, tmp_path / "deliveries.log")
    pid, niced = deliveries.proc.pid, min(os.getpriority(os.PRIO_PROCESS, 0) + NICE, 19)

    def running() -> bool:  # niced as it starts; Core's workflow-processing thread runs once its worker does
        return deliveries.running() and os.getpriority(os.PRIO_PROCESS, pid) == niced \
            and "workflow-proces" in dict(threads(pid))

    try:
        await eventually(running, timeout=45, what=lambda: f"the worker to run\n{deliveries.tail()}")
        assert {nice for _, nice in threads(pid)} == {niced}, threads(pid)
    finally:
        deliveries.stop()
