"""Audit verification rate: the same trail verified as an unsigned chain and with a signed checkpoint.

    .venv/bin/python bench/audit_verify.py                     # 1,000,000 events, 10 per chain, SQLite
    .venv/bin/python bench/audit_verify.py --db-url postgresql://postgres@127.0.0.1:5432/test

Builds a migrated store (a fresh SQLite file, or a fresh database on the PostgreSQL server given, dropped
afterwards), writes `--events` events in chains of `--per-chain` in bulk (hashed by the rules
`store.audit.append` uses: rule 2's canonical payload, checked against `audit.canonical`), then in the same run:
verifies the unsigned trail (every payload parsed and checked for canonical form), signs a checkpoint of every
chain (timed), and verifies again with the public key (every event rehashed from its stored bytes and linked,
up to the signed heads), in one process and then in several (`store.audit.parallel`: the chains split between
them; twice, the first time starting the forkserver they fork from). Reports, for each verification, events per
second (wall clock, including reading the store, the checkpoints and the digest) and per CPU-second of this
process (the machine may be shared; on PostgreSQL the server's own CPU is not counted; in parallel, the other
processes' CPU is not counted either), the ratio signed / unsigned and the ratio parallel / one process. Goal
(issue 12): at least 200,000 events/s with signed checkpoints over 1M events.

`measure(events, db_url)` returns the same figures as a dict, for another benchmark to print in its run.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from sqlalchemy import Engine  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from settings import get_settings  # noqa: E402
from store import audit  # noqa: E402
from store.audit import checkpoints, parallel  # noqa: E402
from store.db import make_engine, migrate  # noqa: E402

GOAL = 200_000
T0 = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)
ACTIONS = ("filed", "commented", "proposed", "escalated", "ruled", "appealed", "decided")
VERSION = "default@3:5f1c0e"
COLUMNS = ("dispute_id", "seq", "at", "actor", "action", "tier", "payload", "charter_version", "prev_hash", "hash")
_quote = json.encoder.encode_basestring


@contextmanager
def database(server: str | None) -> Iterator[str]:
    """A fresh store's URL: a SQLite file in a temporary folder, or a new database on the PostgreSQL server
    `server` (dropped afterwards)."""
    if server is None:
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    import psycopg

    name = f"parley_bench_{uuid.uuid4().hex[:8]}"
    admin = make_url(server).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _payload(dispute_id: str, seq: int) -> tuple[dict[str, Any], str]:
    """A payload and its rule-2 canonical text, written directly (`fill` checks it against audit.canonical)."""
    words = f"event {seq} of {dispute_id} — ünïcødé"
    value = {"text": words, "amount": 1234.5 * seq, "credit_split": {"direct": 60, "partner": 40},
             "tier_sla_s": 14400}
    amount = 1234.5 * seq
    number = str(int(amount)) if amount.is_integer() else repr(amount)
    return value, (f'{{"amount":{number},"credit_split":{{"direct":60,"partner":40}},"text":{_quote(words)},'
                   f'"tier_sla_s":14400}}')


def events_of(count: int, per_chain: int) -> Iterator[tuple[Any, ...]]:
    """`count` events in chains of `per_chain`, as `audit.append` would write them: (COLUMNS), `at` the time in UTC
    as text ("YYYY-MM-DD HH:MM:SS.ffffff")."""
    sha256 = hashlib.sha256
    chains = (count + per_chain - 1) // per_chain
    written = 0
    for c in range(chains):
        dispute_id, prev = f"PRL-{c:07d}", audit.GENESIS
        for seq in range(1, min(per_chain, count - written) + 1):
            at = (T0 + timedelta(seconds=c * 60 + seq, microseconds=seq)).replace(tzinfo=None).isoformat(
                " ", "microseconds")  # UTC, as SQLAlchemy stores a DateTime in SQLite
            value, payload = _payload(dispute_id, seq)
            if c == 0:  # the shortcut writes exactly what the store's own canonical form does
                assert payload == audit.canonical(value), (payload, audit.canonical(value))
            actor = "mediator@example.com" if seq % 3 else "rep.partner@acme.example"
            action, tier = ACTIONS[seq % len(ACTIONS)], 1 + seq % 3
            canonical = audit.event_text(dispute_id, seq, f"{at[:10]}T{at[11:]}Z", actor, action, tier, payload,
                                         VERSION)
            hash_ = sha256((prev + canonical).encode()).hexdigest()
            yield dispute_id, seq, at, actor, action, tier, payload, VERSION, prev, hash_
            prev = hash_
            written += 1


def fill(engine: Engine, count: int, per_chain: int) -> None:
    """Write the events in bulk: COPY on PostgreSQL, executemany in one transaction on SQLite."""
    names = ", ".join(COLUMNS)
    raw: Any = engine.raw_connection()
    try:
        if engine.dialect.name == "postgresql":
            pg = raw.driver_connection
            with pg.cursor() as cursor, cursor.copy(f"COPY audit_events ({names}) FROM STDIN") as copy:
                for row in events_of(count, per_chain):
                    copy.write_row((*row[:2], row[2] + "+00", *row[3:]))
            pg.commit()
            with pg.cursor() as cursor:
                cursor.execute("ANALYZE audit_events")
            pg.commit()
            return
        db: sqlite3.Connection = raw.driver_connection
        sql = f"INSERT INTO audit_events ({names}) VALUES ({', '.join('?' * len(COLUMNS))})"
        db.execute("BEGIN")  # the engine's connections are in autocommit mode: one transaction, not a million
        batch: list[tuple[Any, ...]] = []
        for row in events_of(count, per_chain):
            batch.append(row)
            if len(batch) == 50_000:
                db.executemany(sql, batch)
                batch.clear()
        if batch:
            db.executemany(sql, batch)
        db.execute("COMMIT")
    finally:
        raw.close()


def timed_verify(engine: Engine, key: Any, profile: bool = False,
                 processes: int | None = 1) -> tuple[audit.VerifyResult, float, float]:
    """(result, wall seconds, CPU seconds of this process: the machine is shared, so both are shown), verified in
    `processes` processes (None: the setting's, by default the CPU count, at most 4)."""
    profiler = cProfile.Profile() if profile else None
    with Session(engine) as session:
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        result = audit.verify(session, public_key=key, processes=processes)
        if profiler:
            profiler.disable()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(14)
    return result, elapsed, cpu


def measure(events: int, db_url: str | None = None, per_chain: int = 10, profile: bool = False,
            processes: int | None = None) -> dict[str, Any]:
    """Seed `events` events in a fresh store (SQLite, or a new database on the PostgreSQL server `db_url`), verify
    them unsigned, sign a checkpoint, verify them signed in one process, then in `processes` (None: the setting's,
    by default the CPU count, at most 4) twice: the first time starting the forkserver the processes fork from
    (what `parley audit verify` pays every time), the second with it running (an API process after its first
    verification); the figures (rates in events per second)."""
    with database(db_url) as url:
        migrate(url)
        engine = make_engine(url)
        try:
            started = time.perf_counter()
            fill(engine, events, per_chain)
            seeded = time.perf_counter() - started
            load_before = os.getloadavg()
            unsigned, unsigned_s, unsigned_cpu = timed_verify(engine, None, profile)
            assert unsigned.ok and unsigned.events == events and unsigned.unsigned_events == events, unsigned
            key = Ed25519PrivateKey.generate()
            started = time.perf_counter()
            made = checkpoints.create(engine, key)
            signing_s = time.perf_counter() - started
            assert made.checkpoint is not None and made.checkpoint.events == events, made
            signed, signed_s, signed_cpu = timed_verify(engine, key.public_key(), profile)
            assert signed.ok and signed.unsigned_events == 0 and signed.signed_through is not None, signed
            assert signed.events == events and signed.digest == unsigned.digest
            load_parallel = os.getloadavg()
            cold, cold_s, cold_cpu = timed_verify(engine, key.public_key(), profile, processes)
            warm, warm_s, warm_cpu = timed_verify(engine, key.public_key(), profile, processes)
            assert cold == signed and warm == signed, (cold, warm, signed)  # the very same answer
            store = engine.dialect.name
        finally:
            engine.dispose()
    return {
        "store": store, "events": events, "per_chain": per_chain, "seed_s": seeded,
        "unsigned_s": unsigned_s, "unsigned_cpu_s": unsigned_cpu,
        "unsigned_per_s": events / unsigned_s, "unsigned_per_cpu_s": events / unsigned_cpu,
        "signing_s": signing_s,
        "signed_s": signed_s, "signed_cpu_s": signed_cpu,
        "signed_per_s": events / signed_s, "signed_per_cpu_s": events / signed_cpu,
        "ratio": unsigned_s / signed_s, "ratio_cpu": unsigned_cpu / signed_cpu,
        "processes": parallel.processes(processes if processes is not None else get_settings().audit_verify_processes),
        "parallel_cold_s": cold_s, "parallel_cold_cpu_s": cold_cpu, "parallel_cold_per_s": events / cold_s,
        "parallel_s": warm_s, "parallel_cpu_s": warm_cpu, "parallel_per_s": events / warm_s,
        "parallel_ratio_cold": signed_s / cold_s, "parallel_ratio": signed_s / warm_s,
        "goal_per_s": GOAL, "load": load_before, "load_parallel": load_parallel,
    }


def report(figures: dict[str, Any]) -> str:
    """The figures of `measure` as lines of text."""
    f = figures
    load = ", ".join(f"{x:.2f}" for x in f["load"])
    pload = ", ".join(f"{x:.2f}" for x in f["load_parallel"])
    return "\n".join([
        f"{f['store']}: {f['events']:,} events in chains of {f['per_chain']}, seeded in {f['seed_s']:.1f} s "
        f"(load average {load})",
        f"  unsigned chain:    {f['unsigned_s']:6.2f} s wall {f['unsigned_per_s']:10,.0f} events/s; "
        f"{f['unsigned_cpu_s']:6.2f} s CPU {f['unsigned_per_cpu_s']:10,.0f} events per CPU-second",
        f"  signing:           {f['signing_s']:6.2f} s wall (every chain checked in full first)",
        f"  signed checkpoint: {f['signed_s']:6.2f} s wall {f['signed_per_s']:10,.0f} events/s; "
        f"{f['signed_cpu_s']:6.2f} s CPU {f['signed_per_cpu_s']:10,.0f} events per CPU-second "
        f"(goal ≥ {f['goal_per_s']:,})",
        f"  signed / unsigned: {f['ratio']:.2f}× wall, {f['ratio_cpu']:.2f}× CPU",
        f"signed checkpoint in {f['processes']} processes (load average {pload} before):",
        f"  first (forkserver starts): {f['parallel_cold_s']:6.2f} s wall {f['parallel_cold_per_s']:10,.0f} events/s "
        f"({f['parallel_ratio_cold']:.2f}× one process; this process {f['parallel_cold_cpu_s']:.2f} s CPU)",
        f"  again (forkserver up):     {f['parallel_s']:6.2f} s wall {f['parallel_per_s']:10,.0f} events/s "
        f"({f['parallel_ratio']:.2f}× one process; this process {f['parallel_cpu_s']:.2f} s CPU) "
        f"(goal ≥ {f['goal_per_s']:,})",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--per-chain", type=int, default=10)
    parser.add_argument("--db-url", "--db", dest="db_url",
                        help="a PostgreSQL server URL: the bench makes its own database there (default: SQLite)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions of each verification")
    parser.add_argument("--processes", type=int, default=None,
                        help="processes of the parallel verification (default: PARLEY_AUDIT_VERIFY_PROCESSES, or the "
                             "CPU count, at most 4)")
    args = parser.parse_args()
    print(report(measure(args.events, args.db_url, args.per_chain, args.profile, args.processes)))


if __name__ == "__main__":
    main()
