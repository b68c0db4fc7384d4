"""EndpointSlice-like data: selection, target port resolution, conditions, order."""

from __future__ import annotations

from dataclasses import replace

from dataplane.topology.endpoints import (
    PodIndex,
    all_service_endpoints,
    selected_pods,
    service_port_endpoints,
    target_port,
)
from dataplane.topology.plan import ContainerPort, ServicePort
from tests.unit.kubeproxy.plans import HTTP, plan, pod, service

HTTP_PORT = ServicePort(80, "TCP", "http", "http")


def _conditions(p_ready: bool, p_terminating: bool, publish: bool = False) -> tuple[bool, bool, bool]:
    svc = service("web", "10.96.0.1", (HTTP_PORT,), publish_not_ready_addresses=publish)
    p = plan((pod("web-0", "192.168.1.10", "node-a", ready=p_ready, terminating=p_terminating),), (svc,))
    [(_, [e])] = service_port_endpoints(p, svc)
    return (e.ready, e.serving, e.terminating)


def test_conditions_as_endpointslices_carry_them() -> None:
    assert _conditions(True, False) == (True, True, False)
    assert _conditions(False, False) == (False, False, False)
    assert _conditions(True, True) == (False, True, True)  # serving while terminating
    assert _conditions(False, True) == (False, False, True)


def test_publish_not_ready_addresses_makes_every_pod_ready() -> None:
    assert _conditions(False, False, publish=True) == (True, True, False)
    assert _conditions(False, True, publish=True) == (True, True, True)


def test_named_target_port_is_resolved_per_pod_and_protocol() -> None:
    udp_dns = ContainerPort(5353, "UDP", "dns", "udp-echo")
    tcp_dns = ContainerPort(5354, "TCP", "dns", "tcp-echo")
    a = pod("a", "192.168.1.10", "node-a", ports=(HTTP, udp_dns))
    b = pod("b", "192.168.2.11", "node-b", ports=(ContainerPort(9090, "TCP", "http", "http"), tcp_dns))
    dns = ServicePort(53, "UDP", "dns", "dns")
    assert (target_port(HTTP_PORT, a), target_port(HTTP_PORT, b)) == (8080, 9090)
    assert (target_port(dns, a), target_port(dns, b)) == (5353, None)
    assert target_port(ServicePort(80, "TCP", "x", 81), b) == 81
    assert target_port(ServicePort(80, "TCP"), b) == 80
    svc = service("web", "10.96.0.1", (HTTP_PORT, dns))
    [(_, http_eps), (_, dns_eps)] = service_port_endpoints(plan((a, b), (svc,)), svc)
    assert [(e.pod, e.port) for e in http_eps] == [("a", 8080), ("b", 9090)]
    assert [(e.pod, e.port) for e in dns_eps] == [("a", 5353)]


def test_selection_by_namespace_and_every_label() -> None:
    same = pod("web-0", "192.168.1.10", "node-a")
    other_ns = pod("web-1", "192.168.1.11", "node-a", namespace="other")
    extra = replace(pod("web-2", "192.168.1.12", "node-a"), labels={"app": "web", "tier": "front"})
    p = plan((same, other_ns, extra), ())
    assert selected_pods(p, service("web", "10.96.0.1")) == (same, extra)
    picky = service("web", "10.96.0.1", selector={"app": "web", "tier": "front"})
    assert selected_pods(p, picky) == (extra,)


def test_no_selector_and_external_name_have_no_endpoints() -> None:
    p = plan((pod("web-0", "192.168.1.10", "node-a"),), ())
    assert selected_pods(p, service("manual", "10.96.0.1", selector={})) == ()
    external = service("docs", None, (), type="ExternalName", external_name="docs.example.com")
    assert selected_pods(p, external) == ()


def test_endpoints_are_ordered_by_address() -> None:
    pods = (
        pod("z", "192.168.1.9", "node-a"),
        pod("a", "192.168.1.10", "node-a"),
        pod("m", "192.168.1.100", "node-a"),
    )
    svc = service("web", "10.96.0.1")
    [(_, eps)] = all_service_endpoints(plan(pods[::-1], (svc,)))["shop/web"]
    assert [e.ip for e in eps] == ["192.168.1.9", "192.168.1.10", "192.168.1.100"]
    assert (eps[0].key, eps[0].node, eps[0].zone) == ("shop/z", "node-a", "a")


def test_index_matches_a_plain_scan() -> None:
    pods = tuple(
        replace(pod(f"p{i}", f"192.168.1.{i}", "node-a"), labels={"app": f"a{i % 3}", "v": str(i % 2)})
        for i in range(1, 13)
    )
    index = PodIndex(pods)
    for selector in ({"app": "a1"}, {"app": "a2", "v": "0"}, {"app": "nope"}):
        expected = [p for p in pods if all(p.labels.get(k) == v for k, v in selector.items())]
        assert list(index.select("shop", selector)) == expected
