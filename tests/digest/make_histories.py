"""(Re)generate the DigestWorkflow histories that tests/digest/test_replay.py replays.

    .venv/bin/python -m tests.digest.make_histories                  # every path
    .venv/bin/python -m tests.digest.make_histories digest_outbox    # some paths, by name

Runs each path below on a fresh time-skipping test server with the real activities over a throw-away SQLite
store filled by tests/digest/samples.py (a real SMTP server and the fake Slack where the path needs them),
checks its report, and saves the history as tests/histories/digest/<name>.json. As for the dispute
histories (tests/workflows/make_histories.py): regenerate only for a new path, or after a change behind
`workflow.patched`, keeping the previous version's files (rename them, e.g. `v1-<name>.json`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from store.db import make_engine, migrate
from tests.digest.conftest import FlakyMailbox, rig
from tests.digest.samples import MAX, fill
from tests.email.conftest import SmtpServer
from tests.fakes.slack import FakeSlack
from tests.harness.ports import free_port
from tests.harness.temporal import start_time_skipping

HISTORIES = Path(__file__).resolve().parents[1] / "histories" / "digest"
PathRun = Callable[[WorkflowEnvironment, str], Awaitable[WorkflowHandle[Any, Any]]]


async def by_medium_with_retries(env: WorkflowEnvironment, db_url: str) -> WorkflowHandle[Any, Any]:
    """Slack and e-mail by preference; one e-mail answered "try later" and one Slack message failing once."""
    engine = make_engine(db_url)
    mailbox = FlakyMailbox(busy_once={MAX})
    server = SmtpServer(mailbox, free_port())
    server.start()
    try:
        with FakeSlack() as slack:
            slack.users["U0MIA"] = {"email": "mia@example.com"}
            slack.fail_next(1, "500", method="chat.postMessage")
            async with rig(env, engine, server, slack) as r:
                report, handle = await r.run("digest-by-medium")
        assert report.by_medium()["slack"] == [MAX, "mia@example.com"], report
    finally:
        server.stop()
        engine.dispose()
    return handle


async def outbox_only(env: WorkflowEnvironment, db_url: str) -> WorkflowHandle[Any, Any]:
    """Neither Slack nor SMTP set up: every digest waits in the outbox."""
    engine = make_engine(db_url)
    try:
        async with rig(env, engine, None, None) as r:
            report, handle = await r.run("digest-outbox")
        assert set(report.by_medium()) == {"outbox"}, report
    finally:
        engine.dispose()
    return handle


PATHS: dict[str, PathRun] = {"digest_by_medium_retried": by_medium_with_retries, "digest_outbox": outbox_only}


async def generate(names: list[str]) -> list[str]:
    unknown = sorted(set(names) - set(PATHS))
    if unknown:
        raise SystemExit(f"unknown path(s): {', '.join(unknown)}; known: {', '.join(PATHS)}")
    HISTORIES.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    env = await start_time_skipping()
    try:
        for name, run in PATHS.items():
            if names and name not in names:
                continue
            with tempfile.TemporaryDirectory() as where:
                db_url = f"sqlite:///{Path(where) / 'parley.db'}"
                migrate(db_url)
                engine = make_engine(db_url)
                fill(engine)
                engine.dispose()
                handle = await run(env, db_url)
                history = await handle.fetch_history()
            (HISTORIES / f"{name}.json").write_text(history.to_json() + "\n")
            written.append(f"{name}.json ({len(history.events)} events)")
    finally:
        await env.shutdown()
    return written


def main() -> None:
    for line in asyncio.run(generate(sys.argv[1:])):
        print(f"wrote tests/histories/digest/{line}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # the SDK's Rust threads can abort the interpreter while it finalizes (sdk-python #300)


if __name__ == "__main__":
    main()
