"""Server-side render time of every web page with 10,000 disputes in a SQLite store.

    .venv/bin/python bench/pages.py [--disputes 10000] [--runs 7] [--db PATH]

Seeds the disputes (`tests/web/synthetic.py`: the real pure lifecycle at simulated times over the last
400 days, written as the record activity writes them: audit chains, projection rows, outbox rows)
plus the people who look at them, then requests each page with FastAPI's TestClient as each role
and prints the median and the worst server time per page in milliseconds (timed inside the ASGI
app, from the request to the last body byte). Goal: every page under 200 ms. No Temporal is needed:
pages only read the store. With --db, an existing seeded database is reused (seeding takes ~30 s).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402
from sqlmodel import Session  # noqa: E402
from starlette.types import ASGIApp, Message, Receive, Scope, Send  # noqa: E402

from api.app import create_app  # noqa: E402
from domain.model import Role  # noqa: E402
from settings import Settings  # noqa: E402
from store import stats  # noqa: E402
from store.charters import load_charter_file  # noqa: E402
from store.db import make_engine, migrate  # noqa: E402
from store.tables import AUDIT_EVENTS, DISPUTES, NOTIFICATIONS  # noqa: E402
from store.users import create_user  # noqa: E402
from tests.web import synthetic  # noqa: E402

with warnings.catch_warnings():  # starlette would rather have httpx2; httpx works the same here
    warnings.filterwarnings("ignore", message=".*install `httpx2` instead", category=UserWarning)
    from fastapi.testclient import TestClient

CHARTER = ROOT / "charters" / "default.toml"
GOAL_MS = 200.0
VIEWERS: dict[str, dict[str, Any]] = {
    "direct rep": {"email": "direct0@corp.example", "name": "Direct Rep 0", "role": Role.rep, "channel": "direct",
                   "region": "EMEA"},
    "partner rep": {"email": "partner0.0@org0.example", "name": "Partner 0.0", "role": Role.rep,
                    "channel": "partner", "partner_org": "Partner Org 0", "region": "EMEA"},
    "mediator": {"email": "mediator@example.com", "name": "Morgan Mediator", "role": Role.mediator},
    "executive": {"email": "exec@example.com", "name": "Erin Executive", "role": Role.executive},
    "auditor": {"email": "auditor@example.com", "name": "Avery Auditor", "role": Role.auditor},
}


class ServerTimer:
    """Measures each request inside the app: from the call to the last body chunk sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.last_ms = 0.0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()

        async def timed(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.last_ms = (time.perf_counter() - started) * 1000

        await self.app(scope, receive, timed)


def seed(url: str, count: int) -> dict[str, str]:
    migrate(url)
    engine = make_engine(url)
    tokens: dict[str, str] = {}
    with Session(engine) as session:
        for key, spec in VIEWERS.items():
            _, token = create_user(session, **spec)
            tokens[key] = token.secret
        for email, name in (("exec.backup@example.com", "Blake Backup"),):
            create_user(session, email=email, name=name, role=Role.executive)
        session.commit()
    charter, text = load_charter_file(CHARTER)
    now = datetime.now(UTC)
    started = time.perf_counter()
    batch: list[synthetic.Sim] = []
    for sim in synthetic.mix(count, charter, now):
        batch.append(sim)
        if len(batch) == 1000:
            synthetic.write(engine, batch, charter, text)
            batch = []
    if batch:
        synthetic.write(engine, batch, charter, text)
    with engine.connect() as conn:
        figures = [conn.execute(select(func.count()).select_from(t)).scalar_one()
                   for t in (DISPUTES, AUDIT_EVENTS, NOTIFICATIONS)]
    print(f"seeded {figures[0]} disputes, {figures[1]} audit events, {figures[2]} notifications "
          f"in {time.perf_counter() - started:.1f} s")
    engine.dispose()
    return tokens


def tokens_of(url: str) -> dict[str, str]:
    """New tokens for the viewers of an existing database."""
    from store.users import issue_token, user_by_email

    engine = make_engine(url)
    tokens = {}
    with Session(engine) as session:
        for key, spec in VIEWERS.items():
            user = user_by_email(session, spec["email"])
            assert user is not None, f"{spec['email']} is missing: seed a new database"
            tokens[key] = issue_token(session, user, label="bench").secret
        session.commit()
    engine.dispose()
    return tokens


def sign_in(client: TestClient, token: str) -> None:
    client.cookies.clear()
    page = client.get("/sign-in")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf, "no CSRF token on the sign-in page"
    response = client.post("/sign-in", data={"token": token, "csrf": csrf[1]}, follow_redirects=False)
    assert response.status_code == 303, response.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--disputes", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--db", type=Path, help="reuse (or create) this SQLite file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="parley-pages-") as tmp:
        path = args.db or Path(tmp) / "parley.db"
        url = f"sqlite:///{path}"
        tokens = tokens_of(url) if path.exists() else seed(url, args.disputes)
        settings = Settings(database_url=url, charter=CHARTER, data_dir=Path(tmp),
                            temporal_address="127.0.0.1:9", slack_bot_token=None)
        app = create_app(settings)
        timer = ServerTimer(app)
        with TestClient(timer) as client:
            engine = make_engine(url)
            with engine.connect() as conn:
                sample = conn.execute(select(DISPUTES.c.id).where(DISPUTES.c.status == "resolved")
                                      .order_by(DISPUTES.c.last_seq.desc()).limit(1)).scalar_one()
                open_one = conn.execute(select(DISPUTES.c.id).where(DISPUTES.c.status == "mediation")
                                        .limit(1)).scalar_one()
            engine.dispose()
            pages: list[tuple[str, str]] = [
                ("direct rep", "/"), ("direct rep", "/disputes"), ("direct rep", "/disputes/new"),
                ("direct rep", "/outbox"),
                ("partner rep", "/"), ("partner rep", "/disputes?scope=all"),
                ("mediator", "/"), ("mediator", "/disputes"), ("mediator", f"/disputes/{open_one}"),
                ("mediator", "/disputes?status=mediation&region=EMEA"),
                ("executive", "/"), ("executive", "/dashboard"),
                ("auditor", "/audit"), ("auditor", f"/disputes/{sample}"),
                ("auditor", "/audit?date_from=2020-01-01&region=AMER&outcome=partner"),
                ("auditor", "/audit?actor=system:sla"), ("auditor", "/audit?outcome=co_sell&page=3"),
                ("auditor", "/dashboard?period=7d"), ("auditor", "/dashboard?period=30d"),
                ("auditor", "/dashboard?period=365d"), ("auditor", "/dashboard?period=all"),
                ("auditor", "/outbox"), ("auditor", "/outbox?recipient=mediator@example.com"),
                ("executive", "/partners/Partner%20Org%200"),  # the last full quarter
                ("auditor", "/partners/Partner%20Org%200?from=2020-01-01&to=2030-12-31"),  # every dispute of it
                ("auditor", "/partners/Partner%20Org%200.csv?from=2020-01-01&to=2030-12-31"),
            ]
            print(f"{'viewer':<12} {'page':<58} {'median ms':>9} {'max ms':>8}")
            worst = 0.0
            signed_in = None
            for who, path_ in pages:
                if who != signed_in:
                    sign_in(client, tokens[who])
                    signed_in = who
                times = []
                for _ in range(args.runs + 1):
                    stats.clear_cache()  # time the dashboard's queries, not its cache
                    response = client.get(path_)
                    assert response.status_code == 200, f"{path_} as {who}: {response.status_code}"
                    times.append(timer.last_ms)
                times = times[1:]  # the first one warms caches up
                median, top = statistics.median(times), max(times)
                worst = max(worst, median)
                flag = "" if median < GOAL_MS else "  <-- over the goal"
                print(f"{who:<12} {path_[:58]:<58} {median:9.1f} {top:8.1f}{flag}")
            print(f"slowest median: {worst:.1f} ms (goal < {GOAL_MS:.0f} ms)")


if __name__ == "__main__":
    main()
