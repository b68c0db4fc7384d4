"""The target grammar every command shares, with its error messages (golden)."""

from __future__ import annotations

import pytest

from dataplane.errors import InputError, StateError
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from dataplane.topology.targets import (
    NodeTarget,
    OutsideTarget,
    PodTarget,
    parse_key,
    parse_place,
    resolve_address,
    resolve_place,
    resolve_pod,
)

PLAN_TEXT = """
apiVersion: dpctl.dev/v1
kind: Topology
metadata: {name: shop}
spec:
  vpc: {cidr: 192.168.0.0/16, subnets: [{name: a, cidr: 192.168.1.0/24, zone: a}]}
  nodes: [{name: n1, subnet: a}]
---
apiVersion: v1
kind: Namespace
metadata: {name: node}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: node}
spec: {containers: [{name: c}]}
"""


@pytest.fixture(scope="module")
def plan() -> Plan:
    return plan_from_text(PLAN_TEXT, "t.yaml")


@pytest.mark.parametrize(
    ("text", "target"),
    [("shop/web", PodTarget("shop", "web")), ("node/n1", NodeTarget("n1")), ("external", OutsideTarget("external")), ("lb", OutsideTarget("lb"))],
)
def test_places_parse_to_typed_targets(text: str, target: object) -> None:
    assert parse_place(text) == target


def test_places_resolve_to_namespaces(plan: Plan) -> None:
    assert resolve_place(plan, "node/n1") == "dp-shop.n1"
    assert resolve_place(plan, "node/web") == "dp-shop.node.web"  # a Kubernetes namespace called "node"
    assert plan.external is not None and resolve_place(plan, "lb") == plan.external.lb_netns
    assert resolve_pod(plan, "node/web").name == "web"


def test_places_resolve_to_addresses(plan: Plan) -> None:
    assert plan.external is not None
    assert resolve_address(plan, "node/n1") == plan.node("n1").ip
    assert resolve_address(plan, "node/web") == plan.pod("node", "web").ip
    assert resolve_address(plan, "external") == plan.external.client_ip
    assert resolve_address(plan, "lb") == plan.external.lb_ip
    assert resolve_address(plan, "203.0.113.9") == "203.0.113.9"
    with pytest.raises(InputError):
        resolve_address(plan, "203.0.113.999")


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("web", InputError, "'web': expected NAMESPACE/POD, node/NODE, ec2/INSTANCE, onprem/SITE, external or lb"),
        ("a/b/c", InputError, "'a/b/c': expected NAMESPACE/POD, node/NODE, ec2/INSTANCE, onprem/SITE, external or lb"),
        ("/web", InputError, "'/web': expected NAMESPACE/POD, node/NODE, ec2/INSTANCE, onprem/SITE, external or lb"),
        ("shop/nope", StateError, "no pod shop/nope in shop (pods: node/web, kube-system/coredns-0, kube-system/coredns-1)"),
    ],
)
def test_bad_places_say_what_is_expected_or_what_exists(plan: Plan, text: str, error: type, message: str) -> None:
    with pytest.raises(error) as caught:
        resolve_place(plan, text)
    assert str(caught.value) == message


def test_a_node_that_does_not_exist_is_named_as_a_node() -> None:
    plan = plan_from_text(PLAN_TEXT.split("---")[0], "t.yaml")
    with pytest.raises(StateError) as caught:
        resolve_place(plan, "node/nope")
    assert str(caught.value) == "no node nope in shop (nodes: n1)"


def test_keys() -> None:
    assert parse_key("shop/web") == ("shop", "web")
    with pytest.raises(InputError) as caught:
        parse_key("web", "deployment")
    assert str(caught.value) == "'web': expected NAMESPACE/DEPLOYMENT"
