"""`parley`: run the stack or its parts, manage users, check the charter, verify the audit trail."""

from __future__ import annotations

import argparse
import os
import sys

from cli import audit, charter, digest, registrations, stack, users
from settings import get_settings

# One module per command group, each with `register(commands)`; the help lists them in this order.
# A new group is a new module here with a `register` function, added to this tuple.
COMMAND_GROUPS = (stack, users, charter, registrations, digest, audit)


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
    commands = p.add_subparsers(required=True, metavar="command")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return p
