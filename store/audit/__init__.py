"""The audit trail: an append-only hash chain per dispute (DESIGN §1, Audit trail).

Each event of a dispute is numbered 1..n by its workflow and linked to the one before it:

    canonical = JSON of {dispute_id, seq, at, actor, action, tier, payload, charter_version}
                in RFC 8785 canonical form (hash rule 2; events recorded before it keep rule 1, Python's
                sorted, compact, UTF-8 json.dumps: see `chain`), times as
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

Signed checkpoints (`checkpoints`) close what the digest leaves open: anyone with write access to the
database can append an event with a correct hash, but not sign it. A checkpoint signs (Ed25519, a key
outside the database: `signing`) the head of every chain; with the public key, `verify` checks every event
up to the signed heads against them and counts the events after them as unsigned; `offline` does the same
for an export, with the public key alone.

The modules: `chain` (the canonical form, the hash rules, `append`), `stored` (reading stored events
tolerantly, `events_for`), `walk` (checking the chains; `fast` vouches for a sound trail in one tight pass and
leaves anything else to it; `parallel` runs it over ranges of chains in several processes for a large trail),
`verification` (`verify` and the digest),
`exports` (`export`), `signing`, `checkpoints` and `checkpoint_table` (signed checkpoints), `offline`.
"""

from store.audit.chain import (
    EVENT_FIELDS,
    GENESIS,
    HASH_RULE,
    ChainError,
    append,
    canonical,
    canonical_v1,
    canonical_v2,
    chain_hash,
    event_fields,
    event_text,
    iso,
)
from store.audit.exports import export
from store.audit.stored import RECORD_FIELDS, events_for, record
from store.audit.verification import (
    DIGEST_CHANGED,
    DIGEST_VERSION,
    VerifyResult,
    digest,
    parse_digest,
    verify,
)
from store.audit.walk import FirstBad, SignedThrough

__all__ = [
    "DIGEST_CHANGED", "DIGEST_VERSION", "EVENT_FIELDS", "GENESIS", "HASH_RULE", "RECORD_FIELDS", "ChainError",
    "FirstBad", "SignedThrough", "VerifyResult", "append", "canonical", "canonical_v1", "canonical_v2", "chain_hash",
    "digest", "event_fields", "event_text", "events_for", "export", "iso", "parse_digest", "record", "verify",
]
