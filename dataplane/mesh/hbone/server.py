"""The inbound side of HBONE: mTLS + HTTP/2 on 15008, one CONNECT per tunnel.

Each CONNECT goes through ztunnel's order (``shared/reference/ztunnel.md``
§1.5): 400 for a non-CONNECT or a bad ``:authority``, 503 for ztunnel's own
ports, then ``authorize`` (a deny reason → 401, or a ``Rejection`` with its
own status, e.g. 400 for step 3's ``ip mismatch``), then ``dial`` (failure →
503), and 200 only once the upstream TCP connection exists.  Then bytes flow
through ``relay``.

``authorize`` and ``dial`` are the caller's: the daemon will evaluate
policies and dial from inside the destination pod with the client's address
as source; tests pass simple functions.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from h2.errors import ErrorCodes

from dataplane.mesh import tls
from dataplane.mesh.hbone import h2patch
from dataplane.mesh.hbone.protocol import CONNECT_TIMEOUT, KEEPALIVE, Keepalive, Rejection, check_connect
from dataplane.mesh.hbone.relay import RelayResult, relay
from dataplane.mesh.hbone.session import H2Session, Headers, Stream

log = logging.getLogger(__name__)

Address = tuple[str, int]
# (peer SPIFFE id or None, outer source address, target) -> None to allow; a deny
# reason (str) to refuse with 401 Unauthorized (policy denial, ztunnel's DENY); or
# a ``Rejection(status, reason)`` to refuse with another status, as the ip-mismatch
# rule of §1.5 step 3 does with 400.
Authorize = Callable[[str | None, Address, Address], str | Rejection | None]
# (target, source address to present) -> an open connection to the application
Dial = Callable[[Address, Address], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]
# Serves an accepted (already answered 200) CONNECT's stream itself, until it is done with it.
Accept = Callable[["Tunnel", Stream], Awaitable[None]]


@dataclass
class Tunnel:
    """What the server knows about one accepted CONNECT (for logs and metrics)."""

    peer_identity: str | None
    source: Address
    target: Address
    headers: Headers
    result: RelayResult = field(default_factory=RelayResult)
    closed_by: str | None = None  # why the server cut it (``close_tunnels``), for the log


class _ServerSession(H2Session):
    """A server connection that refuses, right after the handshake and before
    any HTTP/2 byte, a client whose certificate carries no SPIFFE identity of
    our trust domain (``tls.verify_client``).

    OpenSSL has already verified the chain against the emulation's root;
    ztunnel's server checks only the trust domain and leaves the principal to
    authorization (reference: ztunnel.md §1.3).  Without a trust domain (bare
    transport tests) any verified peer is accepted.
    """

    def __init__(self, trust_domain: str | None, on_request: Callable[[Stream, Headers], None], keepalive: Keepalive):
        super().__init__(client=False, on_request=on_request, keepalive=keepalive)
        self.trust_domain = trust_domain

    def check_peer(self) -> ConnectionError | None:
        if self.trust_domain is None or self.tls_object is None:
            return None
        try:
            tls.verify_client(self.tls_object, self.trust_domain)
        except tls.PeerRejected as exc:
            return exc
        return None


class HboneServer:
    """Serves HBONE on listening sockets the caller made (e.g. inside a pod's netns).

    ``source`` passed to ``authorize`` and ``dial`` is the outer TCP peer's
    address: in in-pod mode the client ztunnel connects from the client pod's
    own namespace and IP, so that is the address to spoof.

    An authorized CONNECT is either relayed to a connection ``dial`` opens
    (the ztunnel) or, given ``accept`` instead, answered at once and handed
    to it as a ``Stream`` (a waypoint, which terminates the tunnel itself:
    no extra connection and relay between HBONE and its L7 chain).
    ``accept`` starts in the same event-loop step as ``authorize`` (nothing
    is awaited in between), so what ``authorize`` looked up still holds.
    """

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        authorize: Authorize,
        dial: Dial | None,
        handshake_timeout: float = CONNECT_TIMEOUT,
        on_tunnel_closed: Callable[[Tunnel], None] | None = None,
        trust_domain: str | None = None,
        keepalive: Keepalive = KEEPALIVE,
        accept: Accept | None = None,
    ):
        if (dial is None) == (accept is None):
            raise ValueError("give either dial or accept")
        h2patch.apply()
        self.keepalive = keepalive
        self.ssl_context = ssl_context
        self.trust_domain = trust_domain
        self.authorize = authorize
        self.dial = dial
        self.accept = accept
        self.handshake_timeout = handshake_timeout
        self.on_tunnel_closed = on_tunnel_closed
        self.sessions: set[H2Session] = set()
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._live: dict[int, tuple[Tunnel, Stream]] = {}  # relaying tunnels, by id(tunnel)

    async def serve(self, sock: socket.socket, backlog: int = socket.SOMAXCONN) -> asyncio.Server:
        """Start accepting on ``sock`` (bound and listening, or about to be).

        ``backlog`` is passed on because asyncio calls ``listen()`` again on a
        given socket, with 100 unless told otherwise: too short an accept queue
        for a burst of connects, whose overflow ends in resets.
        """
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            self._new_session, sock=sock, backlog=backlog, ssl=self.ssl_context,
            ssl_handshake_timeout=self.handshake_timeout,
        )
        self._servers.append(server)
        return server

    async def close(self) -> None:
        """Stop accepting, GOAWAY every connection, cancel live tunnels."""
        for server in self._servers:
            server.close()
        for session in list(self.sessions):
            session.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._servers:
            await server.wait_closed()

    def close_idle(self) -> None:
        """GOAWAY and close every connection that carries no tunnel now (its
        socket lives in the pod's namespace and keeps it alive)."""
        for session in list(self.sessions):
            if not session.streams:
                session.close()

    def close_tunnels(self, reason_to_close: Callable[[Tunnel], str | None]) -> int:
        """Reset every relaying tunnel for which ``reason_to_close`` gives a
        reason (kept in ``Tunnel.closed_by``); returns how many.

        ztunnel's policy watcher does this when policies change: established
        connections are checked again and the newly denied ones closed.  The
        stream is reset, so the relay ends as it does for any reset (RST to
        the application, RST_STREAM to the client) and still reports the
        bytes it moved.
        """
        closed = 0
        for tunnel, stream in list(self._live.values()):
            reason = reason_to_close(tunnel)
            if reason is not None:
                tunnel.closed_by = reason
                stream.reset(ErrorCodes.CONNECT_ERROR)
                closed += 1
        return closed

    def _new_session(self) -> H2Session:
        session = _ServerSession(
            self.trust_domain, lambda stream, headers: self._spawn(self._handle(stream, headers)), self.keepalive
        )
        self.sessions.add(session)
        session.closed.add_done_callback(lambda _: self.sessions.discard(session))
        return session

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, stream: Stream, headers: Headers) -> None:
        session = stream.session
        verdict = check_connect(headers)
        if isinstance(verdict, Rejection):
            self._refuse(session, stream, verdict)
            return
        source = session.peer_address or ("", 0)
        tunnel = Tunnel(session.peer_identity, (source[0], source[1]), verdict, headers)
        deny = self.authorize(tunnel.peer_identity, tunnel.source, tunnel.target)
        if deny is not None:
            if not isinstance(deny, Rejection):
                deny = Rejection(HTTPStatus.UNAUTHORIZED, deny)
            self._refuse(session, stream, deny)
            return
        if self.dial is not None:
            try:
                reader, writer = await asyncio.wait_for(self.dial(tunnel.target, tunnel.source), CONNECT_TIMEOUT)
            except (TimeoutError, OSError) as exc:
                self._refuse(session, stream, Rejection(HTTPStatus.SERVICE_UNAVAILABLE, f"dial {tunnel.target}: {exc!r}"))
                return
        session.respond(stream, HTTPStatus.OK)
        self._live[id(tunnel)] = (tunnel, stream)
        try:
            if self.dial is not None:
                tunnel.result = await relay(stream, reader, writer)
            else:
                await self._accepted(tunnel, stream)
        finally:
            del self._live[id(tunnel)]
            if self.on_tunnel_closed is not None:
                self.on_tunnel_closed(tunnel)

    async def _accepted(self, tunnel: Tunnel, stream: Stream) -> None:
        assert self.accept is not None
        try:
            await self.accept(tunnel, stream)
        except asyncio.CancelledError:
            stream.reset(ErrorCodes.CANCEL)  # the server is closing, as ``relay`` does when cancelled
            raise

    @staticmethod
    def _refuse(session: H2Session, stream: Stream, rejection: Rejection) -> None:
        log.info("refused CONNECT from %s: %d %s", session.peer_identity, rejection.status, rejection.reason)
        session.respond(stream, rejection.status)
