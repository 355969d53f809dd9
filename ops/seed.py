"""Demo users for `make run`: the people the shipped charters route to, with tokens to try."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session

from domain.model import Role
from store.users import create_user, user_by_email

DEMO_USERS: list[dict[str, str]] = [
    {"email": "dana.direct@example.com", "name": "Dana Direct", "role": "rep", "channel": "direct",
     "region": "AMER"},
    {"email": "pat.partner@example.com", "name": "Pat Partner", "role": "rep", "channel": "partner",
     "partner_org": "Acme Partners", "region": "AMER"},
    {"email": "quinn.reseller@example.com", "name": "Quinn Reseller", "role": "rep", "channel": "partner",
     "partner_org": "Bolt Resellers", "region": "EMEA"},
    {"email": "mediator@example.com", "name": "Morgan Mediator", "role": "mediator"},
    {"email": "exec@example.com", "name": "Erin Executive", "role": "executive"},
    {"email": "exec.backup@example.com", "name": "Blake Backup", "role": "executive"},
    {"email": "auditor@example.com", "name": "Avery Auditor", "role": "auditor"},
    {"email": "admin@example.com", "name": "Ada Admin", "role": "admin"},
]


def seed_demo_users(engine: Engine, tokens_file: Path) -> dict[str, str]:
    """Create the demo users that are missing; returns every demo token known (e-mail -> token)."""
    tokens: dict[str, str] = json.loads(tokens_file.read_text()) if tokens_file.exists() else {}
    with Session(engine) as session:
        for spec in DEMO_USERS:
            if user_by_email(session, spec["email"]) is not None:
                continue
            fields = {k: v for k, v in spec.items() if k != "role"}
            _, token = create_user(session, role=Role(spec["role"]), **fields)
            tokens[spec["email"]] = token.secret
        session.commit()
    tokens_file.parent.mkdir(parents=True, exist_ok=True)
    tokens_file.write_text(json.dumps(tokens, indent=2))
    tokens_file.chmod(0o600)
    return tokens
