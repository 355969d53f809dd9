"""The front of `parley up --apis M` (ops/front.py): connections go round-robin to the backends, a backend that
refuses is skipped (and none answering is a 503, not a reset), bytes pass intact both ways, and it closes
cleanly, in this process and as the `python -m ops.front` process `parley up` supervises."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx

from ops.front import Front
from tests.harness.paths import ROOT
from tests.harness.ports import closed_port, free_port
from tests.harness.waiting import eventually

LOCAL = "127.0.0.1"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def backend(handler: Handler) -> AsyncIterator[int]:
    """A TCP server on a free port running `handler` for each connection; its port."""
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await handler(reader, writer)
        finally:
            writer.close()
            await writer.wait_closed()

    server = await asyncio.start_server(handle, LOCAL, 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


def says(name: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(name)
        await writer.drain()
    return handler


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Sends back every byte as it arrives, then ends its side when the client has ended its own."""
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.write_eof()


@asynccontextmanager
async def front_of(*ports: int) -> AsyncIterator[Front]:
    front = Front([(LOCAL, port) for port in ports])
    await front.start(LOCAL, 0)
    try:
        yield front
    finally:
        await front.close(grace=1)


async def answer_of(port: int) -> bytes:
    """What one connection to the port receives until the other side ends it."""
    reader, writer = await asyncio.open_connection(LOCAL, port)
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_connections_go_to_the_backends_in_turn() -> None:
    async with backend(says(b"a")) as a, backend(says(b"b")) as b, backend(says(b"c")) as c, \
            front_of(a, b, c) as front:
        answers = [await answer_of(front.port) for _ in range(6)]
    assert answers == [b"a", b"b", b"c", b"a", b"b", b"c"]


async def test_a_backend_that_refuses_is_skipped_and_the_others_keep_even_shares() -> None:
    async with backend(says(b"a")) as a, backend(says(b"b")) as b, front_of(a, closed_port(), b) as front:
        answers = [await answer_of(front.port) for _ in range(6)]
    assert answers == [b"a", b"b", b"a", b"b", b"a", b"b"]


async def test_with_no_backend_answering_clients_get_a_503_not_a_reset() -> None:
    async with front_of(closed_port(), closed_port()) as front, httpx.AsyncClient(timeout=10) as http:
        # a body the front never reads to the end: it still answers instead of resetting the connection
        response = await http.post(f"http://{LOCAL}:{front.port}/api/disputes", content=b"x" * 300_000)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1" and "retry" in response.json()["detail"]


async def test_bytes_pass_intact_both_ways_with_a_large_body() -> None:
    body = os.urandom(16 * 1024 * 1024)
    async with backend(echo) as port, front_of(port) as front:
        reader, writer = await asyncio.open_connection(LOCAL, front.port)

        async def send() -> None:
            for start in range(0, len(body), 1 << 20):
                writer.write(body[start:start + (1 << 20)])
                await writer.drain()
            writer.write_eof()  # the front passes the half-close on; the echo then ends its side

        try:
            _, received = await asyncio.wait_for(asyncio.gather(send(), reader.read()), 60)
        finally:
            writer.close()
            await writer.wait_closed()
    assert len(received) == len(body) and hashlib.sha256(received).digest() == hashlib.sha256(body).digest()


async def test_the_front_closes_cleanly_cutting_idle_connections_after_the_grace() -> None:
    held = asyncio.Event()

    async def holds(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.set()
        await reader.read()  # until the front cuts the connection

    async with backend(holds) as port:
        front = Front([(LOCAL, port)])
        await front.start(LOCAL, 0)
        reader, writer = await asyncio.open_connection(LOCAL, front.port)
        try:
            await asyncio.wait_for(held.wait(), 10)
            await asyncio.wait_for(front.close(grace=0.2), 10)
            assert await asyncio.wait_for(reader.read(), 10) == b"", "the idle connection was not ended"
        finally:
            writer.close()
            await writer.wait_closed()
        try:
            await asyncio.open_connection(LOCAL, front.port)
        except ConnectionRefusedError:
            pass
        else:
            raise AssertionError("the closed front still accepts connections")


async def test_the_front_process_stops_on_sigterm_finishing_what_is_in_flight() -> None:
    answering = asyncio.Event()

    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\n")
        answering.set()
        await asyncio.sleep(0.5)  # the answer is still on its way when the front is told to stop
        writer.write(b"done\n")
        await writer.drain()

    async with backend(slow) as port:
        listen = free_port()
        proc = subprocess.Popen([sys.executable, "-m", "ops.front", "--listen", f"{LOCAL}:{listen}",
                                 "--backend", f"{LOCAL}:{port}"], cwd=ROOT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        try:
            async def connected() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
                assert proc.poll() is None, "the front exited"
                try:
                    return await asyncio.open_connection(LOCAL, listen)
                except OSError:
                    return None

            reader, writer = await eventually(connected, timeout=20, what="the front to listen")
            writer.write(b"hello\n")
            await writer.drain()
            await asyncio.wait_for(answering.wait(), 10)
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(reader.read(), 10) == b"done\n"
            writer.close()
            await writer.wait_closed()
            code = await asyncio.to_thread(proc.wait, 10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            output = proc.stdout.read().decode() if proc.stdout else ""
            if proc.stdout:
                proc.stdout.close()
    assert code == 0, output
    assert f"front on {LOCAL}:{listen}" in output
    try:
        await asyncio.open_connection(LOCAL, listen)
    except ConnectionRefusedError:
        pass
    else:
        raise AssertionError("the stopped front's port still accepts connections")
