"""NetworkPolicy, pure: reading specs, selectors, per-pod resolution and each node's nft text."""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from dataplane.errors import TopologyError
from dataplane.netpol import model
from dataplane.netpol.render import render_node, rules
from dataplane.netpol.resolve import Allow, resolve
from dataplane.netpol.selectors import Selector
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGY = (ROOT / "tests/integration/topologies/netpol.yaml").read_text().replace("NAME", "np").replace("CNI", "vpc")


def _plan(text: str = TOPOLOGY) -> Plan:
    return plan_from_text(text, "netpol.yaml")


def test_policy_types_default_as_the_api_server_defaults_them() -> None:
    only_ingress = model.from_spec("ns", "a", {"podSelector": {}, "ingress": [{}]})
    both = model.from_spec("ns", "b", {"podSelector": {}, "egress": [{}]})
    assert only_ingress.ingress == (model.Rule(),) and only_ingress.egress is None
    assert both.ingress == () and both.egress == (model.Rule(),)  # egress present: Ingress and Egress


@pytest.mark.parametrize(("expressions", "labels", "expected"), [
    ([{"key": "tier", "operator": "In", "values": ["a", "b"]}], {"tier": "b"}, True),
    ([{"key": "tier", "operator": "NotIn", "values": ["a"]}], {}, True),  # NotIn holds for an absent key
    ([{"key": "tier", "operator": "Exists"}], {"x": "1"}, False),
    ([{"key": "tier", "operator": "DoesNotExist"}], {"x": "1"}, True),
])
def test_match_expressions(expressions: list[dict[str, object]], labels: dict[str, str], expected: bool) -> None:
    assert Selector.from_spec({"matchExpressions": expressions}).matches(labels) is expected


def test_resolution_isolates_selected_pods_with_the_union_of_their_rules() -> None:
    plan = _plan()
    by_pod = {d.pod.key: d for d in resolve(plan)}
    assert "ops/tool" not in by_pod and "kube-system/coredns-0" not in by_pod  # no policy selects them
    client = by_pod["shop/client"]
    assert client.ingress == ()  # default-deny: isolated, nothing allowed
    coredns = sorted((p.ip for p in plan.pods if p.labels.get("k8s-app") == "kube-dns"), key=IPv4Address)
    web = sorted((p.ip for p in plan.pods if p.labels.get("app") == "web"), key=IPv4Address)
    assert client.egress is not None
    assert Allow(tuple(coredns), (), (("UDP", 53, 53), ("TCP", 53, 53)), "shop/allow-dns egress[0]") in client.egress
    assert Allow(tuple(web), (), (("TCP", 8000, 8080),), "shop/client-egress egress[0]") in client.egress
    [web0] = [d for k, d in by_pod.items() if k.startswith("shop/web-")][:1]
    tool = plan.pod("ops", "tool").ip
    assert web0.ingress is not None and Allow((tool,), (), (("TCP", 8080, 8080),),  # "http" resolved on web
                                              "shop/web-ingress ingress[0]") in web0.ingress
    assert client.ingress_policies == ("shop/default-deny",)


def test_named_egress_ports_resolve_per_peer_and_ip_blocks_render_with_exceptions() -> None:
    text = TOPOLOGY + """---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: to-named, namespace: ops}
spec:
  podSelector: {}
  policyTypes: [Egress]
  egress:
    - to: [{namespaceSelector: {}, podSelector: {matchLabels: {app: web}}}]
      ports: [{port: tcp-echo}]
    - to: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]
"""
    plan = _plan(text)
    [tool] = [d for d in resolve(plan) if d.pod.key == "ops/tool"]
    assert tool.egress is not None
    named = [a for a in tool.egress if a.source == "ops/to-named egress[0]"]
    assert sorted(a.addresses for a in named) == sorted((p.ip,) for p in plan.pods if p.labels.get("app") == "web")
    assert all(a.ports == (("TCP", 7000, 7000),) for a in named)
    block = next(a for a in tool.egress if a.source == "ops/to-named egress[1]")
    assert rules(block, "daddr") == ["ip daddr { 10.0.0.0/8 } ip daddr != { 10.1.0.0/16 }"]
    table = render_node(plan, tool.pod.node, resolve(plan))
    assert f'iifname "{tool.pod.host_iface}" jump egress-{tool.pod.host_iface}' in table
    assert "ct state established,related accept" in table and 'counter drop comment "default deny egress' in table


def test_a_pod_without_the_named_port_gets_no_rule_for_it() -> None:
    allow = Allow(None, (), (("TCP", 0, 65535),), "x")
    assert rules(allow, "saddr") == ["meta l4proto tcp"]
    assert rules(Allow(("1.2.3.4",), (), None, "x"), "saddr") == ["ip saddr { 1.2.3.4 }"]


@pytest.mark.parametrize(("spec", "field", "message"), [
    ("ingress: [{ports: [{port: 90, endPort: 80}]}]", "spec.ingress[0].ports[0].endPort", "at least port"),
    ("ingress: [{ports: [{port: http, endPort: 80}]}]", "spec.ingress[0].ports[0].endPort", "numeric port"),
    ("ingress: [{from: [{ipBlock: {cidr: 10.0.0.0/16, except: [10.1.0.0/24]}}]}]",
     "spec.ingress[0].from[0].ipBlock.except[0]", "strictly within"),
    ("egress: [{to: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]", "spec.egress[0].to[0]", "cannot be combined"),
    ("ingress: [{from: [{podSelector: {matchExpressions: [{key: a, operator: In}]}}]}]",
     "spec.ingress[0].from[0].podSelector.matchExpressions[0].values", "non-empty"),
])
def test_what_the_api_server_refuses_is_an_error_at_its_field(spec: str, field: str, message: str) -> None:
    text = TOPOLOGY + f"""---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {{name: bad, namespace: shop}}
spec:
  podSelector: {{}}
  {spec}
"""
    with pytest.raises(TopologyError) as raised:
        _plan(text)
    assert field in str(raised.value) and message in str(raised.value)
