"""Export: the trail as JSONL or CSV, every event, damaged ones as their stored text.

The JSONL export ends with the signed checkpoints over the events it holds, one line each with
`"kind": "checkpoint"` (events have no `kind`), so that `parley audit verify --export FILE --pubkey K`
can check it with nothing but the public key. The CSV export holds the events only.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any, Literal

from sqlmodel import Session

from store.audit.stored import RECORD_FIELDS, by_event, max_id, read_stored, record


def export(session: Session, fmt: Literal["jsonl", "csv"] = "jsonl") -> Iterator[str]:
    """Every event, in (dispute_id, seq) order, one line each (CSV: a header first)."""
    if fmt not in ("jsonl", "csv"):
        raise ValueError(f"unknown export format {fmt!r}: use 'jsonl' or 'csv'")
    upto = max_id(session)
    if fmt == "jsonl":
        from store.audit import checkpoints

        signed = checkpoints.stored_checkpoints(session, upto)  # read first: a later one may sign more
        for row in by_event(session, upto):
            yield json.dumps(record(row), ensure_ascii=False, separators=(",", ":")) + "\n"
        yield from checkpoints.export_lines(signed)
        return
    rows = by_event(session, upto)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")

    def line(values: list[Any]) -> str:
        writer.writerow(values)
        out = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return out

    yield line(list(RECORD_FIELDS))
    for row in rows:
        stored = read_stored(row)
        yield line([stored.payload_text if name == "payload" else stored.shown[name] for name in RECORD_FIELDS])

