"""The waypoint's second hop: from its own pod to the chosen endpoint.

An endpoint in the mesh is reached over HBONE (its ztunnel's 15008, the
waypoint's own certificate, the endpoint's identity verified, ``:authority``
``<podIP>:<targetPort>``, ``waypoint-l7.md`` §2.2 ``connect_originate``); an
endpoint outside the mesh gets plain TCP.  Either way the caller receives a
reader and a writer with asyncio's stream interface (an HBONE stream read
and written in place, ``hbone.stream_io``), so the L7 core and the TCP
chain need not know which it was.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

from dataplane.mesh.constants import HBONE_PORT
from dataplane.mesh.hbone import HbonePool, stream_io
from dataplane.mesh.hbone.streamio import StreamReader, StreamWriter
from dataplane.mesh.ztunnel.context import ProxyContext
from dataplane.mesh.ztunnel.streams import dial
from dataplane.topology.plan import Pod

Address = tuple[str, int]
Streams = tuple[asyncio.StreamReader | StreamReader, asyncio.StreamWriter | StreamWriter]


class Upstream:
    def __init__(
        self,
        context: ProxyContext,
        waypoint_pod: Pod,
        pool: HbonePool,
        marked: Callable[[], Awaitable[socket.socket]],
    ):
        self.context = context
        self.waypoint_pod = waypoint_pod
        self._identity = context.identity(waypoint_pod)
        self._pool = pool
        self._marked = marked

    async def open(self, address: Address) -> Streams:
        """A connection to ``address`` (an endpoint's IP and target port)."""
        pod = self.context.resolver.pod_at(address[0])
        if pod is None or not self.context.resolver.accepts_hbone(pod):
            return await dial(self._marked, address)
        stream = await self._pool.connect(
            (address[0], HBONE_PORT),
            f"{address[0]}:{address[1]}",
            ssl_context=self.context.client_context(self.waypoint_pod),
            expected_identity=self.context.identity(pod),
            source_identity=self._identity,
            socket_factory=self._marked,
        )
        return stream_io(stream)
