"""Verifying an export with nothing but the file and the public key: no database, no Parley store.

The JSONL export (`store.audit.exports`) holds every event and then the checkpoints (`"kind":
"checkpoint"`); the CSV export holds the events only, so its events all count as unsigned. Each exported
event is checked as the stored one is (`store.audit.walk`): its payload, exported as an object, is written
back in the canonical form of the hash rule its hash was made with (or kept as the text a damaged one is
exported as).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from store.audit.chain import chain_hash, event_text
from store.audit.stored import RECORD_FIELDS, EventRow, payload_texts
from store.audit.verification import DIGEST_VERSION, VerifyResult, parse_digest, walk_result
from store.audit.walk import Walk, at_utc

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from store.audit.checkpoints import Signed, StoredCheckpoint

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


class NotAnExport(ValueError):
    """The file is not a Parley audit export (the line or the column that is not)."""


def _utc(at: Any) -> str | None:
    if not isinstance(at, str) or not _ISO.fullmatch(at):
        return None
    try:
        datetime.fromisoformat(at[:-1])
    except ValueError:
        return None
    return at[:-1]


def _payload_text(record: dict[str, Any], utc: str | None) -> Any:
    """The stored payload text of an exported event: the text a damaged payload is exported as, or the
    canonical form (under the rule its hash was made with) of the object a well-formed one is exported as."""
    payload = record.get("payload")
    if not isinstance(payload, dict):
        return payload
    texts = payload_texts(payload)
    if len(texts) > 1 and utc is not None:
        for text_ in texts:
            try:
                made = chain_hash(record["prev_hash"], event_text(
                    record["dispute_id"], record["seq"], utc + "Z", record["actor"], record["action"],
                    record["tier"], text_, record["charter_version"]))
            except (TypeError, ValueError, KeyError):
                break
            if made == record.get("hash"):
                return text_
    return texts[0] if texts else json.dumps(payload, ensure_ascii=False)


def _row(record: dict[str, Any]) -> EventRow:
    """An exported event, shaped as a stored row (`at_utc` as PostgreSQL's, when the time is one)."""
    utc = _utc(record.get("at"))
    return EventRow(id=record.get("id"), dispute_id=record.get("dispute_id"), seq=record.get("seq"),
                    at=record.get("at"), at_utc=utc, actor=record.get("actor"), action=record.get("action"),
                    tier=record.get("tier"), payload=_payload_text(record, utc),
                    charter_version=record.get("charter_version"), prev_hash=record.get("prev_hash"),
                    hash=record.get("hash"))


def _number(value: str) -> Any:
    try:
        return int(value)
    except ValueError:
        return value if value else None


def read_export(text: str) -> tuple[list[EventRow], list[StoredCheckpoint]]:
    """The events and checkpoints of a JSONL or CSV export. Raises NotAnExport."""
    from store.audit.checkpoints import StoredCheckpoint

    rows: list[EventRow] = []
    signed: list[StoredCheckpoint] = []
    if text.startswith(",".join(RECORD_FIELDS)):
        reader = csv.DictReader(io.StringIO(text))
        for record in reader:
            rows.append(_row({**record, "id": _number(record["id"]), "seq": _number(record["seq"]),
                              "tier": _number(record["tier"])}))
        return rows, signed
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise NotAnExport(f"line {n} is not JSON: {exc}") from None
        if not isinstance(record, dict):
            raise NotAnExport(f"line {n} is not a JSON object")
        if record.get("kind") == "checkpoint":
            signed.append(StoredCheckpoint(record.get("number"), record.get("body"), record.get("signature")))
        elif "kind" in record:
            continue  # a kind of line this version does not know: not an event
        elif not set(RECORD_FIELDS) <= set(record):
            missing = sorted(set(RECORD_FIELDS) - set(record))
            raise NotAnExport(f"line {n} is not an exported audit event: it has no {', '.join(missing)}")
        else:
            rows.append(_row(record))
    return rows, signed


def _order(row: EventRow) -> tuple[Any, ...]:
    """(dispute_id, seq, id) as the store orders them, whatever the types a damaged event has."""
    def key(value: Any) -> tuple[int, Any]:
        if isinstance(value, int) and not isinstance(value, bool):
            return 0, value
        return (1, value) if isinstance(value, str) else (2, repr(value))
    return key(row.dispute_id), key(row.seq), key(row.id)


def _digest(rows: Iterable[EventRow], upto: int) -> tuple[int, str]:
    by_id = sorted((row.id, row.hash) for row in rows
                   if isinstance(row.id, int) and not isinstance(row.id, bool) and row.id <= upto)
    sha = hashlib.sha256()
    for _id, hash_ in by_id:
        sha.update(hash_.encode("utf-8", "surrogateescape") if isinstance(hash_, str) else
                   b"" if hash_ is None else str(hash_).encode("utf-8"))
    return len(by_id), sha.hexdigest()


def verify_export(text: str, public_key: Ed25519PublicKey | None = None, digest: str | None = None) -> VerifyResult:
    """Verify an export as `store.audit.verify` verifies the store. Raises NotAnExport, and ValueError for
    a malformed digest."""
    saved = parse_digest(digest) if digest is not None else None
    rows, stored = read_export(text)
    signed: Signed | None = None
    if public_key is not None:
        from store.audit.checkpoints import fold

        signed = fold(stored, public_key)
    rows.sort(key=_order)
    walked = Walk(at_utc, signed.points if signed else None).run(rows)
    upto = max((row.id for row in rows if isinstance(row.id, int) and not isinstance(row.id, bool)), default=0)
    count, sha = _digest(rows, upto)
    digest_bad = False
    if saved is not None:
        saved_upto, saved_count, saved_sha = saved
        digest_bad = _digest(rows, saved_upto) != (saved_count, saved_sha)
    return walk_result(walked, signed, f"{DIGEST_VERSION}:{upto}:{count}:{sha}", digest_bad)
