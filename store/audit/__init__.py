"""The audit trail: an append-only hash chain per dispute (DESIGN §1, Audit trail).

Each event of a dispute is numbered 1..n by its workflow and linked to the one before it:

    canonical = JSON of {dispute_id, seq, at, actor, action, tier, payload, charter_version}
                with sorted keys, no spaces, UTF-8 (not ASCII-escaped), times as
                "YYYY-MM-DDTHH:MM:SS.ffffffZ" (UTC, always with microseconds)
    hash      = sha256_hex(prev_hash + canonical)      prev_hash of seq 1 = "0" * 64

`verify` walks every chain and reports the first event that does not fit: an edited event (its
hash no longer matches its content), a deleted one (a gap in seq, or a broken link), a reordered
one (its seq is part of its hash) or an inserted one (a broken link after it). Deleting the *last*
events of a chain, or rewriting a whole chain, leaves no broken link; that is what the digest is
for. An auditor saves the digest `verify` returns:

    "v1:<max_id>:<count>:<sha256 hex over the hashes of all events with id <= max_id, by id>"

and later verifies against it: the events that existed then must all still be there, unchanged.

`export` writes the same fields (plus the row id, prev_hash and hash) as JSONL or CSV, so that the
chain can be checked outside Parley with nothing but the rules above.

Damage is tampering too, and neither verification nor export ever fails on it. Every column is read
as it is stored (see `store.audit.stored`): a time that is not a time, a seq or tier that is not a
whole number, NULLs, text that is not UTF-8, a hash that is not 64 hex digits or a payload that is not
JSON makes `verify` report that event as `first_bad`, in plain words, and the export still writes
every event, the damaged values as their stored text. A stored payload must also be exactly the
canonical text of its value (no repeated keys, no other key order, spacing or escaping): one that
parses to the same value but is written differently hashes the same, so it is checked on its own.

The modules: `chain` (the canonical form, the hash, `append`), `stored` (reading stored events
tolerantly, `events_for`), `verification` (`verify` and the digest), `exports` (`export`).
"""

from store.audit.chain import EVENT_FIELDS, GENESIS, ChainError, append, canonical, chain_hash, event_fields, iso
from store.audit.exports import export
from store.audit.stored import RECORD_FIELDS, events_for, record
from store.audit.verification import (
    DIGEST_CHANGED,
    DIGEST_VERSION,
    FirstBad,
    VerifyResult,
    digest,
    parse_digest,
    verify,
)

__all__ = [
    "DIGEST_CHANGED", "DIGEST_VERSION", "EVENT_FIELDS", "GENESIS", "RECORD_FIELDS", "ChainError",
    "FirstBad", "VerifyResult", "append", "canonical", "chain_hash", "digest", "event_fields", "events_for",
    "export", "iso", "parse_digest", "record", "verify",
]
