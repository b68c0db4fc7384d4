"""Which endpoints of a Service port one node's kube-proxy uses, and for what.

A Service port has up to two endpoint lists on a node: the *cluster* list
(every usable endpoint, for traffic under the Cluster policy) and the *local*
list (this node's usable endpoints, for traffic under a Local policy).
"Usable" means Ready; when a list would be empty kube-proxy falls back to
endpoints that are still serving while they terminate, separately for each
list, so connections keep working through a rolling update.  Endpoints that
are not serving are never used.  (Topology hints are not emulated.)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dataplane.topology.endpoints import Endpoint
from dataplane.topology.plan import Service, ServicePort


def externally_accessible(service: Service, port: ServicePort) -> bool:
    """Whether traffic reaches ``port`` from outside the ClusterIP: NodePort, externalIPs or LB VIPs."""
    return bool(port.node_port or service.external_ips or service.load_balancer_ips)


def internal_policy_local(service: Service) -> bool:
    return service.internal_traffic_policy == "Local"


def external_policy_local(service: Service, port: ServicePort) -> bool:
    """externalTrafficPolicy: Local only means something for a port outside traffic can reach."""
    return service.external_traffic_policy == "Local" and externally_accessible(service, port)


def uses_cluster_endpoints(service: Service, port: ServicePort) -> bool:
    """Cluster endpoints serve iTP=Cluster traffic, and any external traffic: even under
    eTP=Local, traffic from pods and the node short-circuits to all endpoints."""
    return not internal_policy_local(service) or externally_accessible(service, port)


def uses_local_endpoints(service: Service, port: ServicePort) -> bool:
    return internal_policy_local(service) or external_policy_local(service, port)


@dataclass(frozen=True)
class Categories:
    """The endpoint lists of one Service port on one node."""

    cluster: tuple[Endpoint, ...]  # empty when no traffic of this port uses the Cluster policy
    local: tuple[Endpoint, ...]  # empty when no traffic uses a Local policy, or none is on this node
    reachable: tuple[Endpoint, ...]  # cluster ∪ local: the endpoints that need a chain on this node
    has_any: bool  # some endpoint anywhere is usable (ready, or serving while terminating)


def usable(endpoints: Sequence[Endpoint]) -> tuple[Endpoint, ...]:
    """The ready endpoints, else those serving while terminating, else none."""
    ready = tuple(e for e in endpoints if e.ready)
    return ready or tuple(e for e in endpoints if e.serving and e.terminating)


def categorize(endpoints: Sequence[Endpoint], service: Service, port: ServicePort, node: str) -> Categories:
    """Split ``endpoints`` (of ``port`` of ``service``) into the lists ``node`` uses."""
    cluster = usable(endpoints) if uses_cluster_endpoints(service, port) else ()
    local = usable([e for e in endpoints if e.node == node]) if uses_local_endpoints(service, port) else ()
    chosen = {e.ip for e in (*cluster, *local)}
    return Categories(
        cluster=cluster,
        local=local,
        reachable=tuple(e for e in endpoints if e.ip in chosen),
        has_any=any(e.ready or (e.serving and e.terminating) for e in endpoints),
    )
