"""One waypoint pod as its node's agent serves it.

Its HBONE server (15008 inside the waypoint pod, the waypoint's own
certificate, clients verified like any peer) accepts a CONNECT only for a
target the waypoint serves (``targets``); anything else is refused with 400,
before any byte flows.  An accepted tunnel's stream goes, read and written
in place (``hbone.stream_io``), to the chain the target's protocol picks:
HTTP to the L7 core, TCP straight to an endpoint, an undeclared port sniffed
first.  Sniffing
waits for the client to speak, without a timeout, as Istio's does: a server
that speaks first on an undeclared port hangs (``waypoint-l7.md`` §6.1).
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from http import HTTPStatus

from dataplane.kernel import ztsockets
from dataplane.mesh import protocols
from dataplane.mesh.constants import HBONE_PORT, ZTUNNEL_MARK
from dataplane.mesh.hbone import HbonePool, HboneServer, Rejection, Stream, Tunnel, stream_io
from dataplane.mesh.hbone.streamio import StreamReader, StreamWriter
from dataplane.mesh.identity import SpiffeId
from dataplane.mesh.requestmetrics import RequestMetrics
from dataplane.mesh.waypoint.http import WaypointHttp
from dataplane.mesh.waypoint.targets import Target, Targets
from dataplane.mesh.waypoint.upstream import Upstream
from dataplane.mesh.ztunnel.context import ProxyContext
from dataplane.mesh.ztunnel.streams import NET_ERRORS, first_bytes, splice
from dataplane.topology.plan import Plan, Pod, Waypoint

log = logging.getLogger(__name__)

Address = tuple[str, int]


class WaypointProxy:
    def __init__(self, context: ProxyContext, pod: Pod, waypoint: Waypoint, metrics: RequestMetrics):
        self.context = context
        self.pod = pod
        self.waypoint = waypoint
        self.identity = context.identity(pod)
        self.targets = Targets(context.resolver.plan, waypoint)
        self.sockets = ztsockets.PodSockets(pod.netns, ZTUNNEL_MARK)
        self.pool = HbonePool(socket_factory=self._marked)
        self.upstream = Upstream(context, pod, self.pool, self._marked)
        self.http = WaypointHttp(context, pod, waypoint, self.upstream, metrics)
        self.hbone = HboneServer(
            context.server_context(pod),
            self._authorize,
            None,
            trust_domain=SpiffeId.parse(self.identity).trust_domain,
            accept=self._serve,
        )
        self._rng = random.Random()
        self._servers: list[asyncio.AbstractServer] = []

    def refresh(self, plan: Plan, waypoint: Waypoint) -> None:
        """A reconcile: new targets (bindings, endpoints) for new tunnels; live ones carry on."""
        self.waypoint = waypoint
        self.targets = Targets(plan, waypoint)
        self.http.refresh(plan, waypoint)

    async def open(self) -> None:
        try:
            self.sockets.start()
            listener = ztsockets.listener_in(self.pod.netns, HBONE_PORT)
            self._servers.append(await self.hbone.serve(listener, backlog=ztsockets.LISTEN_BACKLOG))
        except BaseException:
            self.sockets.close()
            raise

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()
        await self.hbone.close()
        self.http.close()
        await self.pool.close()
        self.sockets.close()

    async def _marked(self) -> socket.socket:
        return await self.sockets.marked()

    # -- HBONE #1: what the source ztunnel sends ----------------------------------------------------

    def _authorize(self, peer_identity: str | None, source: Address, target: Address) -> Rejection | None:
        if self.targets.resolve(target) is None:
            reason = f"waypoint {self.waypoint.key} serves no {target[0]}:{target[1]}"
            return Rejection(HTTPStatus.BAD_REQUEST, reason)
        return None

    async def _serve(self, tunnel: Tunnel, stream: Stream) -> None:
        # The server accepts in the step it authorized (nothing awaited in
        # between), so the target found then is found again here.
        target = self.targets.resolve(tunnel.target)
        assert target is not None
        reader, writer = stream_io(stream)
        try:
            initial = await first_bytes(reader) if target.inspected else b""
            protocol = target.protocol or protocols.sniffed(initial)
            if protocol != protocols.TCP:
                await self.http(reader, writer, initial, target, tunnel.peer_identity, tunnel.source)
            else:
                await self._tcp(reader, writer, initial, target)
        except Exception:  # one connection's bug must not take the agent down
            log.exception("waypoint %s: %s failed", self.waypoint.key, target.label)
            writer.abort()
        finally:
            writer.close()

    # -- the TCP chain ---------------------------------------------------------------------------------

    def endpoint(self, target: Target) -> Address | None:
        """Where a TCP connection to ``target`` goes: a random ready endpoint (per
        connection, as Envoy's TCP proxy balances), or the bound pod itself."""
        if target.pod is not None:
            return target.address
        ready = [e for e in target.endpoints if e.ready]
        if not ready:
            return None
        chosen = self._rng.choice(ready)
        return chosen.ip, chosen.port

    async def _tcp(self, reader: StreamReader, writer: StreamWriter, initial: bytes, target: Target) -> None:
        address = self.endpoint(target)
        if address is None:
            log.warning("waypoint %s: %s has no ready endpoint", self.waypoint.key, target.label)
            writer.abort()
            return
        try:
            up_r, up_w = await self.upstream.open(address)
        except NET_ERRORS as exc:
            log.warning("waypoint %s: %s -> %s:%d: %s", self.waypoint.key, target.label, *address, exc)
            writer.abort()
            return
        if initial:
            up_w.write(initial)
        await splice(reader, writer, up_r, up_w)
