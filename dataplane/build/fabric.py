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

from dataplane.kernel import netns
from dataplane.kernel.links import NamespaceConfig
from dataplane.topology.plan import Node, Plan, Pod

POD_GATEWAY = "169.254.1.1"
HOST_VETH_MAC = "ee:ee:ee:ee:ee:ee"
VXLAN_IFACE = "vxlan0"
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


def build_overlay(plan: Plan, node: Node) -> None:
    """vxlan0 on ``node`` and static routes to every other node's pod CIDR."""
    assert node.vtep_ip is not None
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
