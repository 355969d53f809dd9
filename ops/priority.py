"""A lower CPU priority for a process whose work can wait (a deliveries worker, PARLEY_WORKER_NICE).

On Linux niceness belongs to each thread, and a new thread takes its maker's: lower it before any other
thread exists. Niceness alone is not enough where the kernel groups processes by session ("autogroups",
/proc/sys/kernel/sched_autogroup_enabled, on by default in most distributions): the scheduler first shares
the cores equally between sessions and only then, inside a session, by niceness. A worker started in a
session of its own (`parley up` starts each of its processes so, as do service managers) would weigh as
much as the workflows' worker however nice it is. Such a worker lowers its session's priority too; one
that shares its session (started from a shell) leaves the session's priority alone, since that would slow
every process in it, and there its niceness works.

At niceness 19, the lowest, the process also runs under SCHED_IDLE (Linux): besides a weight below even
niceness 19's, a core that runs only such threads counts as idle to the scheduler, so a waking thread of the
stack is put there and preempts at once. In bench/reach.py (SQLite, two rounds each, back to back) the filing
rate with every delivery on went from 0.77 to 0.86 of the outbox's.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

AUTOGROUP = Path("/proc/self/autogroup")  # "/autogroup-85 nice 0"
MAX_NICE = 19


def lower(by: int) -> None:
    """Lower this process's priority `by` steps of niceness (and its session's, when it leads one of its own)."""
    if os.nice(by) >= MAX_NICE and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    if os.getsid(0) != os.getpid() or not AUTOGROUP.exists():
        return
    try:
        now = int(AUTOGROUP.read_text().split()[-1])
        AUTOGROUP.write_text(str(min(MAX_NICE, now + by)))
    except (OSError, ValueError) as exc:  # not allowed, or a kernel that words it otherwise: niceness alone
        log.warning("could not lower the priority of this worker's session (%s): %s", AUTOGROUP, exc)


def session_niceness(pid: int) -> int | None:
    """The niceness of the autogroup of process `pid`; None without autogroups."""
    try:
        return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return None
