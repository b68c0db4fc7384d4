"""The l7 check's plan: a trial for every route rule a waypoint serves and
every L7 AuthorizationPolicy decision, computed from the plan alone (no root).

For each Service bound to a ready waypoint (``waypoints.service_binding``)
and each of its HTTP ports with routes attached, the port's route table is
built as the waypoint builds it (``WaypointRoutes``), and each rule (an
HTTPRoute rule or a VirtualService ``http[]`` entry; Istio makes one route
per match) gets one trial: a request that reaches one of its matches and no
earlier route (``l7requests``), sent from an ambient client the L7 policies
let through (``l7trial.clients``), expecting

* each backend's share, ``weight / total`` of what the fault abort leaves,
  counted by the pod that answers (backends whose pods overlap, such as
  ``reviews`` and ``reviews-v1``, are counted together; a backend without
  endpoints is the waypoint's 503, a missing one its 500);
* the abort's share as ``fault filter abort`` with its status;
* a redirect's location or a direct response's status and body.

The number of requests comes from the shares (``binomial.sample_size``).
A rule with a fault delay is sent only when the delays fit ``DELAY_BUDGET``.
Anything that cannot be planned is ``Unchecked`` with the reason, which the
check reports as skipped.  Policy decisions are planned in ``l7authz``.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import replace

from dataplane.l7.routing import decision, replies
from dataplane.l7.routing.model import Backend, Request, Route
from dataplane.l7.routing.table import RouteTable
from dataplane.mesh import protocols, waypoints
from dataplane.mesh.waypoint.routes import WaypointRoutes
from dataplane.topology.plan import Plan, Pod, Service, ServicePort, Waypoint
from dataplane.verify import binomial, l7authz
from dataplane.verify.l7requests import blocker, reaching
from dataplane.verify.l7trial import ROUTE, Trial, Unchecked, clients, local_label, verdict

DELAY_BUDGET = 10.0
"""Seconds of injected delay one rule may cost; a longer fault delay is not sent (and reported unchecked)."""

_RULE = re.compile(r"^(HTTPRoute (\S+) rule (\d+)|VirtualService (\S+) http\[(\d+)\])")
HTTP_PORTS = (protocols.HTTP, protocols.HTTP2, protocols.UNDECLARED)


def rule_name(origin: str) -> str:
    """``HTTPRoute ns/name rule[1]`` or ``VirtualService ns/name http[0]`` from a route's origin (one per match)."""
    found = _RULE.match(origin)
    if found is None:
        return origin
    if found.group(2):
        return f"HTTPRoute {found.group(2)} rule[{found.group(3)}]"
    return f"VirtualService {found.group(4)} http[{found.group(5)}]"


def http_ports(service: Service) -> list[ServicePort]:
    """The TCP ports a client's HTTP/1.1 reaches the L7 chain on (declared HTTP, or sniffed)."""
    return [p for p in service.ports if p.protocol == "TCP" and protocols.declared(p, p.port) in HTTP_PORTS]


def bound_services(plan: Plan) -> list[tuple[Service, Waypoint]]:
    """Services whose VIP traffic goes through a ready waypoint, by namespace and name."""
    out = []
    for service in sorted(plan.services, key=lambda s: (s.namespace, s.name)):
        binding = waypoints.service_binding(plan, service)
        if binding is not None and binding.bound and binding.waypoint is not None and service.cluster_ip:
            out.append((service, binding.waypoint))
    return out


def plan_trials(plan: Plan) -> list[Trial | Unchecked]:
    """Every route rule's and policy decision's trial (or why it has none)."""
    found: list[Trial | Unchecked] = []
    tables: dict[str, WaypointRoutes] = {}
    bound = bound_services(plan)
    for service, waypoint in bound:
        if waypoint.key not in tables:
            tables[waypoint.key] = WaypointRoutes(plan, waypoint)
        routes = tables[waypoint.key]
        for port in http_ports(service):
            table = routes.table(routes.fqdn(service.namespace, service.name), port.port)
            if table.attached:
                found += route_trials(plan, routes, service, port.port, table)
    return found + l7authz.policy_trials(plan, bound, http_ports)


def route_trials(
    plan: Plan, routes: WaypointRoutes, service: Service, port: int, table: RouteTable
) -> list[Trial | Unchecked]:
    """One trial per rule of ``table`` (the routes of ``service``:``port``), in table order."""
    rules: dict[str, list[Route]] = defaultdict(list)
    for route in table.routes:
        rules[rule_name(route.origin)].append(route)
    return [_rule_trial(plan, routes, service, port, table, rule, members) for rule, members in rules.items()]


def _rule_trial(
    plan: Plan, routes: WaypointRoutes, service: Service, port: int, table: RouteTable, rule: str, members: list[Route]
) -> Trial | Unchecked:
    """The first request that reaches one of the rule's routes and that some client may send."""
    authority = f"{service.name}.{service.namespace}:{port}"
    where = f"{rule} for {service.namespace}/{service.name}:{port}"
    refused = ""
    for route in members:
        for request in reaching(table, route, authority):
            shares, pods, summary = outcomes(route, request, routes, service.namespace, port)
            client, why = _admitted(plan, routes.waypoint, service, request, port, frozenset(pods))
            if client is None:
                refused = refused or why
                continue
            trial = Trial(
                ROUTE, f"{where} ({summary})", client.key, client.netns, service.cluster_ip or "", port, request,
                tuple(sorted(shares.items())), binomial.sample_size(list(shares.values())), tuple(sorted(pods.items())),
            )
            return _delayed(trial, route)
    return Unchecked(where, f"not checkable: {refused or blocker(table, members[0], authority)}")


def _admitted(
    plan: Plan, waypoint: Waypoint, service: Service, request: Request, port: int, backends: frozenset[str]
) -> tuple[Pod | None, str]:
    """The first client the waypoint's policies let send ``request``, else why none."""
    why = ""
    for client in clients(plan, service, backends):
        found = verdict(plan, waypoint, service, client, request, port)
        if found is not None and found.allowed:
            return client, ""
        why = why or (
            "a CUSTOM policy sends it to an external authorizer" if found is None
            else f"denied by {found.policy or 'every ALLOW policy'}"
        )
    return None, f"{request.method} {request.path} reaches it but is {why or 'sent by no ambient client'} for every ambient client"


def _delayed(trial: Trial, route: Route) -> Trial | Unchecked:
    """``trial`` as is, or noted when its fault delay fits ``DELAY_BUDGET``, or unchecked when it does not."""
    delay = route.fault.delay if route.fault is not None else None
    if delay is None or delay.percent <= 0:
        return trial
    cost = trial.requests * min(delay.percent, 100) / 100 * delay.seconds
    if cost > DELAY_BUDGET:
        return Unchecked(trial.subject, f"not checkable: its {delay.seconds:g}s fault delay on {delay.percent:g}% of "
                                        f"{trial.requests} requests would take about {cost:.0f}s (budget {DELAY_BUDGET:g}s)")
    return replace(trial, note=f"fault delay {delay.seconds:g}s at {delay.percent:g}% sent, not timed")


def outcomes(
    route: Route, request: Request, routes: WaypointRoutes, namespace: str, port: int
) -> tuple[dict[str, float], dict[str, str], str]:
    """(share of each outcome label, backend pod -> its label, a summary for the subject) of ``request`` on ``route``."""
    shares: dict[str, float] = defaultdict(float)
    pods: dict[str, str] = {}
    rest, extra = 1.0, ""
    abort = route.fault.abort if route.fault is not None else None
    if abort is not None and abort.percent > 0:
        share = min(abort.percent, 100) / 100
        shares[local_label(replies.fault_abort(abort.status, abort.grpc_status))] += share
        rest -= share
        extra = f", abort {abort.status} at {abort.percent:g}%"
    if route.redirect is not None:
        location = decision.location(route.redirect, route.match.path, request)
        shares[local_label(replies.redirect(route.redirect.status, location))] += rest
        summary = f"redirect {route.redirect.status}"
    elif route.direct_response is not None or not route.backends:
        answer = route.direct_response
        reply = replies.direct_response(answer.status, answer.body) if answer else replies.invalid_backend()
        shares[local_label(reply)] += rest
        summary = f"direct response {reply.status}"
    else:
        summary = _backend_shares(route.backends, routes, namespace, port, rest, shares, pods)
    return {label: share for label, share in shares.items() if share > 0}, pods, summary + extra


def _backend_shares(
    backends: tuple[Backend, ...], routes: WaypointRoutes, namespace: str, port: int, rest: float,
    shares: dict[str, float], pods: dict[str, str],
) -> str:
    """Adds each backend's share to ``shares`` under a label its pods map to in ``pods``;
    backends sharing a pod are one label (an answer cannot tell them apart)."""
    total = sum(b.weight for b in backends)
    groups: list[tuple[list[str], set[str], float]] = []  # (names, pods, share)
    for backend in backends:
        share = rest * backend.weight / total
        endpoints = routes.endpoints(backend.service, backend.port or port, backend.subset)
        if not endpoints:
            reply = replies.invalid_backend() if endpoints is None else replies.no_healthy_upstream()
            shares[local_label(reply)] += share
            continue
        names, members = [backend_name(backend, namespace)], {e.pod.key for e in endpoints}
        for group in [g for g in groups if g[1] & members]:
            groups.remove(group)
            names, members, share = group[0] + names, group[1] | members, group[2] + share
        groups.append((names, members, share))
    for names, members, share in groups:
        shares["+".join(names)] += share
        pods.update(dict.fromkeys(members, "+".join(names)))
    if len(backends) == 1:
        return f"backend {backend_name(backends[0], namespace)}"
    return "weights " + ", ".join(f"{backend_name(b, namespace)} {b.weight}" for b in backends)


def backend_name(backend: Backend, namespace: str) -> str:
    """``reviews-v1`` (in ``namespace``), ``reviews.other`` (elsewhere), ``reviews/v1`` (a subset)."""
    name, _, rest = backend.service.partition(".")
    home = rest.split(".", 1)[0]
    label = name if home == namespace else f"{name}.{home}"
    return f"{label}/{backend.subset}" if backend.subset else label
