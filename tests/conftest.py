"""Fixtures shared by the whole suite.

`db_url` is a migrated, empty database, once on SQLite (a file under tmp_path) and once on a fresh
PostgreSQL database created for the test and dropped after it. The PostgreSQL server is
postgresql://postgres@127.0.0.1:5432/postgres unless PARLEY_TEST_PG_URL says otherwise; when it
cannot be reached the PostgreSQL cases are skipped, or fail when CI is set.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from store.db import make_engine, migrate
from tests.harness.temporal import temporal_env
from tests.pg import fresh_database

__all__ = ["temporal_env"]  # one Temporal dev server for the session, for every folder that needs one

PG_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _libpq(url: str) -> str:
    """The URL psycopg understands (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The PostgreSQL server URL (an admin database), after checking that it answers."""
    url = _libpq(os.environ.get("PARLEY_TEST_PG_URL") or PG_SERVER_URL)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        message = f"PostgreSQL is not reachable at {make_url(url).render_as_string()}: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables yet) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'parley.db'}"
        return
    with fresh_database(request.getfixturevalue("pg_server"), "parley_test") as url:
        yield url


@pytest.fixture
def db_url(blank_db_url: str) -> str:
    """A database with every migration applied, on SQLite and on PostgreSQL."""
    migrate(blank_db_url)
    return blank_db_url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


# --- leaving the process ------------------------------------------------------------------------
# The Temporal SDK's Rust threads can abort the interpreter while it finalizes, after every test
# has passed ("PyGILState_Release", exit 134; sdk-python issue #300, open). Once pytest has
# reported, leave with its own exit status without finalizing.
_exit_status = 0


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    if os.environ.get("PARLEY_TEST_NO_FAST_EXIT"):
        return
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status)
