"""`parley audit verify | export | digest`: check and read the audit trail.

These commands only read: they never create a store (no new SQLite file, no migrations).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from cli.common import Commands, group
from settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine


def register(commands: Commands) -> None:
    audit = group(commands, "audit", "the audit trail")
    verify = audit.add_parser("verify", help="verify the hash chains (and a saved digest)")
    verify.add_argument("--digest")
    verify.add_argument("--allow-empty", action="store_true",
                        help="accept a trail with no events (a new install); refused otherwise")
    verify.set_defaults(run=audit_verify)
    export = audit.add_parser("export", help="write the trail as JSONL or CSV")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--output", "-o", type=Path)
    export.set_defaults(run=audit_export)
    digest = audit.add_parser("digest", help="print the digest to save for later truncation checks")
    digest.set_defaults(run=audit_digest)


class _NoStore(Exception):
    """There is no Parley store (with an audit trail) where the settings point."""


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def _existing_store(settings: Settings) -> tuple[Engine, str]:
    """(engine, where) of the store the settings name, which must already hold the audit trail."""
    import sqlite3
    from contextlib import closing

    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    from store.db import make_engine, normalize_url

    url = normalize_url(settings.db_url)
    if url.get_backend_name() == "sqlite":
        database = (url.database or "").removeprefix("file:").split("?", 1)[0]
        if database in ("", ":memory:"):
            raise _NoStore(f"no Parley store at {settings.db_url} (an in-memory database holds no trail)")
        path = Path(database).expanduser()
        if not path.is_file():
            raise _NoStore(f"no Parley store at {path}")
        try:  # read-only: looking must not turn an empty or foreign file into a database
            with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
                found = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_events'"
                                   ).fetchone() is not None
        except sqlite3.Error as exc:
            raise _NoStore(f"no Parley store at {path}: {exc}") from exc
        if not found:
            raise _NoStore(f"no Parley store at {path}: it has no audit trail (no audit_events table)")
        return make_engine(settings.db_url), str(path)
    where = make_url(settings.db_url).render_as_string(hide_password=True)
    engine = make_engine(settings.db_url)
    try:
        with engine.connect() as conn:
            found = inspect(conn).has_table("audit_events")
    except SQLAlchemyError as exc:
        engine.dispose()
        raise _NoStore(f"no Parley store at {where}: {_first_line(exc)}") from exc
    if not found:
        engine.dispose()
        raise _NoStore(f"no Parley store at {where}: it has no audit trail (no audit_events table)")
    return engine, where


def _open_store(settings: Settings) -> tuple[Engine, str] | None:
    """(engine, where), or None after saying why there is no store (exit code 2)."""
    try:
        return _existing_store(settings)
    except _NoStore as exc:
        print(f"error: {exc}. Run `parley migrate` to create the store, or point PARLEY_DATABASE_URL "
              "(or PARLEY_DATA_DIR) at the existing one.", file=sys.stderr)
        return None


def audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import Session

    from store import audit

    if args.digest is not None:
        try:
            audit.parse_digest(args.digest)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    store = _open_store(settings)
    if store is None:
        return 2
    engine, where = store
    try:
        with Session(engine) as session:
            result = audit.verify(session, digest=args.digest)
    except SQLAlchemyError as exc:
        print(f"error: cannot read the audit trail at {where}: {_first_line(exc)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    if result.ok and result.events == 0 and not args.allow_empty:
        print(f"error: the audit trail at {where} is empty: there is no event to verify. "
              "Pass --allow-empty if that is expected (a new install).", file=sys.stderr)
        return 1
    print(json.dumps(result.as_dict(), indent=2))
    if result.first_bad is not None:
        bad = result.first_bad
        place = f" (dispute {bad.dispute_id}, event {bad.seq})" if bad.dispute_id and bad.seq is not None else ""
        print(f"the audit trail does not verify: {bad.problem}{place}", file=sys.stderr)
    return 0 if result.ok else 1


def audit_export(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import Session

    from store import audit

    store = _open_store(settings)
    if store is None:
        return 2
    engine, where = store
    out = args.output.open("w", encoding="utf-8", newline="") if args.output else sys.stdout
    try:
        with Session(engine) as session:
            for line in audit.export(session, args.format):
                out.write(line)
    except SQLAlchemyError as exc:
        print(f"error: cannot read the audit trail at {where}: {_first_line(exc)}", file=sys.stderr)
        return 2
    finally:
        if args.output:
            out.close()
        engine.dispose()
    return 0


def audit_digest(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import Session

    from store import audit

    store = _open_store(settings)
    if store is None:
        return 2
    engine, where = store
    try:
        with Session(engine) as session:
            print(audit.digest(session))
    except SQLAlchemyError as exc:
        print(f"error: cannot read the audit trail at {where}: {_first_line(exc)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return 0
