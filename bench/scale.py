"""Scale (issue 13): many open disputes on PostgreSQL, a filing burst, an SLA breach storm, reads and pages.

    .venv/bin/python bench/scale.py                          # the full size: 10,000 open disputes (~30-40 min)
    .venv/bin/python bench/scale.py --open 400 --band 200 --bare 40 --burst 64 --breach 100 \\
        --seconds 3 --page-requests 10                       # a smoke run (~4 min)

Every part runs on the embedded Temporal dev server (the installed `temporal` binary) and PostgreSQL
(`--pg`, a database created for the run and dropped after it), in the processes `./parley up` runs
(ops/stack.py's plan, started by the bench so that it knows every pid: bench/scale_stack.py):

1. open disputes: `--open` N disputes filed on the business-day charter (charters/default.toml: nothing
   fires for days; a quarter of them go straight to mediation, so the mediator's queue fills too), in
   bands of `--band`, 8 HTTP clients (`--concurrency`) from outside. In each band the filing rate (POSTs
   answered 201 per second: the POST returns once the 'filed' event is recorded) is set against the
   bare one-activity workflow (bench/bare_workflow.py, its worker in this process) on the same server at
   the same point, `--bare` of them in two halves around the filings. Per band: CPU per filing of the
   Temporal server, the workers and the API (from /proc: hardly moved by the machine's other work), the
   RSS of each process, and the workers' Temporal SDK metrics (sticky cache size, hits, misses and
   forced evictions, workflow task replays, latencies). Goals: worker RSS <= 400 MB; the ratio >= 0.9 in
   every band, and no decay (the last band's ratio within 10% of the first's).
2. burst: `--burst` 500 filings from 32 clients at once: POST p50/p99/max; goal p99 <= 2 s, no 503.
3. reads: `GET /api/disputes/{id}` open loop at `--rate` 100/s against a bare FastAPI endpoint served the
   same way (bench/throughput.py's), in alternating slices; goal p99 ratio <= 1.5.
4. pages: the mediator's queue (the "Waiting on me" page and `GET /api/disputes?status=mediation`), "My
   disputes" and the dashboard, as the mediator, one request at a time; goal p99 <= 200 ms.
5. breach storm: on a second stack with `--breach-workers` 2 workers and a fresh database, `--breach` 1,000
   disputes filed on charters/fast.toml whose calendar is made to open at the next minute boundary after
   they are all filed (kind "business", every day, from that minute): every clock starts at the same
   instant, so every reminder falls due in one second and every frontline deadline 4 s later. Measured:
   the time from the deadline until every escalation is recorded (its channel notice's row written), the
   lag of each escalation after its deadline (p50/p99/max, recorded and as the workflow saw it), how
   many were missed (never escalated within `--breach-timeout`), and every event the stack recorded from 3 s
   before the deadline until then (the reminders, the escalations, and what the mediation tier's 8 s adds
   meanwhile), with the stack's CPU per event. Goals: all within 60 s, p99 lag <= 2 s.

`--profile` runs the workers under bench/scale_profile.py (yappi from `--yappi DIR` when importable, else
cProfile on every thread) and writes one profile per band, with the garbage collector's CPU time; `--profile
gc` writes the collector's figures alone, without a profiler's overhead. `--metrics-dir` saves the workers'
and the Temporal server's own metrics after each band. `--env KEY=VALUE` passes settings to every process
of both stacks (e.g. PARLEY_WORKER_MAX_CACHED_WORKFLOWS). The machine is shared: read the ratios and the
CPU per item. Prints a table, then one JSON line with every figure.
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
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.scale_stack import Postgres, Stack, start_stack, stop_stack, total  # noqa: E402
from bench.throughput import (  # noqa: E402
    BareRunner,
    BenchError,
    Children,
    CpuMeter,
    Throughput,
    pct,
    pool,
    read_latency,
    start_bare_api,
)
from bench.throughput import Stack as ReadStack  # noqa: E402

if TYPE_CHECKING:
    from temporalio.client import Client

FILER, COUNTERPARTY, MEDIATOR = "dana.direct@example.com", "pat.partner@example.com", "mediator@example.com"
RSS_GOAL_MB, RATIO_GOAL, DECAY_GOAL = 400.0, 0.9, 0.9
BURST_P99_GOAL_S, BREACH_ALL_GOAL_S, BREACH_P99_GOAL_S = 2.0, 60.0, 2.0
READ_GOAL, PAGE_GOAL_MS = 1.5, 200.0
PAGES = {  # name -> (path, as the web page (signed in) or the API (bearer))
    "queue page": ("/", "web"),
    "queue API": ("/api/disputes?status=mediation", "api"),
    "my disputes page": ("/disputes", "web"),
    "dashboard": ("/dashboard", "web"),
}


def filing(i: int, tag: str = "Scale") -> dict[str, Any]:
    """The i-th filing: a quarter go straight to mediation (over the charter's 500k), the rest to frontline."""
    return {
        "title": f"{tag} dispute {i}", "conflict_type": "account_ownership", "account": f"{tag} Account {i % 500}",
        "deal_value": 750_000 if i % 4 == 3 else 125_000, "currency": "USD", "region": "AMER" if i % 2 else "EMEA",
        "description": "Both channels are working the same account; filed by bench/scale.py.",
        "counterparty_email": COUNTERPARTY,
    }


@dataclass
class Posts:
    """What a batch of filings answered."""

    ids: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # POST -> 201
    spans: list[tuple[float, float]] = field(default_factory=list)  # (sent, answered), monotonic
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


async def post_filings(http: httpx.AsyncClient, n: int, concurrency: int, first: int, into: Posts,
                       tag: str = "Scale") -> float:
    """File n disputes, `concurrency` at a time; the wall time it took."""

    async def one(i: int) -> int:
        began = time.monotonic()
        try:
            response = await http.post("/api/disputes", json=filing(first + i, tag))
        except httpx.HTTPError as exc:
            into.statuses["no answer"] += 1
            into.errors.append(f"{type(exc).__name__} after {time.monotonic() - began:.1f} s: {exc}")
            return 0
        into.statuses[str(response.status_code)] += 1
        if response.status_code != 201:
            into.errors.append(f"HTTP {response.status_code} after {time.monotonic() - began:.1f} s: "
                               f"{response.text[:200]}")
            return 0
        into.latencies.append(time.monotonic() - began)
        into.spans.append((began, time.monotonic()))
        into.ids.append(str(response.json()["id"]))
        return 1

    began = time.monotonic()
    await pool(n, concurrency, one)
    return time.monotonic() - began


def filer(stack: Stack, concurrency: int, who: str = FILER) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=stack.url, headers={"Authorization": f"Bearer {stack.tokens[who]}"},
                             timeout=90, limits=httpx.Limits(max_connections=concurrency,
                                                             max_keepalive_connections=concurrency))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def load() -> float:
    return round(os.getloadavg()[0], 2)


# --- 1. open disputes, band by band ------------------------------------------------------------------

SDK_COUNTERS = {  # figure -> (series, labels): summed over the workers, as deltas over a band
    "cache_hits": ("temporal_sticky_cache_hit", {}),
    "cache_misses": ("temporal_sticky_cache_miss", {}),
    "forced_evictions": ("temporal_sticky_cache_total_forced_eviction", {}),
    "wft_count": ("temporal_workflow_task_execution_latency_count", {}),
    "wft_ms": ("temporal_workflow_task_execution_latency_sum", {}),
    "replay_count": ("temporal_workflow_task_replay_latency_count", {}),
    "replay_ms": ("temporal_workflow_task_replay_latency_sum", {}),
    "wft_s2s_count": ("temporal_workflow_task_schedule_to_start_latency_count", {}),
    "wft_s2s_ms": ("temporal_workflow_task_schedule_to_start_latency_sum", {}),
    "record_count": ("temporal_activity_execution_latency_count", {"activity_type": "record_event"}),
    "record_ms": ("temporal_activity_execution_latency_sum", {"activity_type": "record_event"}),
    "history_calls": ("temporal_request", {"operation": "GetWorkflowExecutionHistory"}),
    "polls": ("temporal_workflow_task_queue_poll_succeed", {}),
}


def sdk_counters(stack: Stack) -> dict[str, float]:
    figures = dict.fromkeys(SDK_COUNTERS, 0.0)
    figures["cache_size"] = 0.0
    for metrics in stack.worker_metrics().values():
        for name, (series, labels) in SDK_COUNTERS.items():
            figures[name] += total(metrics, series, **labels)
        figures["cache_size"] += total(metrics, "temporal_sticky_cache_size")
    return figures


@dataclass
class Band:
    open_after: int
    filings: int
    filing_s: float
    bare: int
    bare_s: float
    errors: int
    post_p50_ms: float
    post_p99_ms: float
    cpu_filing_ms: dict[str, float]  # process -> CPU ms per filing
    cpu_bare_ms: dict[str, float]  # process -> CPU ms per bare workflow (bench: its worker and client)
    rss_mb: dict[str, float]
    sdk: dict[str, float]  # per filing, from the workers' SDK metrics over the band
    load: float

    @property
    def rate(self) -> float:
        return self.filings / self.filing_s if self.filing_s else math.nan

    @property
    def bare_rate(self) -> float:
        return self.bare / self.bare_s if self.bare_s else math.nan

    @property
    def ratio(self) -> float:
        return self.rate / self.bare_rate

    def cpu_sum(self, side: str, names: tuple[str, ...]) -> float:
        cpu = self.cpu_filing_ms if side == "filing" else self.cpu_bare_ms
        return round(sum(v for k, v in cpu.items() if k.split("-")[0] in names), 1)


def _cpu_ms(meter: CpuMeter, label: str, count: int) -> dict[str, float]:
    return {name: round(seconds * 1000 / count, 2) for name, seconds in meter.used.get(label, {}).items()} \
        if count else {}


def _sdk_per_filing(before: dict[str, float], after: dict[str, float], filings: int) -> dict[str, float]:
    d = {k: after[k] - before[k] for k in SDK_COUNTERS}
    per = max(filings, 1)
    return {
        "cache_size": after["cache_size"],
        "cache_hits": round(d["cache_hits"] / per, 2), "cache_misses": round(d["cache_misses"] / per, 3),
        "forced_evictions": round(d["forced_evictions"] / per, 3), "replays": round(d["replay_count"] / per, 2),
        "replay_ms": round(d["replay_ms"] / d["replay_count"], 2) if d["replay_count"] else 0.0,
        "wfts": round(d["wft_count"] / per, 2),
        "wft_ms": round(d["wft_ms"] / d["wft_count"], 2) if d["wft_count"] else 0.0,
        "wft_s2s_ms": round(d["wft_s2s_ms"] / d["wft_s2s_count"], 2) if d["wft_s2s_count"] else 0.0,
        "record_ms": round(d["record_ms"] / d["record_count"], 2) if d["record_count"] else 0.0,
        "history_calls": round(d["history_calls"] / per, 3), "polls": round(d["polls"] / per, 2),
    }


def _profile(stack: Stack) -> None:
    """Ask each profiled worker to write what it collected (bench/scale_profile.py)."""
    if stack.profile_dir is None:
        return
    for name in stack.kind("worker"):
        os.kill(stack.pids[name], signal.SIGUSR2)


async def grow(args: argparse.Namespace, stack: Stack, client: Client, meter: CpuMeter) -> tuple[list[Band], list[str]]:
    """File `--open` disputes band by band, each band against bare workflows at the same point."""
    bands: list[Band] = []
    ids: list[str] = []
    async with BareRunner(client) as runner, filer(stack, args.concurrency) as http:
        print("  warming up…", flush=True)
        await runner.run(2 * args.concurrency, args.concurrency)
        if args.metrics_dir:
            await asyncio.to_thread(_save_metrics, stack, Path(args.metrics_dir), "band-00")
        warm = Posts()
        await post_filings(http, args.concurrency, args.concurrency, 0, warm, tag="Warm-up")
        if warm.errors:
            raise BenchError(f"filing fails: {warm.errors[0]}")
        ids += warm.ids
        filed = len(warm.ids)
        await asyncio.to_thread(_profile, stack)  # the warm-up's profile: imports, first workflows
        while filed < args.open:
            k = len(bands)
            n = min(args.band, args.open - filed)
            bare_n = max(2, round(args.bare * n / args.band))
            sdk_before = await asyncio.to_thread(sdk_counters, stack)
            bare = Throughput()
            posts = Posts()
            filing_s = 0.0
            for kind, count in (("bare", bare_n // 2), ("filing", n), ("bare", bare_n - bare_n // 2)):
                cpu = meter.read()
                if kind == "bare":
                    await runner.run(count, args.concurrency, bare)
                else:
                    filing_s = await post_filings(http, count, args.concurrency, filed, posts)
                meter.add(f"{kind} {k}", cpu)
            sdk_after = await asyncio.to_thread(sdk_counters, stack)
            await asyncio.to_thread(_profile, stack)
            if args.metrics_dir:
                await asyncio.to_thread(_save_metrics, stack, Path(args.metrics_dir), f"band-{k + 1:02d}")
            filed += n
            ids += posts.ids
            band = Band(open_after=len(ids), filings=len(posts.ids), filing_s=filing_s, bare=bare.count,
                        bare_s=bare.seconds, errors=len(posts.errors),
                        post_p50_ms=_ms(pct(posts.latencies, 0.5)), post_p99_ms=_ms(pct(posts.latencies, 0.99)),
                        cpu_filing_ms=_cpu_ms(meter, f"filing {k}", len(posts.ids)),
                        cpu_bare_ms=_cpu_ms(meter, f"bare {k}", bare.count), rss_mb=stack.rss(),
                        sdk=_sdk_per_filing(sdk_before, sdk_after, len(posts.ids)), load=load())
            bands.append(band)
            print(f"  {band.open_after:>6} open: filing {band.rate:5.1f}/s, bare {band.bare_rate:5.1f}/s, "
                  f"ratio {band.ratio:.2f}; cpu/filing worker {band.cpu_sum('filing', ('worker',))} ms, temporal "
                  f"{band.cpu_sum('filing', ('temporal',))} ms (bare: {band.cpu_sum('bare', ('temporal',))} ms); "
                  f"rss worker {_rss(band.rss_mb, 'worker'):.0f} MB, temporal {band.rss_mb.get('temporal', 0):.0f} MB; "
                  f"cache {band.sdk['cache_size']:.0f}, evictions/filing {band.sdk['forced_evictions']}, "
                  f"misses/filing {band.sdk['cache_misses']}; errors {band.errors}; load {band.load}", flush=True)
            if posts.errors:
                print(f"    first error: {posts.errors[0]}", flush=True)
    return bands, ids


def _save_metrics(stack: Stack, into: Path, label: str) -> None:
    """The workers' SDK metrics and the Temporal server's own, as scraped now (for --metrics-dir)."""
    into.mkdir(parents=True, exist_ok=True)
    (into / f"{label}.json").write_text(json.dumps({"server": stack.server_metrics(), **stack.worker_metrics()}))


def _rss(rss: dict[str, float], kind: str) -> float:
    """The largest RSS of the processes of a kind (worker, api)."""
    values = [v for k, v in rss.items() if k.split("-")[0] == kind and not math.isnan(v)]
    return max(values) if values else math.nan


# --- 2. a burst of filings ---------------------------------------------------------------------------

async def burst(args: argparse.Namespace, stack: Stack, first: int, meter: CpuMeter) -> tuple[Posts, float, bool]:
    """`--burst` filings from `--burst-clients` clients at once; also whether Temporal stayed healthy."""
    posts = Posts()
    healthy = True
    async with filer(stack, args.burst_clients) as http:
        cpu = meter.read()
        seconds = await post_filings(http, args.burst, args.burst_clients, first, posts, tag="Burst")
        t0 = min(b for b, _ in posts.spans)
        slow = sorted(posts.spans, key=lambda s: s[0] - s[1])[:12]
        print("  slowest (sent, answered) s after the first:",
              ", ".join(f"{b - t0:.2f}->{e - t0:.2f}" for b, e in sorted(slow)), flush=True)
        meter.add("burst", cpu)
        health = await http.get("/healthz")
        healthy = health.status_code == 200 and health.json().get("temporal") == "ok"
    return posts, seconds, healthy


# --- 3. reads against a bare endpoint ----------------------------------------------------------------

async def reads(args: argparse.Namespace, stack: Stack, ids: list[str], children: Children,
                meter: CpuMeter) -> dict[str, float]:
    read_stack = ReadStack(url=stack.url, data_dir=stack.data_dir, temporal=stack.temporal, tokens=stack.tokens,
                           owned=True, pids=stack.pids)
    async with filer(stack, 4) as http:
        sample = (await http.get(f"/api/disputes/{ids[0]}")).json()
    bare_url, bare_pid = await asyncio.to_thread(start_bare_api, children, sample, stack.data_dir)
    meter.pids["bare api"] = bare_pid
    step = max(1, len(ids) // 2000)  # ids from the whole range, the oldest as often as the newest
    parley, bare = await read_latency(read_stack, bare_url, ids[::step], args.rate, args.seconds, meter)
    p99, b99 = pct(parley.latencies, 0.99), pct(bare.latencies, 0.99)
    cpu = {label: round(sum(v for k, v in meter.used.get(label, {}).items() if k.split("-")[0] in kinds) * 1000
                        / max(1, r.sent), 2)
           for label, kinds, r in (("read", ("api", "front"), parley), ("bare read", ("bare api",), bare))}
    return {"cpu_read_ms": cpu["read"], "cpu_bare_read_ms": cpu["bare read"],
            "read_p50_ms": _ms(pct(parley.latencies, 0.5)), "read_p99_ms": _ms(p99),
            "bare_read_p50_ms": _ms(pct(bare.latencies, 0.5)), "bare_read_p99_ms": _ms(b99),
            "read_ratio_p99": round(p99 / b99, 2), "read_errors": parley.errors, "bare_read_errors": bare.errors,
            "reads_sent": parley.sent, "max_send_lag_ms": _ms(max(parley.max_send_lag, bare.max_send_lag)),
            "payload_bytes": len(json.dumps(sample))}


# --- 4. the mediator's queue and the dashboard -------------------------------------------------------

async def pages(args: argparse.Namespace, stack: Stack, meter: CpuMeter) -> dict[str, dict[str, float]]:
    """Each page as the mediator, one request at a time, the pages in turn (5 requests of each at a time);
    client-side latency, and the API processes' CPU time per request (hardly moved by the machine's load)."""
    token = stack.tokens[MEDIATOR]
    async with httpx.AsyncClient(base_url=stack.url, timeout=60) as web, \
            httpx.AsyncClient(base_url=stack.url, timeout=60, headers={"Authorization": f"Bearer {token}"}) as api:
        form = await web.get("/sign-in")
        found = re.search(r'name="csrf" value="([^"]+)"', form.text)
        if found is None:
            raise BenchError("the sign-in page has no CSRF field")
        signed = await web.post("/sign-in", data={"token": token, "csrf": found[1], "next": "/"})
        if signed.status_code != 303:
            raise BenchError(f"signing in as {MEDIATOR} answered {signed.status_code}")
        times: dict[str, list[float]] = {name: [] for name in PAGES}
        sizes: dict[str, int] = {}
        rows: dict[str, int] = {}
        apis = tuple(name for name in stack.pids if name.split("-")[0] in ("api", "front"))
        for path, via in PAGES.values():  # warm the caches
            for _ in range(3):
                await (web if via == "web" else api).get(path)
        done = 0
        while done < args.page_requests:
            chunk = min(5, args.page_requests - done)
            for name, (path, via) in PAGES.items():
                client = web if via == "web" else api
                cpu = meter.read()
                for _ in range(chunk):
                    began = time.monotonic()
                    response = await client.get(path)
                    times[name].append(time.monotonic() - began)
                    if response.status_code != 200:
                        raise BenchError(f"GET {path} as {MEDIATOR} answered {response.status_code}: "
                                         f"{response.text[:200]}")
                meter.add(f"page {name}", cpu)
                sizes[name] = len(response.content)
                rows[name] = len(response.json()) if via == "api" else len(set(re.findall(r"/disputes/PRL-\w+",
                                                                                             response.text)))
            done += chunk

    def cpu_ms(name: str, count: int) -> float:
        used = meter.used.get(f"page {name}", {})
        return round(sum(used.get(a, 0.0) for a in apis) * 1000 / max(1, count), 1)

    return {name: {"p50_ms": _ms(pct(t, 0.5)), "p99_ms": _ms(pct(t, 0.99)), "max_ms": _ms(max(t)),
                   "bytes": sizes[name], "rows": rows[name], "cpu_ms": cpu_ms(name, len(t))}
            for name, t in times.items()}


# --- 5. the breach storm -----------------------------------------------------------------------------

def breach_charter(opens_at: datetime, workdir: Path) -> Path:
    """charters/fast.toml with a business calendar that opens at `opens_at` (a minute boundary, UTC) every
    day: disputes filed before it start their clocks together, at that instant."""
    text = (ROOT / "charters" / "fast.toml").read_text(encoding="utf-8")
    start = opens_at.hour * 60 + opens_at.minute
    end = min(24 * 60, start + 180)
    calendar = ('[calendar]\nkind = "business"\ntimezone = "UTC"\n'
                'working_days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\n'
                f'start = "{start // 60:02d}:{start % 60:02d}"\nend = "{end // 60:02d}:{end % 60:02d}"\n\n')
    text, found = re.subn(r"^\[calendar\]\n(?:(?!\[).*\n)*", calendar, text, count=1, flags=re.M)
    if not found:
        raise BenchError("charters/fast.toml has no [calendar] table")
    text = re.sub(r'^(version\s*=\s*")([^"]*)"', rf'\g<1>\g<2>-storm-{opens_at:%H%M}"', text, count=1, flags=re.M)
    path = workdir / "fast-storm.toml"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Storm:
    disputes: int = 0
    filing_s: float = 0.0
    filing_errors: int = 0
    opens_at: str = ""
    due_spread_s: float = 0.0  # latest due time - earliest
    filed_after_opening: int = 0
    all_recorded_s: float = math.nan  # due -> the last escalation recorded
    lag_p50_s: float = math.nan  # recorded - due
    lag_p99_s: float = math.nan
    lag_max_s: float = math.nan
    workflow_lag_p99_s: float = math.nan  # the escalation event's time - due (the timer as the workflow saw it)
    reminder_lag_p99_s: float = math.nan  # the reminders at half the SLA, recorded - due
    escalated: int = 0
    missed: int = 0  # never escalated within --breach-timeout
    early: int = 0  # escalated before the deadline (must be 0)
    over_2s: int = 0
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per dispute, from the deadline to the last record
    window_events: dict[str, int] = field(default_factory=dict)  # every event recorded meanwhile, by action
    load: float = 0.0


# Everything the stack recorded while the storm was measured: the first escalations, and what the fast charter's
# short tiers add meanwhile (the mediation tier's reminder 4 s and its deadline 8 s after an escalation).
WINDOW_EVENTS = """
    SELECT action, count(*) FROM audit_events WHERE at >= :since AND at <= :until GROUP BY action ORDER BY action
"""


# Each dispute's first escalation and first reminder so far, with when its channel notice was written (in the
# record activity's transaction). Not "ids above the last one seen": ids are taken in insertion order but become
# visible in commit order, so a watermark would skip rows that commit late.
STORM_EVENTS = """
    SELECT DISTINCT ON (a.dispute_id, a.action) a.dispute_id, a.action, a.at, n.created_at
    FROM audit_events AS a
    LEFT JOIN notifications AS n ON n.dispute_id = a.dispute_id AND n.seq = a.seq AND n.recipient = 'channel'
    WHERE a.action IN ('escalated', 'sla_reminder')
    ORDER BY a.dispute_id, a.action, a.seq
"""


async def storm(args: argparse.Namespace, pg: Postgres, rate_hint: float) -> Storm:
    """File `--breach` disputes on a second stack before its charter's calendar opens, then watch them breach."""
    from sqlalchemy import text

    from store.db import make_engine

    result = Storm()
    workdir = Path(tempfile.mkdtemp(prefix="parley-scale-storm-"))
    filing_guess = args.breach / max(rate_hint, 5.0) * 1.5 + 20
    opens = datetime.now(UTC) + timedelta(seconds=40 + filing_guess)  # 40 s: the stack's start
    opens = (opens + timedelta(minutes=1)).replace(second=0, microsecond=0)
    charter = breach_charter(opens, workdir)
    result.opens_at = opens.isoformat(timespec="seconds")
    print(f"breach storm: {args.breach} disputes on the fast charter, every clock starting at {opens:%H:%M:%S} UTC, "
          f"{args.breach_workers} workers…", flush=True)
    db_url = pg.create("parley_scale_storm")
    stack = await asyncio.to_thread(start_stack, "storm", db_url=db_url, charter=charter, workers=args.breach_workers,
                                    apis=1, extra_env=dict(args.env))
    engine = make_engine(db_url)
    try:
        posts = Posts()
        async with filer(stack, args.breach_clients) as http:
            result.filing_s = await post_filings(http, args.breach, args.breach_clients, 0, posts, tag="Storm")
        result.disputes, result.filing_errors = len(posts.ids), len(posts.errors)
        if posts.errors:
            print(f"  {len(posts.errors)} filings failed; the first: {posts.errors[0]}", flush=True)

        def due_times() -> dict[str, datetime]:
            with engine.connect() as conn:
                return {str(i): d for i, d in conn.execute(text("SELECT id, due_at FROM disputes")) if d is not None}

        due = await asyncio.to_thread(due_times)
        if not due:
            raise BenchError("the storm's disputes have no deadlines in the store")
        result.due_spread_s = round((max(due.values()) - min(due.values())).total_seconds(), 3)
        result.filed_after_opening = sum(1 for d in due.values() if d - opens > timedelta(seconds=5))
        print(f"  filed in {result.filing_s:.0f} s; deadlines {min(due.values()):%H:%M:%S.%f}"
              f"…{max(due.values()):%H:%M:%S.%f} (spread {result.due_spread_s} s); waiting for the clocks…", flush=True)
        meter = CpuMeter(stack.pids)
        first_due = min(due.values())
        await asyncio.sleep(max(0.0, (first_due - datetime.now(UTC)).total_seconds() - 3))
        cpu = meter.read()
        escalated: dict[str, tuple[datetime, datetime | None]] = {}  # id -> (event time, recorded)
        reminded: dict[str, datetime] = {}
        deadline = max(due.values()) + timedelta(seconds=args.breach_timeout)

        def poll() -> list[Any]:
            with engine.connect() as conn:
                return list(conn.execute(text(STORM_EVENTS)))

        while len(escalated) < len(due) and datetime.now(UTC) < deadline:
            await asyncio.sleep(0.5)
            for row in await asyncio.to_thread(poll):
                dispute_id, action, at, recorded = str(row[0]), str(row[1]), row[2], row[3]
                if action == "escalated":
                    escalated.setdefault(dispute_id, (at, recorded))
                else:
                    reminded.setdefault(dispute_id, recorded or at)
        meter.add("storm", cpu)
        window_end = datetime.now(UTC)
        result.load = load()
        result.escalated = sum(1 for i in due if i in escalated)
        result.missed = len(due) - result.escalated
        lags = [((recorded or at) - due[i]).total_seconds() for i, (at, recorded) in escalated.items() if i in due]
        workflow_lags = [(at - due[i]).total_seconds() for i, (at, _) in escalated.items() if i in due]
        reminder_lags = [(seen - (opens + (due[i] - opens) / 2)).total_seconds() for i, seen in reminded.items()
                         if i in due]
        if lags:
            result.all_recorded_s = round(max(lags), 2)
            result.lag_p50_s, result.lag_p99_s = round(pct(lags, 0.5), 2), round(pct(lags, 0.99), 2)
            result.lag_max_s = round(max(lags), 2)
            result.workflow_lag_p99_s = round(pct(workflow_lags, 0.99), 2)
            result.early = sum(1 for lag in workflow_lags if lag < 0)
            result.over_2s = sum(1 for lag in lags if lag > BREACH_P99_GOAL_S)
        if reminder_lags:
            result.reminder_lag_p99_s = round(pct(reminder_lags, 0.99), 2)
        result.cpu_ms = _cpu_ms(meter, "storm", len(due))

        def window_events() -> dict[str, int]:
            with engine.connect() as conn:
                since = first_due - timedelta(seconds=3)
                rows = conn.execute(text(WINDOW_EVENTS), {"since": since, "until": window_end})
                return {str(action): int(n) for action, n in rows}

        result.window_events = await asyncio.to_thread(window_events)
        print(f"  {result.escalated}/{len(due)} escalated; the last recorded {result.all_recorded_s} s after its "
              f"deadline; lag p99 {result.lag_p99_s} s", flush=True)
    finally:
        engine.dispose()
        await asyncio.to_thread(stop_stack, stack)
        shutil.rmtree(stack.data_dir, ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
    return result


# --- the run -----------------------------------------------------------------------------------------

@dataclass
class Results:
    bands: list[Band] = field(default_factory=list)
    burst: Posts = field(default_factory=Posts)
    burst_s: float = 0.0
    burst_healthy: bool = True
    reads: dict[str, float] = field(default_factory=dict)
    pages: dict[str, dict[str, float]] = field(default_factory=dict)
    storm: Storm | None = None
    rss_peak: dict[str, float] = field(default_factory=dict)  # the largest RSS seen, by process kind
    rss_end: dict[str, float] = field(default_factory=dict)
    cpu_burst_ms: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def _peak(results: Results, rss: dict[str, float]) -> None:
    for name, mb in rss.items():
        kind = name.split("-")[0]
        if not math.isnan(mb):
            results.rss_peak[kind] = max(results.rss_peak.get(kind, 0.0), mb)


async def run(args: argparse.Namespace, pg: Postgres, children: Children, results: Results) -> None:
    from settings import Settings
    from temporal_client import connect

    results.extra["load_start"] = load()
    profile_dir = Path(args.profile_dir or tempfile.mkdtemp(prefix="parley-scale-profile-")) if args.profile else None
    print(f"open disputes: starting the stack ({args.workers} worker(s), {args.apis} API process(es), PostgreSQL)…",
          flush=True)
    db_url = pg.create("parley_scale")
    stack = await asyncio.to_thread(start_stack, "open", db_url=db_url, charter=ROOT / "charters" / "default.toml",
                                    workers=args.workers, apis=args.apis, profile_dir=profile_dir,
                                    yappi=args.yappi, extra_env=dict(args.env) | (
                                        {"PARLEY_BENCH_PROFILER": "gc"} if args.profile == "gc" else {}))
    results.extra["rss_idle"] = stack.rss()
    try:
        client = await connect(Settings(temporal_address=stack.temporal))
        meter = CpuMeter({**stack.pids, "bench": os.getpid()})
        print(f"  {args.open} disputes in bands of {args.band}, {args.concurrency} clients; {args.bare} bare "
              "workflows per band…", flush=True)
        results.bands, ids = await grow(args, stack, client, meter)
        for band in results.bands:
            _peak(results, band.rss_mb)
        if args.burst:
            print(f"burst: {args.burst} filings from {args.burst_clients} clients…", flush=True)
            results.burst, results.burst_s, results.burst_healthy = await burst(args, stack, len(ids), meter)
            results.cpu_burst_ms = _cpu_ms(meter, "burst", len(results.burst.ids))
            ids += results.burst.ids
            _peak(results, stack.rss())
        results.extra["open_disputes"] = len(ids)
        if args.seconds > 0:
            print(f"reads: GET /api/disputes/{{id}} at {args.rate:g}/s for {args.seconds:g} s each, Parley and bare…",
                  flush=True)
            results.reads = await reads(args, stack, ids, children, meter)
        if args.page_requests > 0:
            print(f"pages: the mediator's queue and the dashboard, {args.page_requests} requests each…", flush=True)
            results.pages = await pages(args, stack, meter)
        results.rss_end = stack.rss()
        _peak(results, results.rss_end)
        await asyncio.to_thread(_profile, stack)
        if profile_dir is not None:
            results.extra["profiles"] = str(profile_dir)
        results.extra["load_open_end"] = load()
    finally:
        await asyncio.to_thread(children.stop_all)
        await asyncio.to_thread(stop_stack, stack)
        if not args.keep:
            shutil.rmtree(stack.data_dir, ignore_errors=True)
        else:
            print(f"kept {stack.data_dir}", file=sys.stderr)
    if args.breach:
        rates = [b.rate for b in results.bands if not math.isnan(b.rate)]
        results.storm = await storm(args, pg, min(rates) if rates else 10.0)
    results.extra["load_end"] = load()


# --- the report --------------------------------------------------------------------------------------

def verdict(ok: bool) -> str:
    return "ok" if ok else "MISS"


def report(args: argparse.Namespace, r: Results) -> None:
    bands = r.bands
    print()
    print(f"Parley scale bench: {r.extra.get('open_disputes', 0)} open disputes on PostgreSQL, "
          f"{args.workers} worker(s), {args.apis} API process(es); load average {r.extra.get('load_start')} -> "
          f"{r.extra.get('load_end')}; {r.extra.get('runtime_s', 0):.0f} s")
    print(f"  {'open':>6} {'filing/s':>9} {'bare/s':>7} {'ratio':>6} {'cpu ms/filing: wrk':>19} {'tmp':>5} {'api':>5} "
          f"{'bare tmp':>8} {'rss MB wrk':>10} {'api':>5} {'tmp':>5} {'cache':>6} {'evict/f':>7} {'miss/f':>6} "
          f"{'wft ms':>6} {'rec ms':>6} {'post p99':>8} {'load':>5}")
    for b in bands:
        print(f"  {b.open_after:>6} {b.rate:>9.1f} {b.bare_rate:>7.1f} {b.ratio:>6.2f} "
              f"{b.cpu_sum('filing', ('worker',)):>19.1f} {b.cpu_sum('filing', ('temporal',)):>5.1f} "
              f"{b.cpu_sum('filing', ('api', 'front')):>5.1f} {b.cpu_sum('bare', ('temporal',)):>8.1f} "
              f"{_rss(b.rss_mb, 'worker'):>10.0f} {_rss(b.rss_mb, 'api'):>5.0f} {b.rss_mb.get('temporal', 0):>5.0f} "
              f"{b.sdk['cache_size']:>6.0f} {b.sdk['forced_evictions']:>7.2f} {b.sdk['cache_misses']:>6.2f} "
              f"{b.sdk['wft_ms']:>6.1f} {b.sdk['record_ms']:>6.1f} {b.post_p99_ms:>8.0f} {b.load:>5.2f}")
    rows: list[tuple[str, str, str, str]] = []  # figure, value, goal, verdict
    if bands:
        worker_rss = r.rss_peak.get("worker", math.nan)
        rows.append(("worker RSS, peak", f"{worker_rss:.0f} MB", f"<= {RSS_GOAL_MB:.0f} MB",
                     verdict(worker_rss <= RSS_GOAL_MB)))
        rows.append(("API RSS, peak", f"{r.rss_peak.get('api', math.nan):.0f} MB", "", ""))
        temporal = [b.rss_mb.get("temporal", math.nan) for b in bands]
        growth = (temporal[-1] - temporal[0]) * 1024 / max(1, bands[-1].open_after - bands[0].open_after) \
            if len(bands) > 1 else math.nan
        rows.append(("Temporal server RSS, end", f"{temporal[-1]:.0f} MB ({growth:+.0f} KB per open dispute)", "",
                     ""))
        worst = min(b.ratio for b in bands)
        rows.append(("filing / bare rate, worst band", f"{worst:.2f}", f">= {RATIO_GOAL}",
                     verdict(worst >= RATIO_GOAL)))
        decay = bands[-1].ratio / bands[0].ratio
        rows.append(("  last band / first band", f"{decay:.2f} ({bands[0].ratio:.2f} -> {bands[-1].ratio:.2f})",
                     f">= {DECAY_GOAL}", verdict(decay >= DECAY_GOAL)))
        cpu_first = bands[0].cpu_sum("filing", ("worker", "temporal", "api", "front"))
        cpu_last = bands[-1].cpu_sum("filing", ("worker", "temporal", "api", "front"))
        rows.append(("  cpu per filing, first -> last band", f"{cpu_first:.0f} -> {cpu_last:.0f} ms", "", ""))
        errors = sum(b.errors for b in bands)
        rows.append(("  filing errors", str(errors), "0", verdict(errors == 0)))
    if args.burst:
        burst = r.burst
        p99 = pct(burst.latencies, 0.99)
        unavailable = burst.statuses.get("503", 0)
        worst_post = max(burst.latencies, default=math.nan)
        rows.append((f"burst of {args.burst} from {args.burst_clients}: POST p50 / p99 / max",
                     f"{_ms(pct(burst.latencies, 0.5)):.0f} / {_ms(p99):.0f} / {_ms(worst_post):.0f} ms",
                     f"p99 <= {BURST_P99_GOAL_S * 1000:.0f} ms", verdict(p99 <= BURST_P99_GOAL_S)))
        rows.append(("  503s (Temporal healthy)" if r.burst_healthy else "  503s (Temporal NOT healthy after)",
                     f"{unavailable} of {args.burst}; statuses {dict(burst.statuses)}", "0", verdict(unavailable == 0)))
    if r.storm is not None:
        s = r.storm
        rows.append((f"storm: {s.disputes} breaches in one second, {args.breach_workers} workers: all recorded",
                     f"{s.all_recorded_s:.1f} s", f"<= {BREACH_ALL_GOAL_S:.0f} s",
                     verdict(s.all_recorded_s <= BREACH_ALL_GOAL_S and s.missed == 0)))
        rows.append(("  lag after the deadline p50 / p99 / max", f"{s.lag_p50_s} / {s.lag_p99_s} / {s.lag_max_s} s",
                     f"p99 <= {BREACH_P99_GOAL_S:.0f} s", verdict(s.lag_p99_s <= BREACH_P99_GOAL_S)))
        rows.append(("  missed (never escalated) / early", f"{s.missed} / {s.early}", "0 / 0",
                     verdict(s.missed == 0 and s.early == 0)))
        rows.append(("  workflow-side lag p99; reminders' lag p99",
                     f"{s.workflow_lag_p99_s} s; {s.reminder_lag_p99_s} s", "", ""))
        recorded = sum(s.window_events.values())
        cpu = sum(s.cpu_ms.values()) * s.disputes
        rows.append(("  events recorded meanwhile; the stack's CPU per event",
                     f"{recorded} ({', '.join(f'{a} {n}' for a, n in s.window_events.items())}); "
                     f"{cpu / recorded if recorded else math.nan:.1f} ms", "", ""))
    if r.reads:
        x = r.reads
        rows.append((f"GET /api/disputes/{{id}} p99 at {args.rate:g}/s vs bare",
                     f"{x['read_p99_ms']} / {x['bare_read_p99_ms']} ms = {x['read_ratio_p99']}",
                     f"<= {READ_GOAL}", verdict(x["read_ratio_p99"] <= READ_GOAL and not x["read_errors"])))
        rows.append(("  p50 Parley / bare; errors", f"{x['read_p50_ms']} / {x['bare_read_p50_ms']} ms; "
                     f"{x['read_errors']}", "", ""))
        rows.append(("  API CPU per read, Parley / bare", f"{x['cpu_read_ms']} / {x['cpu_bare_read_ms']} ms = "
                     f"{x['cpu_read_ms'] / x['cpu_bare_read_ms']:.2f}", "", ""))
    for name, page in r.pages.items():
        shown = f"{page['rows']} rows" if name != "dashboard" else f"{page['bytes'] // 1024} KB"
        rows.append((f"{name} ({PAGES[name][0]}) p50 / p99, {shown}",
                     f"{page['p50_ms']} / {page['p99_ms']} ms (API CPU {page['cpu_ms']} ms)",
                     f"p99 <= {PAGE_GOAL_MS:.0f} ms",
                     verdict(page["p99_ms"] <= PAGE_GOAL_MS)))
    print()
    width = max(len(row[0]) for row in rows) if rows else 10
    for figure, value, goal, ok in rows:
        print(f"  {figure:<{width}}  {value:<44} {goal:<18} {ok}")
    print(json.dumps({
        "bench": "scale", "at": datetime.now(UTC).isoformat(timespec="seconds"), "args": {
            k: v for k, v in vars(args).items() if k not in ("env",)} | {"env": dict(args.env)},
        "bands": [{**asdict(b), "rate": round(b.rate, 2), "bare_rate": round(b.bare_rate, 2),
                   "ratio": round(b.ratio, 3)} for b in bands],
        "burst": {"post_p50_ms": _ms(pct(r.burst.latencies, 0.5)), "post_p99_ms": _ms(pct(r.burst.latencies, 0.99)),
                  "post_max_ms": _ms(max(r.burst.latencies, default=math.nan)), "statuses": dict(r.burst.statuses),
                  "seconds": round(r.burst_s, 2), "temporal_healthy": r.burst_healthy, "cpu_ms": r.cpu_burst_ms},
        "reads": r.reads, "pages": r.pages, "storm": asdict(r.storm) if r.storm else None,
        "rss_peak_mb": r.rss_peak, "rss_end_mb": r.rss_end, **r.extra,
    }, default=str))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--open", type=int, default=10_000, help="open disputes filed on the business-day charter (10000)")
    p.add_argument("--band", type=int, default=1000, help="disputes per measured band (1000)")
    p.add_argument("--bare", type=int, default=200, help="bare workflows per band, half before and half after (200)")
    p.add_argument("--concurrency", type=int, default=8, help="HTTP clients filing, and bare workflows in flight (8)")
    p.add_argument("--workers", type=int, default=1, help="worker processes of the open-disputes stack (1)")
    p.add_argument("--apis", type=int, default=1, help="API processes of the open-disputes stack (1)")
    p.add_argument("--burst", type=int, default=500, help="filings in the burst; 0 skips it (500)")
    p.add_argument("--burst-clients", type=int, default=32, help="clients of the burst (32)")
    p.add_argument("--rate", type=float, default=100, help="reads per second, open loop (100)")
    p.add_argument("--seconds", type=float, default=10, help="seconds of reads for each side; 0 skips them (10)")
    p.add_argument("--page-requests", type=int, default=50, help="requests per page; 0 skips the pages (50)")
    p.add_argument("--breach", type=int, default=1000, help="disputes in the breach storm; 0 skips it (1000)")
    p.add_argument("--breach-workers", type=int, default=2, help="worker processes of the storm's stack (2)")
    p.add_argument("--breach-clients", type=int, default=16, help="clients filing the storm's disputes (16)")
    p.add_argument("--breach-timeout", type=float, default=180,
                   help="seconds after the deadline until an escalation not recorded counts as missed (180)")
    p.add_argument("--pg", default=os.environ.get("PARLEY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
                   help="PostgreSQL server (its maintenance database); a database is created and dropped per stack")
    p.add_argument("--env", action="append", default=[], type=_setting, metavar="KEY=VALUE",
                   help="a setting for every process of both stacks, e.g. PARLEY_WORKER_MAX_CACHED_WORKFLOWS=2000")
    p.add_argument("--profile", nargs="?", const="cpu", choices=("cpu", "gc"),
                   help="run the workers under bench/scale_profile.py: a CPU profile per band (yappi, else cProfile), "
                        "or with `gc` only the garbage collector's figures (no profiler overhead)")
    p.add_argument("--profile-dir", help="where the profiles go (default: a new temporary directory)")
    p.add_argument("--yappi", help="a directory holding yappi (pip install --target DIR yappi), for --profile")
    p.add_argument("--metrics-dir", help="save the workers' and the Temporal server's metrics there after each band")
    p.add_argument("--keep", action="store_true", help="keep the open-disputes stack's data dir (logs)")
    return p


def _setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.startswith(("PARLEY_", "OTEL_")):
        raise argparse.ArgumentTypeError(f"expected PARLEY_…=VALUE, not {text!r}")
    return key, value


def main() -> None:
    args = parser().parse_args()
    if args.open < 1 or args.band < 1:
        raise SystemExit("--open and --band must be at least 1")

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # so that the stacks are stopped and the databases dropped on the way out

    signal.signal(signal.SIGTERM, terminate)
    began, children, status = time.monotonic(), Children(), 0
    pg = Postgres(args.pg)
    results = Results()
    try:
        asyncio.run(run(args, pg, children, results))
    except KeyboardInterrupt:
        print("\ninterrupted; stopping…", file=sys.stderr)
        status = 130
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        children.stop_all()
        pg.drop_all()
    if status == 0:
        results.extra["runtime_s"] = round(time.monotonic() - began, 1)
        report(args, results)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)  # the Temporal SDK's Rust threads can abort the interpreter at exit (sdk-python issue #300)


if __name__ == "__main__":
    main()
