"""Expected hops computed from a plan, in both CNI modes."""

from __future__ import annotations

from dataplane.verify import hops as H

from .plans import plan


def places(hops: list[H.Hop]) -> list[str]:
    return [h.place for h in hops]


def test_pod_to_pod_across_subnets_is_routed_by_the_router() -> None:
    p = plan("services.yaml")
    client, solo = p.pod("shop", "client"), p.pod("shop", "solo")
    hops = H.pod_to_pod(p, client, solo, 8080)
    assert places(hops) == [
        "pod shop/client eth0 out",
        f"node a1 {client.host_iface} in",
        "node a1 eth0 out",
        "router n-a1 in",
        "router br-sub-a in",
        "router br-sub-b out",
        "router n-b1 out",
        "node b1 eth0 in",
        f"node b1 {solo.host_iface} out",
        "pod shop/solo eth0 in",
    ]
    assert all(h.addresses == H.Addresses(frozenset({client.ip}), solo.ip, 8080) and not h.vxlan for h in hops)


def test_pod_to_pod_in_one_subnet_is_bridged() -> None:
    p = plan("services.yaml")
    client, web0 = p.pod("shop", "client"), p.pod("shop", "web-0")
    assert web0.node == "a2"
    router = [h.place for h in H.pod_to_pod(p, client, web0, 8080) if h.place.startswith("router")]
    assert router == ["router n-a1 in", "router n-a2 out"]


def test_overlay_crosses_vxlan0_and_the_router_wrapped() -> None:
    p = plan("services.yaml", "overlay")
    client, solo = p.pod("shop", "client"), p.pod("shop", "solo")
    hops = H.pod_to_pod(p, client, solo, 8080)
    assert places(hops)[2:5] == ["node a1 vxlan0 out", "node a1 eth0 out", "router n-a1 in"]
    assert places(hops)[-4:-2] == ["node b1 eth0 in", "node b1 vxlan0 in"]
    wrapped = [h.place for h in hops if h.vxlan]
    assert wrapped == ["node a1 eth0 out", "router n-a1 in", "router br-sub-a in", "router br-sub-b out",
                       "router n-b1 out", "node b1 eth0 in"]


def test_pod_to_service_shows_the_vip_until_the_source_node_rewrites_it() -> None:
    p = plan("services.yaml")
    client, solo = p.pod("shop", "client"), p.pod("shop", "solo")
    svc = next(s for s in p.services if s.name == "solo-local")
    assert svc.cluster_ip
    hops = H.pod_to_service(p, client, svc.cluster_ip, 80, solo, 8080)
    assert [(h.addresses.dst, h.addresses.dport) for h in hops[:2]] == [(svc.cluster_ip, 80)] * 2
    assert {(h.addresses.dst, h.addresses.dport) for h in hops[2:]} == {(solo.ip, 8080)}
    assert {h.addresses.src for h in hops} == {frozenset({client.ip})}


def test_outside_to_load_balancer_vip_is_rewritten_twice_and_masqueraded_under_cluster_policy() -> None:
    p = plan("services.yaml", "overlay")
    assert p.external is not None
    a1, web2 = p.node("a1"), p.pod("shop", "web-2")
    hops = H.outside_to_endpoint(p, "203.0.113.200", 80, a1, 30081, web2, 8080, keep_source=False)
    assert places(hops)[:7] == [
        "external eth0 out", "lb eth0 in", "lb eth1 out", "router lb0 in", "router br-sub-a out",
        "router n-a1 out", "node a1 eth0 in",
    ]
    client = frozenset({p.external.client_ip})
    assert hops[1].addresses == H.Addresses(client, "203.0.113.200", 80)
    assert hops[2].addresses == H.Addresses(client, a1.ip, 30081)
    assert hops[-1].addresses == H.Addresses(frozenset({a1.ip, a1.vtep_ip}), web2.ip, 8080)
    kept = H.outside_to_endpoint(p, None, 30081, a1, 30081, web2, 8080, keep_source=True)
    assert kept[0].addresses.dst == a1.ip and kept[-1].addresses.src == client
