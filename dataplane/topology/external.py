"""The world outside the VPC: a public segment with a client and a load balancer.

Every plan has one, whether the file mentions it or not, so LoadBalancer
Services, NodePorts and externalIPs can always be tried from outside the
cluster.  The public segment (default 203.0.113.0/24, TEST-NET-3, never
routed on the real internet) holds the load balancer at its first host, the
client at its second, and the LoadBalancer VIPs in a pool (default: its upper
half, so the two fixed addresses stay out of it).  A point-to-point transit
link joins the load balancer to the VPC router; its default is from the
carrier-grade NAT range, which VPCs rarely use.  That none of these overlaps
the cluster's ranges is checked in ``validate``; this module places the
fixed addresses and checks the pool against them.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from . import naming
from .model import TopologySpec
from .plan import External

DEFAULT_PUBLIC_CIDR = "203.0.113.0/24"
DEFAULT_TRANSIT_CIDR = "100.64.0.0/30"


def default_pool(public: IPv4Network) -> IPv4Network:
    """The upper half of the public segment (a /29 or larger: its own check comes first)."""
    return list(public.subnets(prefixlen_diff=1))[1]


def plan_external(topology: TopologySpec) -> External | None:
    """The outside world of the plan, or None when a range it needs failed its own check."""
    public, transit, pool = topology.public_cidr, topology.transit_cidr, topology.lb_pool
    if topology.name is None or public is None or transit is None or pool is None:
        return None
    lb_ip, client_ip = _host(public, 1), _host(public, 2)
    report = topology.origin.report
    if not pool.subnet_of(public):
        report("spec.loadBalancer.pool", f"{pool} is not inside the public segment spec.external.cidr ({public})")
    elif lb_ip in pool or client_ip in pool:
        report(
            "spec.loadBalancer.pool",
            f"{pool} contains the first two hosts of {public}, the load balancer ({lb_ip}) and the "
            f"external client ({client_ip}); use a pool without them, such as {default_pool(public)}",
        )
    return External(
        public_cidr=str(public),
        lb_pool=str(pool),
        client_netns=naming.infra_netns(topology.name, naming.EXTERNAL),
        client_ip=str(client_ip),
        lb_netns=naming.infra_netns(topology.name, naming.LOADBALANCER),
        lb_ip=str(lb_ip),
        transit_cidr=str(transit),
        router_transit_ip=str(_host(transit, 1)),
        lb_transit_ip=str(_host(transit, 2)),
    )


def _host(network: IPv4Network, index: int) -> IPv4Address:
    return network.network_address + index
