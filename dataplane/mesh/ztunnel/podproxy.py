"""One enrolled pod as its node's ztunnel serves it (in-pod mode).

Three listeners live inside the pod's own namespace (``ztsockets``):

* **15001 outbound**: the pod's captured TCP; ``original_dst`` then
  ``workloads.Resolver``: a ztunnel port is refused (SelfCall), a Service VIP
  becomes a random ready endpoint, an enrolled pod is reached over HBONE
  (mTLS as the *source* pod's identity, from a marked socket in the source
  pod, so the outer TCP source is the pod's IP), anything else is plain TCP
  passthrough from a marked socket in the pod.
* **15008 inbound HBONE**: ``HboneServer`` with the *destination* pod's
  certificate; ``authorize`` checks the authority IP is this pod's
  (§1.5 step 3) and the L4 policies (``authz.evaluate``) with the peer's
  SPIFFE id; ``dial`` connects to the app from the client's IP
  (``ztsockets.spoofed``), so the app sees the client pod as its peer.
* **15006 inbound plaintext**: captured traffic from unenrolled clients;
  policies are evaluated with no identity, then the same spoofed dial.

Every connection ends with one access log line (``accesslog``) and is
counted in the node's ``MeshMetrics`` (``zt.metrics``) as ztunnel counts it:
``reporter=source`` on 15001, ``reporter=destination`` on 15006/15008;
opened once the connection's context (route, or a passed CONNECT check) is
known, closed and bytes at completion, with ``response_flags`` ``DENY`` for a
policy denial (opened and closed, 0 bytes) and ``CONNECT`` for a failed
upstream dial; SelfCall and no-upstream rejections are not counted.  Labels
are fixed when a connection opens, so a relabel mid-connection cannot split
its series.  The proxy counts its live connections so the ztunnel can keep the pod's return-path
plumbing until the last one is gone after an unenroll.

The per-connection sockets (dials to the app, to peers, passthrough) are made
by ``self.sockets`` (``ztsockets.PodSockets``), one thread living inside the
pod for as long as it is served.  That thread keeps the pod's namespace alive,
so whoever finishes with the proxy calls ``close_sockets`` (``close`` does).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import ssl
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import TYPE_CHECKING

from dataplane.kernel import ztsockets
from dataplane.mesh import authz
from dataplane.mesh.constants import HBONE_PORT, INBOUND_PLAINTEXT_PORT, OUTBOUND_PORT, PROXY_PORTS, ZTUNNEL_MARK
from dataplane.mesh.hbone import HbonePool, HboneServer, Rejection, Tunnel, relay
from dataplane.mesh.hbone.relay import abort_with_rst
from dataplane.mesh.identity import SpiffeId
from dataplane.mesh.metrics import ConnectionLabels, connection_labels
from dataplane.mesh.ztunnel import accesslog
from dataplane.mesh.ztunnel.workloads import HBONE, PASSTHROUGH, Address, Route
from dataplane.topology.plan import Pod

if TYPE_CHECKING:
    from dataplane.mesh.ztunnel.ztunnel import Ztunnel

log = logging.getLogger(__name__)

READ_SIZE = 256 * 1024
DIAL_TIMEOUT = 10.0
# What a failed dial or tunnel raises.
_NET_ERRORS = (OSError, ConnectionError, asyncio.TimeoutError, ssl.SSLError)


DENY = "DENY"
"""``response_flags`` of a connection refused by an AuthorizationPolicy."""
CONNECT = "CONNECT"
"""``response_flags`` of a connection whose upstream could not be reached."""


def policy_error(decision: authz.Decision) -> str:
    return f"connection closed due to policy rejection: {decision.reason}"


@dataclasses.dataclass(eq=False)
class _PlainInbound:
    """A live 15006 connection, as the policy re-check needs it."""

    source_ip: str
    port: int
    client: asyncio.StreamWriter
    app: asyncio.StreamWriter
    closed_by: str | None = None


def _log(fields: dict[str, object], started: float | None, sent: int, received: int) -> None:
    """Complete a connection's access-log line (ztunnel's view: ``sent`` to the
    client, ``received`` from it) and write it; ``started`` None for a
    connection refused before it began."""
    duration = 0 if started is None else int((time.monotonic() - started) * 1000)
    fields.update(bytes_sent=sent, bytes_recv=received, duration=f"{duration}ms")
    accesslog.write(fields)


class _UpstreamError(Exception):
    """Wraps a failed upstream dial/CONNECT so the outbound handler can flag it CONNECT."""


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


async def _dial(
    sock_factory: Callable[[], Awaitable[socket.socket]], target: Address
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    sock = await sock_factory()
    try:
        await asyncio.wait_for(asyncio.get_running_loop().sock_connect(sock, target), DIAL_TIMEOUT)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock)


class PodProxy:
    def __init__(self, zt: Ztunnel, pod: Pod):
        self.zt = zt
        self.pod = pod
        self.identity = zt.resolver.identity(pod)
        self.active = 0
        self.on_idle: Callable[[PodProxy], None] | None = None
        self.sockets = ztsockets.PodSockets(pod.netns, ZTUNNEL_MARK)  # its thread runs from open() to close_sockets()
        self.pool = HbonePool(socket_factory=self._marked)
        self.hbone = HboneServer(
            zt.server_context(pod),
            self._authorize,
            self._dial_app,
            on_tunnel_closed=self._tunnel_closed,
            trust_domain=SpiffeId.parse(self.identity).trust_domain,
        )
        self._servers: list[asyncio.AbstractServer] = []
        self._handlers: set[asyncio.Task[None]] = set()
        self._plain_inbound: set[_PlainInbound] = set()
        # accepted CONNECTs waiting for their dial/close: start time and metric labels
        self._tunnel_started: dict[tuple[Address, Address], deque[tuple[float, ConnectionLabels]]] = defaultdict(deque)

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
            self._servers.append(await asyncio.start_server(self._tracked(self._outbound), sock=out, backlog=backlog))
            inb = ztsockets.listener_in(netns, INBOUND_PLAINTEXT_PORT)
            self._servers.append(await asyncio.start_server(self._tracked(self._inbound), sock=inb, backlog=backlog))
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
        """Close the live inbound connections the current policies deny; how many.

        ztunnel re-checks established inbound connections whenever policies
        change and closes the newly denied ones (its ``PolicyWatcher``); the
        others carry on untouched.  Identity-less 15006 connections are
        checked with no identity, as when they were opened.
        """
        plan, pod = self.zt.resolver.plan, self.pod

        def denial(source_ip: str, identity: str | None, port: int) -> str | None:
            decision = authz.evaluate(plan, pod, authz.Connection(source_ip, identity, pod.ip, port))
            return None if decision.allowed else policy_error(decision)

        closed = self.hbone.close_tunnels(lambda t: denial(t.source[0], t.peer_identity, t.target[1]))
        for conn in list(self._plain_inbound):
            reason = denial(conn.source_ip, None, conn.port)
            if reason is not None and conn.closed_by is None:
                conn.closed_by = reason
                abort_with_rst(conn.client)
                abort_with_rst(conn.app)
                closed += 1
        return closed

    def _track(self, delta: int) -> None:
        self.active += delta
        if self.active == 0 and self.on_idle is not None:
            self.on_idle(self)

    def _tracked(self, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]):  # type: ignore[no-untyped-def]
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

    # -- access log fields ---------------------------------------------------------------------------

    def _workload(self, prefix: str, pod: Pod | None, identity: str | None) -> dict[str, object]:
        if pod is None:
            return {}
        fields: dict[str, object] = {f"{prefix}.workload": pod.name, f"{prefix}.namespace": pod.namespace}
        if identity:
            fields[f"{prefix}.identity"] = identity.removeprefix("spiffe://")
        return fields

    # -- metrics -------------------------------------------------------------------------------------

    def _labels(
        self,
        reporter: str,
        source: Pod | None,
        destination: Pod | None,
        *,
        service: object = None,
        mtls: bool = False,
        source_principal: str | None = None,
        destination_principal: str | None = None,
    ) -> ConnectionLabels:
        return connection_labels(
            reporter,
            source=source,
            destination=destination,
            service=service,  # type: ignore[arg-type]
            cluster_domain=self.zt.resolver.plan.cluster_domain,
            mtls=mtls,
            source_principal=source_principal if mtls else None,
            destination_principal=destination_principal if mtls else None,
        )

    def _count_closed(self, labels: ConnectionLabels, sent: int, received: int, flags: str = "-") -> None:
        """Completion: ``sent``/``received`` from the client application's side (``add_bytes``)."""
        if flags != labels.response_flags:
            labels = dataclasses.replace(labels, response_flags=flags)
        self.zt.metrics.closed(labels)
        self.zt.metrics.add_bytes(labels, sent, received)

    # -- outbound (15001) ----------------------------------------------------------------------------

    def _captured(self, writer: asyncio.StreamWriter, direction: str) -> tuple[Address, Address] | None:
        """Client address and original destination of a redirected connection;
        None (and the connection reset) when the kernel has no NAT record of it."""
        peer = writer.get_extra_info("peername")
        try:
            dst = ztsockets.original_dst(writer.get_extra_info("socket"))
        except OSError as exc:
            log.warning("%s: %s connection without original destination: %s", self.pod.key, direction, exc)
            abort_with_rst(writer)
            return None
        return (peer[0], peer[1]), dst

    async def _outbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = time.monotonic()
        addresses = self._captured(writer, "outbound")
        if addresses is None:
            return
        src, dst = addresses
        route = self.zt.resolver.resolve(dst)
        if route.kind not in (HBONE, PASSTHROUGH):
            error = "self call" if route.kind == "self-call" else f"no healthy upstream for {dst[0]}:{dst[1]}"
            log.warning(
                "connection failed src.addr=%s dst.addr=%s direction=\"outbound\" error=\"%s\"",
                accesslog.addr(src), accesslog.addr(dst), error,
            )
            abort_with_rst(writer)
            return
        fields: dict[str, object] = {"src.addr": accesslog.addr(src)}
        fields.update(self._workload("src", self.pod, self.identity if route.kind == HBONE else None))
        if route.kind == HBONE:
            fields["dst.addr"] = f"{route.target[0]}:{HBONE_PORT}"
            fields["dst.hbone_addr"] = accesslog.addr(route.target)
        else:
            fields["dst.addr"] = accesslog.addr(route.target)
        if route.service is not None:
            fields["dst.service"] = f"{route.service.name}.{route.service.namespace}.svc.{self.zt.resolver.plan.cluster_domain}"
        fields.update(self._workload("dst", route.pod, route.identity if route.kind == HBONE else None))
        fields["direction"] = "outbound"
        hbone = route.kind == HBONE
        labels = self._labels(
            "source", self.pod, route.pod, service=route.service, mtls=hbone,
            source_principal=self.identity, destination_principal=route.identity,
        )
        self.zt.metrics.opened(labels)
        sent = received = 0
        flags = "-"
        try:
            if hbone:
                sent, received, reset = await self._outbound_hbone(route, src, reader, writer)
            else:
                try:
                    up_r, up_w = await _dial(self._marked, route.target)
                except _NET_ERRORS as exc:
                    raise _UpstreamError(exc) from exc
                sent, received, reset = await splice(reader, writer, up_r, up_w)
            if reset:
                fields["error"] = "connection reset"
        except _UpstreamError as wrapped:
            cause = wrapped.__cause__
            flags = CONNECT
            fields["error"] = str(cause) or repr(cause)
            abort_with_rst(writer)
        except _NET_ERRORS as exc:
            fields["error"] = str(exc) or repr(exc)
            abort_with_rst(writer)
        finally:
            self._count_closed(labels, sent, received, flags)
        _log(fields, started, sent, received)

    async def _outbound_hbone(
        self, route: Route, src: Address, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[int, int, bool]:
        assert route.pod is not None
        headers = {}
        if route.service is not None:
            host = f"{route.service.name}.{route.service.namespace}.svc.{self.zt.resolver.plan.cluster_domain}"
            headers["forwarded"] = f'for="{src[0]}:{src[1]}";host={host}'
        try:
            stream = await self.pool.connect(
                (route.target[0], HBONE_PORT),
                f"{route.target[0]}:{route.target[1]}",
                ssl_context=self.zt.client_context(self.pod),
                expected_identity=route.identity,
                source_identity=self.identity,
                forwarded_for=src,
                headers=headers,
                socket_factory=self._marked,
            )
        except _NET_ERRORS as exc:  # no tunnel: TLS/identity failure or a non-200 answer
            raise _UpstreamError(exc) from exc
        result = await relay(stream, reader, writer)
        return result.to_stream, result.from_stream, result.reset

    # -- inbound HBONE (15008) -----------------------------------------------------------------------

    def _inbound_hbone_labels(self, peer_identity: str | None, source: Address) -> ConnectionLabels:
        # destination_service stays unknown: the inbound side is not told which VIP the client dialled.
        return self._labels(
            "destination", self.zt.resolver.pod_at(source[0]), self.pod, mtls=True,
            source_principal=peer_identity, destination_principal=self.identity,
        )

    def _authorize(self, peer_identity: str | None, source: Address, target: Address) -> str | Rejection | None:
        if target[0] != self.pod.ip:  # §1.5 step 3, before any context: no metrics
            return Rejection(HTTPStatus.BAD_REQUEST, f"ip mismatch: {target[0]} is not {self.pod.ip}")
        decision = authz.evaluate(
            self.zt.resolver.plan, self.pod, authz.Connection(source[0], peer_identity, self.pod.ip, target[1])
        )
        labels = self._inbound_hbone_labels(peer_identity, source)
        self.zt.metrics.opened(labels)
        if decision.allowed:
            self._tunnel_started[(source, target)].append((time.monotonic(), labels))
            return None
        self._count_closed(labels, 0, 0, DENY)
        fields = self._inbound_fields(source, peer_identity, f"{self.pod.ip}:{HBONE_PORT}", target)
        fields["error"] = policy_error(decision)
        _log(fields, None, 0, 0)
        return policy_error(decision)

    def _pop_tunnel(self, source: Address, target: Address) -> tuple[float, ConnectionLabels | None]:
        """The start time and labels ``_authorize`` recorded for this tunnel (oldest first)."""
        starts = self._tunnel_started.get((source, target))
        started, labels = starts.popleft() if starts else (time.monotonic(), None)
        if starts is not None and not starts:
            del self._tunnel_started[(source, target)]
        return started, labels

    async def _dial_app(self, target: Address, source: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        try:
            streams = await _dial(
                lambda: self.sockets.spoofed(source[0]), (self.pod.ip, target[1])
            )
        except BaseException as exc:  # HboneServer answers 503; the connection ends here
            started, labels = self._pop_tunnel(source, target)
            if labels is not None:
                self._count_closed(labels, 0, 0, CONNECT)
            if isinstance(exc, Exception):
                identity = labels.source_principal if labels is not None else None
                fields = self._inbound_fields(source, identity, f"{self.pod.ip}:{HBONE_PORT}", target)
                fields["error"] = str(exc) or repr(exc)
                _log(fields, started, 0, 0)
            raise
        self._track(+1)
        return streams

    def _tunnel_closed(self, tunnel: Tunnel) -> None:
        started, labels = self._pop_tunnel(tunnel.source, tunnel.target)
        if labels is None:  # not seen by _authorize (cannot happen with HboneServer): count it now
            labels = self._inbound_hbone_labels(tunnel.peer_identity, tunnel.source)
            self.zt.metrics.opened(labels)
        # from_stream: client -> app (request), to_stream: app -> client (response)
        self._count_closed(labels, tunnel.result.from_stream, tunnel.result.to_stream)
        fields = self._inbound_fields(tunnel.source, tunnel.peer_identity, f"{self.pod.ip}:{HBONE_PORT}", tunnel.target)
        if tunnel.closed_by:
            fields["error"] = tunnel.closed_by
        elif tunnel.result.reset:
            fields["error"] = "connection reset"
        _log(fields, started, tunnel.result.to_stream, tunnel.result.from_stream)
        self._track(-1)

    def _inbound_fields(
        self, source: Address, identity: str | None, dst_addr: str, target: Address | None
    ) -> dict[str, object]:
        fields: dict[str, object] = {"src.addr": accesslog.addr(source)}
        fields.update(self._workload("src", self.zt.resolver.pod_at(source[0]), identity))
        fields["dst.addr"] = dst_addr
        if target is not None:
            fields["dst.hbone_addr"] = accesslog.addr(target)
        fields.update(self._workload("dst", self.pod, self.identity if identity else None))
        fields["direction"] = "inbound"
        return fields

    # -- inbound plaintext (15006) -------------------------------------------------------------------

    async def _inbound(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = time.monotonic()
        addresses = self._captured(writer, "inbound")
        if addresses is None:
            return
        src, dst = addresses
        fields = self._inbound_fields(src, None, accesslog.addr((self.pod.ip, dst[1])) or "", None)
        if dst[1] in PROXY_PORTS:
            log.warning("connection failed src.addr=%s dst.addr=%s direction=\"inbound\" error=\"self call\"",
                        accesslog.addr(src), accesslog.addr(dst))
            abort_with_rst(writer)
            return
        decision = authz.evaluate(
            self.zt.resolver.plan, self.pod, authz.Connection(src[0], None, self.pod.ip, dst[1])
        )
        labels = self._labels("destination", self.zt.resolver.pod_at(src[0]), self.pod)
        self.zt.metrics.opened(labels)
        sent = received = 0  # ztunnel's view: sent = to the client, received = from it
        flags = "-"
        try:
            if not decision.allowed:
                flags = DENY
                fields["error"] = policy_error(decision)
                abort_with_rst(writer)
            else:
                try:
                    app_r, app_w = await _dial(
                        lambda: self.sockets.spoofed(src[0]), (self.pod.ip, dst[1])
                    )
                except _NET_ERRORS:
                    flags = CONNECT
                    raise
                live = _PlainInbound(src[0], dst[1], writer, app_w)
                self._plain_inbound.add(live)
                try:
                    received, sent, reset = await splice(reader, writer, app_r, app_w)
                finally:
                    self._plain_inbound.discard(live)
                if live.closed_by:
                    fields["error"] = live.closed_by
                elif reset:
                    fields["error"] = "connection reset"
        except _NET_ERRORS as exc:
            fields["error"] = str(exc) or repr(exc)
            abort_with_rst(writer)
        finally:
            self._count_closed(labels, received, sent, flags)
        _log(fields, started, sent, received)
