"""Byte plumbing shared by the ztunnel's listeners: dial, splice, original destination.

Kept apart from the listeners so that what a connection *means* (route,
policy, metrics) reads without the mechanics of moving its bytes, and so the
L7 proxies can reuse the same splice with its half-close and reset rules.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable

from dataplane.kernel import ztsockets
from dataplane.mesh.hbone.relay import abort_with_rst
from dataplane.mesh.ztunnel.workloads import Address

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
DIAL_TIMEOUT = 10.0
NET_ERRORS = (OSError, ConnectionError, asyncio.TimeoutError, ssl.SSLError)
"""What a failed dial or tunnel raises."""


SNIFF_BYTES = 24  # enough to tell an HTTP/2 preface or an HTTP/1 request line from anything else


async def first_bytes(reader: asyncio.StreamReader) -> bytes:
    """What the client sends first: up to ``SNIFF_BYTES``, or less at a line end or EOF.

    Envoy's protocol inspection (waypoints, sidecars) waits for these with no
    timeout, which is why a server-first protocol on an undeclared port hangs."""
    data = b""
    while len(data) < SNIFF_BYTES and b"\n" not in data:
        chunk = await reader.read(SNIFF_BYTES - len(data))
        if not chunk:
            break
        data += chunk
    return data


class UpstreamError(Exception):
    """Wraps a failed upstream dial or CONNECT, so the handler can flag it ``CONNECT``."""


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: list[int]) -> None:
    """Copy one direction; EOF becomes a half-close on the other side."""
    while data := await reader.read(READ_SIZE):
        writer.write(data)
        counter[0] += len(data)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def splice(
    r1: asyncio.StreamReader, w1: asyncio.StreamWriter, r2: asyncio.StreamReader, w2: asyncio.StreamWriter
) -> tuple[int, int, bool]:
    """Plain TCP ↔ TCP with half-close; a reset on one side resets the other.

    Returns (bytes 1→2, bytes 2→1, reset).
    """
    forward, backward = [0], [0]
    tasks = [asyncio.ensure_future(_pipe(r1, w2, forward)), asyncio.ensure_future(_pipe(r2, w1, backward))]
    reset = False
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        if any(t.exception() is not None for t in done):
            reset = True
            abort_with_rst(w1)
            abort_with_rst(w2)
            for t in pending:
                t.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    finally:
        for t in tasks:
            if not t.done():
                t.cancel()
        w1.close()
        w2.close()
    return forward[0], backward[0], reset


async def dial(
    sock_factory: Callable[[], Awaitable[socket.socket]], target: Address
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect a socket made by ``sock_factory`` (marked or spoofed, inside the pod) to ``target``."""
    sock = await sock_factory()
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, target), DIAL_TIMEOUT)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


def captured(writer: asyncio.StreamWriter, pod_key: str, direction: str) -> tuple[Address, Address] | None:
    """Client address and original destination of a redirected connection;
    None (and the connection reset) when the kernel has no NAT record of it."""
    peer = writer.get_extra_info("peername")
    try:
        destination = ztsockets.original_dst(writer.get_extra_info("socket"))
    except OSError as exc:
        log.warning("%s: %s connection without original destination: %s", pod_key, direction, exc)
        abort_with_rst(writer)
        return None
    return (peer[0], peer[1]), destination
