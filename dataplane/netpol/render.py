"""A node's NetworkPolicy table: nftables in the node's namespace, on its pods' veths.

Enforced where the VPC CNI's agent and Calico enforce it, at the pod's
interface on its node, after kube-proxy's DNAT, so a rule sees the endpoint
a Service sent to, not the ClusterIP.  One base chain on the forward hook
accepts established and related flows first -- a policy judges a
connection when it starts, and a change never cuts a flow already allowed
-- then sends what enters a pod's veth to that pod's ingress chain and what
leaves it to its egress chain, each ending in a counted drop (the default
deny, which ``trace`` can name).  Only isolated pods get a chain.  Traffic
within a pod (its loopback, the mesh's in-pod redirection) never reaches
the node and is never judged; HBONE between meshed pods is ordinary
TCP to port 15008 here, which a policy must allow as Istio documents.
"""

from __future__ import annotations

from collections.abc import Iterable

from dataplane.kubeproxy.nftext import Chain, Table, comment
from dataplane.topology.plan import Plan

from .resolve import Allow, PodPolicy

FAMILY = "inet"
TABLE = "dpctl-netpol"


def render_node(plan: Plan, node: str, decisions: Iterable[PodPolicy]) -> str:
    """The ``nft -f`` text replacing ``node``'s NetworkPolicy table."""
    table = Table(FAMILY, TABLE, "NetworkPolicy (dpctl)")
    forward = table.chain("forward", "type filter hook forward priority 0")
    forward.add("ct state established,related accept")
    for decision in decisions:
        if decision.pod.node != node:
            continue
        iface, who = decision.pod.host_iface, decision.pod.key
        if decision.ingress is not None:
            forward.add(f'oifname "{iface}" jump ingress-{iface} {comment(who)}')
            _direction(table.chain(f"ingress-{iface}"), decision.ingress, "saddr", f"default deny ingress to {who}")
        if decision.egress is not None:
            forward.add(f'iifname "{iface}" jump egress-{iface} {comment(who)}')
            _direction(table.chain(f"egress-{iface}"), decision.egress, "daddr", f"default deny egress from {who}")
    return table.text()


def _direction(chain: Chain, allows: tuple[Allow, ...], field: str, deny: str) -> None:
    for allow in allows:
        for rule in rules(allow, field):
            chain.add(f"{rule} accept {comment(allow.source)}")
    chain.add(f"counter drop {comment(deny)}")


def rules(allow: Allow, field: str) -> list[str]:
    """The match part of each nft rule ``allow`` becomes (one per port entry)."""
    peer = []
    if allow.addresses is not None:
        peer.append(f"ip {field} {{ {', '.join(allow.addresses)} }}")
    if allow.excepts:
        peer.append(f"ip {field} != {{ {', '.join(allow.excepts)} }}")
    if allow.ports is None:
        return [" ".join(peer) or "meta nfproto ipv4"]
    out = []
    for protocol, first, last in allow.ports:
        port = [f"meta l4proto {protocol.lower()}"]
        if (first, last) != (0, 65535):
            port.append(f"th dport {first}" if first == last else f"th dport {first}-{last}")
        out.append(" ".join([*peer, *port]))
    return out
