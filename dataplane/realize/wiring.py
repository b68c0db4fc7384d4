"""What the fabric asks of the kernel, computed from a Plan alone (no root).

``router``, ``node``, ``overlay``, ``pod`` and ``external`` each return one
construction step's requests, in the order the kernel receives them;
``realize/fabric.py`` sends them.  Keeping the decision
apart from the doing is what lets tests pin the exact links, addresses,
routes and rulesets of a plan without root.

Layout (see ARCHITECTURE.md for the packet paths):

* router namespace: one bridge per subnet holding the subnet gateway address,
  forwarding on; it is the VPC's implicit router.
* node namespace: ``eth0`` (veth to its subnet bridge) with the node address,
  default route via the gateway, forwarding on.  A /32 route per local pod
  points at the pod's veth.  In ``vpc`` mode ``eth0`` answers ARP for its pods
  (proxy_arp with no delay), which is what the VPC fabric does for an ENI's
  secondary addresses; in ``overlay`` mode other nodes' pod CIDRs are routed
  into ``vxlan0`` with static neighbour and FDB entries (flannel's scheme).
* pod namespace: ``eth0``/32, ``default via 169.254.1.1 onlink`` with a
  permanent neighbour entry for that link-local gateway (the Calico / VPC CNI
  recipe: no ARP wait, no per-pod sysctl).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from dataplane.topology.naming import LB_PUBLIC_IFACE, LB_TRANSIT_IFACE, ROUTER_LB_IFACE, VXLAN_IFACE
from dataplane.topology.plan import LbNode, Node, Plan, Pod

POD_GATEWAY = "169.254.1.1"
HOST_VETH_MAC = "ee:ee:ee:ee:ee:ee"
VXLAN_VNI = 1
VXLAN_PORT = 4789
VXLAN_OVERHEAD = 50
UNDERLAY_MTU = 1500


# -- link requests: one call on a namespace's netlink handle each -------------
@dataclass(frozen=True)
class Sysctl:
    key: str
    value: int


@dataclass(frozen=True)
class Up:
    ifname: str


@dataclass(frozen=True)
class Bridge:
    ifname: str


@dataclass(frozen=True)
class Address:
    ifname: str
    cidr: str


@dataclass(frozen=True)
class Veth:
    """``ifname`` in the namespace configured, ``peer`` made inside ``peer_netns``."""

    ifname: str
    peer: str
    peer_netns: str
    mtu: int
    mac: str | None = None
    peer_mac: str | None = None


@dataclass(frozen=True)
class SetMaster:
    ifname: str
    master: str


@dataclass(frozen=True)
class Route:
    dst: str  # a CIDR or "default"
    via: str | None = None
    dev: str | None = None
    onlink: bool = False
    scope_link: bool = False
    table: int | None = None  # the main table when None
    kind: str | None = None  # "blackhole": dropped silently, as a VPC route table's blackhole target
    src: str | None = None  # the preferred source address of what the namespace itself sends


@dataclass(frozen=True)
class PolicyRule:
    """``ip rule``: packets matching ``iif``/``fwmark`` look up ``table``; ``suppress_prefixlength``
    rejects a result no longer than it (0: a default route), so the next rule decides."""

    priority: int
    table: int
    iif: str | None = None
    fwmark: int | None = None
    suppress_prefixlength: int | None = None


@dataclass(frozen=True)
class Neighbour:
    """A permanent ARP entry (made or replaced)."""

    ip: str
    mac: str
    dev: str


@dataclass(frozen=True)
class NeighbourGone:
    """The ARP entry of ``ip`` on ``dev`` removed, if there is one."""

    ip: str
    dev: str


@dataclass(frozen=True)
class Fdb:
    mac: str
    dst: str
    dev: str


@dataclass(frozen=True)
class Vxlan:
    ifname: str
    vni: int
    local: str
    dev: str
    port: int
    mac: str
    mtu: int


Link = Sysctl | Up | Bridge | Address | Veth | SetMaster | Route | PolicyRule | Neighbour | NeighbourGone | Fdb | Vxlan


# -- requests: what one step sends, in order -----------------------------------
@dataclass(frozen=True)
class CreateNamespace:
    netns: str


@dataclass(frozen=True)
class Configure:
    """Link requests sent in order over one netlink handle inside ``netns``."""

    netns: str
    links: tuple[Link, ...]


@dataclass(frozen=True)
class Ruleset:
    """An nftables ruleset loaded inside ``netns`` as one transaction."""

    netns: str
    text: str


Request = CreateNamespace | Configure | Ruleset


def pod_mtu(plan: Plan) -> int:
    return UNDERLAY_MTU - VXLAN_OVERHEAD if plan.cni == "overlay" else UNDERLAY_MTU


def vxlan_mac(plan: Plan, node: Node) -> str:
    """A stable, locally administered MAC for a node's VTEP."""
    return derived_mac(f"{plan.name}/{node.name}")


def node_mac(plan: Plan, node: Node) -> str:
    """A node's ``eth0`` (its ENI): stable, so the fabric map can name it before it exists."""
    return derived_mac(f"{plan.name}/{node.name}/eth0")


def pod_mac(plan: Plan, pod: Pod) -> str:
    """A pod's ``eth0``: stable, so its node's permanent ARP entry can name it."""
    return derived_mac(f"{plan.name}/{pod.namespace}/{pod.name}/eth0")


def derived_mac(text: str) -> str:
    """A stable, locally administered MAC named by ``text``."""
    return "02:" + ":".join(f"{b:02x}" for b in hashlib.sha256(text.encode()).digest()[:5])


def forwarding_on() -> tuple[Link, ...]:
    """Forwarding on before any device exists, so new devices inherit it."""
    return (
        Sysctl("net.ipv4.ip_forward", 1),
        Sysctl("net.ipv4.conf.all.forwarding", 1),
        Sysctl("net.ipv4.conf.default.forwarding", 1),
        # No node or router needs IPv6; disabling it keeps per-device setup cheap.
        Sysctl("net.ipv6.conf.all.disable_ipv6", 1),
        Sysctl("net.ipv6.conf.default.disable_ipv6", 1),
        Up("lo"),
    )


def router(plan: Plan) -> list[Request]:
    def bridges() -> Iterator[Link]:
        for subnet in plan.subnets:
            prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
            yield Bridge(subnet.bridge)
            yield Address(subnet.bridge, f"{subnet.gateway}/{prefixlen}")
            yield Up(subnet.bridge)

    return [
        CreateNamespace(plan.router_netns),
        Configure(
            plan.router_netns,
            (
                *forwarding_on(),
                Sysctl("net.ipv4.conf.all.send_redirects", 0),
                Sysctl("net.ipv4.conf.default.send_redirects", 0),
                *bridges(),
            ),
        ),
    ]


def node(plan: Plan, node: Node) -> list[Request]:
    subnet = plan.subnet(node.subnet)
    proxy_arp = (
        (Sysctl("net.ipv4.conf.eth0.proxy_arp", 1), Sysctl("net.ipv4.neigh.eth0.proxy_delay", 0))
        if plan.cni == "vpc"
        else ()
    )
    return [
        CreateNamespace(node.netns),
        Configure(
            plan.router_netns,
            (
                Veth(node.router_iface, "eth0", node.netns, mtu=UNDERLAY_MTU, peer_mac=node_mac(plan, node)),
                SetMaster(node.router_iface, subnet.bridge),
                Up(node.router_iface),
            ),
        ),
        Configure(
            node.netns,
            (
                *forwarding_on(),
                Sysctl("net.ipv4.conf.eth0.forwarding", 1),
                Sysctl("net.ipv4.conf.eth0.send_redirects", 0),
                Sysctl("net.ipv4.conf.all.send_redirects", 0),
                Address("eth0", f"{node.ip}/{node.prefixlen}"),
                Up("eth0"),
                Route("default", via=node.gateway),
                *proxy_arp,
            ),
        ),
    ]


def overlay_masquerade_ruleset(plan: Plan) -> str:
    """Pod traffic leaving the cluster network is masqueraded to the node's
    address, as flannel's ipMasq does: pod CIDRs are not routable in the VPC,
    so without it replies from outside could never find their way back."""
    return (
        "table ip dpctl-cni\n"
        "delete table ip dpctl-cni\n"
        "table ip dpctl-cni {\n"
        "  chain postrouting {\n"
        "    type nat hook postrouting priority 100; policy accept;\n"
        f"    ip saddr {plan.pod_cidr} ip daddr != {{ {plan.pod_cidr}, {plan.vpc_cidr} }} masquerade fully-random\n"
        "  }\n"
        "}\n"
    )


def overlay(plan: Plan, node: Node) -> list[Request]:
    """vxlan0 on ``node``, static routes to every other node's pod CIDR, and
    masquerade for pod traffic leaving the cluster network."""
    assert node.vtep_ip is not None

    def peers() -> Iterator[Link]:
        for peer in plan.nodes:
            if peer.name == node.name:
                continue
            assert peer.pod_cidr is not None and peer.vtep_ip is not None
            mac = vxlan_mac(plan, peer)
            yield Neighbour(peer.vtep_ip, mac, VXLAN_IFACE)
            yield Fdb(mac, peer.ip, VXLAN_IFACE)
            yield Route(peer.pod_cidr, via=peer.vtep_ip, dev=VXLAN_IFACE, onlink=True)

    vtep = Vxlan(
        VXLAN_IFACE,
        vni=VXLAN_VNI,
        local=node.ip,
        dev="eth0",
        port=VXLAN_PORT,
        mac=vxlan_mac(plan, node),
        mtu=pod_mtu(plan),
    )
    return [
        Ruleset(node.netns, overlay_masquerade_ruleset(plan)),
        Configure(node.netns, (vtep, Address(VXLAN_IFACE, f"{node.vtep_ip}/32"), Up(VXLAN_IFACE), *peers())),
    ]


def pods(plan: Plan, batch: Sequence[Pod]) -> list[Request]:
    """``pod``'s requests for every pod of ``batch``, with the node side of each node's pods sent over one
    netlink handle: the namespaces first, then each node's veths, routes and ARP entries, then each pod's
    own end.  Opening a handle in a namespace costs about a millisecond, a pod's whole node side three."""
    made = [pod(plan, p) for p in batch]
    veths: dict[str, list[Link]] = {}
    rest: dict[str, list[Link]] = {}
    for requests in made:
        host = requests[1]
        assert isinstance(host, Configure)
        veths.setdefault(host.netns, []).extend(link for link in host.links if isinstance(link, Veth))
        rest.setdefault(host.netns, []).extend(link for link in host.links if not isinstance(link, Veth))
    # the veths first, on their own: what follows them is all a batch of plain requests can carry
    return [*(r[0] for r in made), *(Configure(ns, tuple(links)) for ns, links in veths.items()),
            *(Configure(ns, tuple(links)) for ns, links in rest.items()), *(r[2] for r in made)]


def pod(plan: Plan, pod: Pod) -> list[Request]:
    """The pod's namespace, its veth from its node's side (/32 route and ARP entry to it), then the pod's own
    end."""
    host = plan.node(pod.node)
    return [
        CreateNamespace(pod.netns),
        Configure(
            host.netns,
            (
                Veth(pod.host_iface, "eth0", pod.netns, mtu=pod_mtu(plan), mac=HOST_VETH_MAC,
                     peer_mac=pod_mac(plan, pod)),
                Up(pod.host_iface),
                Route(f"{pod.ip}/32", dev=pod.host_iface, scope_link=True),
                Neighbour(pod.ip, pod_mac(plan, pod), pod.host_iface),
            ),
        ),
        Configure(
            pod.netns,
            (
                Up("lo"),
                Address("eth0", f"{pod.ip}/32"),
                Up("eth0"),
                Neighbour(POD_GATEWAY, HOST_VETH_MAC, "eth0"),
                Route("default", via=POD_GATEWAY, dev="eth0", onlink=True),
            ),
        ),
    ]


def fabric_map(plan: Plan, pods: Sequence[Pod]) -> list[Request]:
    """Where ``pods`` are, as the VPC fabric knows every ENI address (VPC CNI): a permanent ARP entry for
    each in the router (on its subnet's bridge) and in every other node of its subnet, pointing at its
    node's ``eth0``.

    The kernel's ARP table is one for all namespaces, bounded by the host's
    ``gc_thresh3`` (1,024 by default), and a burst of first packets to new
    addresses cannot evict entries younger than 5 s: at a thousand pods,
    learned entries overflowed it and first SYNs were dropped. Permanent
    entries do not count against it."""
    return _on_link(plan, pods, lambda pod, dev: Neighbour(pod.ip, node_mac(plan, plan.node(pod.node)), dev))


def fabric_unmap(plan: Plan, pods: Sequence[Pod]) -> list[Request]:
    """``fabric_map``'s entries of ``pods`` removed (their own node's goes with their veth)."""
    return _on_link(plan, pods, lambda pod, dev: NeighbourGone(pod.ip, dev))


def _on_link(plan: Plan, pods: Sequence[Pod], entry: Callable[[Pod, str], Link]) -> list[Request]:
    """``entry(pod, device)`` in the router (the pod's subnet bridge) and in every other node of its subnet
    (``eth0``), one request per namespace; none outside the VPC CNI."""
    if plan.cni != "vpc":
        return []
    entries: dict[str, list[Link]] = {}
    for pod in pods:
        host = plan.node(pod.node)
        entries.setdefault(plan.router_netns, []).append(entry(pod, plan.subnet(host.subnet).bridge))
        for peer in plan.nodes:
            if peer.subnet == host.subnet and peer.name != host.name:
                entries.setdefault(peer.netns, []).append(entry(pod, "eth0"))
    return [Configure(netns_name, tuple(links)) for netns_name, links in entries.items()]


def load_balancer_node(plan: Plan, node: LbNode) -> list[Request]:
    """One zone's node of an ALB: like a cluster node on its zone's subnet
    bridge, with the VPC router as its default gateway (its public address,
    if any, is the edge's 1:1 NAT, in the load balancer namespace's ruleset)."""
    subnet = plan.subnet(node.subnet)
    return [
        CreateNamespace(node.netns),
        Configure(
            plan.router_netns,
            (
                Veth(node.router_iface, "eth0", node.netns, mtu=UNDERLAY_MTU),
                SetMaster(node.router_iface, subnet.bridge),
                Up(node.router_iface),
            ),
        ),
        Configure(
            node.netns,
            (
                Up("lo"),
                Address("eth0", f"{node.ip}/{node.prefixlen}"),
                Up("eth0"),
                Route("default", via=node.gateway),
            ),
        ),
    ]


def external(plan: Plan) -> list[Request]:
    """The outside world: a client and a load balancer that is its gateway.

    client eth0 --- eth0 LB eth1 --- lb0 router.  The router sends the public
    segment to the LB and the LB sends the VPC to the router, so replies to
    the client always cross the LB, whose conntrack un-DNATs them.
    """
    ext = plan.external
    assert ext is not None
    public_prefix = ipaddress.ip_network(ext.public_cidr).prefixlen
    transit_prefix = ipaddress.ip_network(ext.transit_cidr).prefixlen
    external_ips = {ip for svc in plan.services for ip in svc.external_ips}
    # An external IP of a Service is routed to a node, as an edge router would;
    # one that is a node's own address is reached on its subnet like the node.
    first_node = plan.nodes[0]
    to_nodes = sorted(external_ips - {n.ip for n in plan.nodes})
    nlb_nodes = [n for lb in plan.load_balancers if lb.kind == "nlb" for n in lb.nodes]
    nlb_bridges = sorted({plan.subnet(n.subnet).bridge for n in nlb_nodes})
    return [
        CreateNamespace(ext.lb_netns),
        CreateNamespace(ext.client_netns),
        Configure(
            plan.router_netns,
            (
                Veth(ROUTER_LB_IFACE, LB_TRANSIT_IFACE, ext.lb_netns, mtu=UNDERLAY_MTU),
                Address(ROUTER_LB_IFACE, f"{ext.router_transit_ip}/{transit_prefix}"),
                Up(ROUTER_LB_IFACE),
                # With route tables (vpc.egress) the outside is reached only through a route to it.
                *(() if plan.vpc_egress.get("routeTables") else (Route(ext.public_cidr, via=ext.lb_transit_ip),)),
                *(Route(f"{address}/32", via=first_node.ip) for address in to_nodes),
                # An NLB's private addresses are the LB namespace's; a node on the same subnet ARPs
                # for them, and the router answers for what it routes elsewhere (proxy ARP).
                *(Route(f"{n.ip}/32", via=ext.lb_transit_ip) for n in nlb_nodes),
                *(s for bridge in nlb_bridges for s in (
                    Sysctl(f"net.ipv4.conf.{bridge}.proxy_arp", 1), Sysctl(f"net.ipv4.neigh.{bridge}.proxy_delay", 0))),
            ),
        ),
        Configure(
            ext.lb_netns,
            (
                *forwarding_on(),
                Veth(LB_PUBLIC_IFACE, "eth0", ext.client_netns, mtu=UNDERLAY_MTU),
                Address(LB_PUBLIC_IFACE, f"{ext.lb_ip}/{public_prefix}"),
                Up(LB_PUBLIC_IFACE),
                Address(LB_TRANSIT_IFACE, f"{ext.lb_transit_ip}/{transit_prefix}"),
                Up(LB_TRANSIT_IFACE),
                Route(plan.vpc_cidr, via=ext.router_transit_ip),
                *(Route(f"{address}/32", via=ext.router_transit_ip) for address in sorted(external_ips)),
                # NLB nodes: their addresses are local here, where their rules and proxy are.
                *(Address("lo", f"{a}/32") for n in nlb_nodes for a in (n.ip, n.public_ip) if a),
            ),
        ),
        Configure(
            ext.client_netns,
            (
                Up("lo"),
                Address("eth0", f"{ext.client_ip}/{public_prefix}"),
                Up("eth0"),
                Route("default", via=ext.lb_ip),
                # VIPs sit inside the public segment: route them to the LB rather than ARP for them.
                Route(ext.lb_pool, via=ext.lb_ip),
            ),
        ),
    ]
