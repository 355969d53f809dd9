"""Filing throughput and read latency of the embedded stack, each against a bare baseline.

    .venv/bin/python bench/throughput.py [--disputes N] [--rate R] [--seconds S]     # ~1-1.5 min
    .venv/bin/python bench/throughput.py --url http://127.0.0.1:8000 --data-dir var   # a running stack

One run starts `parley up` in a temporary data dir (free ports; charters/fast.toml with its
second-long SLAs read as hours, see `quiet_charter`; --fast-timers keeps them), then measures:

1. filing: N disputes filed over HTTP, `--concurrency` at a time; a dispute is done once its 'filed'
   audit event and its first notification row are in the store (polled read-only) and its POST has
   answered. Baseline: `bare_workflow.BareWorkflow` (one trivial sync activity in a thread pool,
   worker built like Parley's) on the same Temporal server, with its own worker in this process on
   its own task queue, at the same concurrency, timed start -> result. Both run in ABBA rounds of N/2.
2. reads: `GET /api/disputes/{id}` open loop (requests leave at fixed intervals whatever the answers;
   latency is counted from the scheduled send time) at R req/s for S s, against a bare FastAPI JSON
   endpoint returning a dispute-sized dict, served by uvicorn exactly as `parley api` serves Parley.
   The two alternate in 1-second slices so that both meet the same background noise.

The machine is shared, so absolute figures are noisy: read the ratios. The CPU time per item of the
processes doing the work (from /proc) is printed too: it hardly moves with the machine's load.
Prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import httpx
    from temporalio.client import Client

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
T = TypeVar("T")

FILER = "dana.direct@example.com"
COUNTERPARTY = "pat.partner@example.com"
FILING: dict[str, Any] = {
    "conflict_type": "account_ownership",
    "account": "Bench Industries",
    "deal_value": 125000,
    "currency": "USD",
    "region": "AMER",
    "description": "Both channels are working the same account; filed by bench/throughput.py.",
    "counterparty_email": COUNTERPARTY,
}
FILING_GOAL = 0.7  # filing rate / bare workflow rate, at least
READ_GOAL = 2.0  # read p99 / bare endpoint p99, at most


class BenchError(Exception):
    pass


# --- processes -------------------------------------------------------------------------------------

class Children:
    """The subprocesses this benchmark started, stopped on the way out whatever happens."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self.grandchildren: list[int] = []  # the parts `parley up` started, in case it cannot stop them
        self.dirs: list[Path] = []  # temporary directories, removed once the processes are gone

    def start(self, name: str, argv: list[str], *, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            # a session of its own: Ctrl-C reaches only us, and we stop the children in order
            proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.procs.append((name, proc))
        return proc

    def stop_all(self, timeout: float = 25) -> None:
        for _, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"  {name} (pid {proc.pid}) did not stop; killing it", file=sys.stderr)
                proc.kill()
                proc.wait()
        for pid in self.grandchildren:
            if _alive(pid):
                print(f"  stack part pid {pid} outlived `parley up`; killing it", file=sys.stderr)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _free_port(then_free: int | None = None) -> int:
    """A free TCP port on 127.0.0.1 (and, with `then_free`, port + then_free free too)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if then_free is None:
            return port
        other = port + then_free
        if other < 65536:
            try:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", other))
                return port
            except OSError:
                continue
    raise BenchError("no free port pair found")


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- the stack -------------------------------------------------------------------------------------

@dataclass
class Stack:
    url: str
    data_dir: Path
    temporal: str
    tokens: dict[str, str]
    owned: bool  # started by this run (and removed afterwards)
    pids: dict[str, int] = field(default_factory=dict)  # temporal, worker, api (from up.json), for CPU figures

    @property
    def db(self) -> Path:
        return self.data_dir / "parley.db"


def quiet_charter(path: Path, workdir: Path) -> Path:
    """The charter with its second-long durations read as hours ("4s" -> "4h").

    With the fast charter as it is, every dispute filed produces about eight more events (reminders,
    escalations, pages) over the next 24 s, each one a store write and a notification like the filing
    itself; from 2 s after the first filing on, the filing window would mostly measure those timers.
    Everything else (routing, conflict types, auto-approval) stays as the charter says.
    """
    text = path.read_text(encoding="utf-8")
    quiet = re.sub(r'"(\d+(?:\.\d+)?)s"', r'"\1h"', text)
    if quiet == text:
        return path
    quiet = re.sub(r'^(version\s*=\s*")([^"]*)"', r'\1\2-quiet"', quiet, count=1, flags=re.M)
    out = workdir / f"{path.stem}-quiet.toml"
    out.write_text(quiet, encoding="utf-8")
    return out


def start_stack(args: argparse.Namespace, children: Children) -> Stack:
    import httpx

    data_dir = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    children.dirs.append(data_dir)
    temporal_port = _free_port(then_free=1000)  # gRPC, and the Web UI at +1000
    http_port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    charter = Path(args.charter).resolve()
    if not args.fast_timers:
        charter = quiet_charter(charter, data_dir)
    env.update(
        PARLEY_DATA_DIR=str(data_dir), PARLEY_CHARTER=str(charter),
        PARLEY_TEMPORAL_DEV_PORT=str(temporal_port), PARLEY_HTTP_PORT=str(http_port),
        PYTHONPATH=str(ROOT),
    )
    log = data_dir / "up.log"
    up = children.start("parley up", [sys.executable, "-m", "cli", "up"], env=env, log=log)
    url = f"http://127.0.0.1:{http_port}"
    deadline = time.monotonic() + 150
    while True:
        if up.poll() is not None:
            raise BenchError(f"`parley up` exited with {up.returncode}; {log}:\n{_tail(log)}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"the stack was not healthy after 150 s; {log}:\n{_tail(log)}")
        time.sleep(0.25)
    pids: dict[str, int] = {}
    for _ in range(40):  # written right after the API turns healthy
        pids = _stack_pids(data_dir)
        if pids:
            children.grandchildren = list(pids.values())
            break
        time.sleep(0.25)
    tokens = json.loads((data_dir / "demo-tokens.json").read_text())
    return Stack(url=url, data_dir=data_dir, temporal=f"127.0.0.1:{temporal_port}", tokens=tokens, owned=True,
                 pids=pids)


def _stack_pids(data_dir: Path) -> dict[str, int]:
    try:
        return {str(k): int(v) for k, v in json.loads((data_dir / "up.json").read_text())["pids"].items()}
    except (OSError, ValueError, KeyError):
        return {}


def existing_stack(args: argparse.Namespace) -> Stack:
    if not args.data_dir:
        raise BenchError("--url needs --data-dir (for the demo tokens and the SQLite store)")
    data_dir = Path(args.data_dir).resolve()
    tokens_file = data_dir / "demo-tokens.json"
    if not tokens_file.exists():
        raise BenchError(f"{tokens_file} is missing: is this the data dir of `parley up`?")
    if not (data_dir / "parley.db").exists():
        raise BenchError(f"{data_dir / 'parley.db'} is missing: the benchmark reads the SQLite store")
    url = (args.url or f"http://127.0.0.1:{os.environ.get('PARLEY_HTTP_PORT', '8000')}").rstrip("/")
    temporal = args.temporal or os.environ.get("PARLEY_TEMPORAL_ADDRESS") or \
        f"127.0.0.1:{os.environ.get('PARLEY_TEMPORAL_DEV_PORT', '7233')}"
    return Stack(url=url, data_dir=data_dir, temporal=temporal, tokens=json.loads(tokens_file.read_text()),
                 owned=False, pids=_stack_pids(data_dir))


# --- helpers ---------------------------------------------------------------------------------------

async def pool(n: int, concurrency: int, one: Callable[[int], Awaitable[T]]) -> list[T]:
    """Run one(0) .. one(n-1) with at most `concurrency` in flight."""
    results: list[T | None] = [None] * n
    next_i = 0

    async def lane() -> None:
        nonlocal next_i
        while next_i < n:
            i = next_i
            next_i += 1
            results[i] = await one(i)

    await asyncio.gather(*(lane() for _ in range(min(n, concurrency))))
    return [r for r in results if r is not None]


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


class CpuMeter:
    """CPU time (user + system, all threads) of named processes, from /proc: unlike latencies, hardly
    moved by other work on the machine, so it says what each side costs even when the figures are noisy."""

    TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self.used: dict[str, dict[str, float]] = {}  # label -> process -> seconds

    def read(self) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            out[name] = (int(fields[11]) + int(fields[12])) / self.TICK
        return out

    def add(self, label: str, before: dict[str, float]) -> None:
        after, used = self.read(), self.used.setdefault(label, {})
        for name, seconds in after.items():
            if name in before:
                used[name] = used.get(name, 0.0) + seconds - before[name]

    def per_item_ms(self, label: str, names: tuple[str, ...], count: int) -> float:
        used = self.used.get(label, {})
        if not count or not all(n in used for n in names):
            return math.nan
        return round(sum(used[n] for n in names) * 1000 / count, 2)


def _utc_text(at: datetime) -> str:
    """A UTC time as the store writes it on SQLite (naive, space-separated), for comparisons."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


class Store:
    """Read-only queries on the stack's SQLite store (WAL: they never block the writers)."""

    FILED = """
        SELECT n.dispute_id, n.status FROM notifications AS n
        JOIN audit_events AS a ON a.dispute_id = n.dispute_id AND a.seq = n.seq AND a.action = 'filed'
        WHERE n.recipient = 'channel' AND n.created_at >= ?
    """

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False)

    def filed_since(self, since: str) -> list[tuple[str, str]]:
        return [(str(a), str(b)) for a, b in self.conn.execute(self.FILED, (since,)).fetchall()]

    def last_event_id(self) -> int:
        return int(self.conn.execute("SELECT COALESCE(MAX(id), 0) FROM audit_events").fetchone()[0])

    def other_events_between(self, start: str, end: str) -> int:
        row = self.conn.execute(
            "SELECT COUNT(*) FROM audit_events WHERE action != 'filed' AND at >= ? AND at <= ?", (start, end)
        ).fetchone()
        return int(row[0])

    def close(self) -> None:
        self.conn.close()


# --- 1. filing vs bare workflow ---------------------------------------------------------------------

@dataclass
class Throughput:
    count: int = 0
    seconds: float = 0.0  # summed over the rounds
    latencies: list[float] = field(default_factory=list)  # per item, start -> done

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else math.nan

    def add(self, count: int, seconds: float, latencies: list[float]) -> None:
        self.count += count
        self.seconds += seconds
        self.latencies += latencies


class BareRunner:
    """BareWorkflow and its activity on a worker in this process, on a task queue of its own, built
    like Parley's (worker.build_worker: sandbox with the same passthrough modules, sync activities in a
    32-thread pool, the SDK's default slots)."""

    def __init__(self, client: Client) -> None:
        import concurrent.futures

        from bare_workflow import BareWorkflow, echo
        from temporalio.worker import Worker
        from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

        from worker import PASSTHROUGH

        self.client = client
        self.queue = f"bench-bare-{uuid.uuid4().hex[:8]}"
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=32)
        self.worker = Worker(
            client, task_queue=self.queue, workflows=[BareWorkflow], activities=[echo],
            activity_executor=self.executor,
            workflow_runner=SandboxedWorkflowRunner(
                restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)),
        )
        self.started = 0

    async def __aenter__(self) -> BareRunner:
        await self.worker.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.worker.__aexit__(None, None, None)
        finally:
            self.executor.shutdown(wait=False, cancel_futures=True)

    async def run(self, n: int, concurrency: int, into: Throughput | None = None) -> None:
        from bare_workflow import BareWorkflow

        async def one(i: int) -> float:
            began = time.monotonic()
            await self.client.execute_workflow(BareWorkflow.run, f"item {i}", id=f"{self.queue}-{i}",
                                               task_queue=self.queue)
            return time.monotonic() - began

        first = self.started
        self.started += n
        began = time.monotonic()
        latencies = await pool(n, concurrency, lambda i: one(first + i))
        if into is not None:
            into.add(n, time.monotonic() - began, latencies)


@dataclass
class Filing:
    done: Throughput = field(default_factory=Throughput)
    delivered_seconds: float = 0.0  # to the first notice leaving the outbox (deliver_notices done)
    undelivered: int = 0
    posts: list[float] = field(default_factory=list)  # POST latencies
    background_events: int = 0  # timer events of earlier disputes (reminders, escalations) in the windows
    ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # failed filings (not counted in the rate)

    @property
    def delivered_rate(self) -> float:
        return math.nan if self.undelivered or not self.delivered_seconds else \
            len(self.ids) / self.delivered_seconds


class Filer:
    """Files disputes over HTTP as a rep, `concurrency` at a time, and watches the store for them."""

    def __init__(self, stack: Stack, store: Store, concurrency: int) -> None:
        import httpx

        self.store, self.concurrency = store, concurrency
        self.http = httpx.AsyncClient(
            base_url=stack.url, headers={"Authorization": f"Bearer {stack.tokens[FILER]}"}, timeout=90,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )
        self.filed = 0

    async def __aenter__(self) -> Filer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def warmup(self, n: int) -> None:
        scratch = Filing()
        await self.run(n, scratch)
        if scratch.errors:
            raise BenchError(f"filing fails: {scratch.errors[0]}")

    async def run(self, n: int, into: Filing) -> None:
        import httpx

        started: dict[str, float] = {}
        answered: dict[str, float] = {}
        recorded: dict[str, float] = {}
        delivered: dict[str, float] = {}
        first = self.filed
        self.filed += n

        async def one(i: int) -> str | None:
            began = time.monotonic()
            try:
                response = await self.http.post("/api/disputes",
                                                json={**FILING, "title": f"Bench dispute {first + i}"})
            except httpx.HTTPError as exc:
                into.errors.append(f"{type(exc).__name__} after {time.monotonic() - began:.1f} s: {exc}")
                return None
            if response.status_code != 201:
                into.errors.append(f"HTTP {response.status_code} after {time.monotonic() - began:.1f} s: "
                                   f"{response.text[:200]}")
                return None
            dispute_id = str(response.json()["id"])
            started[dispute_id], answered[dispute_id] = began, time.monotonic()
            return dispute_id

        since = _utc_text(datetime.now(UTC))
        posting_done = asyncio.Event()

        async def poll() -> None:
            """When each dispute's filed event + first notice appear in the store, and get delivered."""
            grace = 0.0
            while True:
                rows = await asyncio.to_thread(self.store.filed_since, since)
                now = time.monotonic()
                for dispute_id, status in rows:
                    recorded.setdefault(dispute_id, now)
                    if status != "pending":
                        delivered.setdefault(dispute_id, now)
                if posting_done.is_set():
                    filed = set(answered)
                    if filed <= recorded.keys() and filed <= delivered.keys():
                        return
                    grace = grace or now + 30
                    if now > grace:
                        return
                await asyncio.sleep(0.02)

        poller = asyncio.create_task(poll())
        wall_start = datetime.now(UTC)
        began = time.monotonic()
        try:
            results = await pool(n, self.concurrency, one)
        finally:
            posting_done.set()
        await poller
        wall_end = datetime.now(UTC)

        ids = [i for i in results if i is not None]
        if not ids:
            raise BenchError(f"every filing failed; the first: {into.errors[0]}")
        missing = [i for i in ids if i not in recorded]
        if missing:
            raise BenchError(f"{len(missing)} filed disputes never showed their filed event + notice in the store")
        done_at = {i: max(answered[i], recorded[i]) for i in ids}
        into.done.add(len(ids), max(done_at.values()) - began, [done_at[i] - started[i] for i in ids])
        undelivered = [i for i in ids if i not in delivered]
        into.undelivered += len(undelivered)
        if not undelivered:
            into.delivered_seconds += max(delivered[i] for i in ids) - began
        into.posts += [answered[i] - started[i] for i in ids]
        into.background_events += self.store.other_events_between(_utc_text(wall_start), _utc_text(wall_end))
        into.ids += ids


async def throughput(args: argparse.Namespace, stack: Stack, store: Store, client: Client,
                     meter: CpuMeter) -> tuple[Filing, Throughput]:
    """Filing and bare workflows in ABBA rounds (bare, filing, filing, bare), so that both meet the same
    drift in the machine's background load; rates are items over the summed round times."""
    filing, bare = Filing(), Throughput()
    half = args.disputes // 2
    rounds = [("bare", half), ("filing", half), ("filing", args.disputes - half), ("bare", args.disputes - half)]
    async with BareRunner(client) as runner, Filer(stack, store, args.concurrency) as filer:
        print("  warming up…", flush=True)
        await runner.run(args.concurrency, args.concurrency)
        await filer.warmup(4)
        for kind, n in rounds:
            before = meter.read()
            if kind == "bare":
                await runner.run(n, args.concurrency, bare)
            else:
                await filer.run(n, filing)
            meter.add(kind, before)
            print(f"  {kind:<6} {n} done; so far {bare.rate if kind == 'bare' else filing.done.rate:.1f}/s",
                  flush=True)
    return filing, bare


async def settle(store: Store, max_wait: float, quiet: float = 4.0) -> float:
    """Wait until no audit event was written for `quiet` seconds (with --fast-timers the disputes just
    filed keep escalating for ~25 s), at most `max_wait`. Returns the time waited."""
    began = time.monotonic()
    last, since = store.last_event_id(), time.monotonic()
    while time.monotonic() - began < max_wait:
        await asyncio.sleep(0.5)
        now_id = store.last_event_id()
        if now_id != last:
            last, since = now_id, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return time.monotonic() - began


# --- 2. reads vs a bare endpoint --------------------------------------------------------------------

def serve_bare_api(port: int, payload_file: Path) -> None:
    """The baseline endpoint: one sync GET route returning a dispute-sized dict (like get_dispute),
    served with the options of `parley api`."""
    import uvicorn
    from fastapi import FastAPI

    payload: dict[str, Any] = json.loads(payload_file.read_text())
    app = FastAPI(title="bare")

    @app.get("/bare/{item_id}")
    def item(item_id: str) -> dict[str, Any]:
        return {**payload, "id": item_id}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_bare_api(children: Children, payload: dict[str, Any], workdir: Path) -> tuple[str, int]:
    import httpx

    payload_file = workdir / "bare-payload.json"
    payload_file.write_text(json.dumps(payload))
    port = _free_port()
    log = workdir / "bare-api.log"
    proc = children.start("bare api", [sys.executable, str(Path(__file__).resolve()), "--serve-bare-api",
                                       str(port), str(payload_file)], env=dict(os.environ), log=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"the bare API exited with {proc.returncode}:\n{_tail(log)}")
        try:
            if httpx.get(f"{url}/bare/probe", timeout=2).status_code == 200:
                return url, proc.pid
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise BenchError(f"the bare API did not answer within 30 s:\n{_tail(log)}")


@dataclass
class Reads:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    sent: int = 0
    max_send_lag: float = 0.0  # how late this process sent a request, at worst (client-side noise)


async def open_loop(http: httpx.AsyncClient, paths: list[str], rate: float, seconds: float, into: Reads) -> None:
    """Send rate*seconds GETs at fixed intervals whatever the answers; latency from the scheduled time."""
    import httpx

    loop = asyncio.get_running_loop()
    count = max(1, round(rate * seconds))
    start = loop.time() + 0.01

    async def one(i: int, at: float) -> None:
        into.max_send_lag = max(into.max_send_lag, loop.time() - at)
        try:
            response = await http.get(paths[i % len(paths)])
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            into.latencies.append(loop.time() - at)
        else:
            into.errors += 1

    tasks = []
    for i in range(count):
        at = start + i / rate
        delay = at - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, at)))
        into.sent += 1
    await asyncio.gather(*tasks)


async def read_latency(stack: Stack, bare_url: str, ids: list[str], rate: float, seconds: float, meter: CpuMeter,
                       slice_s: float = 1.0) -> tuple[Reads, Reads]:
    import httpx

    auth = {"Authorization": f"Bearer {stack.tokens[FILER]}"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    parley_paths = [f"/api/disputes/{i}" for i in ids]
    bare_paths = [f"/bare/{i}" for i in ids]
    parley, bare = Reads(), Reads()
    async with httpx.AsyncClient(base_url=stack.url, headers=auth, limits=limits, timeout=30) as p_http, \
            httpx.AsyncClient(base_url=bare_url, limits=limits, timeout=30) as b_http:
        for http, paths in ((p_http, parley_paths), (b_http, bare_paths)):  # connections, caches
            for path in paths[:20]:
                response = await http.get(path)
                if response.status_code != 200:
                    raise BenchError(f"GET {path} answered {response.status_code}: {response.text[:300]}")
        slices = max(1, round(seconds / slice_s))
        per_slice = seconds / slices
        for k in range(slices):  # ABBA order, so neither side always goes first
            order = [(p_http, parley_paths, parley, "read"), (b_http, bare_paths, bare, "bare read")]
            if k % 2:
                order.reverse()
            for http, paths, into, label in order:
                before = meter.read()
                await open_loop(http, paths, rate, per_slice, into)
                meter.add(label, before)
    return parley, bare


# --- the run ---------------------------------------------------------------------------------------

@dataclass
class Results:
    filing: Filing
    bare: Throughput
    reads: Reads
    bare_reads: Reads
    cpu: CpuMeter
    extra: dict[str, Any]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def report(args: argparse.Namespace, r: Results) -> None:
    filing, bare = r.filing, r.bare
    filing_ratio = filing.done.rate / bare.rate
    f50, f99 = pct(filing.done.latencies, 0.5), pct(filing.done.latencies, 0.99)
    w50, w99 = pct(bare.latencies, 0.5), pct(bare.latencies, 0.99)
    p50, p99 = pct(r.reads.latencies, 0.5), pct(r.reads.latencies, 0.99)
    b50, b99 = pct(r.bare_reads.latencies, 0.5), pct(r.bare_reads.latencies, 0.99)
    read_ratio = p99 / b99
    cpu = r.cpu  # CPU per item: the processes that do the work on each side (this process runs the bare worker)
    cpu_filing = cpu.per_item_ms("filing", ("temporal", "worker", "api"), filing.done.count)
    cpu_bare = cpu.per_item_ms("bare", ("temporal", "bench"), bare.count)
    cpu_read = cpu.per_item_ms("read", ("api",), len(r.reads.latencies) + r.reads.errors)
    cpu_bare_read = cpu.per_item_ms("bare read", ("bare api",), len(r.bare_reads.latencies) + r.bare_reads.errors)
    breakdown = {f"cpu_{label.replace(' ', '_')}_{name.replace(' ', '_')}_ms": round(seconds * 1000 / count, 2)
                 for label, count in (("filing", filing.done.count), ("bare", bare.count))
                 for name, seconds in cpu.used.get(label, {}).items() if count}

    def verdict(ok: bool) -> str:
        return "ok" if ok else "MISS"

    rows = [
        ("", "parley", "bare", "ratio", "goal"),
        ("filing, /s", f"{filing.done.rate:.1f}", f"{bare.rate:.1f}", f"{filing_ratio:.2f}",
         f">= {FILING_GOAL}  {verdict(filing_ratio >= FILING_GOAL)}"),
        ("  each p50, ms", f"{_ms(f50):.0f}", f"{_ms(w50):.0f}", f"{f50 / w50:.2f}", ""),
        ("  each p99, ms", f"{_ms(f99):.0f}", f"{_ms(w99):.0f}", f"{f99 / w99:.2f}", ""),
        ("  cpu/item, ms", f"{cpu_filing:.1f}", f"{cpu_bare:.1f}", f"{cpu_filing / cpu_bare:.2f}", ""),
        ("  errors", str(len(filing.errors)), "0", "", ""),
        ("read p50, ms", f"{_ms(p50):.1f}", f"{_ms(b50):.1f}", f"{p50 / b50:.2f}", ""),
        ("read p99, ms", f"{_ms(p99):.1f}", f"{_ms(b99):.1f}", f"{read_ratio:.2f}",
         f"<= {READ_GOAL}  {verdict(read_ratio <= READ_GOAL)}"),
        ("  cpu/read, ms", f"{cpu_read:.2f}", f"{cpu_bare_read:.2f}", f"{cpu_read / cpu_bare_read:.2f}", ""),
        ("  errors", str(r.reads.errors), str(r.bare_reads.errors), "", ""),
    ]
    x = r.extra
    print()
    print(f"Parley throughput bench: {args.disputes} disputes vs {args.disputes} bare workflows at concurrency "
          f"{args.concurrency} (ABBA rounds); reads open-loop at {args.rate:g}/s for {args.seconds:g} s each")
    for row in rows:
        print(f"  {row[0]:<16}{row[1]:>9}{row[2]:>9}{row[3]:>8}   {row[4]}")
    print(f"  filing = POST until its filed event and first notice are in the store (POST p50/p99 "
          f"{_ms(pct(filing.posts, 0.5)):.0f}/{_ms(pct(filing.posts, 0.99)):.0f} ms); first notice delivered "
          f"at {filing.delivered_rate:.1f}/s; {filing.background_events} timer events of earlier disputes in the "
          f"filing windows")
    if filing.errors:
        print(f"  {len(filing.errors)} filings FAILED (left out of the rate); the first: {filing.errors[0]}")
    print(f"  charter {x['charter']}; waited {x['settle_s']:.0f} s for the store to go quiet before the reads; "
          f"load average {x['load_start']} -> {x['load_end']}; run took {x['runtime_s']:.0f} s")
    figures = {
        "bench": "throughput", "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "disputes": args.disputes, "concurrency": args.concurrency, "rate": args.rate, "seconds": args.seconds,
        "filing_per_s": round(filing.done.rate, 2), "bare_workflows_per_s": round(bare.rate, 2),
        "filing_ratio": round(filing_ratio, 3),
        "filing_p50_ms": _ms(f50), "filing_p99_ms": _ms(f99), "bare_p50_ms": _ms(w50), "bare_p99_ms": _ms(w99),
        "post_p50_ms": _ms(pct(filing.posts, 0.5)), "post_p99_ms": _ms(pct(filing.posts, 0.99)),
        "delivered_per_s": round(filing.delivered_rate, 2), "background_events": filing.background_events,
        "filing_errors": len(filing.errors),
        "read_p50_ms": _ms(p50), "read_p99_ms": _ms(p99), "bare_read_p50_ms": _ms(b50), "bare_read_p99_ms": _ms(b99),
        "read_ratio_p99": round(read_ratio, 3), "read_errors": r.reads.errors, "bare_read_errors": r.bare_reads.errors,
        "read_sent": r.reads.sent, "bare_read_sent": r.bare_reads.sent,
        "max_send_lag_ms": _ms(max(r.reads.max_send_lag, r.bare_reads.max_send_lag)),
        "cpu_filing_ms": cpu_filing, "cpu_bare_ms": cpu_bare,
        "cpu_read_ms": cpu_read, "cpu_bare_read_ms": cpu_bare_read,
        **breakdown, **x,
    }
    print(json.dumps(figures))


def open_stack(args: argparse.Namespace, children: Children) -> Stack:
    began = time.monotonic()
    if args.url or args.data_dir:
        stack = existing_stack(args)
        print(f"using the running stack at {stack.url} (Temporal {stack.temporal}, data {stack.data_dir})")
        return stack
    print("starting `parley up` in a temporary data dir…", flush=True)
    stack = start_stack(args, children)
    print(f"  up in {time.monotonic() - began:.0f} s: API {stack.url}, Temporal {stack.temporal}, "
          f"data {stack.data_dir}", flush=True)
    return stack


async def run(args: argparse.Namespace, stack: Stack, children: Children) -> Results:
    import httpx

    from settings import Settings
    from temporal_client import connect

    load_start = round(os.getloadavg()[0], 2)
    store = Store(stack.db)
    try:
        client = await connect(Settings(temporal_address=stack.temporal))
        print(f"throughput: {args.disputes} filings and {args.disputes} bare workflows, {args.concurrency} in flight…",
              flush=True)
        meter = CpuMeter({**stack.pids, "bench": os.getpid()})
        filing, bare = await throughput(args, stack, store, client, meter)

        async with httpx.AsyncClient(base_url=stack.url, timeout=30,
                                     headers={"Authorization": f"Bearer {stack.tokens[FILER]}"}) as http:
            sample = (await http.get(f"/api/disputes/{filing.ids[0]}")).json()
        workdir = stack.data_dir if stack.owned else Path(tempfile.mkdtemp(prefix="parley-bench-"))
        if not stack.owned:
            children.dirs.append(workdir)
        (bare_url, bare_pid), waited = await asyncio.gather(
            asyncio.to_thread(start_bare_api, children, sample, workdir), settle(store, args.settle))
        meter.pids["bare api"] = bare_pid
        print(f"reads: {args.rate:g}/s for {args.seconds:g} s each, Parley and bare in alternating slices…",
              flush=True)
        reads, bare_reads = await read_latency(stack, bare_url, filing.ids, args.rate, args.seconds, meter)
        extra = {"charter": sample.get("charter_version", "?"), "settle_s": round(waited, 1),
                 "load_start": load_start, "load_end": round(os.getloadavg()[0], 2),
                 "payload_bytes": len(json.dumps(sample))}
    finally:
        store.close()
    return Results(filing, bare, reads, bare_reads, meter, extra)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--disputes", type=int, default=200, help="disputes filed, and bare workflows run (200)")
    p.add_argument("--concurrency", type=int, default=16, help="filings / workflows in flight (16)")
    p.add_argument("--rate", type=float, default=100, help="reads per second, open loop (100)")
    p.add_argument("--seconds", type=float, default=10, help="seconds of reads, for each side (10)")
    p.add_argument("--settle", type=float, default=40,
                   help="at most this long, wait for the filed disputes' timers to go quiet before the reads (40)")
    p.add_argument("--charter", default=str(ROOT / "charters" / "fast.toml"),
                   help="charter of the started stack (charters/fast.toml)")
    p.add_argument("--fast-timers", action="store_true",
                   help="keep the charter's second-long SLAs; by default they are read as hours, so that the "
                        "filed disputes' reminders and escalations do not flood the measurements")
    p.add_argument("--url", help="use the running stack at this URL instead of starting one (needs --data-dir)")
    p.add_argument("--data-dir", help="data dir of the running stack (demo-tokens.json, parley.db)")
    p.add_argument("--temporal", help="Temporal address of the running stack (default 127.0.0.1:7233)")
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    p.add_argument("--serve-bare-api", nargs=2, metavar=("PORT", "PAYLOAD"), help=argparse.SUPPRESS)
    return p


def main() -> None:
    args = parser().parse_args()
    if args.serve_bare_api:
        serve_bare_api(int(args.serve_bare_api[0]), Path(args.serve_bare_api[1]))
        return
    if str(ROOT) not in sys.path:
        sys.path.insert(1, str(ROOT))  # the project's modules (bench/ itself is sys.path[0])

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    began = time.monotonic()
    children = Children()
    status = 0
    results: Results | None = None
    try:
        stack = open_stack(args, children)  # outside the event loop, so that Ctrl-C stops the wait at once
        results = asyncio.run(run(args, stack, children))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping the stack…", file=sys.stderr)
        status = 130
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        children.stop_all()
        for tmp in children.dirs:
            if args.keep:
                print(f"kept {tmp}", file=sys.stderr)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    if results is not None:
        results.extra["runtime_s"] = round(time.monotonic() - began, 1)
        report(args, results)
    sys.stdout.flush()
    sys.stderr.flush()
    # The Temporal SDK's Rust threads can abort the interpreter at exit (sdk-python issue #300).
    os._exit(status)


if __name__ == "__main__":
    main()
