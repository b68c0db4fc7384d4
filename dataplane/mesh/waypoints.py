"""Which waypoint a Service or a pod uses, decided from labels as istiod decides it.

``istio.io/use-waypoint: <name>`` on a Service or pod beats the same label on
its namespace; the value ``none`` opts out.  ``istio.io/use-waypoint-namespace``
(on the same object) names another namespace, which the waypoint must allow
through its HBONE listener's ``allowedRoutes`` (``All``, or ``Selector``
matching the binding namespace's labels), else the binding is
``AttachmentDenied``.  A Service binding needs a waypoint for ``service`` or
``all`` traffic (else ``UnsupportedTrafficType``); a pod binding needs
``workload`` or ``all``, and a service-only waypoint inherited from the
namespace is silently not used for pod-IP traffic.  A waypoint with no ready
pod is not used (``WaypointIsNotReady``): istiod sends no waypoint address
until one is ready, so traffic goes direct.

Pure: the source ztunnel, ``dpctl mesh waypoints`` and verify all read it.
"""

from __future__ import annotations

from dataclasses import dataclass

from dataplane.mesh.enrollment import is_enrolled
from dataplane.topology.plan import Plan, Pod, Service, Waypoint

USE_WAYPOINT = "istio.io/use-waypoint"
USE_WAYPOINT_NAMESPACE = "istio.io/use-waypoint-namespace"
GATEWAY_NAME = "gateway.networking.k8s.io/gateway-name"
OPT_OUT = "none"

BOUND = "Bound"
ATTACHMENT_DENIED = "AttachmentDenied"
UNSUPPORTED_TRAFFIC_TYPE = "UnsupportedTrafficType"
NOT_FOUND = "WaypointNotFound"
NOT_READY = "WaypointIsNotReady"

_FOR_SERVICES = ("service", "all")
_FOR_WORKLOADS = ("workload", "all")


@dataclass(frozen=True)
class Binding:
    """What a Service or pod asked for, and whether it got it (``pod`` is the
    waypoint pod traffic goes to; None means direct)."""

    status: str
    reason: str
    waypoint: Waypoint | None = None
    pod: Pod | None = None

    @property
    def bound(self) -> bool:
        return self.pod is not None


def _namespace_labels(plan: Plan, namespace: str) -> dict[str, str]:
    return next((ns.labels for ns in plan.namespaces if ns.name == namespace), {})


def _asked(plan: Plan, namespace: str, labels: dict[str, str]) -> tuple[str, str, bool] | None:
    """(waypoint name, its namespace, from the namespace label) the object asks for, or None."""
    source = labels if USE_WAYPOINT in labels else _namespace_labels(plan, namespace)
    name = source.get(USE_WAYPOINT)
    if name is None or name == OPT_OUT:
        return None
    return name, source.get(USE_WAYPOINT_NAMESPACE, namespace), source is not labels


def _ready_pod(plan: Plan, waypoint: Waypoint) -> Pod | None:
    pods = [
        p for p in plan.pods
        if p.namespace == waypoint.namespace and p.labels.get(GATEWAY_NAME) == waypoint.name and p.ready
        and not p.terminating
    ]
    return pods[0] if pods else None


def _bind(plan: Plan, namespace: str, labels: dict[str, str], kinds: tuple[str, ...], what: str) -> Binding | None:
    asked = _asked(plan, namespace, labels)
    if asked is None:
        return None
    name, wp_namespace, inherited = asked
    waypoint = next((w for w in plan.waypoints if (w.namespace, w.name) == (wp_namespace, name)), None)
    if waypoint is None:
        return Binding(NOT_FOUND, f"no waypoint {wp_namespace}/{name}")
    if wp_namespace != namespace and not _admits(plan, waypoint, namespace):
        return Binding(
            ATTACHMENT_DENIED,
            f"waypoint {waypoint.key} admits routes from namespace {waypoint.allowed_from} only "
            f"(allowedRoutes.namespaces.from), not from {namespace}",
            waypoint,
        )
    if waypoint.traffic_for not in kinds:
        if inherited and what == "workload":
            return None  # a namespace's service waypoint is simply not for pod-IP traffic
        reason = f"waypoint {waypoint.key} is for {waypoint.traffic_for} traffic, not {what} traffic"
        return Binding(UNSUPPORTED_TRAFFIC_TYPE, reason, waypoint)
    pod = _ready_pod(plan, waypoint)
    if pod is None:
        return Binding(NOT_READY, f"waypoint {waypoint.key} has no ready pod", waypoint)
    return Binding(BOUND, f"bound to waypoint {waypoint.key}", waypoint, pod)


def _admits(plan: Plan, waypoint: Waypoint, namespace: str) -> bool:
    if waypoint.allowed_from == "All":
        return True
    if waypoint.allowed_from == "Selector":
        labels = _namespace_labels(plan, namespace)
        return all(labels.get(k) == v for k, v in waypoint.allowed_selector.items())
    return False


def is_waypoint_pod(pod: Pod) -> bool:
    return GATEWAY_NAME in pod.labels and pod.labels.get("gateway.istio.io/managed") == "istio.io-mesh-controller"


def service_binding(plan: Plan, service: Service) -> Binding | None:
    """The waypoint traffic to ``service``'s VIP goes through (None: not asked for)."""
    if GATEWAY_NAME in service.selector:  # a waypoint's own Service never detours through a waypoint
        return None
    return _bind(plan, service.namespace, service.labels, _FOR_SERVICES, "service")


def workload_binding(plan: Plan, pod: Pod) -> Binding | None:
    """The waypoint traffic to ``pod``'s own address goes through (None: not asked for)."""
    if is_waypoint_pod(pod) or not is_enrolled(plan, pod):
        return None
    return _bind(plan, pod.namespace, pod.labels, _FOR_WORKLOADS, "workload")


@dataclass(frozen=True)
class WaypointRow:
    """One line of ``dpctl mesh waypoints``."""

    namespace: str
    name: str
    traffic_for: str
    pod: str | None
    address: str | None
    serves: tuple[str, ...]  # "svc ns/name", "pod ns/name": what reaches it
    refused: tuple[str, ...]  # bindings that ask for it and do not get it, with istiod's condition


def waypoint_rows(plan: Plan) -> list[WaypointRow]:
    rows = []
    for waypoint in plan.waypoints:
        serves: list[str] = []
        refused: list[str] = []
        asked = [(f"svc {s.namespace}/{s.name}", service_binding(plan, s)) for s in plan.services]
        asked += [(f"pod {p.key}", workload_binding(plan, p)) for p in plan.pods]
        for what, binding in asked:
            if binding is None or binding.waypoint != waypoint:
                continue
            if binding.bound:
                serves.append(what)
            else:
                refused.append(f"{what}: {binding.status}: {binding.reason}")
        pod = _ready_pod(plan, waypoint)
        rows.append(WaypointRow(
            waypoint.namespace, waypoint.name, waypoint.traffic_for, pod.key if pod else None, pod.ip if pod else None,
            tuple(serves), tuple(refused),
        ))
    return rows
