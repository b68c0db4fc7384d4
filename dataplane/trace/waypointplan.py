"""A waypoint's part of a trace, from the plan: the same pure pieces the waypoint runs.

In the waypoint's order (``waypoint-l7.md`` §2.2, §4; ``mesh/waypoint/http.py``):
the CONNECT target (``waypoint.targets``) picks the chain from the Service
port's protocol; an HTTP request meets a CUSTOM policy's authorizer, then the
DENY/ALLOW policies (``authz_l7``), then the route table of the called Service
port (``l7.routing.table``), whose matched route forwards to a backend drawn by
weight (its endpoints balanced by the DestinationRule's policy), answers
locally, or injects faults; the second hop leaves with the waypoint's own
identity (HBONE to an endpoint that takes it, plain TCP otherwise).  Draws are
not made: every backend and endpoint is a branch with its share.
"""

from __future__ import annotations

from dataclasses import replace

from dataplane.l7.routing import decision, replies
from dataplane.l7.routing import model as routing
from dataplane.l7.routing.table import default_route
from dataplane.mesh import authz_l7, protocols
from dataplane.mesh.waypoint.routes import WaypointRoutes
from dataplane.mesh.waypoint.targets import Target, Targets
from dataplane.mesh.waypoints import USE_WAYPOINT, Binding
from dataplane.mesh.ztunnel.workloads import Resolver, Route
from dataplane.topology.plan import Plan, Pod, Waypoint
from dataplane.trace import routewords
from dataplane.trace.arrival import arrive, tunnel_to
from dataplane.trace.meshmodel import Address, BackendChoice, Branch, HttpCall, WaypointHop, address


def why_bound(plan: Plan, binding: Binding, what: str, namespace: str, labels: dict[str, str]) -> str:
    """``what`` (e.g. "Service default/reviews") and the label that binds it."""
    where = what if USE_WAYPOINT in labels else f"namespace {namespace}"
    return f"{what} is bound: {USE_WAYPOINT} on {where} ({binding.reason})"


def _chain(target: Target) -> tuple[str, str]:
    """The chain the waypoint runs and why; an undeclared port is traced as the HTTP/1.1 ``--live`` sends."""
    if target.protocol is not None:
        return target.protocol, f"port {target.label} declares {target.protocol}"
    what = "workload traffic" if target.pod is not None else f"port {target.label} declares no protocol"
    return protocols.HTTP, f"{what}: the waypoint sniffs the first bytes; traced as HTTP/1.1"


class WaypointPlanner:
    """The waypoint hop of one route (``route.waypoint`` set) for one request."""

    def __init__(self, plan: Plan, resolver: Resolver, waypoint: Waypoint, pod: Pod):
        self.plan = plan
        self.resolver = resolver
        self.waypoint = waypoint
        self.pod = pod
        self.identity = resolver.identity(pod)
        self.routes = WaypointRoutes(plan, waypoint)

    def hop(self, route: Route, client: Pod, bound: str, call: HttpCall) -> WaypointHop:
        base = WaypointHop(self.waypoint.key, self.pod.key, self.pod.node, self.pod.ip, bound,
                           target=address(route.connect_authority))
        target = Targets(self.plan, self.waypoint).resolve(route.connect_authority)
        if target is None:
            return replace(base, outcome="CONNECT refused 400: the waypoint serves no such target")
        chain, reason = _chain(target)
        base = replace(base, target=target.label, chain=chain, chain_reason=reason)
        if chain == protocols.TCP:
            return self._tcp(base, target)
        return self._http(base, target, client, call)

    def _tcp(self, base: WaypointHop, target: Target) -> WaypointHop:
        """Envoy's TCP proxy: one random ready endpoint per connection, no HTTP policy or route."""
        if target.pod is not None:
            ends = [(target.address, target.pod)]
        else:
            pods = {p.ip: p for p in self.plan.pods}
            ends = [((e.ip, e.port), pods[e.ip]) for e in target.endpoints if e.ready and e.ip in pods]
        share = f"1 of {len(ends)} ready endpoints, random per connection"
        return replace(
            base, route_note="TCP chain: no HTTP routing or policy",
            outcome="forward" if ends else "reset: no ready endpoint",
            branches=tuple(self._branch(share, found, pod) for found, pod in ends),
        )

    def _http(self, base: WaypointHop, target: Target, client: Pod, call: HttpCall) -> WaypointHop:
        port = target.address[1]
        service = self.routes.fqdn(target.service.namespace, target.service.name) if target.service else ""
        called = (target.service.namespace, target.service.name) if target.service else None
        headers = tuple((k, v) for k, v in call.headers if k != "host") + (("x-forwarded-proto", "http"),)
        attributes = authz_l7.HttpRequest(call.method, call.path.partition("?")[0], call.authority, port, headers,
                                          client.ip, self.resolver.identity(client))
        custom = authz_l7.custom_policy(self.plan, self.waypoint, called, attributes)
        verdict = authz_l7.evaluate(self.plan, self.waypoint, called, attributes)
        request = f"{call.method} {call.path} (:authority {call.authority})" + "".join(
            f", {k}: {v}" for k, v in call.headers if k != "host"
        )
        view = routing.Request(call.method, call.path, call.authority, "http", headers)
        grpc = base.chain == protocols.GRPC
        if service:
            table = self.routes.table(service, port, grpc)
            chosen = table.select(view)
            notes = ([] if table.attached else ["no route attached: the waypoint's default route"]) + list(table.ignored)
        else:
            chosen = default_route("", port, grpc)
            notes = ["workload traffic: no routes, straight to the bound pod"]
        base = replace(base, request=request, custom=custom.key if custom else None, l7_allowed=verdict.allowed,
                       l7_policy=verdict.policy, l7_detail=verdict.matched, route_note="; ".join(notes))
        if not verdict.allowed:
            denied = replies.rbac_denied(verdict.matched)
            return replace(base, outcome=f"{denied.status} RBAC: access denied ({denied.details})")
        if chosen is None:
            return replace(base, outcome="404 NR (route_not_found): routes are attached and none matched")
        base = replace(base, route=chosen.origin, filters=routewords.filters(chosen), faults=routewords.faults(chosen),
                       timing=routewords.timing(chosen))
        if chosen.redirect is not None:
            location = decision.location(chosen.redirect, chosen.match.path, view)
            return replace(base, outcome=f"{chosen.redirect.status} redirect to {location}")
        if chosen.direct_response is not None or not chosen.backends:
            status = chosen.direct_response.status if chosen.direct_response else 500
            return replace(base, outcome=f"{status} direct response")
        backends, branches = self._backends(chosen, target, port, service)
        return replace(base, backends=backends, branches=branches)

    def _backends(
        self, route: routing.Route, target: Target, port: int, service: str
    ) -> tuple[tuple[BackendChoice, ...], tuple[Branch, ...]]:
        total = sum(b.weight for b in route.backends)
        choices: list[BackendChoice] = []
        branches: list[Branch] = []
        for backend in route.backends:
            percent = 100.0 * backend.weight / total
            bport = backend.port or port
            problem, ends = "", []
            if target.pod is not None and not backend.service:
                ends = [(target.address, target.pod)]
            elif service and backend.service not in self.routes.services:
                problem = "no such Service: this share is answered 500"
            else:
                found = self.routes.endpoints(backend.service, bport, backend.subset)
                if found is None:
                    problem = "no such port or subset: this share is answered 500"
                else:
                    ends = [(e.address, e.pod) for e in found]
                    problem = "" if ends else "no ready endpoint: this share is answered 503 UH"
            balancer = self.routes.policy(backend.service, backend.subset).load_balancer if backend.service else "-"
            choices.append(BackendChoice(backend.service, bport, backend.subset, backend.weight, round(percent, 2),
                                         balancer, tuple(pod.key for _, pod in ends), problem))
            share = f"backend {routewords.short(backend)} {percent:g}% by weight, then 1 of {len(ends)} by {balancer}"
            branches += [self._branch(share, found_at, pod) for found_at, pod in ends]
        return tuple(choices), tuple(branches)

    def _branch(self, share: str, endpoint: Address, pod: Pod) -> Branch:
        """The second hop to one endpoint: HBONE with the waypoint's identity when it takes tunnels."""
        tunnel = (
            tunnel_to(pod, endpoint, self.pod, self.identity, self.resolver.identity(pod))
            if self.resolver.accepts_hbone(pod) else None
        )
        return Branch(share, endpoint, arrive(self.plan, pod, endpoint, self.pod.ip, tunnel))
