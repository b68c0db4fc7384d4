"""Security groups and network ACLs as the Topology declares them (EC2's names and defaults).

A security group (``securityGroups[]``: ``name``, ``ingress``/``egress``
rules of ``protocol`` -- ``tcp``, ``udp``, ``icmp`` or ``-1`` for all --
``fromPort``..``toPort`` and one of ``cidr`` or ``sourceGroup`` (ingress) /
``destinationGroup`` (egress)) is stateful and allow-only; a new group
without ``egress`` allows all outbound, as EC2 creates it.  A node's
``securityGroups`` name the groups of its ENI (at most 5); when the
Topology declares any group, a node naming none gets the VPC's ``default``
group: inbound from its own members, all outbound.  Pods share their
node's ENI, and so its groups (the VPC CNI without security groups for
pods).

A network ACL (``networkAcls[]``: ``name``, ``entries`` of ``ruleNumber``
1-32766, ``egress``, ``protocol``, ``portRange: {from, to}``, ``cidrBlock``,
``ruleAction`` allow|deny) is stateless, evaluated lowest number first with
a final deny; a subnet names one with ``networkAcl`` and otherwise has the
default ACL, which allows everything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv4Network
from typing import Any

PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp", "-1": "all", "all": "all"}
MAX_GROUPS_PER_ENI = 5
DEFAULT_GROUP = "default"
MAX_RULE_NUMBER = 32766


@dataclass(frozen=True)
class SgRule:
    protocol: str  # tcp | udp | icmp | all
    from_port: int  # 0..65535 (all ports when the protocol has none or is "all")
    to_port: int
    cidr: str | None = None
    group: str | None = None  # sourceGroup (ingress) or destinationGroup (egress)

    def covers(self, protocol: str, port: int) -> bool:
        if self.protocol == "all":
            return True
        return self.protocol == protocol and (protocol == "icmp" or self.from_port <= port <= self.to_port)


@dataclass(frozen=True)
class SecurityGroup:
    name: str
    ingress: tuple[SgRule, ...]
    egress: tuple[SgRule, ...]


@dataclass(frozen=True)
class NaclEntry:
    number: int
    egress: bool
    protocol: str
    from_port: int
    to_port: int
    cidr: str
    allow: bool

    def covers(self, protocol: str, port: int) -> bool:
        if self.protocol == "all":
            return True
        return self.protocol == protocol and (protocol == "icmp" or self.from_port <= port <= self.to_port)


@dataclass(frozen=True)
class NetworkAcl:
    name: str
    entries: tuple[NaclEntry, ...]  # sorted by rule number

    def direction(self, egress: bool) -> tuple[NaclEntry, ...]:
        return tuple(e for e in self.entries if e.egress == egress)


@dataclass(frozen=True)
class VpcSecurity:
    groups: Mapping[str, SecurityGroup]
    acls: Mapping[str, NetworkAcl]

    @property
    def enforces_groups(self) -> bool:
        return bool(self.groups)


DEFAULT_SG = SecurityGroup(DEFAULT_GROUP, (SgRule("all", 0, 65535, group=DEFAULT_GROUP),), (SgRule("all", 0, 65535, "0.0.0.0/0"),))


def read(spec: Mapping[str, Any]) -> VpcSecurity:
    """The groups and ACLs of a checked ``spec.vpc`` (``check`` reported what is wrong)."""
    groups = {g["name"]: _group(g) for g in spec.get("securityGroups", []) if "name" in g}
    if groups and DEFAULT_GROUP not in groups:
        groups[DEFAULT_GROUP] = DEFAULT_SG
    acls = {a["name"]: NetworkAcl(a["name"], tuple(sorted((_entry(e) for e in a.get("entries", [])),
                                                              key=lambda e: e.number)))
            for a in spec.get("networkAcls", []) if "name" in a}
    return VpcSecurity(groups, acls)


def _protocol(raw: Any) -> str:
    return PROTOCOLS.get(str(raw).lower(), "all")


def _ports(protocol: str, low: Any, high: Any) -> tuple[int, int]:
    if protocol in ("all", "icmp") or low is None:
        return 0, 65535
    return int(low), int(high if high is not None else low)


def _rule(raw: Mapping[str, Any], peer_field: str) -> SgRule:
    protocol = _protocol(raw.get("protocol", "-1"))
    low, high = _ports(protocol, raw.get("fromPort"), raw.get("toPort"))
    return SgRule(protocol, low, high, raw.get("cidr"), raw.get(peer_field))


def _group(raw: Mapping[str, Any]) -> SecurityGroup:
    egress = raw.get("egress")
    return SecurityGroup(
        raw["name"],
        tuple(_rule(r, "sourceGroup") for r in raw.get("ingress", [])),
        tuple(_rule(r, "destinationGroup") for r in egress) if egress is not None else (SgRule("all", 0, 65535, "0.0.0.0/0"),),
    )


def _entry(raw: Mapping[str, Any]) -> NaclEntry:
    protocol = _protocol(raw.get("protocol", "-1"))
    ports = raw.get("portRange", {})
    low, high = _ports(protocol, ports.get("from"), ports.get("to"))
    return NaclEntry(int(raw["ruleNumber"]), bool(raw.get("egress", False)), protocol, low, high,
                     str(raw.get("cidrBlock", "0.0.0.0/0")), raw.get("ruleAction", "allow") == "allow")


def check(spec: Mapping[str, Any], subnets: list[Mapping[str, Any]], nodes: list[Mapping[str, Any]],
          at_vpc: str = "spec.vpc") -> list[tuple[str, str]]:
    """(field path, message) of what EC2 would refuse in the cluster's VPC (``at_vpc`` in the file) and the
    nodes' groups."""
    found: list[tuple[str, str]] = []
    names: set[str] = set()
    for i, group in enumerate(spec.get("securityGroups", [])):
        at = f"{at_vpc}.securityGroups[{i}]"
        if group.get("name") in names:
            found.append((f"{at}.name", f"{group.get('name')!r} is declared twice"))
        names.add(group.get("name", ""))
    known = names | {DEFAULT_GROUP}
    for i, group in enumerate(spec.get("securityGroups", [])):
        for direction, peer_field in (("ingress", "sourceGroup"), ("egress", "destinationGroup")):
            for r, rule in enumerate(group.get(direction) or []):
                found += _check_rule(f"{at_vpc}.securityGroups[{i}].{direction}[{r}]", rule, peer_field, known)
    acl_names: set[str] = set()
    for i, acl in enumerate(spec.get("networkAcls", [])):
        at = f"{at_vpc}.networkAcls[{i}]"
        if acl.get("name") in acl_names:
            found.append((f"{at}.name", f"{acl.get('name')!r} is declared twice"))
        acl_names.add(acl.get("name", ""))
        seen: set[tuple[bool, int]] = set()
        for e, entry in enumerate(acl.get("entries", [])):
            where = f"{at}.entries[{e}]"
            number, egress = entry.get("ruleNumber"), bool(entry.get("egress", False))
            if isinstance(number, int) and not 1 <= number <= MAX_RULE_NUMBER:
                found.append((f"{where}.ruleNumber", f"must be within 1-{MAX_RULE_NUMBER}; got {number}"))
            if (egress, number) in seen:
                found.append((f"{where}.ruleNumber", f"rule {number} is already an {'egress' if egress else 'ingress'} "
                              "entry of this ACL"))
            seen.add((egress, number))
            found += _check_ports(where, entry.get("protocol", "-1"), entry.get("portRange", {}).get("from"),
                                  entry.get("portRange", {}).get("to"), "portRange.from", "portRange.to")
            found += _check_cidr(f"{where}.cidrBlock", entry.get("cidrBlock"))
    for i, subnet in enumerate(subnets):
        acl = subnet.get("networkAcl")
        if acl is not None and acl not in acl_names:
            found.append((f"{at_vpc}.subnets[{i}].networkAcl", f"no network ACL {acl!r} (declared: "
                          f"{', '.join(sorted(acl_names)) or 'none'})"))
    for i, node in enumerate(nodes):
        groups = node.get("securityGroups", [])
        if len(groups) > MAX_GROUPS_PER_ENI:
            found.append((f"spec.nodes[{i}].securityGroups", f"an ENI takes at most {MAX_GROUPS_PER_ENI} groups"))
        for g, name in enumerate(groups):
            if name not in known:
                found.append((f"spec.nodes[{i}].securityGroups[{g}]", f"no security group {name!r} (declared: "
                              f"{', '.join(sorted(names)) or 'none'})"))
    return found


def _check_rule(at: str, rule: Mapping[str, Any], peer_field: str, known: set[str]) -> list[tuple[str, str]]:
    found = _check_ports(at, rule.get("protocol", "-1"), rule.get("fromPort"), rule.get("toPort"), "fromPort", "toPort")
    has_cidr, peer = "cidr" in rule, rule.get(peer_field)
    if has_cidr == (peer is not None):
        found.append((at, f"a rule names exactly one of cidr or {peer_field}"))
    if has_cidr:
        found += _check_cidr(f"{at}.cidr", rule.get("cidr"))
    if peer is not None and peer not in known:
        found.append((f"{at}.{peer_field}", f"no security group {peer!r}"))
    return found


def _check_ports(at: str, protocol: Any, low: Any, high: Any, low_field: str, high_field: str) -> list[tuple[str, str]]:
    if str(protocol).lower() not in PROTOCOLS:
        return [(f"{at}.protocol", f"must be tcp, udp, icmp or -1 (all); got {protocol!r}")]
    if _protocol(protocol) in ("all", "icmp"):
        return []
    found = []
    for field, value in ((low_field, low), (high_field, high)):
        if value is None:
            found.append((f"{at}.{field}", f"a {protocol} rule needs {field}"))
        elif not 0 <= value <= 65535:
            found.append((f"{at}.{field}", f"must be within 0-65535; got {value}"))
    if isinstance(low, int) and isinstance(high, int) and low > high:
        found.append((f"{at}.{high_field}", f"{high_field} ({high}) is below {low_field} ({low})"))
    return found


def _check_cidr(at: str, text: Any) -> list[tuple[str, str]]:
    try:
        IPv4Network(str(text), strict=True)
    except ValueError as exc:
        return [(at, f"not an IPv4 CIDR block: {exc}")]
    return []
