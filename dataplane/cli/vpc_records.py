"""What ``dpctl get securitygroups`` and ``dpctl get networkacls`` show, from the plan.

A group lists its rules in EC2's words and the nodes whose ENI carries it
(their pods share it); an ACL its subnets and its entries in evaluation
order, the implicit final deny included.
"""

from __future__ import annotations

from typing import Any

from dataplane.cli.context import print_json, print_table
from dataplane.topology.plan import Plan
from dataplane.vpc.evaluate import node_groups
from dataplane.vpc.security import NaclEntry, SgRule, read

GROUPS = ("securitygroups", "securitygroup", "sg")
ACLS = ("networkacls", "networkacl", "nacl")
RESOURCES = (*GROUPS, *ACLS)


def _ports(protocol: str, low: int, high: int) -> str:
    if protocol == "all":
        return "all"
    if protocol == "icmp" or (low, high) == (0, 65535):
        return protocol
    return f"{protocol}/{low}" if low == high else f"{protocol}/{low}-{high}"


def _rule(rule: SgRule) -> str:
    return f"{_ports(rule.protocol, rule.from_port, rule.to_port)} {rule.cidr or 'sg:' + str(rule.group)}"


def _entry(entry: NaclEntry) -> str:
    action = "allow" if entry.allow else "deny"
    return f"{entry.number} {_ports(entry.protocol, entry.from_port, entry.to_port)} {entry.cidr} {action}"


def groups(plan: Plan) -> list[dict[str, Any]]:
    security = read(plan.vpc_security)
    carriers = {name: [n.name for n in plan.nodes if any(g.name == name for g in node_groups(security, n))]
                for name in security.groups}
    return [{"name": g.name, "ingress": [_rule(r) for r in g.ingress], "egress": [_rule(r) for r in g.egress],
             "nodes": carriers[g.name]} for g in security.groups.values()]


def acls(plan: Plan) -> list[dict[str, Any]]:
    security = read(plan.vpc_security)
    return [{"name": a.name, "subnets": [s.name for s in plan.subnets if s.network_acl == a.name],
             "ingress": [*(_entry(e) for e in a.direction(False)), "* all 0.0.0.0/0 deny"],
             "egress": [*(_entry(e) for e in a.direction(True)), "* all 0.0.0.0/0 deny"]}
            for a in security.acls.values()]


def show(plan: Plan, resource: str, output: str) -> None:
    records = groups(plan) if resource in GROUPS else acls(plan)
    if output == "json":
        print_json(records)
        return
    first = ["NAME", "NODES"] if resource in GROUPS else ["NAME", "SUBNETS"]
    key = "nodes" if resource in GROUPS else "subnets"
    print_table([*first, "INBOUND", "OUTBOUND"], [
        [r["name"], ",".join(r[key]) or "-", "; ".join(r["ingress"]) or "none", "; ".join(r["egress"]) or "none"]
        for r in records
    ])
