"""The exact kernel requests of each construction step, from small plans (no root).

Read each expected list as the recipe ARCHITECTURE.md describes: the router's
bridges, a node's veth onto its subnet bridge, a pod's /32 veth with the
link-local gateway, the overlay's static VXLAN peers, the outside world.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dataplane.realize import wiring
from dataplane.realize.wiring import (
    Address,
    Bridge,
    Configure,
    CreateNamespace,
    Fdb,
    Neighbour,
    NeighbourGone,
    Route,
    Ruleset,
    SetMaster,
    Sysctl,
    Up,
    Veth,
    Vxlan,
)
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from tests.unit.realize.plans import small

VPC, OVERLAY = small("vpc"), small("overlay")
HOST_MAC = "ee:ee:ee:ee:ee:ee"
A1_VTEP_MAC, B1_VTEP_MAC = "02:77:3e:b6:1b:e5", "02:3e:ac:a7:b4:d7"

FORWARDING = (
    Sysctl("net.ipv4.ip_forward", 1),
    Sysctl("net.ipv4.conf.all.forwarding", 1),
    Sysctl("net.ipv4.conf.default.forwarding", 1),
    Sysctl("net.ipv6.conf.all.disable_ipv6", 1),
    Sysctl("net.ipv6.conf.default.disable_ipv6", 1),
    Up("lo"),
)

ROUTER = [
    CreateNamespace("dp-t.vpc"),
    Configure(
        "dp-t.vpc",
        (
            *FORWARDING,
            Sysctl("net.ipv4.conf.all.send_redirects", 0),
            Sysctl("net.ipv4.conf.default.send_redirects", 0),
            Bridge("br-sub-a"),
            Address("br-sub-a", "192.168.10.1/24"),
            Up("br-sub-a"),
            Bridge("br-sub-b"),
            Address("br-sub-b", "192.168.20.1/24"),
            Up("br-sub-b"),
        ),
    ),
]

NODE_A1_ROUTER_SIDE = Configure(
    "dp-t.vpc", (Veth("n-a1", "eth0", "dp-t.a1", mtu=1500, peer_mac=wiring.node_mac(VPC, VPC.node("a1"))),
                 SetMaster("n-a1", "br-sub-a"), Up("n-a1"))
)
NODE_A1_COMMON = (
    *FORWARDING,
    Sysctl("net.ipv4.conf.eth0.forwarding", 1),
    Sysctl("net.ipv4.conf.eth0.send_redirects", 0),
    Sysctl("net.ipv4.conf.all.send_redirects", 0),
    Address("eth0", "192.168.10.4/24"),
    Up("eth0"),
    Route("default", via="192.168.10.1"),
)

MASQUERADE = """\
table ip dpctl-cni
delete table ip dpctl-cni
table ip dpctl-cni {
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    ip saddr 10.244.0.0/16 ip daddr != { 10.244.0.0/16, 192.168.0.0/16 } masquerade fully-random
  }
}
"""

EXTERNAL = [
    CreateNamespace("dp-t.lb"),
    CreateNamespace("dp-t.external"),
    Configure(
        "dp-t.vpc",
        (
            Veth("lb0", "eth1", "dp-t.lb", mtu=1500),
            Address("lb0", "100.64.0.1/30"),
            Up("lb0"),
            Route("203.0.113.0/24", via="100.64.0.2"),
            # the external IP outside the VPC goes to the first node; a1's own address needs no route
            Route("198.51.100.7/32", via="192.168.10.4"),
        ),
    ),
    Configure(
        "dp-t.lb",
        (
            *FORWARDING,
            Veth("eth0", "eth0", "dp-t.external", mtu=1500),
            Address("eth0", "203.0.113.1/24"),
            Up("eth0"),
            Address("eth1", "100.64.0.2/30"),
            Up("eth1"),
            Route("192.168.0.0/16", via="100.64.0.1"),
            Route("192.168.10.4/32", via="100.64.0.1"),
            Route("198.51.100.7/32", via="100.64.0.1"),
        ),
    ),
    Configure(
        "dp-t.external",
        (
            Up("lo"),
            Address("eth0", "203.0.113.2/24"),
            Up("eth0"),
            Route("default", via="203.0.113.1"),
            Route("203.0.113.128/25", via="203.0.113.1"),
        ),
    ),
]


@pytest.mark.parametrize("plan", [VPC, OVERLAY], ids=["vpc", "overlay"])
def test_router_has_a_gateway_bridge_per_subnet(plan: Plan) -> None:
    assert wiring.router(plan) == ROUTER


def test_vpc_node_answers_arp_for_its_pods() -> None:
    assert wiring.node(VPC, VPC.node("a1")) == [
        CreateNamespace("dp-t.a1"),
        NODE_A1_ROUTER_SIDE,
        Configure(
            "dp-t.a1",
            (
                *NODE_A1_COMMON,
                Sysctl("net.ipv4.conf.eth0.proxy_arp", 1),
                Sysctl("net.ipv4.neigh.eth0.proxy_delay", 0),
            ),
        ),
    ]


def test_overlay_node_has_no_proxy_arp() -> None:
    assert wiring.node(OVERLAY, OVERLAY.node("a1")) == [
        CreateNamespace("dp-t.a1"),
        NODE_A1_ROUTER_SIDE,
        Configure("dp-t.a1", NODE_A1_COMMON),
    ]


def test_vpc_pod_takes_a_subnet_address_on_a_full_size_veth() -> None:
    web = VPC.pod("default", "web")
    assert web.host_iface == "pv82b3ade9d00"
    assert wiring.pod(VPC, web) == [
        CreateNamespace("dp-t.default.web"),
        Configure(
            "dp-t.a1",
            (
                Veth("pv82b3ade9d00", "eth0", "dp-t.default.web", mtu=1500, mac=HOST_MAC,
                     peer_mac=wiring.pod_mac(VPC, web)),
                Up("pv82b3ade9d00"),
                Route("192.168.10.5/32", dev="pv82b3ade9d00", scope_link=True),
                Neighbour("192.168.10.5", wiring.pod_mac(VPC, web), "pv82b3ade9d00"),  # no ARP for its own pods
            ),
        ),
        Configure(
            "dp-t.default.web",
            (
                Up("lo"),
                Address("eth0", "192.168.10.5/32"),
                Up("eth0"),
                Neighbour("169.254.1.1", HOST_MAC, "eth0"),
                Route("default", via="169.254.1.1", dev="eth0", onlink=True),
            ),
        ),
    ]


def test_overlay_pod_takes_a_pod_cidr_address_and_leaves_room_for_vxlan() -> None:
    web = OVERLAY.pod("default", "web")
    assert wiring.pod(OVERLAY, web) == [
        CreateNamespace("dp-t.default.web"),
        Configure(
            "dp-t.a1",
            (
                Veth("pv82b3ade9d00", "eth0", "dp-t.default.web", mtu=1450, mac=HOST_MAC,
                     peer_mac=wiring.pod_mac(OVERLAY, web)),
                Up("pv82b3ade9d00"),
                Route("10.244.0.2/32", dev="pv82b3ade9d00", scope_link=True),
                Neighbour("10.244.0.2", wiring.pod_mac(OVERLAY, web), "pv82b3ade9d00"),  # no ARP for its own pods
            ),
        ),
        Configure(
            "dp-t.default.web",
            (
                Up("lo"),
                Address("eth0", "10.244.0.2/32"),
                Up("eth0"),
                Neighbour("169.254.1.1", HOST_MAC, "eth0"),
                Route("default", via="169.254.1.1", dev="eth0", onlink=True),
            ),
        ),
    ]


def test_overlay_programs_every_other_node_statically() -> None:
    assert wiring.overlay(OVERLAY, OVERLAY.node("a1")) == [
        Ruleset("dp-t.a1", MASQUERADE),
        Configure(
            "dp-t.a1",
            (
                Vxlan("vxlan0", vni=1, local="192.168.10.4", dev="eth0", port=4789, mac=A1_VTEP_MAC, mtu=1450),
                Address("vxlan0", "10.244.0.0/32"),
                Up("vxlan0"),
                Neighbour("10.244.1.0", B1_VTEP_MAC, "vxlan0"),
                Fdb(B1_VTEP_MAC, "192.168.20.4", "vxlan0"),
                Route("10.244.1.0/24", via="10.244.1.0", dev="vxlan0", onlink=True),
            ),
        ),
    ]


def test_the_peer_sees_the_same_vtep_mac_the_node_gives_itself() -> None:
    b1 = wiring.overlay(OVERLAY, OVERLAY.node("b1"))[1]
    assert isinstance(b1, Configure)
    assert b1.links[0] == Vxlan("vxlan0", 1, "192.168.20.4", "eth0", 4789, B1_VTEP_MAC, 1450)
    assert Fdb(A1_VTEP_MAC, "192.168.10.4", "vxlan0") in b1.links


@pytest.mark.parametrize("plan", [VPC, OVERLAY], ids=["vpc", "overlay"])
def test_the_outside_world_is_the_same_in_both_modes(plan: Plan) -> None:
    assert wiring.external(plan) == EXTERNAL


def test_pod_mtu_and_vtep_mac() -> None:
    assert (wiring.pod_mtu(VPC), wiring.pod_mtu(OVERLAY)) == (1500, 1450)
    # locally administered unicast (02:), then 5 bytes of sha256("<emulation>/<node>")
    assert wiring.vxlan_mac(OVERLAY, OVERLAY.node("a1")) == A1_VTEP_MAC


def test_the_fabric_map_points_every_pod_at_its_node_wherever_it_is_on_link() -> None:
    """The router (on the pod's subnet bridge) and every other node of that subnet get a permanent entry;
    the overlay needs none (pods sit behind vxlan0's static entries)."""
    pods = list(VPC.pods)
    mapped = {r.netns: r.links for r in wiring.fabric_map(VPC, pods) if isinstance(r, Configure)}
    web = VPC.pod("default", "web")
    a1 = wiring.node_mac(VPC, VPC.node("a1"))
    assert Neighbour(web.ip, a1, "br-sub-a") in mapped["dp-t.vpc"]
    same_subnet = [n.netns for n in VPC.nodes if n.subnet == "sub-a" and n.name != "a1"]
    assert all(Neighbour(web.ip, a1, "eth0") in mapped[ns] for ns in same_subnet)
    assert "dp-t.a1" not in mapped or Neighbour(web.ip, a1, "eth0") not in mapped["dp-t.a1"]
    gone = {r.netns: r.links for r in wiring.fabric_unmap(VPC, [web]) if isinstance(r, Configure)}
    assert gone["dp-t.vpc"] == (NeighbourGone(web.ip, "br-sub-a"),)
    assert wiring.fabric_map(OVERLAY, list(OVERLAY.pods)) == [] == wiring.fabric_unmap(OVERLAY, list(OVERLAY.pods))


def test_an_alb_node_is_wired_on_its_zones_subnet_with_a_kernel_chosen_mac() -> None:
    """ALB nodes are not in the fabric map: their veth takes no derived MAC (an LbNode has no name)."""
    text = (Path(__file__).resolve().parents[2] / "integration/topologies/alb.yaml").read_text()
    plan = plan_from_text(text.replace("NAME", "t").replace("CNI", "vpc"), "alb.yaml")
    nodes = [n for lb in plan.load_balancers if lb.kind == "alb" for n in lb.nodes]
    assert nodes
    for node in nodes:
        made = wiring.load_balancer_node(plan, node)
        [veth] = [link for r in made if isinstance(r, Configure) for link in r.links if isinstance(link, Veth)]
        assert veth.peer_netns == node.netns and veth.peer_mac is None
