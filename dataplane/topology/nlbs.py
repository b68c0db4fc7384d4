"""Where the NLBs of the AWS Load Balancer Controller's LoadBalancer Services sit: one address per zone.

``edge.nlb`` decides which Services are the controller's and what their
annotations ask (a bad value is a warning naming the Service and the
annotation, and the Service gets no load balancer at all, as the
controller's reconcile error leaves it pending).  This step places each NLB
as AWS does: one node per zone, i.e. a private address on that zone's first
subnet (what ip targets see when the client's address is not kept) and, for
an ``internet-facing`` NLB, a public address from the load-balancer pool.
An NLB node is no namespace of its own: both addresses are local to the
load balancer namespace (``realize.wiring.external``), which the outside
client's traffic crosses anyway and whose nftables rules are the NLB's data
path (``kubeproxy.nlb``).

Addresses continue downwards from where the ALBs' stopped (``topology.albs``),
in Service order, so nothing placed before moves when an NLB is added.  The
name is the controller's ``k8s-<ns:8>-<name:8>-<hash:10>``; the DNS name is
``<name>-<16 hex>.elb.<region>.amazonaws.com``, for either scheme.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network

from ..edge import nlb
from . import naming
from .albs import REGION, downwards, zone_subnets
from .ipam import Addresses, gateway
from .model import Layout, ServiceSpec, SubnetSite
from .plan import External, LbNode, LoadBalancer
from .vips import ServiceAddresses

_UNSAFE = re.compile(r"[^a-zA-Z0-9-]")


def plan_nlbs(
    services: list[ServiceSpec], emulation: str, cni: str, layout: Layout, addresses: Addresses,
    service_addresses: ServiceAddresses, external: External, albs: tuple[LoadBalancer, ...],
    certificates: dict[str, tuple[str, ...]], warnings: list[str],
) -> tuple[LoadBalancer, ...]:
    """The NLBs of ``services`` placed after ``albs``; problems appended to ``warnings``."""
    wanted = []
    for service in sorted(services, key=lambda s: s.key):
        if service.type != "LoadBalancer" or not nlb.is_aws_nlb(service.annotations, service.load_balancer_class):
            continue
        settings = nlb_of(service, certificates, warnings)
        if settings is None:
            continue
        if settings.target_type == "ip" and cni == "overlay":
            warnings.append(f"Service {service.key}: NLB target type ip sends to pod addresses, which only the"
                            " VPC CNI (cni: vpc) makes routable: its targets cannot be reached")
        wanted.append((service, settings))
    zones = zone_subnets(layout)
    taken = {*addresses.nodes.values(), *addresses.pods.values(), *(IPv4Address(n.ip) for lb in albs for n in lb.nodes)}
    private = {zone: downwards(site.network, taken) for zone, site in zones.items()}
    used = {*service_addresses.load_balancer_ips.values(), *(IPv4Address(n.public_ip) for lb in albs
                                                             for n in lb.nodes if n.public_ip)}
    public = downwards(IPv4Network(external.lb_pool), used)
    placed = []
    for service, settings in wanted:
        try:
            placed.append(_place(emulation, service.key, settings.scheme, zones, private, public, external))
        except StopIteration:
            warnings.append(f"Service {service.key}: no free address left for its NLB nodes")
    return tuple(placed)


def nlb_of(service: ServiceSpec, certificates: dict[str, tuple[str, ...]], warnings: list[str]) -> nlb.Nlb | None:
    """The Service's NLB settings, or None with the controller's error as a warning."""
    def report(path: str, message: str) -> None:
        warnings.append(f"Service {service.key} {path}: {message} (the AWS Load Balancer Controller builds no NLB)")

    ports = [nlb.ServicePortRef(p.port, p.protocol, p.name) for p in service.ports]
    return nlb.read(service.annotations, ports, certificates, report)


def _place(
    emulation: str, key: str, scheme: str, zones: dict[str, SubnetSite],
    private: dict[str, Iterator[IPv4Address]], public: Iterator[IPv4Address], external: External,
) -> LoadBalancer:
    name = nlb_name(key, scheme)
    internet = scheme == "internet-facing"
    nodes = tuple(
        LbNode(
            zone=zone,
            subnet=site.name,
            netns=external.lb_netns,
            router_iface="",
            ip=str(next(private[zone])),
            prefixlen=32,
            gateway=str(gateway(site.network)),
            public_ip=str(next(public)) if internet else None,
        )
        for zone, site in zones.items()
    )
    dns = f"{name}-{naming.short_hash(name + emulation, 16)}.elb.{REGION}.amazonaws.com"
    return LoadBalancer("nlb", name, key, dns, scheme, nodes)


def nlb_name(key: str, scheme: str) -> str:
    """The controller's NLB name: ``k8s-``, 8 characters of namespace and name, 10 hex digits of a hash."""
    namespace, name = key.split("/", 1)
    digest = naming.short_hash(f"{key}/{scheme}", 10)
    return f"k8s-{_UNSAFE.sub('', namespace)[:8]}-{_UNSAFE.sub('', name)[:8]}-{digest}"
