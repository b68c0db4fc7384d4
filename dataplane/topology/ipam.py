"""Node and pod addresses, and overlay pod blocks.

vpc mode works like the Amazon VPC CNI: nodes and pods share their subnet,
whose network address, first three hosts (.1 is the router) and broadcast
address are reserved as AWS reserves them.  overlay mode gives node *i* the
*i*-th block of the pod CIDR; its network address is the node's VXLAN
address and pods take the block from its second host on.

Addresses are taken in a fixed order, so a file always gives the same plan:
explicit node addresses, then (with a ``previous`` plan) the addresses nodes
and pods already had, then the lowest free ones for everything new, nodes in
declaration order before pods in plan order.  The address of a pod that is
gone is handed out again only when nothing else is left: during a live change
the old pod still holds it until the new ones serve.  Room is checked before
anything new is handed out, so a subnet that is too small is one problem with
the numbers, not one per pod that did not fit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network

from .cluster_dns import is_cluster_dns
from .model import Layout, NodeSite, Origin, PodSpec, SubnetSite, TopologySpec
from .plan import Node, Plan
from .pool import Pool

RESERVED_HOSTS = 3  # .1 router, .2 DNS, .3 future use: AWS reserves these in every subnet


@dataclass
class Addresses:
    nodes: dict[str, IPv4Address] = field(default_factory=dict)
    pods: dict[str, IPv4Address] = field(default_factory=dict)  # by pod key
    blocks: dict[str, IPv4Network] = field(default_factory=dict)  # overlay: each node's pod CIDR


def gateway(network: IPv4Network) -> IPv4Address:
    """The subnet router's address: the first host, as in a VPC."""
    return network.network_address + 1


def allocate(
    topology: TopologySpec,
    layout: Layout,
    pods: list[PodSpec],
    placed: dict[str, NodeSite],
    previous: Plan | None,
) -> Addresses:
    """Addresses for every usable node and every placed pod; problems go to the topology's origin."""
    origin = topology.origin
    result = Addresses()
    subnet_pools = {
        s.name: Pool(int(s.network.network_address) + 1 + RESERVED_HOSTS, int(s.network.broadcast_address) - 1)
        for s in layout.subnets
    }
    _claim_explicit_node_ips(layout, subnet_pools, origin, result)
    old_nodes = {n.name: n for n in previous.nodes} if previous else {}
    old_pods = {p.key: p for p in previous.pods} if previous else {}
    for node in layout.nodes:
        before = old_nodes.get(node.name)
        if node.name not in result.nodes and before is not None and before.subnet == node.subnet.name:
            _keep(subnet_pools[node.subnet.name], IPv4Address(before.ip), node.name, result.nodes)

    placed_pods = [p for p in pods if p.key in placed]
    if topology.cni == "overlay":
        pod_pools = _overlay_pools(topology, layout, placed_pods, placed, old_nodes, result)
    else:
        pod_pools = {node.name: subnet_pools[node.subnet.name] for node in layout.nodes}
    for pod in placed_pods:
        old = old_pods.get(pod.key)
        node = placed[pod.key]
        if old is not None and old.node == node.name and node.name in pod_pools:
            _keep(pod_pools[node.name], IPv4Address(old.ip), pod.key, result.pods)
    # the address of a pod that is gone goes to a new pod only if nothing else is left
    gone = {int(IPv4Address(old.ip)) for old in old_pods.values()} - {int(a) for a in result.pods.values()}
    for pool in pod_pools.values():
        for value in gone:
            pool.set_aside(value)

    full = _subnets_too_small(topology, layout, subnet_pools, placed_pods, placed)
    for node in layout.nodes:
        if node.name not in result.nodes and node.subnet not in full:
            _take(subnet_pools[node.subnet.name], node.name, result.nodes)
    for pod in placed_pods:
        node = placed[pod.key]
        if pod.key not in result.pods and node.name in pod_pools and node.subnet not in full:
            _take(pod_pools[node.name], pod.key, result.pods)
    return result


def _keep(pool: Pool, address: IPv4Address, owner: str, into: dict[str, IPv4Address]) -> None:
    """Keep a previous address when it is still in range and nobody took it first."""
    if pool.keep(int(address), owner):
        into[owner] = address


def _take(pool: Pool, owner: str, into: dict[str, IPv4Address]) -> None:
    value = pool.next(owner)
    if value is not None:  # room was checked beforehand
        into[owner] = IPv4Address(value)


def _claim_explicit_node_ips(layout: Layout, pools: dict[str, Pool], origin: Origin, result: Addresses) -> None:
    for node in layout.nodes:
        address = node.spec.ip
        if address is None:
            continue
        network = node.subnet.network
        path = f"{node.spec.path}.ip"
        if address not in network:
            origin.report(path, f"{address} is not in subnet '{node.subnet.name}' ({network})")
        elif int(address) not in pools[node.subnet.name]:
            origin.report(
                path,
                f"{address} is reserved in subnet '{node.subnet.name}' "
                f"(the network address, the first {RESERVED_HOSTS} hosts and the broadcast address are)",
            )
        elif holder := pools[node.subnet.name].claim(int(address), node.name):
            origin.report(path, f"{address} is already the address of node '{holder}'")
        else:
            result.nodes[node.name] = address


def _subnets_too_small(
    topology: TopologySpec,
    layout: Layout,
    pools: dict[str, Pool],
    pods: list[PodSpec],
    placed: dict[str, NodeSite],
) -> list[SubnetSite]:
    """The subnets that cannot hold their nodes (and, in vpc mode, their pods)."""
    full = []
    nodes_in = Counter(n.subnet.name for n in layout.nodes)
    pods_in: dict[str, list[PodSpec]] = defaultdict(list)
    if topology.cni == "vpc":
        for pod in pods:
            pods_in[placed[pod.key].subnet.name].append(pod)
    for subnet in layout.subnets:
        nodes = nodes_in[subnet.name]
        on_subnet = pods_in[subnet.name]
        available = pools[subnet.name].size
        if nodes + len(on_subnet) > available:
            needs = f"{nodes} node{'s' if nodes != 1 else ''}"
            if topology.cni == "vpc":
                needs += f" and {_pods(on_subnet)}"
            topology.origin.report(
                f"{subnet.spec.path}.cidr",
                f"subnet '{subnet.name}' ({subnet.network}) is too small: {needs} need "
                f"{nodes + len(on_subnet)} addresses, it has {available}",
            )
            full.append(subnet)
    return full


def _pods(pods: list[PodSpec]) -> str:
    """``5 pods (2 of them cluster DNS)``: the count a user checks against the file, explained."""
    text = f"{len(pods)} pod{'s' if len(pods) != 1 else ''}"
    dns = sum(1 for p in pods if is_cluster_dns(p))
    return f"{text} ({dns} of them cluster DNS)" if dns else text


def _overlay_pools(
    topology: TopologySpec,
    layout: Layout,
    pods: list[PodSpec],
    placed: dict[str, NodeSite],
    old_nodes: dict[str, Node],
    result: Addresses,
) -> dict[str, Pool]:
    """Give each node its pod block; return a pool of pod addresses per node with room."""
    pod_cidr, mask = topology.pod_cidr, topology.node_mask
    if pod_cidr is None or mask is None:
        return {}
    count = 2 ** (mask - pod_cidr.prefixlen)
    if len(layout.nodes) > count:
        topology.origin.report(
            "spec.podCIDR",
            f"{pod_cidr} has room for {count} node blocks of /{mask}, but there are {len(layout.nodes)} nodes",
        )
        return {}
    blocks = Pool(0, count - 1)
    step = 2 ** (32 - mask)
    base = int(pod_cidr.network_address)
    for node in layout.nodes:
        old = old_nodes.get(node.name)
        if old is None or old.pod_cidr is None:
            continue
        block = IPv4Network(old.pod_cidr)
        if block.prefixlen != mask or not block.subnet_of(pod_cidr):
            continue
        if blocks.keep((int(block.network_address) - base) // step, node.name):
            result.blocks[node.name] = block
    for node in layout.nodes:
        if node.name not in result.blocks:
            index = blocks.next(node.name)
            assert index is not None  # there are at least as many blocks as nodes
            result.blocks[node.name] = IPv4Network((base + index * step, mask))
    pools = {}
    pods_on: dict[str, list[PodSpec]] = defaultdict(list)
    for pod in pods:
        pods_on[placed[pod.key].name].append(pod)
    for node in layout.nodes:
        block = result.blocks[node.name]
        pool = Pool(int(block.network_address) + 2, int(block.broadcast_address) - 1)
        wanted = pods_on[node.name]
        if len(wanted) > pool.size:
            topology.origin.report(
                "spec.nodeCIDRMaskSize",
                f"node '{node.name}' has {_pods(wanted)} but its pod block {block} has room for {pool.size}",
            )
            continue
        pools[node.name] = pool
    return pools
