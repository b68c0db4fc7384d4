"""Which pods the NetworkPolicies isolate, and what each direction then allows.

A pod is isolated for ingress (egress) when at least one policy of its
namespace selects it and has that policy type; it then accepts only what
the union of those policies' rules allows -- with no rule, nothing (the
default deny).  A pod no policy selects is not isolated: everything passes.
Peers become addresses: the IPs of the pods the selectors pick (every
namespace's pods for a ``namespaceSelector``, matched on the namespace's
labels, which include ``kubernetes.io/metadata.name``), or an ``ipBlock``'s
CIDR less its exceptions.  A named port means, for ingress, the isolated
pod's own container port of that name; for egress, each peer pod's, so an
egress rule with a named port allows each peer pod on its own number (and
no ``ipBlock`` address, which has no ports to name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network

from dataplane.topology.plan import Plan, Pod

from .model import NetworkPolicy, Peer, Port, Rule, from_spec

PortRange = tuple[str, int, int]  # (protocol, first, last)


@dataclass(frozen=True)
class Allow:
    """What one rule lets through: peers at ``addresses`` (CIDRs; None: any address) less
    ``excepts``, on ``ports`` (None: every port and protocol).  ``source`` names the rule."""

    addresses: tuple[str, ...] | None
    excepts: tuple[str, ...]
    ports: tuple[PortRange, ...] | None
    source: str


@dataclass(frozen=True)
class PodPolicy:
    """A pod's enforcement: per direction, None when not isolated, else what is allowed."""

    pod: Pod
    ingress: tuple[Allow, ...] | None
    egress: tuple[Allow, ...] | None
    ingress_policies: tuple[str, ...] = ()
    egress_policies: tuple[str, ...] = ()


def policies_of(plan: Plan) -> tuple[NetworkPolicy, ...]:
    """The plan's NetworkPolicies, in document order."""
    return tuple(from_spec(t.namespace, t.name, t.spec) for t in plan.traffic if t.kind == "NetworkPolicy")


def resolve(plan: Plan, policies: Iterable[NetworkPolicy] | None = None) -> list[PodPolicy]:
    """Every pod some policy isolates, in the plan's pod order."""
    chosen = tuple(policies) if policies is not None else policies_of(plan)
    if not chosen:
        return []
    namespaces = {n.name: n.labels for n in plan.namespaces}
    found = []
    for pod in plan.pods:
        selecting = [p for p in chosen if p.namespace == pod.namespace and p.pods.matches(pod.labels)]
        ingress = [p for p in selecting if p.ingress is not None]
        egress = [p for p in selecting if p.egress is not None]
        if not ingress and not egress:
            continue
        found.append(PodPolicy(
            pod,
            tuple(a for p in ingress for a in _allows(plan, namespaces, p, "ingress", pod)) if ingress else None,
            tuple(a for p in egress for a in _allows(plan, namespaces, p, "egress", pod)) if egress else None,
            tuple(p.key for p in ingress), tuple(p.key for p in egress),
        ))
    return found


def _allows(
    plan: Plan, namespaces: Mapping[str, Mapping[str, str]], policy: NetworkPolicy, direction: str, pod: Pod
) -> list[Allow]:
    rules: tuple[Rule, ...] = (policy.ingress if direction == "ingress" else policy.egress) or ()
    out = []
    for r, rule in enumerate(rules):
        source = f"{policy.key} {direction}[{r}]"
        named = any(isinstance(p.port, str) for p in rule.ports)
        if direction == "egress" and named:
            out += _per_peer_pod(plan, namespaces, policy, rule, source)
            continue
        ports = _ports(rule.ports, pod) if rule.ports else None
        if ports == ():
            continue  # every port named one this pod does not have: the rule allows nothing here
        if not rule.peers:
            out.append(Allow(None, (), ports, source))
            continue
        for peer in rule.peers:
            if peer.block is not None:
                out.append(Allow((peer.block.cidr,), peer.block.excepts, ports, source))
            else:
                addresses = tuple(sorted((p.ip for p in _peer_pods(plan, namespaces, policy, peer)), key=IPv4Address))
                if addresses:
                    out.append(Allow(addresses, (), ports, source))
    return out


def _per_peer_pod(
    plan: Plan, namespaces: Mapping[str, Mapping[str, str]], policy: NetworkPolicy, rule: Rule, source: str
) -> list[Allow]:
    """An egress rule with named ports: each peer pod on the numbers its own ports have."""
    peers = [p for peer in rule.peers if peer.block is None for p in _peer_pods(plan, namespaces, policy, peer)]
    if not rule.peers:
        peers = list(plan.pods)
    out = []
    for peer in peers:
        ports = _ports(rule.ports, peer)
        if ports:
            out.append(Allow((peer.ip,), (), ports, source))
    return out


def _peer_pods(plan: Plan, namespaces: Mapping[str, Mapping[str, str]], policy: NetworkPolicy, peer: Peer) -> list[Pod]:
    if peer.namespaces is None:
        chosen = {policy.namespace}
    else:
        chosen = {name for name, labels in namespaces.items() if peer.namespaces.matches(labels)}
    return [p for p in plan.pods
            if p.namespace in chosen and (peer.pods is None or peer.pods.matches(p.labels)) and p.ip]


def _ports(ports: tuple[Port, ...], pod: Pod) -> tuple[PortRange, ...]:
    """The rule's ports as ranges, named ones looked up in ``pod``'s container ports."""
    out: list[PortRange] = []
    for port in ports:
        if port.port is None:
            out.append((port.protocol, 0, 65535))
        elif isinstance(port.port, int):
            out.append((port.protocol, port.port, port.end_port or port.port))
        else:
            number = next((c.port for c in pod.ports if c.name == port.port and c.protocol == port.protocol), None)
            if number is not None:
                out.append((port.protocol, number, number))
    return tuple(out)


class Verdicts:
    """Whether a connection passes the NetworkPolicies, for expectations (``verify``, ``trace``).

    A connection from ``source`` (a pod, or None for an address outside the
    pods) at ``src_ip`` to ``target``:``port`` passes when the source is not
    isolated for egress or an egress rule admits the target's address and
    port, and the target is not isolated for ingress or an ingress rule
    admits the source's address and the port.  ``port`` is what is on the
    wire: 15008 for a meshed connection, which travels as HBONE.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._by_pod = {d.pod.key: d for d in resolve(plan)}

    def refusal(self, source: Pod | None, src_ip: str, target: Pod, port: int, protocol: str = "TCP") -> str | None:
        """Why the connection is dropped (the default deny that ends it), or None when it passes."""
        if source is not None and (decision := self._by_pod.get(source.key)) is not None and decision.egress is not None:
            if not any(admits(a, target.ip, protocol, port) for a in decision.egress):
                return f"NetworkPolicy: default deny egress from {source.key} ({', '.join(decision.egress_policies)})"
        decision = self._by_pod.get(target.key)
        if decision is not None and decision.ingress is not None:
            if not any(admits(a, src_ip, protocol, port) for a in decision.ingress):
                return f"NetworkPolicy: default deny ingress to {target.key} ({', '.join(decision.ingress_policies)})"
        return None


def admits(allow: Allow, address: str, protocol: str, port: int) -> bool:
    """Whether ``allow`` lets ``address`` (the peer) through on ``protocol``/``port``."""
    ip = IPv4Address(address)
    if allow.addresses is not None and not any(ip in IPv4Network(a, strict=False) for a in allow.addresses):
        return False
    if any(ip in IPv4Network(e, strict=False) for e in allow.excepts):
        return False
    return allow.ports is None or any(p == protocol and first <= port <= last for p, first, last in allow.ports)


_LAST: list[Verdicts] = []


def verdicts(plan: Plan) -> Verdicts:
    """The verdicts of ``plan``, kept for the next call with the same plan (a verify run asks thousands of times)."""
    if not _LAST or _LAST[0].plan is not plan:
        _LAST[:] = [Verdicts(plan)]
    return _LAST[0]
