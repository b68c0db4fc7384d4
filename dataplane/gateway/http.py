"""The ingress gateway's HTTP chain: each request routed by the listener's table and forwarded.

For one request, as an Envoy gateway does with its default settings: the
headers it adds on the way in (``x-forwarded-for`` with the TCP peer
appended, ``x-forwarded-proto`` the listener's scheme, an ``x-request-id``
when there is none), the listener's ``HostTable`` picks the route by host and
match (none: 404 ``NR``), ``l7.routing.decision`` applies the route's
filters and draws the backend, then one of the backend Service port's ready
endpoints (random per request) gets the request over a pooled keep-alive
connection made from the gateway pod (plain TCP: the gateway is its own
proxy, outside the ambient mesh).  Answers carry ``server: istio-envoy``.

The upstream speaks HTTP/2 (h2c, prior knowledge) when the backend port
declares ``http2``/``grpc``, else HTTP/1.1.  Retries are not emulated at the
gateway (a failed connection is a 503 ``UF``).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Protocol

from dataplane.l7.http.messages import ProtocolError, Request, Response, end_to_end, header
from dataplane.l7.http.pool import ConnectionPool, Overflow, Streams
from dataplane.l7.http.serve import serve
from dataplane.l7.http.streams import Reader, Writer
from dataplane.l7.routing import decision as decisions
from dataplane.l7.routing import model as routing
from dataplane.l7.routing import replies
from dataplane.l7.routing.replies import LocalReply
from dataplane.l7.routing.table import HostTable
from dataplane.mesh.ztunnel.streams import NET_ERRORS

log = logging.getLogger(__name__)

Address = tuple[str, int]
SERVER = "istio-envoy"
HTTP2_PROTOCOLS = ("http2", "grpc", "h2c", "kubernetes.io/h2c")
Choose = Callable[[Request], "Routing"]


class Routing:
    """What serves one request: its listener's table (None: a local reply instead)."""

    def __init__(self, table: HostTable | None, reply: LocalReply | None = None):
        self.table = table
        self.reply = reply


class Backends(Protocol):
    """What the chain asks of the plan (``view.GatewayView``)."""

    services: frozenset[str]

    def endpoints(self, service: str, port: int) -> tuple[Address, ...]: ...

    def protocol(self, service: str, port: int) -> str | None: ...


class GatewayHttp:
    def __init__(self, connect: Callable[[Address], Awaitable[Streams]], backends: Backends):
        self.backends = backends
        self._pools = {http2: ConnectionPool(connect, http2=http2) for http2 in (False, True)}
        self._rng = random.Random()

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()

    async def serve(
        self, reader: Reader, writer: Writer, scheme: str, peer: Address, choose: Choose, http2: bool | None
    ) -> None:
        """Every request on one client connection (HTTP/2 when ALPN chose it; None: h2c if the client opens with it)."""

        async def handle(request: Request) -> Response:
            return await self.handle(request, scheme, peer, choose(request))

        try:
            await serve(reader, writer, handle, http2=http2, scheme=scheme)
        except (ProtocolError, *NET_ERRORS) as exc:
            log.info("gateway: client %s:%d: %s", *peer, exc)

    async def handle(self, request: Request, scheme: str, peer: Address, routed: Routing) -> Response:
        request = self._inbound(request, scheme, peer)
        view = routing.Request(request.method, request.target, request.authority, scheme, request.headers)
        route = routed.table.select(view) if routed.table is not None else None
        if routed.reply is not None or route is None:
            return _local(routed.reply or replies.no_route())
        fate = decisions.decide(route, view, self._rng, self.backends.services)
        if fate.delay:
            await asyncio.sleep(fate.delay)
        if isinstance(fate, decisions.Respond):
            return _local(fate.reply)
        return await self._forward(fate, request)

    def _inbound(self, request: Request, scheme: str, peer: Address) -> Request:
        """Envoy's defaults at an edge proxy: XFF appended with the peer, XFP set, a request id."""
        headers = end_to_end(request.headers)
        forwarded = header(headers, "x-forwarded-for")
        headers = tuple((k, v) for k, v in headers if k not in ("x-forwarded-for", "x-forwarded-proto")) + (
            ("x-forwarded-for", f"{forwarded}, {peer[0]}" if forwarded else peer[0]),
            ("x-forwarded-proto", scheme),
        )
        if header(headers, "x-request-id") is None:
            headers += (("x-request-id", str(uuid.UUID(int=self._rng.getrandbits(128), version=4))),)
        return Request(request.method, request.target, request.authority, headers, request.body, scheme, request.version)

    async def _forward(self, fate: decisions.Forward, original: Request) -> Response:
        backend = fate.backend
        port = backend.port or 0
        endpoints = self.backends.endpoints(backend.service, port)
        if not endpoints:
            return _local(replies.no_healthy_upstream())
        http2 = self.backends.protocol(backend.service, port) in HTTP2_PROTOCOLS
        upstream = Request(original.method, fate.request.path, fate.request.authority, fate.request.headers,
                           original.body, original.scheme)
        address = self._rng.choice(endpoints)
        started = time.monotonic()
        try:
            exchange = self._pools[http2].exchange(address, upstream)
            response = await (asyncio.wait_for(exchange, fate.timeout) if fate.timeout else exchange)
        except TimeoutError:
            return _local(replies.upstream_timeout())
        except Overflow:
            return _local(replies.overflow())
        except (ProtocolError, *NET_ERRORS) as exc:
            log.info("gateway: %s:%d: %s", *address, exc)
            return _local(replies.connect_failure())
        headers = end_to_end(response.headers)
        for modifier in fate.response_headers:
            headers = decisions.apply_headers(headers, modifier)
        headers = tuple((k, v) for k, v in headers if k != "server") + (
            ("server", SERVER), ("x-envoy-upstream-service-time", str(int((time.monotonic() - started) * 1000))),
        )
        return Response(response.status, headers, response.body, response.trailers)


def _local(reply: LocalReply) -> Response:
    return Response(reply.status, (*reply.headers, ("server", SERVER)), reply.body)
