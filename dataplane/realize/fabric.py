"""The pod network: router, nodes and pods wired from a Plan.

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
from collections.abc import Callable, Iterator

from dataplane.kernel import netns, nft
from dataplane.kernel.links import NamespaceConfig
from dataplane.topology.naming import LB_PUBLIC_IFACE, LB_TRANSIT_IFACE, ROUTER_LB_IFACE, VXLAN_IFACE
from dataplane.topology.plan import Node, Plan, Pod

POD_GATEWAY = "169.254.1.1"
HOST_VETH_MAC = "ee:ee:ee:ee:ee:ee"
VXLAN_VNI = 1
VXLAN_PORT = 4789
VXLAN_OVERHEAD = 50
UNDERLAY_MTU = 1500

Step = tuple[str, Callable[[], None]]


def pod_mtu(plan: Plan) -> int:
    return UNDERLAY_MTU - VXLAN_OVERHEAD if plan.cni == "overlay" else UNDERLAY_MTU


def vxlan_mac(plan: Plan, node: Node) -> str:
    """A stable, locally administered MAC for a node's VTEP."""
    digest = hashlib.sha256(f"{plan.name}/{node.name}".encode()).digest()
    return "02:" + ":".join(f"{b:02x}" for b in digest[:5])


def _forwarding_namespace(cfg: NamespaceConfig) -> None:
    """Forwarding on before any device exists, so new devices inherit it."""
    cfg.sysctl("net.ipv4.ip_forward", 1)
    cfg.sysctl("net.ipv4.conf.all.forwarding", 1)
    cfg.sysctl("net.ipv4.conf.default.forwarding", 1)
    # No node or router needs IPv6; disabling it keeps per-device setup cheap.
    cfg.sysctl("net.ipv6.conf.all.disable_ipv6", 1)
    cfg.sysctl("net.ipv6.conf.default.disable_ipv6", 1)
    cfg.up("lo")


def build_router(plan: Plan) -> None:
    netns.create(plan.router_netns)
    with NamespaceConfig(plan.router_netns) as cfg:
        _forwarding_namespace(cfg)
        cfg.sysctl("net.ipv4.conf.all.send_redirects", 0)
        cfg.sysctl("net.ipv4.conf.default.send_redirects", 0)
        for subnet in plan.subnets:
            cfg.bridge(subnet.bridge)
            prefixlen = ipaddress.ip_network(subnet.cidr).prefixlen
            cfg.address(subnet.bridge, f"{subnet.gateway}/{prefixlen}")
            cfg.up(subnet.bridge)



def build_external(plan: Plan) -> None:
    """The outside world: a client and a load balancer that is its gateway.

    client eth0 --- eth0 LB eth1 --- lb0 router.  The router sends the public
    segment to the LB and the LB sends the VPC to the router, so replies to
    the client always cross the LB, whose conntrack un-DNATs them.
    """
    ext = plan.external
    assert ext is not None
    public_prefix = ipaddress.ip_network(ext.public_cidr).prefixlen
    transit_prefix = ipaddress.ip_network(ext.transit_cidr).prefixlen
    netns.create(ext.lb_netns)
    netns.create(ext.client_netns)
    with NamespaceConfig(plan.router_netns) as router:
        router.veth(ROUTER_LB_IFACE, LB_TRANSIT_IFACE, ext.lb_netns, mtu=UNDERLAY_MTU)
        router.address(ROUTER_LB_IFACE, f"{ext.router_transit_ip}/{transit_prefix}")
        router.up(ROUTER_LB_IFACE)
        router.route(ext.public_cidr, via=ext.lb_transit_ip)
        # An external IP of a Service is routed to a node, as an edge router would;
        # one that is a node's own address is reached on its subnet like the node.
        first_node = plan.nodes[0]
        node_ips = {n.ip for n in plan.nodes}
        for address in sorted({ip for svc in plan.services for ip in svc.external_ips} - node_ips):
            router.route(f"{address}/32", via=first_node.ip)
    with NamespaceConfig(ext.lb_netns) as lb:
        _forwarding_namespace(lb)
        lb.veth(LB_PUBLIC_IFACE, "eth0", ext.client_netns, mtu=UNDERLAY_MTU)
        lb.address(LB_PUBLIC_IFACE, f"{ext.lb_ip}/{public_prefix}")
        lb.up(LB_PUBLIC_IFACE)
        lb.address(LB_TRANSIT_IFACE, f"{ext.lb_transit_ip}/{transit_prefix}")
        lb.up(LB_TRANSIT_IFACE)
        lb.route(plan.vpc_cidr, via=ext.router_transit_ip)
        for address in sorted({ip for svc in plan.services for ip in svc.external_ips}):
            lb.route(f"{address}/32", via=ext.router_transit_ip)
    with NamespaceConfig(ext.client_netns) as client:
        client.up("lo")
        client.address("eth0", f"{ext.client_ip}/{public_prefix}")
        client.up("eth0")
        client.route("default", via=ext.lb_ip)
        # VIPs sit inside the public segment: route them to the LB rather than ARP for them.
        client.route(ext.lb_pool, via=ext.lb_ip)


def build_node(plan: Plan, node: Node) -> None:
    netns.create(node.netns)
    subnet = plan.subnet(node.subnet)
    with NamespaceConfig(plan.router_netns) as router:
        router.veth(node.router_iface, "eth0", node.netns, mtu=UNDERLAY_MTU)
        router.set_master(node.router_iface, subnet.bridge)
        router.up(node.router_iface)
    with NamespaceConfig(node.netns) as cfg:
        _forwarding_namespace(cfg)
        cfg.sysctl("net.ipv4.conf.eth0.forwarding", 1)
        cfg.sysctl("net.ipv4.conf.eth0.send_redirects", 0)
        cfg.sysctl("net.ipv4.conf.all.send_redirects", 0)
        cfg.address("eth0", f"{node.ip}/{node.prefixlen}")
        cfg.up("eth0")
        cfg.route("default", via=node.gateway)
        if plan.cni == "vpc":
            cfg.sysctl("net.ipv4.conf.eth0.proxy_arp", 1)
            cfg.sysctl("net.ipv4.neigh.eth0.proxy_delay", 0)


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


def build_overlay(plan: Plan, node: Node) -> None:
    """vxlan0 on ``node``, static routes to every other node's pod CIDR, and
    masquerade for pod traffic leaving the cluster network."""
    assert node.vtep_ip is not None
    nft.apply(node.netns, overlay_masquerade_ruleset(plan))
    with NamespaceConfig(node.netns) as cfg:
        cfg.vxlan(
            VXLAN_IFACE,
            vni=VXLAN_VNI,
            local=node.ip,
            dev="eth0",
            port=VXLAN_PORT,
            mac=vxlan_mac(plan, node),
            mtu=pod_mtu(plan),
        )
        cfg.address(VXLAN_IFACE, f"{node.vtep_ip}/32")
        cfg.up(VXLAN_IFACE)
        for peer in plan.nodes:
            if peer.name == node.name:
                continue
            assert peer.pod_cidr is not None and peer.vtep_ip is not None
            mac = vxlan_mac(plan, peer)
            cfg.neighbour(peer.vtep_ip, mac, VXLAN_IFACE)
            cfg.fdb(mac, peer.ip, VXLAN_IFACE)
            cfg.route(peer.pod_cidr, via=peer.vtep_ip, dev=VXLAN_IFACE, onlink=True)


def build_pod(plan: Plan, pod: Pod) -> None:
    netns.create(pod.netns)
    mtu = pod_mtu(plan)
    node = plan.node(pod.node)
    with NamespaceConfig(node.netns) as host:
        host.veth(pod.host_iface, "eth0", pod.netns, mac=HOST_VETH_MAC, mtu=mtu)
        host.up(pod.host_iface)
        host.route(f"{pod.ip}/32", dev=pod.host_iface, scope_link=True)
    with NamespaceConfig(pod.netns) as cfg:
        cfg.up("lo")
        cfg.address("eth0", f"{pod.ip}/32")
        cfg.up("eth0")
        cfg.neighbour(POD_GATEWAY, HOST_VETH_MAC, "eth0")
        cfg.route("default", via=POD_GATEWAY, dev="eth0", onlink=True)


def remove_pod_link(plan: Plan, pod: Pod) -> None:
    """Delete a pod's veth pair from its node's side (before its namespace
    goes), so a pod made next under the same name finds the name free."""
    node = plan.node(pod.node)
    if netns.exists(node.netns):
        with NamespaceConfig(node.netns) as host:
            host.delete_link(pod.host_iface)


def steps(plan: Plan) -> Iterator[Step]:
    """Every construction step in order, named for progress and errors."""
    yield ("router", lambda: build_router(plan))
    for node in plan.nodes:
        yield (f"node {node.name}", lambda node=node: build_node(plan, node))  # type: ignore[misc]
    if plan.cni == "overlay":
        for node in plan.nodes:
            yield (f"overlay {node.name}", lambda node=node: build_overlay(plan, node))  # type: ignore[misc]
    for pod in plan.pods:
        yield (f"pod {pod.key}", lambda pod=pod: build_pod(plan, pod))  # type: ignore[misc]
    if plan.external is not None:
        yield ("external client and load balancer", lambda: build_external(plan))
