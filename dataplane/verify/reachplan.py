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

from dataplane.topology.plan import Node, Plan, Pod
from dataplane.vpc.egress import Egress, read
from dataplane.vpc.evaluate import VpcVerdicts, verdicts


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
    """Whether the VPC declares anything that decides reachability (route tables, groups, ACLs, internet hosts)."""
    egress = read(plan.vpc_egress)
    return egress.enforced or bool(egress.hosts) or verdicts(plan).active


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
    leaving = node.ip if egress.enforced and plan.cni == "vpc" else source_ip
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
    public = egress.public_ips.get(node.name)
    if public is None:
        return None, f"{where}: {route.destination} via igw, but node {node.name} has no public IPv4 address"
    return public, f"{where}: {route.destination} via igw as {public}"
