"""What a ztunnel knows from the plan: enrolled workloads, identities, routes.

Pure: no I/O.  ``Resolver`` answers ztunnel's outbound decision tree
(``ztunnel.md`` §2.4) for one original destination:

* a ztunnel port (15001/15006/15008) → ``SELF_CALL`` (refused);
* a Service ClusterIP:port (TCP) → a random ready endpoint (no endpoint →
  ``NO_UPSTREAM``), then as for that pod;
* a pod that accepts HBONE (ambient, or a sidecar labelled for tunnels) →
  ``HBONE`` to ``<podIP>:15008``, authority ``<podIP>:<targetPort>``;
* anything else (unenrolled pod, a sidecar without the tunnel label, outside
  the mesh) → ``PASSTHROUGH`` plain TCP.

A destination bound to a waypoint (``mesh/waypoints.py``) is the exception
(``waypoint-l7.md`` §2.1): a Service VIP goes over HBONE to the waypoint pod
with the *untranslated* ``VIP:port`` as authority (the waypoint picks the
endpoint), a pod IP with ``<podIP>:<port>``; the waypoint's identity is the
one the tunnel must verify.

A **sidecar** client (``resolve(..., sidecar=True)``) never uses waypoints --
istiod treats its traffic as already routed (``waypoint-l7.md`` §6.3) -- and
sends HBONE straight to any meshed pod, ambient or sidecar.  Between two
sidecars Istio speaks TLS on the app port; the emulated sidecars share the
ztunnel's HBONE instead (mutual TLS with the same SPIFFE identities either
way, and no plaintext on the wire).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from dataplane.mesh.constants import HBONE_PORT, PROXY_PORTS
from dataplane.mesh.enrollment import accepts_hbone, is_enrolled, is_meshed
from dataplane.mesh.identity import pod_identity
from dataplane.mesh.waypoints import Binding, service_binding, workload_binding
from dataplane.topology.endpoints import Endpoint, PodIndex, service_port_endpoints
from dataplane.topology.plan import Plan, Pod, Service

SELF_CALL = "self-call"
NO_UPSTREAM = "no-upstream"
HBONE = "hbone"
PASSTHROUGH = "passthrough"

Address = tuple[str, int]


@dataclass(frozen=True)
class Route:
    kind: str  # SELF_CALL | NO_UPSTREAM | HBONE | PASSTHROUGH
    target: Address  # where the bytes finally go (pod IP:target port, or the original destination)
    pod: Pod | None = None  # the destination workload, when known
    service: Service | None = None  # the Service the client dialled, if any
    identity: str = ""  # the destination's SPIFFE id (HBONE only)
    authority: Address | None = None  # the CONNECT authority when it is not ``target`` (via a waypoint)
    waypoint: Pod | None = None  # the waypoint pod the tunnel goes to, when the destination is bound to one

    @property
    def connect_to(self) -> Address:
        """Where the HBONE tunnel goes: the waypoint's or the destination pod's 15008."""
        return (self.waypoint.ip if self.waypoint is not None else self.target[0], HBONE_PORT)

    @property
    def connect_authority(self) -> Address:
        return self.authority or self.target


@dataclass(frozen=True)
class WorkloadRow:
    namespace: str
    pod: str
    address: str
    node: str
    waypoint: str
    protocol: str  # HBONE | TCP


class Resolver:
    """The plan as one ztunnel sees it; rebuilt on every reconcile."""

    def __init__(self, plan: Plan, rng: random.Random | None = None):
        self.plan = plan
        self._rng = rng or random.Random()
        self.pods_by_ip: dict[str, Pod] = {p.ip: p for p in plan.pods}
        self.enrolled: frozenset[str] = frozenset(p.key for p in plan.pods if is_enrolled(plan, p))
        self.meshed: frozenset[str] = frozenset(p.key for p in plan.pods if is_meshed(plan, p))
        self.tunnels: frozenset[str] = frozenset(p.key for p in plan.pods if accepts_hbone(plan, p))
        index = PodIndex(plan.pods)
        self._vips: dict[Address, tuple[Service, tuple[Endpoint, ...]]] = {}
        for service in plan.services:
            if not service.cluster_ip:
                continue
            for port_endpoints in service_port_endpoints(plan, service, index):
                if port_endpoints.port.protocol == "TCP":
                    self._vips[(service.cluster_ip, port_endpoints.port.port)] = (service, port_endpoints.endpoints)

    def is_enrolled(self, pod: Pod) -> bool:
        return pod.key in self.enrolled

    def accepts_hbone(self, pod: Pod) -> bool:
        """Whether a ztunnel or waypoint reaches ``pod`` over HBONE (see ``enrollment.accepts_hbone``)."""
        return pod.key in self.tunnels

    def identity(self, pod: Pod) -> str:
        return str(pod_identity(self.plan, pod))

    def pod_at(self, ip: str) -> Pod | None:
        return self.pods_by_ip.get(ip)

    def resolve(self, dst: Address, sidecar: bool = False) -> Route:
        """The route for a connection to ``dst`` from an ambient pod, or from a sidecar."""
        ip, port = dst
        if port in PROXY_PORTS:
            return Route(SELF_CALL, dst)
        service = None
        vip = self._vips.get((ip, port))
        if vip is not None:
            service, endpoints = vip
            via = None if sidecar else self._waypoint(service_binding(self.plan, service))
            if via is not None:
                return Route(HBONE, dst, via, service, self.identity(via), authority=dst, waypoint=via)
            ready = [e for e in endpoints if e.ready]
            if not ready:
                return Route(NO_UPSTREAM, dst, service=service)
            chosen = self._rng.choice(ready)
            ip, port = chosen.ip, chosen.port
        pod = self.pods_by_ip.get(ip)
        if pod is not None and service is None and not sidecar and (via := self._waypoint(workload_binding(self.plan, pod))):
            return Route(HBONE, (ip, port), via, None, self.identity(via), authority=(ip, port), waypoint=via)
        if pod is not None and (pod.key in self.meshed if sidecar else self.accepts_hbone(pod)):
            return Route(HBONE, (ip, port), pod, service, self.identity(pod))
        return Route(PASSTHROUGH, (ip, port), pod, service)

    @staticmethod
    def _waypoint(binding: Binding | None) -> Pod | None:
        return binding.pod if binding is not None else None


def served_on(plan: Plan, node: str) -> dict[str, Pod]:
    """The pods a node's agent proxies, by key: ambient ones (as the ztunnel) and
    sidecar ones (as each pod's emulated sidecar)."""
    return {p.key: p for p in plan.pods_on(node) if is_meshed(plan, p)}


def workload_rows(plan: Plan) -> list[WorkloadRow]:
    """``istioctl ztunnel-config workloads``: every pod, HBONE when ztunnels tunnel to it."""
    return [
        WorkloadRow(p.namespace, p.name, p.ip, p.node, _waypoint_name(plan, p), "HBONE" if accepts_hbone(plan, p) else "TCP")
        for p in sorted(plan.pods, key=lambda p: (p.namespace, p.name))
    ]


def _waypoint_name(plan: Plan, pod: Pod) -> str:
    binding = workload_binding(plan, pod)
    return binding.waypoint.name if binding is not None and binding.bound and binding.waypoint else "None"
