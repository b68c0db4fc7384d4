"""The plan as one waypoint's L7 core sees it: route tables, policies, authorizers, endpoints.

Built once per reconcile from the plan's HTTPRoutes, VirtualServices and
DestinationRules (translated by ``l7.routing``; the topology already refused
any that do not translate cleanly, so problems here are not expected and are
logged) and its Services and pods.  Tables are built lazily per Service port.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from dataplane.l7.routing import destinationrule, extauthz, gateway, grpcroute, istio, table
from dataplane.l7.routing.model import Attachment, HostPolicy, TrafficPolicy
from dataplane.l7.routing.table import RouteTable
from dataplane.l7.routing.values import service_fqdn
from dataplane.mesh import protocols
from dataplane.topology.endpoints import PodIndex, service_port_endpoints
from dataplane.topology.plan import Plan, Pod, Waypoint

log = logging.getLogger(__name__)

Address = tuple[str, int]


@dataclass(frozen=True)
class Endpoint:
    """One address a backend may be sent to, and the pod behind it."""

    address: Address
    pod: Pod


def translate(plan: Plan) -> tuple[tuple[Attachment, ...], tuple[HostPolicy, ...]]:
    """Every route attachment and DestinationRule of ``plan``."""

    def report(path: str, message: str) -> None:
        log.warning("%s: %s (left out)", path, message)

    def ignore(path: str, message: str) -> None:
        """Warnings were shown when the topology was read."""

    attachments: list[Attachment] = []
    policies: list[HostPolicy] = []
    for obj in plan.traffic:
        args = (obj.namespace, obj.name, obj.order, obj.spec, report, ignore, plan.cluster_domain)
        if obj.kind == "HTTPRoute":
            attachments.extend(gateway.translate(*args))
        elif obj.kind == "GRPCRoute":
            attachments.extend(grpcroute.translate(*args))
        elif obj.kind == "VirtualService":
            attachments.extend(istio.translate(*args))
        elif obj.kind == "DestinationRule" and (policy := destinationrule.translate(*args)) is not None:
            policies.append(policy)
    return tuple(attachments), tuple(policies)


class WaypointRoutes:
    def __init__(self, plan: Plan, waypoint: Waypoint):
        self.plan = plan
        self.waypoint = waypoint
        self.attachments, self.policies = translate(plan)
        self.providers = extauthz.providers(plan.mesh_config, lambda path, message: log.warning("%s: %s", path, message))
        self.services = frozenset(service_fqdn(s.name, s.namespace, plan.cluster_domain) for s in plan.services)
        self._by_fqdn = {service_fqdn(s.name, s.namespace, plan.cluster_domain): s for s in plan.services}
        self._index = PodIndex(plan.pods)
        self._pods = {(p.namespace, p.name): p for p in plan.pods}
        self._tables: dict[tuple[str, int], RouteTable] = {}

    def fqdn(self, namespace: str, name: str) -> str:
        return service_fqdn(name, namespace, self.plan.cluster_domain)

    def table(self, service: str, port: int, grpc: bool = False) -> RouteTable:
        key = (service, port)
        if key not in self._tables:
            self._tables[key] = table.build(service, port, self.attachments, self.waypoint.namespace, grpc)
        return self._tables[key]

    def policy(self, service: str, subset: str | None) -> TrafficPolicy:
        return destinationrule.policy_for(self.policies, service, subset)

    def protocol(self, service: str, port: int) -> str | None:
        """The declared protocol of ``service``:``port`` (``protocols.declared``), None when undeclared or unknown."""
        found = self._by_fqdn.get(service)
        declared = next((p for p in found.ports if p.port == port and p.protocol == "TCP"), None) if found else None
        return protocols.declared(declared, port) if found else None

    def endpoints(self, service: str, port: int, subset: str | None) -> tuple[Endpoint, ...] | None:
        """The ready endpoints of ``service``:``port`` (in ``subset``); None when
        the Service, its port or the subset does not exist."""
        found = self._by_fqdn.get(service)
        if found is None:
            return None
        labels: tuple[tuple[str, str], ...] = ()
        if subset is not None:
            wanted = destinationrule.subset_labels(self.policies, service, subset)
            if wanted is None:
                return None
            labels = wanted
        for entry in service_port_endpoints(self.plan, found, self._index):
            if entry.port.port != port or entry.port.protocol != "TCP":
                continue
            chosen = [(e, self._pods[(e.namespace, e.pod)]) for e in entry.endpoints if e.ready]
            return tuple(
                Endpoint((e.ip, e.port), pod) for e, pod in chosen if all(pod.labels.get(k) == v for k, v in labels)
            )
        return None
