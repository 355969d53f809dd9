"""The stacks bench/scale.py measures: PostgreSQL databases made for the run and dropped after it, and the
parts of `parley up` (ops/stack.py's `plan`: the Temporal dev server, N workers, M API processes and the
front) started by the bench itself, so that it knows every pid, reads each one's memory, scrapes each
worker's Temporal SDK metrics, and can run the workers under a profiler (bench/scale_profile.py).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.throughput import BenchError  # noqa: E402

# --- PostgreSQL --------------------------------------------------------------------------------------

class Postgres:
    """Throw-away databases on one server (a libpq URL to its maintenance database), dropped at the end."""

    def __init__(self, server: str) -> None:
        self.server = server
        self.made: list[str] = []

    def create(self, prefix: str) -> str:
        import psycopg
        from psycopg import sql
        from sqlalchemy.engine import make_url

        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        try:
            with psycopg.connect(self.server, autocommit=True) as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except psycopg.Error as exc:
            raise BenchError(f"cannot create a database on {self.server}: {exc}") from exc
        self.made.append(name)
        return make_url(self.server).set(database=name).render_as_string(hide_password=False)

    def drop_all(self) -> None:
        import psycopg
        from psycopg import sql

        for name in self.made:
            try:
                with psycopg.connect(self.server, autocommit=True) as conn:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            except psycopg.Error as exc:
                print(f"  could not drop database {name}: {exc}", file=sys.stderr)
        self.made.clear()


# --- processes ---------------------------------------------------------------------------------------

def free_ports(count: int) -> int:
    """The first of `count` consecutive free TCP ports on 127.0.0.1."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        if base + count >= 65536:
            continue
        try:
            for port in range(base + 1, base + count):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise BenchError(f"no {count} consecutive free ports found")


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (psutil when installed, else /proc); NaN when it is gone."""
    try:
        import psutil  # type: ignore[import-untyped,import-not-found,unused-ignore]

        try:
            return float(psutil.Process(pid).memory_info().rss) / 2**20
        except psutil.Error:
            return float("nan")
    except ImportError:
        pass
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def scrape(port: int) -> dict[str, float]:
    """A Prometheus text page as {"name{labels}": value} (nothing when it cannot be read)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        try:
            out[key] = float(value)
        except ValueError:
            continue
    return out


def total(metrics: dict[str, float], name: str, **labels: str) -> float:
    """The sum of a series over the label sets that have `labels` (e.g. activity_type="record_event")."""
    found = 0.0
    for key, value in metrics.items():
        base, _, rest = key.partition("{")
        if base != name:
            continue
        if all(f'{k}="{v}"' in rest for k, v in labels.items()):
            found += value
    return found


@dataclass
class Stack:
    name: str
    url: str
    temporal: str  # host:port of the dev server
    data_dir: Path
    db_url: str
    tokens: dict[str, str]
    parts: list[object]  # ops.stack.Part
    metrics_ports: dict[str, int]  # worker name -> its SDK metrics port
    server_metrics_port: int  # the dev server's own Prometheus metrics
    profile_dir: Path | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def pids(self) -> dict[str, int]:
        from ops.stack import Part

        return {p.name: p.proc.pid for p in self.parts if isinstance(p, Part) and p.proc is not None}

    def kind(self, kind: str) -> list[str]:
        """The names of the parts of one kind ("worker" is worker, or worker-1, worker-2 …)."""
        return [name for name in self.pids if name.split("-")[0] == kind]

    def rss(self) -> dict[str, float]:
        return {name: round(rss_mb(pid), 1) for name, pid in self.pids.items()}

    def worker_metrics(self) -> dict[str, dict[str, float]]:
        return {name: scrape(port) for name, port in self.metrics_ports.items()}

    def server_metrics(self) -> dict[str, float]:
        return scrape(self.server_metrics_port)

    def log(self, part: str) -> Path:
        return self.data_dir / "logs" / f"{part}.log"


def start_stack(name: str, *, db_url: str, charter: Path, workers: int, apis: int,
                profile_dir: Path | None = None, yappi: str | None = None,
                extra_env: dict[str, str] | None = None) -> Stack:
    """`parley up --workers N --apis M` as ops/stack.py plans it, on PostgreSQL, in a temporary data dir,
    on free ports; with `profile_dir`, each worker runs under bench/scale_profile.py. `extra_env`: more
    settings for every part (PARLEY_WORKER_MAX_CACHED_WORKFLOWS=…), on top of the bench's own."""
    import httpx

    from cli.common import migrated_engine
    from ops.seed import seed_demo_users
    from ops.stack import plan, wait_healthy
    from settings import Settings

    data_dir = Path(tempfile.mkdtemp(prefix=f"parley-scale-{name}-"))
    temporal_port = free_ports(1)
    while True:  # the Web UI listens at +1000
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", temporal_port + 1000))
            break
        except OSError:
            temporal_port = free_ports(1)
    http_port = free_ports(apis + 1)
    metrics_port = free_ports(workers)
    server_metrics_port = free_ports(1)
    values = {
        "PARLEY_DATA_DIR": str(data_dir), "PARLEY_DATABASE_URL": db_url, "PARLEY_CHARTER": str(charter),
        "PARLEY_TEMPORAL_DEV_PORT": str(temporal_port), "PARLEY_HTTP_PORT": str(http_port),
        "PARLEY_WORKER_METRICS_PORT": str(metrics_port),
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(extra_env or {})
    env.update(values, PYTHONPATH=str(ROOT))
    if yappi:
        env["PARLEY_BENCH_YAPPI"] = yappi
    settings = Settings(data_dir=data_dir, database_url=db_url, charter=charter, temporal_dev_port=temporal_port,
                        http_port=http_port, worker_metrics_port=metrics_port)
    engine = migrated_engine(settings)  # as `parley up` does before it starts anything
    try:
        tokens = seed_demo_users(engine, data_dir / "demo-tokens.json")
    finally:
        engine.dispose()
    parts = plan(settings, workers, apis)
    ports: dict[str, int] = {}
    for part in parts:
        if part.kind == "temporal":
            part.argv += ["--metrics-port", str(server_metrics_port)]
        if part.kind != "worker":
            continue
        ports[part.name] = int(part.env.get("PARLEY_WORKER_METRICS_PORT", metrics_port))
        if profile_dir is not None:
            part.argv = [sys.executable, "-m", "bench.scale_profile", str(profile_dir / part.name)]
    stack = Stack(name=name, url=f"http://127.0.0.1:{http_port}", temporal=f"127.0.0.1:{temporal_port}",
                  data_dir=data_dir, db_url=db_url, tokens=tokens, parts=list(parts), metrics_ports=ports,
                  server_metrics_port=server_metrics_port,
                  profile_dir=profile_dir, env=env)
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)  # the parts run `python -m cli …` from the checkout, as `./parley up` does
        for part in parts:
            part.start(env)
            try:
                wait_healthy(part, timeout=120)
            except SystemExit as exc:
                raise BenchError(f"{name}: {exc}\n{_tail(part.log)}") from None
    except BaseException:
        stop_stack(stack)
        raise
    finally:
        os.chdir(cwd)
    for kind_name, port in ports.items():  # a worker is up once it serves its metrics
        deadline = time.monotonic() + 60
        while not scrape(port):
            if time.monotonic() > deadline:
                raise BenchError(f"{name}: {kind_name} serves no metrics on :{port}\n"
                                 f"{_tail(stack.log(kind_name))}")
            time.sleep(0.25)
    if httpx.get(f"{stack.url}/healthz", timeout=10).status_code != 200:
        raise BenchError(f"{name}: the API is not healthy")
    (data_dir / "up.json").write_text(json.dumps({"pids": stack.pids, "supervisor": os.getpid()}))
    return stack


def stop_stack(stack: Stack) -> None:
    from ops.stack import Part, stop_in_order

    stop_in_order([p for p in stack.parts if isinstance(p, Part)], timeout=30)


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
