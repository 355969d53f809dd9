"""`parley charter validate | adopt | show`: check a charter file, make it the version in force, print it."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from cli.common import Commands, group, migrated_engine
from settings import Settings


def register(commands: Commands) -> None:
    charter = group(commands, "charter", "the channel charter")
    validate = charter.add_parser("validate", help="check a charter file")
    validate.add_argument("path", nargs="?", type=Path)
    validate.set_defaults(run=charter_validate)
    adopt = charter.add_parser("adopt", help="make a charter file the version in force (recorded with who and why)")
    adopt.add_argument("path", nargs="?", type=Path)
    adopt.add_argument("--by", required=True, help="who made the change (e-mail)")
    adopt.add_argument("--reason", required=True, help="why the charter changed")
    adopt.set_defaults(run=charter_adopt)
    show = charter.add_parser("show", help="print the effective charter and its change log")
    show.add_argument("path", nargs="?", type=Path)
    show.set_defaults(run=charter_show)


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
    """The same rule as `POST /api/charter` (service.charters.adopt): checked, routed people included."""
    from sqlmodel import Session

    from service.charters import CharterRefused, adopt

    path = _charter_path(args, settings)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    with Session(migrated_engine(settings)) as session:
        try:
            adoption, new = adopt(session, text, by=args.by, reason=args.reason)
        except CharterRefused as exc:
            for field, message in exc.problems:
                print(f"{path}: {message}" if field == "toml" else f"--{field}: {message}", file=sys.stderr)
            return 1
    if not new:
        print(f"{adoption.version_id} is already recorded and in force; nothing changed")
        return 0
    print(f"adopted {adoption.version_id}: new disputes pin it now, in every running API; "
          "running disputes keep their version")
    return 0


def charter_show(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from domain.charter import parse_charter
    from store.charters import history, in_force

    path = _charter_path(args, settings)
    charter = parse_charter(path.read_text(encoding="utf-8"))
    print(json.dumps(charter.model_dump(mode="json"), indent=2))
    with Session(migrated_engine(settings)) as session:
        for change in history(session):
            print(f"# {change.at:%Y-%m-%d %H:%M} {change.version_id} by {change.changed_by}: {change.reason}")
        if (latest := in_force(session)) is not None:
            print(f"# in force: {latest.version_id}")
    return 0
