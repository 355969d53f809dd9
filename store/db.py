"""Engines, sessions and migrations for SQLite (the default) and PostgreSQL (production).

`make_engine` tunes each backend once: SQLite gets WAL, a busy timeout, foreign keys, transactions that
Parley opens itself (so a writer can take the write lock up front with `session(write=True)`) and, for a
file, writers that take turns (store.sqlite_turns); PostgreSQL always goes through psycopg 3, each
connection named for the process that holds it (`application_name`: pg_stat_activity says whose it is).
A pooled connection is pinged before use only when it has sat idle for `PING_AFTER_IDLE_S`: one that was
in use a moment ago is alive or the store has just gone down, and the statement itself then fails,
with the same error and the same invalidation as a failed ping (see `_ping_when_idle`). `migrate` runs
Alembic's `upgrade head` in-process.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, CursorResult, Engine, Result, Table, create_engine, event
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, Dialect, make_url
from sqlalchemy.exc import IntegrityError, InvalidatePoolError
from sqlmodel import Session

from store.sqlite_turns import WriterTurns

HERE = Path(__file__).resolve().parent
ALEMBIC_INI = HERE / "alembic.ini"
MIGRATIONS = HERE / "migrations"

# A Session execution option read by the SQLite "begin" hook: take the write lock at BEGIN.
_IMMEDIATE = "parley_sqlite_immediate"
_TURN = "parley_sqlite_turn"  # in a connection's info while it holds the write turn
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")
_IDLE_SINCE = "parley_idle_since"  # in a pooled connection's info: when it was last given back
PING_AFTER_IDLE_S = 1.0
POOL_SIZE = 10  # store connections a process keeps open (PARLEY_DB_POOL_SIZE)


def normalize_url(url: str | URL) -> URL:
    """The URL SQLAlchemy should use: plain `postgresql://` (or `postgres://`) means psycopg 3."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str, *, sqlite_busy_s: float = 5.0, name: str = "parley", pool_size: int = POOL_SIZE,
                **kwargs: Any) -> Engine:
    """An engine for `url` (SQLite file, SQLite memory or PostgreSQL), ready for Parley's sessions; on SQLite a
    writer waits up to `sqlite_busy_s` for the write lock. The pool keeps `pool_size` connections open, opening
    half as many again for a burst (closed as they come back): a connection opened costs PostgreSQL a server
    process, SQLite its file opened and set up. On PostgreSQL, `name` says whose connections they are
    (`application_name`: "parley-api", "parley-worker", …)."""
    parsed = normalize_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if kwargs.get("poolclass") is None and not (sqlite and _in_memory(parsed.database or "")):
        kwargs = {"pool_size": pool_size, "max_overflow": pool_size // 2, **kwargs}
    if sqlite:
        engine = _sqlite_engine(parsed, busy_ms=round(sqlite_busy_s * 1000), **kwargs)
    else:
        connect_args = {"application_name": name, **kwargs.pop("connect_args", {})}
        engine = create_engine(parsed, connect_args=connect_args, **kwargs)
    _ping_when_idle(engine)
    _count_connections(engine)
    return engine


_OPENED: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()
_OPENED_LOCK = threading.Lock()  # connections are opened from many threads at once


def _count_connections(engine: Engine) -> None:
    _OPENED[engine] = 0

    @event.listens_for(engine, "connect")
    def _opened(_dbapi_connection: Any, _record: Any) -> None:
        with _OPENED_LOCK:
            _OPENED[engine] = _OPENED.get(engine, 0) + 1


def pool_state(engine: Engine) -> tuple[int, int, int]:
    """(connections opened since the engine was made, in use now, idle in the pool now)."""
    pool = engine.pool
    in_use = pool.checkedout() if hasattr(pool, "checkedout") else 0
    idle = pool.checkedin() if hasattr(pool, "checkedin") else 0
    return _OPENED.get(engine, 0), in_use, idle


def _ping_when_idle(engine: Engine) -> None:
    """SQLAlchemy's `pool_pre_ping`, for connections idle over `PING_AFTER_IDLE_S` only: on PostgreSQL a ping
    is a round trip to the server, and a busy process checks a connection out for every unit of work. A dead
    one found here is replaced, with every connection pooled before it (the pool tries again); a statement on
    a dead one the ping skipped fails as a statement does when the store goes down, and SQLAlchemy then
    replaces every connection of the pool."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _given_back(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:  # new, or in use a moment ago
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if dialect.is_disconnect(exc, dbapi_connection, None):
                raise InvalidatePoolError(f"a pooled connection idle for {time.monotonic() - since:.1f} s is gone: "
                                          "the pool connects anew") from exc
            raise


def _sqlite_engine(url: URL, busy_ms: int, **kwargs: Any) -> Engine:
    database = url.database or ""
    connect_args = {"check_same_thread": False, **kwargs.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **kwargs)
    turns = None
    if not _in_memory(database) and not database.startswith("file:"):
        path = Path(database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        turns = WriterTurns(path, busy_ms / 1000)
        weakref.finalize(engine, turns.close)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling defers BEGIN and cannot BEGIN IMMEDIATE; we emit BEGIN
        # ourselves in the "begin" hook below (the recipe from SQLAlchemy's SQLite documentation).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if database and database != ":memory:":
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        if immediate and turns is not None:
            _take_turn(conn.info, turns)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    if turns is not None:
        @event.listens_for(engine, "before_cursor_execute")
        def _before_write(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
            if _TURN not in conn.info and statement.lstrip()[:6].upper() in _WRITES:  # a deferred transaction's
                _take_turn(conn.info, turns)

        # committed or rolled back by now (or the connection is lost): the next writer finds the lock free
        @event.listens_for(engine, "checkin")
        @event.listens_for(engine, "invalidate")
        def _give_turn(_dbapi_connection: Any, record: Any, *_: Any) -> None:
            if record is not None and record.info.pop(_TURN, None) is not None:
                turns.give()

    return engine


def _in_memory(database: str) -> bool:
    return database in ("", ":memory:") or "mode=memory" in database


def _take_turn(info: dict[Any, Any], turns: WriterTurns) -> None:
    turns.take()
    info[_TURN] = turns


@contextmanager
def session(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """A unit of work: commits when the block ends normally, rolls back when it raises.

    `write=True` marks a read-then-write transaction: on SQLite it takes the write lock at BEGIN
    (waiting up to the busy timeout) instead of failing when it later upgrades a stale read lock.
    Objects stay usable after the block (no expiry on commit).
    """
    options = {_IMMEDIATE: True} if write and engine.dialect.name == "sqlite" else {}
    with Session(engine, expire_on_commit=False, execution_options=options) as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def alembic_config(url: str) -> Config:
    """An Alembic configuration for `url`, independent of the current directory."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["url"] = url
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (creating the SQLite file's folder if needed)."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
            connection.commit()
    finally:
        engine.dispose()


def rowcount(result: Result[Any]) -> int:
    """Rows matched by an INSERT/UPDATE/DELETE executed through a Session."""
    return cast(CursorResult[Any], result).rowcount


def changed(s: Session, stmt: Any, values: dict[str, Any]) -> bool:
    """Run an INSERT .. ON CONFLICT statement with `values`; True when it inserted or updated a row.

    With an autoincrement key PostgreSQL answers through RETURNING, whose rowcount reads -1; so wherever
    the dialect can, the statement returns its key (`returning_key`) and a row back means a row written.
    """
    result = s.execute(stmt, values)
    if s.get_bind().dialect.insert_returning:
        return result.first() is not None
    return rowcount(result) > 0


def returning_key(stmt: Any, dialect: Dialect, key: Any) -> Any:
    """`stmt`, a statement built once, returning `key` where the dialect can (for `changed`)."""
    return _returning_key(stmt, dialect.insert_returning, key)


def insert_or_ignore(s: Session, table: Table, values: dict[str, Any], conflict: list[str]) -> bool:
    """INSERT a row unless one with the same `conflict` key exists; True when it was inserted.

    Safe against a concurrent writer of the same key (a retried activity running twice): on SQLite
    and PostgreSQL it is `INSERT .. ON CONFLICT DO NOTHING`, elsewhere a savepoint catches the
    duplicate. The statement is built once per table and key, its values bound at execution: building
    it with the values in it cost more CPU than running it.
    """
    dialect = s.get_bind().dialect
    if dialect.name in ("sqlite", "postgresql"):
        stmt = _ignoring(dialect.name, table, tuple(conflict))
        return changed(s, returning_key(stmt, dialect, table.c[conflict[0]]), values)
    try:
        with s.begin_nested():
            s.execute(sa_insert(table).values(**values))
    except IntegrityError:
        return False
    return True


def insert_all_or_ignore(s: Session, table: Table, rows: list[dict[str, Any]], conflict: list[str]) -> None:
    """`insert_or_ignore` for many rows, all with the same keys: one executemany where the dialect allows."""
    if not rows:
        return
    dialect = s.get_bind().dialect
    if dialect.name not in ("sqlite", "postgresql"):
        for row in rows:
            insert_or_ignore(s, table, row, conflict)
        return
    s.execute(_ignoring(dialect.name, table, tuple(conflict)), rows)


@lru_cache(maxsize=128)
def _ignoring(dialect: str, table: Table, conflict: tuple[str, ...]) -> Any:
    """`INSERT .. ON CONFLICT (conflict) DO NOTHING` into `table`, on SQLite or PostgreSQL, without values."""
    insert = sqlite_insert if dialect == "sqlite" else pg_insert
    return insert(table).on_conflict_do_nothing(index_elements=list(conflict))


@lru_cache(maxsize=128)
def _returning_key(stmt: Any, returning: bool, key: Any) -> Any:
    return stmt.returning(key) if returning else stmt
