"""`parley audit verify | export | digest | pubkey | checkpoint | keygen`: check, read and sign the audit trail.

These commands never create a store (no new SQLite file, no migrations); only `checkpoint` writes to one
(a signed checkpoint), and `verify --export FILE` needs none at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cli.common import Commands, group
from settings import Settings

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from sqlalchemy import Engine


def register(commands: Commands) -> None:
    audit = group(commands, "audit", "the audit trail")
    verify = audit.add_parser("verify", help="verify the hash chains, the signed checkpoints (and a saved digest)")
    verify.add_argument("--digest")
    verify.add_argument("--allow-empty", action="store_true",
                        help="accept a trail with no events (a new install); refused otherwise")
    verify.add_argument("--pubkey", metavar="K",
                        help="the public key to check checkpoints with: PEM (text or file), or 32 bytes in "
                             "base64 or hex; default: the public half of PARLEY_AUDIT_SIGNING_KEY")
    verify.add_argument("--export", type=Path, metavar="FILE",
                        help="verify this JSONL (or CSV) export instead of the store: no database needed")
    verify.set_defaults(run=audit_verify)
    export = audit.add_parser("export", help="write the trail as JSONL or CSV")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl")
    export.add_argument("--output", "-o", type=Path)
    export.set_defaults(run=audit_export)
    digest = audit.add_parser("digest", help="print the digest to save for later truncation checks")
    digest.set_defaults(run=audit_digest)
    pubkey = audit.add_parser("pubkey", help="print the public key that verifies the signed checkpoints")
    pubkey.add_argument("--format", choices=["pem", "base64", "hex"], default="pem")
    pubkey.set_defaults(run=audit_pubkey)
    checkpoint = audit.add_parser("checkpoint", help="sign a checkpoint of the audit chains now")
    checkpoint.set_defaults(run=audit_checkpoint)
    keygen = audit.add_parser("keygen", help="write a new Ed25519 signing key (PKCS#8 PEM) for "
                                        "PARLEY_AUDIT_SIGNING_KEY")
    keygen.add_argument("--output", "-o", type=Path, required=True)
    keygen.set_defaults(run=audit_keygen)


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


def _public_key(args: argparse.Namespace, settings: Settings) -> tuple[Ed25519PublicKey | None, bool]:
    """(the key to check checkpoints with, whether it was usable); says why when it is not (exit 2)."""
    from store.audit.signing import UnusableKey, load_public_key

    if args.pubkey is None:
        key = settings.audit_key
        return (None if key is None else key.public_key()), True
    try:
        return load_public_key(args.pubkey), True
    except UnusableKey as exc:
        print(f"error: --pubkey: {exc}", file=sys.stderr)
        return None, False


def _report(result: Any, what: str, checked: bool, allow_empty: bool) -> int:
    if result.ok and result.events == 0 and not allow_empty:
        print(f"error: {what} is empty: there is no event to verify. "
              "Pass --allow-empty if that is expected (a new install).", file=sys.stderr)
        return 1
    print(json.dumps(result.as_dict(), indent=2))
    if not checked:
        print("note: signatures not checked: give --pubkey (or set PARLEY_AUDIT_SIGNING_KEY); every event counts "
              "as unsigned", file=sys.stderr)
    elif result.ok and result.unsigned_events:
        print(f"note: {result.unsigned_events} event(s) after the latest checkpoint are not signed yet",
              file=sys.stderr)
    if result.first_bad is not None:
        bad = result.first_bad
        place = f" (dispute {bad.dispute_id}, event {bad.seq})" if bad.dispute_id and bad.seq is not None else ""
        print(f"the audit trail does not verify: {bad.problem}{place}", file=sys.stderr)
    return 0 if result.ok else 1


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
    public_key, usable = _public_key(args, settings)
    if not usable:
        return 2
    if args.export is not None:
        return _verify_export(args, public_key)
    store = _open_store(settings)
    if store is None:
        return 2
    engine, where = store
    try:
        with Session(engine) as session:
            result = audit.verify(session, digest=args.digest, public_key=public_key)
    except SQLAlchemyError as exc:
        print(f"error: cannot read the audit trail at {where}: {_first_line(exc)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    return _report(result, f"the audit trail at {where}", public_key is not None, args.allow_empty)


def _verify_export(args: argparse.Namespace, public_key: Ed25519PublicKey | None) -> int:
    from store.audit.offline import NotAnExport, verify_export

    try:
        text = args.export.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read the export {args.export}: {exc}", file=sys.stderr)
        return 2
    try:
        result = verify_export(text, public_key, args.digest)
    except NotAnExport as exc:
        print(f"error: {args.export} is not a Parley audit export: {exc}", file=sys.stderr)
        return 2
    return _report(result, f"the export {args.export}", public_key is not None, args.allow_empty)


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


def _signing_key(settings: Settings) -> Any:
    key = settings.audit_key
    if key is None:
        print("error: PARLEY_AUDIT_SIGNING_KEY is not set: it names the Ed25519 private key (PKCS#8 PEM, the text "
              "or a file) that signs audit checkpoints; make one with `parley audit keygen -o FILE`",
              file=sys.stderr)
    return key


def audit_pubkey(args: argparse.Namespace, settings: Settings) -> int:
    from store.audit import signing

    key = _signing_key(settings)
    if key is None:
        return 2
    public = key.public_key()
    if args.format == "pem":
        print(signing.public_pem(public), end="")
    elif args.format == "base64":
        print(signing.public_b64(public))
    else:
        print(signing.public_raw(public).hex())
    return 0


def audit_checkpoint(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from store.audit.checkpoints import CheckpointRefused, create

    key = _signing_key(settings)
    if key is None:
        return 2
    store = _open_store(settings)
    if store is None:
        return 2
    engine, where = store
    try:
        made = create(engine, key)
    except CheckpointRefused as exc:
        print(f"error: no checkpoint signed: {exc}", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:
        print(f"error: cannot sign the audit trail at {where}: {_first_line(exc)}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(json.dumps(made.as_dict(), indent=2))
    if made.checkpoint is None:
        print(f"no checkpoint signed: {made.reason}", file=sys.stderr)
    for bad in made.left_out:
        print(f"left out (does not verify): {bad.dispute_id}: {bad.problem}", file=sys.stderr)
    return 1 if made.left_out else 0


def audit_keygen(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from store.audit import signing

    path: Path = args.output
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never overwrite a key
    except FileExistsError:
        print(f"error: {path} exists; a signing key is never overwritten", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot write {path}: {exc}", file=sys.stderr)
        return 2
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(signing.generate_pem())
    print(f"wrote a new Ed25519 signing key to {path} (readable by you only); set PARLEY_AUDIT_SIGNING_KEY={path}, "
          "keep a copy outside the database host, and give auditors `parley audit pubkey`", file=sys.stderr)
    return 0
