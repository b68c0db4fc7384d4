"""Cluster DNS: the CoreDNS Deployment and the kube-dns Service every cluster has.

kubeadm, EKS and every other distribution install them, and every pod's
resolv.conf points at kube-dns, so dpctl adds them to each plan instead of
asking each file to declare them.  From then on they are ordinary objects:
two replicas placed by the usual spread (so on two zones), addressed like any
pod, reached through the same DNAT, scaled and deleted like any Deployment.
They come after the user's objects, so adding them moved no user pod's
address.  A file may not declare them itself: it would put two DNS servers
behind one address.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from .model import (
    ControllerSpec,
    Manifest,
    ObjectRef,
    Origin,
    PodSpec,
    PodTemplate,
    ServicePortSpec,
    ServiceSpec,
    TopologySpec,
)
from .parse_services import DEFAULT_AFFINITY_TIMEOUT
from .plan import Container, ContainerPort
from .workloads import is_replica_name

NAMESPACE = "kube-system"
DEPLOYMENT = "coredns"
SERVICE = "kube-dns"
SERVICE_KEY = f"{NAMESPACE}/{SERVICE}"
SERVICE_ACCOUNT = "coredns"
REPLICAS = 2
LABELS = {"k8s-app": "kube-dns"}
DNS_OFFSET = 10  # kube-dns is the 10th address of the serviceCIDR, as kubeadm makes it
RESERVED = (
    f"reserved: dpctl provides the cluster DNS itself (Deployment {NAMESPACE}/{DEPLOYMENT} "
    f"behind Service {SERVICE_KEY}); remove this object"
)

_CONTAINER = Container(
    name="coredns",
    ports=(
        ContainerPort(53, "UDP", "dns", "dns"),
        ContainerPort(53, "TCP", "dns-tcp", "dns"),
        ContainerPort(9153, "TCP", "metrics", "http"),
    ),
)


def dns_address(service_cidr: IPv4Network) -> IPv4Address:
    return service_cidr.network_address + DNS_OFFSET


def is_cluster_dns(pod: PodSpec) -> bool:
    return pod.namespace == NAMESPACE and pod.owner == f"Deployment/{DEPLOYMENT}"


def add_cluster_dns(manifest: Manifest, topology: TopologySpec) -> None:
    """Append the cluster DNS objects to ``manifest``, or report the user's objects that claim them.

    The namespace is not one of them: like ``default``, ``kube-system`` always exists.
    """
    if _report_reserved(manifest):
        return  # the file will be refused; adding ours would only add duplicate reports
    origin = topology.origin  # nothing is expected to be reported here; if it were, the Topology made it
    if (NAMESPACE, SERVICE_ACCOUNT) not in manifest.service_accounts():
        account_origin = _as(origin, "ServiceAccount", f"{NAMESPACE}/{SERVICE_ACCOUNT}")
        manifest.objects.append(ObjectRef(account_origin, "ServiceAccount", NAMESPACE, SERVICE_ACCOUNT))
    deployment_origin = _as(origin, "Deployment", f"{NAMESPACE}/{DEPLOYMENT}")
    template = PodTemplate(
        origin=deployment_origin,
        spec_path="spec.template.spec",
        namespace=NAMESPACE,
        labels=dict(LABELS),
        annotations={},
        node_name=None,
        node_selector={},
        service_account=SERVICE_ACCOUNT,
        hostname=None,
        containers=(_CONTAINER,),
    )
    manifest.objects.append(ObjectRef(deployment_origin, "Deployment", NAMESPACE, DEPLOYMENT))
    manifest.workloads.append(ControllerSpec(deployment_origin, NAMESPACE, DEPLOYMENT, REPLICAS, template))
    service_origin = _as(origin, "Service", SERVICE_KEY)
    manifest.objects.append(ObjectRef(service_origin, "Service", NAMESPACE, SERVICE))
    manifest.services.append(_service(service_origin, topology.service_cidr))


def _report_reserved(manifest: Manifest) -> bool:
    """Report every declared object that is (or makes a pod named like) one of ours."""
    claims = [w.origin for w in manifest.workloads if _claims_dns(w)]
    claims += [s.origin for s in manifest.services if s.key == SERVICE_KEY]
    for origin in claims:
        origin.report("metadata.name", RESERVED)
    return bool(claims)


def _claims_dns(workload: PodSpec | ControllerSpec) -> bool:
    if workload.namespace != NAMESPACE:
        return False
    if isinstance(workload, ControllerSpec):
        return workload.name == DEPLOYMENT
    return is_replica_name(workload.name, DEPLOYMENT)


def _as(origin: Origin, kind: str, name: str) -> Origin:
    return Origin(origin.file, origin.document, kind, name, origin.problems)


def _service(origin: Origin, service_cidr: IPv4Network | None) -> ServiceSpec:
    return ServiceSpec(
        origin=origin,
        namespace=NAMESPACE,
        name=SERVICE,
        type="ClusterIP",
        cluster_ip=dns_address(service_cidr) if service_cidr is not None else None,
        headless=False,
        ports=[
            ServicePortSpec("spec.ports[0]", 53, "UDP", "dns", 53, None),
            ServicePortSpec("spec.ports[1]", 53, "TCP", "dns-tcp", 53, None),
        ],
        selector=dict(LABELS),
        external_name=None,
        external_ips=(),
        load_balancer_ip=None,
        load_balancer_source_ranges=(),
        external_traffic_policy="Cluster",
        internal_traffic_policy="Cluster",
        session_affinity="None",
        session_affinity_timeout=DEFAULT_AFFINITY_TIMEOUT,
        publish_not_ready_addresses=False,
    )
