"""Import rate of a CRM export: a 50k-row CSV through the service, every row validated and audited.

    .venv/bin/python bench/registrations_import.py [--rows 50000] [--partner-share 0.0] [--db sqlite|URL]

Sets up a temporary SQLite file (or the PostgreSQL database of `--db`), 40 direct and 50 partner reps,
a Temporal dev server (the installed binary) and the real worker, writes a CSV of `--rows` deals with
realistic company names (bench/company_names.py; a web domain for half, products, close dates), and
imports it with `service.registration_import.Importer`, as `POST /api/registrations/import` and `parley
registrations import` do: streamed in 64 KiB chunks, each row validated, stored with its `imported`
audit event (hash-chained) and checked for overlaps, the early warnings sent, workflows started for
the registrations that have timers. `--partner-share` makes that share of the rows pending partner
registrations (each starts its workflow: the approval SLA timer).

Then the same file again (nothing to create: idempotent by external_ref), and a check that every
created row has its audit event. Prints a table, then one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from temporalio.contrib.pydantic import pydantic_data_converter  # noqa: E402
from temporalio.testing import WorkflowEnvironment  # noqa: E402

from bench.company_names import company_name, domain_of  # noqa: E402
from domain.model import Role  # noqa: E402
from service.disputes import ADMIN_EMAIL, Service  # noqa: E402
from service.registration_import import Importer  # noqa: E402
from service.registrations import Registrations  # noqa: E402
from settings import Settings  # noqa: E402
from store import charters  # noqa: E402
from store.db import make_engine, migrate, session  # noqa: E402
from store.tables import AUDIT_EVENTS, REGISTRATION_OVERLAPS, REGISTRATIONS, User  # noqa: E402
from store.users import create_user  # noqa: E402

GOAL = 2000.0  # rows per second
CHUNK = 64 * 1024
REGIONS = ("AMER", "EMEA", "APAC")
PRODUCTS = ("Platform", "Support", "Analytics", "Security", "Training")


def people(engine: Any) -> tuple[list[str], list[str]]:
    direct = [f"rep{i:02d}@corp.example" for i in range(40)]
    partner = [f"partner{i:02d}@org{i % 25:02d}.example" for i in range(50)]
    with session(engine, write=True) as s:
        for email in direct:
            create_user(s, email=email, name=email, role=Role.rep, channel="direct")
        for i, email in enumerate(partner):
            create_user(s, email=email, name=email, role=Role.rep, channel="partner", partner_org=f"Org {i % 25}")
    return direct, partner


def write_csv(path: Path, rows: int, direct: list[str], partner: list[str], partner_share: float) -> None:
    rng = random.Random(20261207)
    now = datetime.now(UTC)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["external_ref", "account", "account_domain", "title", "deal_value", "currency", "region",
                         "segment", "expected_close", "products", "owner_email", "status", "submitted_at"])
        for n in range(rows):
            name = company_name(rng)
            is_partner = rng.random() < partner_share
            writer.writerow([
                f"CRM-{n:07d}", name, domain_of(name, rng) or "", f"{name} — {rng.choice(PRODUCTS)} deal",
                f"{rng.randint(5, 2000) * 1000}", rng.choice(("USD", "EUR", "GBP")), rng.choice(REGIONS),
                rng.choice(("enterprise", "mid-market", "")),
                (date(2027, 1, 1) + timedelta(days=rng.randint(0, 364))).isoformat(),
                ";".join(rng.sample(PRODUCTS, rng.randint(1, 3))),
                rng.choice(partner if is_partner else direct), "pending" if is_partner else "approved",
                (now - timedelta(hours=rng.randint(1, 48))).isoformat(timespec="seconds"),
            ])


async def chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            yield chunk


async def timed_import(registrations: Registrations, admin: User, path: Path) -> tuple[float, float, dict[str, Any]]:
    """(wall seconds, CPU seconds of this process, the import's answer)."""
    started, cpu = time.perf_counter(), time.process_time()
    result = await Importer(registrations, admin, "csv").run(chunks(path))
    return time.perf_counter() - started, time.process_time() - cpu, result.as_dict()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--partner-share", type=float, default=0.0)
    parser.add_argument("--db", default="sqlite")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="parley-import-bench-"))
    db_url = f"sqlite:///{folder / 'parley.db'}" if args.db == "sqlite" else args.db
    migrate(db_url)
    engine = make_engine(db_url)
    direct, partner = people(engine)
    csv_path = folder / "export.csv"
    write_csv(csv_path, args.rows, direct, partner, args.partner_share)
    settings = Settings(database_url=db_url, data_dir=folder, task_queue="bench-import", slack_bot_token=None)
    charter, text = charters.load_charter_file(ROOT / "charters" / "default.toml")
    with session(engine, write=True) as s:
        charters.register(s, charter, text, by="bench", reason="benchmark")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(Path(sys.prefix) / "bin" / "temporal"), data_converter=pydantic_data_converter,
        ui=False, dev_server_log_level="error")
    import concurrent.futures

    from worker import build_worker

    async def client() -> Any:
        return env.client

    service = Service(engine=engine, settings=settings, charter=lambda: charter, temporal=client,
                      clock=lambda: datetime.now(UTC))
    admin = User(id=0, email=ADMIN_EMAIL, name="Bench admin", role=Role.admin.value)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as executor:
            async with build_worker(env.client, settings, engine, executor):
                first_s, first_cpu, first = await timed_import(Registrations(service), admin, csv_path)
                again_s, again_cpu, again = await timed_import(Registrations(service), admin, csv_path)
    finally:
        await env.shutdown()
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(REGISTRATIONS)).scalar_one()
        imported = conn.execute(select(func.count()).select_from(AUDIT_EVENTS)
                                .where(AUDIT_EVENTS.c.action == "imported")).scalar_one()
        found = conn.execute(select(func.count()).select_from(REGISTRATION_OVERLAPS)).scalar_one()
    figures = {
        "rows": args.rows, "partner_share": args.partner_share, "backend": engine.dialect.name,
        "file_mb": round(csv_path.stat().st_size / 1e6, 1),
        "first_import_s": round(first_s, 2), "rows_per_s": round(args.rows / first_s),
        "cpu_s": round(first_cpu, 2), "rows_per_cpu_s": round(args.rows / first_cpu),
        "load_avg_1m": os.getloadavg()[0],
        "created": first["created"], "errors": first["error_count"], "overlaps_found": found,
        "again_s": round(again_s, 2), "again_rows_per_s": round(args.rows / again_s),
        "again_cpu_s": round(again_cpu, 2),
        "again_created": again["created"], "again_unchanged": again["unchanged"],
        "stored": stored, "imported_events": imported, "goal_rows_per_s": GOAL,
    }
    print(f"{'':30} {'rows':>7} {'seconds':>8} {'rows/s':>7} {'CPU s':>7} {'rows/CPU s':>10}")
    for label, wall, cpu in (("first import (all new)", first_s, first_cpu),
                             ("same file again (unchanged)", again_s, again_cpu)):
        print(f"{label:30} {args.rows:>7} {wall:>8.2f} {args.rows / wall:>7.0f} {cpu:>7.2f} {args.rows / cpu:>10.0f}")
    print(f"created {first['created']}, refused {first['error_count']}, overlaps found {found}; "
          f"the second import created {again['created']}, left {again['unchanged']} unchanged; "
          f"{imported} 'imported' audit events for {stored} registrations")
    print(f"goal >= {GOAL:.0f} rows/s: {'met' if args.rows / first_s >= GOAL else 'NOT met'} "
          f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores: the CPU figure is the steadier one)")
    print(json.dumps(figures))
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main())
