"""Reading a CRM export of registrations, row by row, as it streams in (CSV or JSON Lines).

`RowParser.feed(chunk)` takes the bytes as they come (an HTTP body, a file read in pieces) and
yields each complete row as an `ImportRow` or, when it is not valid, a `RowError` naming its line
and field; `close()` yields what the last chunk left. Nothing holds more than a row of text, so a
file of any size is read in constant memory.

The columns are those of `POST /api/registrations` (`account, account_domain, title, deal_value,
currency, region, segment, expected_close, external_ref, products, owner_email`) plus `channel`,
`partner_org`, `status` and `submitted_at`. In CSV, `products` is a list separated by `;` and an
empty cell is no value; in JSON Lines each line is one object with those keys. The web API, the
import route and `parley registrations import` share this parser.

A problem with a row is that row's `RowError`, and the rows after it are read on. A problem with the file
itself stops the reading: a CSV file without a header line or whose header lacks a required column, text
that is not UTF-8, a line (or a quoted value) too long to be a registration's. Its `RowError` is the last
one yielded, and `stopped` keeps it.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from domain.model import TEXT_INPUT
from domain.plain_words import plain_message
from domain.registrations import STATUSES, RegistrationIn

Kind = Literal["csv", "jsonl"]
EXTRA = ("channel", "partner_org", "status", "submitted_at")
COLUMNS = (*RegistrationIn.model_fields, *EXTRA)
REQUIRED = tuple(name for name, f in RegistrationIn.model_fields.items() if f.is_required()) + ("owner_email",)
MAX_ROW_CHARS = 100_000  # a "row" longer than this is not a registration: the file is broken
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "message": self.message}


@dataclass(frozen=True)
class ImportRow:
    line: int
    body: RegistrationIn
    channel: str | None = None
    partner_org: str | None = None
    status: str | None = None
    submitted_at: datetime | None = None


Parsed = ImportRow | RowError


def kind_of(content_type: str | None, filename: str | None = None) -> Kind | None:
    """The format of a body by its Content-Type (or a file by its name): CSV or JSON Lines."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("text/csv", "application/csv"):
        return "csv"
    if media in ("application/x-ndjson", "application/jsonl", "application/json-lines", "application/x-jsonlines"):
        return "jsonl"
    name = (filename or "").lower()
    return "csv" if name.endswith(".csv") else "jsonl" if name.endswith((".jsonl", ".ndjson")) else None


class RowParser:
    """Rows as the bytes stream in. Each line is decoded on its own (a newline byte is never part of a UTF-8
    sequence), so a line that is not UTF-8 is that line's error and the lines around it are read as usual."""

    def __init__(self, kind: Kind, now: datetime | None = None) -> None:
        self.kind = kind
        self.now = now or datetime.now(UTC)
        self._partial = b""  # bytes after the last newline
        self._started = False  # past the byte-order mark, if the file has one
        self._record: list[str] = []  # lines of a CSV record whose quotes are still open
        self._quotes = 0
        self._line = 0  # lines read so far
        self._header: list[str] | None = None
        self.stopped: RowError | None = None  # the problem with the file itself that stopped the reading

    def feed(self, chunk: bytes) -> Iterator[Parsed]:
        if self.stopped is not None:
            return
        data = self._partial + chunk
        if not self._started:
            if len(data) < len(codecs.BOM_UTF8) and codecs.BOM_UTF8.startswith(data):
                self._partial = data  # too short yet to tell whether it opens with a byte-order mark
                return
            data, self._started = data.removeprefix(codecs.BOM_UTF8), True
        lines = data.split(b"\n")
        self._partial = lines.pop()
        for line in lines:
            yield from self._bytes_in(line + b"\n")
            if self.stopped is not None:
                return
        if len(self._partial) > MAX_ROW_CHARS and len(self._partial.decode("utf-8", "replace")) > MAX_ROW_CHARS:
            yield self._give_up(self._line + 1, f"line is longer than {MAX_ROW_CHARS:,} characters")

    def close(self) -> Iterator[Parsed]:
        if self.stopped is not None:
            return
        rest, self._partial = self._partial.removeprefix(b"" if self._started else codecs.BOM_UTF8), b""
        if rest:
            yield from self._bytes_in(rest)
        if self.stopped is not None:
            return
        if self._record:
            yield RowError(self._line - len(self._record) + 1, "row", "a quoted value is never closed")
            self._record = []
        if self.kind == "csv" and self._header is None:
            yield self._give_up(1, "the file is empty: expected a header line naming the columns", field="header")

    def _bytes_in(self, raw: bytes) -> Iterator[Parsed]:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield from self._undecodable()
            return
        yield from self._line_in(line)

    def _undecodable(self) -> Iterator[Parsed]:
        """A line that is not UTF-8: without a header nothing can be read; otherwise the row it belongs to is
        refused (with a CSV record open over several lines, that whole record) and the reading goes on."""
        self._line += 1
        if self.kind == "csv" and self._header is None:
            yield self._give_up(self._line, "is not UTF-8 text")
            return
        first = self._line - len(self._record)
        self._record, self._quotes = [], 0
        yield RowError(first, "row", "is not UTF-8 text")

    # --- lines ---------------------------------------------------------------------------------------

    def _line_in(self, line: str) -> Iterator[Parsed]:
        self._line += 1
        if self.kind == "jsonl":
            if line.strip():
                yield self._json_row(self._line, line)
            return
        self._record.append(line)
        self._quotes += line.count('"')
        if self._quotes % 2:
            if sum(map(len, self._record)) > MAX_ROW_CHARS:
                yield self._give_up(self._line, f"a quoted value runs past {MAX_ROW_CHARS:,} characters")
            return  # a quoted value goes on over the next line
        record, first = "".join(self._record), self._line - len(self._record) + 1
        self._record, self._quotes = [], 0
        if record.strip():
            yield from self._csv_row(first, record)

    def _csv_row(self, line: int, record: str) -> Iterator[Parsed]:
        try:
            cells = next(csv.reader([record]))
        except csv.Error as exc:
            yield RowError(line, "row", f"is not valid CSV ({exc})")
            return
        if self._header is None:
            yield from self._read_header(line, cells)
            return
        if len(cells) > len(self._header):
            yield RowError(line, "row", f"has {len(cells)} values but the header names {len(self._header)} columns")
            return
        data: dict[str, Any] = {name: cell.strip() for name, cell in zip(self._header, cells, strict=False)
                                if name in COLUMNS and cell.strip()}
        if "products" in data:
            data["products"] = [p.strip() for p in data["products"].split(";") if p.strip()]
        yield self.validate(line, data, text=True)

    def _read_header(self, line: int, cells: list[str]) -> Iterator[Parsed]:
        self._header = [c.strip().lower() for c in cells]
        missing = [name for name in REQUIRED if name not in self._header]
        if missing:
            yield self._give_up(line, f"the header lacks the column(s) {', '.join(missing)}", field="header")
            return
        for name in self._header:
            if name not in COLUMNS:
                yield RowError(line, name or "header", "is not a column Parley imports; its values were ignored")

    def _json_row(self, line: int, text: str) -> Parsed:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            return RowError(line, "row", "is not valid JSON")
        if not isinstance(data, dict):
            return RowError(line, "row", "must be a JSON object")
        return self.validate(line, data, text=False)

    def _give_up(self, line: int, message: str, field: str = "row") -> RowError:
        """A problem with the file itself: nothing after it is read."""
        self.stopped = RowError(line, field, message)
        return self.stopped

    # --- a row's values ------------------------------------------------------------------------------

    def validate(self, line: int, data: dict[str, Any], *, text: bool) -> Parsed:
        extra = {name: data.pop(name) for name in EXTRA if name in data}
        if not data.get("owner_email"):
            return RowError(line, "owner_email", "is required: the rep whose registration this is")
        try:
            body = RegistrationIn.model_validate(data, context={TEXT_INPUT: text})
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "row"
            return RowError(line, field, plain_message(err))
        for name, value in extra.items():
            if value is not None and not isinstance(value, str):
                return RowError(line, name, "must be text")
        status = extra.get("status") or None
        if status is not None and status.lower() not in STATUSES:
            return RowError(line, "status", f"must be one of {', '.join(STATUSES)}")
        channel = (extra.get("channel") or "").lower() or None
        if channel not in (None, "direct", "partner"):
            return RowError(line, "channel", "must be direct or partner")
        try:
            submitted = self._time(extra.get("submitted_at"))
        except ValueError as exc:
            return RowError(line, "submitted_at", str(exc))
        return ImportRow(line, body, channel, extra.get("partner_org") or None, status.lower() if status else None,
                         submitted)

    def _time(self, value: str | None) -> datetime | None:
        if not value:
            return None
        try:
            at = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be a date (YYYY-MM-DD) or a date and time with its UTC offset") from None
        if len(value.strip()) == 10:  # a date: the start of that day, UTC
            at = datetime.combine(at.date(), time(), tzinfo=UTC)
        if at.tzinfo is None:
            raise ValueError("must carry its UTC offset (…Z or +02:00) or be a date")
        try:
            at = at.astimezone(UTC)
        except OverflowError:  # year 1 ahead of UTC, or year 9999 behind it: no UTC time to be
            at = EARLIEST - timedelta(days=1) if at.year < EARLIEST.year else self.now + timedelta(days=2)
        if not EARLIEST <= at <= self.now + timedelta(days=1):
            raise ValueError("must lie between 1990 and today")
        return at
