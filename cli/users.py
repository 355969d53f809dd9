"""`parley users add`: create a user and print their first token."""

from __future__ import annotations

import argparse
import json
import sys

from cli.common import Commands, group, migrated_engine
from settings import Settings


def register(commands: Commands) -> None:
    users = group(commands, "users", "manage users")
    add = users.add_parser("add", help="create a user and print their first token")
    add.set_defaults(run=users_add)
    add.add_argument("--email", required=True)
    add.add_argument("--name", required=True)
    add.add_argument("--role", required=True, choices=["rep", "mediator", "executive", "auditor", "admin"])
    add.add_argument("--channel", choices=["direct", "partner"])
    for opt in ("--partner-org", "--region", "--segment", "--slack-user-id"):
        add.add_argument(opt)
    add.add_argument("--manager-email", help="who manages them: never the adjudicator of their disputes")


def users_add(args: argparse.Namespace, settings: Settings) -> int:
    from sqlmodel import Session

    from domain.errors import ParleyError
    from domain.model import Role
    from store.users import create_user

    with Session(migrated_engine(settings)) as session:
        try:
            user, token = create_user(
                session, email=args.email, name=args.name, role=Role(args.role), channel=args.channel,
                partner_org=args.partner_org, region=args.region, segment=args.segment,
                slack_user_id=args.slack_user_id, manager_email=args.manager_email,
            )
        except ParleyError as exc:
            print(f"error: {exc.message}", file=sys.stderr)
            return 1
        session.commit()
        print(json.dumps({"id": user.id, "email": user.email, "token": token.secret, "token_id": token.id}))
    return 0
