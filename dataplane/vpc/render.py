"""The nftables that enforce security groups (per node ENI) and network ACLs (in the VPC router).

Security groups sit on the node's ``eth0``, its ENI, which its pods share:
inbound in a prerouting chain after conntrack and before kube-proxy's DNAT
(priority -190), so a rule sees the packet as it reaches the ENI (a
NodePort, not the pod it becomes); outbound in a postrouting chain after
SNAT (priority 110), as the packet leaves.  Established and related flows
pass first -- a group is stateful -- then any rule of any of the ENI's
groups accepts; the rest is dropped and counted, the comment naming the
groups.  Traffic between two pods of one node never reaches the ENI.  A pod
a SecurityGroupPolicy selects has a branch ENI of its own (strict mode): the
node's groups let its traffic by, and a forward chain judges it at the pod's
veth by its own groups, same-node traffic included.

Network ACLs sit in the router's forward chain on the subnets' bridges:
a packet leaving subnet A for another checks A's egress entries, then the
destination subnet's ingress entries, lowest number first, an allow
returning to the next check and a deny dropping; the final ``*`` entry
drops.  No conntrack: a reply is judged like any packet, which is the
ephemeral-port trap.  Traffic within a subnet is bridged and never judged.
"""

from __future__ import annotations

from dataplane.kubeproxy.nftext import Chain, Table, comment
from dataplane.topology.plan import Node, Plan

from .evaluate import members, node_groups, pod_groups
from .security import NaclEntry, SgRule, VpcSecurity

FAMILY = "inet"
SG_TABLE = "dpctl-sg"
NACL_TABLE = "dpctl-nacl"
ENI = "eth0"


def render_node(plan: Plan, node: Node, security: VpcSecurity) -> str:
    """The ``nft -f`` text replacing ``node``'s security-group table (empty chains when none applies)."""
    table = Table(FAMILY, SG_TABLE, "EC2 security groups of the node's ENI (dpctl)")
    inbound = table.chain("ingress", "type filter hook prerouting priority -190")
    outbound = table.chain("egress", "type filter hook postrouting priority 110")
    branch = table.chain("branch", "type filter hook forward priority 0")
    if security.enforces_groups:
        groups = node_groups(security, node)
        known = members(plan, security)
        branches = pod_groups(plan, security)
        own = [p for p in plan.pods_on(node.name) if p.key in branches]
        names = ",".join(g.name for g in groups)
        inbound.add(f'iifname != "{ENI}" accept')
        outbound.add(f'oifname != "{ENI}" accept')
        if own:  # pods with a branch ENI are judged at their veth, by their own groups
            addresses = ", ".join(p.ip for p in own)
            inbound.add(f"ip daddr {{ {addresses} }} accept {comment('to a branch ENI: judged at the pod')}")
            outbound.add(f"ip saddr {{ {addresses} }} accept {comment('from a branch ENI: judged at the pod')}")
        for chain in (inbound, outbound):
            chain.add("ct state established,related accept")
        _rules(inbound, "saddr", [(g.name, i, r) for g in groups for i, r in enumerate(g.ingress)], known,
               "ingress", "accept")
        inbound.add(f"counter drop {comment(f'security groups {names} of node {node.name}: no inbound rule allows it')}")
        _rules(outbound, "daddr", [(g.name, i, r) for g in groups for i, r in enumerate(g.egress)], known,
               "egress", "accept")
        outbound.add(f"counter drop {comment(f'security groups {names} of node {node.name}: no outbound rule allows it')}")
        if own:
            branch.add("ct state established,related accept")
        for pod in own:  # a pod's branch ENI: allowed traffic returns to the next check, as ACLs do
            pod_names = ",".join(g.name for g in branches[pod.key])
            for way, iface, field, rules in (("in", "oifname", "saddr", "ingress"), ("out", "iifname", "daddr", "egress")):
                chain = table.chain(f"{way}-{pod.host_iface}")
                branch.add(f'{iface} "{pod.host_iface}" jump {way}-{pod.host_iface} {comment(pod.key)}')
                picked = [(g.name, i, r) for g in branches[pod.key] for i, r in enumerate(getattr(g, rules))]
                _rules(chain, field, picked, known, rules, "return")
                way_text = "inbound" if way == "in" else "outbound"
                chain.add(f"counter drop {comment(f'security groups {pod_names} of the branch ENI of pod {pod.key}: no {way_text} rule allows it')}")
    return table.text()


def _rules(
    chain: Chain, field: str, rules: list[tuple[str, int, SgRule]], known: dict[str, tuple[str, ...]],
    direction: str, verdict: str,
) -> None:
    for group, index, rule in rules:
        peer = (rule.cidr,) if rule.cidr else known.get(rule.group or "", ())
        if not peer:
            continue  # a group with no member matches nothing
        chain.add(f"ip {field} {{ {', '.join(peer)} }} {_l4(rule.protocol, rule.from_port, rule.to_port)}"
                  f"{verdict} {comment(f'sg {group} {direction}[{index}]')}")


def _l4(protocol: str, low: int, high: int) -> str:
    if protocol == "all":
        return ""
    if protocol == "icmp" or (low, high) == (0, 65535):
        return f"meta l4proto {protocol} "
    ports = f"{low}" if low == high else f"{low}-{high}"
    return f"meta l4proto {protocol} th dport {ports} "


def render_router(plan: Plan, security: VpcSecurity) -> str:
    """The ``nft -f`` text replacing the router's network-ACL table."""
    table = Table(FAMILY, NACL_TABLE, "EC2 network ACLs of the subnets (dpctl)")
    forward = table.chain("forward", "type filter hook forward priority 0")
    guarded = [(s, security.acls[s.network_acl]) for s in plan.subnets
               if s.network_acl is not None and s.network_acl in security.acls]
    for subnet, acl in guarded:  # leaving a subnet first, then entering the next one
        forward.add(f'iifname "{subnet.bridge}" oifname != "{subnet.bridge}" jump out-{subnet.name}')
        _acl(table.chain(f"out-{subnet.name}"), acl.direction(True), "daddr", f"{acl.name} (subnet {subnet.name}) egress")
    for subnet, acl in guarded:
        forward.add(f'oifname "{subnet.bridge}" iifname != "{subnet.bridge}" jump in-{subnet.name}')
        _acl(table.chain(f"in-{subnet.name}"), acl.direction(False), "saddr", f"{acl.name} (subnet {subnet.name}) ingress")
    return table.text()


def _acl(chain: Chain, entries: tuple[NaclEntry, ...], field: str, label: str) -> None:
    for entry in entries:
        verdict = "return" if entry.allow else "counter drop"
        chain.add(f"ip {field} {entry.cidr} {_l4(entry.protocol, entry.from_port, entry.to_port)}{verdict} "
                  f"{comment(f'network ACL {label} rule {entry.number}')}")
    chain.add(f"counter drop {comment(f'network ACL {label} rule * (deny)')}")
