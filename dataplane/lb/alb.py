"""One zone's node of an ALB: listeners in its namespace, each request routed and forwarded.

What the ALB does to a request (``aws-edge.md`` §1.3-§1.7), in order:

* HTTPS listeners terminate TLS with the certificate SNI picks (none or no
  match: the listener's default, its first), within the listener's SSL
  policy's versions, offering HTTP/2 and HTTP/1.1 by ALPN;
* the listener's rules, first match wins (``edge.albmatch``), else its
  default: a fixed response (404, empty ``text/plain``), a redirect (301 to
  ``https://host/path?query``; the default port is left out of the
  ``Location``, a choice where the reference is unconfirmed), or a forward;
* a forward goes to the target group's targets -- pod addresses for
  ``target-type: ip``, every node's NodePort for ``instance`` -- round robin
  over keep-alive connections opened from this node's own address, with
  ``X-Forwarded-For`` (the client appended), ``X-Forwarded-Proto``,
  ``X-Forwarded-Port`` and ``X-Amzn-Trace-Id`` (a ``Root`` made when absent);
  the target's answer goes back as it came.  No target: 503; a target that
  cannot be reached or breaks: 502 -- the ALB's own answers carry
  ``server: awselb/2.0``.

Health checks and deregistration delay are not emulated yet: every
endpoint the plan calls ready is a target.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

from dataplane.edge import albmatch, certificates, tlspolicy
from dataplane.edge.albmodel import Alb, FixedResponse, Forward, Listener, Redirect, TargetGroup
from dataplane.kernel import netns, ztsockets
from dataplane.l7.http import h1, h2
from dataplane.l7.http.messages import ProtocolError, Request, Response, end_to_end, header
from dataplane.l7.http.pool import ConnectionPool, Overflow
from dataplane.lb import acm
from dataplane.mesh.ca import Issued
from dataplane.mesh.ztunnel.streams import NET_ERRORS, dial
from dataplane.topology.endpoints import PodIndex, service_port_endpoints
from dataplane.topology.plan import LbNode, LoadBalancer, Plan, Service, ServicePort

log = logging.getLogger(__name__)

Address = tuple[str, int]
SERVER = "awselb/2.0"
_TLS_VERSIONS = {
    "TLSv1": ssl.TLSVersion.TLSv1, "TLSv1.1": ssl.TLSVersion.TLSv1_1,
    "TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3,
}


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


class AlbNode:
    def __init__(self, state_dir: Path, lb: LoadBalancer, node: LbNode):
        self.state_dir = state_dir
        self.lb = lb
        self.node = node
        self.sockets = ztsockets.PodSockets(node.netns, 0)
        self.pool = ConnectionPool(lambda address: dial(self.sockets.marked, address))
        self._servers: list[asyncio.AbstractServer] = []
        self._alb: Alb | None = None
        self._targets: dict[TargetGroup, tuple[Address, ...]] = {}
        self._turn = itertools.count()

    @property
    def ports(self) -> tuple[tuple[str, int], ...]:
        return tuple((li.protocol, li.port) for li in self._alb.listeners) if self._alb else ()

    async def open(self, plan: Plan, alb: Alb) -> None:
        self.refresh(plan, alb)
        self.sockets.start()
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
        """New rules and targets for the next requests (listeners stay as opened)."""
        self._alb = alb
        self._targets = {tg: _targets(plan, tg) for tg in alb.target_groups()}

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()
        self.pool.close()
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
                if tls is not None and tls.selected_alpn_protocol() == "h2":
                    await h2.Downstream(reader, writer).serve(handle)
                    return
                downstream = h1.Downstream(reader, writer, scheme=scheme)
                while (request := await downstream.next_request()) is not None:
                    await downstream.respond(await handle(request), head_only=request.method == "HEAD")
            except (ProtocolError, *NET_ERRORS) as exc:
                log.info("alb %s: %s:%d: %s", self.lb.name, *client[:2], exc)
            finally:
                writer.close()

        return serve

    async def handle(self, request: Request, port: int, scheme: str, client_ip: str) -> Response:
        assert self._alb is not None
        listener = next(li for li in self._alb.listeners if li.port == port)
        _rule, action = albmatch.select(listener, request.authority, request.target)
        if isinstance(action, FixedResponse):
            content = (("content-type", action.content_type),) if action.body else ()
            return _own(action.status, content, action.body.encode())
        if isinstance(action, Redirect):
            host = albmatch.host_of(request.authority)
            shown = "" if (action.protocol, action.port) in (("HTTPS", "443"), ("HTTP", "80")) else f":{action.port}"
            location = f"{action.protocol.lower()}://{host}{shown}{request.target}"
            return _own(action.status, (("location", location), ("content-length", "0")))
        assert isinstance(action, Forward)
        return await self._forward(action.target_group, request, port, scheme, client_ip)

    async def _forward(self, group: TargetGroup, request: Request, port: int, scheme: str, client_ip: str) -> Response:
        targets = self._targets.get(group, ())
        if not targets:
            return _own(503, (("content-type", "text/html"),), b"")
        target = targets[next(self._turn) % len(targets)]
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
        try:
            response = await self.pool.exchange(target, upstream)
        except (Overflow, ProtocolError, *NET_ERRORS) as exc:
            log.info("alb %s: target %s:%d: %s", self.lb.name, *target, exc)
            return _own(502, (("content-type", "text/html"),), b"")
        return Response(response.status, end_to_end(response.headers), response.body, response.trailers)


def _targets(plan: Plan, group: TargetGroup) -> tuple[Address, ...]:
    """The addresses a target group sends to: ready pod endpoints of the
    Service port (``ip``), or every node's NodePort of it (``instance``)."""
    service = next((s for s in plan.services if (s.namespace, s.name) == (group.namespace, group.service)), None)
    if service is None:
        return ()
    port = _service_port(service, group.port)
    if port is None:
        return ()
    if group.target_type == "instance":
        return tuple((n.ip, port.node_port) for n in plan.nodes) if port.node_port else ()
    for entry in service_port_endpoints(plan, service, PodIndex(plan.pods)):
        if entry.port.port == port.port:
            return tuple((e.ip, e.port) for e in entry.endpoints if e.ready)
    return ()


def _service_port(service: Service, wanted: int | str) -> ServicePort | None:
    for port in service.ports:
        if port.protocol == "TCP" and (port.port == wanted or port.name == wanted):
            return port
    return None
