"""Past the capture: the source proxy's decision and every hop after it, from the plan.

A meshed pod's outbound TCP is redirected to its proxy's 15001 (the ztunnel
for an ambient pod, its own sidecar otherwise); what happens next is the
ztunnel's decision tree (``ztunnel.md`` §2.4), which ``Resolver`` already is.
The trace runs that very code: it hands the resolver a stand-in for its
random generator that picks each candidate in turn (``_EachCandidate``), so
every endpoint a Service may resolve to is followed, not just one draw.
A waypoint in the way is followed by ``waypointplan``; each endpoint's
arrival (inbound policy, application socket) by ``arrival``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from typing import TypeVar

from dataplane.mesh import enrollment
from dataplane.mesh.waypoints import Binding, service_binding, workload_binding
from dataplane.mesh.ztunnel.workloads import HBONE, NO_UPSTREAM, PASSTHROUGH, SELF_CALL, Resolver, Route
from dataplane.topology.plan import Plan, Pod
from dataplane.trace.arrival import arrive, tunnel_to
from dataplane.trace.meshmodel import Address, Branch, HttpCall, MeshTrace, address
from dataplane.trace.waypointplan import WaypointPlanner, why_bound

T = TypeVar("T")


class _EachCandidate(random.Random):
    """The resolver's random generator, replaced: ``choice`` returns candidate
    ``index`` and remembers how many there were."""

    def __init__(self) -> None:
        super().__init__(0)
        self.index = 0
        self.offered = 0

    def choice(self, seq: Sequence[T]) -> T:
        self.offered = len(seq)
        return seq[self.index]


def routes_for(plan: Plan, dst: Address, sidecar: bool) -> tuple[Resolver, list[Route]]:
    """Every route the source proxy may take to ``dst``: one per ready endpoint of a Service, else one."""
    pick = _EachCandidate()
    resolver = Resolver(plan, pick)
    first = resolver.resolve(dst, sidecar=sidecar)
    found = [first]
    for index in range(1, pick.offered):
        pick.index = index
        found.append(resolver.resolve(dst, sidecar=sidecar))
    return resolver, found


def default_host(source: Pod, route: Route, dst: Address) -> str:
    """The authority a client in ``source`` would send: ``name:port`` in its own namespace, else ``name.ns:port``."""
    service = route.service
    if service is None:
        return address(dst)
    name = service.name if service.namespace == source.namespace else f"{service.name}.{service.namespace}"
    return f"{name}:{dst[1]}"


def _binding(plan: Plan, route: Route) -> tuple[Binding | None, str, str, dict[str, str]]:
    """The waypoint binding of what was dialled: (binding, what, its namespace, its labels)."""
    if route.service is not None:
        service = route.service
        return service_binding(plan, service), f"Service {service.key}", service.namespace, service.labels
    if route.pod is not None:
        return workload_binding(plan, route.pod), f"pod {route.pod.key}", route.pod.namespace, route.pod.labels
    return None, "", "", {}


def _notes(plan: Plan, route: Route, sidecar: bool) -> tuple[str, ...]:
    """Why a waypoint the destination asks for is not on the path."""
    binding, what, _, _ = _binding(plan, route)
    if binding is None or route.waypoint is not None:
        return ()
    if sidecar and binding.bound:
        return (f"{what} is bound to waypoint {binding.waypoint.key if binding.waypoint else '?'}, but a sidecar "
                "never uses waypoints (istiod treats its traffic as already routed)",)
    if not binding.bound:
        return (f"{what} asks for a waypoint and does not get it: {binding.status}: {binding.reason}; "
                "traffic goes direct",)
    return ()


def _reason(plan: Plan, route: Route, proxy: str, bound: str) -> str:
    if route.kind == SELF_CALL:
        return f"{address(route.target)} is a proxy port: the {proxy} refuses to call itself (reset)"
    if route.kind == NO_UPSTREAM:
        return f"Service {route.service.key if route.service else '?'} has no ready endpoint: reset"
    if route.waypoint is not None:
        return f"{bound}: HBONE to the waypoint, which picks the endpoint"
    if route.pod is None:
        return "not a workload of the emulation: plain TCP from the pod's own address (passthrough)"
    if route.kind == HBONE:
        return f"{route.pod.key} takes HBONE: a tunnel straight to its 15008"
    why = ("a sidecar pod without networking.istio.io/tunnel: http, whose sidecar captures plain TCP"
           if enrollment.has_sidecar(plan, route.pod) else "outside the mesh")
    return f"{route.pod.key} is {why}: plain TCP from the pod's own address (passthrough)"


def trace_mesh(plan: Plan, source: Pod, dst: Address, call: HttpCall) -> MeshTrace | None:
    """What the proxies do with a TCP connection from ``source`` to ``dst``; None when ``source`` is not meshed."""
    mode = enrollment.mode(plan, source)
    if mode is None:
        return None
    sidecar = mode == enrollment.SIDECAR
    proxy = "sidecar" if sidecar else "ztunnel"
    resolver, routes = routes_for(plan, dst, sidecar)
    first = routes[0]
    identity = resolver.identity(source)
    call = call if call.authority else HttpCall(call.method, call.path, call.headers, default_host(source, first, dst))
    binding, what, namespace, labels = _binding(plan, first)
    bound = why_bound(plan, binding, what, namespace, labels) if binding is not None and binding.bound else ""
    kinds = sorted({r.kind for r in routes}, key=[HBONE, PASSTHROUGH, SELF_CALL, NO_UPSTREAM].index)
    trace = MeshTrace(source.key, source.node, proxy, identity, dst, "|".join(kinds), _reason(plan, first, proxy, bound),
                      _notes(plan, first, sidecar), None, None, ())
    if first.kind not in (HBONE, PASSTHROUGH):
        return trace
    if first.waypoint is not None:
        assert binding is not None and binding.waypoint is not None
        tunnel = tunnel_to(first.waypoint, first.connect_authority, source, identity, first.identity)
        planner = WaypointPlanner(plan, resolver, binding.waypoint, first.waypoint)
        return replace(trace, tunnel=tunnel, waypoint=planner.hop(first, source, bound, call))
    share = (f"1 of {len(routes)} ready endpoints of Service {first.service.key}, drawn at random per connection"
             if first.service is not None else "the destination itself")
    branches = []
    for route in routes:
        tunnel = tunnel_to(route.pod, route.target, source, identity, route.identity) if (
            route.kind == HBONE and route.pod is not None) else None
        branches.append(Branch(share, route.target, arrive(plan, route.pod, route.target, source.ip, tunnel)))
    return replace(trace, branches=tuple(branches))
