"""A ``Gateway`` of class ``istio`` -> what Istio's deployment controller makes.

istiod answers a north-south Gateway of its class with a Deployment, a
ServiceAccount and a Service all named ``<name>-istio``: one replica whose
pods carry ``gateway.networking.k8s.io/gateway-name`` (the Service's
selector) and ``istio.io/gateway-name``, and a Service of type LoadBalancer
(``networking.istio.io/service-type`` on the Gateway changes it) with one
port per distinct listener port, named after the first listener on it.
The pods' listener ports use the responder ``gateway``: the agent's
built-in responders skip them and the node agent's gateway proxy serves
them (``dataplane.gateway``); istiod's ``status-port`` 15021 answers HTTP.

The Gateway itself is kept in the plan's traffic objects, so the proxy
reads its listeners (checked here by ``l7.routing.listeners``) at each
reconcile.  The pods stay out of the ambient mesh (``istio.io/dataplane-mode:
none``), as an Envoy gateway is its own proxy; it reaches backends in plain
TCP.  The generated Service's ``externalTrafficPolicy`` is ``Cluster`` as
Istio's is; the annotation ``dpctl.dev/external-traffic-policy: Local``
stands in for Istio's Service overlay (``infrastructure.parametersRef``),
which is how a platform keeps the client's address at the gateway.
"""

from __future__ import annotations

from typing import Any

from ..l7.routing import listeners
from .model import ControllerSpec, Manifest, ObjectRef, Origin, PodTemplate, ServicePortSpec, ServiceSpec, TrafficSpec
from .plan import Container, ContainerPort
from .rules import check_name, dns_1035_label
from .schema import compact

ISTIO_CLASS = "istio"
GATEWAY_RESPONDER = "gateway"
"""A north-south gateway pod's listener port: served by the agent's gateway proxy, not a built-in responder."""
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
ISTIO_GATEWAY_NAME_LABEL = "istio.io/gateway-name"
SERVICE_TYPE_ANNOTATION = "networking.istio.io/service-type"
TRAFFIC_POLICY_ANNOTATION = "dpctl.dev/external-traffic-policy"
SERVICE_TYPES = ("LoadBalancer", "NodePort", "ClusterIP")
STATUS_PORT = 15021
SUFFIX = "-istio"


def parse_istio_gateway(clean: dict[str, Any], origin: Origin, manifest: Manifest) -> None:
    metadata = clean.get("metadata", {})
    namespace = metadata.get("namespace", "default")
    spec = compact(clean.get("spec", {}))
    name = check_name(dns_1035_label, metadata.get("name"), "metadata.name", origin.report)
    key = f"Gateway {namespace}/{metadata.get('name', '')}"

    def warn(path: str, message: str) -> None:
        manifest.warnings.append(f"{key}: {path}: {message}")

    served = listeners.parse(namespace, spec, origin.report, warn)
    annotations = dict(metadata.get("annotations", {}))
    kind = annotations.get(SERVICE_TYPE_ANNOTATION, "LoadBalancer")
    if kind not in SERVICE_TYPES:
        origin.report(f"metadata.annotations.{SERVICE_TYPE_ANNOTATION}", f"must be one of {', '.join(SERVICE_TYPES)}")
    policy = annotations.get(TRAFFIC_POLICY_ANNOTATION, "Cluster")
    if policy not in ("Cluster", "Local"):
        origin.report(f"metadata.annotations.{TRAFFIC_POLICY_ANNOTATION}", "must be Cluster or Local")
    if name is None or len(name) + len(SUFFIX) > 63:
        if name is not None:
            origin.report("metadata.name", f"{name}{SUFFIX} (the Deployment and Service istiod makes) exceeds 63 characters")
        return
    manifest.objects.append(ObjectRef(origin, "Gateway", namespace, name))
    manifest.traffic.append(TrafficSpec(origin, "Gateway", namespace, name, len(manifest.traffic), spec, annotations))
    ports: dict[int, str] = {}
    for listener in served:
        ports.setdefault(listener.port, listener.name)
    _deploy(origin, namespace, name, ports, kind, policy, manifest)


def _deploy(
    origin: Origin, namespace: str, gateway: str, ports: dict[int, str], kind: str, policy: str, manifest: Manifest
) -> None:
    """The Deployment, ServiceAccount and Service istiod makes for the Gateway."""
    name = gateway + SUFFIX
    labels = {
        GATEWAY_NAME_LABEL: gateway,
        ISTIO_GATEWAY_NAME_LABEL: gateway,
        "gateway.istio.io/managed": "istio.io-gateway-controller",
        "istio.io/dataplane-mode": "none",
        "sidecar.istio.io/inject": "false",
    }
    container = Container(
        "istio-proxy",
        ports=(
            *(ContainerPort(port, "TCP", None, GATEWAY_RESPONDER) for port in ports),
            ContainerPort(STATUS_PORT, "TCP", "status-port", "http"),
        ),
    )
    template = PodTemplate(
        origin=origin, spec_path="spec", namespace=namespace, labels=labels, annotations={},
        node_name=None, node_selector={}, service_account=name, hostname=None, containers=(container,),
    )
    for what in ("Deployment", "ServiceAccount", "Service"):
        manifest.objects.append(ObjectRef(origin, what, namespace, name))
    manifest.workloads.append(ControllerSpec(origin, namespace, name, 1, template, "Deployment"))
    service_ports = [ServicePortSpec("spec.listeners", STATUS_PORT, "TCP", "status-port", STATUS_PORT, None, "tcp")]
    service_ports += [ServicePortSpec("spec.listeners", port, "TCP", _port_name(listener), port, None)
                      for port, listener in ports.items()]
    manifest.services.append(
        ServiceSpec(
            origin=origin, namespace=namespace, name=name, type=kind, cluster_ip=None, headless=False,
            ports=service_ports, selector={GATEWAY_NAME_LABEL: gateway}, external_name=None, external_ips=(),
            load_balancer_ip=None, load_balancer_source_ranges=(), external_traffic_policy=policy,
            internal_traffic_policy="Cluster", session_affinity="None", session_affinity_timeout=10800,
            publish_not_ready_addresses=False,
        )
    )


def _port_name(listener: str) -> str:
    """Istio names a Service port after its first listener, as a port name must be (a DNS label)."""
    cleaned = "".join(c if c.isalnum() else "-" for c in listener.lower()).strip("-")
    return cleaned[:15].rstrip("-") or "listener"
