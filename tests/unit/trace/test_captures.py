"""What each captured trace must say, stated as a reader checks it: the
Service chain, the endpoint chain of the pod that answered and its DNAT, the
reject or drop and where, masquerade where kube-proxy masquerades, and no
rewrite on a plain pod-to-pod path."""

from __future__ import annotations

from dataplane.trace.hops import Hop
from dataplane.trace.report import Report

from .captures import rebuild


def request(report: Report) -> list[Hop]:
    return [h for h in report.hops if h.direction == "request"]


def names(hops: list[Hop], report: Report) -> list[str]:
    return [report.label(h.netns) for h in hops]


def test_pod_to_service_names_service_chain_endpoint_chain_and_dnat() -> None:
    report = rebuild("vpc-pod-to-service")
    hops = request(report)
    assert names(hops, report) == ["shop/client", "node a1", "vpc router", "node b1", "shop/web-1"]
    node = hops[1]
    endpoint = report.verdict.address
    assert endpoint == "192.168.60.5:8080"
    assert node.steps[0].startswith("service-") and node.steps[0].endswith("-shop/web/tcp/http")
    assert node.steps[1].startswith("endpoint-")
    assert node.steps[1].endswith(f"-shop/web/tcp/http__192.168.60.5/8080 (dnat to {endpoint})")
    assert node.rewrites == (f"DNAT {endpoint}",)
    assert (report.verdict.kind, report.label(report.verdict.netns)) == ("delivered", "shop/web-1")
    assert report.verdict_text() == f"delivered to shop/web-1 ({endpoint})"


def test_reply_is_undone_on_the_client_node() -> None:
    report = rebuild("vpc-pod-to-service")
    replies = [h for h in report.hops if h.direction == "reply"]
    assert names(replies, report) == ["shop/web-1", "node b1", "vpc router", "node a1", "shop/client"]
    assert replies[3].rewrites == ("un-DNAT 10.96.42.111:80",)
    assert replies[-1].outcome == "delivered"


def test_service_without_endpoints_is_rejected_on_the_client_node() -> None:
    report = rebuild("vpc-no-endpoints")
    hops = request(report)
    assert names(hops, report) == ["shop/client", "node a1"]
    assert hops[1].outcome == "rejected"
    assert hops[1].steps == ("reject-chain", "reject")
    assert report.verdict.kind == "rejected" and report.verdict.via == "@no-endpoint-services"
    assert report.verdict_text() == "rejected at node a1 by kube-proxy reject-chain (via @no-endpoint-services)"
    assert report.probe_outcome == "refused"


def test_unknown_port_of_a_cluster_ip_is_rejected_by_the_cluster_ips_check() -> None:
    report = rebuild("vpc-wrong-port")
    assert report.verdict.kind == "rejected"
    assert report.verdict.rule is not None and report.verdict.rule.chain == "cluster-ips-check"


def test_external_to_node_port_is_masqueraded_and_dnated_on_the_node() -> None:
    report = rebuild("vpc-external-nodeport")
    hops = request(report)
    assert names(hops, report)[:4] == ["external client", "load balancer", "vpc router", "node a1"]
    node = hops[3]
    assert node.steps[0].startswith("external-") and node.steps[0].endswith("-shop/web-np/tcp/http")
    assert "mark-for-masquerade" in node.steps and node.steps[-1] == "masquerade"
    assert node.after.src == "192.168.50.4"  # node a1's address
    assert node.after.sport != node.before.sport
    assert [r.split()[0] for r in node.rewrites] == ["DNAT", "SNAT"]
    assert report.verdict.kind == "delivered"
    assert hops[-1].before.src == "192.168.50.4"  # what the pod sees


def test_a_packet_crossing_a_namespace_twice_is_two_hops() -> None:
    # The reply is bridged by the router from node a2 to node a1, un-NATed
    # there, and routed by the router again towards the load balancer.
    report = rebuild("vpc-external-nodeport")
    replies = [h for h in report.hops if h.direction == "reply"]
    assert names(replies, report) == [
        "shop/web-0",
        "node a2",
        "vpc router",
        "node a1",
        "vpc router",
        "load balancer",
        "external client",
    ]
    assert [h.outcome for h in replies if report.label(h.netns) == "vpc router"] == ["bridged", "forwarded"]
    assert replies[3].rewrites == ("un-SNAT 203.0.113.2:28308", "un-DNAT 192.168.50.4:30080")


def test_load_balancer_dnats_to_a_node_port_then_the_node_to_a_pod() -> None:
    report = rebuild("vpc-loadbalancer")
    hops = request(report)
    lb = hops[1]
    assert report.label(lb.netns) == "load balancer"
    assert lb.rules[0].table == "dpctl-lb"
    assert lb.steps == (f"dnat to {lb.after.destination}",)
    assert lb.after.dport == 30081
    assert report.verdict.kind == "delivered"


def test_local_policy_without_local_endpoint_drops_on_the_node() -> None:
    report = rebuild("vpc-nodeport-local-drop")
    hops = request(report)
    assert hops[-1].outcome == "dropped" and report.label(hops[-1].netns) == "node a1"
    assert hops[-1].steps[-1] == "drop in nodeport-endpoints-check"
    assert (
        report.verdict_text()
        == "dropped at node a1 by kube-proxy nodeport-endpoints-check (via @no-endpoint-nodeports)"
    )
    assert report.probe_outcome == "timeout"


def test_pod_to_pod_across_nodes_crosses_both_nodes_without_rewrite() -> None:
    report = rebuild("vpc-pod-to-pod")
    hops = request(report)
    assert names(hops, report) == ["shop/client", "node a1", "vpc router", "node b1", "shop/web-1"]
    assert all(not h.rewrites and not h.steps for h in hops)
    assert [h.ttl for h in hops] == [64, 64, 63, 62, 61]


def test_same_subnet_frames_are_bridged_by_the_router() -> None:
    report = rebuild("vpc-same-subnet-bridged")
    hops = request(report)
    assert names(hops, report) == ["shop/client", "node a1", "vpc router", "node a2", "shop/web-0"]
    assert hops[2].outcome == "bridged" and hops[2].iif == hops[2].oif


def test_hairpin_to_own_service_is_masqueraded() -> None:
    report = rebuild("vpc-hairpin")
    hops = request(report)
    assert names(hops, report) == ["shop/web-2", "node a1", "shop/web-2"]
    assert "mark-for-masquerade" in hops[1].steps and hops[1].steps[-1] == "masquerade"
    assert hops[2].before.src == "192.168.50.4"
    # The client is the endpoint: the reply leaves and comes back to the same pod.
    replies = [h for h in report.hops if h.direction == "reply"]
    assert [(report.label(h.netns), h.hook) for h in replies] == [
        ("shop/web-2", "output"),
        ("node a1", "prerouting"),
        ("shop/web-2", "prerouting"),
    ]
    assert replies[-1].before.source == "10.96.152.149:80"


def test_node_to_service_is_masqueraded_in_output() -> None:
    report = rebuild("vpc-node-to-service")
    first = request(report)[0]
    assert (report.label(first.netns), first.hook, first.outcome) == ("node b1", "output", "sent")
    assert "mark-for-masquerade" in first.steps and "masquerade" in first.steps


def test_overlay_path_crosses_vxlan() -> None:
    report = rebuild("overlay-pod-to-service")
    hops = request(report)
    assert hops[1].oif == "vxlan0" and hops[2].iif == "vxlan0"
    assert hops[1].steps[1].endswith(f"(dnat to {report.verdict.address})")


def test_udp_service_answers() -> None:
    report = rebuild("overlay-udp-service")
    assert report.probe_outcome == "replied"
    assert request(report)[1].steps[0].endswith("-shop/web/udp/echo")
    assert report.verdict.kind == "delivered"


def test_external_traffic_policy_local_keeps_the_client_address() -> None:
    report = rebuild("overlay-external-local")
    hops = request(report)
    node = hops[3]
    assert any(step.startswith("local-") for step in node.steps)
    assert "masquerade" not in node.steps
    assert hops[-1].before.src == "203.0.113.2"


def test_unrouted_address_is_lost_where_routing_fails() -> None:
    report = rebuild("vpc-no-route")
    assert report.probe_outcome == "unreachable"
    assert request(report)[-1].outcome == "vanished"
    assert report.verdict_text() == "lost in vpc router (it never left: no route, or dropped outside nftables)"
