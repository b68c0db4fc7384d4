"""What a connectivity probe through a waypoint should see.

An ambient client's connection to a Service (or pod) bound to a waypoint
ends at the waypoint, which answers HTTP itself (``waypoint-l7.md`` §2):

* the waypoint's own L7 policies decide first, for the probe's request
  (``GET /dpctl-verify``, Host ``dpctl-verify``, the client's identity); a
  denial is its 403;
* the route table picks the backends: the pods that may answer are the
  endpoints of every backend of the route the request matches (the plain
  Service when no route is attached);
* the destination's L4 policy judges the *waypoint* -- its identity and its
  pod's address, not the client's -- and a denial there comes back as the
  waypoint's 503 (``upstream connect error ...``).

Both refusals arrive as HTTP answers from the waypoint, which the probe
reports as DENIED (``probes.waypoint_refusal``).
"""

from __future__ import annotations

from dataplane.l7.routing import model as routing
from dataplane.mesh import authz, authz_l7
from dataplane.mesh.enrollment import is_enrolled, is_meshed
from dataplane.mesh.identity import pod_identity
from dataplane.mesh.waypoint.routes import WaypointRoutes
from dataplane.mesh.waypoints import Binding, service_binding, workload_binding
from dataplane.topology.plan import Plan, Pod, Service
from dataplane.verify.probes import ANSWER, DENIED, PROBE_HOST, PROBE_PATH, Expected


def binding_for(plan: Plan, source: Pod, service: Service | None = None, pod: Pod | None = None) -> Binding | None:
    """The waypoint an ambient ``source`` is sent to for ``service`` (or ``pod``), if any."""
    if not is_enrolled(plan, source):
        return None
    binding = service_binding(plan, service) if service is not None else workload_binding(plan, pod) if pod else None
    return binding if binding is not None and binding.bound and binding.waypoint is not None else None


def expect(
    plan: Plan, source: Pod, binding: Binding, port: int, http: bool, service: Service | None = None,
    pod: Pod | None = None,
) -> Expected:
    assert binding.waypoint is not None and binding.pod is not None
    principal = pod_identity(plan, source).principal
    called = (service.namespace, service.name) if service is not None else None
    if http:
        request = authz_l7.HttpRequest("GET", PROBE_PATH, PROBE_HOST, port, (), source.ip, principal)
        verdict = authz_l7.evaluate(plan, binding.waypoint, called, request)
        if not verdict.allowed:
            return Expected(frozenset({DENIED}), why=f"the waypoint's L7 policy denies ({verdict.matched})")
    targets = _targets(plan, binding, port, service, pod)
    waypoint_principal = pod_identity(plan, binding.pod).principal
    allowed, denied, reasons = set(), set(), []
    for target, target_port in targets:
        key = target.key
        if is_meshed(plan, target):
            decision = authz.evaluate(
                plan, target, authz.Connection(binding.pod.ip, waypoint_principal, target.ip, target_port)
            )
            if not decision.allowed:
                denied.add(key)
                reasons.append(f"{key} (judging the waypoint): {decision.reason}")
                continue
        allowed.add(key)
    outcomes = ({ANSWER} if allowed else set()) | ({DENIED} if denied or not targets else set())
    return Expected(frozenset(outcomes), frozenset(allowed), "; ".join(reasons) or "via the waypoint")


def _targets(plan: Plan, binding: Binding, port: int, service: Service | None, pod: Pod | None) -> list[tuple[Pod, int]]:
    """The pods the waypoint may send the probe to, with their target ports."""
    if pod is not None:
        return [(pod, port)]
    assert service is not None and binding.waypoint is not None
    routes = WaypointRoutes(plan, binding.waypoint)
    fqdn = routes.fqdn(service.namespace, service.name)
    route = routes.table(fqdn, port).select(routing.Request("GET", PROBE_PATH, PROBE_HOST))
    backends = route.backends if route is not None else ()
    found: dict[str, tuple[Pod, int]] = {}
    for backend in backends or (routing.Backend(fqdn, port),):
        for endpoint in routes.endpoints(backend.service, backend.port or port, backend.subset) or ():
            found[endpoint.pod.key] = (endpoint.pod, endpoint.address[1])
    return list(found.values())
