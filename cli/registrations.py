"""`parley registrations import FILE | list`: import a CRM export, list the registrations.

The import is the service's (`service.registration_import`, as `POST /api/registrations/import`):
idempotent by `external_ref`, a bad row never stops the good ones. On a terminal a progress bar
follows the file as it is read; a summary follows in every case, with the refused rows on stderr.
Exit status: 0 when every row was imported, 1 when some rows (or all) were refused, 2 when nothing could be
read: no such file, a format it cannot tell, or a file the service refuses as a whole (a CSV file without a
header line or whose header lacks a required column, text that is not UTF-8).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import Commands, group, migrated_engine
from settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from temporalio.client import Client

    from store.tables import User

CHUNK = 64 * 1024
SHOWN_ERRORS = 20
STATUSES = ("pending", "approved", "rejected", "expired", "withdrawn", "closed")


def register(commands: Commands) -> None:
    registrations = group(commands, "registrations", "deal registrations: import a CRM export, list them")
    load = registrations.add_parser("import", help="import a CSV or JSON Lines export (idempotent by external_ref)")
    load.add_argument("file", type=Path)
    load.add_argument("--format", choices=["csv", "jsonl"], help="default: by the file's extension")
    load.add_argument("--by", metavar="EMAIL", help="the admin the audit trail names (default: the system admin)")
    load.set_defaults(run=registrations_import)
    show = registrations.add_parser("list", help="list registrations, newest first")
    show.add_argument("--status", choices=STATUSES)
    show.add_argument("--channel", choices=["direct", "partner"])
    show.add_argument("--account", help="part of the account's name")
    show.add_argument("--as", dest="viewer", metavar="EMAIL", help="only what this user may see")
    show.add_argument("--limit", type=int, default=100)
    show.add_argument("--json", action="store_true", help="one JSON object per line")
    show.set_defaults(run=registrations_list)


def registrations_import(args: argparse.Namespace, settings: Settings) -> int:
    from domain.errors import InvalidInput
    from service.imports import kind_of

    path: Path = args.file
    kind = args.format or kind_of(None, path.name)
    if kind is None:
        print(f"error: cannot tell the format of {path.name}: name it .csv or .jsonl, or pass --format",
              file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"error: no file {path}", file=sys.stderr)
        return 2
    engine = migrated_engine(settings)
    admin = _user(engine, args.by, admin=True)
    if admin is None:
        return 2
    try:
        result = asyncio.run(_import(settings, engine, admin, path, kind))
    except InvalidInput as exc:  # the file itself, before any row of it was imported
        print(f"error: {path.name}: {exc.message}", file=sys.stderr)
        return 2
    print(f"{path.name}: {result['created']} created, {result['updated']} updated, {result['unchanged']} unchanged, "
          f"{result['error_count']} refused")
    for error in result["errors"][:SHOWN_ERRORS]:
        print(f"  line {error['line']}, {error['field']}: {error['message']}", file=sys.stderr)
    if result["error_count"] > SHOWN_ERRORS:
        print(f"  … and {result['error_count'] - SHOWN_ERRORS} more", file=sys.stderr)
    return 1 if result["error_count"] else 0


async def _import(settings: Settings, engine: Engine, admin: User, path: Path, kind: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    from tqdm import tqdm  # type: ignore[import-untyped]  # (no types-tqdm in the locked dependencies)

    from service.disputes import Service
    from service.registration_import import Importer
    from service.registrations import Registrations

    charter = _charter_in_force(settings, engine)
    service = Service(engine=engine, settings=settings, charter=lambda: charter, temporal=_lazy_temporal(settings),
                      clock=lambda: datetime.now(UTC))
    with tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc=path.name, disable=not sys.stderr.isatty(),
              file=sys.stderr) as bar:
        rows = [0]

        def done(count: int) -> None:
            rows[0] += count
            bar.set_postfix_str(f"{rows[0]:,} rows", refresh=False)

        async def chunks() -> Any:
            with path.open("rb") as file:
                while chunk := file.read(CHUNK):
                    bar.update(len(chunk))
                    yield chunk

        result = await Importer(Registrations(service), admin, kind, on_rows=done).run(chunks())
    return result.as_dict()


def registrations_list(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from service.registration_views import listing

    engine = migrated_engine(settings)
    viewer = _user(engine, args.viewer, admin=False)
    if viewer is None:
        return 2
    with Session(engine) as session:
        rows = listing(session, viewer, status=args.status, channel=args.channel, account=args.account,
                       limit=max(1, args.limit))
    if args.json:
        for row in rows:
            print(json.dumps(row, default=str, ensure_ascii=False))
        return 0
    print(f"{'id':13} {'status':9} {'channel':8} {'owner':32} {'account':30} {'value':>16}  protected until")
    for row in rows:
        value = f"{row['deal_value']:,.0f} {row['currency']}"
        until = row["protected_until"].strftime("%Y-%m-%d %H:%M UTC") if row["protected_until"] else "—"
        print(f"{row['id']:13} {row['status']:9} {row['channel']:8} {row['owner'][:32]:32} {row['account'][:30]:30} "
              f"{value:>16}  {until}")
    print(f"{len(rows)} registration{'' if len(rows) == 1 else 's'}")
    return 0


def _user(engine: Engine, email: str | None, *, admin: bool) -> User | None:
    """The user named (an admin, for an import), or the system admin when none is; None after an error."""
    from sqlmodel import Session

    from domain.model import Role
    from domain.plain_words import a_role
    from service.disputes import ADMIN_EMAIL
    from store.tables import User
    from store.users import user_by_email

    if email is None:
        return User(id=0, email=ADMIN_EMAIL, name="System admin", role=Role.admin.value)
    with Session(engine) as session:
        user = user_by_email(session, email)
    if user is None:
        print(f"error: no Parley user {email}", file=sys.stderr)
        return None
    if admin and Role(user.role) != Role.admin:
        print(f"error: only an admin imports registrations; {user.email} is {a_role(user.role)}", file=sys.stderr)
        return None
    return user


def _charter_in_force(settings: Settings, engine: Engine) -> Any:
    from sqlalchemy.exc import IntegrityError
    from sqlmodel import Session

    from store import charters

    charter, text = charters.load_charter_file(settings.charter)
    with Session(engine) as session:
        try:
            charters.register(session, charter, text, by="system:cli", reason=f"loaded from {settings.charter}")
            session.commit()
        except IntegrityError:  # recorded by another process meanwhile
            session.rollback()
    return charter


def _lazy_temporal(settings: Settings) -> Any:
    """Connects on first use (an import of direct opportunities needs no workflow); a Temporal that does
    not answer is Unavailable, which the import reports on the rows concerned."""
    from domain.errors import Unavailable
    from temporal_client import connect

    client: list[Client] = []
    failed: list[Unavailable] = []  # asked once: the rows after it are not kept waiting again

    async def get() -> Client:
        if failed:
            raise failed[0]
        if not client:
            try:
                client.append(await asyncio.wait_for(connect(settings), settings.answer_within_s))
            except Exception as exc:
                failed.append(Unavailable(f"Temporal at {settings.temporal_target} is not reachable "
                                          f"({type(exc).__name__})"))
                raise failed[0] from exc
        return client[0]

    return get
