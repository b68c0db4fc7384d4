"""TLS at the gateway: the ClientHello read in place, and the certificates of Terminate listeners.

``peek_hello`` waits for the client's first record with ``MSG_PEEK``, so the
bytes stay in the socket for whoever takes the connection next (the TLS
server of a Terminate listener, or the splice of a Passthrough one) -- what
Envoy's TLS inspector does before it picks a filter chain.

A Terminate listener's ``certificateRefs`` name Secrets the emulation
issues: each Secret ``<ns>/<name>`` gets a certificate from the emulated
public root (``lb.acm``, the pseudo-ARN ``secret:<ns>/<name>``) for the
listener's names, so the outside client verifies it with the same root as
the ALB's.  The first reference is served (one certificate per listener).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path

from dataplane.edge import clienthello
from dataplane.edge.clienthello import Hello
from dataplane.lb import acm

MAX_HELLO = 16 * 1024 + clienthello.RECORD_HEADER
HELLO_TIMEOUT = 10.0
_RETRY = 0.005  # a record still arriving: look again shortly (the socket stays readable meanwhile)


async def peek_hello(sock: socket.socket) -> Hello:
    """The ClientHello at the head of ``sock``'s stream, left unread; incomplete at EOF or timeout."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(HELLO_TIMEOUT):
        while True:
            await _readable(loop, sock)
            data = sock.recv(MAX_HELLO, socket.MSG_PEEK)
            hello = clienthello.inspect(data)
            if hello.complete or not data or len(data) >= MAX_HELLO:
                return hello
            await asyncio.sleep(_RETRY)


async def _readable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(sock.fileno(), lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(sock.fileno())


def reset(sock: socket.socket) -> None:
    """Close with a RST, as Envoy drops a connection no filter chain takes."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


class Certificates:
    """Server contexts per (Secret, names), made once from the emulated root's certificates."""

    def __init__(self, state_dir: Path, emulation: str):
        self._state_dir = state_dir
        self._emulation = emulation
        self._contexts: dict[tuple[str, tuple[str, ...]], ssl.SSLContext] = {}

    def context(self, secret: str, domains: tuple[str, ...]) -> ssl.SSLContext:
        key = (secret, domains)
        if key not in self._contexts:
            root = acm.ensure_root(self._state_dir, self._emulation)
            files = acm.ensure_certificate(self._state_dir, root, f"secret:{secret}", domains)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(files.cert), str(files.key))
            context.set_alpn_protocols(["h2", "http/1.1"])
            self._contexts[key] = context
        return self._contexts[key]
