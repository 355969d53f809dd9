"""Users and their API tokens (used by the API's admin routes, the CLI and the demo seed)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from domain.errors import InvalidInput, NotFound, WrongState
from domain.model import Actor, Role
from domain.model.fields import EMAIL_PATTERN
from store.tables import ApiToken, User


@dataclass(frozen=True)
class IssuedToken:
    id: str
    secret: str


def new_token() -> tuple[str, str, str]:
    """A new token: (public id, secret to hand out once, hash to store)."""
    secret = f"prl_{secrets.token_urlsafe(24)}"
    return f"tok_{secrets.token_hex(6)}", secret, hash_token(secret)


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_user(session: Session, *, email: str, name: str, role: Role, channel: str | None = None,
                partner_org: str | None = None, region: str | None = None, segment: str | None = None,
                slack_user_id: str | None = None, notify: str | None = None,
                manager_email: str | None = None) -> tuple[User, IssuedToken]:
    """Create a user and their first token (its secret is shown once, never stored). `manager_email` is
    who manages them (they never adjudicate this user's disputes); the manager need not be a user yet."""
    email = email.strip().lower()
    manager_email = (manager_email or "").strip().lower() or None
    if manager_email is not None and not re.match(EMAIL_PATTERN, manager_email):
        raise InvalidInput(f"manager_email: {manager_email!r} is not a valid e-mail address", field="manager_email")
    if manager_email == email:
        raise InvalidInput("manager_email: nobody manages themselves", field="manager_email")
    if session.exec(select(User).where(User.email == email)).first():
        raise WrongState(f"a user with e-mail {email} already exists")
    if role == Role.rep and channel not in ("direct", "partner"):
        raise InvalidInput("a rep needs channel 'direct' or 'partner'", field="channel")
    if channel == "partner" and not partner_org:
        raise InvalidInput("a partner user needs partner_org", field="partner_org")
    slack_user_id = slack_user_id or None  # "" links no Slack user (the column is unique)
    if slack_user_id and session.exec(select(User).where(User.slack_user_id == slack_user_id)).first():
        raise WrongState(f"Slack user {slack_user_id} is already linked to another user")
    user = User(email=email, name=name, role=role.value, channel=channel, partner_org=partner_org,
                region=region, segment=segment, slack_user_id=slack_user_id, notify=notify,
                manager_email=manager_email, created_at=datetime.now(UTC))
    session.add(user)
    session.flush()
    return user, issue_token(session, user, label="initial")


def issue_token(session: Session, user: User, label: str = "") -> IssuedToken:
    token_id, secret, digest = new_token()
    assert user.id is not None
    session.add(ApiToken(id=token_id, user_id=user.id, token_hash=digest, label=label,
                         created_at=datetime.now(UTC)))
    return IssuedToken(id=token_id, secret=secret)


_BY_EMAIL = select(User).where(col(User.email) == bindparam("email"))  # built once (each filing asks it)


def user_by_email(session: Session, email: str) -> User | None:
    return session.exec(_BY_EMAIL, params={"email": email.strip().lower()}).first()


def set_notify(session: Session, user: User, notify: str | None) -> None:
    """Store a user's `notify` preference (None: back to the default)."""
    user.notify = notify
    session.add(user)


# Built once: every API request asks it, and building the statement cost more than running it.
_BY_TOKEN = select(User).join(ApiToken).where(col(ApiToken.token_hash) == bindparam("token_hash"),
                                              col(ApiToken.revoked_at).is_(None))


def user_by_token(session: Session, secret: str) -> User | None:
    """The user of a token that is not revoked (looked up every time: a revocation counts at once)."""
    return session.exec(_BY_TOKEN, params={"token_hash": hash_token(secret)}).first()


def tokens_of(session: Session, user_id: int) -> list[ApiToken]:
    """A user's tokens, revoked ones too, oldest first."""
    query = select(ApiToken).where(col(ApiToken.user_id) == user_id).order_by(col(ApiToken.created_at),
                                                                               col(ApiToken.id))
    return list(session.exec(query))


def revoke_token(session: Session, token_id: str, by: User) -> None:
    token = session.get(ApiToken, token_id)
    if token is None or (by.role != Role.admin and token.user_id != by.id):
        raise NotFound(f"no token {token_id}")
    if token.revoked_at is not None:
        raise WrongState(f"token {token_id} is already revoked")
    token.revoked_at = datetime.now(UTC)
    session.add(token)


def actor_of(user: User) -> Actor:
    return Actor(email=user.email, role=Role(user.role), name=user.name)


def all_users(session: Session) -> list[User]:
    """Every user, by e-mail (the admin's settings page)."""
    return list(session.exec(select(User).order_by(User.email)))
