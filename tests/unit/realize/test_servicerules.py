"""Which Service ruleset goes to which namespace, and which UDP flows a change leaves stale."""

from __future__ import annotations

import pytest

from dataplane.kubeproxy.loadbalancer import render_lb
from dataplane.kubeproxy.render import detector_for, render_node
from dataplane.realize import servicerules
from dataplane.realize.servicerules import StaleUdpFlow
from tests.unit.realize.plans import small, with_echo


@pytest.mark.parametrize(
    ("cni", "local_traffic"),
    [("vpc", 'iifname != "pv*"'), ("overlay", "ip saddr != 10.244.0.0/16")],
)
def test_each_node_gets_its_own_kube_proxy_table_then_the_load_balancer(cni: str, local_traffic: str) -> None:
    plan = small(cni)
    rulesets = list(servicerules.rulesets(plan))
    assert [netns for netns, _ in rulesets] == ["dp-t.a1", "dp-t.b1", "dp-t.lb"]
    assert rulesets == [
        ("dp-t.a1", render_node(plan, "a1", detect_local=detector_for(plan))),
        ("dp-t.b1", render_node(plan, "b1", detect_local=detector_for(plan))),
        ("dp-t.lb", render_lb(plan)),
    ]
    # the CNI's local-traffic detector, and NodePorts on each node's own address
    assert all(local_traffic in text for _, text in rulesets[:2])
    assert "\t\t\t192.168.10.4,\n" in rulesets[0][1] and "192.168.20.4," not in rulesets[0][1]


def test_udp_frontends_are_every_address_a_udp_port_answers_on() -> None:
    plan = with_echo(3)
    echo = ["192.168.10.6", "192.168.20.5", "192.168.20.6"]
    assert {k: sorted(v) for k, v in servicerules.udp_frontends(plan).items()} == {
        ("10.96.255.247", 7001): echo,  # ClusterIP
        ("192.168.10.4", 30001): echo,  # NodePort on every node
        ("192.168.20.4", 30001): echo,
        ("10.96.0.10", 53): ["192.168.10.7", "192.168.20.7"],  # cluster DNS
    }


def test_scaling_down_flushes_the_gone_endpoints_on_every_node() -> None:
    old = with_echo(3)
    new = with_echo(1, previous=old)
    assert [p.ip for p in new.pods if p.name.startswith("echo-")] == ["192.168.20.5"]
    expected = [
        StaleUdpFlow(node, address, port, endpoint)
        for address, port in [("10.96.255.247", 7001), ("192.168.10.4", 30001), ("192.168.20.4", 30001)]
        for endpoint in ["192.168.10.6", "192.168.20.6"]
        for node in ["dp-t.a1", "dp-t.b1"]
    ]
    assert servicerules.stale_udp_flows(old, new) == expected


def test_nothing_is_stale_when_endpoints_only_grow() -> None:
    old = with_echo(1)
    assert servicerules.stale_udp_flows(old, old) == []
    assert servicerules.stale_udp_flows(old, with_echo(3, previous=old)) == []
