"""Verification: walking every chain (against the signed checkpoints, given the public key), and the
digest that catches what an unsigned chain cannot show."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sqlmodel import Session

from store.audit.stored import max_id
from store.audit.walk import FirstBad, SignedThrough, Walk, Walked

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from store.audit.checkpoints import Signed

DIGEST_VERSION = "v1"
DIGEST_CHANGED = "events missing or changed since the digest was taken"
_DIGEST = re.compile(r"^v1:(\d+):(\d+):([0-9a-f]{64})$")
_MAX_ID = 2**31 - 1


# --- digests ---------------------------------------------------------------------------------------

def _digest_over(session: Session, upto: int) -> tuple[int, str]:
    from store.audit import fast

    return fast.digest_over(session, upto)


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

class VerifyResult(BaseModel):
    ok: bool
    events: int
    disputes: int
    digest: str
    first_bad: FirstBad | None = None
    # the latest checkpoint that verified with the public key (None: none, or no key to check with) …
    signed_through: SignedThrough | None = None
    unsigned_events: int = 0  # … and the events no checkpoint signed (all of them without one)

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


def walk_result(walked: Walked, signed: Signed | None, digest: str, digest_bad: bool) -> VerifyResult:
    """The answer of a walk: checkpoint problems first, then the first bad event, then the digest."""
    first_bad = (signed.problem if signed is not None else None) or walked.first_bad
    if digest_bad and first_bad is None:
        first_bad = FirstBad(dispute_id=None, seq=None, problem=DIGEST_CHANGED)
    return VerifyResult(ok=first_bad is None, events=walked.events, disputes=walked.disputes, digest=digest,
                        first_bad=first_bad, signed_through=signed.latest if signed else None,
                        unsigned_events=walked.unsigned)


def verify(session: Session, digest: str | None = None, public_key: Ed25519PublicKey | None = None,
           processes: int | None = None) -> VerifyResult:
    """Check every chain and, with a saved `digest`, that no event it covers went missing or changed.

    With `public_key`, the stored checkpoints are checked with it, and every event they sign must still
    be the one they signed; the events after them are counted as unsigned. Without it, every event is.
    Over `parallel.THRESHOLD` events the chains are walked in `processes` processes (None:
    `PARLEY_AUDIT_VERIFY_PROCESSES`, by default the CPU count, at most 4; 1: in this one), with the same answer.
    Raises ValueError for a malformed digest.
    """
    from store.audit import parallel

    saved = parse_digest(digest) if digest is not None else None
    count_ = parallel.processes(_processes_setting() if processes is None else processes)
    with parallel.pool(session, count_) as executor:  # started first: its imports overlap the checkpoints
        signed = None
        if public_key is not None:
            from store.audit import checkpoints

            signed = checkpoints.signed(session, public_key)
        upto = max_id(session)
        points = signed.points if signed else None
        both = parallel.walk(executor, count_, session, upto, points) if executor is not None else None
    if both is not None:
        walked, (count, sha) = both
    else:
        walked = Walk.store(session, upto, points)
        count, sha = _digest_over(session, upto)
    digest_bad = False
    if saved is not None:
        saved_upto, saved_count, saved_sha = saved
        then = (count, sha) if saved_upto == upto else _digest_over(session, saved_upto)
        digest_bad = then != (saved_count, saved_sha)
    return walk_result(walked, signed, f"{DIGEST_VERSION}:{upto}:{count}:{sha}", digest_bad)


def _processes_setting() -> int | None:
    from settings import get_settings

    try:
        return get_settings().audit_verify_processes
    except ValueError:  # settings that do not load (the CLI and the API refuse them first): the default
        return None
