"""Outbound (15001): a pod's captured TCP, as its node's ztunnel forwards it.

``original_dst`` then ``workloads.Resolver``: a ztunnel port is refused
(self call), a Service VIP becomes a random ready endpoint, an enrolled pod
is reached over HBONE (mTLS as the *source* pod's identity, from a marked
socket in the source pod, so the outer TCP source is the pod's IP), anything
else is plain TCP passthrough from a marked socket in the pod.

Counted ``reporter=source`` once the route is known; SelfCall and
no-upstream rejections are neither counted nor access-logged (ztunnel logs
them as warnings).

The same listener serves a pod's emulated **sidecar** (``sidecar=True``): its
routes skip waypoints (``Resolver.resolve``), and like Envoy's outbound
listener it inspects a Service port of undeclared protocol before choosing a
route -- it waits for the client's first bytes, with no timeout, so a
server-first protocol there hangs (``waypoint-l7.md`` §6.1).  ztunnel itself
never inspects.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable

from dataplane.mesh import protocols
from dataplane.mesh.hbone import HbonePool, relay
from dataplane.mesh.hbone.relay import abort_with_rst
from dataplane.mesh.ztunnel import accesslog
from dataplane.mesh.ztunnel.context import CONNECT, ProxyContext
from dataplane.mesh.ztunnel.streams import NET_ERRORS, UpstreamError, captured, dial, first_bytes, splice
from dataplane.mesh.ztunnel.workloads import HBONE, PASSTHROUGH, SELF_CALL, Address, Route
from dataplane.topology.plan import Pod

log = logging.getLogger(__name__)


class Outbound:
    def __init__(
        self,
        context: ProxyContext,
        pod: Pod,
        identity: str,
        pool: HbonePool,
        marked: Callable[[], Awaitable[socket.socket]],
        sidecar: bool = False,
    ):
        self.context = context
        self.pod = pod
        self.identity = identity
        self._pool = pool
        self._marked = marked
        self.sidecar = sidecar

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        started = time.monotonic()
        addresses = captured(writer, self.pod.key, "outbound")
        if addresses is None:
            return
        src, dst = addresses
        route = self.context.resolver.resolve(dst, sidecar=self.sidecar)
        if route.kind not in (HBONE, PASSTHROUGH):
            error = "self call" if route.kind == SELF_CALL else f"no healthy upstream for {dst[0]}:{dst[1]}"
            log.warning(
                "connection failed src.addr=%s dst.addr=%s direction=\"outbound\" error=\"%s\"",
                accesslog.addr(src), accesslog.addr(dst), error,
            )
            abort_with_rst(writer)
            return
        hbone = route.kind == HBONE
        fields = self._fields(src, route, hbone)
        labels = self.context.labels(
            "source", self.pod, route.pod, service=route.service, mtls=hbone,
            source_principal=self.identity, destination_principal=route.identity,
        )
        initial = await first_bytes(reader) if self._inspects(route, dst[1]) else b""
        self.context.opened(labels)
        sent = received = 0
        flags = "-"
        try:
            if hbone:
                sent, received, reset = await self._hbone(route, src, initial, reader, writer)
            else:
                try:
                    up_r, up_w = await dial(self._marked, route.target)
                except NET_ERRORS as exc:
                    raise UpstreamError(exc) from exc
                up_w.write(initial)
                sent, received, reset = await splice(reader, writer, up_r, up_w)
            sent += len(initial)
            if reset:
                fields["error"] = "connection reset"
        except UpstreamError as wrapped:
            cause = wrapped.__cause__
            flags = CONNECT
            fields["error"] = str(cause) or repr(cause)
            abort_with_rst(writer)
        except NET_ERRORS as exc:
            fields["error"] = str(exc) or repr(exc)
            abort_with_rst(writer)
        finally:
            self.context.closed(labels, sent, received, flags)
        accesslog.complete(fields, started, sent, received)

    def _inspects(self, route: Route, port: int) -> bool:
        """A sidecar's protocol inspection: a Service port whose protocol is undeclared."""
        if not self.sidecar or route.service is None:
            return False
        declared = next((p for p in route.service.ports if p.port == port and p.protocol == "TCP"), None)
        return protocols.declared(declared, port) is protocols.UNDECLARED

    def _fields(self, src: Address, route: Route, hbone: bool) -> dict[str, object]:
        fields: dict[str, object] = {"src.addr": accesslog.addr(src)}
        fields.update(accesslog.workload("src", self.pod, self.identity if hbone else None))
        if hbone:
            fields["dst.addr"] = accesslog.addr(route.connect_to)
            fields["dst.hbone_addr"] = accesslog.addr(route.connect_authority)
        else:
            fields["dst.addr"] = accesslog.addr(route.target)
        if route.service is not None:
            fields["dst.service"] = self.context.service_host(route.service)
        fields.update(accesslog.workload("dst", route.pod, route.identity if hbone else None))
        fields["direction"] = "outbound"
        return fields

    async def _hbone(
        self, route: Route, src: Address, initial: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> tuple[int, int, bool]:
        assert route.pod is not None
        headers = {}
        if route.service is not None:
            headers["forwarded"] = f'for="{src[0]}:{src[1]}";host={self.context.service_host(route.service)}'
        try:
            stream = await self._pool.connect(
                route.connect_to,
                accesslog.addr(route.connect_authority) or "",
                ssl_context=self.context.client_context(self.pod),
                expected_identity=route.identity,
                source_identity=self.identity,
                forwarded_for=src,
                headers=headers,
                socket_factory=self._marked,
            )
        except NET_ERRORS as exc:  # no tunnel: TLS/identity failure or a non-200 answer
            raise UpstreamError(exc) from exc
        if initial:
            await stream.write(initial)
        result = await relay(stream, reader, writer)
        return result.to_stream, result.from_stream, result.reset
