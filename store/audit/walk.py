"""Walking the chains: every event in (dispute_id, seq) order, checked against the one before it and
against the heads signed checkpoints hold.

Each event is checked in one of three ways, all of them over the bytes as stored:

- **signed** (its chain was signed through it): its canonical text is rebuilt from the stored values with
  the stored payload text in place (`chain.event_text`), hashed with the stored prev_hash, and must give
  the stored hash, link to the event before it and, where a checkpoint signed it, equal the signed head.
  The payload is not parsed: the chain of hashes up to a signed head fixes every byte of every event
  before it, and nothing was signed that did not pass the full check below when it was signed.
- **unsigned**: the same, and its payload must also be a JSON object written in the canonical form of
  one hash rule (which the signature stands for in the signed case).
- when either check fails, `stored.read_stored` and `problem` look at the event value by value and say
  what is wrong in plain words (the answer is the same as the first two would give; only slower).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from pydantic import BaseModel
from sqlmodel import Session

from store.audit.chain import _EVENT, GENESIS, _quote, chain_hash, event_text, payload_rule
from store.audit.stored import (
    EventRow,
    Stored,
    UndecodableText,
    event_rows,
    is_whole,
    read_stored,
    text_problem,
    whole_problem,
)

_V1 = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode
_SQLITE_AT = re.compile(r"[1-9]\d{3}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}")  # as SQLAlchemy stores a DATETIME
_sha256 = hashlib.sha256


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODE = json.JSONDecoder(parse_constant=_not_a_number).decode


class FirstBad(BaseModel):
    dispute_id: str | None
    seq: int | None
    problem: str
    event_id: int | None = None  # the stored row, when there is one (not for a missing event)


class SignedThrough(BaseModel):
    """The latest checkpoint that verified: what verification vouches for."""

    checkpoint: int
    at: str
    max_event_id: int
    events: int
    chains: int
    key: str  # the public key (raw, base64) that signed it


class Point(NamedTuple):
    """A chain's head as a checkpoint signed it (a tuple: a million-event trail has a hundred thousand)."""

    seq: int
    hash: str
    checkpoint: int


# --- the time of a stored event, as the hash covers it ---------------------------------------------
# Rows are plain tuples in `stored.EventRow` order. `check` is False for a signed event: its bytes are
# fixed by the signed head, so the time only has to map one-to-one onto the text that was hashed;
# unsigned, it must be a real time too, as `stored.read_stored` would read it. A year before 1000 (which
# Parley never writes) takes the slow path, where `iso` decides its form.

ID, DISPUTE, SEQ, AT, ACTOR, ACTION, TIER, PAYLOAD, VERSION, PREV, HASH, AT_UTC = range(12)


def at_sqlite(row: tuple[Any, ...], check: bool) -> str | None:
    at = row[AT]
    if type(at) is not str or len(at) != 26 or at[10] != " " or at[0] == "0":
        return None
    if check:
        if not _SQLITE_AT.fullmatch(at):
            return None
        try:
            datetime.fromisoformat(at)  # a real date and time, not 2025-02-30
        except ValueError:
            return None
    return f"{at[:10]}T{at[11:]}Z"


def at_utc(row: tuple[Any, ...], check: bool) -> str | None:
    """PostgreSQL's `at_utc` (to_char of the UTC time; NULL when unusable), and an export's time (checked
    when it was read)."""
    utc = row[AT_UTC]
    if type(utc) is not str or len(utc) != 26 or utc[10] != "T" or utc[0] == "0":
        return None
    return utc + "Z"


TimeOf = Callable[[tuple[Any, ...], bool], "str | None"]


def sound(row: tuple[Any, ...], expected_seq: int, prev: str, at_of: TimeOf, check_form: bool) -> bool:
    """Whether the event is whole and in place; False leaves it to `problem` to say what is wrong."""
    (_, dispute, seq, _, actor, action, tier, payload, version, prev_hash, hash_) = row[:11]
    if seq != expected_seq or prev_hash != prev:
        return False
    if (type(tier) is not int or type(actor) is not str or type(action) is not str or type(version) is not str
            or type(payload) is not str):
        return False
    at = at_of(row, check_form)
    if at is None:
        return False
    if check_form:
        try:
            value = _DECODE(payload)
        except (ValueError, RecursionError):
            return False
        if type(value) is not dict:
            return False
        try:
            same = _V1(value) == payload
        except (ValueError, RecursionError):
            same = False
        if not same and payload_rule(value, payload) is None:
            return False
    try:
        text_ = _EVENT % (_quote(action), _quote(actor), at, _quote(version), _quote(dispute), payload, seq, tier)
        made: str = _sha256((prev + text_).encode("utf-8")).hexdigest()
    except UnicodeEncodeError:  # text that was not UTF-8 (read with its bytes escaped)
        return False
    return bool(made == hash_)


def problem(event: Stored, expected_seq: int, prev: Any) -> tuple[str | None, int]:
    """What is wrong with a stored event, in plain words, and the seq it concerns."""
    seq: int = event.seq
    if seq > expected_seq:
        missing = f"event {expected_seq} is" if seq == expected_seq + 1 else \
            f"events {expected_seq}..{seq - 1} are"
        return f"{missing} missing (deleted?): the chain jumps to event {seq}", expected_seq
    if seq < expected_seq:
        return f"event {seq} appears twice or out of order (event id {event.id})", seq
    if event.damage is not None:
        return f"event id {event.id} is damaged: {event.damage}", seq
    fields = event.fields
    if fields is None or not any(
            chain_hash(event.prev_hash, event_text(fields["dispute_id"], seq, fields["at"], fields["actor"],
                                                   fields["action"], fields["tier"], text_,
                                                   fields["charter_version"])) == event.hash
            for text_ in event.payload_texts):
        detail = f" ({event.unhashable})" if event.unhashable else ""
        return f"hash mismatch: event id {event.id} was changed after it was recorded{detail}", seq
    if event.payload_form is not None:
        return f"event id {event.id} was changed after it was recorded: {event.payload_form}", seq
    if event.prev_hash != prev:
        return (f"broken link: the prev_hash of event id {event.id} does not match the hash of the event "
                "before it (an event was deleted, inserted or replaced)"), seq
    return None, seq


def event_id(value: Any) -> int | None:
    return value if is_whole(value) else None


def _short(value: Any) -> str:
    return f"{value[:12]}…" if isinstance(value, str) else repr(value)


@dataclass
class Walked:
    events: int = 0
    disputes: int = 0
    unsigned: int = 0
    first_bad: FirstBad | None = None
    heads: dict[str, tuple[int, str]] = field(default_factory=dict)  # chains that verified: (seq, hash)
    bad: dict[str, FirstBad] = field(default_factory=dict)  # chains that did not (every_chain only)


_NO_DISPUTE_YET = object()


class Walk:
    """One pass over events in (dispute_id, seq) order.

    An event whose dispute id cannot be read belongs to no chain (and leaves a gap in one): it is reported
    before anything else. Within a dispute, an event whose seq cannot be read is reported before the
    chain's own first problem, which is often just the gap that event left. By default the walk stops
    checking after the first bad chain (it still counts); `every_chain` checks them all (for signing).
    `complete` says the walk saw every chain, so a signed chain it did not see is missing.
    """

    def __init__(self, at_of: TimeOf, points: Mapping[str, list[Point]] | None = None, *,
                 every_chain: bool = False, complete: bool = True) -> None:
        self.at_of = at_of
        self.points = points or {}
        self.every_chain = every_chain
        self.complete = complete
        self.out = Walked()
        self.orphan: FirstBad | None = None
        self.first_bad: FirstBad | None = None
        self.seen: set[str] = set()
        self._dispute: Any = _NO_DISPUTE_YET
        self._readable = False
        self._key_bad: FirstBad | None = None
        self._chain_bad: FirstBad | None = None
        self._expected, self._prev, self._last_seq = 1, GENESIS, 0
        self._chain_points: list[Point] = []
        self._next_point = 0
        self._signed_upto = 0

    @classmethod
    def store(cls, session: Session, upto: int, points: Mapping[str, list[Point]] | None = None,
              changed_since: int | None = None, **options: bool) -> Walked:
        """A walk over the stored events with id <= upto (only the chains changed since an id, if given).

        A sound trail is vouched for by the fast walk (`store.audit.fast`); anything else is walked again here,
        event by event, to say what is wrong."""
        from store.audit import fast

        walked = fast.store(session, upto, points, changed_since, complete=options.get("complete", True))
        if walked is not None:
            return walked
        at_of = at_utc if session.get_bind().dialect.name == "postgresql" else at_sqlite
        try:  # text at the driver's speed; should some not be UTF-8, again with its bytes escaped
            return cls(at_of, points, **options).run(event_rows(session, upto, changed_since, lenient=False))
        except UndecodableText:
            return cls(at_of, points, **options).run(event_rows(session, upto, changed_since, lenient=True))

    def run(self, rows: Iterable[tuple[Any, ...]]) -> Walked:
        """`feed` every row; the next event of a chain that is sound so far is checked right here (the
        common case, a million times over), anything else goes through `feed`."""
        out, at_of, feed = self.out, self.at_of, self.feed
        for row in rows:
            seq = row[SEQ]
            if (row[DISPUTE] == self._dispute and self._chain_bad is None and self._key_bad is None
                    and self._readable and self.orphan is None and self.first_bad is None and type(seq) is int
                    and sound(row, self._expected, self._prev, at_of, seq > self._signed_upto)):
                out.events += 1
                if seq > self._signed_upto:
                    out.unsigned += 1
                elif self._next_point < len(self._chain_points):
                    self._at_point(row, seq)
                self._expected, self._prev, self._last_seq = seq + 1, row[HASH], seq
            else:
                feed(row)
        return self.finish()

    def feed(self, row: tuple[Any, ...]) -> None:
        out = self.out
        out.events += 1
        dispute = row[DISPUTE]
        if self._dispute is _NO_DISPUTE_YET or dispute != self._dispute:
            self._end_chain()
            self._start_chain(dispute)
        seq = row[SEQ]
        if not (self._readable and type(seq) is int and seq <= self._signed_upto):
            out.unsigned += 1
        if self.orphan is not None and not self.every_chain:
            return
        if not self._readable:
            if self.orphan is None:
                self.orphan = FirstBad(dispute_id=None, seq=None, event_id=event_id(row[ID]),
                                       problem=f"event id {row[ID]} cannot be placed in a chain: "
                                               f"{text_problem('dispute_id', dispute)}")
            return
        if (self.first_bad is not None and not self.every_chain) or self._key_bad is not None:
            return
        if not is_whole(seq):
            self._key_bad = FirstBad(dispute_id=dispute, seq=None, event_id=event_id(row[ID]),
                                     problem=f"event id {row[ID]} of {dispute} cannot be placed in its chain: "
                                             f"{whole_problem('seq', seq)}")
            return
        if self._chain_bad is None:
            signed = seq <= self._signed_upto
            if sound(row, self._expected, self._prev, self.at_of, not signed):
                self._at_point(row, seq)
            else:
                found, at_seq = problem(read_stored(EventRow(*row)), self._expected, self._prev)
                if found is None:  # the fast check and the slow one disagree: say so rather than pass it
                    found = f"hash mismatch: event id {row[ID]} was changed after it was recorded"
                self._chain_bad = FirstBad(dispute_id=dispute, seq=at_seq, problem=found,
                                           event_id=event_id(row[ID]) if at_seq == seq else None)
        self._expected, self._prev, self._last_seq = seq + 1, row[HASH], seq

    def _start_chain(self, dispute: Any) -> None:
        self._dispute = dispute
        self.out.disputes += 1
        self._readable = text_problem("dispute_id", dispute) is None
        self._key_bad = self._chain_bad = None
        self._expected, self._prev, self._last_seq = 1, GENESIS, 0
        self._chain_points = list(self.points.get(dispute, ())) if self._readable else []
        self._next_point = 0
        self._signed_upto = self._chain_points[-1].seq if self._chain_points else 0
        if self._readable:
            self.seen.add(dispute)

    def _at_point(self, row: tuple[Any, ...], seq: int) -> None:
        points = self._chain_points
        i = self._next_point
        if i >= len(points) or points[i].seq != seq:
            return
        point = points[i]
        self._next_point = i + 1
        if row[HASH] == point.hash:
            return
        before = f"; event {points[i - 1].seq} still matches checkpoint {points[i - 1].checkpoint}, so the change " \
                 f"lies after it" if i > 0 else ""
        self._chain_bad = FirstBad(
            dispute_id=row[DISPUTE], seq=seq, event_id=event_id(row[ID]),
            problem=(f"event {seq} of {row[DISPUTE]} (event id {row[ID]}) is not the event checkpoint "
                     f"{point.checkpoint} signed: its hash is {_short(row[HASH])}, the signed one "
                     f"{_short(point.hash)}. "
                     f"It, or an event before it, was changed, inserted or deleted after it was signed{before}"))

    def _end_chain(self) -> None:
        if self._dispute is _NO_DISPUTE_YET or not self._readable:
            return
        dispute = self._dispute
        checked = self.every_chain or self.first_bad is None
        if checked and self._key_bad is None and self._chain_bad is None and self._signed_upto > self._last_seq:
            last = self._chain_points[-1]
            first = self._last_seq + 1
            missing = f"event {first} is" if first == last.seq else f"events {first}..{last.seq} are"
            self._chain_bad = FirstBad(
                dispute_id=dispute, seq=first,
                problem=f"{missing} missing (deleted?): checkpoint {last.checkpoint} signed {dispute} through "
                        f"event {last.seq}")
        bad = self._key_bad or self._chain_bad
        if bad is not None:
            if self.every_chain:
                self.out.bad[dispute] = bad
            self.first_bad = self.first_bad or bad
        elif checked and self._last_seq > 0:
            self.out.heads[dispute] = (self._last_seq, self._prev)

    def finish(self) -> Walked:
        self._end_chain()
        self._dispute = _NO_DISPUTE_YET
        first = self.orphan or self.first_bad
        if first is None and self.complete:
            for dispute in sorted(set(self.points) - self.seen):
                last = self.points[dispute][-1]
                first = FirstBad(dispute_id=dispute, seq=1,
                                 problem=f"every event of {dispute} is missing (deleted?): checkpoint "
                                         f"{last.checkpoint} signed it through event {last.seq}")
                break
        self.out.first_bad = first
        return self.out
