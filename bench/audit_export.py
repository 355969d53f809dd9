"""How long the audit export takes over HTTP, against reading the same export in-process.

    .venv/bin/python bench/audit_export.py [--events 200000] [--db sqlite|postgresql] [--rounds 2]

Fills a fresh store with `--events` audit events in chains of ten (bench/audit_verify.py's `fill`), seeds the
API tests' people (tests/harness/people.py) and serves the real app under uvicorn on a free port
(tests/harness/stack.py `serve`). Each round times, in this order and then the reverse, `GET
/api/audit/export?format=jsonl` and `?format=csv` streamed by an HTTP client as the auditor, and
`store.audit.export` read in this process (the baseline: what any export costs before it is sent). The
machine is shared: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlmodel import Session  # noqa: E402

from bench.audit_verify import fill  # noqa: E402
from store import audit  # noqa: E402
from store.db import make_engine, migrate  # noqa: E402
from tests.harness.people import seed_people  # noqa: E402
from tests.harness.stack import make_settings, serve  # noqa: E402

PG_SERVER = os.environ.get("PARLEY_TEST_PG_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
Format = Literal["jsonl", "csv"]


async def measure(args: argparse.Namespace, url: str, workdir: Path) -> None:
    migrate(url)
    engine = make_engine(url)
    fill(engine, args.events, 10)
    tokens, _ = seed_people(engine)
    settings = make_settings(url, workdir, "127.0.0.1:1", slack_bot_token=None)

    def read_here(fmt: Format) -> int:
        with Session(engine) as session:
            return sum(len(line.encode()) for line in audit.export(session, fmt))

    async with serve(settings) as http:
        async def over_http(fmt: Format) -> int:
            size = 0
            async with http.stream("GET", f"/api/audit/export?format={fmt}",
                                   headers={"Authorization": f"Bearer {tokens['auditor']}",
                                            "Connection": "close"},  # never a keep-alive gone idle in between
                                   timeout=600) as answer:
                assert answer.status_code == 200, await answer.aread()
                async for chunk in answer.aiter_bytes():
                    size += len(chunk)
            return size

        times: dict[tuple[str, Format], list[float]] = {}
        for round_ in range(args.rounds):
            plan: list[tuple[str, Format]] = [(way, fmt) for fmt in ("jsonl", "csv") for way in ("http", "here")]
            for way, fmt in plan if round_ % 2 == 0 else reversed(plan):
                started = time.perf_counter()
                size = await (over_http(fmt) if way == "http" else asyncio.to_thread(read_here, fmt))
                seconds = time.perf_counter() - started
                times.setdefault((way, fmt), []).append(seconds)
                print(f"  round {round_ + 1}: {fmt} {way:4s} {seconds:6.2f} s, {size / 1e6:.1f} MB", flush=True)
    engine.dispose()
    print(f"\nAudit export of {args.events:,} events ({args.db}), median of {args.rounds} round(s):")
    print(f"  {'format':8s}{'over HTTP':>12s}{'in-process':>12s}{'ratio':>8s}{'HTTP events/s':>15s}")
    for fmt in ("jsonl", "csv"):
        http_s, here_s = statistics.median(times[("http", fmt)]), statistics.median(times[("here", fmt)])
        print(f"  {fmt:8s}{http_s:11.2f}s{here_s:11.2f}s{http_s / here_s:8.2f}{args.events / http_s:15,.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        if args.db == "sqlite":
            asyncio.run(measure(args, f"sqlite:///{workdir / 'parley.db'}", workdir))
            return
        from tests.pg import fresh_database

        with fresh_database(PG_SERVER, "parley_export") as url:
            asyncio.run(measure(args, url, workdir))


if __name__ == "__main__":
    main()
