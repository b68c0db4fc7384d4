"""Addresses and names for the VPC's gateways and public IPs (``vpc.egress``), chosen once per plan.

A NAT gateway takes a private address from the top of its subnet (below the
load balancers' nodes, as the ALB's are taken) and an Elastic IP; Elastic
IPs and nodes' public IPs come from the load-balancer pool of the public
segment, from the top down after the load balancers' public addresses, so
the outside client already routes them to the internet gateway.  An
address the file names must lie in that pool and be free.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from ..vpc.egress import IDLE_TIMEOUT_SECONDS, MAX_CONNECTIONS_PER_DESTINATION
from . import naming
from .albs import downwards
from .ipam import Addresses
from .model import Layout, TopologySpec
from .plan import External, LoadBalancer
from .vips import ServiceAddresses


def plan_egress(
    topology: TopologySpec, layout: Layout, addresses: Addresses, services: ServiceAddresses,
    external: External, load_balancers: Sequence[LoadBalancer],
) -> dict[str, Any]:
    """``topology.vpc_egress`` with each NAT gateway's and public node's addresses filled in."""
    raw = topology.vpc_egress
    if not raw:
        return {}
    report = topology.origin.report
    assert topology.name is not None
    pool = IPv4Network(external.lb_pool)
    lb_nodes = [n for lb in load_balancers for n in lb.nodes]
    taken_public = {*services.load_balancer_ips.values(), *(IPv4Address(n.public_ip) for n in lb_nodes if n.public_ip)}
    declared = [IPv4Address(a) for a in [*(n.get("elasticIp") for n in raw.get("natGateways", [])),
                                         *raw.get("publicIps", {}).values()] if a and a != "auto"]
    public = downwards(pool, taken_public | set(declared))

    def elastic(at: str, wanted: str | None) -> str:
        if wanted is None or wanted == "auto":
            found = next(public, None)
            if found is None:
                report(at, f"no free address left in the load-balancer pool {pool}")
            return str(found or "")
        address = IPv4Address(wanted)
        if address not in pool:
            report(at, f"{address} is outside the load-balancer pool {pool}, where the emulation's public addresses live")
        elif address in taken_public:
            report(at, f"{address} is already a load balancer's address")
        return str(address)

    taken_private = {*addresses.nodes.values(), *addresses.pods.values(), *(IPv4Address(n.ip) for n in lb_nodes)}
    private: dict[str, Iterator[IPv4Address]] = {s.name: downwards(s.network, taken_private) for s in layout.subnets}
    nats = []
    for i, nat in enumerate(raw.get("natGateways", [])):
        name = nat["name"]
        address = next(private[nat["subnet"]], None)
        if address is None:
            report(f"spec.vpc.natGateways[{i}].subnet", f"subnet {nat['subnet']} has no free address left")
        nats.append({
            "name": name,
            "subnet": nat["subnet"],
            "private_ip": str(address or ""),
            "elastic_ip": elastic(f"spec.vpc.natGateways[{i}].elasticIp", nat.get("elasticIp")),
            "netns": naming.infra_netns(topology.name, f"nat_{name}"),
            "router_iface": naming.ifname("g-", name),
            "max_per_destination": nat.get("maxConnectionsPerDestination", MAX_CONNECTIONS_PER_DESTINATION),
            "idle_timeout": nat.get("idleTimeoutSeconds", IDLE_TIMEOUT_SECONDS),
        })
    index = {n.name: i for i, n in enumerate(topology.nodes)}
    public_ips = {node: elastic(f"spec.nodes[{index.get(node, 0)}].elasticIp", wanted)
                  for node, wanted in raw.get("publicIps", {}).items()}
    return {**raw, "natGateways": nats, "publicIps": public_ips}
