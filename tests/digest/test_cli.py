"""`parley digest send --now | show --to`, run as processes the way an operator runs them; `send` against the
dev server with a worker (the real one, in this process) that mails through a real local SMTP server."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from store.db import make_engine
from tests.email.conftest import SmtpServer
from tests.harness.paths import FAST_CHARTER, ROOT
from tests.harness.stack import make_settings
from tests.harness.temporal import target_of
from tests.test_cli import parley
from worker import build_worker

DIGEST_PEOPLE = ["admin@example.com", "exec.backup@example.com", "exec@example.com", "mediator@example.com"]


def test_show_prints_what_one_person_would_read(tmp_path: Path) -> None:
    assert parley(tmp_path, "seed").returncode == 0
    shown = parley(tmp_path, "digest", "show", "--to", "ADMIN@example.com")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Parley digest for Ada Admin, ")
    assert "SLA breaches and time per tier" in shown.stdout
    assert "Tier 3 (executive): no dispute entered it" in shown.stdout
    rep = parley(tmp_path, "digest", "show", "--to", "dana.direct@example.com")
    assert rep.returncode == 0 and "nothing needs you this week" in rep.stdout and "nothing to send them" in rep.stdout
    nobody = parley(tmp_path, "digest", "show", "--to", "nobody@example.com")
    assert nobody.returncode == 2 and "no Parley user nobody@example.com" in nobody.stderr


def test_send_now_without_now_is_refused(tmp_path: Path) -> None:
    refused = parley(tmp_path, "digest", "send")
    assert refused.returncode == 2 and "--now" in refused.stderr


async def test_send_now_sends_one_digest_at_once_and_says_to_whom(
        tmp_path: Path, temporal_env: WorkflowEnvironment, smtp: SmtpServer) -> None:
    assert parley(tmp_path, "seed").returncode == 0  # the demo people, in tmp_path/parley.db
    db_url = f"sqlite:///{tmp_path / 'parley.db'}"
    settings = make_settings(db_url, tmp_path, target_of(temporal_env), smtp_url=f"smtp://127.0.0.1:{smtp.port}",
                             mail_from="Parley <parley@corp.example>")
    env = dict(os.environ, PARLEY_DATA_DIR=str(tmp_path), PARLEY_CHARTER=str(FAST_CHARTER),
               PARLEY_TEMPORAL_ADDRESS=settings.temporal_target, PARLEY_TASK_QUEUE=settings.task_queue)
    env.pop("PARLEY_DATABASE_URL", None)
    engine = make_engine(db_url)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as executor:
            async with build_worker(temporal_env.client, settings, engine, executor):
                done = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "cli", "digest", "send", "--now", "--wait", "60", cwd=ROOT, env=env,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
                out, err = await asyncio.wait_for(done.communicate(), 90)
    finally:
        engine.dispose()
    assert done.returncode == 0, err.decode()
    head, medium = out.decode().strip().split(": ", 1)
    assert head.startswith("4 digests (digest:") and head.endswith("Z)")
    assert medium == f"email 4 ({', '.join(DIGEST_PEOPLE)})"
    assert sorted(to for r in smtp.mailbox.received for to in r.rcpt_tos) == DIGEST_PEOPLE
