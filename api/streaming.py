"""Downloads streamed from the store: the lines read in one session of their own, sent in pieces of about
64 KiB.

Starlette takes each item of a synchronous iterator in a worker thread and sends it on its own: line by
line, every line of an export was a thread trip and a write to the socket, and an export of 100,000 audit
events took five and a half times as long as reading them (bench/audit_export.py). In pieces it takes a tenth
more, and the session's store connection is held that much less long.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping

from fastapi.responses import StreamingResponse
from sqlalchemy import Engine
from sqlmodel import Session

PIECE_CHARS = 64 * 1024


def pieces(lines: Iterable[str], size: int = PIECE_CHARS) -> Iterator[str]:
    """`lines` joined into pieces of at least `size` characters (the last one may be shorter), never
    splitting a line."""
    batch: list[str] = []
    held = 0
    for line in lines:
        batch.append(line)
        held += len(line)
        if held >= size:
            yield "".join(batch)
            batch.clear()
            held = 0
    if batch:
        yield "".join(batch)


def download(engine: Engine, read: Callable[[Session], Iterable[str]], media_type: str,
             headers: Mapping[str, str]) -> StreamingResponse:
    """A response streaming `read(session)` in pieces, the session opened as the body starts and closed with
    it."""
    def body() -> Iterator[str]:
        with Session(engine) as session:
            yield from pieces(read(session), PIECE_CHARS)  # read at each download: the tests make it small

    return StreamingResponse(body(), media_type=media_type, headers=headers)
