"""The outbound side of HBONE: a pool of mTLS + HTTP/2 connections opening CONNECTs.

As in ztunnel (``shared/reference/ztunnel.md`` §1.7) a pooled connection is
keyed by {source identity, expected destination identities, peer address}
and carries at most 100 streams; the next CONNECT beyond that opens another
connection.  A connection with no stream for ``idle_timeout`` is closed.
Connections are made one at a time per key, so a burst of CONNECTs shares
one handshake instead of racing to open one each.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Mapping
from http import HTTPStatus

from h2.errors import ErrorCodes

from dataplane.mesh.hbone import h2patch
from dataplane.mesh.hbone.protocol import (
    CONNECT_TIMEOUT,
    KEEPALIVE,
    MAX_STREAMS_PER_CONNECTION,
    POOL_IDLE_TIMEOUT,
    HboneError,
    Keepalive,
    forwarded,
    traceparent,
)
from dataplane.mesh.hbone.session import H2Session, Stream

Address = tuple[str, int]
SocketFactory = Callable[[], "socket.socket | Awaitable[socket.socket]"]
"""Makes the TCP socket of a new connection, directly or as an awaitable."""
PoolKey = tuple[str, frozenset[str], Address]


class IdentityError(ConnectionError):
    """The server's certificate is valid but names another workload."""


def _tcp_socket() -> socket.socket:
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM)


class _PooledSession(H2Session):
    """A client connection that knows its expected peer and reports idleness."""

    def __init__(self, pool: HbonePool, key: PoolKey):
        super().__init__(client=True, keepalive=pool.keepalive)
        self.pool = pool
        self.key = key
        self._idle: asyncio.TimerHandle | None = None

    def check_peer(self) -> ConnectionError | None:
        expected = self.key[1]
        if self.peer_identity in expected:
            return None
        return IdentityError(
            f"identity verification error: peer did not present the expected SAN "
            f"(got {self.peer_identity}, expected one of {sorted(expected)})"
        )

    def open_stream(self, headers: list[tuple[str, str]]) -> Stream:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        return super().open_stream(headers)

    def on_stream_closed(self, stream: Stream) -> None:
        if not self.streams and self.usable:
            self._idle = asyncio.get_running_loop().call_later(self.pool.idle_timeout, self._close_if_idle)

    def _close_if_idle(self) -> None:
        if not self.streams:
            self.close()


class HbonePool:
    """Opens CONNECT streams, reusing pooled connections.

    ``ssl_context`` must be a TLS 1.3 client context with ALPN ``h2``,
    ``CERT_REQUIRED`` and ``check_hostname = False``: the server is identified
    by its SPIFFE URI SAN (checked here against ``expected_identity``), not
    by a host name, and no SNI is sent, as in ztunnel.
    """

    def __init__(
        self,
        socket_factory: SocketFactory = _tcp_socket,
        max_streams: int = MAX_STREAMS_PER_CONNECTION,
        idle_timeout: float = POOL_IDLE_TIMEOUT,
        connect_timeout: float = CONNECT_TIMEOUT,
        keepalive: Keepalive = KEEPALIVE,
    ):
        h2patch.apply()
        self.keepalive = keepalive
        self.socket_factory = socket_factory
        self.max_streams = max_streams
        self.idle_timeout = idle_timeout
        self.connect_timeout = connect_timeout
        self._sessions: dict[PoolKey, list[_PooledSession]] = {}
        self._locks: dict[PoolKey, asyncio.Lock] = {}

    async def connect(
        self,
        peer_addr: Address,
        authority: str,
        *,
        ssl_context: ssl.SSLContext,
        expected_identity: str | Iterable[str],
        source_identity: str = "",
        forwarded_for: Address | None = None,
        headers: Mapping[str, str] | None = None,
        socket_factory: SocketFactory | None = None,
    ) -> Stream:
        """CONNECT to ``authority`` through the HBONE server at ``peer_addr``.

        Returns the stream once the server said 200 (it has connected the
        application by then); raises ``HboneError`` carrying any other status.
        ``source_identity`` only keys the pool: ``ssl_context`` carries the cert.
        """
        expected = frozenset([expected_identity] if isinstance(expected_identity, str) else expected_identity)
        key: PoolKey = (source_identity, expected, (peer_addr[0], peer_addr[1]))
        session = await self._session(key, ssl_context, socket_factory or self.socket_factory)
        request = [(":method", "CONNECT"), (":authority", authority)]
        extra = dict(headers or {})
        if forwarded_for is not None:
            extra.setdefault("forwarded", forwarded(forwarded_for))
        extra.setdefault("traceparent", traceparent())
        request.extend((name.lower(), value) for name, value in extra.items())
        stream = session.open_stream(request)
        try:
            response = dict(await asyncio.wait_for(stream.response, self.connect_timeout))
        except BaseException:
            stream.reset(ErrorCodes.CANCEL)
            raise
        status = int(response.get(":status", "0"))
        if status != HTTPStatus.OK:
            stream.reset(ErrorCodes.CANCEL)
            raise HboneError(status)
        return stream

    def connection_count(self) -> int:
        """Live pooled connections (all keys)."""
        return sum(1 for sessions in self._sessions.values() for s in sessions if s.error is None)

    def close_idle(self) -> None:
        """GOAWAY and close every pooled connection that carries no stream now.

        Each holds a socket made in the source pod, which keeps that pod's
        network namespace (and its veths) alive: due when the pod stops
        being served, not at the idle timeout."""
        for group in self._sessions.values():
            for session in [s for s in group if not s.streams]:
                group.remove(session)
                session.close()

    async def close(self) -> None:
        sessions = [s for group in self._sessions.values() for s in group]
        self._sessions.clear()
        for session in sessions:
            session.close()
        await asyncio.gather(*(s.closed for s in sessions), return_exceptions=True)

    async def _session(self, key: PoolKey, context: ssl.SSLContext, factory: SocketFactory) -> _PooledSession:
        """A usable connection with a free stream slot; opened (one at a time) if none."""
        async with self._locks.setdefault(key, asyncio.Lock()):
            group = self._sessions.setdefault(key, [])
            group[:] = [s for s in group if s.error is None]
            for session in group:
                if session.usable and len(session.streams) < self.max_streams:
                    return session
            session = await self._open(key, context, factory)
            group.append(session)
            return session

    async def _open(self, key: PoolKey, context: ssl.SSLContext, factory: SocketFactory) -> _PooledSession:
        loop = asyncio.get_running_loop()
        made = factory()
        sock = await made if inspect.isawaitable(made) else made
        sock.setblocking(False)
        try:
            async with asyncio.timeout(self.connect_timeout):
                await loop.sock_connect(sock, key[2])
                _, session = await loop.create_connection(
                    lambda: _PooledSession(self, key), sock=sock, ssl=context, server_hostname=""
                )
        except TimeoutError as exc:
            sock.close()
            raise TimeoutError(
                f"connection to {key[2][0]}:{key[2][1]} timed out, maybe a NetworkPolicy is blocking HBONE port 15008"
            ) from exc
        except BaseException:
            sock.close()
            raise
        if session.error is not None:
            raise session.error
        return session
