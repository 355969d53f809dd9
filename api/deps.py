"""FastAPI dependencies: settings, the store session, Temporal, and the signed-in user."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, TypeVar, cast

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from temporalio.client import Client

from domain.charter import Charter
from domain.errors import Forbidden, NotAuthenticated, Unavailable
from domain.model import Role
from domain.plain_words import a_role
from service.disputes import ADMIN_EMAIL, Service
from settings import Settings
from store import charters
from store.tables import User
from store.users import user_by_token

log = logging.getLogger(__name__)
T = TypeVar("T")
bearer = HTTPBearer(auto_error=False, description="A Parley API token")


# The dependencies that only look at the app's state are `async def`: FastAPI runs a plain `def` dependency in
# its thread pool, a hop that costs more CPU than the lookup itself. (`get_now`, `get_service` and
# `get_charter` stay plain functions: the web pages call them directly.)

async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_now(request: Request) -> datetime:
    """This moment by the app's clock: the real one, or the one a test pinned (`create_app(clock=…)`)."""
    now: datetime = request.app.state.clock()
    return now


async def now_dep(request: Request) -> datetime:
    return get_now(request)


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def get_session(engine: Annotated[Engine, Depends(get_engine)]) -> Iterator[Session]:
    with Session(engine) as session:
        yield session


async def get_temporal(request: Request) -> Client:
    return await reach_temporal(request.app.state)


async def reach_temporal(state: Any) -> Client:
    """The Temporal client; 503 (never 500) while Temporal cannot be reached. Nothing was sent yet."""
    if (connected := getattr(state.temporal, "connected", None)) is not None:
        return cast(Client, connected)  # the usual case: no deadline to set for what is already there
    settings: Settings = state.settings
    try:
        client: Client = await asyncio.wait_for(state.temporal.get(), settings.answer_within_s)
    except Exception as exc:  # connecting failed, whatever the reason (refused, timed out, TLS, ...)
        log.warning("Temporal at %s is not reachable: %r", settings.temporal_target, exc)
        raise Unavailable(f"Temporal is not reachable right now ({type(exc).__name__}); nothing was applied: "
                          "retry (with the same Idempotency-Key) shortly") from exc
    return client


def ensure_charter_registered(state: Any) -> None:
    """Store the API's charter version and its change-log entry, once (the store may have been down
    when the API started)."""
    if state.charter_registered:
        return
    text, reason = state.charter_source
    with Session(state.engine) as session:
        try:
            charters.register(session, state.charter, text, by="system:api", reason=reason)
            session.commit()
        except IntegrityError:  # another request (or API process) registered it first
            session.rollback()
    state.charter_registered = True


def get_charter(request: Request) -> Charter:
    return charter_in_force(request.app.state)


def charter_in_force(state: Any) -> Charter:
    """The charter new disputes pin: the version adopted last (this API's own file is adopted first when
    it is new), read from the store so that an adoption reaches every API process at once."""
    with Session(state.engine) as session:
        return charter_in_session(state, session)


def charter_in_session(state: Any, session: Session) -> Charter:
    """`charter_in_force`, asked in a session the caller has open: one small query (the number of the version
    adopted last); the parsed charter of each version is kept (`store.charters.charter_by_version`)."""
    ensure_charter_registered(state)
    charter: Charter = charters.in_force(session) or state.charter
    return charter


def get_service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


async def service_dep(request: Request) -> Service:
    return get_service(request)


SettingsDep = Annotated[Settings, Depends(get_settings)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SessionDep = Annotated[Session, Depends(get_session)]
TemporalDep = Annotated[Client, Depends(get_temporal)]
CharterDep = Annotated[Charter, Depends(get_charter)]
NowDep = Annotated[datetime, Depends(now_dep)]
ServiceDep = Annotated[Service, Depends(service_dep)]
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def authenticate(session: Session, settings: Settings, secret: str) -> User:
    if settings.admin_token and secret == settings.admin_token:
        return User(id=0, email=ADMIN_EMAIL, name="Bootstrap admin", role=Role.admin.value)
    user = user_by_token(session, secret)
    if user is None:
        raise NotAuthenticated("the bearer token is unknown or revoked")
    return user


def secret_of(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise NotAuthenticated("missing credentials: send 'Authorization: Bearer <token>'")
    return credentials.credentials


def current_user(engine: EngineDep, settings: SettingsDep, credentials: BearerDep) -> User:
    secret = secret_of(credentials)
    # A session of its own, closed at once: a request that then waits on Temporal must not hold
    # a pooled connection meanwhile (concurrent filings would exhaust the pool).
    with Session(engine) as session:
        return authenticate(session, settings, secret)


CurrentUser = Annotated[User, Depends(current_user)]


@dataclass(frozen=True)
class Reader:
    """For a read that waits on nothing else: the bearer token is checked in the very session that then
    reads, in one trip to the thread pool (`CurrentUser` plus `SessionDep` take two sessions and four trips).
    The token is looked up on every request, as `CurrentUser` does: a revoked one fails at once."""

    engine: Engine
    settings: Settings
    secret: str

    async def read(self, work: Callable[[Session, User], T]) -> T:
        """`work(session, user)` for the signed-in user (401 first when the token is unknown or revoked)."""
        return await run_in_threadpool(self._read, work)

    def _read(self, work: Callable[[Session, User], T]) -> T:
        with Session(self.engine) as session:
            return work(session, authenticate(session, self.settings, self.secret))


async def reader(engine: EngineDep, settings: SettingsDep, credentials: BearerDep) -> Reader:
    return Reader(engine=engine, settings=settings, secret=secret_of(credentials))


ReaderDep = Annotated[Reader, Depends(reader)]


def require_role(*roles: Role) -> object:
    async def check(user: CurrentUser) -> User:
        if Role(user.role) not in roles:
            allowed = " or ".join(r.value for r in roles)
            raise Forbidden(f"this needs the {allowed} role; {user.email} is {a_role(user.role)}")
        return user

    return Depends(check)


AdminUser = Annotated[User, require_role(Role.admin)]
AuditorUser = Annotated[User, require_role(Role.auditor, Role.admin)]
