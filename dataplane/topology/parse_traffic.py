"""Gateways, HTTPRoutes, VirtualServices and DestinationRules -> the Manifest.

A ``Gateway`` of class ``istio-waypoint`` is a waypoint: istiod would make a
Deployment, a ServiceAccount and a ClusterIP Service, all named like the
Gateway, and so does this module (one replica ``<name>-0``, with the labels
istiod puts on its pods, ``istio.io/dataplane-mode: none`` among them, so the
ztunnel never captures it).  A Gateway of class ``istio`` is a north-south
ingress gateway (``parse_gateways``); other classes are recorded as not yet
enforced.

Routes and DestinationRules are kept as their checked specs, in document
order (Gateway API's "oldest route first" tie-break uses it); what they
mean is decided by the L7 routing core when a waypoint builds its tables.
"""

from __future__ import annotations

from typing import Any

from ..l7.routing import destinationrule, gateway, grpcroute, istio, tlsroute
from .model import (
    ControllerSpec,
    Manifest,
    ObjectRef,
    Origin,
    PodTemplate,
    ServicePortSpec,
    ServiceSpec,
    TrafficSpec,
    WaypointSpec,
)
from .parse_gateways import ISTIO_CLASS, parse_istio_gateway
from .plan import WAYPOINT_RESPONDER, Container, ContainerPort
from .rules import check_name, dns_1035_label
from .schema import compact, valid_items

WAYPOINT_CLASS = "istio-waypoint"
HBONE_LISTENER_PORT = 15008
WAYPOINT_FOR_LABEL = "istio.io/waypoint-for"
WAYPOINT_FOR = ("service", "workload", "all", "none")
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
RESERVED_WAYPOINT_NAME = "none"


def parse_gateway(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    metadata = clean.get("metadata", {})
    namespace = metadata.get("namespace", "default")
    spec = compact(clean.get("spec", {}))
    if spec.get("gatewayClassName") == ISTIO_CLASS:
        parse_istio_gateway(clean, origin, manifest)
        return
    if spec.get("gatewayClassName") != WAYPOINT_CLASS:
        # another controller's class: kept, and served if the file's GatewayClass is the AWS ALB
        # controller's (topology.gateway_albs); reported as not enforced otherwise (albs.unserved)
        name = metadata.get("name")
        if isinstance(name, str):
            manifest.traffic.append(TrafficSpec(origin, "Gateway", namespace, name, len(manifest.traffic), spec))
        return
    # the Gateway's name becomes a Service's, so it must be a DNS-1035 label too
    name = check_name(dns_1035_label, metadata.get("name"), "metadata.name", origin.report)
    if name == RESERVED_WAYPOINT_NAME:
        origin.report("metadata.name", "'none' is reserved: istio.io/use-waypoint: none means no waypoint")
        return
    listeners = valid_items(spec.get("listeners", []))
    hbone = [
        (i, listener) for i, listener in listeners
        if listener.get("protocol") == "HBONE" and listener.get("port") == HBONE_LISTENER_PORT
    ]
    if not hbone:
        origin.report(
            "spec.listeners",
            f"a waypoint needs a listener with protocol HBONE on port {HBONE_LISTENER_PORT} "
            "(istioctl waypoint generate writes {name: mesh, port: 15008, protocol: HBONE})",
        )
    labels = metadata.get("labels", {})
    traffic_for = labels.get(WAYPOINT_FOR_LABEL, "service")
    if traffic_for not in WAYPOINT_FOR:
        origin.report(f"metadata.labels.{WAYPOINT_FOR_LABEL}", f"must be one of {', '.join(WAYPOINT_FOR)}; got {traffic_for!r}")
    if name is None:
        return
    allowed = hbone[0][1].get("allowedRoutes", {}).get("namespaces", {}) if hbone else {}
    manifest.waypoints.append(
        WaypointSpec(
            origin, namespace, name, traffic_for, allowed.get("from", "Same"),
            allowed.get("selector", {}).get("matchLabels", {}),
        )
    )
    _deploy(origin, namespace, name, manifest)


def _deploy(origin: Origin, namespace: str, name: str, manifest: Manifest) -> None:
    """The Deployment, ServiceAccount and Service istiod makes for a waypoint."""
    pod_labels = {
        GATEWAY_NAME_LABEL: name,
        "gateway.istio.io/managed": "istio.io-mesh-controller",
        "istio.io/dataplane-mode": "none",
        "sidecar.istio.io/inject": "false",
    }
    container = Container(
        "istio-proxy",
        ports=(
            ContainerPort(HBONE_LISTENER_PORT, "TCP", "mesh", WAYPOINT_RESPONDER),
            ContainerPort(15021, "TCP", "status-port", "http"),
        ),
    )
    template = PodTemplate(
        origin=origin, spec_path="spec", namespace=namespace, labels=pod_labels, annotations={},
        node_name=None, node_selector={}, service_account=name, hostname=None, containers=(container,),
    )
    for kind in ("Deployment", "ServiceAccount", "Service"):
        manifest.objects.append(ObjectRef(origin, kind, namespace, name))
    manifest.workloads.append(ControllerSpec(origin, namespace, name, 1, template, "Deployment"))
    manifest.services.append(
        ServiceSpec(
            origin=origin, namespace=namespace, name=name, type="ClusterIP", cluster_ip=None, headless=False,
            ports=[ServicePortSpec("spec.listeners", HBONE_LISTENER_PORT, "TCP", "mesh", HBONE_LISTENER_PORT, None)],
            selector={GATEWAY_NAME_LABEL: name}, external_name=None, external_ips=(), load_balancer_ip=None,
            load_balancer_source_ranges=(), external_traffic_policy="Cluster", internal_traffic_policy="Cluster",
            session_affinity="None", session_affinity_timeout=10800, publish_not_ready_addresses=False,
        )
    )


_TRANSLATORS = {
    "HTTPRoute": gateway.translate,
    "GRPCRoute": grpcroute.translate,
    "TLSRoute": tlsroute.translate,
    "VirtualService": istio.translate,
    "DestinationRule": destinationrule.translate,
}


def parse_traffic(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    """An HTTPRoute, GRPCRoute, TLSRoute, VirtualService or DestinationRule (``origin.kind``): its
    meaning checked by the L7 routing core (a problem is an error, a field a
    waypoint does not honour a warning), then kept as checked."""
    metadata = clean.get("metadata", {})
    name = metadata.get("name")
    if not isinstance(name, str) or origin.kind is None:
        return
    namespace = metadata.get("namespace", "default")
    spec = compact(clean.get("spec", {}))
    key = f"{origin.kind} {namespace}/{name}"

    def warn(path: str, message: str) -> None:
        manifest.warnings.append(f"{key}: {path}: {message}")

    _TRANSLATORS[origin.kind](namespace, name, len(manifest.traffic), spec, origin.report, warn)
    manifest.objects.append(ObjectRef(origin, origin.kind, namespace, name))
    manifest.traffic.append(TrafficSpec(origin, origin.kind, namespace, name, len(manifest.traffic), spec))

