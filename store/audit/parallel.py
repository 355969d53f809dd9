"""Verification on several cores: the chains split into ranges of their ids, each range walked by the fast pass
(`fast.walk`) in a process of its own, while this one reads the digest.

Chains are independent (one per dispute id: the disputes, the `charter` chain, …): an event links only to the
one before it in its own chain, and a signed head names its chain. So the trail splits into ranges of chain ids,
[low, high) in the store's own order (its collation), which its indexes on dispute_id serve; the boundaries are
quantiles of the dispute ids of a sample of the events by id, so each range holds about as many events. Every
process opens its own engine from the store's URL and runs the fast pass over its range with every signed head (a
chain's heads are looked up by its id: the same walk as in one pass), and returns its counts and heads.

The ranges are only trusted when together they vouch for exactly what one pass would: every range sound, no chain
in two ranges, every signed chain walked, and as many events walked as the digest counts up to the same id (an
event no range took, such as one whose dispute id is NULL, shows there). Otherwise, or when anything goes wrong in
a process, `walk` returns None and verification walks the trail in one pass as before (`walk.Walk.store`), which
names the first bad event: the answer is the same in every case, only the time differs.

Starting processes costs about a second of imports (paid once per parent process: the processes fork from a
forkserver that has imported this module), so it is only done over `THRESHOLD` events; never for an in-memory
SQLite store, which another process cannot open. As with any use of `multiprocessing`, a script that verifies a
large trail keeps its own work under `if __name__ == "__main__":` (the processes import it again).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import os
import pickle
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from itertools import accumulate
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from store.audit import fast
from store.audit.walk import Point, Walked
from store.db import make_engine
from store.tables import AUDIT_EVENTS

THRESHOLD = 200_000  # events (the highest id) from which several processes are quicker than one
MAX_PROCESSES = 4  # the default is the CPU count, at most this
SAMPLE = 2_000  # events looked up by id to place the boundaries between ranges
_DRIVERS = ["sqlite3", "sqlalchemy.dialects.sqlite.pysqlite", "psycopg", "sqlalchemy.dialects.postgresql.psycopg"]
_T = AUDIT_EVENTS.c
log = logging.getLogger("parley.audit")


def processes(setting: int | None = None) -> int:
    """How many processes verify (`PARLEY_AUDIT_VERIFY_PROCESSES`; unset: the CPU count, at most MAX_PROCESSES)."""
    if setting is not None:
        return max(1, setting)
    return max(1, min(os.cpu_count() or 1, MAX_PROCESSES))


def store_url(session: Session) -> str | None:
    """The URL another process opens the session's store with; None when it cannot (an in-memory SQLite store,
    another kind of database)."""
    url = session.get_bind().engine.url
    backend = url.get_backend_name()
    if backend == "postgresql":
        return url.render_as_string(hide_password=False)
    if backend == "sqlite":
        database = url.database or ""
        if not database or database == ":memory:" or database.startswith("file:") or url.query.get("mode"):
            return None
        return url.render_as_string(hide_password=False)
    return None


def _context() -> Any:
    """Processes that fork from a forkserver which has imported this module once (spawn where there is none)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    # only takes effect when the forkserver is not running yet: this module, the drivers (an engine loads them on
    # its first connection) and the main script (its imports; its work waits under `if __name__ == "__main__"`), so
    # that a process forked from it imports nothing more; what cannot be imported is skipped
    context.set_forkserver_preload(["__main__", __name__, *_DRIVERS])
    return context


@contextmanager
def pool(session: Session, count: int) -> Iterator[ProcessPoolExecutor | None]:
    """Processes for a parallel walk of the trail, started now (their imports overlap the reading of the
    checkpoints), when it is worth it: `count` > 1, at least THRESHOLD events, a store another process can open;
    otherwise None."""
    if count < 2 or store_url(session) is None:
        yield None
        return
    top = session.execute(select(func.coalesce(func.max(_T.id), 0))).scalar_one()
    if int(top) < THRESHOLD:
        yield None
        return
    try:
        context = _context()
        if context.get_start_method() == "forkserver":
            multiprocessing.forkserver.ensure_running()  # imports in the background from now on
        executor = ProcessPoolExecutor(max_workers=count, mp_context=context)
    except Exception:  # no processes here (a sandbox, a daemon process): one process does it
        log.warning("cannot start processes for audit verification; verifying in one process", exc_info=True)
        yield None
        return
    try:
        yield executor
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def boundaries(session: Session, upto: int, parts: int) -> list[str]:
    """Chain ids that split the events with id <= upto into about `parts` ranges of equal size: the quantiles of
    the dispute ids of a sample of events spread evenly over the ids (fewer when the chains are few)."""
    step = max(1, upto // SAMPLE)
    ids = list(range(1, upto + 1, step))
    # in the store's order, not Python's: the ranges are the store's
    sampled = [value for (value,) in session.execute(select(_T.dispute_id).where(_T.id.in_(ids))
                                                     .order_by(_T.dispute_id)) if type(value) is str]
    cuts: list[str] = []
    for i in range(1, parts):
        cut = sampled[len(sampled) * i // parts] if sampled else None
        if cut is not None and (not cuts or cut != cuts[-1]):
            cuts.append(cut)
    return cuts


class Heads(Mapping[str, list[Point]]):
    """Every signed head of every chain, as the parent hands them to each process: flat lists (pickled and read
    back in a few milliseconds, where a dict of a hundred thousand `Point` lists takes most of a second), a chain's
    points made when the walk comes to it, as plain (seq, hash, checkpoint) tuples (`fast.walk` reads them so)."""

    def __init__(self, points: Mapping[str, list[Point]]) -> None:
        self.chains = list(points)
        self.ends = list(accumulate(len(chain_points) for chain_points in points.values()))
        self.seqs = [point[0] for chain_points in points.values() for point in chain_points]
        self.hashes = [point[1] for chain_points in points.values() for point in chain_points]
        self.numbers = [point[2] for chain_points in points.values() for point in chain_points]
        self._index: dict[str, int] | None = None

    def __getstate__(self) -> tuple[Any, ...]:
        return self.chains, self.ends, self.seqs, self.hashes, self.numbers

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.chains, self.ends, self.seqs, self.hashes, self.numbers = state
        self._index = None

    def _where(self) -> dict[str, int]:
        if self._index is None:
            self._index = dict(zip(self.chains, range(len(self.chains)), strict=True))
        return self._index

    def __getitem__(self, chain: str) -> list[Point]:
        i = self._where()[chain]
        start, end = self.ends[i - 1] if i else 0, self.ends[i]
        return list(zip(self.seqs[start:end], self.hashes[start:end], self.numbers[start:end],
                        strict=True))  # type: ignore[arg-type]  # tuples, read as points

    def __iter__(self) -> Iterator[str]:
        return iter(self.chains)

    def __len__(self) -> int:
        return len(self.chains)


def _walk_range(url: str, upto: int, chains: fast.Chains, heads: bytes) -> Walked | None:
    """In a process of its own: the fast pass over the chains of one range (None: it cannot vouch for them)."""
    points: Heads = pickle.loads(heads)
    engine = make_engine(url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            return fast.store(session, upto, points, None, complete=False, chains=chains)
    finally:
        engine.dispose()


def walk(executor: ProcessPoolExecutor, count: int, session: Session, upto: int,
         points: Mapping[str, list[Point]] | None) -> tuple[Walked, tuple[int, str]] | None:
    """The walk of the events with id <= upto against the signed `points`, in `count` ranges in `executor`'s processes,
    and the digest's (count, sha) read here meanwhile; None when the ranges do not vouch for the trail (walk it in
    one pass then: it says what is wrong)."""
    url = store_url(session)
    if url is None:
        return None
    cuts = boundaries(session, upto, count)
    if not cuts:
        return None
    ranges: list[fast.Chains] = list(zip([None, *cuts], [*cuts, None], strict=True))
    signed = points or {}
    heads = pickle.dumps(Heads(signed), protocol=pickle.HIGHEST_PROTOCOL)  # once, not once per range
    try:
        futures: list[Future[Walked | None]] = [executor.submit(_walk_range, url, upto, chains, heads)
                                                for chains in ranges]
        events, sha = fast.digest_over(session, upto)
        parts = [future.result() for future in futures]
    except Exception:  # a process could not start, died or could not read the store: one pass gives the answer
        log.warning("parallel audit verification failed; verifying in one process", exc_info=True)
        return None
    walked, chains = Walked(), 0
    for part in parts:
        if part is None:  # damage in this range: one pass names the first bad event
            return None
        chains += len(part.heads)
        walked.events += part.events
        walked.disputes += part.disputes
        walked.unsigned += part.unsigned
        walked.heads.update(part.heads)
    if (len(walked.heads) != chains  # a chain in two ranges
            or any(chain not in walked.heads for chain in signed)  # a signed chain no range walked
            or walked.events != events):  # an event no range took, or the trail changed meanwhile
        return None
    return walked, (events, sha)
