"""The hops a packet must take through the emulation, computed from the plan.

A hop is one packet-socket sighting: namespace, interface, direction, and the
addresses the packet carries there.  A packet socket sees a frame before
netfilter on the way in and after it on the way out, so a node that DNATs
or masquerades shows the old addresses on its "in" hop and the new ones on
its "out" hop.  The wiring follows ``realize/wiring.py``:

* pod: ``eth0`` out in the pod, then its host veth in on the node (and the
  reverse into a pod);
* node to node: ``eth0`` out, the router's bridge ports (one bridge when both
  nodes share a subnet; else in on the first bridge and routed out of the
  second), ``eth0`` in; in overlay mode the packet first leaves through
  ``vxlan0`` and crosses ``eth0`` and the router wrapped in VXLAN;
* from outside: the client's ``eth0``, the load balancer's ``eth0`` and
  ``eth1``, the router's ``lb0`` and the node's bridge port.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dataplane.topology.naming import LB_PUBLIC_IFACE, LB_TRANSIT_IFACE, ROUTER_LB_IFACE, VXLAN_IFACE
from dataplane.topology.plan import Node, Plan, Pod

IN, OUT = "in", "out"


@dataclass(frozen=True)
class Addresses:
    """The header a hop must show: the source among ``src`` (a masqueraded
    source may take any of the node's addresses), and exactly ``dst:dport``."""

    src: frozenset[str]
    dst: str
    dport: int

    def text(self) -> str:
        src = next(iter(self.src)) if len(self.src) == 1 else "{" + ", ".join(sorted(self.src)) + "}"
        return f"{src} -> {self.dst}:{self.dport}"


@dataclass(frozen=True)
class Hop:
    netns: str
    place: str  # readable: "node a1 eth0 out"
    iface: str
    direction: str
    addresses: Addresses
    vxlan: bool = False  # the packet crosses this link wrapped in VXLAN

    def text(self) -> str:
        return f"{self.place} ({self.addresses.text()}{' in VXLAN' if self.vxlan else ''})"


def _hop(netns: str, who: str, iface: str, direction: str, a: Addresses, vxlan: bool = False) -> Hop:
    return Hop(netns, f"{who} {iface} {direction}", iface, direction, a, vxlan)


def node_addresses(node: Node) -> frozenset[str]:
    """Every address masquerade may pick on ``node`` (eth0, and vxlan0 in overlay mode)."""
    return frozenset(a for a in (node.ip, node.vtep_ip) if a)


def leave_pod(plan: Plan, pod: Pod, a: Addresses) -> list[Hop]:
    node = plan.node(pod.node)
    return [
        _hop(pod.netns, f"pod {pod.key}", "eth0", OUT, a),
        _hop(node.netns, f"node {node.name}", pod.host_iface, IN, a),
    ]


def enter_pod(plan: Plan, pod: Pod, a: Addresses) -> list[Hop]:
    node = plan.node(pod.node)
    return [
        _hop(node.netns, f"node {node.name}", pod.host_iface, OUT, a),
        _hop(pod.netns, f"pod {pod.key}", "eth0", IN, a),
    ]


def through_router(plan: Plan, entry: str, exit_node: Node, a: Addresses, vxlan: bool = False) -> list[Hop]:
    """Router hops from its interface ``entry`` (a node's bridge port, or lb0) to ``exit_node``."""
    ns = plan.router_netns
    exit_bridge = plan.subnet(exit_node.subnet).bridge
    entry_node = next((n for n in plan.nodes if n.router_iface == entry), None)
    hops = [_hop(ns, "router", entry, IN, a, vxlan)]
    bridged = entry_node is not None and entry_node.subnet == exit_node.subnet  # two ports of one bridge
    if not bridged:
        if entry_node is not None:
            hops.append(_hop(ns, "router", plan.subnet(entry_node.subnet).bridge, IN, a, vxlan))
        hops.append(_hop(ns, "router", exit_bridge, OUT, a, vxlan))
    hops.append(_hop(ns, "router", exit_node.router_iface, OUT, a, vxlan))
    return hops


def node_to_node(plan: Plan, a_node: Node, b_node: Node, a: Addresses) -> list[Hop]:
    """From ``a_node`` to a pod address on ``b_node`` (overlay: through the VXLAN tunnel)."""
    vxlan = plan.cni == "overlay"
    a_who, b_who = f"node {a_node.name}", f"node {b_node.name}"
    hops = [_hop(a_node.netns, a_who, VXLAN_IFACE, OUT, a)] if vxlan else []
    hops.append(_hop(a_node.netns, a_who, "eth0", OUT, a, vxlan))
    hops += through_router(plan, a_node.router_iface, b_node, a, vxlan)
    hops.append(_hop(b_node.netns, b_who, "eth0", IN, a, vxlan))
    if vxlan:
        hops.append(_hop(b_node.netns, b_who, VXLAN_IFACE, IN, a))
    return hops


def to_endpoint(plan: Plan, node: Node, endpoint: Pod, a: Addresses) -> list[Hop]:
    """From ``node`` (where the packet was rewritten) into ``endpoint``, wherever it runs."""
    if endpoint.node == node.name:
        return enter_pod(plan, endpoint, a)
    return node_to_node(plan, node, plan.node(endpoint.node), a) + enter_pod(plan, endpoint, a)


def pod_to_pod(plan: Plan, src: Pod, dst: Pod, port: int) -> list[Hop]:
    a = Addresses(frozenset({src.ip}), dst.ip, port)
    return leave_pod(plan, src, a) + to_endpoint(plan, plan.node(src.node), dst, a)


def pod_to_service(plan: Plan, src: Pod, vip: str, port: int, endpoint: Pod, target_port: int) -> list[Hop]:
    """The source node DNATs the VIP to the endpoint; a pod's source address is kept."""
    before = Addresses(frozenset({src.ip}), vip, port)
    after = replace(before, dst=endpoint.ip, dport=target_port)
    return leave_pod(plan, src, before) + to_endpoint(plan, plan.node(src.node), endpoint, after)


def outside_to_node(plan: Plan, node: Node, to_lb: Addresses, past_lb: Addresses) -> list[Hop]:
    """The outside client to ``node`` through the load balancer (which may DNAT a VIP)."""
    ext = plan.external
    assert ext is not None
    return [
        _hop(ext.client_netns, "external", "eth0", OUT, to_lb),
        _hop(ext.lb_netns, "lb", LB_PUBLIC_IFACE, IN, to_lb),
        _hop(ext.lb_netns, "lb", LB_TRANSIT_IFACE, OUT, past_lb),
        *through_router(plan, ROUTER_LB_IFACE, node, past_lb),
        _hop(node.netns, f"node {node.name}", "eth0", IN, past_lb),
    ]


def outside_to_endpoint(
    plan: Plan,
    vip: str | None,
    port: int,
    node: Node,
    node_port: int,
    endpoint: Pod,
    target_port: int,
    keep_source: bool,
) -> list[Hop]:
    """The client to ``vip:port`` (LoadBalancer) or to ``node``'s NodePort, then DNAT on
    ``node`` to the endpoint, masqueraded to the node unless the policy is Local."""
    assert plan.external is not None
    client = frozenset({plan.external.client_ip})
    past_lb = Addresses(client, node.ip, node_port)
    to_lb = Addresses(client, vip, port) if vip else past_lb
    after = Addresses(client if keep_source else node_addresses(node), endpoint.ip, target_port)
    return outside_to_node(plan, node, to_lb, past_lb) + to_endpoint(plan, node, endpoint, after)
