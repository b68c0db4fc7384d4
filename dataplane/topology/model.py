"""The parsed topology file: typed objects between the YAML and the Plan.

Parsing checks each object on its own; later steps (cross-object checks,
placement, address allocation) work on these objects.  Every object keeps its
``Origin`` so that a problem found late (a nodeSelector matching no node, a
subnet too small) still points at the document, field and line to fix.
A value that failed its own check is ``None`` here, and later steps skip what
depends on it rather than report follow-on noise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ..errors import Problem
from ..route53.records import HostedZone
from ..route53.settings import Settings
from .plan import Accepted, AuthorizationPolicy, Container, RequestAuthentication
from .yamlsource import Document


@dataclass
class Origin:
    """Where an object came from; ``report`` files a Problem located in it."""

    file: str
    document: Document
    kind: str | None
    name: str | None  # "namespace/name" for namespaced kinds
    problems: list[Problem]

    def report(self, path: str | None, message: str, *, at: str | None = None, line: int | None = None) -> None:
        """File a problem about ``path``, on the line of ``at`` (default: ``path``) or ``line``."""
        self.problems.append(
            Problem(
                file=self.file,
                message=message,
                document=self.document.index,
                kind=self.kind,
                name=self.name,
                path=path or None,
                line=line or self.document.line_of(at or path),
            )
        )

    def line(self, path: str) -> int:
        return self.document.line_of(path)


def report_duplicates(entries: Iterable[tuple[object, Origin, str, str]]) -> None:
    """Report each entry whose key was seen before; entries are (key, origin, path, label)."""
    first: dict[object, tuple[Origin, str]] = {}
    for key, origin, path, label in entries:
        if key in first:
            earlier, earlier_path = first[key]
            origin.report(path, f"duplicate {label} (first at line {earlier.line(earlier_path)})")
        else:
            first[key] = (origin, path)


@dataclass
class SubnetSpec:
    name: str | None
    network: IPv4Network | None
    zone: str | None
    path: str  # e.g. "spec.vpc.subnets[1]"
    network_acl: str | None = None  # its network ACL (vpc.security); None: the default ACL


@dataclass
class NodeSpec:
    name: str | None
    subnet: str | None
    labels: dict[str, str]
    ip: IPv4Address | None  # explicit eth0 address, if given
    path: str
    security_groups: tuple[str, ...] = ()  # of its ENI (vpc.security); none: the VPC's default group


@dataclass
class TopologySpec:
    origin: Origin
    name: str | None
    cni: str
    service_cidr: IPv4Network | None
    cluster_domain: str
    pod_cidr: IPv4Network | None  # overlay only
    node_mask: int | None  # overlay only: prefix length of each node's pod block
    vpc_cidr: IPv4Network | None
    subnets: list[SubnetSpec]
    nodes: list[NodeSpec]
    public_cidr: IPv4Network | None  # the segment outside the VPC (spec.external.cidr)
    transit_cidr: IPv4Network | None  # load balancer <-> VPC router link (spec.external.transitCIDR)
    lb_pool: IPv4Network | None  # LoadBalancer VIPs (spec.loadBalancer.pool, default: upper half of public)
    mesh_config: dict[str, Any] = field(default_factory=dict)  # spec.meshConfig as checked (Istio's field names)
    certificates: dict[str, tuple[str, ...]] = field(default_factory=dict)  # spec.certificates: ARN -> domains
    hosted_zones: tuple[HostedZone, ...] = ()  # spec.route53.hostedZones, with their declared records
    vpc_security: dict[str, Any] = field(default_factory=dict)  # spec.vpc's securityGroups and networkAcls, checked
    vpc_egress: dict[str, Any] = field(default_factory=dict)  # route tables, gateways, public IPs, internet hosts, checked
    vpc_network: dict[str, Any] = field(default_factory=dict)  # other VPCs, peering, transit gateways, on-premises


@dataclass
class NamespaceSpec:
    origin: Origin
    name: str
    labels: dict[str, str]


@dataclass
class ObjectRef:
    """A declared namespaced object: its name must be unique, its namespace declared."""

    origin: Origin
    kind: str
    namespace: str
    name: str


@dataclass
class PodSpec:
    """A pod to create: a Pod document, or one replica of a Deployment."""

    origin: Origin
    spec_path: str  # where the PodSpec sits: "spec" or "spec.template.spec"
    namespace: str
    name: str
    owner: str  # "Deployment/<name>" or "Pod/<name>": pods of one owner are spread apart
    labels: dict[str, str]
    annotations: dict[str, str]
    node_name: str | None
    node_selector: dict[str, str]
    service_account: str
    hostname: str
    containers: tuple[Container, ...]
    ready: bool = True
    terminating: bool = False
    subdomain: str = ""  # with hostname, the pod's DNS name under the headless Service of this name

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class PodTemplate:
    """What every pod made from one manifest shares: all but its name and status."""

    origin: Origin
    spec_path: str
    namespace: str
    labels: dict[str, str]
    annotations: dict[str, str]
    node_name: str | None
    node_selector: dict[str, str]
    service_account: str
    hostname: str | None
    containers: tuple[Container, ...]
    subdomain: str = ""

    def pod(self, name: str, owner: str, ready: bool = True, terminating: bool = False) -> PodSpec:
        return PodSpec(
            origin=self.origin,
            spec_path=self.spec_path,
            namespace=self.namespace,
            name=name,
            owner=owner,
            labels=self.labels,
            annotations=self.annotations,
            node_name=self.node_name,
            node_selector=self.node_selector,
            service_account=self.service_account,
            hostname=self.hostname or name,
            containers=self.containers,
            ready=ready,
            terminating=terminating,
            subdomain=self.subdomain,
        )


@dataclass
class ControllerSpec:
    """A controller before it has pods -- Deployment, ReplicaSet, StatefulSet or
    DaemonSet: how many, and from which template (see ``workloads``)."""

    origin: Origin
    namespace: str
    name: str
    replicas: int  # a DaemonSet's is the number of nodes it runs on, known only after placement
    template: PodTemplate
    kind: str = "Deployment"
    service_name: str | None = None  # a StatefulSet's governing headless Service: its pods' subdomain

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class CronJobSpec:
    """A CronJob: its schedule, and the Job it makes when triggered (``dpctl create job --from``)."""

    origin: Origin
    namespace: str
    name: str
    schedule: str
    pods: int  # each Job it makes runs this many pods at once
    template: PodTemplate

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class ServicePortSpec:
    path: str
    port: int
    protocol: str
    name: str | None
    target_port: int | str | None
    node_port: int | None
    app_protocol: str | None = None  # what the port speaks (appProtocol): decides a waypoint's chain


@dataclass
class ServiceSpec:
    origin: Origin
    namespace: str
    name: str
    type: str
    cluster_ip: IPv4Address | None  # an explicit address (not "None", not empty)
    headless: bool
    ports: list[ServicePortSpec]
    selector: dict[str, str]
    external_name: str | None
    external_ips: tuple[tuple[str, IPv4Address], ...]  # (field path, address)
    load_balancer_ip: IPv4Address | None  # spec.loadBalancerIP, asked for instead of an allocated VIP
    load_balancer_source_ranges: tuple[str, ...]
    external_traffic_policy: str
    internal_traffic_policy: str
    session_affinity: str
    session_affinity_timeout: int
    publish_not_ready_addresses: bool
    labels: dict[str, str] = field(default_factory=dict)  # istio.io/use-waypoint and friends
    annotations: dict[str, str] = field(default_factory=dict)  # the AWS Load Balancer Controller's among them
    load_balancer_class: str | None = None  # spec.loadBalancerClass: service.k8s.aws/nlb is the LBC's

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def wants_cluster_ip(self) -> bool:
        return self.type != "ExternalName" and not self.headless

    @property
    def wants_node_ports(self) -> bool:
        return self.type in ("NodePort", "LoadBalancer")


@dataclass(frozen=True)
class SubnetSite:
    """A subnet with a name, CIDR and zone: one that nodes can be on."""

    spec: SubnetSpec
    name: str
    network: IPv4Network
    zone: str


@dataclass(frozen=True)
class NodeSite:
    """A node on a usable subnet: one that pods can go to."""

    spec: NodeSpec
    name: str
    subnet: SubnetSite
    labels: dict[str, str]  # declared labels plus the hostname and zone labels

    @property
    def zone(self) -> str:
        return self.subnet.zone


@dataclass
class Layout:
    """The usable part of the Topology: the first subnet and node of each name, if complete."""

    subnets: list[SubnetSite]
    nodes: list[NodeSite]


@dataclass
class WaypointSpec:
    """A Gateway of class istio-waypoint: whose traffic it takes and who may bind to it."""

    origin: Origin
    namespace: str
    name: str
    traffic_for: str  # istio.io/waypoint-for: service | workload | all | none
    allowed_from: str  # its HBONE listener's allowedRoutes.namespaces.from: Same | All | Selector
    allowed_selector: dict[str, str]

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass
class TrafficSpec:
    """An HTTPRoute, VirtualService, DestinationRule, Ingress or IngressClass as checked, in document order."""

    origin: Origin
    kind: str
    namespace: str
    name: str
    order: int
    spec: dict[str, Any]
    annotations: dict[str, str] = field(default_factory=dict)  # controllers read theirs (the ALB's, ExternalDNS)


@dataclass
class ExternalDnsSpec:
    """A Deployment recognised as ExternalDNS by its image, and what its arguments configure."""

    origin: Origin
    namespace: str
    name: str
    settings: Settings


@dataclass
class Manifest:
    """Everything the file declared, in file order."""

    file: str
    topology: TopologySpec | None = None
    namespaces: list[NamespaceSpec] = field(default_factory=list)
    objects: list[ObjectRef] = field(default_factory=list)  # every namespaced object, by kind
    workloads: list[PodSpec | ControllerSpec] = field(default_factory=list)  # bare Pods and Deployments
    pods: list[PodSpec] = field(default_factory=list)  # every pod that exists: ``workloads`` expanded
    services: list[ServiceSpec] = field(default_factory=list)
    cron_jobs: list[CronJobSpec] = field(default_factory=list)
    policies: list[AuthorizationPolicy] = field(default_factory=list)  # those ztunnel enforces
    waypoints: list[WaypointSpec] = field(default_factory=list)
    traffic: list[TrafficSpec] = field(default_factory=list)  # HTTPRoutes, VirtualServices, ..., Ingresses
    request_authentications: list[RequestAuthentication] = field(default_factory=list)  # those waypoints apply
    warnings: list[str] = field(default_factory=list)  # found while parsing, for Plan.warnings
    accepted_only: list[Accepted] = field(default_factory=list)  # documents of kinds read but not acted on
    external_dns: list[ExternalDnsSpec] = field(default_factory=list)  # ExternalDNS Deployments, in file order
    service_annotations: dict[str, dict[str, str]] = field(default_factory=dict)  # "ns/name" -> its annotations
    complete: bool = True  # False when a YAML error cut the file short

    def service_accounts(self) -> set[tuple[str, str]]:
        return {(o.namespace, o.name) for o in self.objects if o.kind == "ServiceAccount"}
