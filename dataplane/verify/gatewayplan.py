"""The edge check's requests to the ingress gateways (Gateway API, class ``istio``).

For each served Gateway reachable from the outside client (its LoadBalancer
Service has an address) and each HTTP or HTTPS listener, every route of the
listener's table gets one request made up from its hostname (``*`` becomes
a label) and its match -- path value, method, Exact headers and query
parameters -- that the table sends to that route and no earlier one (else
"not checkable", naming the route that shadows it), and a request to a host
no route serves expects 404.  Expectations: a forward is answered by a pod
of a backend Service with a weight, which saw the gateway pod as its TCP
peer, the scheme in ``x-forwarded-proto`` and an ``x-request-id``; a direct
response or redirect its status.  HTTPS trusts the emulation's root; the
certificate is not judged by ARN (a gateway's come from Secrets).
Passthrough listeners hand the bytes to the backend: not checkable by an
HTTP request.
"""

from __future__ import annotations

from urllib.parse import urlencode

from dataplane.gateway.view import GatewayView, served_gateways
from dataplane.l7.routing import model as routing
from dataplane.l7.routing.listeners import Listener
from dataplane.l7.routing.table import HostTable
from dataplane.topology.endpoints import PodIndex, service_port_endpoints
from dataplane.topology.parse_gateways import ISTIO_CLASS, SUFFIX
from dataplane.topology.plan import Plan
from dataplane.verify.edgeplan import DEFAULT_HOST, EdgeTrial, Unchecked


def gateway_trials(plan: Plan) -> list[EdgeTrial | Unchecked]:
    classes = {f"{t.namespace}/{t.name}": t.spec.get("gatewayClassName") for t in plan.traffic if t.kind == "Gateway"}
    services = {s.key: s for s in plan.services}
    found: list[EdgeTrial | Unchecked] = []
    for key, served in served_gateways(plan).items():
        if classes.get(key) != ISTIO_CLASS:
            continue  # an ALB Gateway is checked as an ALB
        service = services.get(f"{key}{SUFFIX}")
        if service is None or not service.load_balancer_ips:
            found.append(Unchecked(f"gateway {key}", "not checked: its Service has no LoadBalancer address"))
            continue
        view = GatewayView(plan, served)
        pods = [p for p in plan.pods if p.owner == f"Deployment/{served.name}{SUFFIX}" and p.namespace == served.namespace]
        for listener in served.listeners:
            label = f"gateway {key} {listener.name} {listener.protocol}:{listener.port}"
            if listener.protocol == "TLS":
                found.append(Unchecked(label, "not checkable by an HTTP request: passthrough hands the bytes to the backend"))
                continue
            found += _listener_trials(plan, listener, view.tables[listener.name], label,
                                      service.load_balancer_ips[0], frozenset(p.ip for p in pods))
    return found


def _listener_trials(
    plan: Plan, listener: Listener, table: HostTable, label: str, address: str, peers: frozenset[str],
) -> list[EdgeTrial | Unchecked]:
    tls = listener.protocol == "HTTPS"
    scheme = "https" if tls else "http"
    trials: list[EdgeTrial | Unchecked] = []
    for hostname, routes in table.hosts:
        host = DEFAULT_HOST if hostname == "*" else hostname.replace("*", "x")
        for route in routes:
            request = _request(route.match, host, scheme)
            if request is None:
                trials.append(Unchecked(f"{label} {route.origin} ({host})",
                                        "not checkable: a RegularExpression or non-Exact match"))
                continue
            subject = f"{label} {route.origin} ({request.method} {host}{request.path})"
            chosen = table.select(request)
            if chosen is not route:
                trials.append(Unchecked(subject, f"not checkable: {chosen.origin if chosen else 'no route'} takes it first"))
                continue
            trials.append(_trial(plan, route, subject, address, listener.port, tls, request, peers))
    # a host no route serves gets 404 -- over TLS only where no listener hostname makes SNI reset it first
    bare = not tls or listener.hostname is None
    if bare and table.select(routing.Request("GET", "/", "no-route.dpctl.test", scheme)) is None:
        trials.append(EdgeTrial(f"{label} no route (no-route.dpctl.test/)", address, listener.port, tls,
                                "no-route.dpctl.test", "/", 404, balancer="gateway"))
    return trials


def _request(match: routing.Match, host: str, scheme: str) -> routing.Request | None:
    """A request ``match`` takes, or None when it cannot be made up (a regular expression, a prefix match)."""
    path = match.path.value if match.path is not None else "/"
    if match.path is not None and match.path.kind == "RegularExpression":
        return None
    if any(v.kind != "Exact" or v.invert for v in (*match.headers, *match.query)):
        return None
    query = urlencode([(v.name, v.value) for v in match.query])
    headers = tuple((v.name, v.value) for v in match.headers if not v.name.startswith(":"))
    return routing.Request(match.method or "GET", path + (f"?{query}" if query else ""), host, scheme, headers)


def _trial(
    plan: Plan, route: routing.Route, subject: str, address: str, port: int, tls: bool,
    request: routing.Request, peers: frozenset[str],
) -> EdgeTrial:
    common = dict(subject=subject, address=address, port=port, tls=tls, host=request.authority, path=request.path,
                  method=request.method, headers=request.headers, balancer="gateway")
    if route.direct_response is not None:
        return EdgeTrial(status=route.direct_response.status, **common)  # type: ignore[arg-type]
    if route.redirect is not None:
        return EdgeTrial(status=route.redirect.status, **common)  # type: ignore[arg-type]
    pods: set[str] = set()
    index = PodIndex(plan.pods)
    by_fqdn = {f"{s.name}.{s.namespace}.svc.{plan.cluster_domain}": s for s in plan.services}
    for backend in route.backends:
        service = by_fqdn.get(backend.service)
        if service is None or backend.weight <= 0:
            continue
        for entry in service_port_endpoints(plan, service, index):
            if entry.port.port == backend.port:
                pods |= {f"{e.namespace}/{e.pod}" for e in entry.endpoints if e.ready}
    return EdgeTrial(status=None, pods=frozenset(pods), peers=peers, **common)  # type: ignore[arg-type]
