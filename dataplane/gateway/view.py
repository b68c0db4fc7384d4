"""The plan as north-south gateways see it: Gateways, attached routes, tables, endpoints.

Built from the plan alone (no I/O), once per reconcile and again by ``dpctl
get``: the Gateways of class ``istio`` (and, for route status, those an ALB
serves) with their listeners
(``l7.routing.listeners``), every HTTPRoute and TLSRoute with Gateway
parents (``l7.routing.gateway.north_south``, ``tlsroute``), their attachment
and status conditions (``l7.routing.attach``), and, for one Gateway, a
table per listener (``table.build_hosts``) and the ready endpoints of
backend Service ports.  The topology checked every spec when it read the
file, so problems found again here are only logged.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from dataplane.l7.routing import attach, gateway, grpcroute, listeners, tlsroute
from dataplane.l7.routing.attach import ParentStatus, ServedGateway
from dataplane.l7.routing.model import RouteSet
from dataplane.l7.routing.table import HostTable, build_hosts
from dataplane.l7.routing.values import service_fqdn
from dataplane.topology.endpoints import PodIndex, service_port_endpoints
from dataplane.topology.gateway_albs import ALB_GATEWAY_CONTROLLER, controller_of
from dataplane.topology.parse_gateways import GATEWAY_NAME_LABEL, ISTIO_CLASS, SUFFIX
from dataplane.topology.plan import Plan, Pod, Service

log = logging.getLogger(__name__)

Address = tuple[str, int]


def _logged(path: str, message: str) -> None:
    log.warning("%s: %s (left out)", path, message)


def _quiet(path: str, message: str) -> None:
    """Warnings were shown when the topology was read."""


def served_gateways(plan: Plan) -> dict[str, ServedGateway]:
    """The Gateways of class ``istio`` and of the AWS ALB controller's classes (whose HTTPS
    listeners take no certificateRefs, and which no pod serves), by ``<ns>/<name>``."""
    found = {}
    for o in plan.traffic:
        if o.kind != "Gateway":
            continue
        if o.spec.get("gatewayClassName") == ISTIO_CLASS:
            parsed = listeners.parse(o.namespace, o.spec, _logged, _quiet)
        elif controller_of(plan.traffic, o.spec) == ALB_GATEWAY_CONTROLLER:
            http = {**o.spec, "listeners": [li for li in o.spec.get("listeners", [])
                                            if li.get("protocol") in ("HTTP", "HTTPS")]}
            parsed = listeners.parse(o.namespace, http, _quiet, _quiet, certificates_required=False)
        else:
            continue
        found[f"{o.namespace}/{o.name}"] = ServedGateway(o.namespace, o.name, parsed)
    return found


def route_sets(plan: Plan) -> tuple[RouteSet, ...]:
    """Every HTTPRoute, GRPCRoute and TLSRoute that names a Gateway, in document order."""
    found: list[RouteSet | None] = []
    for o in plan.traffic:
        args = (o.namespace, o.name, o.order, o.spec, _logged, _quiet, plan.cluster_domain)
        if o.kind == "HTTPRoute":
            found.append(gateway.north_south(*args))
        elif o.kind == "GRPCRoute":
            found.append(grpcroute.north_south(*args))
        elif o.kind == "TLSRoute":
            found.append(tlsroute.translate(*args))
    return tuple(r for r in found if r is not None)


def statuses(plan: Plan) -> tuple[ParentStatus, ...]:
    """Every Gateway parentRef of every route, with its conditions."""
    labels = {n.name: n.labels for n in plan.namespaces}
    services = frozenset(service_fqdn(s.name, s.namespace, plan.cluster_domain) for s in plan.services)
    return attach.statuses(route_sets(plan), served_gateways(plan), labels, services)


def gateway_of(plan: Plan, pod: Pod) -> ServedGateway | None:
    """The Gateway whose deployment ``pod`` belongs to (by istiod's label and name), if served."""
    name = pod.labels.get(GATEWAY_NAME_LABEL)
    if name is None or pod.owner != f"Deployment/{name}{SUFFIX}":
        return None
    return served_gateways(plan).get(f"{pod.namespace}/{name}")


class GatewayView:
    """One Gateway's listeners, tables and backends in one plan."""

    def __init__(self, plan: Plan, served: ServedGateway):
        self.plan = plan
        self.gateway = served
        self.services = frozenset(service_fqdn(s.name, s.namespace, plan.cluster_domain) for s in plan.services)
        attached = attach.bindings(statuses(plan), served.key)
        self.tables: dict[str, HostTable] = {
            li.name: build_hosts((b.route, b.hostnames) for b in attached.get(li.name, ())) for li in served.listeners
        }
        self._attached = attached
        self._by_fqdn: Mapping[str, Service] = {
            service_fqdn(s.name, s.namespace, plan.cluster_domain): s for s in plan.services
        }
        self._index = PodIndex(plan.pods)

    def on_port(self, port: int) -> tuple[listeners.Listener, ...]:
        return tuple(li for li in self.gateway.listeners if li.port == port)

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(sorted({li.port for li in self.gateway.listeners}))

    def certificate_domains(self, listener: listeners.Listener) -> tuple[str, ...]:
        """The names the listener's certificate is issued for: its hostname, else
        the hostnames of the routes attached to it, else the gateway Service's name."""
        if listener.hostname not in (None, "*"):
            return (listener.hostname,)  # type: ignore[return-value]
        hosts = sorted({h for b in self._attached.get(listener.name, ()) for h in b.hostnames if h != "*"})
        if hosts:
            return tuple(hosts)
        return (service_fqdn(self.gateway.name + SUFFIX, self.gateway.namespace, self.plan.cluster_domain),)

    def protocol(self, service: str, port: int) -> str | None:
        """The backend port's ``appProtocol`` (or name), which says whether it speaks HTTP/2."""
        found = self._by_fqdn.get(service)
        declared = next((p for p in found.ports if p.port == port), None) if found else None
        return (declared.app_protocol or declared.name) if declared else None

    def endpoints(self, service: str, port: int) -> tuple[Address, ...]:
        """The ready endpoints (pod IP, target port) of ``service``:``port``."""
        found = self._by_fqdn.get(service)
        if found is None:
            return ()
        for entry in service_port_endpoints(self.plan, found, self._index):
            if entry.port.port == port and entry.port.protocol == "TCP":
                return tuple((e.ip, e.port) for e in entry.endpoints if e.ready)
        return ()
