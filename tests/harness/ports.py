"""Free local ports, for servers the tests start side by side."""

from __future__ import annotations

import socket


def free_socket() -> socket.socket:
    """A socket bound to a free local port and not listening yet (uvicorn's `serve(sockets=[…])`
    listens on it): the port is the test's from the start, with no window for another to take it.

    Its protocol is named (IPPROTO_TCP, not 0): asyncio sets TCP_NODELAY only on connections whose
    socket says TCP, and without it every small response waits out a delayed ACK (~40 ms a request)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, with_offset: int | None = None, avoid: tuple[int, ...] = ()) -> int:
    """A free local port for a process to bind (and, with `with_offset`, port + offset free as well)."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port in avoid or (with_offset is not None and port + with_offset in avoid):
            continue
        if with_offset is None:
            return port
        if port + with_offset < 65536 and port_is_free(port + with_offset):
            return port
    raise RuntimeError("no free port pair found")


def closed_port() -> int:
    """A local port with nothing listening on it."""
    return free_port()
