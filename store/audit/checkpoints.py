"""Signed checkpoints: what makes the audit trail something a forger with database access cannot extend.

A checkpoint is a JSON object, written in RFC 8785 canonical form (its exact UTF-8 bytes are what is
signed, and are stored as they are), signed with Ed25519 by the key of `PARLEY_AUDIT_SIGNING_KEY`:

    {"at": "2026-01-05T10:00:00.000000Z",          when it was made (UTC)
     "chains": 120, "events": 1532,                 chains and events under the signed heads, in total
     "format": "parley-audit-checkpoint/1",
     "heads": {"PRL-…": {"hash": "…", "seq": 7}, …}, the head of each chain that moved since the previous one
     "key": "<the public key, 32 bytes, base64>",   which key signed it (informative: check with your own)
     "max_event_id": 1611,                          every event with an id up to this was visible then
     "number": 12,                                  1, 2, 3 …
     "previous": "<sha256 hex of checkpoint 11's bytes>"}   "0" * 64 for the first

Together the checkpoints hold the head of every chain: checkpoint n's heads over those of 1..n-1. An event
is signed when its chain's head is signed at or after it; the hashes link it to that head, so changing,
inserting or deleting it changes the head. Verification checks every checkpoint (its signature, its
number, its link to the one before), then walks the chains against the heads (`store.audit.walk`).

A checkpoint is made (`create`) by the worker every PARLEY_AUDIT_CHECKPOINT_EVERY_S seconds when events
were added, by `parley audit checkpoint` and by `POST /api/audit/checkpoints`. It signs only what verifies
in full first: a chain that does not keeps its last signed head (and is reported); checkpoints that do not
verify with the key stop it altogether.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from store.audit import signing
from store.audit.chain import GENESIS, iso
from store.audit.checkpoint_table import AuditCheckpoint
from store.audit.stored import max_id, tolerant_text
from store.audit.walk import FirstBad, Point, SignedThrough, Walk
from store.db import session as write_session
from store.tables import AUDIT_EVENTS

FORMAT = "parley-audit-checkpoint/1"
CHECKPOINTS = AuditCheckpoint.__table__  # type: ignore[attr-defined]
_T = AUDIT_EVENTS.c
_C = CHECKPOINTS.c
log = logging.getLogger("parley.audit")


class CheckpointRefused(Exception):
    """No checkpoint can be made: no key, or the checkpoints already stored do not verify with it."""


@dataclass(frozen=True)
class StoredCheckpoint:
    """A checkpoint as stored or exported: its number (as the row says), its exact bytes, its signature."""

    number: Any
    body: Any
    signature: Any


@dataclass
class Signed:
    """What the checkpoints vouch for, once checked: every signed head of every chain."""

    points: dict[str, list[Point]] = field(default_factory=dict)
    latest: SignedThrough | None = None
    problem: FirstBad | None = None
    count: int = 0
    last_sha: str = GENESIS
    events: int = 0

    def head(self, chain: str) -> int:
        points = self.points.get(chain)
        return points[-1].seq if points else 0


def body_bytes(number: int, previous: str, at: str, max_event_id: int, events: int, chains: int,
               heads: dict[str, tuple[int, str]], key: Ed25519PublicKey) -> bytes:
    """The exact bytes a checkpoint signs (RFC 8785)."""
    return rfc8785.dumps({
        "format": FORMAT, "number": number, "previous": previous, "at": at, "max_event_id": max_event_id,
        "events": events, "chains": chains, "key": signing.public_b64(key),
        "heads": {chain: {"seq": seq, "hash": hash_} for chain, (seq, hash_) in heads.items()},
    })


_HEX64 = re.compile(r"[0-9a-f]{64}")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _claims(body: Any) -> tuple[str | None, int | None]:
    """The first chain head a checkpoint body claims (to name what a forged checkpoint vouches for)."""
    heads = body.get("heads") if isinstance(body, dict) else None
    if isinstance(heads, dict):
        for chain, head in heads.items():
            seq = head.get("seq") if isinstance(head, dict) else None
            return chain, seq if _whole(seq) else None
    return None, None


def fold(stored: Iterable[StoredCheckpoint], key: Ed25519PublicKey) -> Signed:
    """Check the checkpoints in order and gather what they sign; stop at the first that does not verify."""
    out = Signed()
    ours = signing.public_b64(key)
    for item in stored:
        number = out.count + 1
        trouble, body = _check_one(item, number, out, key, ours)
        if trouble is not None:
            chain, seq = _claims(body)
            out.problem = FirstBad(dispute_id=chain, seq=seq, problem=trouble)
            return out
        assert isinstance(body, dict)
        points = out.points
        for chain, head in body["heads"].items():  # a hundred thousand of them in a million-event trail
            point = Point(head["seq"], head["hash"], number)
            if chain in points:
                points[chain].append(point)
            else:
                points[chain] = [point]
        out.count = number
        out.events = body["events"]
        out.last_sha = hashlib.sha256(item.body.encode("utf-8")).hexdigest()
        out.latest = SignedThrough(checkpoint=number, at=body["at"], max_event_id=body["max_event_id"],
                                   events=body["events"], chains=body["chains"], key=ours)
    return out


def _check_one(item: StoredCheckpoint, number: int, out: Signed, key: Ed25519PublicKey,
               ours: str) -> tuple[str | None, Any]:
    name = f"checkpoint {item.number}" if _whole(item.number) else f"checkpoint number {number}"
    if not isinstance(item.body, str) or not isinstance(item.signature, str):
        return f"{name} is damaged: its body or signature is not text", None
    try:
        body = json.loads(item.body)
    except (ValueError, RecursionError):
        return f"{name} is damaged: its body is not JSON", None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        return f"{name} is not a Parley checkpoint ({FORMAT})", body
    made = f" (made {body['at']})" if isinstance(body.get("at"), str) else ""
    if not signing.signature_holds(key, item.body.encode("utf-8"), item.signature):
        if isinstance(body.get("key"), str) and body["key"] != ours:
            return (f"{name}{made} is not signed by the audit key ({ours}) but by another ({body['key']}): it was "
                    "forged, or the key was changed"), body
        return (f"{name}{made} does not carry a valid signature of the audit key: it was forged, or altered "
                "after it was signed"), body
    # signed by the key: what follows can only fail when checkpoints were deleted or reordered in the store
    if body.get("number") != number:
        return (f"checkpoint {body.get('number')!r} is out of place: checkpoint {number} was expected (a "
                "checkpoint was deleted or reordered)"), body
    if body.get("previous") != out.last_sha:
        return (f"checkpoint {number} does not follow checkpoint {number - 1}: the checkpoint before it was "
                "deleted or replaced"), body
    heads = body.get("heads")
    if not isinstance(heads, dict) or not all(_whole(body.get(k)) for k in ("max_event_id", "events", "chains")):
        return f"checkpoint {number} is not well formed", body
    hex64, points = _HEX64.fullmatch, out.points
    for chain, head in heads.items():  # one pass, as plain as it gets: there may be a hundred thousand
        seq = head.get("seq") if type(head) is dict else None
        hash_ = head.get("hash") if type(head) is dict else None
        if type(seq) is not int or seq < 1 or type(hash_) is not str or hex64(hash_) is None:  # bool is not int
            return f"checkpoint {number} is not well formed", body
        if chain in points and seq < points[chain][-1].seq:
            return f"checkpoint {number} moves the head of {chain} back", body
    return None, body


def stored_checkpoints(session: Session, upto: int | None = None) -> list[StoredCheckpoint]:
    """The stored checkpoints in order (those made over events up to `upto`, when given)."""
    query = select(_C.number, _C.body, _C.signature).order_by(_C.number, _C.id)
    if upto is not None:
        query = query.where(_C.max_event_id <= upto)
    with tolerant_text(session):
        return [StoredCheckpoint(row.number, row.body, row.signature) for row in session.execute(query)]


def signed(session: Session, key: Ed25519PublicKey) -> Signed:
    return fold(stored_checkpoints(session), key)


@dataclass(frozen=True)
class Status:
    """What the store says of its checkpoints, read without checking them (for a page): the latest one's own
    columns, and how many events came after it (all of them without one)."""

    latest: int | None  # its number
    at: datetime | None
    max_event_id: int
    events: int  # signed under its heads, in total
    chains: int
    after: int  # events with a higher id: not signed (yet)


def status(session: Session) -> Status:
    """The latest stored checkpoint and the events after it: two indexed look-ups, not a verification."""
    row = session.execute(select(_C.number, _C.at, _C.max_event_id, _C.events, _C.chains)
                          .order_by(_C.number.desc()).limit(1)).first()
    since = int(row.max_event_id) if row is not None else 0
    after = int(session.execute(select(func.count()).select_from(AUDIT_EVENTS).where(_T.id > since)).scalar_one())
    if row is None:
        return Status(None, None, 0, 0, 0, after)
    return Status(int(row.number), row.at, since, int(row.events), int(row.chains), after)


def export_lines(checkpoints: list[StoredCheckpoint]) -> Iterator[str]:
    """Checkpoints as lines of the JSONL export: `{"kind": "checkpoint", "number", "body", "signature"}`,
    `body` being the exact signed text."""
    for item in checkpoints:
        yield json.dumps({"kind": "checkpoint", "number": item.number, "body": item.body,
                          "signature": item.signature}, ensure_ascii=False, separators=(",", ":")) + "\n"


# --- making one ------------------------------------------------------------------------------------

@dataclass
class Made:
    """What `create` did: the checkpoint it signed (None when there was nothing to sign, and why), and
    the chains it left out because they do not verify."""

    checkpoint: SignedThrough | None
    reason: str
    left_out: list[FirstBad] = field(default_factory=list)
    heads: int = 0  # chains whose head it signed

    def as_dict(self) -> dict[str, Any]:
        return {"checkpoint": self.checkpoint.model_dump() if self.checkpoint else None, "reason": self.reason,
                "heads": self.heads, "left_out": [bad.model_dump() for bad in self.left_out]}


def create(engine: Engine, key: Ed25519PrivateKey, now: datetime | None = None) -> Made:
    """Sign a checkpoint of every chain that gained events since the last one and verifies in full.

    Raises CheckpointRefused when the stored checkpoints do not verify with this key.
    """
    public = key.public_key()
    with Session(engine) as session:
        before = signed(session, public)
        if before.problem is not None:
            raise CheckpointRefused(f"the stored checkpoints do not verify with this key: {before.problem.problem}")
        since = before.latest.max_event_id if before.latest else 0
        upto = max_id(session)
        if upto <= since:
            return Made(None, f"nothing changed since checkpoint {before.count}" if before.count else
                        "there is no event to sign")
        walked = Walk.store(session, upto, before.points, since, every_chain=True, complete=False)
    moved = {chain: head for chain, head in sorted(walked.heads.items()) if head[0] > before.head(chain)}
    left_out = [walked.bad[chain] for chain in sorted(walked.bad)]
    if not moved:
        return Made(None, "no chain that verifies gained an event", left_out)
    number = before.count + 1
    chains = len(before.points) + sum(1 for chain in moved if chain not in before.points)
    events = before.events + sum(seq - before.head(chain) for chain, (seq, _) in moved.items())
    at = iso(now or datetime.now(UTC))
    body = body_bytes(number, before.last_sha, at, upto, events, chains, moved, public)
    row = {"number": number, "at": datetime.fromisoformat(at.replace("Z", "+00:00")), "max_event_id": upto,
           "events": events, "chains": chains, "body": body.decode("utf-8"), "signature": signing.sign(key, body)}
    try:
        with write_session(engine, write=True) as s:
            latest = s.execute(select(_C.number).order_by(_C.number.desc()).limit(1)).scalar()
            if (latest or 0) != before.count:
                return Made(None, f"checkpoint {latest} was made meanwhile", left_out)
            s.execute(CHECKPOINTS.insert().values(**row))
    except IntegrityError:  # another process signed checkpoint `number` at the same moment
        return Made(None, f"checkpoint {number} was made meanwhile", left_out)
    made = SignedThrough(checkpoint=number, at=at, max_event_id=upto, events=events, chains=chains,
                         key=signing.public_b64(public))
    return Made(made, f"signed {len(moved)} chain heads", left_out, heads=len(moved))


async def keep_signing(engine: Engine, key: Ed25519PrivateKey, every_s: float) -> None:
    """The worker's task: a checkpoint now and every `every_s` seconds after, when events were added.

    Several workers may run it: a checkpoint another one made first is not made twice.
    """
    while True:
        try:
            made = await asyncio.to_thread(create, engine, key)
            if made.checkpoint is not None:
                log.info("audit checkpoint %d signed: %d events in %d chains (%s)", made.checkpoint.checkpoint,
                         made.checkpoint.events, made.checkpoint.chains, made.reason)
            for bad in made.left_out:
                log.error("audit chain %s left out of the checkpoint, it does not verify: %s", bad.dispute_id,
                          bad.problem)
        except CheckpointRefused as exc:
            log.error("no audit checkpoint: %s", exc)
        except Exception:  # the store is down, …: try again next time
            log.exception("audit checkpoint failed; trying again in %.0f s", every_s)
        await asyncio.sleep(every_s)
