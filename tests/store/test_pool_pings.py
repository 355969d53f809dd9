"""A pooled PostgreSQL connection is pinged only when it sat idle (store.db `_ping_when_idle`), and each
connection says whose it is. Real PostgreSQL; the server ends the backends as a restart would."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from store import db
from store.db import make_engine, session
from tests.pg import fresh_database


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    with fresh_database(pg_server, "parley_pings") as url:
        yield url


@pytest.fixture
def engine(pg_url: str) -> Iterator[Engine]:
    engine = make_engine(pg_url, name="parley-test-pings", pool_size=2)
    yield engine
    engine.dispose()


def backend_pid(engine: Engine) -> int:
    with session(engine) as s:
        return int(s.execute(text("SELECT pg_backend_pid()")).scalar_one())


def end_backends(pg_server: str, name: str) -> int:
    """What a server restart does to the pool: every backend of `name` ended."""
    with psycopg.connect(pg_server, autocommit=True) as conn:
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                            (name,)).fetchall()
    return len(rows)


def test_each_connection_says_whose_it_is(engine: Engine, pg_server: str) -> None:
    with session(engine) as s:
        assert s.execute(text("SELECT current_setting('application_name')")).scalar_one() == "parley-test-pings"
        pid = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
    with psycopg.connect(pg_server, autocommit=True) as conn:
        row = conn.execute("SELECT application_name FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    assert row == ("parley-test-pings",)


def test_an_idle_connection_found_dead_is_replaced_before_use(engine: Engine, pg_server: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    first = backend_pid(engine)
    assert end_backends(pg_server, "parley-test-pings") == 1
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # every pooled connection has sat idle long enough
    second = backend_pid(engine)  # the ping found it gone: a new connection, no error
    assert second != first
    assert backend_pid(engine) == second  # and it is pooled in turn


def test_a_connection_in_use_a_moment_ago_is_not_pinged(engine: Engine, pg_server: str,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    first = backend_pid(engine)
    assert end_backends(pg_server, "parley-test-pings") == 1
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)  # nothing has sat idle that long: no ping
    with pytest.raises(OperationalError):  # the statement meets the dead connection, as it would mid-request
        backend_pid(engine)
    assert backend_pid(engine) != first  # SQLAlchemy replaced the pool's connections: the next unit works
