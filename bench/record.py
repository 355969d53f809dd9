"""The store's side of recording one workflow event (`record_event`), against a bare one-row transaction.

    .venv/bin/python bench/record.py [--db sqlite|postgresql] [--disputes 300] [--rounds 3]

Every state change of every dispute passes through `record_event` (activities.record): its transaction is a
share of each filing's and each escalation's cost in the workflows worker and in the database (bench/scale.py).
This bench runs the activity as the workflows worker of a split layout runs it (`relayed`: notices and webhook
deliveries left to the relay) on a fresh store, SQLite or a throw-away PostgreSQL database, with one webhook
subscription to every event, for disputes of three events each (filed, commented, commented; two notices
each), and beside it, interleaved round by round in the same process, a bare transaction that inserts one
row. It prints the process's CPU per event and the wall time per event of each (`time.process_time`,
`time.perf_counter`), and the statements each event took: read the ratios, not the milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, event, insert  # noqa: E402
from temporalio.testing import ActivityEnvironment  # noqa: E402

from activities.record import StoreActivities  # noqa: E402
from bench.scale_stack import Postgres  # noqa: E402
from store import webhooks  # noqa: E402
from store.db import make_engine, migrate, session  # noqa: E402
from tests.store.samples import recorded  # noqa: E402

EVENTS_PER_DISPUTE = 3
BARE = Table("bench_bare_rows", MetaData(), Column("id", Integer, primary_key=True), Column("body", String))


class Statements:
    """Counts the statements an engine executes."""

    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_: object) -> None:
        self.count += 1


def measure(work: Callable[[], int]) -> tuple[float, float, int]:
    """(CPU s, wall s, items) of one call of `work`."""
    cpu, wall = time.process_time(), time.perf_counter()
    items = work()
    return time.process_time() - cpu, time.perf_counter() - wall, items


def run(url: str, disputes: int, rounds: int) -> dict[str, float]:
    migrate(url)
    engine = make_engine(url)
    BARE.create(engine)
    with session(engine, write=True) as s:
        webhooks.create(s, url="http://receiver.example/hook", events=["*"], description=None,
                        created_by="bench@example.com")
    activities = StoreActivities(engine, relayed=True)
    env = ActivityEnvironment()
    statements = Statements(engine)
    next_id = iter(range(1, 10**9))

    def record_round(r: int) -> int:
        for d in range(disputes):
            for seq in range(1, EVENTS_PER_DISPUTE + 1):
                env.run(activities.record_event, recorded(f"PRL-{r}-{d}", seq))
        return disputes * EVENTS_PER_DISPUTE

    def bare_round(_: int) -> int:
        n = disputes * EVENTS_PER_DISPUTE
        for _ in range(n):
            with session(engine, write=True) as s:
                s.execute(insert(BARE).values(id=next(next_id), body="x" * 200))
        return n

    record_round(-1)  # warm: statement caches, connections
    bare_round(-1)
    figures: dict[str, list[float]] = {"record_cpu": [], "record_wall": [], "bare_cpu": [], "bare_wall": []}
    for r in range(rounds):
        before = statements.count
        cpu, wall, n = measure(partial(record_round, r))
        per_event = (statements.count - before) / n
        figures["record_cpu"].append(cpu / n)
        figures["record_wall"].append(wall / n)
        cpu, wall, n = measure(partial(bare_round, r))
        figures["bare_cpu"].append(cpu / n)
        figures["bare_wall"].append(wall / n)
    engine.dispose()
    result = {name: statistics.median(values) * 1000 for name, values in figures.items()}
    result["statements"] = per_event
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--pg", default=os.environ.get("PARLEY_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"))
    p.add_argument("--disputes", type=int, default=300, help="disputes per round, three events each (300)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of each, interleaved; the median counts (3)")
    args = p.parse_args()
    pg = Postgres(args.pg) if args.db == "postgresql" else None
    try:
        with tempfile.TemporaryDirectory(prefix="parley-bench-record-") as tmp:
            url = pg.create("parley_bench_record") if pg else f"sqlite:///{tmp}/parley.db"
            r = run(url, args.disputes, args.rounds)
    finally:
        if pg:
            pg.drop_all()
    print(f"record_event on {args.db}: {args.disputes * EVENTS_PER_DISPUTE} events a round, median of {args.rounds}")
    print(f"  per event      CPU {r['record_cpu']:.2f} ms, wall {r['record_wall']:.2f} ms, "
          f"{r['statements']:.1f} statements")
    print(f"  bare one-row   CPU {r['bare_cpu']:.2f} ms, wall {r['bare_wall']:.2f} ms")
    print(f"  ratio          CPU {r['record_cpu'] / r['bare_cpu']:.2f}, wall {r['record_wall'] / r['bare_wall']:.2f}")


if __name__ == "__main__":
    main()
