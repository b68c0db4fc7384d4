"""One zone's node of an ALB: listeners in its namespace, each request routed and forwarded.

What the ALB does to a request (``aws-edge.md`` §1.3-§1.7), in order:

* HTTPS listeners terminate TLS with the certificate SNI picks (none or no
  match: the listener's default, its first), within the listener's SSL
  policy's versions, offering HTTP/2 and HTTP/1.1 by ALPN;
* the listener's rules, first match wins (``edge.albmatch``), else its
  default: a fixed response (404, empty ``text/plain``), a redirect (301 to
  ``https://host/path?query``; the default port is left out of the
  ``Location``, a choice where the reference is unconfirmed), or a forward;
* a forward goes to a target group -- drawn by weight when it names several
  (an HTTPRoute's weighted backendRefs) -- and to its targets: pod addresses for
  ``target-type: ip``, every node's NodePort for ``instance`` -- round robin
  over keep-alive connections opened from this node's own address, with
  ``X-Forwarded-For`` (the client appended), ``X-Forwarded-Proto``,
  ``X-Forwarded-Port`` and ``X-Amzn-Trace-Id`` (a ``Root`` made when absent);
  the target's answer goes back as it came.  No target: 503; a target that
  cannot be reached or breaks: 502 -- the ALB's own answers carry
  ``server: awselb/2.0``.  A target group with ``backend-protocol: HTTPS``
  gets a new TLS session per target connection that sends **no SNI** and
  does not verify the target's certificate (§1.7), so a target that
  insists on a server name refuses the handshake and the client gets 502
  (T17); its health checks go the same way.

Targets are the plan's (``lb.targets``), each target group health-checked
by this node (``lb.checker``) into the states of ``lb.health``: requests go
round robin over its routing set (healthy targets, or all when none is),
and a target that leaves the plan drains -- no new requests, the ones in
flight carry on until the deregistration delay ends, then get a 502.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from dataplane.edge import albmatch, certificates, tlspolicy
from dataplane.edge.albmodel import Alb, FixedResponse, Forward, Listener, Redirect, TargetGroup
from dataplane.edge.zonalshift import ZonalShift
from dataplane.kernel import netns, ztsockets
from dataplane.l7.http.messages import ProtocolError, Request, Response, end_to_end, header
from dataplane.l7.http.pool import ConnectionPool, Overflow
from dataplane.l7.http.serve import serve as serve_http
from dataplane.lb import acm, checker
from dataplane.lb.health import TargetHealth
from dataplane.lb.targets import registered
from dataplane.mesh.ca import Issued
from dataplane.mesh.ztunnel.streams import NET_ERRORS, dial
from dataplane.topology.plan import LbNode, LoadBalancer, Plan

log = logging.getLogger(__name__)

Address = tuple[str, int]
SERVER = "awselb/2.0"
_TLS_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


def _target_tls() -> ssl.SSLContext:
    """The ALB's client side towards HTTPS targets: any certificate is taken (§1.7)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


_TARGET_TLS = _target_tls()


def _own(status: int, headers: tuple[tuple[str, str], ...] = (), body: bytes = b"") -> Response:
    return Response(status, (*headers, ("server", SERVER)), body)


def trace_id(existing: str | None, now: float | None = None) -> str:
    """``X-Amzn-Trace-Id``: a new ``Root=1-<epoch hex>-<96 random bits>``, or
    ``Self=`` added (or replaced) beside an existing ``Root``."""
    fresh = f"1-{int(now if now is not None else time.time()):08x}-{os.urandom(12).hex()}"
    if not existing or "Root=" not in existing:
        return f"Root={fresh}"
    fields = [f for f in existing.split(";") if f and not f.startswith("Self=")]
    return ";".join([*fields, f"Self={fresh}"])


@dataclass
class _Group:
    """One target group as this node serves it: target health, where each
    target's check goes, the requests in flight (to cut when a drain ends)
    and the task checking it."""

    health: TargetHealth
    checks: dict[Address, Address | None] = field(default_factory=dict)
    flights: dict[Address, set[asyncio.Future[Response]]] = field(default_factory=dict)
    checking: asyncio.Task[None] | None = None

    def where(self) -> dict[Address, Address | None]:
        return self.checks

    def begin(self, target: Address, flight: asyncio.Future[Response]) -> None:
        self.health.begin(target)
        self.flights.setdefault(target, set()).add(flight)

    def finish(self, target: Address, flight: asyncio.Future[Response]) -> None:
        """A request ended.  One that ``cut`` cancelled is not counted again:
        its target was dropped with it, and may be registered anew since."""
        flights = self.flights.get(target)
        if flights is None or flight not in flights:
            return
        flights.discard(flight)
        if not flights:
            del self.flights[target]
        self.health.finish(target)

    def cut(self) -> None:
        """A deregistration delay is over: drop the drained targets, cancel what they still carry."""
        for target in self.health.expire():
            for flight in self.flights.pop(target, ()):
                flight.cancel()


class AlbNode:
    def __init__(self, state_dir: Path, lb: LoadBalancer, node: LbNode):
        self.state_dir = state_dir
        self.lb = lb
        self.node = node
        self.sockets = ztsockets.PodSockets(node.netns, 0)
        self.pool = ConnectionPool(self._dial)
        self.tls_pool = ConnectionPool(self._dial_tls)  # HTTPS target groups
        self._servers: list[asyncio.AbstractServer] = []
        self._alb: Alb | None = None
        self._groups: dict[TargetGroup, _Group] = {}
        self._checking = False  # health checks run once open (not in a bare refresh)
        self._turn = itertools.count()
        self._zone_of: dict[str, str] = {}  # target address -> its zone
        self._shift: ZonalShift | None = None

    def _dial(self, address: Address) -> Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        return dial(self.sockets.marked, address)

    async def _dial_tls(self, address: Address) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A target connection re-encrypted: no SNI, the target's certificate not verified."""
        reader, writer = await self._dial(address)
        try:
            await writer.start_tls(_TARGET_TLS, server_hostname="")
        except BaseException:
            writer.transport.abort()
            raise
        return reader, writer

    @property
    def ports(self) -> tuple[tuple[str, int], ...]:
        return tuple((li.protocol, li.port) for li in self._alb.listeners) if self._alb else ()

    async def open(self, plan: Plan, alb: Alb) -> None:
        self.sockets.start()
        self._checking = True
        self.refresh(plan, alb)
        root = acm.ensure_root(self.state_dir, plan.name)
        for listener in alb.listeners:
            context = self._tls(plan, alb, listener, root) if listener.protocol == "HTTPS" else None
            sock = netns.socket_in(self.node.netns, socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("0.0.0.0", listener.port))
                sock.listen(ztsockets.LISTEN_BACKLOG)
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
            self._servers.append(await asyncio.start_server(
                self._serving(listener.port), sock=sock, ssl=context, backlog=ztsockets.LISTEN_BACKLOG
            ))

    def refresh(self, plan: Plan, alb: Alb) -> None:
        """New rules and targets for the next requests (listeners stay as opened).

        New targets are registered, those that left the plan drain.  A target
        group whose settings changed is a new group: it starts over with
        every target ``initial``, and the old one's checks stop.
        """
        self._alb = alb
        self._zone_of = {p.ip: p.zone for p in plan.pods} | {n.ip: n.zone for n in plan.nodes}
        groups = {}
        for tg in alb.target_groups():
            group = self._groups.pop(tg, None) or _Group(TargetHealth(tg.health, tg.deregistration_delay))
            group.checks = registered(plan, tg)
            if group.health.register(group.checks):
                asyncio.get_running_loop().call_later(tg.deregistration_delay, group.cut)
            if self._checking and group.checking is None:
                connect = self._dial_tls if tg.health.protocol == "HTTPS" else self._dial
                group.checking = asyncio.create_task(checker.run(group.health, group.where, connect))
            groups[tg] = group
        self._stop_checks()
        self._groups = groups

    def shift(self, shift: ZonalShift | None) -> None:
        """The zonal shift on this load balancer, if any: its zone's targets get no new requests."""
        self._shift = shift

    def _unshifted(self, routing: tuple[Address, ...]) -> tuple[Address, ...]:
        """``routing`` without the targets of a zone shifted away, while the shift lasts -- unless
        that leaves none (then the shift moves no traffic, a choice where AWS is unconfirmed)."""
        shift = self._shift
        if shift is None or not shift.started_at <= time.time() < shift.expires_at:
            return routing
        kept = tuple(t for t in routing if self._zone_of.get(t[0]) != shift.zone)
        return kept or routing

    def _stop_checks(self) -> None:
        for group in self._groups.values():
            if group.checking is not None:
                group.checking.cancel()

    async def close(self) -> None:
        self._stop_checks()
        self._groups.clear()
        for server in self._servers:
            server.close()
        self._servers.clear()
        self.pool.close()
        self.tls_pool.close()
        self.sockets.close()

    def _tls(self, plan: Plan, alb: Alb, listener: Listener, root: Issued) -> ssl.SSLContext:
        """The listener's contexts, one per certificate, chosen per ClientHello by SNI."""
        arns = listener.certificates or certificates.discover(listener.discover, tuple(plan.certificates.items()))
        chain = tuple((arn, plan.certificates.get(arn) or alb.hostnames) for arn in arns)
        low, high = tlspolicy.tls_versions(listener.ssl_policy or "ELBSecurityPolicy-2016-08")
        contexts = {}
        for arn, domains in chain:
            files = acm.ensure_certificate(self.state_dir, root, arn, tuple(domains))
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version, context.maximum_version = _TLS_VERSIONS[low], _TLS_VERSIONS[high]
            context.load_cert_chain(str(files.cert), str(files.key))
            context.set_alpn_protocols(["h2", "http/1.1"])
            contexts[arn] = context

        def pick(sock: ssl.SSLObject, sni: str | None, default: ssl.SSLContext) -> None:
            sock.context = contexts[certificates.choose_certificate(chain, sni)]

        first = contexts[chain[0][0]]
        first.sni_callback = pick  # type: ignore[assignment]
        return first

    def _serving(self, port: int) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], object]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            tls = writer.get_extra_info("ssl_object")
            client = writer.get_extra_info("peername")
            scheme = "https" if tls is not None else "http"

            async def handle(request: Request) -> Response:
                return await self.handle(request, port, scheme, client[0])

            try:
                http2 = tls is not None and tls.selected_alpn_protocol() == "h2"
                await serve_http(reader, writer, handle, http2=http2, scheme=scheme)
            except (ProtocolError, *NET_ERRORS) as exc:
                log.info("alb %s: %s:%d: %s", self.lb.name, *client[:2], exc)
            finally:
                writer.close()

        return serve

    async def handle(self, request: Request, port: int, scheme: str, client_ip: str) -> Response:
        assert self._alb is not None
        listener = next(li for li in self._alb.listeners if li.port == port)
        _rule, action = albmatch.select(listener, request.authority, request.target, request.method, request.headers)
        if isinstance(action, FixedResponse):
            content = (("content-type", action.content_type),) if action.body else ()
            return _own(action.status, content, action.body.encode())
        if isinstance(action, Redirect):
            host = albmatch.host_of(request.authority)
            shown = "" if (action.protocol, action.port) in (("HTTPS", "443"), ("HTTP", "80")) else f":{action.port}"
            location = f"{action.protocol.lower()}://{host}{shown}{request.target}"
            return _own(action.status, (("location", location), ("content-length", "0")))
        assert isinstance(action, Forward)
        groups = action.groups()
        chosen = groups[0][0] if len(groups) == 1 else random.choices(
            [g for g, _ in groups], weights=[w for _, w in groups])[0]
        return await self._forward(chosen, request, port, scheme, client_ip)

    async def _forward(self, tg: TargetGroup, request: Request, port: int, scheme: str, client_ip: str) -> Response:
        group = self._groups.get(tg)
        routing = self._unshifted(group.health.routing()) if group is not None else ()
        if group is None or not routing:
            return _own(503, (("content-type", "text/html"),), b"")
        target = routing[next(self._turn) % len(routing)]
        headers = end_to_end(request.headers)
        forwarded = header(headers, "x-forwarded-for")
        replaced = {"x-forwarded-for", "x-forwarded-proto", "x-forwarded-port", "x-amzn-trace-id"}
        headers = tuple((k, v) for k, v in headers if k not in replaced) + (
            ("x-forwarded-for", f"{forwarded}, {client_ip}" if forwarded else client_ip),
            ("x-forwarded-proto", scheme),
            ("x-forwarded-port", str(port)),
            ("x-amzn-trace-id", trace_id(header(request.headers, "x-amzn-trace-id"))),
        )
        upstream = Request(request.method, request.target, request.authority, headers, request.body, "http")
        pool = self.tls_pool if tg.protocol == "HTTPS" else self.pool
        flight = asyncio.ensure_future(pool.exchange(target, upstream))
        group.begin(target, flight)
        try:
            await asyncio.wait((flight,))
        finally:
            flight.cancel()
            group.finish(target, flight)
        try:
            response = flight.result()
        except asyncio.CancelledError:
            log.info("alb %s: target %s:%d: deregistration delay over", self.lb.name, *target)
            return _own(502, (("content-type", "text/html"),), b"")
        except (Overflow, ProtocolError, *NET_ERRORS) as exc:
            log.info("alb %s: target %s:%d: %s", self.lb.name, *target, exc)
            return _own(502, (("content-type", "text/html"),), b"")
        return Response(response.status, end_to_end(response.headers), response.body, response.trailers)

