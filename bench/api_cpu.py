"""The API's own CPU per read (`GET /api/disputes/{id}`) and per filing (`POST /api/disputes`), in-process.

    .venv/bin/python bench/api_cpu.py [--db sqlite|postgresql] [--reads 600] [--filings 120]
    .venv/bin/python bench/api_cpu.py --profile OUT   # cProfile of the same requests, handlers inlined

The app is built as the tests build it (`api.app.create_app`, lifespan on) over a migrated store seeded
with the people of the API tests (`tests/harness/people.py`) and a few dozen disputes written as the
record activity writes them (`tests/web/synthetic.py`), on charters/default.toml (business days: the SLA
of every read is worked out on a real calendar). Requests are handed to the ASGI app directly (no
sockets, no HTTP parsing: what uvicorn adds is the same for every endpoint), and the CPU time of the
whole process (`time.process_time`: every thread, the threadpool's included) is divided by the
requests. The baseline is a bare FastAPI app in the same process, driven the same way: a sync GET
route returning a dispute-sized dict (as bench/throughput.py's bare endpoint). The machine is shared:
read the ratios.

Filing needs Temporal: a dev server (the installed binary, tests/harness/temporal.py) and the real
worker in a subprocess of its own (`python -m cli worker`, so that its CPU is not counted here). The
Temporal client's own work (the SDK's core threads) is counted: it is the API's CPU too. `--filings 0`
measures the reads alone, without Temporal.

With --profile, the sync dependencies and handlers run inline on the event loop (so that one cProfile
sees them) and OUT.reads.txt / OUT.filings.txt get the top functions by own and cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fastapi import FastAPI  # noqa: E402
from starlette.types import ASGIApp, Message  # noqa: E402

from api.app import create_app  # noqa: E402
from domain.model import Actor, Role  # noqa: E402
from settings import Settings  # noqa: E402
from store.charters import load_charter_file  # noqa: E402
from store.db import make_engine, migrate  # noqa: E402
from tests.harness.people import PEOPLE, seed_people  # noqa: E402
from tests.web import synthetic  # noqa: E402

CHARTER = ROOT / "charters" / "default.toml"
PG_SERVER = os.environ.get("PARLEY_TEST_PG_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN_TOKEN = "bench-admin"
VIEWERS = ("dana", "pat", "mediator", "auditor")  # a direct rep, a partner rep, the mediator, an auditor
FILING: dict[str, Any] = {
    "title": "Bench renewal claimed twice", "conflict_type": "account_ownership", "account": "Bench GmbH",
    "opportunity_ref": "OPP-1001", "deal_value": 250_000, "currency": "EUR", "region": "EMEA",
    "segment": "enterprise", "description": "Both teams are working the renewal (bench/api_cpu.py).",
    "counterparty_email": PEOPLE["pat"].email, "evidence": ["CRM note 2024-05-01"],
}


# --- driving an ASGI app without sockets ------------------------------------------------------------

async def call(app: ASGIApp, method: str, path: str, token: str | None = None,
               body: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One request handed straight to the app: (status, body)."""
    raw = b"" if body is None else json.dumps(body).encode()
    sent = [(b"host", b"bench"), (b"content-length", str(len(raw)).encode())]
    if body is not None:
        sent.append((b"content-type", b"application/json"))
    if token is not None:
        sent.append((b"authorization", f"Bearer {token}".encode()))
    sent += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": sent, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    given = False

    async def receive() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await asyncio.Event().wait()  # (never reached: the app reads the body once)
        return {"type": "http.disconnect"}

    status, chunks = 0, []

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


def bare_app(payload: dict[str, Any]) -> FastAPI:
    """The baseline: one sync GET route returning a dispute-sized dict (bench/throughput.py's bare one)."""
    app = FastAPI(title="bare")

    @app.get("/bare/{item_id}")
    def item(item_id: str) -> dict[str, Any]:
        return {**payload, "id": item_id}

    return app


@contextmanager
def inline_threads() -> Iterator[None]:
    """Run what FastAPI and the service send to worker threads inline, so that one cProfile sees it all."""
    import anyio.to_thread

    async def run_sync(func: Callable[..., Any], *args: Any, **_: Any) -> Any:
        return func(*args)

    async def to_thread(func: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    saved = anyio.to_thread.run_sync, asyncio.to_thread
    anyio.to_thread.run_sync, asyncio.to_thread = run_sync, to_thread  # type: ignore[assignment]
    try:
        yield
    finally:
        anyio.to_thread.run_sync, asyncio.to_thread = saved


# --- measuring ---------------------------------------------------------------------------------------

async def cpu_per(count: int, concurrency: int, one: Callable[[int], Awaitable[None]],
                  profile: cProfile.Profile | None = None) -> float:
    """CPU ms of this process per call of `one`, `concurrency` at a time."""
    queue = iter(range(count))

    async def lane() -> None:
        for i in queue:
            await one(i)

    if profile is not None:
        profile.enable()
    started = time.process_time()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    spent = time.process_time() - started
    if profile is not None:
        profile.disable()
    return spent * 1000 / count


def profiler(args: argparse.Namespace) -> cProfile.Profile:
    """cProfile on the wall clock (the default: time spent waiting on the store shows), or with `--profile-clock
    cpu` on this thread's CPU clock (the handlers run inline on it: what the API itself spends)."""
    return cProfile.Profile(time.thread_time) if args.profile_clock == "cpu" else cProfile.Profile()


def report_profile(profile: cProfile.Profile, out: Path, title: str) -> None:
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    text.write(f"== {title}: by own time ==\n")
    stats.sort_stats("tottime").print_stats(45)
    text.write(f"== {title}: by cumulative time ==\n")
    stats.sort_stats("cumulative").print_stats(70)
    out.write_text(text.getvalue())
    stats.dump_stats(out.with_suffix(".pstats"))
    print(f"  profile: {out} (and .pstats)")


# --- the store and Temporal ------------------------------------------------------------------------

@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'parley.db'}"
        return
    from tests.pg import fresh_database

    with fresh_database(PG_SERVER, "parley_apicpu") as url:
        yield url


def seed(url: str, disputes: int) -> tuple[dict[str, str], list[str]]:
    """The people (their tokens) and `disputes` disputes between dana and pat, most still open."""
    migrate(url)
    engine = make_engine(url)
    try:
        tokens, _ = seed_people(engine)
        charter, text = load_charter_file(CHARTER)
        now = datetime.now(UTC)
        sims = []
        for n in range(disputes):
            start = synthetic.start(f"PRL-B{n:07d}", charter, PEOPLE["dana"].party(), PEOPLE["pat"].party(),
                                    opportunity_ref=f"OPP-{n}")
            sim = synthetic.begin(start, now - timedelta(hours=2 + n))
            if n % 4 == 1:
                sim.act(Actor(email=PEOPLE["pat"].email, role=Role.rep), "escalate",
                        reason="We cannot agree")
            sims.append(sim)
        synthetic.write(engine, sims, charter, text)
        return tokens, [s.dispute.view(s.now).id for s in sims]
    finally:
        engine.dispose()


@asynccontextmanager
async def temporal_and_worker(settings: Settings, workdir: Path) -> AsyncIterator[str]:
    """A Temporal dev server and the real worker (a subprocess) on `settings`' store and task queue."""
    from tests.harness.temporal import dev_server, target_of
    from tests.harness.worker_process import WorkerProcess, worker_env

    async with dev_server() as env:
        target = target_of(env)
        worker = WorkerProcess(worker_env(settings.database_url, target, settings.task_queue, workdir, CHARTER),
                               workdir / "worker.log")
        try:
            yield target
        finally:
            worker.stop()


# --- the run -----------------------------------------------------------------------------------------

async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    with database(args.db, workdir) as url:
        tokens, ids = seed(url, args.disputes)
        settings = Settings(database_url=url, temporal_address="127.0.0.1:1", charter=CHARTER, data_dir=workdir,
                            task_queue=f"bench-{uuid.uuid4().hex[:8]}", admin_token=ADMIN_TOKEN,
                            slack_bot_token=None)
        if args.filings:
            async with temporal_and_worker(settings, workdir) as target:
                settings = settings.model_copy(update={"temporal_address": target})
                return await measure(args, settings, tokens, ids)
        return await measure(args, settings, tokens, ids)


async def measure(args: argparse.Namespace, settings: Settings, tokens: dict[str, str],
                  ids: list[str]) -> dict[str, Any]:
    app = create_app(settings)
    profile = profiler(args) if args.profile else None
    figures: dict[str, Any] = {"db": args.db}
    async with app.router.lifespan_context(app):
        status, body = await call(app, "GET", f"/api/disputes/{ids[0]}", tokens["auditor"])
        assert status == 200, body
        bare = bare_app(json.loads(body))

        async def read(i: int) -> None:
            who = VIEWERS[i % len(VIEWERS)]
            status, body = await call(app, "GET", f"/api/disputes/{ids[i % len(ids)]}", tokens[who])
            assert status == 200, body

        async def read_bare(i: int) -> None:
            status, body = await call(bare, "GET", f"/bare/{ids[i % len(ids)]}")
            assert status == 200, body

        for _ in range(2):  # warm up: connections, caches, first-call imports
            await cpu_per(len(VIEWERS) * 5, 1, read)
            await cpu_per(len(VIEWERS) * 5, 1, read_bare)
        reads, bares = [], []
        bare_count = args.bare or args.reads or 600  # `--reads 0`: the bare endpoint is measured all the same
        for _ in range(args.rounds if args.reads else 0):  # alternated, so that both meet the same background noise
            reads.append(await cpu_per(args.reads, args.concurrency, read))
            bares.append(await cpu_per(bare_count, args.concurrency, read_bare))
        if reads:
            figures["read_ms"], figures["bare_ms"] = min(reads), min(bares)
            print(f"read   {figures['read_ms']:.3f} ms CPU per GET /api/disputes/{{id}}   "
                  f"bare {figures['bare_ms']:.3f} ms   ratio {figures['read_ms'] / figures['bare_ms']:.2f}")
        if profile is not None and args.reads:
            with inline_threads():
                profile = profiler(args)
                await cpu_per(args.reads, 1, read, profile)
            report_profile(profile, Path(f"{args.profile}.reads.txt"), "reads")

        if args.filings:
            n = 0

            async def file(_: int) -> None:
                nonlocal n
                n += 1
                key = {"Idempotency-Key": uuid.uuid4().hex} if args.idempotency_key else None
                status, body = await call(app, "POST", "/api/disputes", tokens["dana"],
                                          {**FILING, "title": f"Bench filing {n}"}, key)
                assert status == 201, body

            await cpu_per(5, 1, file)  # warm up: the Temporal connection
            filings = []
            for _ in range(args.rounds):
                filings.append(await cpu_per(args.filings, args.concurrency, file))
                bares.append(await cpu_per(bare_count, args.concurrency, read_bare))
            figures["filing_ms"], figures["bare_ms"] = min(filings), min(bares)
            print(f"filing {figures['filing_ms']:.3f} ms CPU per POST /api/disputes          "
                  f"bare {figures['bare_ms']:.3f} ms   ratio {figures['filing_ms'] / figures['bare_ms']:.2f}")
            if profile is not None:
                with inline_threads():
                    profile = profiler(args)
                    await cpu_per(args.filings, args.concurrency, file, profile)
                report_profile(profile, Path(f"{args.profile}.filings.txt"), "filings")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--disputes", type=int, default=40, help="disputes in the store to read")
    parser.add_argument("--reads", type=int, default=600, help="reads per round")
    parser.add_argument("--filings", type=int, default=120, help="filings per round (0: no Temporal)")
    parser.add_argument("--bare", type=int, default=0,
                        help="bare requests per round (default: as many as --reads, or 600 with --reads 0)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; the best of each is kept")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--idempotency-key", action="store_true",
                        help="file with an Idempotency-Key (bench/scale.py and bench/throughput.py send none)")
    parser.add_argument("--profile", metavar="OUT", help="also profile: OUT.reads.txt, OUT.filings.txt")
    parser.add_argument("--profile-clock", choices=("wall", "cpu"), default="wall",
                        help="what --profile times: the wall clock, or the CPU time of the thread the handlers run on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="parley-api-cpu-") as tmp:
        figures = asyncio.run(run(args, Path(tmp)))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
