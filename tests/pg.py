"""Throw-away PostgreSQL databases for the tests that run the store on PostgreSQL too."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url


@contextmanager
def fresh_database(server: str, prefix: str) -> Iterator[str]:
    """Create an empty database on `server` (a libpq URL), yield its URL, and drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def migrated_database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                      prefix: str) -> Iterator[str]:
    """A migrated database for `request.param` ("sqlite" or "postgresql"), dropped afterwards: what the
    module-scoped `stack_db_url` fixtures of the whole-stack folders yield."""
    from store.db import migrate

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp(f'{prefix}-db') / 'parley.db'}"
        migrate(url)
        yield url
        return
    with fresh_database(request.getfixturevalue("pg_server"), f"parley_{prefix}") as url:
        migrate(url)
        yield url
