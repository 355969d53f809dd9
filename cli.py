"""`parley`: run the stack or its parts, manage users, check the charter, verify the audit trail."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from settings import Settings, get_settings


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    status = args.run(args, get_settings())
    sys.stdout.flush()
    sys.stderr.flush()
    # The Temporal SDK's Rust threads can abort the interpreter at exit after a clean shutdown
    # (sdk-python issue #300); everything is flushed, so leave without finalizing.
    os._exit(status or 0)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="parley", description=__doc__)
    sub = p.add_subparsers(required=True, metavar="command")

    def cmd(name: str, help: str, run: object) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.set_defaults(run=run)
        return sp

    cmd("up", "start the embedded stack: Temporal dev server, worker and API", up)
    cmd("worker", "run the Temporal worker", worker)
    cmd("api", "serve the HTTP API", api)
    cmd("migrate", "bring the database schema up to date", migrate)
    cmd("seed", "create the demo users and print their tokens", seed)

    users = sub.add_parser("users", help="manage users").add_subparsers(required=True, metavar="action")
    add = users.add_parser("add", help="create a user and print their first token")
    add.set_defaults(run=users_add)
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=["rep", "mediator", "executive", "auditor", "admin"])
    add.add_argument("--channel", choices=["direct", "partner"])
    for opt in ("--partner-org", "--region", "--segment", "--slack-user-id"):
        add.add_argument(opt)

    charter = sub.add_parser("charter", help="the channel charter").add_subparsers(required=True, metavar="action")
    validate = charter.add_parser("validate", help="check a charter file")
    validate.add_argument("path", nargs="?", type=Path)
    validate.set_defaults(run=charter_validate)
    adopt = charter.add_parser("adopt", help="record a charter version in the change log (who and why)")
    adopt.add_argument("path", nargs="?", type=Path)
    adopt.add_argument("--by", required=True, help="who made the change (e-mail)")
    adopt.add_argument("--reason", required=True, help="why the charter changed")
    adopt.set_defaults(run=charter_adopt)
    show = charter.add_parser("show", help="print the effective charter and its change log")
    show.add_argument("path", nargs="?", type=Path)
    show.set_defaults(run=charter_show)

    audit = sub.add_parser("audit", help="the audit trail").add_subparsers(required=True, metavar="action")
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
    return p


def _engine(settings: Settings):  # type: ignore[no-untyped-def]
    from store.db import make_engine, migrate

    migrate(settings.db_url)
    return make_engine(settings.db_url)


def migrate(args: argparse.Namespace, settings: Settings) -> int:
    from store.db import migrate as run_migrations

    run_migrations(settings.db_url)
    print(f"database at {settings.db_url} is up to date")
    return 0


def seed(args: argparse.Namespace, settings: Settings) -> int:
    from ops.seed import seed_demo_users

    tokens = seed_demo_users(_engine(settings), settings.data_dir / "demo-tokens.json")
    print(json.dumps(tokens, indent=2))
    return 0


def up(args: argparse.Namespace, settings: Settings) -> int:
    from ops.seed import seed_demo_users
    from ops.stack import run_stack

    tokens = seed_demo_users(_engine(settings), settings.data_dir / "demo-tokens.json")

    def banner() -> str:
        port = settings.temporal_dev_port
        ui = f"http://127.0.0.1:{port + 1000}" if not settings.temporal_address else "(external cluster)"
        lines = [
            "",
            "Parley is up.",
            f"  API           {settings.base_url}",
            f"  OpenAPI docs  {settings.base_url}/docs",
            f"  Temporal UI   {ui}",
            f"  Temporal      {settings.temporal_target}",
            f"  Data          {settings.data_dir}",
            "  Demo users (Authorization: Bearer <token>):",
        ]
        lines += [f"    {email:<28} {token}" for email, token in tokens.items()]
        lines.append("Press Ctrl-C to stop.")
        return "\n".join(lines)

    return run_stack(settings, banner)


def worker(args: argparse.Namespace, settings: Settings) -> int:
    import signal

    from worker import run_worker

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop)

    asyncio.run(serve())
    return 0


def api(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(settings), host=settings.http_host, port=settings.http_port,
                log_level="warning", access_log=False)
    return 0


def users_add(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from domain.errors import ParleyError
    from domain.model import Role
    from store.users import create_user

    with Session(_engine(settings)) as session:
        try:
            user, token = create_user(
                session, email=args.email, name=args.name, role=Role(args.role), channel=args.channel,
                partner_org=args.partner_org, region=args.region, segment=args.segment,
                slack_user_id=args.slack_user_id,
            )
        except ParleyError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        session.commit()
        print(json.dumps({"id": user.id, "email": user.email, "token": token.secret, "token_id": token.id}))
    return 0


def _charter_path(args: argparse.Namespace, settings: Settings) -> Path:
    return Path(args.path) if args.path else settings.charter


def charter_validate(args: argparse.Namespace, settings: Settings) -> int:
    from domain.charter import CharterError, parse_charter

    path = _charter_path(args, settings)
    try:
        charter = parse_charter(path.read_text(encoding="utf-8"))
    except (OSError, CharterError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    print(f"{path}: ok — {charter.name}, version {charter.version_id}")
    return 0


def charter_adopt(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from domain.charter import CharterError
    from store.charters import load_charter_file, register

    path = _charter_path(args, settings)
    try:
        charter, text = load_charter_file(path)
    except (OSError, CharterError) as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    with Session(_engine(settings)) as session:
        if not register(session, charter, text, by=args.by, reason=args.reason):
            print(f"{charter.version_id} is already recorded; new disputes use it once the API loads it")
            return 0
        session.commit()
    print(f"recorded {charter.version_id}; point PARLEY_CHARTER at {path} and restart the API to use it")
    return 0


def charter_show(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from domain.charter import parse_charter
    from store.charters import history

    path = _charter_path(args, settings)
    charter = parse_charter(path.read_text(encoding="utf-8"))
    print(json.dumps(charter.model_dump(mode="json"), indent=2))
    with Session(_engine(settings)) as session:
        for change in history(session):
            print(f"# {change.at:%Y-%m-%d %H:%M} {change.version_id} by {change.changed_by}: {change.reason}")
    return 0


# --- the audit commands only read: they never create a store (no new SQLite file, no migrations) ----

class _NoStore(Exception):
    """There is no Parley store (with an audit trail) where the settings point."""


def _first_line(exc: BaseException) -> str:
    cause = getattr(exc, "orig", None) or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def _existing_store(settings: Settings):  # type: ignore[no-untyped-def]
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


def _open_store(settings: Settings):  # type: ignore[no-untyped-def]
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


if __name__ == "__main__":
    main()
