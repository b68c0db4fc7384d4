"""Keep-alive upstream connections, per endpoint, with Envoy's circuit breakers.

A request takes an idle connection to its endpoint or opens one; afterwards
the connection goes back to the idle list if both sides kept it alive.  The
limits are DestinationRule's ``connectionPool`` as Envoy applies them per
endpoint cluster: at most ``max_connections`` connections (busy or idle),
and at most ``max_pending`` requests waiting for one; a request beyond both
fails at once with ``Overflow`` (the proxy answers 503 ``UO``).  Unset
limits are Envoy's "practically unlimited" 2^32 - 1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from dataplane.l7.http import h1, h2
from dataplane.l7.http.messages import ProtocolError, Request, Response
from dataplane.l7.http.streams import Reader, Writer

Address = tuple[str, int]
Streams = tuple[Reader, Writer]
Upstream = h1.Upstream | h2.Upstream
UNLIMITED = 2**32 - 1


class Overflow(Exception):
    """The pool's connection and pending-request limits are both reached."""


@dataclass(frozen=True)
class Limits:
    max_connections: int = UNLIMITED
    max_pending: int = UNLIMITED
    max_requests_per_connection: int = 0  # 0: unlimited


@dataclass
class _Host:
    idle: list[tuple[Upstream, int]] = field(default_factory=list)  # connection, requests it carried
    open: int = 0
    waiting: int = 0
    freed: asyncio.Condition = field(default_factory=asyncio.Condition)


class ConnectionPool:
    def __init__(
        self, connect: Callable[[Address], Awaitable[Streams]], limits: Limits = Limits(), http2: bool = False
    ):
        self._connect = connect
        self.limits = limits
        self.http2 = http2  # h2c with prior knowledge to every endpoint, else HTTP/1.1
        self._hosts: dict[Address, _Host] = {}

    def active(self, address: Address) -> int:
        """Connections to ``address`` carrying a request now (least-request balancing reads it)."""
        host = self._hosts.get(address)
        return 0 if host is None else host.open - len(host.idle)

    async def exchange(self, address: Address, request: Request) -> Response:
        """One request and its response over a pooled connection to ``address``.

        Connection errors propagate (the caller decides on retries); a
        connection that failed is never reused.
        """
        host = self._hosts.setdefault(address, _Host())
        while True:
            connection, carried = await self._acquire(address, host)
            keep = False
            try:
                response = await connection.exchange(request)
                carried += 1
                limit = self.limits.max_requests_per_connection
                keep = connection.reusable and (limit == 0 or carried < limit)
                return response
            except (ConnectionError, ProtocolError):
                if carried == 0:
                    raise
                # an idle connection the server had closed meanwhile: nothing was
                # processed, so a fresh connection may carry the request
            finally:
                await self._release(host, connection, carried, keep)

    async def _acquire(self, address: Address, host: _Host) -> tuple[Upstream, int]:
        async with host.freed:
            while not host.idle and host.open >= self.limits.max_connections:
                if host.waiting >= self.limits.max_pending:
                    raise Overflow(f"{address[0]}:{address[1]}: {host.open} connections, {host.waiting} pending")
                host.waiting += 1
                try:
                    await host.freed.wait()
                finally:
                    host.waiting -= 1
            if host.idle:
                return host.idle.pop()
            host.open += 1
        try:
            reader, writer = await self._connect(address)
        except BaseException:
            async with host.freed:
                host.open -= 1
                host.freed.notify()
            raise
        return (h2.Upstream if self.http2 else h1.Upstream)(reader, writer), 0

    async def _release(self, host: _Host, connection: Upstream, carried: int, keep: bool) -> None:
        async with host.freed:
            if keep:
                host.idle.append((connection, carried))
            else:
                host.open -= 1
                connection.close()
            host.freed.notify()

    def close(self) -> None:
        for host in self._hosts.values():
            for connection, _ in host.idle:
                connection.close()
            host.open -= len(host.idle)
            host.idle.clear()
