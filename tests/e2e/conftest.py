"""Fixtures of the whole-stack tests.

`stack` starts `parley up` once per module and backend (the default SQLite store, then a fresh
PostgreSQL database) and always stops it: SIGTERM to the supervisor, then SIGKILL to whatever still
runs with its data dir. When a test that used it failed, the stack's logs (`<data_dir>/logs/*.log`)
are printed at teardown. `api` is a `Parley` client for the demo users.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from tests.e2e.harness import Parley, Stack
from tests.pg import fresh_database

_FAILED = pytest.StashKey[list[str]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        item.config.stash.setdefault(_FAILED, []).append(item.nodeid)
    return report


# --- backends -------------------------------------------------------------------------------------

@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """None for the default SQLite store in the data dir; else a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield None
        return
    # pg_server skips (or fails under CI) when PostgreSQL is unreachable
    with fresh_database(request.getfixturevalue("pg_server"), "parley_e2e") as url:
        yield url


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, database_url: str | None,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    failures_before = len(request.config.stash.get(_FAILED, []))
    the_stack = Stack(tmp_path_factory.mktemp("parley-e2e"), database_url)
    broke = True
    try:
        the_stack.start()
        yield the_stack
        broke = False
    finally:
        the_stack.stop()
        if broke or len(request.config.stash.get(_FAILED, [])) > failures_before:
            _print_uncaptured(request, f"\n----- logs of `parley up` in {the_stack.data_dir} -----\n"
                                       f"{the_stack.log_dump()}\n----- end of logs -----")


def _print_uncaptured(request: pytest.FixtureRequest, text: str) -> None:
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(text, file=sys.stderr)
        return
    with capture.global_and_fixture_disabled():
        print(text, file=sys.stderr, flush=True)


@pytest.fixture
async def api(stack: Stack) -> AsyncIterator[Parley]:
    client = Parley(stack)
    try:
        yield client
    finally:
        await client.aclose()
