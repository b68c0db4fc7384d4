"""One meshed pod as its node's agent serves it: by the ztunnel (in-pod mode), or
as the pod's own emulated sidecar (``sidecar=True``: same listeners, routes that
skip waypoints, the app reached from 127.0.0.6, see ``outbound``/``inbound``).

``PodProxy`` owns what lives as long as the pod is served: three listeners
made inside the pod's own namespace (15001 ``outbound``, 15006 and 15008
``inbound``), the pod's socket thread (``ztsockets.PodSockets``), its HBONE
client pool and server, and the count of live connections.  What a
connection means (route, policy, metrics, access log) is the listeners'
business; they get a ``ProxyContext`` rather than the whole ``Ztunnel``.

The count lets the ztunnel keep the pod's return-path plumbing after an
unenroll until the last connection is gone (``on_idle``).  The socket thread
keeps the pod's namespace alive, so whoever finishes with the proxy calls
``close_sockets`` (``close`` does).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from dataplane.kernel import ztsockets
from dataplane.mesh.constants import (
    HBONE_PORT,
    INBOUND_PLAINTEXT_PORT,
    OUTBOUND_PORT,
    SIDECAR_INBOUND_SOURCE,
    ZTUNNEL_MARK,
)
from dataplane.mesh.hbone import HbonePool, HboneServer
from dataplane.mesh.hbone.relay import abort_with_rst
from dataplane.mesh.identity import SpiffeId
from dataplane.mesh.ztunnel.context import ProxyContext
from dataplane.mesh.ztunnel.inbound import Inbound
from dataplane.mesh.ztunnel.outbound import Outbound
from dataplane.topology.plan import Pod

log = logging.getLogger(__name__)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]


class PodProxy:
    def __init__(self, context: ProxyContext, pod: Pod, sidecar: bool = False):
        self.sidecar = sidecar
        self.identity = context.identity(pod)
        self.active = 0
        self.on_idle: Callable[[PodProxy], None] | None = None
        self.sockets = ztsockets.PodSockets(pod.netns, ZTUNNEL_MARK)  # its thread runs from open() to close_sockets()
        self.pool = HbonePool(socket_factory=self._marked)
        self.outbound = Outbound(context, pod, self.identity, self.pool, self._marked, sidecar)
        self.inbound = Inbound(
            context, pod, self.identity, self.sockets, self._track, SIDECAR_INBOUND_SOURCE if sidecar else None
        )
        self.hbone = HboneServer(
            context.server_context(pod),
            self.inbound.authorize,
            self.inbound.dial_app,
            on_tunnel_closed=self.inbound.tunnel_closed,
            trust_domain=SpiffeId.parse(self.identity).trust_domain,
        )
        self._pod = pod
        self._servers: list[asyncio.AbstractServer] = []
        self._handlers: set[asyncio.Task[None]] = set()

    @property
    def pod(self) -> Pod:
        return self._pod

    @pod.setter
    def pod(self, pod: Pod) -> None:
        """A reconcile hands over the pod's newer record (same namespace, address
        and identity; labels or readiness may differ)."""
        self._pod = self.outbound.pod = self.inbound.pod = pod

    # -- life cycle --------------------------------------------------------------------------------

    async def open(self) -> None:
        """Listen on 15001/15006/15008 inside the pod (before its capture is switched on)."""
        netns = self.pod.netns
        try:
            self.sockets.start()
            # backlog: asyncio re-listens with 100 by default, too short for a burst
            # of connects (see ztsockets.LISTEN_BACKLOG)
            backlog = ztsockets.LISTEN_BACKLOG
            out = ztsockets.listener_in(netns, OUTBOUND_PORT)
            self._servers.append(await asyncio.start_server(self._tracked(self.outbound.handle), sock=out, backlog=backlog))
            inb = ztsockets.listener_in(netns, INBOUND_PLAINTEXT_PORT)
            self._servers.append(
                await asyncio.start_server(self._tracked(self.inbound.handle_plaintext), sock=inb, backlog=backlog)
            )
            self._servers.append(await self.hbone.serve(ztsockets.listener_in(netns, HBONE_PORT), backlog=backlog))
        except BaseException:
            self.stop_listening()
            self.close_sockets()
            raise

    def stop_listening(self) -> None:
        """Close the listening sockets only: accepted connections carry on."""
        for server in self._servers:
            server.close()
        self._servers.clear()

    async def close(self) -> None:
        """Everything, established connections included (agent shutdown)."""
        self.stop_listening()
        for task in list(self._handlers):
            task.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self.hbone.close()
        await self.pool.close()
        self.close_sockets()

    def close_sockets(self) -> None:
        """Stop the pod's socket thread and close its idle HBONE connections,
        inbound and pooled: each holds the pod's namespace (idempotent).

        Due whenever the proxy is done: closed, unenrolled while idle, drained,
        replaced, or its pod deleted.  A straggling dial afterwards still works,
        the slow way (see ``ztsockets.PodSockets``).
        """
        self.sockets.close()
        self.hbone.close_idle()
        self.pool.close_idle()

    def recheck_policies(self) -> int:
        """Close the live inbound connections the current policies deny; how many."""
        return self.inbound.recheck(self.hbone)

    # -- connection accounting ---------------------------------------------------------------------

    def _track(self, delta: int) -> None:
        self.active += delta
        if self.active == 0 and self.on_idle is not None:
            self.on_idle(self)

    def _tracked(self, handler: Handler) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]:
        async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                self._handlers.add(task)
            self._track(+1)
            try:
                await handler(reader, writer)  # type: ignore[misc]
            except Exception:  # one connection's bug must not take the agent down
                log.exception("%s: connection handler failed", self.pod.key)
                abort_with_rst(writer)
            finally:
                writer.close()
                self._track(-1)
                if task is not None:
                    self._handlers.discard(task)

        return run

    async def _marked(self) -> socket.socket:
        return await self.sockets.marked()
