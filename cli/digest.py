"""`parley digest send --now | show --to EMAIL`: send a digest at once, or print what one person would read.

The weekly digest is the worker's Temporal Schedule (`parley-digest`, from the charter's `[digest] cron`);
`send --now` starts one DigestWorkflow of its own (a running worker sends it) and prints who got it by which
medium. Exit status: 0 when every digest went out, 1 when some did not, 2 when none could be sent.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cli.common import Commands, group, migrated_engine
from settings import Settings

if TYPE_CHECKING:
    from domain.charter import Charter
    from domain.digest_runs import DigestReport

WAIT_S = 300.0


def register(commands: Commands) -> None:
    digest = group(commands, "digest", "the weekly digest: send one now, or see what someone would read")
    send = digest.add_parser("send", help="send everyone's digest now (a worker must be running)")
    send.add_argument("--now", action="store_true", required=True, help="now, rather than at the charter's cron")
    send.add_argument("--wait", type=float, default=WAIT_S, metavar="SECONDS",
                      help=f"how long to wait for the worker to send it (default {WAIT_S:.0f})")
    send.set_defaults(run=digest_send)
    show = digest.add_parser("show", help="print the digest one person would receive now")
    show.add_argument("--to", required=True, metavar="EMAIL")
    show.set_defaults(run=digest_show)


def digest_send(args: argparse.Namespace, settings: Settings) -> int:
    from temporalio.client import WorkflowFailureError

    try:
        report = asyncio.run(_send(settings, datetime.now(UTC), args.wait))
    except TimeoutError:
        print(f"no worker sent the digest within {args.wait:.0f} s (is `parley worker` running on task queue "
              f"{settings.task_queue}?); it goes out when one takes it", file=sys.stderr)
        return 2
    except (WorkflowFailureError, RuntimeError) as exc:
        print(f"the digest could not be sent: {exc}", file=sys.stderr)
        return 2
    print(summary(report))
    return 1 if any(not item.media for item in report.sent) else 0


async def _send(settings: Settings, now: datetime, wait_s: float) -> DigestReport:
    from temporalio.common import WorkflowIDConflictPolicy

    from domain.digest_runs import DigestRequest, manual_key
    from service.digest_schedule import schedule_id
    from temporal_client import connect
    from workflows.digest import DigestWorkflow

    charter = _charter(settings)
    key = manual_key(now)
    client = await connect(settings)
    handle = await client.start_workflow(
        DigestWorkflow.run, DigestRequest(time_zone=charter.calendar.timezone, at=now, key=key),
        id=f"{schedule_id(settings.task_queue)}-now-{key.removeprefix('digest:')}", task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,  # the same second twice: one digest, both wait
    )
    report: DigestReport = await asyncio.wait_for(handle.result(), wait_s)
    return report


def summary(report: DigestReport) -> str:
    """`4 digests (digest:…): slack 2 (a@…, b@…); email 1 (…); outbox 1 (…)`."""
    count = len(report.sent)
    parts = [f"{medium} {len(people)} ({', '.join(people)})" for medium, people in report.by_medium().items()]
    head = f"{count} digest{'' if count == 1 else 's'} ({report.key})"
    lines = [f"{head}: {'; '.join(parts)}" if parts else f"{head}: nobody gets a digest"]
    lines += [f"  {item.recipient}: {item.error}" for item in report.sent if item.error]
    return "\n".join(lines)


def digest_show(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from domain.plain_words import a_role
    from render.digest_text import digest_text
    from service.digest import digest_of

    charter = _charter(settings)
    with Session(migrated_engine(settings)) as session:
        digest = digest_of(session, args.to, charter, datetime.now(UTC))
    if digest is None:
        print(f"error: no Parley user {args.to}", file=sys.stderr)
        return 2
    print(digest_text(digest, charter.business_calendar(), settings.base_url))
    if not digest.worth_sending:
        print(f"\n({digest.recipient.email} is {a_role(digest.recipient.role)}: nothing to send them this week)")
    return 0


def _charter(settings: Settings) -> Charter:
    """The charter in force (this command's charter file until one is adopted)."""
    from sqlmodel import Session

    from service.digest import charter_in_force
    from store.charters import load_charter_file

    fallback = load_charter_file(settings.charter)[0]
    with Session(migrated_engine(settings)) as session:
        return charter_in_force(session, fallback)
