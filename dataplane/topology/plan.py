"""The plan: one immutable, fully resolved description of an emulation.

Everything below the topology layer (build, kernel, agent, CLI) works from a
Plan and never from YAML.  A Plan is pure data: every pod already has its node,
address, namespace name and interface name, so building is a mechanical walk
and the same file always yields the same Plan.  Plans round-trip through JSON
so the state directory can hold the exact plan an emulation was built from.

Past 400 lines on purpose: the Plan and every type it holds are one contract
(the JSON the agents read), and a reader checking what a field means, or
what ``from_json`` rebuilds, finds all of it in one place.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

from ..route53.records import Endpoint, HostedZone
from ..route53.settings import Settings

PLAN_VERSION = 1


@dataclass(frozen=True)
class Subnet:
    """A VPC subnet: one bridge in the VPC router namespace, gateway = router."""

    name: str
    cidr: str
    zone: str
    gateway: str  # router address on the bridge (first host, as in a VPC)
    bridge: str  # bridge interface name in the router namespace (<= 15 bytes)
    network_acl: str | None = None  # its network ACL (vpc.security); None: the default ACL (allow all)


@dataclass(frozen=True)
class Node:
    """A node: a network namespace whose eth0 sits on its subnet's bridge."""

    name: str
    zone: str
    subnet: str
    ip: str  # eth0 address inside the subnet
    prefixlen: int  # subnet prefix length for eth0
    gateway: str  # default route for the node (subnet gateway)
    netns: str
    router_iface: str  # the router-side end of the node's eth0 veth
    labels: dict[str, str] = field(default_factory=dict)
    pod_cidr: str | None = None  # overlay mode only: this node's pod range
    vtep_ip: str | None = None  # overlay mode only: address of vxlan0 (pod_cidr network address)
    security_groups: tuple[str, ...] = ()  # of its ENI (vpc.security); none: the VPC's default group
    unschedulable: bool = False  # cordoned, or in a zone an EKS zonal shift moved away from


WAYPOINT_RESPONDER = "waypoint"
"""A waypoint pod's HBONE port: served by the agent's waypoint proxy, not a built-in responder."""


@dataclass(frozen=True)
class ContainerPort:
    """A declared container port and the built-in responder that serves it."""

    port: int
    protocol: str  # "TCP" | "UDP"
    name: str | None
    responder: str  # "http" | "tcp-echo" | "server-first" | "udp-echo" | "ext-authz" | "dns" | WAYPOINT_RESPONDER


@dataclass(frozen=True)
class Container:
    name: str
    ports: tuple[ContainerPort, ...] = ()
    command: tuple[str, ...] = ()  # command + args; empty = built-in responders only


@dataclass(frozen=True)
class Pod:
    """A pod: its own network namespace, eth0 veth'd to its node."""

    namespace: str
    name: str
    node: str
    zone: str
    ip: str
    netns: str
    host_iface: str  # node-side end of the pod's veth
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    service_account: str = "default"
    owner: str | None = None  # "Deployment/<name>" when generated from a Deployment
    containers: tuple[Container, ...] = ()
    ready: bool = True
    terminating: bool = False
    hostname: str = ""
    subdomain: str = ""  # with hostname: <hostname>.<subdomain>.<namespace>.svc under that headless Service

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def ports(self) -> tuple[ContainerPort, ...]:
        return tuple(p for c in self.containers for p in c.ports)


@dataclass(frozen=True)
class ServicePort:
    port: int
    protocol: str  # "TCP" | "UDP"
    name: str | None = None
    target_port: int | str | None = None  # number, or a container port name
    node_port: int | None = None
    app_protocol: str | None = None


@dataclass(frozen=True)
class Service:
    """A Service as parsed and validated; programmed by the kubeproxy layer."""

    namespace: str
    name: str
    type: str  # ClusterIP | NodePort | LoadBalancer | ExternalName
    cluster_ip: str | None  # None for headless and ExternalName
    ports: tuple[ServicePort, ...] = ()
    selector: dict[str, str] = field(default_factory=dict)
    headless: bool = False
    external_name: str | None = None
    external_ips: tuple[str, ...] = ()
    load_balancer_source_ranges: tuple[str, ...] = ()
    external_traffic_policy: str = "Cluster"
    internal_traffic_policy: str = "Cluster"
    session_affinity: str = "None"
    session_affinity_timeout: int = 10800
    publish_not_ready_addresses: bool = False
    load_balancer_ips: tuple[str, ...] = ()  # type LoadBalancer: allocated from External.lb_pool
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)  # an NLB's settings (``edge.nlb``) among them

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class External:
    """The world outside the VPC: a client namespace and a cloud load balancer.

    The load balancer namespace is the public segment's gateway into the VPC
    (like an internet gateway with an NLB in instance mode): it DNATs
    ``VIP:port`` to ``nodeIP:nodePort`` without SNAT, and every reply to the
    public segment is routed back through it, so the client keeps its address
    end to end and conntrack in the LB un-DNATs the replies.
    """

    public_cidr: str  # the public segment (spec.external.cidr, default 203.0.113.0/24)
    lb_pool: str  # LoadBalancer VIPs (spec.loadBalancer.pool), inside public_cidr
    client_netns: str  # dp-T.external
    client_ip: str  # the outside client's address on the public segment
    lb_netns: str  # dp-T.lb
    lb_ip: str  # the LB's address on the public segment: the client's default gateway
    transit_cidr: str  # point-to-point link LB <-> VPC router
    router_transit_ip: str
    lb_transit_ip: str


@dataclass(frozen=True)
class PolicySource:
    """One ``from[].source`` of an AuthorizationPolicy rule: every populated
    field must match (AND); inside a field any value may match (OR)."""

    principals: tuple[str, ...] = ()
    not_principals: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    not_namespaces: tuple[str, ...] = ()
    ip_blocks: tuple[str, ...] = ()
    not_ip_blocks: tuple[str, ...] = ()
    # "<iss>/<sub>" of the request's JWT: waypoints only (``PolicyRule.http_sources``)
    request_principals: tuple[str, ...] = ()
    not_request_principals: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyOperation:
    """One ``to[].operation``: ztunnel enforces only the port fields."""

    ports: tuple[int, ...] = ()
    not_ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class HttpOperation:
    """One ``to[].operation`` whole, as a waypoint evaluates it (HTTP fields included)."""

    hosts: tuple[str, ...] = ()
    not_hosts: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    not_methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    not_paths: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    not_ports: tuple[int, ...] = ()


@dataclass(frozen=True)
class PolicyTarget:
    """One ``targetRefs`` entry: the policy is a waypoint's, not the ztunnel's."""

    group: str
    kind: str
    name: str


@dataclass(frozen=True)
class PolicyCondition:
    """One ``when[]`` entry with an L4 key (source.ip, destination.port, ...)."""

    key: str
    values: tuple[str, ...] = ()
    not_values: tuple[str, ...] = ()


@dataclass(frozen=True)
class PolicyRule:
    """from (OR of sources) AND to (OR of operations) AND every when.

    ``l7_fields`` lists the HTTP-only fields the rule used; ztunnel cannot
    evaluate them, so an ALLOW rule with any never matches and a DENY rule
    is evaluated without them.
    """

    sources: tuple[PolicySource, ...] = ()
    operations: tuple[PolicyOperation, ...] = ()
    conditions: tuple[PolicyCondition, ...] = ()
    l7_fields: tuple[str, ...] = ()
    has_from: bool = False
    has_to: bool = False
    # the rule whole, for waypoints: request principals, every operation field and every when key
    http_operations: tuple[HttpOperation, ...] = ()
    http_conditions: tuple[PolicyCondition, ...] = ()
    http_sources: tuple[PolicySource, ...] = ()


@dataclass(frozen=True)
class AuthorizationPolicy:
    """security.istio.io/v1 AuthorizationPolicy, as ztunnel receives it."""

    namespace: str
    name: str
    action: str  # "ALLOW" | "DENY" | "CUSTOM" (waypoints only)
    selector: dict[str, str] | None = None  # None: the whole namespace (or mesh-wide in the root namespace)
    rules: tuple[PolicyRule, ...] = ()
    target_refs: tuple[PolicyTarget, ...] = ()  # set: enforced by waypoints, ignored by ztunnels
    provider: str | None = None  # CUSTOM: the meshConfig extension provider asked

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class RequestAuthentication:
    """security.istio.io/v1 RequestAuthentication naming waypoints' targets:
    its checked spec, whose ``jwtRules`` ``l7.routing.requestauthn`` reads."""

    namespace: str
    name: str
    target_refs: tuple[PolicyTarget, ...]
    spec: dict[str, Any]


@dataclass(frozen=True)
class LbNode:
    """One zone's node of a load balancer: an ALB's is a namespace on that zone's subnet bridge; an
    NLB's is only addresses, local to the LB namespace (``netns``) and routed there by the VPC router."""

    zone: str
    subnet: str
    netns: str
    router_iface: str  # the router-side end of its eth0 veth ("" for an NLB node)
    ip: str  # its private address in the subnet (what targets see)
    prefixlen: int
    gateway: str
    public_ip: str | None = None  # internet-facing: its address on the public segment (1:1 NAT at the edge)


@dataclass(frozen=True)
class LoadBalancer:
    """An ALB the AWS Load Balancer Controller made for an Ingress group (``dataplane.edge``), or an
    NLB for a LoadBalancer Service (``edge.nlb``): its nodes' addresses live in the LB namespace."""

    kind: str  # "alb" | "nlb"
    name: str  # the load balancer's name (k8s-<group>-<hash>)
    group: str  # the Ingress group it serves (edge.albmodel.Alb.name), or the NLB's Service ("ns/name")
    dns_name: str  # <name>-<digits>.<region>.elb.amazonaws.com (internal- first when internal)
    scheme: str  # internal | internet-facing
    nodes: tuple[LbNode, ...] = ()
    ingresses: tuple[str, ...] = ()  # "namespace/name" of the Ingresses it serves, in group order


@dataclass(frozen=True)
class Waypoint:
    """A Gateway of class istio-waypoint; its pod and Service are in the plan's pods and services."""

    namespace: str
    name: str
    traffic_for: str = "service"  # istio.io/waypoint-for: service | workload | all | none
    allowed_from: str = "Same"  # which namespaces may bind to it: Same | All | Selector
    allowed_selector: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class TrafficObject:
    """An HTTPRoute, VirtualService, DestinationRule, Ingress or IngressClass: its
    checked spec, annotations and document order (the L7 core and the edge read them)."""

    kind: str
    namespace: str
    name: str
    order: int
    spec: dict[str, Any]
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ExternalDns:
    """An ExternalDNS Deployment: its settings, and the endpoints its sources find in this plan."""

    namespace: str
    name: str
    settings: Settings
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CronJob:
    """A CronJob: dpctl keeps no clock, so it makes a Job only when ``dpctl create job --from`` asks."""

    namespace: str
    name: str
    schedule: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Accepted:
    """A document dpctl read but does not act on: a kind that does not shape
    the data plane (``ignored``), or one it does not emulate yet (``not yet enforced``)."""

    kind: str
    name: str  # "namespace/name", "name", or "" when the document has none
    treatment: str  # "ignored" | "not yet enforced"


@dataclass(frozen=True)
class Plan:
    """The whole emulation, resolved."""

    name: str
    source: str  # path of the topology file it came from
    cni: str  # "vpc" | "overlay"
    prefix: str  # every kernel object name of this emulation starts with this
    vpc_cidr: str
    service_cidr: str
    cluster_domain: str
    dns_ip: str
    router_netns: str
    subnets: tuple[Subnet, ...]
    nodes: tuple[Node, ...]
    namespaces: tuple[Namespace, ...]
    pods: tuple[Pod, ...]
    services: tuple[Service, ...] = ()
    pod_cidr: str | None = None  # overlay mode only: cluster pod range
    external: External | None = None
    authorization_policies: tuple[AuthorizationPolicy, ...] = ()
    mesh_root_namespace: str = "istio-system"
    trust_domain: str = "cluster.local"
    warnings: tuple[str, ...] = ()
    accepted_only: tuple[Accepted, ...] = ()  # documents read but not acted on
    cron_jobs: tuple[CronJob, ...] = ()
    waypoints: tuple[Waypoint, ...] = ()
    traffic: tuple[TrafficObject, ...] = ()
    request_authentications: tuple[RequestAuthentication, ...] = ()
    mesh_config: dict[str, Any] = field(default_factory=dict)  # the Topology's spec.meshConfig (Istio's names)
    load_balancers: tuple[LoadBalancer, ...] = ()  # ALBs of Ingress groups
    certificates: dict[str, tuple[str, ...]] = field(default_factory=dict)  # the emulated ACM: ARN -> domains
    hosted_zones: tuple[HostedZone, ...] = ()  # Route 53 as declared (spec.route53); their records live in route53.json
    external_dns: tuple[ExternalDns, ...] = ()  # ExternalDNS Deployments, in file order
    shifted_zones: tuple[str, ...] = ()  # an EKS zonal shift's zones: their pods are in no EndpointSlice
    vpc_security: dict[str, Any] = field(default_factory=dict)  # spec.vpc's securityGroups and networkAcls
    vpc_egress: dict[str, Any] = field(default_factory=dict)  # vpc.egress's form, addresses allocated (egress_plan)
    vpc_network: dict[str, Any] = field(default_factory=dict)  # vpc.network's form, allocated (network_plan)
    version: int = PLAN_VERSION

    def node(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(name)

    def pod(self, namespace: str, name: str) -> Pod:
        for pod in self.pods:
            if pod.namespace == namespace and pod.name == name:
                return pod
        raise KeyError(f"{namespace}/{name}")

    def subnet(self, name: str) -> Subnet:
        for subnet in self.subnets:
            if subnet.name == name:
                return subnet
        raise KeyError(name)

    def pods_on(self, node: str) -> tuple[Pod, ...]:
        return tuple(p for p in self.pods if p.node == node)

    def all_netns(self) -> tuple[str, ...]:
        """Every namespace the plan creates, infrastructure first."""
        outside = (self.external.lb_netns, self.external.client_netns) if self.external else ()
        edge = tuple(n.netns for lb in self.load_balancers if lb.kind == "alb" for n in lb.nodes)
        gateways = tuple(n["netns"] for n in self.vpc_egress.get("natGateways", []))
        return (self.router_netns, *outside, *edge, *gateways, *self.network_netns(), *(n.netns for n in self.nodes),
                *(p.netns for p in self.pods))

    def network_netns(self) -> tuple[str, ...]:
        """The namespaces of the other VPCs' routers, the instances, transit gateways and the VPN's ends."""
        raw = self.vpc_network
        site = raw.get("onPremises")
        return (*(v["router_netns"] for v in raw.get("vpcs", []) if not v["cluster"]),
                *(t["netns"] for t in raw.get("transitGateways", [])),
                *((site["vgw_netns"], site["netns"]) if site else ()),
                *((raw["resolver"]["netns"],) if raw.get("resolver") else ()),
                *(i["netns"] for v in raw.get("vpcs", []) for i in v["instances"]))

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Plan:
        return _plan_from_dict(json.loads(text))


def _plan_from_dict(raw: dict[str, Any]) -> Plan:
    def ports(items: list[dict[str, Any]]) -> tuple[ContainerPort, ...]:
        return tuple(ContainerPort(**p) for p in items)

    def containers(items: list[dict[str, Any]]) -> tuple[Container, ...]:
        return tuple(
            Container(name=c["name"], ports=ports(c["ports"]), command=tuple(c["command"])) for c in items
        )

    pods = tuple(Pod(**{**p, "containers": containers(p["containers"])}) for p in raw["pods"])
    services = tuple(
        Service(
            **{
                **s,
                "ports": tuple(ServicePort(**sp) for sp in s["ports"]),
                "external_ips": tuple(s["external_ips"]),
                "load_balancer_source_ranges": tuple(s["load_balancer_source_ranges"]),
                "load_balancer_ips": tuple(s.get("load_balancer_ips", ())),
            }
        )
        for s in raw["services"]
    )
    return Plan(
        **{
            **raw,
            "subnets": tuple(Subnet(**s) for s in raw["subnets"]),
            "nodes": tuple(Node(**{**n, "security_groups": tuple(n.get("security_groups", ()))}) for n in raw["nodes"]),
            "namespaces": tuple(Namespace(**n) for n in raw["namespaces"]),
            "pods": pods,
            "services": services,
            "warnings": tuple(raw["warnings"]),
            "shifted_zones": tuple(raw.get("shifted_zones", ())),
            "accepted_only": tuple(Accepted(**a) for a in raw.get("accepted_only", ())),
            "cron_jobs": tuple(CronJob(**c) for c in raw.get("cron_jobs", ())),
            "waypoints": tuple(Waypoint(**w) for w in raw.get("waypoints", ())),
            "certificates": {arn: tuple(domains) for arn, domains in raw.get("certificates", {}).items()},
            "load_balancers": tuple(
                LoadBalancer(**{**lb, "nodes": tuple(LbNode(**n) for n in lb["nodes"]), "ingresses": tuple(lb["ingresses"])})
                for lb in raw.get("load_balancers", ())
            ),
            "traffic": tuple(TrafficObject(**t) for t in raw.get("traffic", ())),
            "hosted_zones": tuple(HostedZone.from_dict(z) for z in raw.get("hosted_zones", ())),
            "external_dns": tuple(
                ExternalDns(**{**e, "settings": Settings.from_dict(e["settings"]),
                               "endpoints": tuple(Endpoint.from_dict(x) for x in e["endpoints"])})
                for e in raw.get("external_dns", ())
            ),
            "external": External(**raw["external"]) if raw.get("external") else None,
            "authorization_policies": tuple(
                _policy_from_dict(p) for p in raw.get("authorization_policies", ())
            ),
            "request_authentications": tuple(
                RequestAuthentication(**{**r, "target_refs": tuple(PolicyTarget(**t) for t in r["target_refs"])})
                for r in raw.get("request_authentications", ())
            ),
        }
    )


def _policy_from_dict(raw: dict[str, Any]) -> AuthorizationPolicy:
    def tuples(d: dict[str, Any]) -> dict[str, Any]:
        return {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}

    rules = tuple(
        PolicyRule(
            sources=tuple(PolicySource(**tuples(x)) for x in r["sources"]),
            operations=tuple(PolicyOperation(**tuples(x)) for x in r["operations"]),
            conditions=tuple(PolicyCondition(**tuples(x)) for x in r["conditions"]),
            l7_fields=tuple(r["l7_fields"]),
            has_from=r["has_from"],
            has_to=r["has_to"],
            http_operations=tuple(HttpOperation(**tuples(x)) for x in r.get("http_operations", ())),
            http_conditions=tuple(PolicyCondition(**tuples(x)) for x in r.get("http_conditions", ())),
            http_sources=tuple(PolicySource(**tuples(x)) for x in r.get("http_sources", ())),
        )
        for r in raw["rules"]
    )
    targets = tuple(PolicyTarget(**t) for t in raw.get("target_refs", ()))
    return AuthorizationPolicy(**{**raw, "rules": rules, "target_refs": targets})
