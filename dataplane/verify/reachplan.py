"""The intended reachability of the VPC, from the plan alone (as AWS's Reachability Analyzer computes it).

For every pair of nodes, and for every node and one pod per node to every
internet host, what should happen to a new TCP connection on ``port``: it
arrives, and the server sees it from a given address (the source itself
inside the VPC; the node's public address after the internet gateway's 1:1
NAT; a NAT gateway's Elastic IP), or it is dropped, and by what: the
source subnet's route table (no route, a blackhole), the internet gateway
(no public address), a security group or a network ACL
(``vpc.evaluate``).  A route leaving through a NAT gateway is judged on the
source's side only: the NAT gateway's own subnet ACL is not modelled here.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from dataplane.topology.plan import Node, Plan, Pod
from dataplane.vpc.egress import Egress, read
from dataplane.vpc.evaluate import VpcVerdicts, verdicts
from dataplane.vpc.network import Network
from dataplane.vpc.network import read as read_network


@dataclass(frozen=True)
class Reach:
    subject: str
    source_netns: str
    source_ip: str
    target_netns: str  # where the check listens
    target_ip: str
    seen_as: str | None  # the source address the server must see; None: the connection must not arrive
    why: str  # how it gets there, or what drops it


def analysed(plan: Plan) -> bool:
    """Whether the VPC declares anything that decides reachability (route tables, groups, ACLs, internet hosts,
    other VPCs or an on-premises site)."""
    egress = read(plan.vpc_egress)
    return egress.enforced or bool(egress.hosts) or verdicts(plan).active or bool(plan.vpc_network)


def sample_pods(plan: Plan) -> list[Pod]:
    """The first pod of each node, in the plan's order."""
    found: dict[str, Pod] = {}
    for pod in plan.pods:
        found.setdefault(pod.node, pod)
    return list(found.values())


def trials(plan: Plan, port: int) -> list[Reach]:
    egress = read(plan.vpc_egress)
    vpc = verdicts(plan)
    found = []
    for source in plan.nodes:
        for target in plan.nodes:
            if target is source:
                continue
            why = vpc.refusal(source.ip, target.ip, "tcp", port)
            found.append(Reach(f"node {source.name} -> node {target.name}:{port}", source.netns, source.ip,
                               target.netns, target.ip, None if why else source.ip, why or "local route"))
    found += network_trials(plan, port)
    if plan.external is None:
        return found
    sources: list[tuple[str, str, str, Node]] = [(f"node {n.name}", n.netns, n.ip, n) for n in plan.nodes]
    sources += [(f"pod {p.key} (node {p.node})", p.netns, p.ip, plan.node(p.node)) for p in sample_pods(plan)]
    for host in egress.hosts:
        for label, netns_name, ip, node in sources:
            seen_as, why = _to_internet(plan, egress, vpc, ip, node, host.ip, port)
            found.append(Reach(f"{label} -> internet {host.name} ({host.ip}):{port}", netns_name, ip,
                               plan.external.client_netns, host.ip, seen_as, why))
    return found


def _to_internet(plan: Plan, egress: Egress, vpc: VpcVerdicts, source_ip: str, node: Node, host_ip: str,
                 port: int) -> tuple[str | None, str]:
    """(the address the host sees or None, why) for a connection from ``source_ip`` on ``node``."""
    # The VPC CNI SNATs a pod's traffic leaving the VPC to its node's address (enforced VPCs only).
    leaving = node.ip if egress.enforced and plan.cni == "vpc" and egress.snat_by_node(host_ip, plan.vpc_cidr) \
        else source_ip
    if not egress.enforced:
        return source_ip, "flat VPC: no route table, no NAT"
    blocked = vpc.refusal(leaving, host_ip, "tcp", port)
    if blocked:
        return None, blocked
    route = egress.route(node.subnet, host_ip, plan.vpc_cidr)
    dropped = egress.unroutable(node.subnet, host_ip, route)
    if dropped:
        return None, dropped
    assert route is not None  # no route is a reason to drop
    where = egress.where(node.subnet)
    kind, _, name = route.target.partition("/")
    if kind == "nat":
        return egress.nat(name).elastic_ip, f"{where}: {route.destination} via nat/{name}"
    if leaving != node.ip:
        return None, (f"{where}: {route.destination} via igw, but the pod's {leaving} has no public IPv4 address "
                      "(the VPC CNI leaves its SNAT to an external NAT: AWS_VPC_K8S_CNI_EXTERNALSNAT)")
    public = egress.public_ips.get(node.name)
    if public is None:
        return None, f"{where}: {route.destination} via igw, but node {node.name} has no public IPv4 address"
    return public, f"{where}: {route.destination} via igw as {public}"


@dataclass(frozen=True)
class _Place:
    """One end of a trial beyond the cluster's nodes: what it is called, where it listens or sends from."""

    label: str
    netns: str
    ip: str
    vpc: str | None  # None: the on-premises site
    subnet: str | None
    node: Node | None = None  # a cluster node, or the node of a sampled pod
    pod: bool = False


def network_trials(plan: Plan, port: int) -> list[Reach]:
    """Nodes, a pod per node, the instances and the site's first host to the instances, the site's hosts and
    (from outside the cluster's VPC) the nodes: forward path, reply path, the groups and ACLs of the
    cluster's VPC on the way."""
    if not plan.vpc_network:
        return []
    network = read_network(plan.vpc_network, read(plan.vpc_egress))
    cluster = network.cluster.name
    nodes = [_Place(f"node {n.name}", n.netns, n.ip, cluster, n.subnet, n) for n in plan.nodes]
    pods = [_Place(f"pod {p.key} (node {p.node})", p.netns, p.ip, cluster, plan.node(p.node).subnet,
                   plan.node(p.node), pod=True) for p in sample_pods(plan)]
    instances = [_Place(f"ec2 {i.name}", i.netns, i.ip, i.vpc, i.subnet) for i in network.instances]
    site = network.on_premises
    hosts = [_Place(f"on-premises {site.name} {name}", site.netns, ip, None, None)
             for name, ip in site.hosts] if site else []
    found = []
    for source in [*nodes, *pods, *instances, *hosts[:1]]:
        targets = [*instances, *hosts] + (nodes if source.vpc != cluster else [])
        for target in targets:
            if target.ip == source.ip or (source.vpc is None and target.vpc is None):
                continue
            seen_as, why = _across(plan, network, source, target, port)
            found.append(Reach(f"{source.label} -> {target.label} ({target.ip}):{port}", source.netns, source.ip,
                               target.netns, target.ip, seen_as, why))
    return found


def _across(plan: Plan, network: Network, source: _Place, target: _Place, port: int) -> tuple[str | None, str]:
    """(the address ``target`` sees or None, why) for a connection between two places of the network."""
    leaving = source.ip
    cluster = network.cluster
    if source.pod and source.node is not None and not _unsnatted(plan, cluster.cidr, target.ip):
        egress = read(plan.vpc_egress)
        snat = plan.cni == "overlay" or (egress.enforced and egress.snat_by_node(target.ip, cluster.cidr))
        leaving = source.node.ip if snat else source.ip  # the CNI's SNAT of pod traffic leaving the VPC
    if source.vpc == cluster.name or target.vpc == cluster.name:
        blocked = verdicts(plan).refusal(leaving, target.ip, "tcp", port)
        if blocked:
            return None, blocked
    there, how = network.path(source.vpc, source.subnet, target.ip)
    if not there:
        return None, how
    back, how_back = network.path(target.vpc, target.subnet, leaving)
    if not back:
        return None, f"{how}; the reply: {how_back}"
    return leaving, how


def _unsnatted(plan: Plan, vpc_cidr: str, address: str) -> bool:
    """Whether a pod reaches ``address`` from its own address: inside the VPC (or the overlay's pod range)."""
    ranges = (vpc_cidr, *((plan.pod_cidr,) if plan.pod_cidr else ()))
    return any(IPv4Address(address) in IPv4Network(r) for r in ranges)
