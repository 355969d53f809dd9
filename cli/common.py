"""What the command groups share: the shape of a command and the migrated store most of them open."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeAlias

from settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

Run: TypeAlias = Callable[[argparse.Namespace, Settings], int]
Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"  # what `add_subparsers` returns


def command(commands: Commands, name: str, help: str, run: Run) -> argparse.ArgumentParser:
    """A top-level command whose help is also its description."""
    sp: argparse.ArgumentParser = commands.add_parser(name, help=help, description=help)
    sp.set_defaults(run=run)
    return sp


def group(commands: Commands, name: str, help: str) -> Commands:
    """A top-level command whose actions are subcommands (`parley users add`)."""
    actions: Commands = commands.add_parser(name, help=help).add_subparsers(required=True, metavar="action")
    return actions


def migrated_engine(settings: Settings) -> Engine:
    """The store the settings name, created or brought up to date first."""
    from store.db import make_engine, migrate

    migrate(settings.db_url)
    return make_engine(settings.db_url, name="parley-cli", pool_size=settings.db_pool_size)
