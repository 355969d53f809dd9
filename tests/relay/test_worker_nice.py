"""A deliveries worker (PARLEY_WORKER_ROLE=deliveries) runs at the CPU niceness PARLEY_WORKER_NICE gives it, every
thread of it: on Linux niceness belongs to each thread, and a thread keeps the niceness of the thread that made
it, so the Temporal SDK's Core threads (tokio's, and the workflow-processing thread they start) must be made after
the worker lowers its priority. A real `python -m cli worker` process against the session's Temporal dev server."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from ops.priority import session_niceness
from store.db import migrate
from tests.harness.paths import DEFAULT_CHARTER, ROOT
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
        if session_niceness(os.getpid()) is not None:  # a kernel with autogroups: the worker leads its own session
            assert session_niceness(pid) == NICE
    finally:
        deliveries.stop()


LOWER = "import os; from ops.priority import lower, session_niceness; lower(3); print(session_niceness(os.getpid()))"


@pytest.mark.parametrize("own_session", [True, False])
def test_a_session_of_its_own_is_lowered_and_a_shared_one_left_alone(own_session: bool) -> None:
    """With autogroups the scheduler shares the cores between sessions first: a niced process that leads its own
    session (as `parley up` and service managers start it) must lower the session's priority too, or it takes as
    much CPU as the workflows' worker; one started from a shell must not slow the shell's other processes."""
    ours = session_niceness(os.getpid())
    if ours is None:
        pytest.skip("this kernel does not group processes by session (no /proc/<pid>/autogroup)")
    done = subprocess.run([sys.executable, "-c", LOWER], cwd=ROOT, capture_output=True, text=True, check=True,
                          start_new_session=own_session)
    assert int(done.stdout) == (3 if own_session else ours)
    assert session_niceness(os.getpid()) == ours


POLICIES = ("import os, threading; from ops.priority import lower; lower({by}); "
            "later = threading.Thread(target=lambda: print(os.sched_getscheduler(0))); later.start(); later.join(); "
            "print(os.sched_getscheduler(0))")


@pytest.mark.parametrize(("by", "policy"), [(19, "SCHED_IDLE"), (3, "SCHED_OTHER")])
def test_the_lowest_priority_runs_only_on_cores_nothing_else_wants(by: int, policy: str) -> None:
    """At niceness 19 (a deliveries worker in `./parley up`) the process runs under SCHED_IDLE, its later threads
    too: a waking task of the stack takes a core it holds at once. Any other niceness keeps the normal policy."""
    if by < 19 <= os.getpriority(os.PRIO_PROCESS, 0) + by:
        pytest.skip("this process is niced so far already that lowering it by 3 reaches 19")
    done = subprocess.run([sys.executable, "-c", POLICIES.format(by=by)], cwd=ROOT, capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == [str(getattr(os, policy))] * 2
