"""EndpointSlice-like data derived from a Plan: which pods back each Service port.

Kubernetes never hands kube-proxy or CoreDNS the pods themselves: the
EndpointSlice controller turns the Service's selector into endpoints, each
with an address, a node, a zone, a resolved target port and three
conditions.  The kube-proxy renderer and the DNS server both work from this
same derived view, so they can never disagree about who backs a Service.

The conditions follow the EndpointSlice controller:

* ``serving``     the pod is Ready (even while it terminates);
* ``terminating`` the pod has a deletionTimestamp;
* ``ready``       serving and not terminating (kept for compatibility with
  consumers that only read ``ready``).

With ``publishNotReadyAddresses`` every selected pod is ready and serving
whatever its state, as Kubernetes publishes them (``terminating`` is still
reported).  Services without a selector and ExternalName Services have no
endpoints: dpctl has no manual EndpointSlices.

While an EKS zonal shift moves the cluster away from a zone, the controller
leaves that zone's pods out of every EndpointSlice (``aws-edge.md`` §5): no
ClusterIP, NodePort, headless name, mesh or ``ip``-target load balancer
reaches them, though they keep running.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import NamedTuple

from .plan import Plan, Pod, Service, ServicePort


@dataclass(frozen=True)
class Endpoint:
    """One pod behind one Service port, as an EndpointSlice endpoint carries it."""

    namespace: str
    pod: str
    ip: str
    node: str
    zone: str
    port: int  # the resolved target port on the pod
    ready: bool
    serving: bool
    terminating: bool

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.pod}"


class PortEndpoints(NamedTuple):
    """A Service port and its endpoints, ordered by address."""

    port: ServicePort
    endpoints: tuple[Endpoint, ...]


class PodIndex:
    """The pods of a Plan by namespace and label, so that selecting the pods of
    many Services costs about the number of matches, not services × pods."""

    def __init__(self, pods: Iterable[Pod]) -> None:
        self._by_label: dict[tuple[str, str, str], list[Pod]] = defaultdict(list)
        for pod in pods:
            for label, value in pod.labels.items():
                self._by_label[(pod.namespace, label, value)].append(pod)

    def select(self, namespace: str, selector: dict[str, str]) -> tuple[Pod, ...]:
        """Pods of ``namespace`` whose labels include every pair of ``selector``,
        ordered by address.  An empty selector selects nothing (a Service
        without a selector gets no EndpointSlices from the controller)."""
        if not selector:
            return ()
        candidates = min(
            (self._by_label.get((namespace, label, value), []) for label, value in selector.items()), key=len
        )
        chosen = [p for p in candidates if all(p.labels.get(k) == v for k, v in selector.items())]
        return tuple(sorted(chosen, key=lambda p: (_address_key(p.ip), p.name)))


def has_endpoints(service: Service) -> bool:
    """Whether the EndpointSlice controller manages endpoints for ``service``."""
    return service.type != "ExternalName" and bool(service.selector)


def selected_pods(plan: Plan, service: Service, index: PodIndex | None = None) -> tuple[Pod, ...]:
    """The pods ``service`` selects, by address (headless DNS needs them even without ports)."""
    if not has_endpoints(service):
        return ()
    chosen = (index or PodIndex(plan.pods)).select(service.namespace, service.selector)
    if plan.shifted_zones:
        return tuple(p for p in chosen if p.zone not in plan.shifted_zones)
    return chosen


def target_port(port: ServicePort, pod: Pod) -> int | None:
    """The pod port ``port`` sends to, or None when the pod does not expose the named port.

    A named targetPort is looked up per pod among its container ports of the
    same protocol, so two pods may serve one Service port on different numbers.
    A numeric targetPort is used as is; no targetPort means the Service port.
    """
    if port.target_port is None:
        return port.port
    if isinstance(port.target_port, int):
        return port.target_port
    for container_port in pod.ports:
        if container_port.name == port.target_port and container_port.protocol == port.protocol:
            return container_port.port
    return None


def endpoint(service: Service, port: ServicePort, pod: Pod) -> Endpoint | None:
    """``pod`` as an endpoint of ``port``, or None if it lacks the named target port."""
    number = target_port(port, pod)
    if number is None:
        return None
    serving = service.publish_not_ready_addresses or pod.ready
    ready = service.publish_not_ready_addresses or (pod.ready and not pod.terminating)
    return Endpoint(
        namespace=pod.namespace,
        pod=pod.name,
        ip=pod.ip,
        node=pod.node,
        zone=pod.zone,
        port=number,
        ready=ready,
        serving=serving,
        terminating=pod.terminating,
    )


def service_port_endpoints(plan: Plan, service: Service, index: PodIndex | None = None) -> tuple[PortEndpoints, ...]:
    """Every port of ``service`` with its endpoints, in the Service's port order.

    Pass one ``index`` when asking for many Services of the same Plan.
    """
    pods = selected_pods(plan, service, index)
    result = []
    for port in service.ports:
        candidates = (endpoint(service, port, pod) for pod in pods)
        result.append(PortEndpoints(port, tuple(e for e in candidates if e is not None)))
    return tuple(result)


def all_service_endpoints(plan: Plan) -> dict[str, tuple[PortEndpoints, ...]]:
    """``service_port_endpoints`` of every Service of the Plan, by ``ns/name``."""
    index = PodIndex(plan.pods)
    return {service.key: service_port_endpoints(plan, service, index) for service in plan.services}


@functools.lru_cache(maxsize=1 << 16)
def _address_key(ip: str) -> int:
    """Addresses sort numerically; parsing each once keeps large renders fast."""
    return int(IPv4Address(ip))
