"""What a CONNECT target means to one waypoint, from the plan alone.

The source ztunnel sends a waypoint either a Service's ``VIP:port`` (the
Service is bound to it) or a pod's ``IP:port`` (the pod is bound to it, for
workload traffic); anything else is not this waypoint's to serve and is
refused.  The target decides the chain: a Service port's declared protocol,
or undeclared (sniffed); a pod's own ports are always sniffed, as
``direct-http``/``direct-tcp`` chains are chosen by inspection in Istio.

Istio turns the waypoint's protocol inspector off only for Service ports of
a known protocol, and only while no pod is bound to the waypoint
(``waypoint-l7.md`` §6.1, istio/istio#55420): a waypoint serving workloads
waits for every client's first bytes, so a server-first protocol hangs there
even on a ``tcp-`` port.  ``Target.inspected`` says whether it waits.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataplane.mesh import protocols
from dataplane.mesh.waypoints import service_binding, workload_binding
from dataplane.topology.endpoints import Endpoint, PodIndex, service_port_endpoints
from dataplane.topology.plan import Plan, Pod, Service, ServicePort, Waypoint

Address = tuple[str, int]


@dataclass(frozen=True)
class Target:
    """One CONNECT target as this waypoint serves it."""

    address: Address
    protocol: str | None  # protocols.HTTP | HTTP2 | GRPC | TCP, or None: sniff
    service: Service | None = None
    port: ServicePort | None = None
    endpoints: tuple[Endpoint, ...] = ()  # the Service port's endpoints (service targets)
    pod: Pod | None = None  # the bound pod (workload targets)
    inspected: bool = True  # the waypoint waits for the client's first bytes before choosing a chain

    @property
    def label(self) -> str:
        if self.service is not None:
            return f"svc {self.service.namespace}/{self.service.name}:{self.address[1]}"
        return f"pod {self.pod.key if self.pod else self.address[0]}:{self.address[1]}"


class Targets:
    """Every target a waypoint accepts in one plan; rebuilt on every reconcile."""

    def __init__(self, plan: Plan, waypoint: Waypoint):
        self.plan = plan
        self._targets: dict[Address, Target] = {}
        index = PodIndex(plan.pods)
        self._pods = {
            p.ip: p for p in plan.pods
            if (b := workload_binding(plan, p)) is not None and b.bound and b.waypoint == waypoint
        }
        for service in plan.services:
            binding = service_binding(plan, service)
            if not service.cluster_ip or binding is None or not binding.bound or binding.waypoint != waypoint:
                continue
            for entry in service_port_endpoints(plan, service, index):
                if entry.port.protocol != "TCP":
                    continue
                address = (service.cluster_ip, entry.port.port)
                protocol = protocols.declared(entry.port, entry.port.port)
                inspected = protocol is None or bool(self._pods)
                self._targets[address] = Target(address, protocol, service, entry.port, entry.endpoints, None, inspected)

    def resolve(self, address: Address) -> Target | None:
        """The target at ``address``, or None when this waypoint does not serve it."""
        found = self._targets.get(address)
        if found is not None:
            return found
        pod = self._pods.get(address[0])
        return None if pod is None else Target(address, None, pod=pod)
