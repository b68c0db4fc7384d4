"""The waypoint's HTTP chain: every request routed, balanced and forwarded on its own.

For one request, in Envoy's order (``waypoint-l7.md`` §2.2, §3, §4): the
RequestAuthentications' JWT check (a bad token is a 401), a
matching CUSTOM policy's external authorizer (``authorizer.py``; its denial
is sent back as it came, flagged ``UAEX``), the waypoint's DENY and ALLOW
AuthorizationPolicies (``mesh/authz_l7.py``; a denial is 403
``RBAC: access denied``), then the route
table of the called Service port picks a route (none attached: the inbound
default; attached but none matching: 404 ``NR``); ``l7.routing.decision``
applies the fault filter and the route's action; then the backend's
endpoints (ready pods, in the subset if one is named, minus the ones outlier
detection ejected) are balanced per request, the request is sent over a
pooled keep-alive connection (HBONE to the endpoint's ztunnel), and retried,
timed out and answered as the route says.  Responses carry ``server:
istio-envoy`` and ``x-envoy-upstream-service-time``; every request is counted
in the waypoint's request metrics and written to the access log.

The upstream protocol follows the backend Service port: ``http2``/``grpc``
ports get h2c with prior knowledge, ``http`` ports HTTP/1.1, and an
undeclared port (or a pod, for workload traffic) the client's own version,
as Envoy's ``USE_DOWNSTREAM_PROTOCOL`` does for sniffed traffic.

A request addressed to a pod (workload traffic) has no routes: it goes to
that pod, with the inbound default's retries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import random
import time
import uuid
from dataclasses import dataclass, field

from dataplane.l7 import accesslog
from dataplane.l7.http.messages import Request, Response, end_to_end, header
from dataplane.l7.http.pool import ConnectionPool, Limits, Overflow
from dataplane.l7.http.serve import serve
from dataplane.l7.http.streams import Reader, Writer
from dataplane.l7.routing import decision as decisions
from dataplane.l7.routing import lb, replies, requestauthn, retry
from dataplane.l7.routing import model as routing
from dataplane.l7.routing.outlier import OutlierDetector
from dataplane.l7.routing.replies import LocalReply
from dataplane.l7.routing.table import default_route
from dataplane.mesh import authz_l7, protocols
from dataplane.mesh.metrics import ConnectionLabels
from dataplane.mesh.requestmetrics import RequestLabels, RequestMetrics
from dataplane.mesh.waypoint.authorizer import ExternalAuthorizer
from dataplane.mesh.waypoint.routes import Endpoint, WaypointRoutes
from dataplane.mesh.waypoint.targets import Target
from dataplane.mesh.waypoint.upstream import Upstream
from dataplane.mesh.ztunnel.context import ProxyContext
from dataplane.mesh.ztunnel.streams import NET_ERRORS, first_bytes
from dataplane.topology.plan import Plan, Pod, Waypoint

log = logging.getLogger(__name__)

Address = tuple[str, int]
SERVER = "istio-envoy"
_LABEL_CACHE_SIZE = 4096  # label sets kept between reconciles (distinct clients, backends, flags)


@dataclass
class _Cluster:
    """One Envoy cluster: a backend Service port (and subset) with its pool,
    balancer and outlier state, kept across reconciles while its policy holds."""

    policy: routing.TrafficPolicy
    pool: ConnectionPool
    balancer: lb.Balancer
    outlier: OutlierDetector[Address] | None
    active: dict[Address, int] = field(default_factory=dict)


@dataclass
class _Sent:
    response: Response | None = None
    reply: LocalReply | None = None
    endpoint: Endpoint | None = None
    upstream_ms: int | None = None
    flags: str = "-"
    response_headers: tuple[routing.HeaderModifier, ...] = ()  # the chosen backend's, then the route's
    authorizer_headers: routing.Headers = ()  # headersToDownstreamOnAllow of an external authorizer


class WaypointHttp:
    def __init__(
        self, context: ProxyContext, waypoint_pod: Pod, waypoint: Waypoint, upstream: Upstream, metrics: RequestMetrics
    ):
        self.context = context
        self.pod = waypoint_pod
        self.upstream = upstream
        self.metrics = metrics
        self.routes = WaypointRoutes(context.resolver.plan, waypoint)
        self._clusters: dict[tuple[str, int, str | None, bool], _Cluster] = {}
        self._rng = random.Random()
        self._mirrors: set[asyncio.Task[None]] = set()
        self.authorizer = ExternalAuthorizer(upstream, self._rng)
        self._label_cache: dict[tuple[str | None, ...], ConnectionLabels] = {}

    def refresh(self, plan: Plan, waypoint: Waypoint) -> None:
        """New routes and endpoints for the next requests; pools whose policy changed start afresh."""
        self.routes = WaypointRoutes(plan, waypoint)
        self._label_cache.clear()  # pods and Services may have changed
        for key, cluster in list(self._clusters.items()):
            if self.routes.policy(key[0], key[2]) != cluster.policy:
                cluster.pool.close()
                del self._clusters[key]

    def close(self) -> None:
        self.authorizer.close()
        for cluster in self._clusters.values():
            cluster.pool.close()
        for task in self._mirrors:
            task.cancel()

    # -- downstream ---------------------------------------------------------------------------------

    async def __call__(
        self, reader: Reader, writer: Writer, initial: bytes, target: Target,
        peer_identity: str | None, source: Address,
    ) -> None:
        async def handle(request: Request) -> Response:
            return await self.handle(request, target, peer_identity, source)

        # Envoy's AUTO codec: the client's first bytes choose HTTP/2 or HTTP/1.1
        # whatever the port declares (HTTP is client-first: waiting cannot hang).
        initial = initial or await first_bytes(reader)
        await serve(reader, writer, handle, http2=initial.startswith(protocols.H2_PREFACE[:3]), initial=initial)

    async def handle(self, request: Request, target: Target, peer_identity: str | None, source: Address) -> Response:
        started_wall, started = dt.datetime.now(dt.UTC), time.monotonic()
        request = self._downstream_headers(request)
        service, port = self._service_of(target)
        request, denial, authorizer_headers = await self._authorize(request, target, peer_identity, source, port)
        view = routing.Request(request.method, request.target, request.authority, request.scheme, request.headers)
        grpc = target.protocol == protocols.GRPC
        route = self.routes.table(service, port, grpc).select(view) if service else default_route("", port, grpc)
        sent = _Sent(reply=denial if denial is not None or route is not None else replies.no_route())
        cluster_name = None
        if sent.reply is None and route is not None:
            fate = decisions.decide(route, view, self._rng, self.routes.services if service else _Any())
            if fate.delay:
                await asyncio.sleep(fate.delay)
            if isinstance(fate, decisions.Respond):
                sent.reply = fate.reply
            else:
                cluster_name = _cluster_name(fate.backend, port)
                sent = await self._forward(fate, request, target, port)
                sent.flags = _joined(fate.flags, sent.flags)
                sent.response_headers = fate.response_headers
                for mirror in fate.mirrors:
                    self._mirror(mirror, fate.request, request, port)
        sent.authorizer_headers = authorizer_headers
        response = self._respond(sent)
        self._account(request, response, sent, target, peer_identity, source, started_wall, started, cluster_name)
        return response

    async def _authorize(
        self, request: Request, target: Target, peer_identity: str | None, source: Address, port: int
    ) -> tuple[Request, LocalReply | None, routing.Headers]:
        """Envoy's authentication and authorization filters, before routing (so
        headers an external authorizer sets upstream are seen by the route
        matchers): the JWT rules of the RequestAuthentications on the target (a
        bad token is refused with 401; a good one gives the request principal
        and claims, and its header is dropped), a CUSTOM policy's authorizer,
        then DENY and ALLOW.  Returns the request as it goes on, the denial if
        any, and the authorizer's headers for the client."""
        called = (target.service.namespace, target.service.name) if target.service else None
        plan, waypoint = self.routes.plan, self.routes.waypoint
        view = routing.Request(request.method, request.target, request.authority, request.scheme, request.headers)
        authn = requestauthn.authenticate(authz_l7.jwt_rules(plan, waypoint, called), view, time.time())
        if authn.reply is not None:
            return request, authn.reply, ()
        request = request.with_headers(authn.headers)
        attributes = authz_l7.HttpRequest(
            request.method, request.path, request.authority, port, request.headers, source[0], peer_identity,
            authn.identity,
        )
        downstream: routing.Headers = ()
        custom = authz_l7.custom_policy(plan, waypoint, called, attributes)
        if custom is not None:
            checked = await self.authorizer.check(self.routes, custom, request)
            if not checked.allowed:
                return request, checked.reply, ()
            request = request.with_headers(_overwritten(request.headers, checked.upstream_headers))
            downstream = checked.downstream_headers
        verdict = authz_l7.evaluate(plan, waypoint, called, attributes)
        return request, None if verdict.allowed else replies.rbac_denied(verdict.matched), downstream

    def _downstream_headers(self, request: Request) -> Request:
        """What Envoy adds on the way in: a request id and the forwarded protocol."""
        headers = end_to_end(request.headers)
        if header(headers, "x-request-id") is None:
            headers += (("x-request-id", str(uuid.UUID(int=self._rng.getrandbits(128), version=4))),)
        headers = tuple((k, v) for k, v in headers if k != "x-forwarded-proto") + (("x-forwarded-proto", request.scheme),)
        return request.with_headers(headers)

    def _service_of(self, target: Target) -> tuple[str, int]:
        if target.service is None:
            return "", target.address[1]
        return self.routes.fqdn(target.service.namespace, target.service.name), target.address[1]

    # -- upstream ---------------------------------------------------------------------------------------

    def _cluster(self, service: str, port: int, subset: str | None, http2: bool) -> _Cluster:
        key = (service, port, subset, http2)
        cluster = self._clusters.get(key)
        if cluster is None:
            policy = self.routes.policy(service, subset) if service else routing.TrafficPolicy()
            limits = Limits(policy.pool.max_connections, policy.pool.max_pending_requests,
                            policy.pool.max_requests_per_connection)
            outlier = OutlierDetector(policy.outlier, (), time.monotonic()) if policy.outlier else None
            cluster = _Cluster(policy, ConnectionPool(self.upstream.open, limits, http2),
                               lb.balancer(policy.load_balancer), outlier)
            self._clusters[key] = cluster
        return cluster

    def _speaks_http2(self, service: str, port: int, request: Request) -> bool:
        declared = self.routes.protocol(service, port) if service else None
        if declared is None:
            return request.version == "2"
        return declared in (protocols.HTTP2, protocols.GRPC)

    def _endpoints(self, backend: routing.Backend, target: Target, port: int) -> tuple[Endpoint, ...] | None:
        if target.pod is not None and not backend.service:
            return (Endpoint(target.address, target.pod),)
        return self.routes.endpoints(backend.service, backend.port or port, backend.subset)

    async def _forward(self, fate: decisions.Forward, original: Request, target: Target, port: int) -> _Sent:
        endpoints = self._endpoints(fate.backend, target, port)
        if endpoints is None:
            return _Sent(reply=replies.invalid_backend())
        http2 = self._speaks_http2(fate.backend.service, fate.backend.port or port, original)
        cluster = self._cluster(fate.backend.service, fate.backend.port or port, fate.backend.subset, http2)
        upstream = Request(
            original.method, fate.request.path, fate.request.authority, fate.request.headers, original.body,
            original.scheme,
        )
        try:
            if fate.timeout:
                return await asyncio.wait_for(self._attempts(fate, upstream, endpoints, cluster), fate.timeout)
            return await self._attempts(fate, upstream, endpoints, cluster)
        except TimeoutError:
            return _Sent(reply=replies.upstream_timeout())

    async def _attempts(
        self, fate: decisions.Forward, request: Request, endpoints: tuple[Endpoint, ...], cluster: _Cluster
    ) -> _Sent:
        state = retry.RetryState(fate.retry)
        tried: set[Address] = set()
        by_address = {e.address: e for e in endpoints}
        if cluster.outlier is not None:
            cluster.outlier.set_hosts(by_address)
        while True:
            now = time.monotonic()
            hosts = tuple(by_address) if cluster.outlier is None else cluster.outlier.available(tuple(by_address), now)
            if not hosts:
                return _Sent(reply=replies.no_healthy_upstream())
            chosen = lb.choose(cluster.balancer, hosts, lambda a: cluster.active.get(a, 0), self._rng, tried)
            tried.add(chosen)
            sent, outcome = await self._try(chosen, by_address[chosen], request, cluster, fate.retry)
            if cluster.outlier is not None:
                cluster.outlier.record(chosen, sent.response.status if sent.response else None, time.monotonic())
            wait = state.after(outcome, self._rng) if outcome is not None else None
            if wait is None:
                if state.limit_exceeded:
                    sent.flags = _joined(sent.flags, "URX")
                    if sent.reply is not None and sent.reply.flags == "UF":
                        sent.reply = replies.connect_failure(retried=True)
                return sent
            await asyncio.sleep(wait)

    async def _try(
        self, address: Address, endpoint: Endpoint, request: Request, cluster: _Cluster, policy: routing.RetryPolicy | None
    ) -> tuple[_Sent, retry.Outcome | None]:
        cluster.active[address] = cluster.active.get(address, 0) + 1
        started = time.monotonic()
        try:
            exchange = cluster.pool.exchange(address, request)
            per_try = policy.per_try_timeout if policy else None
            response = await (asyncio.wait_for(exchange, per_try) if per_try else exchange)
        except Overflow:
            return _Sent(reply=replies.overflow(), endpoint=endpoint), None
        except TimeoutError:
            return _Sent(reply=replies.upstream_timeout(per_try=True), endpoint=endpoint), retry.Outcome(reset="timeout")
        except NET_ERRORS as exc:
            log.info("waypoint: %s:%d: %s", *address, exc)
            return _Sent(reply=replies.connect_failure(), endpoint=endpoint), retry.Outcome(reset="connect-failure")
        finally:
            cluster.active[address] -= 1
        upstream_ms = int((time.monotonic() - started) * 1000)
        grpc = header(response.trailers or response.headers, "grpc-status")
        outcome = retry.Outcome(status=response.status, grpc_status=int(grpc) if grpc and grpc.isdigit() else None)
        return _Sent(response=response, endpoint=endpoint, upstream_ms=upstream_ms), outcome

    def _mirror(self, mirror: routing.Mirror, routed: routing.Request, original: Request, port: int) -> None:
        """A copy of the request to the mirror backend, fire and forget (its answer is dropped)."""
        endpoints = self.routes.endpoints(mirror.service, mirror.port or port, mirror.subset)
        if not endpoints:
            return
        chosen = self._rng.choice(endpoints)
        http2 = self._speaks_http2(mirror.service, mirror.port or port, original)
        cluster = self._cluster(mirror.service, mirror.port or port, mirror.subset, http2)
        copy = Request(original.method, routed.path, routed.authority, routed.headers, original.body, original.scheme)

        async def send() -> None:
            try:
                await cluster.pool.exchange(chosen.address, copy)
            except (Overflow, *NET_ERRORS) as exc:
                log.info("waypoint: mirror to %s:%d failed: %s", *chosen.address, exc)

        task = asyncio.ensure_future(send())
        self._mirrors.add(task)
        task.add_done_callback(self._mirrors.discard)

    # -- answer and account -------------------------------------------------------------------------

    def _respond(self, sent: _Sent) -> Response:
        if sent.reply is not None:
            reply = sent.reply
            return Response(reply.status, (*reply.headers, *sent.authorizer_headers, ("server", SERVER)), reply.body)
        assert sent.response is not None
        headers = end_to_end(sent.response.headers)
        for modifier in sent.response_headers:
            headers = decisions.apply_headers(headers, modifier)
        headers = tuple((k, v) for k, v in headers if k != "server") + sent.authorizer_headers + (
            ("server", SERVER), ("x-envoy-upstream-service-time", str(sent.upstream_ms or 0)),
        )
        return Response(sent.response.status, headers, sent.response.body, sent.response.trailers)

    def _account(
        self, request: Request, response: Response, sent: _Sent, target: Target, peer_identity: str | None,
        source: Address, started_wall: dt.datetime, started: float, cluster: str | None,
    ) -> None:
        duration_ms = (time.monotonic() - started) * 1000
        flags = sent.reply.flags if sent.reply is not None else sent.flags
        destination = sent.endpoint.pod if sent.endpoint is not None and sent.response is not None else None
        protocol = "grpc" if target.protocol == protocols.GRPC else "http"
        labels = self._labels(source[0], destination, target, peer_identity, protocol, flags)
        grpc = header(response.trailers or response.headers, "grpc-status")
        self.metrics.record(RequestLabels(labels, response.status, grpc), duration_ms, len(request.body), len(response.body))
        upstream_host = f"envoy://connect_originate/{sent.endpoint.address[0]}:{sent.endpoint.address[1]}" if (
            sent.endpoint is not None and sent.response is not None) else None
        accesslog.write(accesslog.Entry(
            start=started_wall, method=request.method, path=request.target,
            protocol="HTTP/2" if request.version == "2" else f"HTTP/{request.version}", code=response.status,
            flags=flags, details=sent.reply.details if sent.reply is not None else "via_upstream",
            bytes_in=len(request.body), bytes_out=len(response.body), duration_ms=int(duration_ms),
            upstream_ms=sent.upstream_ms, forwarded_for=header(request.headers, "x-forwarded-for"),
            user_agent=header(request.headers, "user-agent"), request_id=header(request.headers, "x-request-id"),
            authority=request.authority, upstream_host=upstream_host, cluster=cluster,
            downstream_local=f"{target.address[0]}:{target.address[1]}", downstream_remote=f"{source[0]}:{source[1]}",
        ))


    def _labels(
        self, source_ip: str, destination: Pod | None, target: Target, peer_identity: str | None, protocol: str,
        flags: str,
    ) -> ConnectionLabels:
        """A request's connection labels, kept until the next reconcile: building
        them (two pod lookups, a dozen strings) on every request cost more than
        the metrics update itself, and a client sends many requests alike."""
        service = target.service
        key = (source_ip, destination.key if destination else None, service.key if service else None, peer_identity,
               protocol, flags)
        labels = self._label_cache.get(key)
        if labels is None:
            if len(self._label_cache) >= _LABEL_CACHE_SIZE:
                self._label_cache.clear()
            labels = dataclasses.replace(self.context.labels(
                "waypoint", self.context.resolver.pod_at(source_ip), destination, service=service, mtls=True,
                source_principal=peer_identity,
                destination_principal=self.context.identity(destination) if destination else None,
            ), request_protocol=protocol, response_flags=flags)
            self._label_cache[key] = labels
        return labels


class _Any:
    """Every Service exists (workload traffic names none)."""

    def __contains__(self, item: object) -> bool:
        return True


def _overwritten(headers: routing.Headers, replacing: routing.Headers) -> routing.Headers:
    """``headers`` with every header named in ``replacing`` set to its value there."""
    names = {k for k, _ in replacing}
    return tuple((k, v) for k, v in headers if k not in names) + replacing


def _joined(*flags: str) -> str:
    found = [f for part in flags for f in part.split(",") if f and f != "-"]
    return ",".join(dict.fromkeys(found)) or "-"


def _cluster_name(backend: routing.Backend, port: int) -> str:
    kind = "http" if backend.subset is None else f"http/{backend.subset}"
    return f"inbound-vip|{backend.port or port}|{kind}|{backend.service or '-'}"
