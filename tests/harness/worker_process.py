"""A real `python -m cli worker` process for the tests that SIGKILL one mid-work (webhooks, Slack)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.harness.paths import ROOT


class WorkerProcess:
    """`python -m cli worker` in a session of its own, its output in a log file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "cli", "worker"], cwd=ROOT, env=env, stdout=out,
                                         stderr=subprocess.STDOUT, start_new_session=True)

    def running(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the worker exited with {self.proc.returncode}:\n{self.tail()}")
        return True

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last word to Temporal or the store."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def worker_env(db_url: str, temporal: str, task_queue: str, data_dir: Path, charter: Path,
               **settings: str) -> dict[str, str]:
    """The environment of a worker on this store, server and task queue: this process's own, less any PARLEY_
    setting, plus `settings` (PARLEY_ names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PARLEY_DATABASE_URL=db_url, PARLEY_TEMPORAL_ADDRESS=temporal, PARLEY_TASK_QUEUE=task_queue,
               PARLEY_CHARTER=str(charter), PARLEY_DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1", **settings)
    return env
