"""The cloud load balancer's choice of target nodes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dataplane.kubeproxy.loadbalancer import render_lb, target_nodes
from dataplane.topology.endpoints import service_port_endpoints
from dataplane.topology.plan import ServicePort

from .plans import plan, pod, service

PORT = ServicePort(80, "TCP", "http", "http", node_port=30080)


def _targets(**options: Any) -> list[str]:
    pods = (
        pod("web-0", "192.168.1.10", "node-a"),
        pod("web-1", "192.168.2.11", "node-b", ready=False, terminating=True),
    )
    svc = service("lb", "10.96.0.50", (PORT,), type="LoadBalancer", load_balancer_ips=("203.0.113.130",), **options)
    p = plan(pods, (svc,))
    [(port, endpoints)] = service_port_endpoints(p, svc)
    return [n.name for n in target_nodes(p, svc, port, endpoints)]


def test_cluster_policy_targets_every_node() -> None:
    assert _targets() == ["node-a", "node-b"]


def test_local_policy_targets_nodes_with_a_ready_endpoint() -> None:
    """A node whose only endpoint is terminating fails the health check, so the LB drains it."""
    assert _targets(external_traffic_policy="Local") == ["node-a"]


def test_only_load_balancer_services_get_listeners() -> None:
    svc = service("np", "10.96.0.51", (PORT,), type="NodePort")
    text = render_lb(plan((pod("web-0", "192.168.1.10", "node-a"),), (svc,)))
    assert "dnat" not in text and "reject" not in text


def test_a_port_without_nodeport_is_refused() -> None:
    svc = service(
        "lb", "10.96.0.50", (replace(PORT, node_port=None),), type="LoadBalancer", load_balancer_ips=("203.0.113.130",)
    )
    text = render_lb(plan((pod("web-0", "192.168.1.10", "node-a"),), (svc,)))
    assert "ip daddr 203.0.113.130 tcp dport 80 reject" in text
