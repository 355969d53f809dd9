"""Reach (issue 11): webhooks and e-mail stay off the critical path, measured against the outbox alone.

    .venv/bin/python bench/reach.py [--disputes 1000] [--concurrency 32]      # smoke run: --disputes 20
    .venv/bin/python bench/reach.py --also webhooks,email                      # and each medium alone
    .venv/bin/python bench/reach.py --delivery-workers 0                       # the worker delivers too
    .venv/bin/python bench/reach.py --db postgresql                            # on PostgreSQL (--pg URL)
    .venv/bin/python bench/reach.py --rounds 1                                 # outbox then reach, once

Runs of the same work, one after the other in this process, each on a fresh `parley up
--delivery-workers 1` (its own Temporal dev server, a worker that runs the workflows, a deliveries worker
at niceness 19 that delivers what they record (activities.relay), the API and the SQLite store;
charters/fast.toml with its seconds read as hours, so that no SLA timer fires during the run:
bench/throughput.py `quiet_charter`). The receivers run in a process of their own: they stand for other
machines (bench/reach_receivers.py), so they run at niceness 19 (`--receivers-nice`), their session too, and
take the two cores only when the stack leaves them idle.

- outbox (the baseline): no SMTP server, no webhook subscription: every notice is parked in the outbox.
- reach: three webhook subscriptions, each a local aiohttp receiver (a CRM and a compensation system take
  `dispute.resolved`, a data warehouse takes `*`), and e-mail for every party through a local aiosmtpd
  server (PARLEY_SMTP_URL, no Slack: everyone's default medium is e-mail).
- with `--also`: `webhooks` (the subscriptions without e-mail) and `email` (e-mail without subscriptions),
  each against the outbox too: what each medium costs on its own.

Each run files N disputes straight to the executive (a deal value over the charter's threshold),
`--concurrency` at a time; the filing rate is N over the time until the last POST has answered. Once the
filings' own deliveries have landed, the executive decides all N at once (`--concurrency` requests in
flight), and the clock runs from the first decision sent until every delivery of the decisions has
landed: outbox, every decision and its notices in the store; reach, besides, every e-mail taken by the
SMTP server and every `dispute.resolved` POST answered at each of the three receivers.

`--rounds R` (2) runs each R times, in the order outbox, reach, reach, outbox (then again from the start), so
that a machine that speeds up or slows down during the bench weighs on both alike; the figures are over all of
a mode's runs, and each adjacent pair's ratios are printed too.

Goals: resolution time reach / outbox <= 2; filing rate reach / outbox >= 0.9. The machine is shared:
read the ratios, and the CPU per dispute of each process (hardly moved by the machine's other work); on
PostgreSQL the server's CPU is counted too (`postgres`, part of the stack's), and the connections the stack
opened (`StackCpu`). The
counts say how many webhook deliveries needed more than their first try (each of those, and only those,
is a Temporal workflow). Prints a table, then one JSON line with every figure; `--keep` keeps the stacks'
data dirs (logs, stores).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from bench.reach_receivers import SUBSCRIPTIONS, RemoteReceivers, Store  # noqa: E402
from bench.scale_stack import Postgres  # noqa: E402
from bench.throughput import (  # noqa: E402
    BenchError,
    Children,
    CpuMeter,
    _free_port,
    _stack_pids,
    _tail,
    pool,
    quiet_charter,
)

FILER, COUNTERPARTY, EXEC, ADMIN = ("dana.direct@example.com", "pat.partner@example.com", "exec@example.com",
                                    "admin@example.com")
FILING = {"conflict_type": "account_ownership", "account": "Reach Industries", "deal_value": 60_000_000,
          "currency": "USD", "region": "AMER", "counterparty_email": COUNTERPARTY,
          "description": "Both channels claim the account; filed by bench/reach.py."}
DECISION = {"action": "decide", "outcome": {"owner": "co_sell", "credit_split": {"direct": 60, "partner": 40},
                                            "co_sell_stipend": 5000, "renewal_bonus_pct": 5},
            "criteria": {"win_probability": {"direct": 0.4, "partner": 0.7},
                         "lifetime_value": {"direct": 120000, "partner": 90000},
                         "strategic_fit": {"direct": 3, "partner": 4}},
            "rationale": "The partner registered first and carries the stronger relationship."}
RESOLUTION_GOAL, FILING_GOAL = 2.0, 0.9
MODES = {"outbox": (False, False), "reach": (True, True), "webhooks": (True, False), "email": (False, True)}
CONNECTIONS = "pg connections opened"  # in the CPU figures: counted in thousandths, so that they read per dispute
WARMUP = 5  # disputes filed and decided before the clock runs (imports, sandbox, connections)


@dataclass
class Run:
    mode: str  # one of MODES: (webhooks, e-mail)
    filing_s: float = 0.0
    resolution_s: float = 0.0
    settle_s: float = 0.0
    errors: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    cpu: CpuMeter = field(default_factory=lambda: CpuMeter({}))  # the stack's processes and this one

    def cpu_ms(self, phase: str, n: int) -> dict[str, float]:
        """CPU time per dispute of each process in a phase: hardly moved by the machine's other work."""
        return {name: round(seconds * 1000 / n, 1) for name, seconds in self.cpu.used.get(phase, {}).items()}

    def stack_cpu_ms(self, phase: str, n: int) -> float:
        """CPU time per dispute of the stack (Temporal, worker, API), without the bench and its receivers."""
        return sum(ms for name, ms in self.cpu_ms(phase, n).items() if name not in ("bench", "receivers", CONNECTIONS))

    @property
    def webhooks(self) -> bool:
        return MODES[self.mode][0]

    @property
    def email(self) -> bool:
        return MODES[self.mode][1]


class StackCpu(CpuMeter):
    """The stack's processes and this one, and on PostgreSQL the server's ("postgres": the postmaster, its live
    processes and those it has reaped, whose CPU the kernel adds to its children's time). Its pool's connections
    come and go, each a server process of its own, so only the whole server's CPU says what the queries and the
    connections cost; on a quiet machine the other databases add next to nothing. `connections` counts the
    sessions the stack's database has seen (PostgreSQL's `pg_stat_database.sessions`), under `CONNECTIONS`."""

    def __init__(self, pids: dict[str, int], store: Store | None) -> None:
        postmaster = None
        if store is not None:  # the parent of a server process of ours
            backend = store.rows("SELECT pg_backend_pid()")[0][0]
            postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
        super().__init__(pids)
        self.store, self.postmaster = store, postmaster

    def read(self) -> dict[str, float]:
        out = super().read()
        if self.store is None or self.postmaster is None:
            return out
        total = 0.0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            pid, ppid = int(stat.parent.name), int(fields[1])
            if pid == self.postmaster:
                total += sum(int(f) for f in fields[11:15])  # its own time and its reaped children's
            elif ppid == self.postmaster:
                total += int(fields[11]) + int(fields[12])
        out["postgres"] = total / self.TICK
        out[CONNECTIONS] = float(self.store.rows(
            "SELECT sessions FROM pg_stat_database WHERE datname = current_database()")[0][0]) / 1000
        return out


def start_stack(mode: str, receivers: RemoteReceivers | None, children: Children,
                email: bool, delivery_workers: int, db_url: str | None) -> tuple[str, Path, dict[str, str]]:
    """`parley up` in a temporary data dir; its URL, data dir and demo tokens once healthy."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"parley-reach-{mode}-"))
    children.dirs.append(data_dir)
    http_port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARLEY_")}
    env.update(PARLEY_DATA_DIR=str(data_dir), PARLEY_HTTP_PORT=str(http_port), PYTHONPATH=str(ROOT),
               PARLEY_TEMPORAL_DEV_PORT=str(_free_port(then_free=1000)), PARLEY_WEBHOOK_ALLOW_PRIVATE="true",
               PARLEY_CHARTER=str(quiet_charter(ROOT / "charters" / "fast.toml", data_dir)))
    if db_url is not None:
        env.update(PARLEY_DATABASE_URL=db_url)
    if email and receivers is not None:
        env.update(PARLEY_SMTP_URL=f"smtp://127.0.0.1:{receivers.smtp_port}", PARLEY_MAIL_FROM="parley@example.com")
    log = data_dir / "up.log"
    up = children.start(f"parley up ({mode})", [sys.executable, "-m", "cli", "up", "--delivery-workers",
                                                str(delivery_workers)], env=env, log=log)
    url, deadline = f"http://127.0.0.1:{http_port}", time.monotonic() + 150
    while True:
        if up.poll() is not None:
            raise BenchError(f"`parley up` exited with {up.returncode}; {log}:\n{_tail(log)}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return url, data_dir, json.loads((data_dir / "demo-tokens.json").read_text())
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise BenchError(f"the stack was not healthy after 150 s; {log}:\n{_tail(log)}")
        time.sleep(0.25)


async def eventually_pids(data_dir: Path) -> dict[str, int]:
    """The stack's parts (temporal, worker, api) from `up.json`, written right after the API turns healthy."""
    for _ in range(100):
        if pids := _stack_pids(data_dir):
            return pids
        await asyncio.sleep(0.1)
    raise BenchError(f"no {data_dir / 'up.json'} after 10 s")


def stop_stack(children: Children) -> None:
    children.stop_all()
    children.procs.clear()
    children.grandchildren.clear()


async def send(http: httpx.AsyncClient, path: str, who: str, tokens: dict[str, str], body: dict[str, Any],
               errors: list[str]) -> dict[str, Any] | None:
    """POST with an Idempotency-Key, sent again after a 503 or a lost answer (as a careful client does)."""
    headers = {"Authorization": f"Bearer {tokens[who]}", "Idempotency-Key": uuid.uuid4().hex}
    for _ in range(3):
        try:
            response = await http.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            last = f"{type(exc).__name__}: {exc}"
            continue
        if response.status_code in (200, 201):
            answer: dict[str, Any] = response.json()
            return answer
        last = f"HTTP {response.status_code}: {response.text[:200]}"
        if response.status_code != 503:
            break
    errors.append(f"{path}: {last}")
    return None


async def landed(store: Store, receivers: RemoteReceivers | None, action: str, expected: int, run: Run) -> None:
    """Wait until every delivery of `expected` events of this action has landed."""
    webhook_type = {"filed": "dispute.filed", "decided": "dispute.resolved"}[action]
    wanted = [name for name, kinds in SUBSCRIPTIONS.items() if webhook_type in kinds or "*" in kinds]
    deadline = time.monotonic() + 900
    while True:
        recorded = await asyncio.to_thread(store.events, action)
        due = await asyncio.to_thread(store.mails, "due") if receivers and run.email else 0
        if receivers and run.webhooks:
            await receivers.ask()
        hooks = {name: receivers.count(name, webhook_type) for name in wanted} if receivers and run.webhooks else {}
        if recorded >= expected and not due and all(n >= expected for n in hooks.values()):
            return
        if time.monotonic() > deadline:
            raise BenchError(f"{run.mode}: after 900 s, {recorded}/{expected} {action} events, {due} e-mails due, "
                             f"webhooks {hooks}")
        await asyncio.sleep(0.05)


async def one_run(mode: str, args: argparse.Namespace, children: Children, pg: Postgres | None) -> Run:
    run = Run(mode)
    db_url = pg.create(f"parley_reach_{mode}") if pg is not None else None
    receivers = RemoteReceivers(args.receivers_nice) if mode != "outbox" else None
    if receivers is not None:
        await receivers.start()
    try:
        url, data_dir, tokens = await asyncio.to_thread(start_stack, mode, receivers, children, run.email,
                                                        args.delivery_workers, db_url)
        store = Store(db_url or f"sqlite:///{data_dir / 'parley.db'}")
        pids = await eventually_pids(data_dir)
        children.grandchildren = list(pids.values())
        others = {"bench": os.getpid()} | ({"receivers": receivers.proc.pid} if receivers and receivers.proc else {})
        run.cpu = StackCpu({**pids, **others}, store if db_url else None)
        limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
        async with httpx.AsyncClient(base_url=url, timeout=90, limits=limits) as http:
            urls = receivers.urls if receivers is not None and run.webhooks else {}
            for name, events in SUBSCRIPTIONS.items() if urls else ():
                hook = {"url": urls[name], "events": events, "description": name}
                if await send(http, "/api/webhooks", ADMIN, tokens, hook, run.errors) is None:
                    raise BenchError(f"could not subscribe {name}: {run.errors[-1]}")
            filed_so_far = 0

            async def file_one(i: int) -> str:
                view = await send(http, "/api/disputes", FILER, tokens, {**FILING, "title": f"Reach {i}"}, run.errors)
                return str(view["id"]) if view else ""

            async def decide(dispute_id: str) -> bool:
                path = f"/api/disputes/{dispute_id}/actions"
                return await send(http, path, EXEC, tokens, DECISION, run.errors) is not None

            async def phase(n: int) -> tuple[float, float, float]:
                """File n disputes; once their deliveries landed, decide them all: (filing, settling, resolution) s."""
                nonlocal filed_so_far
                began, cpu = time.monotonic(), run.cpu.read()
                ids = [i for i in await pool(n, args.concurrency, lambda i: file_one(filed_so_far + i)) if i]
                filed_so_far += len(ids)
                filed = time.monotonic()
                await landed(store, receivers, "filed", filed_so_far, run)
                run.cpu.add("filing", cpu)
                settled, cpu = time.monotonic(), run.cpu.read()
                await pool(len(ids), args.concurrency, lambda i: decide(ids[i]))
                await landed(store, receivers, "decided", filed_so_far, run)
                run.cpu.add("resolution", cpu)
                return filed - began, settled - filed, time.monotonic() - settled

            await phase(WARMUP)
            run.cpu.used.clear()
            print(f"  {mode}: warmed up; {args.disputes} disputes…", flush=True)
            run.filing_s, run.settle_s, run.resolution_s = await phase(args.disputes)
            run.counts = {"decided": store.events("decided"), "mails_sent": store.mails("sent")}
            if receivers is not None:
                landed_now = await receivers.ask()
                run.counts.update(mails_at_server=landed_now["mails"], webhook_posts=landed_now["posts"],
                                  **{f"{name}_events": n for name, n in landed_now["events"].items()})
            if run.webhooks:  # tried more than once: each of those needed a Temporal workflow
                run.counts["webhooks_retried"] = store.count(
                    "SELECT COUNT(*) FROM webhook_deliveries WHERE attempts > 1 OR delivered_at IS NULL")
        store.close()
    finally:
        await asyncio.to_thread(stop_stack, children)
        if receivers is not None:
            await receivers.stop()
    return run


def order(rounds: int) -> list[str]:
    """outbox, reach, reach, outbox, outbox, reach …: ABBA, so that a steady drift in speed cancels out."""
    pairs = [("outbox", "reach") if i % 2 == 0 else ("reach", "outbox") for i in range(rounds)]
    return [mode for pair in pairs for mode in pair]


def combined(runs: list[Run]) -> Run:
    """A mode's runs as one: times, errors, counts and CPU added up (per dispute: over all their disputes)."""
    total = Run(runs[0].mode)
    for run in runs:
        total.filing_s += run.filing_s
        total.resolution_s += run.resolution_s
        total.settle_s += run.settle_s
        total.errors += run.errors
        for key, value in run.counts.items():
            total.counts[key] = total.counts.get(key, 0) + value
        for phase, used in run.cpu.used.items():
            into = total.cpu.used.setdefault(phase, {})
            for name, seconds in used.items():
                into[name] = into.get(name, 0.0) + seconds
    return total


def pair_ratios(runs: list[Run]) -> list[tuple[float, float]]:
    """(resolution reach / outbox, filing rate reach / outbox) of each round's pair of runs."""
    pairs = zip(runs[0::2], runs[1::2], strict=True)
    by_mode = [(a, b) if a.mode == "reach" else (b, a) for a, b in pairs]
    return [(reach.resolution_s / outbox.resolution_s, outbox.filing_s / reach.filing_s) for reach, outbox in by_mode]


def report(args: argparse.Namespace, outbox: Run, reach: Run, runtime_s: float, others: list[Run],
           pairs: list[tuple[float, float]]) -> None:
    one, rounds = args.disputes, args.rounds
    n = one * rounds  # each mode's disputes over all its runs
    resolution_ratio = reach.resolution_s / outbox.resolution_s
    filing_ratio = (n / reach.filing_s) / (n / outbox.filing_s)
    print(f"\nReach bench: {args.disputes} disputes filed then decided at once ({args.concurrency} requests in "
          "flight); reach = 3 webhook subscriptions + e-mail for every party, outbox = neither; "
          f"{args.delivery_workers} delivery worker(s), {args.db}; {args.rounds} run(s) of each, "
          f"in the order {', '.join(order(args.rounds))}")
    print(f"  {'':<34}{'reach':>9}{'outbox':>9}{'ratio':>8}   goal")
    print(f"  {'resolution: all landed, s':<34}{reach.resolution_s / rounds:>9.1f}{outbox.resolution_s / rounds:>9.1f}"
          f"{resolution_ratio:>8.2f}   <= {RESOLUTION_GOAL}  {'ok' if resolution_ratio <= RESOLUTION_GOAL else 'MISS'}")
    print(f"  {'filing rate, /s':<34}{n / reach.filing_s:>9.1f}{n / outbox.filing_s:>9.1f}{filing_ratio:>8.2f}"
          f"   >= {FILING_GOAL}  {'ok' if filing_ratio >= FILING_GOAL else 'MISS'}")
    if len(pairs) > 1:
        print(f"  {'each round, resolution / filing':<34}"
              + ", ".join(f"{resolution:.2f} / {filing:.2f}" for resolution, filing in pairs))
    settle = "filings' deliveries landed after, s"
    print(f"  {settle:<34}{reach.settle_s / rounds:>9.1f}{outbox.settle_s / rounds:>9.1f}")
    for phase in ("filing", "resolution"):
        print(f"  cpu ms per dispute, {phase} and its deliveries: reach {reach.cpu_ms(phase, n)}, "
              f"outbox {outbox.cpu_ms(phase, n)}")
    # were the stack alone on the CPU, rate would go as 1 / its CPU per dispute: a ratio the load moves less
    cpu_ratios = {phase: round(outbox.stack_cpu_ms(phase, n) / reach.stack_cpu_ms(phase, n), 3)
                  for phase in ("filing", "resolution")}
    print(f"  outbox / reach, the stack's cpu ms per dispute: filing {cpu_ratios['filing']:.2f}, "
          f"resolution {cpu_ratios['resolution']:.2f}")
    print(f"  reach counts {reach.counts}; errors: reach {len(reach.errors)}, outbox {len(outbox.errors)}"
          + (f" (first: {(reach.errors + outbox.errors)[0]})" if reach.errors or outbox.errors else ""))
    alone: dict[str, float] = {}
    for other in others:  # one medium alone (one run), against the outbox runs
        resolution = other.resolution_s / (outbox.resolution_s / rounds)
        filing = outbox.filing_s / rounds / other.filing_s
        cpu_filing = outbox.stack_cpu_ms("filing", n) / other.stack_cpu_ms("filing", one)
        alone.update({f"resolution_{other.mode}_s": round(other.resolution_s, 2),
                      f"resolution_ratio_{other.mode}": round(resolution, 3),
                      f"filing_{other.mode}_per_s": round(one / other.filing_s, 2),
                      f"filing_ratio_{other.mode}": round(filing, 3),
                      f"cpu_ratio_filing_{other.mode}": round(cpu_filing, 3),
                      **{f"cpu_{other.mode}_{phase}_{name}_ms": ms for phase in ("filing", "resolution")
                         for name, ms in other.cpu_ms(phase, one).items()}})
        print(f"  {other.mode} alone against the outbox: resolution {other.resolution_s:.1f} s ({resolution:.2f}x), "
              f"filing {one / other.filing_s:.1f}/s ({filing:.2f}x; the stack's cpu {cpu_filing:.2f}); cpu ms per "
              f"dispute, filing {other.cpu_ms('filing', one)}, resolution {other.cpu_ms('resolution', one)}; "
              f"counts {other.counts}; errors {len(other.errors)}")
    print(json.dumps({
        "bench": "reach", "at": datetime.now(UTC).isoformat(timespec="seconds"), "disputes": one,
        "concurrency": args.concurrency, "delivery_workers": args.delivery_workers, "db": args.db,
        "rounds": args.rounds, "round_ratios": [[round(r, 3), round(f, 3)] for r, f in pairs],
        "resolution_reach_s": round(reach.resolution_s / rounds, 2),
        "resolution_outbox_s": round(outbox.resolution_s / rounds, 2), "resolution_ratio": round(resolution_ratio, 3),
        "filing_reach_per_s": round(n / reach.filing_s, 2), "filing_outbox_per_s": round(n / outbox.filing_s, 2),
        "filing_ratio": round(filing_ratio, 3), "settle_reach_s": round(reach.settle_s / rounds, 2),
        "settle_outbox_s": round(outbox.settle_s / rounds, 2), "errors": len(reach.errors) + len(outbox.errors),
        **{f"reach_{k}": v for k, v in reach.counts.items()},
        **{f"cpu_{run.mode}_{phase}_{name}_ms": ms for run in (reach, outbox) for phase in ("filing", "resolution")
           for name, ms in run.cpu_ms(phase, n).items()}, "load_end": round(os.getloadavg()[0], 2),
        "cpu_ratio_filing": cpu_ratios["filing"], "cpu_ratio_resolution": cpu_ratios["resolution"],
        **alone, "runtime_s": round(runtime_s, 1)}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--disputes", type=int, default=1000, help="disputes filed, then decided at once (1000)")
    p.add_argument("--concurrency", type=int, default=32, help="requests in flight (32)")
    p.add_argument("--delivery-workers", type=int, default=1, metavar="K",
                   help="`parley up --delivery-workers K` in every run (1; 0: the worker delivers too)")
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite",
                   help="the stacks' store: `parley up`'s SQLite file (default), or a PostgreSQL database made for "
                        "each run and dropped after it")
    p.add_argument("--pg", default=os.environ.get("PARLEY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"),
                   help="with --db postgresql: the server, as a libpq URL of its maintenance database")
    p.add_argument("--keep", action="store_true", help="keep the stacks' data dirs (their logs and stores)")
    p.add_argument("--receivers-nice", type=int, default=19, metavar="N",
                   help="the receivers' niceness, their session's too (19: they stand for other machines, so they "
                        "take the stack's cores only when it leaves them idle; 0: as much as the stack)")
    p.add_argument("--rounds", type=int, default=2, metavar="R",
                   help="runs of each mode, in the order outbox, reach, reach, outbox … (2)")
    p.add_argument("--also", default="", help="more runs, each medium alone: webhooks, email (comma-separated)")
    args = p.parse_args()
    also = [mode for mode in args.also.split(",") if mode]
    if unknown := set(also) - {"webhooks", "email"}:
        p.error(f"--also takes webhooks and email, not {', '.join(sorted(unknown))}")
    if args.rounds < 1:
        p.error("--rounds must be 1 or more")

    def terminate(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # so that the stacks are stopped on the way out

    signal.signal(signal.SIGTERM, terminate)
    began, children, status = time.monotonic(), Children(), 0
    pg = Postgres(args.pg) if args.db == "postgresql" else None
    try:
        runs = []
        for mode in order(args.rounds):
            runs.append(run := asyncio.run(one_run(mode, args, children, pg)))
            print(f"  {mode}: filed at {args.disputes / run.filing_s:.1f}/s (the stack's CPU "
                  f"{run.stack_cpu_ms('filing', args.disputes):.1f} ms each: {run.cpu_ms('filing', args.disputes)}), "
                  f"resolution {run.resolution_s:.1f} s ({run.stack_cpu_ms('resolution', args.disputes):.1f} ms each)",
                  flush=True)
        outbox = combined([run for run in runs if run.mode == "outbox"])
        reach = combined([run for run in runs if run.mode == "reach"])
        others = [asyncio.run(one_run(mode, args, children, pg)) for mode in also]
        report(args, outbox, reach, time.monotonic() - began, others, pair_ratios(runs))
    except KeyboardInterrupt:
        status = 130
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        status = 1
    finally:
        children.stop_all()
        if pg is not None:
            pg.drop_all()
        for tmp in children.dirs:
            if args.keep:
                print(f"kept {tmp}", file=sys.stderr)
            else:
                shutil.rmtree(tmp, ignore_errors=True)
    sys.stdout.flush()
    os._exit(status)  # the Temporal SDK's Rust threads can abort the interpreter at exit (sdk-python issue #300)


if __name__ == "__main__":
    main()
