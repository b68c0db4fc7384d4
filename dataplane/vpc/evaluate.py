"""Whether a packet's leg across the VPC passes the security groups and network ACLs, and if not, why.

The same rules ``render`` enforces, evaluated for expectations (``verify``'s
connectivity check) and explanations: a leg from one address to another
leaves the source ENI (its groups' outbound rules), leaves its subnet and
enters the destination's when they differ (their ACLs, lowest number first,
stateless), and enters the destination ENI (its groups' inbound rules).
Addresses outside the nodes and their pods have no ENI here and are only
judged by the ACLs.  Since ACLs are stateless, the reply is judged too, on
its way back to the client's ephemeral port: a reply no port of the Linux
range (32768-60999) gets through is dropped -- the ephemeral-port trap;
one that only part of the range gets through is counted as passing (which
port the client picks is chance).  Groups are stateful: replies pass.
"""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from dataplane.netpol.selectors import Selector
from dataplane.topology.plan import Node, Plan, Subnet

from .security import DEFAULT_GROUP, NaclEntry, SecurityGroup, VpcSecurity, read

EPHEMERAL = (32768, 60999)  # Linux's ip_local_port_range


def node_groups(security: VpcSecurity, node: Node) -> tuple[SecurityGroup, ...]:
    """The groups of the node's ENI: its own, or the VPC's default group."""
    names = node.security_groups or (DEFAULT_GROUP,)
    return tuple(security.groups[n] for n in names if n in security.groups)


def pod_groups(plan: Plan, security: VpcSecurity) -> dict[str, tuple[SecurityGroup, ...]]:
    """Security groups for pods: the groups of each pod a SecurityGroupPolicy selects (its branch ENI), by
    ``ns/pod``; the policies of one namespace that select a pod add up, in document order."""
    found: dict[str, list[SecurityGroup]] = {}
    for policy in (t for t in plan.traffic if t.kind == "SecurityGroupPolicy"):
        selector = Selector.from_spec(policy.spec.get("podSelector", {}))
        names = policy.spec.get("securityGroups", {}).get("groupIds", [])
        for pod in plan.pods:
            if pod.namespace != policy.namespace or not selector.matches(pod.labels):
                continue
            chosen = found.setdefault(pod.key, [])
            chosen += [security.groups[n] for n in names if n in security.groups and security.groups[n] not in chosen]
    return {key: tuple(groups) for key, groups in found.items()}


def members(plan: Plan, security: VpcSecurity) -> dict[str, tuple[str, ...]]:
    """Each group's member addresses: the ENIs' node addresses and the pod addresses they carry, and
    the pods whose branch ENI has the group."""
    branches = pod_groups(plan, security)
    found: dict[str, list[str]] = {}
    for node in plan.nodes:
        addresses = [node.ip, *(p.ip for p in plan.pods_on(node.name) if p.ip and p.key not in branches)]
        for group in node_groups(security, node):
            found.setdefault(group.name, []).extend(addresses)
    for pod in plan.pods:
        for group in branches.get(pod.key, ()):
            found.setdefault(group.name, []).append(pod.ip)
    return {name: tuple(dict.fromkeys(addresses)) for name, addresses in found.items()}


class VpcVerdicts:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.security: VpcSecurity = read(plan.vpc_security)
        self.members = members(plan, self.security)
        self.branches = pod_groups(plan, self.security)
        # an address's ENI: ("node", name) with the node's groups, or ("pod", key) with its branch ENI's
        self._eni: dict[str, tuple[str, str, tuple[SecurityGroup, ...]]] = {}
        for node in plan.nodes:
            self._eni[node.ip] = ("node", node.name, node_groups(self.security, node))
            for pod in plan.pods_on(node.name):
                if pod.key in self.branches:
                    self._eni.setdefault(pod.ip, ("pod", pod.key, self.branches[pod.key]))
                else:
                    self._eni.setdefault(pod.ip, self._eni[node.ip])

    @property
    def active(self) -> bool:
        return self.security.enforces_groups or any(s.network_acl for s in self.plan.subnets)

    def refusal(self, src: str, dst: str, protocol: str, port: int) -> str | None:
        """Why the leg ``src`` -> ``dst``:``port`` (or its reply) is dropped, or None."""
        if not self.active:
            return None
        source, target = self._eni.get(src), self._eni.get(dst)
        if source is not None and source is target and source[0] == "node":
            return None  # never leaves the node's ENI
        if source is not None and (why := self._group(source, dst, protocol, port, outbound=True)):
            return why
        from_subnet, to_subnet = self._subnet(src), self._subnet(dst)
        if from_subnet is not to_subnet:
            for why in (self._acl(from_subnet, dst, protocol, port, egress=True),
                        self._acl(to_subnet, src, protocol, port, egress=False),
                        self._reply(to_subnet, from_subnet, src, dst, protocol)):
                if why:
                    return why
        if target is not None and (why := self._group(target, src, protocol, port, outbound=False)):
            return why
        return None

    def _group(self, eni: tuple[str, str, tuple[SecurityGroup, ...]], peer: str, protocol: str, port: int,
               outbound: bool) -> str | None:
        if not self.security.enforces_groups:
            return None
        kind, name, groups = eni
        ip = IPv4Address(peer)
        for group in groups:
            for rule in group.egress if outbound else group.ingress:
                addresses = (rule.cidr,) if rule.cidr else self.members.get(rule.group or "", ())
                if rule.covers(protocol, port) and any(ip in IPv4Network(a, strict=False) for a in addresses):
                    return None
        names = ",".join(g.name for g in groups)
        way = "outbound" if outbound else "inbound"
        return f"security groups {names} of {'node' if kind == 'node' else 'the branch ENI of pod'} {name}: " \
               f"no {way} rule allows it"

    def _subnet(self, address: str) -> Subnet | None:
        ip = IPv4Address(address)
        return next((s for s in self.plan.subnets if ip in IPv4Network(s.cidr)), None)

    def _entries(self, subnet: Subnet | None, egress: bool) -> tuple[str, tuple[NaclEntry, ...]] | None:
        if subnet is None or subnet.network_acl is None or subnet.network_acl not in self.security.acls:
            return None
        acl = self.security.acls[subnet.network_acl]
        return f"{acl.name} (subnet {subnet.name}) {'egress' if egress else 'ingress'}", acl.direction(egress)

    def _acl(self, subnet: Subnet | None, peer: str, protocol: str, port: int, egress: bool) -> str | None:
        found = self._entries(subnet, egress)
        if found is None:
            return None
        label, entries = found
        entry = _first(entries, peer, protocol, port)
        if entry is None:
            return f"network ACL {label} rule * (deny)"
        return None if entry.allow else f"network ACL {label} rule {entry.number} (deny)"

    def _reply(self, server: Subnet | None, client: Subnet | None, src: str, dst: str, protocol: str) -> str | None:
        """The reply from ``dst`` back to ``src``'s ephemeral port: none of the range passing is a drop."""
        if protocol == "icmp":
            return None
        out, back = self._entries(server, True), self._entries(client, False)
        low, high = EPHEMERAL
        for port in (low, (low + high) // 2, high):  # the ranges ACLs use are wide: sample the edges and middle
            passes = all(
                found is None or ((entry := _first(found[1], peer, protocol, port)) is not None and entry.allow)
                for found, peer in ((out, src), (back, dst))
            )
            if passes:
                return None
        label = (out or back or ("", ()))[0]
        return f"network ACL {label}: the reply to the client's ephemeral port is dropped (stateless)"


def _first(entries: tuple[NaclEntry, ...], peer: str, protocol: str, port: int) -> NaclEntry | None:
    ip = IPv4Address(peer)
    return next((e for e in entries if e.covers(protocol, port) and ip in IPv4Network(e.cidr)), None)


_LAST: list[VpcVerdicts] = []


def verdicts(plan: Plan) -> VpcVerdicts:
    """The verdicts of ``plan``, kept for the next call with the same plan."""
    if not _LAST or _LAST[0].plan is not plan:
        _LAST[:] = [VpcVerdicts(plan)]
    return _LAST[0]
