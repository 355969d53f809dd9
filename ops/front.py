"""The front of `parley up --apis M`: the one address clients use, in front of M API processes.

An asyncio TCP proxy. Each client connection goes to the next backend in turn (round-robin per
connection); a backend that refuses the connection (an API process that died and is being started
again) is skipped, so a killed API process costs clients no more than the connections it had in
flight. When no backend accepts, the client is answered 503, which the HTTP contract says to retry.
Bytes pass through untouched both ways, and an end of stream on one side is passed on to the other
(a half-close), so a client that has finished sending still reads its whole answer.

Run as `python -m ops.front --listen HOST:PORT --backend HOST:PORT [--backend HOST:PORT …]`; SIGTERM
or SIGINT stops taking connections, lets the open ones finish for a moment, then closes them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import signal
import sys
from collections.abc import Sequence

Backend = tuple[str, int]

CHUNK = 64 * 1024
CONNECT_TIMEOUT_S = 2.0
CLOSE_GRACE_S = 5.0
_UNAVAILABLE_BODY = b'{"detail":"no API process accepted the connection; retry in a moment"}'
UNAVAILABLE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
               b"Connection: close\r\nContent-Length: " + str(len(_UNAVAILABLE_BODY)).encode() + b"\r\n\r\n"
               + _UNAVAILABLE_BODY)


class Front:
    def __init__(self, backends: Sequence[Backend], connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        if not backends:
            raise ValueError("the front needs at least one backend")
        self.backends = list(backends)
        self.connect_timeout = connect_timeout
        self._turn = itertools.count()
        self._server: asyncio.Server | None = None
        self.port = 0  # where it listens, once started
        # each open connection and the streams it holds, so that closing can cut them
        self._sessions: dict[asyncio.Task[None], list[asyncio.StreamWriter]] = {}

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._accept, host, port, reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def close(self, grace: float = CLOSE_GRACE_S) -> None:
        """Stop accepting; give the open connections `grace` seconds to finish, then cut them."""
        if self._server is not None:
            self._server.close()
        if self._sessions:
            _, unfinished = await asyncio.wait(set(self._sessions), timeout=grace)
            for session in unfinished:
                for stream in self._sessions.get(session, []):
                    stream.transport.abort()  # its pipes see the end of their streams and return
            if unfinished:
                await asyncio.wait(unfinished)
        if self._server is not None:
            await self._server.wait_closed()

    async def _accept(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        session = asyncio.current_task()
        assert session is not None
        self._sessions[session] = streams = [client_writer]
        try:
            upstream = await self._connect()
            if upstream is None:
                await _answer_unavailable(client_reader, client_writer)
                return
            backend_reader, backend_writer = upstream
            streams.append(backend_writer)
            try:
                await asyncio.gather(_pipe(client_reader, backend_writer), _pipe(backend_reader, client_writer))
            finally:
                await _closed(backend_writer)
        finally:
            await _closed(client_writer)
            self._sessions.pop(session, None)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The next backend in turn that accepts the connection; None when none does. A refusing
        backend uses up its turn, so the others keep even shares while it is down."""
        for _ in self.backends:
            host, port = self.backends[next(self._turn) % len(self.backends)]
            try:
                return await asyncio.wait_for(asyncio.open_connection(host, port), self.connect_timeout)
            except (OSError, TimeoutError):
                continue
        return None


async def _closed(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until the reader's end of stream, then pass the end on; a reset cuts both sides."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof() and not writer.is_closing():
            writer.write_eof()
    except OSError:
        writer.transport.abort()  # the other direction's reader then ends too


async def _answer_unavailable(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer 503 after reading what the client sent: closing on unread bytes would reset the
    connection instead, and the client would never see the answer."""
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
        await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CONNECT_TIMEOUT_S)
        writer.write(UNAVAILABLE)
        await writer.drain()
        writer.write_eof()
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            while await reader.read(CHUNK):  # the rest of a request body, until the client closes
                pass


def address(text: str) -> Backend:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
    return host, int(port)


async def serve(listen: Backend, backends: Sequence[Backend]) -> None:
    front = Front(backends)
    await front.start(*listen)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"front on {listen[0]}:{front.port} -> {', '.join(f'{h}:{p}' for h, p in backends)}", flush=True)
    await stop.wait()
    await front.close()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m ops.front", description="round-robin TCP front for the API")
    p.add_argument("--listen", type=address, required=True, metavar="HOST:PORT")
    p.add_argument("--backend", type=address, action="append", required=True, metavar="HOST:PORT")
    args = p.parse_args(argv)
    try:
        asyncio.run(serve(args.listen, args.backend))
    except OSError as exc:
        sys.exit(f"the front cannot listen on {args.listen[0]}:{args.listen[1]}: {exc}")


if __name__ == "__main__":
    main()
