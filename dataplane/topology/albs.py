"""Where the ALBs of the file's Ingress groups and ALB Gateways sit: one node per zone.

``dataplane.edge`` decides what the AWS Load Balancer Controller would build
(one ALB per Ingress group, or its reconcile error, which becomes a warning
naming the object and field: the controller reports ``FailedBuildModel`` and
builds nothing, while ``kubectl apply`` accepted the Ingress).  This step
places each ALB as AWS does: one node in each zone, on that zone's first
subnet, with a private address there (what targets see as the peer), and for
an ``internet-facing`` ALB a public address on the public segment that the
edge maps 1:1 to the private one, as an internet gateway does.  An ALB needs
two zones, as on AWS.

Addresses are taken from the top of each subnet and of the load-balancer
pool downwards, in ALB name order, so they never meet the nodes and pods
(handed out from the bottom) or the LoadBalancer Services' VIPs (likewise);
a subnet or pool too small to hold both is a warning and that ALB is left out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network

from ..edge import ingress as edge
from ..edge.albmodel import Alb, Report
from ..edge.grouping import ALB_CONTROLLER
from . import naming
from .gateway_albs import ALB_GATEWAY_CONTROLLER, NAME_PREFIX, Traffic, gateway_albs
from .ipam import Addresses, gateway
from .model import Layout, Manifest, SubnetSite
from .parse_gateways import ISTIO_CLASS
from .parse_traffic import WAYPOINT_CLASS
from .plan import Accepted, External, LbNode, LoadBalancer
from .vips import ServiceAddresses

REGION = "us-east-1"  # the emulated region, in the ALBs' DNS names
MAX_NAME = 32  # an ELBv2 name


def unserved(manifest: Manifest, placed: tuple[LoadBalancer, ...]) -> list[Accepted]:
    """Ingresses and Gateways no ALB (nor dpctl's Istio classes) serves, and IngressClasses and
    GatewayClasses of other controllers: read, not enforced."""
    served = {key for lb in placed for key in lb.ingresses} | {lb.group for lb in placed}
    ours = {t.name for t in manifest.traffic if t.kind == "IngressClass" and t.spec.get("controller") == ALB_CONTROLLER}
    own_classes = {t.name for t in manifest.traffic
                   if t.kind == "GatewayClass" and t.spec.get("controllerName") == ALB_GATEWAY_CONTROLLER}
    return [
        Accepted(t.kind, f"{t.namespace}/{t.name}" if t.namespace else t.name, "not yet enforced")
        for t in manifest.traffic
        if (t.kind == "Ingress" and f"{t.namespace}/{t.name}" not in served)
        or (t.kind == "IngressClass" and t.name not in ours)
        or (t.kind == "GatewayClass" and t.name not in own_classes)
        or (t.kind == "Gateway" and t.spec.get("gatewayClassName") not in (ISTIO_CLASS, WAYPOINT_CLASS)
            and f"{NAME_PREFIX}{t.namespace}/{t.name}" not in served)
    ]


def plan_albs(
    manifest: Manifest, name: str, topology_cni: str, layout: Layout, addresses: Addresses,
    services: ServiceAddresses, external: External | None, warnings: list[str],
) -> tuple[LoadBalancer, ...]:
    def report(path: str, message: str) -> None:
        warnings.append(f"{path}: {message} (the AWS Load Balancer Controller builds no ALB for its group)")

    def warn(path: str, message: str) -> None:
        warnings.append(f"{path}: {message}")

    labels = {ns.name: ns.labels for ns in manifest.namespaces}
    albs = all_albs(manifest.traffic, report, warn, labels)
    if topology_cni == "overlay":
        for alb in albs:
            if "ip" in alb.target_types():
                warnings.append(
                    f"Ingress group {alb.name}: target-type ip sends to pod addresses, which only the VPC CNI"
                    " (cni: vpc) makes routable: its targets cannot be reached (502)"
                )
    zones = zone_subnets(layout)
    if albs and len(zones) < 2:
        warnings.append(f"Ingress groups {', '.join(a.name for a in albs)}: an ALB needs subnets in two zones")
        return ()
    taken = {*addresses.nodes.values(), *addresses.pods.values()}
    private = {zone: downwards(site.network, taken) for zone, site in zones.items()}
    public = downwards(IPv4Network(external.lb_pool), set(services.load_balancer_ips.values())) if external else None
    placed = []
    for alb in albs:
        try:
            placed.append(_place(name, alb, zones, private, public))
        except StopIteration:
            warnings.append(f"Ingress group {alb.name}: no free address left for its ALB nodes")
    return tuple(placed)


def all_albs(
    traffic: Sequence[Traffic], report: Report, warn: Report,
    namespace_labels: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[Alb, ...]:
    """Every ALB the controller builds: the Ingress groups' and the ALB Gateways' (``gateway_albs``)."""
    return (*ingress_albs(traffic, report, warn), *gateway_albs(traffic, report, warn, namespace_labels))


def ingress_albs(traffic: Sequence[Traffic], report: Report, warn: Report) -> tuple[Alb, ...]:
    """The ALBs the controller builds for the Ingresses among ``traffic`` (the
    manifest's while a file is read, the plan's in the agent that serves them)."""
    ingresses = [t for t in traffic if t.kind == "Ingress"]
    if not ingresses:
        return ()
    classes = {t.name: str(t.spec.get("controller", "")) for t in traffic if t.kind == "IngressClass"}
    return edge.translate(ingresses, classes, report, warn)


def zone_subnets(layout: Layout) -> dict[str, SubnetSite]:
    """Each zone's first subnet, in file order."""
    zones: dict[str, SubnetSite] = {}
    for site in layout.subnets:
        zones.setdefault(site.zone, site)
    return zones


def downwards(network: IPv4Network, taken: set[IPv4Address]) -> Iterator[IPv4Address]:
    """Free hosts of ``network`` from the top (the broadcast address excluded)."""
    address = network.broadcast_address - 1
    while address > network.network_address + 3:  # .1 router, .2 DNS, .3 reserved, as in a VPC
        if address not in taken:
            yield address
        address -= 1


def _place(
    emulation: str, alb: Alb, zones: dict[str, SubnetSite], private: dict[str, Iterator[IPv4Address]],
    public: Iterator[IPv4Address] | None,
) -> LoadBalancer:
    lb_name = alb_name(alb.name)
    internet = alb.scheme == "internet-facing"
    nodes = []
    for zone, site in zones.items():
        key = f"{lb_name}/{zone}"
        nodes.append(LbNode(
            zone=zone,
            subnet=site.name,
            netns=naming.infra_netns(emulation, f"elb_{naming.short_hash(key, 10)}_{zone}"),
            router_iface=f"e-{naming.short_hash(key, 12)}",
            ip=str(next(private[zone])),
            prefixlen=site.network.prefixlen,
            gateway=str(gateway(site.network)),
            public_ip=str(next(public)) if internet and public is not None else None,
        ))
    digits = int(naming.short_hash(alb.name, 12), 16) % 10**10
    dns = f"{'' if internet else 'internal-'}{lb_name}-{digits:010d}.{REGION}.elb.amazonaws.com"
    return LoadBalancer("alb", lb_name, alb.name, dns, alb.scheme, tuple(nodes), alb.ingresses)


def alb_name(group: str) -> str:
    """The controller's ALB name: ``k8s-`` and the group (``ns-ingress`` for an
    implicit group), cut to fit 32 characters with a hash of the whole."""
    base = "k8s-" + group.replace("/", "-").replace(".", "-")
    digest = naming.short_hash(group, 10)
    return f"{base[: MAX_NAME - len(digest) - 1].rstrip('-')}-{digest}"
