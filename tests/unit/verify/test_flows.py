"""Which flows the path check sends, and what it expects of them."""

from __future__ import annotations

from dataplane.verify.checks.path import plan_flows

from .plans import plan


def test_services_flows_cover_node_pairs_a_cluster_ip_and_the_outside() -> None:
    p = plan("services.yaml")
    flows = {f.subject: f for f in plan_flows(p)}
    pod_pairs = [s for s in flows if s.startswith("pod ") and " -> pod " in s]
    assert len(pod_pairs) == 3  # a1-a2, a1-b1, a2-b1
    assert "pod shop/client -> pod shop/solo:8080" in flows
    service = next(f for s, f in flows.items() if " -> svc " in s)
    ends = {alt[-1].netns for alt in service.alternatives}
    assert all(p.pod(*key.split("/")).node != p.pod("shop", "client").node
               for key in (h.place.split()[1] for alt in service.alternatives for h in alt[-1:]))
    assert len(ends) == len(service.alternatives)
    node_port = next(f for s, f in flows.items() if s.startswith("external -> nodeport"))
    assert " shop/web-lb " in node_port.subject or " shop/web-np " in node_port.subject  # Cluster policy first
    lb = next(f for s, f in flows.items() if s.startswith("external -> lb"))
    assert len(lb.alternatives) == 3 * 3  # any node, any endpoint
    assert not any(f.meshed for f in flows.values())


def test_mesh_adds_one_hbone_flow_and_keeps_meshed_pods_out_of_crafted_ones() -> None:
    p = plan("mesh.yaml")
    flows = plan_flows(p)
    meshed = [f for f in flows if f.meshed]
    assert len(meshed) == 1 and meshed[0].subject == "pod mesh/client -> pod mesh/server-0:8080 (HBONE)"
    assert {h.addresses.dport for h in meshed[0].alternatives[0]} == {15008}
    for f in flows:
        if not f.meshed and f.source_netns.count(".") == 2:
            assert not f.source_netns.split(".", 1)[1].startswith("mesh.")
