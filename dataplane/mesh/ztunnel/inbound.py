"""Inbound: HBONE (15008) and captured plaintext (15006), one authorize/dial path.

* **15008**: ``HboneServer`` (made by ``PodProxy`` with the destination pod's
  certificate) calls ``authorize`` for every CONNECT: the authority's IP must
  be this pod's (§1.5 step 3), then the L4 policies with the peer's verified
  SPIFFE id; ``dial_app`` connects to the app from the client's IP
  (``PodSockets.spoofed``), so the app sees the client pod as its peer.
* **15006**: traffic from clients outside the mesh, captured in the pod; the
  same policies with no identity, then the same spoofed dial.

For a pod's emulated **sidecar** (``app_source`` set) both dial the app from
``127.0.0.6``, as Envoy's inbound passthrough does, so the app sees that
address as its peer instead of the client's.

Both count ``reporter=destination`` (opened once a CONNECT passed its check;
a denial is opened and closed with ``DENY`` and 0 bytes, a failed dial
``CONNECT``), write one access-log line per connection, and keep their live
connections so ``recheck`` can close the ones a policy change now denies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from http import HTTPStatus

from dataplane.kernel import ztsockets
from dataplane.mesh.constants import HBONE_PORT, PROXY_PORTS
from dataplane.mesh.hbone import HboneServer, Rejection, Tunnel
from dataplane.mesh.hbone.relay import abort_with_rst
from dataplane.mesh.metrics import ConnectionLabels
from dataplane.mesh.ztunnel import accesslog
from dataplane.mesh.ztunnel.context import CONNECT, DENY, ProxyContext, policy_error
from dataplane.mesh.ztunnel.streams import NET_ERRORS, captured, dial, splice
from dataplane.mesh.ztunnel.workloads import Address
from dataplane.topology.plan import Pod

log = logging.getLogger(__name__)


@dataclasses.dataclass(eq=False)
class _PlainInbound:
    """A live 15006 connection, as the policy re-check needs it."""

    source_ip: str
    port: int
    client: asyncio.StreamWriter
    app: asyncio.StreamWriter
    closed_by: str | None = None


class Inbound:
    """``track(+1/-1)`` counts connections that outlive their handler (HBONE
    tunnels, from dial to close) for the owner's drain."""

    def __init__(
        self,
        context: ProxyContext,
        pod: Pod,
        identity: str,
        sockets: ztsockets.PodSockets,
        track: Callable[[int], None],
        app_source: str | None = None,
    ):
        self.context = context
        self.pod = pod
        self.identity = identity
        self._sockets = sockets
        self._track = track
        self._app_source = app_source  # None: the client's own address
        self._plain: set[_PlainInbound] = set()
        # accepted CONNECTs waiting for their dial/close: start time and metric labels
        self._tunnel_started: dict[tuple[Address, Address], deque[tuple[float, ConnectionLabels]]] = defaultdict(deque)

    def recheck(self, hbone: HboneServer) -> int:
        """Close the live inbound connections the current policies deny; how many.

        ztunnel re-checks established inbound connections whenever policies
        change and closes the newly denied ones (its ``PolicyWatcher``); the
        others carry on untouched.  Identity-less 15006 connections are
        checked with no identity, as when they were opened.
        """

        def denial(source_ip: str, identity: str | None, port: int) -> str | None:
            decision = self.context.authorize(self.pod, source_ip, identity, port)
            return None if decision.allowed else policy_error(decision)

        closed = hbone.close_tunnels(lambda t: denial(t.source[0], t.peer_identity, t.target[1]))
        for conn in list(self._plain):
            reason = denial(conn.source_ip, None, conn.port)
            if reason is not None and conn.closed_by is None:
                conn.closed_by = reason
                abort_with_rst(conn.client)
                abort_with_rst(conn.app)
                closed += 1
        return closed

    # -- access log ------------------------------------------------------------------------------

    def _fields(self, source: Address, identity: str | None, dst_addr: str, target: Address | None) -> dict[str, object]:
        fields: dict[str, object] = {"src.addr": accesslog.addr(source)}
        fields.update(accesslog.workload("src", self.context.resolver.pod_at(source[0]), identity))
        fields["dst.addr"] = dst_addr
        if target is not None:
            fields["dst.hbone_addr"] = accesslog.addr(target)
        fields.update(accesslog.workload("dst", self.pod, self.identity if identity else None))
        fields["direction"] = "inbound"
        return fields

    def _hbone_fields(self, source: Address, identity: str | None, target: Address) -> dict[str, object]:
        return self._fields(source, identity, f"{self.pod.ip}:{HBONE_PORT}", target)

    # -- HBONE (15008): HboneServer's callbacks ----------------------------------------------------

    def _hbone_labels(self, peer_identity: str | None, source: Address) -> ConnectionLabels:
        # destination_service stays unknown: the inbound side is not told which VIP the client dialled.
        return self.context.labels(
            "destination", self.context.resolver.pod_at(source[0]), self.pod, mtls=True,
            source_principal=peer_identity, destination_principal=self.identity,
        )

    def authorize(self, peer_identity: str | None, source: Address, target: Address) -> str | Rejection | None:
        if target[0] != self.pod.ip:  # §1.5 step 3, before any context: no metrics
            return Rejection(HTTPStatus.BAD_REQUEST, f"ip mismatch: {target[0]} is not {self.pod.ip}")
        decision = self.context.authorize(self.pod, source[0], peer_identity, target[1])
        labels = self._hbone_labels(peer_identity, source)
        self.context.opened(labels)
        if decision.allowed:
            self._tunnel_started[(source, target)].append((time.monotonic(), labels))
            return None
        self.context.closed(labels, 0, 0, DENY)
        fields = self._hbone_fields(source, peer_identity, target)
        fields["error"] = policy_error(decision)
        accesslog.complete(fields, None, 0, 0)
        return policy_error(decision)

    def _pop_tunnel(self, source: Address, target: Address) -> tuple[float, ConnectionLabels | None]:
        """The start time and labels ``authorize`` recorded for this tunnel (oldest first)."""
        starts = self._tunnel_started.get((source, target))
        started, labels = starts.popleft() if starts else (time.monotonic(), None)
        if starts is not None and not starts:
            del self._tunnel_started[(source, target)]
        return started, labels

    async def dial_app(self, target: Address, source: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            streams = await dial(lambda: self._sockets.spoofed(self._app_source or source[0]), (self.pod.ip, target[1]))
        except BaseException as exc:  # HboneServer answers 503; the connection ends here
            started, labels = self._pop_tunnel(source, target)
            if labels is not None:
                self.context.closed(labels, 0, 0, CONNECT)
            if isinstance(exc, Exception):
                identity = labels.source_principal if labels is not None else None
                fields = self._hbone_fields(source, identity, target)
                fields["error"] = str(exc) or repr(exc)
                accesslog.complete(fields, started, 0, 0)
            raise
        self._track(+1)
        return streams

    def tunnel_closed(self, tunnel: Tunnel) -> None:
        started, labels = self._pop_tunnel(tunnel.source, tunnel.target)
        if labels is None:  # not seen by authorize (cannot happen with HboneServer): count it now
            labels = self._hbone_labels(tunnel.peer_identity, tunnel.source)
            self.context.opened(labels)
        # from_stream: client -> app (request), to_stream: app -> client (response)
        self.context.closed(labels, tunnel.result.from_stream, tunnel.result.to_stream)
        fields = self._hbone_fields(tunnel.source, tunnel.peer_identity, tunnel.target)
        if tunnel.closed_by:
            fields["error"] = tunnel.closed_by
        elif tunnel.result.reset:
            fields["error"] = "connection reset"
        accesslog.complete(fields, started, tunnel.result.to_stream, tunnel.result.from_stream)
        self._track(-1)

    # -- plaintext (15006) ---------------------------------------------------------------------------

    async def handle_plaintext(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = time.monotonic()
        addresses = captured(writer, self.pod.key, "inbound")
        if addresses is None:
            return
        src, dst = addresses
        fields = self._fields(src, None, accesslog.addr((self.pod.ip, dst[1])) or "", None)
        if dst[1] in PROXY_PORTS:
            log.warning("connection failed src.addr=%s dst.addr=%s direction=\"inbound\" error=\"self call\"",
                        accesslog.addr(src), accesslog.addr(dst))
            abort_with_rst(writer)
            return
        decision = self.context.authorize(self.pod, src[0], None, dst[1])
        labels = self.context.labels("destination", self.context.resolver.pod_at(src[0]), self.pod)
        self.context.opened(labels)
        sent = received = 0  # ztunnel's view: sent = to the client, received = from it
        flags = "-"
        try:
            if not decision.allowed:
                flags = DENY
                fields["error"] = policy_error(decision)
                abort_with_rst(writer)
            else:
                try:
                    app_r, app_w = await dial(lambda: self._sockets.spoofed(self._app_source or src[0]), (self.pod.ip, dst[1]))
                except NET_ERRORS:
                    flags = CONNECT
                    raise
                live = _PlainInbound(src[0], dst[1], writer, app_w)
                self._plain.add(live)
                try:
                    received, sent, reset = await splice(reader, writer, app_r, app_w)
                finally:
                    self._plain.discard(live)
                if live.closed_by:
                    fields["error"] = live.closed_by
                elif reset:
                    fields["error"] = "connection reset"
        except NET_ERRORS as exc:
            fields["error"] = str(exc) or repr(exc)
            abort_with_rst(writer)
        finally:
            self.context.closed(labels, received, sent, flags)
        accesslog.complete(fields, started, sent, received)
