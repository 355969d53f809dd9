"""Verification on several processes (`store.audit.parallel`) answers exactly as one process does, on sound trails
and on damaged ones, on both stores; an in-memory SQLite store is never verified in parallel."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from store import audit
from store.audit import checkpoints, parallel, verification
from store.audit.walk import Walked
from store.db import session
from tests.store import test_audit as plain_cases
from tests.store import test_audit_fast as fast_cases

KEY = fast_cases.KEY
A, B, C = fast_cases.A, fast_cases.B, fast_cases.C


class Spy:
    """Records what each parallel walk returned (None: it left the answer to one pass)."""

    def __init__(self) -> None:
        self.results: list[tuple[Walked, tuple[int, str]] | None] = []


@pytest.fixture
def forced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Spy]:
    """Every verification with the default number of processes goes parallel (two processes, from the first
    event); the spy sees what the parallel walks gave."""
    spy = Spy()
    walk = parallel.walk

    def spied(*args: Any, **kwargs: Any) -> tuple[Walked, tuple[int, str]] | None:
        result = walk(*args, **kwargs)
        spy.results.append(result)
        return result

    monkeypatch.setattr(parallel, "THRESHOLD", 0)
    monkeypatch.setattr(parallel, "walk", spied)
    monkeypatch.setattr(verification, "_processes_setting", lambda: 2)
    yield spy


def verify(engine: Engine, processes: int | None, digest: str | None = None, signed: bool = True) -> dict[str, Any]:
    with session(engine) as s:
        return audit.verify(s, digest, KEY.public_key() if signed else None, processes=processes).as_dict()


@pytest.fixture
def trail(engine: Engine) -> Engine:
    """`test_audit_fast`'s trail: A and B signed by checkpoint 1, A's 6 and 7 by checkpoint 2, A's 8 and C
    unsigned; odd times and awkward text (a quote and a % in B's id)."""
    fast_cases.record(engine, A, 1, 5)
    fast_cases.record(engine, B, 1, 3, actor='o"brien\\%s@example.com', at=datetime(2025, 3, 3, 9, 0, 0, tzinfo=UTC))
    assert checkpoints.create(engine, KEY).checkpoint is not None
    fast_cases.record(engine, A, 6, 7, at=datetime(2025, 3, 4, 9, 0, 0, 120000, tzinfo=UTC), action="ruled")
    assert checkpoints.create(engine, KEY).checkpoint is not None
    fast_cases.record(engine, A, 8, 8, payload={"text": "tab\there, \"quoted\", \u2028 and 𝄞", "n": 1.0,
                                                "big": 10**20})
    fast_cases.record(engine, C, 1, 2, charter_version="other@2:%s")
    return engine


def test_a_sound_trail_gets_the_same_answer_in_parallel(trail: Engine, forced: Spy) -> None:
    one = verify(trail, 1)
    assert forced.results == []
    assert one["ok"] and (one["events"], one["disputes"], one["unsigned_events"]) == (13, 3, 3)
    for processes in (None, 2, 3):
        assert verify(trail, processes) == one
    assert len(forced.results) == 3 and all(result is not None for result in forced.results)
    saved = one["digest"]
    fast_cases.record(trail, C, 3, 3)
    grown = verify(trail, 1, saved)
    assert grown["ok"] and verify(trail, None, saved) == grown
    assert verify(trail, None, signed=False) == verify(trail, 1, signed=False)
    assert forced.results[-1] is not None


@pytest.mark.parametrize(("what", "stores", "sql"), fast_cases.TAMPERING, ids=[t[0] for t in fast_cases.TAMPERING])
def test_a_damaged_trail_gets_the_same_answer_in_parallel(trail: Engine, forced: Spy, what: str, stores: list[str],
                                                          sql: str) -> None:
    if trail.dialect.name not in stores:
        pytest.skip(f"{what}: not something {trail.dialect.name} can hold")
    saved = verify(trail, 1)["digest"]
    with trail.begin() as conn:
        conn.execute(text(fast_cases._sqlite_time(sql) if trail.dialect.name == "sqlite" else sql))
    one = verify(trail, 1, saved)
    assert not one["ok"] and one["first_bad"] is not None, what
    assert verify(trail, None, saved) == one, what
    assert forced.results == [None], what  # the ranges gave up: one pass named the first bad event


def test_an_event_that_no_range_takes_is_not_passed_over(engine: Engine, forced: Spy) -> None:
    """An event whose dispute id is NULL is in no range: the parallel walk gives up, one pass reports it."""
    plain_cases.record(engine, plain_cases.A, 5)
    plain_cases.record(engine, plain_cases.B, 3)
    plain_cases.allow_nulls(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET dispute_id = NULL WHERE dispute_id = 'PRL-B' AND seq = 3"))
    one = verify(engine, 1, signed=False)
    assert not one["ok"]
    assert verify(engine, None, signed=False) == one
    assert forced.results == [None]


# --- the cases of test_audit.py, every verification in them in parallel ----------------------------

def _trail_cases() -> list[Any]:
    """Every test of `test_audit` over its trail that verifies, with each of its parameter sets."""
    cases: list[Any] = []
    for name, case in vars(plain_cases).items():
        if not (name.startswith("test_") and callable(case)):
            continue
        params = list(inspect.signature(case).parameters)
        if params[:1] != ["trail"] or "verify(" not in inspect.getsource(case):
            continue
        marks = [mark for mark in getattr(case, "pytestmark", []) if mark.name == "parametrize"]
        if not marks and params == ["trail"]:
            cases.append(pytest.param(case, {}, id=name))
            continue
        if len(marks) != 1:
            continue
        names, values = marks[0].args[0], marks[0].args[1]
        names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
        if names != params[1:]:
            continue
        for i, value in enumerate(values):
            value = value if isinstance(value, tuple) else (value,)
            cases.append(pytest.param(case, dict(zip(names, value, strict=True)), id=f"{name}[{i}]"))
    return cases


@pytest.fixture
def plain_trail(engine: Engine) -> Engine:
    """`test_audit`'s trail: A with 5 events, B with 3."""
    plain_cases.record(engine, plain_cases.A, 5)
    plain_cases.record(engine, plain_cases.B, 3)
    return engine


@pytest.mark.parametrize(("case", "arguments"), _trail_cases())
def test_the_cases_of_test_audit_hold_in_parallel(plain_trail: Engine, forced: Spy, case: Callable[..., None],
                                                   arguments: dict[str, Any]) -> None:
    case(plain_trail, **arguments)
    assert forced.results, "the case verified nothing in parallel"


# --- where it never goes parallel ------------------------------------------------------------------

@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:",
                                 "sqlite:///file:trail?mode=memory&cache=shared&uri=true"])
def test_an_in_memory_store_is_never_verified_in_parallel(url: str, forced: Spy) -> None:
    engine = create_engine(url, poolclass=StaticPool)
    try:
        with Session(engine) as s:
            assert parallel.store_url(s) is None
            with parallel.pool(s, 4) as executor:
                assert executor is None
    finally:
        engine.dispose()


def test_one_process_or_a_small_trail_stays_in_one_pass(trail: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    with session(trail) as s:
        with parallel.pool(s, 1) as executor:
            assert executor is None
        with parallel.pool(s, 4) as executor:  # 13 events: far below the threshold
            assert executor is None
        monkeypatch.setattr(parallel, "THRESHOLD", 0)
        with parallel.pool(s, 2) as executor:
            assert executor is not None


def test_processes_that_fail_leave_the_answer_to_one_pass(trail: Engine, forced: Spy,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    one = verify(trail, 1)

    class Broken(ProcessPoolExecutor):
        def submit(self, *args: Any, **kwargs: Any) -> Any:
            raise OSError("no processes here")

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", Broken)
    assert verify(trail, None) == one
    assert forced.results == [None]


def test_how_many_processes() -> None:
    assert parallel.processes(3) == 3
    assert 1 <= parallel.processes() <= parallel.MAX_PROCESSES
