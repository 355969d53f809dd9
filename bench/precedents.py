"""Precedents speed (DESIGN §9, issue 12): p99 of `GET /api/disputes/{id}/precedents` over 100k resolved disputes.

    .venv/bin/python bench/precedents.py                                   # SQLite, 100,000 resolved disputes
    .venv/bin/python bench/precedents.py --db-url postgresql://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/precedents.py --disputes 20000 --requests 500 --audit-events 0

1. Builds a migrated store: a fresh SQLite file, or a fresh database (its own name, dropped afterwards) on
   the PostgreSQL server of `--db-url`. Bulk-inserts `--disputes` resolved disputes straight into the
   projection (`disputes`, with stored views as the workflow writes them: agreements, rulings and final
   decisions with criteria; five conflict types, eight regions, four segments or none, three currencies,
   deal values log-uniform from 10k to 5M, 24 mediators), then ANALYZE (and VACUUM on PostgreSQL).
2. Times `--requests` precedent look-ups for random disputes, each in its own session, through the same
   service call the route makes (`service.precedents.for_dispute(...).to_json()`, limit 5): as an auditor
   (who sees every dispute: the most candidates), as the dispute's mediator and, on the decision path,
   with the criteria of a ruling being made (`service.precedents.consult`). Baseline, alternating with
   them: reading one dispute as `GET /api/disputes/{id}` does (`Service.read_json`). Prints p50/p99 of each,
   the ratio to the baseline, and whether the goal (p99 <= 50 ms) is met.
3. Then, when bench/audit_verify.py offers `measure(events)`, the audit verification figures over
   `--audit-events` events (0 skips it), so that one run prints both figures the issue asks for.

Prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, insert  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlmodel import Session  # noqa: E402

from domain.model import Criteria, DisputeView  # noqa: E402
from service import precedents  # noqa: E402
from store.db import make_engine, migrate  # noqa: E402
from store.tables import DISPUTES, User  # noqa: E402

GOAL_P99_MS = 50.0
T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
TYPES = (("registration_overlap", 0.35), ("discount_undercut", 0.2), ("account_ownership", 0.2),
         ("credit_attribution", 0.15), ("other", 0.1))
REGIONS = ("AMER", "EMEA", "APAC", "LATAM", "NA-East", "NA-West", "DACH", "Nordics")
SEGMENTS = ("enterprise", "mid-market", "smb", "public-sector", None)
CURRENCIES = (("USD", 0.6), ("EUR", 0.25), ("GBP", 0.15))
MEDIATORS = [f"mediator{i:02d}@example.com" for i in range(24)]
EXECUTIVE, BACKUP = "exec@example.com", "exec.backup@example.com"


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """A fresh SQLite file, or a fresh database of our own on the PostgreSQL server `url` names."""
    if url is None or url.startswith("sqlite"):
        if url:
            yield url
            return
        with tempfile.TemporaryDirectory(prefix="parley-precedents-") as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    import psycopg

    name = f"parley_bench_precedents_{uuid.uuid4().hex[:8]}"
    admin = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pick(rng: random.Random, weighted: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]


def criteria(rng: random.Random) -> dict[str, Any]:
    return {"win_probability": {"direct": round(rng.random(), 2), "partner": round(rng.random(), 2)},
            "lifetime_value": {"direct": float(rng.randrange(10, 2000) * 1000),
                               "partner": float(rng.randrange(10, 2000) * 1000)},
            "strategic_fit": {"direct": rng.randint(1, 5), "partner": rng.randint(1, 5)}}


def template() -> dict[str, Any]:
    """A resolved dispute's stored view, as the workflow writes it (every field the real one has)."""
    party = {"name": "Dana Direct", "channel": "direct", "partner_org": None, "slack_user_id": None}
    view = DisputeView.model_validate({
        "id": "PRL-00000000", "title": "t", "conflict_type": "other", "account": "Acme GmbH",
        "opportunity_ref": "OPP-1001", "registration_ref": None, "deal_value": 1.0, "currency": "USD",
        "region": "AMER", "segment": None, "description": "Both teams are working the renewal of the account.",
        "evidence": ["CRM note 2024-05-01", "E-mail of 3 May"], "partner_org": "Resellers Inc", "status": "resolved",
        "tier": 2, "filed_by": "dana@corp.example",
        "parties": [{**party, "email": "dana@corp.example"},
                    {**party, "email": "pat@resellers.example", "name": "Pat Partner", "channel": "partner",
                     "partner_org": "Resellers Inc"}],
        "mediator": MEDIATORS[0], "executive": EXECUTIVE, "backup_executive": BACKUP, "reached_executive": False,
        "sla": {"due_at": None, "remaining_s": None, "paused": False, "breached": False, "tier_sla_s": None},
        "proposals": [], "decision": None, "waiting_on": [], "charter_version": "2026.1+bench",
        "created_at": T0, "updated_at": T0, "closed_at": T0, "last_seq": 6,
    })
    data: dict[str, Any] = view.model_dump(mode="json")
    return data


def rows(rng: random.Random, count: int) -> Iterator[dict[str, Any]]:
    base = template()
    for n in range(count):
        kind = rng.choices(("agreement", "ruling", "decision"), (0.4, 0.45, 0.15))[0]
        tier = {"agreement": 1, "ruling": 2, "decision": 3}[kind]
        owner = rng.choice(("direct", "partner", "co_sell"))
        direct = rng.randrange(0, 101, 5)
        closed = T0 + timedelta(minutes=7 * n)
        value = round(math.exp(rng.uniform(math.log(10_000), math.log(5_000_000))), 2)
        given = criteria(rng) if kind != "agreement" else None
        decision = {
            "kind": kind, "outcome": {"owner": owner, "credit_split": {"direct": direct, "partner": 100 - direct},
                                      "co_sell_stipend": None, "renewal_bonus_pct": None,
                                      "price_protection_until": None, "discount_cap_pct": None, "terms": None},
            "criteria": given,
            "recommendation": {"owner": owner, "credit_split": {"direct": 50, "partner": 50},
                               "scores": {"direct": 0.5, "partner": 0.5}} if given else None,
            "follows_recommendation": rng.random() < 0.7 if given else None,
            "rationale": "Both parties agreed to proposal #1." if kind == "agreement" else
            "The partner registered the deal first and ran the evaluation with the customer.",
            "actor": MEDIATORS[0], "at": closed.isoformat(), "tier": tier, "charter_version": "2026.1+bench",
            "final": True, "precedents": None, "consistent_with_precedents": None,
        }
        dispute_id = f"PRL-{n:08X}"
        mediator = rng.choice(MEDIATORS)
        view = {**base, "id": dispute_id, "title": f"Deal {n} claimed twice", "conflict_type": pick(rng, TYPES),
                "region": rng.choice(REGIONS), "segment": rng.choice(SEGMENTS), "deal_value": value,
                "currency": pick(rng, CURRENCIES), "mediator": mediator, "tier": tier, "decision": decision,
                "reached_executive": kind == "decision", "closed_at": closed.isoformat(),
                "updated_at": closed.isoformat(), "created_at": (closed - timedelta(days=9)).isoformat()}
        yield {
            "id": dispute_id, "title": view["title"], "status": "resolved", "tier": tier,
            "conflict_type": view["conflict_type"], "region": view["region"], "segment": view["segment"],
            "account": view["account"], "deal_value": value, "currency": view["currency"],
            "filed_by": "dana@corp.example", "counterparty": "pat@resellers.example", "partner_org": "Resellers Inc",
            "mediator": mediator, "executive": EXECUTIVE, "backup_executive": BACKUP,
            "reached_executive": view["reached_executive"], "due_at": None, "paused": False, "breached": False,
            "created_at": closed - timedelta(days=9), "updated_at": closed, "closed_at": closed, "last_seq": 6,
            "outcome_owner": owner, "view_json": json.dumps(view, separators=(",", ":")),
        }


def load(engine: Engine, count: int, rng: random.Random) -> float:
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    for row in rows(rng, count):
        batch.append(row)
        if len(batch) == 5000:
            with engine.begin() as conn:
                conn.execute(insert(DISPUTES), batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(insert(DISPUTES), batch)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE disputes")
    else:
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def measure_lookups(engine: Engine, count: int, requests: int, rng: random.Random) -> dict[str, Any]:
    from service.disputes import to_json, visible_row  # `Service.read_json`: the read the baseline times

    auditor = User(id=1, email="audrey@corp.example", name="Audrey", role="auditor")
    mediators = {email: User(id=10 + i, email=email, name=email, role="mediator") for i, email in enumerate(MEDIATORS)}
    times: dict[str, list[float]] = {"auditor": [], "mediator": [], "decision_path": [], "read_one": []}
    found: list[int] = []
    for _ in range(requests):
        dispute_id = f"PRL-{rng.randrange(count):08X}"
        with Session(engine) as s:
            mediator = mediators[visible_row(s, auditor, dispute_id).mediator]

        def as_auditor(dispute_id: str = dispute_id) -> None:
            with Session(engine) as s:
                body = precedents.for_dispute(s, auditor, dispute_id).to_json()
                found.append(len(body["precedents"]))

        def as_mediator(dispute_id: str = dispute_id, mediator: User = mediator) -> None:
            with Session(engine) as s:
                precedents.for_dispute(s, mediator, dispute_id).to_json()

        given = Criteria.model_validate(criteria(rng))

        def deciding(dispute_id: str = dispute_id, mediator: User = mediator, given: Criteria = given) -> None:
            with Session(engine) as s:
                precedents.consult(s, mediator, dispute_id, given)

        def read_one(dispute_id: str = dispute_id) -> None:
            with Session(engine) as s:
                to_json(s, visible_row(s, auditor, dispute_id))

        for name, fn in (("auditor", as_auditor), ("read_one", read_one), ("mediator", as_mediator),
                         ("decision_path", deciding)):
            times[name].append(timed(fn))
    figures: dict[str, Any] = {}
    for name, values in times.items():
        figures[name] = {"p50_ms": round(pct(values, 0.5), 3), "p99_ms": round(pct(values, 0.99), 3),
                         "max_ms": round(max(values), 3)}
    for name in ("auditor", "mediator", "decision_path"):
        figures[name]["p99_ratio_to_read_one"] = round(figures[name]["p99_ms"] / figures["read_one"]["p99_ms"], 1)
    figures["precedents_found_min"] = min(found)
    return figures


def audit_figures(events: int) -> dict[str, Any] | None:
    """bench/audit_verify.py's `measure(events)`, when it has one."""
    if events <= 0:
        return None
    try:
        module = importlib.import_module("bench.audit_verify")
    except ImportError as exc:
        return {"skipped": f"bench/audit_verify.py did not import: {exc}"}
    measure = getattr(module, "measure", None)
    if not callable(measure):
        return {"skipped": "bench/audit_verify.py has no measure(events) yet"}
    result: dict[str, Any] = measure(events)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db-url", default=None, help="a SQLite URL, or a PostgreSQL server to make a database on "
                                                       "(default: a temporary SQLite file)")
    parser.add_argument("--disputes", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--audit-events", type=int, default=1_000_000,
                        help="events for bench/audit_verify.py's measure() (0: skip)")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    with database(args.db_url) as url:
        backend = make_url(url).get_backend_name()
        print(f"{backend}: loading {args.disputes} resolved disputes…", flush=True)
        migrate(url)
        engine = make_engine(url)
        try:
            load_s = load(engine, args.disputes, rng)
            print(f"  loaded in {load_s:.1f} s; {args.requests} look-ups of each kind…", flush=True)
            figures = measure_lookups(engine, args.disputes, args.requests, random.Random(args.seed + 1))
        finally:
            engine.dispose()

    print()
    print(f"{'look-up':<16} {'p50':>9} {'p99':>9} {'max':>9} {'p99 / read one':>15}")
    for name in ("auditor", "mediator", "decision_path", "read_one"):
        f = figures[name]
        ratio = f"{f['p99_ratio_to_read_one']:.1f}x" if "p99_ratio_to_read_one" in f else ""
        print(f"{name:<16} {f['p50_ms']:>7.2f}ms {f['p99_ms']:>7.2f}ms {f['max_ms']:>7.2f}ms {ratio:>15}")
    worst = max(figures[n]["p99_ms"] for n in ("auditor", "mediator", "decision_path"))
    met = worst <= GOAL_P99_MS
    print(f"precedents p99 (the worst of the three) {worst:.2f} ms over {args.disputes} resolved disputes: goal "
          f"<= {GOAL_P99_MS:.0f} ms {'met' if met else 'MISSED'}")
    audit = audit_figures(args.audit_events)
    if audit is not None:
        print(f"audit verification over {args.audit_events} events: {json.dumps(audit)}")
    print(json.dumps({"bench": "precedents", "backend": backend, "disputes": args.disputes,
                      "requests": args.requests, "load_s": round(load_s, 1), **figures,
                      "worst_p99_ms": worst, "goal_p99_ms": GOAL_P99_MS, "goal_met": met, "audit": audit}))


if __name__ == "__main__":
    main()
