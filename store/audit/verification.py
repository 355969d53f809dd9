"""Verification: walking every chain, and the digest that catches what a chain cannot show."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from store.audit.chain import GENESIS, canonical, chain_hash
from store.audit.stored import (
    Stored,
    by_event,
    hashes_by_id,
    is_whole,
    max_id,
    read_stored,
    text_problem,
    whole_problem,
)

DIGEST_VERSION = "v1"
DIGEST_CHANGED = "events missing or changed since the digest was taken"
_DIGEST = re.compile(r"^v1:(\d+):(\d+):([0-9a-f]{64})$")
_MAX_ID = 2**31 - 1


# --- digests ---------------------------------------------------------------------------------------

def _digest_bytes(stored: Any) -> bytes:
    """A stored hash as the digest covers it (a damaged one too: verification reports that)."""
    if isinstance(stored, str):
        return stored.encode("utf-8", "surrogateescape")
    if isinstance(stored, bytes | bytearray | memoryview):
        return bytes(stored)
    return b"" if stored is None else str(stored).encode("utf-8")


def _digest_over(session: Session, upto: int) -> tuple[int, str]:
    sha = hashlib.sha256()
    count = 0
    for _id, hash_ in hashes_by_id(session, upto):
        sha.update(_digest_bytes(hash_))
        count += 1
    return count, sha.hexdigest()


def parse_digest(digest: str) -> tuple[int, int, str]:
    """(max_id, count, sha) of a digest; ValueError when it is not one."""
    match = _DIGEST.match(digest.strip())
    if match is None:
        raise ValueError(
            f"malformed digest {digest[:80]!r}: expected 'v1:<max_id>:<count>:<64 hex digits>' "
            "as returned by verify"
        )
    last_id, count = int(match[1]), int(match[2])
    if max(last_id, count) > _MAX_ID:  # event ids are 32-bit integers (PostgreSQL's INTEGER): no digest of ours
        raise ValueError(f"malformed digest {digest[:80]!r}: its numbers are out of range")
    return last_id, count, match[3]


def digest(session: Session) -> str:
    """The digest of the trail as it is now (save it to detect truncation later)."""
    upto = max_id(session)
    count, sha = _digest_over(session, upto)
    return f"{DIGEST_VERSION}:{upto}:{count}:{sha}"


# --- verification ----------------------------------------------------------------------------------

class FirstBad(BaseModel):
    dispute_id: str | None
    seq: int | None
    problem: str
    event_id: int | None = None  # the stored row, when there is one (not for a missing event)


class VerifyResult(BaseModel):
    ok: bool
    events: int
    disputes: int
    digest: str
    first_bad: FirstBad | None = None

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


_NO_DISPUTE_YET = object()


def _check_chains(session: Session, upto: int) -> tuple[int, int, FirstBad | None]:
    """(events, disputes, the first bad event) over the events with id <= upto.

    An event whose dispute id cannot be read belongs to no chain (and leaves a gap in one): it is
    reported before anything else. Within a dispute, an event whose seq cannot be read is reported
    before the chain's own first problem, which is often just the gap that event left.
    """
    events = disputes = 0
    first_bad: FirstBad | None = None
    orphan: FirstBad | None = None
    dispute: Any = _NO_DISPUTE_YET
    key_bad: FirstBad | None = None
    chain_bad: FirstBad | None = None
    expected_seq, prev = 1, GENESIS
    for row in by_event(session, upto):
        events += 1
        if dispute is _NO_DISPUTE_YET or row.dispute_id != dispute:
            first_bad = first_bad or key_bad or chain_bad
            dispute, key_bad, chain_bad = row.dispute_id, None, None
            expected_seq, prev = 1, GENESIS
            disputes += 1
        if orphan is not None:
            continue
        no_dispute = text_problem("dispute_id", row.dispute_id)
        if no_dispute is not None:
            orphan = FirstBad(dispute_id=None, seq=None, event_id=_event_id(row.id),
                              problem=f"event id {row.id} cannot be placed in a chain: {no_dispute}")
            continue
        if first_bad is not None or key_bad is not None:
            continue
        no_seq = whole_problem("seq", row.seq)
        if no_seq is not None:
            key_bad = FirstBad(dispute_id=row.dispute_id, seq=None, event_id=_event_id(row.id),
                               problem=f"event id {row.id} of {row.dispute_id} cannot be placed in its chain: "
                                       f"{no_seq}")
            continue
        if chain_bad is None:
            problem, at_seq = _problem(read_stored(row), expected_seq, prev)
            if problem is not None:
                chain_bad = FirstBad(dispute_id=row.dispute_id, seq=at_seq, problem=problem,
                                     event_id=_event_id(row.id) if at_seq == row.seq else None)
        expected_seq, prev = row.seq + 1, row.hash
    return events, disputes, orphan or first_bad or key_bad or chain_bad


def _event_id(value: Any) -> int | None:
    return value if is_whole(value) else None


def _problem(event: Stored, expected_seq: int, prev: Any) -> tuple[str | None, int]:
    seq: int = event.seq
    if seq > expected_seq:
        missing = f"event {expected_seq} is" if seq == expected_seq + 1 else \
            f"events {expected_seq}..{seq - 1} are"
        return f"{missing} missing (deleted?): the chain jumps to event {seq}", expected_seq
    if seq < expected_seq:
        return f"event {seq} appears twice or out of order (event id {event.id})", seq
    if event.damage is not None:
        return f"event id {event.id} is damaged: {event.damage}", seq
    if event.fields is None or chain_hash(event.prev_hash, canonical(event.fields)) != event.hash:
        detail = f" ({event.unhashable})" if event.unhashable else ""
        return f"hash mismatch: event id {event.id} was changed after it was recorded{detail}", seq
    if event.payload_form is not None:
        return f"event id {event.id} was changed after it was recorded: {event.payload_form}", seq
    if event.prev_hash != prev:
        return (f"broken link: the prev_hash of event id {event.id} does not match the hash of the event "
                "before it (an event was deleted, inserted or replaced)"), seq
    return None, seq


def verify(session: Session, digest: str | None = None) -> VerifyResult:
    """Check every chain and, with a saved `digest`, that no event it covers went missing or changed.

    Raises ValueError for a malformed digest.
    """
    saved = parse_digest(digest) if digest is not None else None
    upto = max_id(session)
    events, disputes, first_bad = _check_chains(session, upto)
    count, sha = _digest_over(session, upto)
    if saved is not None:
        saved_upto, saved_count, saved_sha = saved
        then = (count, sha) if saved_upto == upto else _digest_over(session, saved_upto)
        if then != (saved_count, saved_sha) and first_bad is None:
            first_bad = FirstBad(dispute_id=None, seq=None, problem=DIGEST_CHANGED)
    return VerifyResult(ok=first_bad is None, events=events, disputes=disputes,
                        digest=f"{DIGEST_VERSION}:{upto}:{count}:{sha}", first_bad=first_bad)


