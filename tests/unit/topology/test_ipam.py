from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest

from dataplane.errors import TopologyError
from dataplane.topology import plan_from_text

from .conftest import user_pods


def test_vpc_mode_reserves_like_aws_then_nodes_then_pods(topology: Callable[..., str], make: SimpleNamespace) -> None:
    nodes = (
        "    - {name: node-a, subnet: private-a}\n    - {name: node-b, subnet: private-a, ip: 192.168.1.4}\n"
        "    - {name: node-c, subnet: private-a}\n"
    )
    plan = plan_from_text(topology(zones="a", nodes=nodes) + make.deployment("web", 3), "t.yaml")
    # .1 router, .2-.3 reserved; node-b's explicit .4 is skipped by the others
    assert [(n.name, n.ip, n.gateway) for n in plan.nodes] == [
        ("node-a", "192.168.1.5", "192.168.1.1"),
        ("node-b", "192.168.1.4", "192.168.1.1"),
        ("node-c", "192.168.1.6", "192.168.1.1"),
    ]
    assert [p.ip for p in user_pods(plan)] == ["192.168.1.7", "192.168.1.8", "192.168.1.9"]
    assert plan.pod_cidr is None and plan.nodes[0].pod_cidr is None


def test_pods_are_numbered_in_plan_order_within_each_subnet(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    plan = plan_from_text(topology(zones="ab") + make.deployment("a", 2) + make.deployment("b", 2), "t.yaml")
    assert [(p.name, p.ip) for p in user_pods(plan)] == [
        ("a-0", "192.168.1.5"),
        ("a-1", "192.168.2.5"),
        ("b-0", "192.168.1.6"),
        ("b-1", "192.168.2.6"),
    ]


def test_overlay_gives_each_node_a_block_and_pods_its_hosts_from_the_second(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    extra = "  podCIDR: 10.244.0.0/16\n  nodeCIDRMaskSize: 26\n"
    plan = plan_from_text(topology(zones="ab", cni="overlay", extra=extra) + make.deployment("web", 4), "t.yaml")
    assert plan.pod_cidr == "10.244.0.0/16"
    assert [(n.ip, n.pod_cidr, n.vtep_ip) for n in plan.nodes] == [
        ("192.168.1.4", "10.244.0.0/26", "10.244.0.0"),
        ("192.168.2.4", "10.244.0.64/26", "10.244.0.64"),
    ]
    assert [(p.node, p.ip) for p in user_pods(plan)] == [
        ("node-a", "10.244.0.2"),
        ("node-b", "10.244.0.66"),
        ("node-a", "10.244.0.3"),
        ("node-b", "10.244.0.67"),
    ]


def test_overlay_defaults(topology: Callable[..., str]) -> None:
    plan = plan_from_text(topology(zones="a", cni="overlay"), "t.yaml")
    assert (plan.pod_cidr, plan.nodes[0].pod_cidr) == ("10.244.0.0/16", "10.244.0.0/24")


def test_a_full_subnet_is_one_problem_with_the_numbers(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology(zones="a").replace("192.168.1.0/24", "192.168.1.0/28") + make.deployment("web", 10)
    with pytest.raises(TopologyError) as raised:
        plan_from_text(text, "t.yaml")
    assert [p.message for p in raised.value.problems] == [
        "subnet 'private-a' (192.168.1.0/28) is too small: 1 node and 12 pods (2 of them cluster DNS) "
        + "need 13 addresses, it has 11"
    ]


def test_a_slash_28_holds_exactly_eleven(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology(zones="a").replace("192.168.1.0/24", "192.168.1.0/28") + make.deployment("web", 8)
    plan = plan_from_text(text, "t.yaml")
    assert [p.ip for p in plan.pods] == [f"192.168.1.{i}" for i in range(5, 15)]  # .4 node, .15 broadcast
    assert [p.name for p in plan.pods[-2:]] == ["coredns-0", "coredns-1"]
