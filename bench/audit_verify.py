"""Audit verification rate: the same trail verified as an unsigned chain and with a signed checkpoint.

    .venv/bin/python bench/audit_verify.py                   # 1,000,000 events, 10 per chain, SQLite
    .venv/bin/python bench/audit_verify.py --events 200000 --db postgresql://postgres@127.0.0.1:5432/postgres

Builds a migrated store (a fresh SQLite file, or a fresh database on the PostgreSQL server given), writes
`--events` events in chains of `--per-chain` (hashed by the rules `store.audit.append` uses, inserted in
bulk), then in the same run: verifies the unsigned trail (every payload parsed and checked for canonical
form), signs a checkpoint of every chain (timed), and verifies again with the public key (the signed
events are rehashed from their stored bytes and checked against the signed heads). Reports events per
second of each verification, wall clock, including reading the store and the digest. Goal (issue 12):
at least 200,000 events/s with signed checkpoints over 1M events.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import pstats
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
from sqlalchemy import Engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from store import audit  # noqa: E402
from store.audit import checkpoints  # noqa: E402
from store.db import make_engine, migrate  # noqa: E402
from store.tables import AUDIT_EVENTS  # noqa: E402

T0 = datetime(2026, 1, 5, 9, 0, 0, 123456, tzinfo=UTC)
ACTIONS = ("filed", "commented", "proposed", "escalated", "ruled", "appealed", "decided")


@contextmanager
def database(server: str | None) -> Iterator[str]:
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


def fill(engine: Engine, events: int, per_chain: int) -> None:
    """`events` events in chains of `per_chain`, as `audit.append` would hash them (rule 2)."""
    batch: list[dict[str, Any]] = []
    chains = (events + per_chain - 1) // per_chain
    written = 0
    with engine.begin() as conn:
        for c in range(chains):
            dispute_id, prev = f"PRL-{c:07d}", audit.GENESIS
            for seq in range(1, min(per_chain, events - written) + 1):
                at = T0 + timedelta(seconds=c * 60 + seq, microseconds=seq)
                payload = {"text": f"event {seq} of {dispute_id} — ünïcødé", "amount": 1234.5 * seq,
                           "credit_split": {"direct": 60, "partner": 40}, "tier_sla_s": 14400}
                payload_text = audit.canonical(payload)
                actor = "mediator@example.com" if seq % 3 else "rep.partner@acme.example"
                action = ACTIONS[seq % len(ACTIONS)]
                event_text = audit.event_text(dispute_id, seq, audit.iso(at), actor, action, 1 + seq % 3,
                                              payload_text, "default@3:5f1c0e")
                hash_ = hashlib.sha256((prev + event_text).encode()).hexdigest()
                batch.append({"dispute_id": dispute_id, "seq": seq, "at": at, "actor": actor, "action": action,
                              "tier": 1 + seq % 3, "payload": payload_text, "charter_version": "default@3:5f1c0e",
                              "prev_hash": prev, "hash": hash_})
                prev = hash_
                written += 1
                if len(batch) == 20_000:
                    conn.execute(insert(AUDIT_EVENTS), batch)
                    batch.clear()
        if batch:
            conn.execute(insert(AUDIT_EVENTS), batch)
        if engine.dialect.name == "postgresql":
            conn.execute(text("ANALYZE audit_events"))


def timed_verify(engine: Engine, key: Any, profile: bool) -> tuple[audit.VerifyResult, float, float]:
    """(result, wall seconds, CPU seconds of this process: the machine is shared, so both are shown)."""
    profiler = cProfile.Profile() if profile else None
    with Session(engine) as session:
        started, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        result = audit.verify(session, public_key=key)
        if profiler:
            profiler.disable()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(18)
    return result, elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--per-chain", type=int, default=10)
    parser.add_argument("--db", help="a PostgreSQL server URL (default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top functions of each verification")
    args = parser.parse_args()
    with database(args.db) as url:
        migrate(url)
        engine = make_engine(url)
        try:
            started = time.perf_counter()
            fill(engine, args.events, args.per_chain)
            print(f"{engine.dialect.name}: {args.events:,} events in chains of {args.per_chain}, written in "
                  f"{time.perf_counter() - started:.1f} s")
            unsigned, unsigned_s, unsigned_cpu = timed_verify(engine, None, args.profile)
            assert unsigned.ok and unsigned.events == args.events, unsigned
            key = Ed25519PrivateKey.generate()
            started = time.perf_counter()
            made = checkpoints.create(engine, key)
            signing_s = time.perf_counter() - started
            assert made.checkpoint is not None and made.checkpoint.events == args.events, made
            signed, signed_s, signed_cpu = timed_verify(engine, key.public_key(), args.profile)
            assert signed.ok and signed.unsigned_events == 0 and signed.signed_through is not None, signed
            n = args.events
            print(f"unsigned chain:         {unsigned_s:6.2f} s wall {n / unsigned_s:10,.0f} events/s; "
                  f"{unsigned_cpu:6.2f} s CPU {n / unsigned_cpu:10,.0f} events/s")
            print(f"signing the checkpoint: {signing_s:6.2f} s wall (every chain checked in full first)")
            print(f"signed checkpoint:      {signed_s:6.2f} s wall {n / signed_s:10,.0f} events/s; "
                  f"{signed_cpu:6.2f} s CPU {n / signed_cpu:10,.0f} events/s (goal ≥ 200,000)")
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
