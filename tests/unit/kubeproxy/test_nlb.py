"""NLB placement and data path from the NLB test topology: addresses per zone, targets, SNAT, DNS (no root)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from dataplane.kubeproxy.loadbalancer import render_lb
from dataplane.kubeproxy.nlb import nodes_in_dns
from dataplane.realize import wiring
from dataplane.topology import load_plan
from dataplane.topology.plan import LoadBalancer, Plan

TOPOLOGY = Path(__file__).resolve().parents[2] / "integration" / "topologies" / "nlb.yaml"


def _plan(tmp_path: Path, edit: tuple[str, str] = ("", "")) -> Plan:
    text = TOPOLOGY.read_text().replace("name: NAME", "name: nlbu").replace("cni: CNI", "cni: vpc")
    path = tmp_path / "nlb.yaml"
    path.write_text(text.replace(*edit) if edit[0] else text)
    return load_plan(str(path))


@pytest.fixture
def plan(tmp_path: Path) -> Plan:
    return _plan(tmp_path)


def _lb(plan: Plan, service: str) -> LoadBalancer:
    return next(lb for lb in plan.load_balancers if lb.group == f"shop/{service}")


def test_placement_one_address_per_zone_and_no_vip(plan: Plan) -> None:
    lb = _lb(plan, "ip-default")
    assert lb.kind == "nlb" and lb.name.startswith("k8s-shop-ip-defau-") and lb.dns_name.endswith(".elb.us-east-1.amazonaws.com")
    assert [(n.zone, n.ip.rsplit(".", 1)[0]) for n in lb.nodes] == [("a", "192.168.94"), ("b", "192.168.95")]
    assert all(n.public_ip for n in lb.nodes) and not any(n.public_ip for n in _lb(plan, "cross").nodes)
    service = next(s for s in plan.services if s.name == "ip-default")
    assert service.load_balancer_ips == ()
    addresses = [a for lb in plan.load_balancers for n in lb.nodes for a in (n.ip, n.public_ip) if a]
    assert len(addresses) == len(set(addresses))
    assert plan.external is not None and plan.all_netns().count(plan.external.lb_netns) == 1


def test_rules_dnat_per_zone_and_snat_without_preservation(plan: Plan) -> None:
    text = render_lb(plan)
    a, b = _lb(plan, "ip-default").nodes
    web_a = plan.pod("shop", "web-a").ip
    assert f"ip daddr {a.public_ip} tcp dport 80 dnat ip to numgen random mod 1 map {{ 0 : {web_a} . 8080 }}" in text
    assert f"ct original ip daddr {b.public_ip} meta l4proto tcp ct original proto-dst 80 snat ip to {b.ip}" in text
    kept = _lb(plan, "ip-preserve").nodes[0]
    assert f"ct original ip daddr {kept.public_ip} meta l4proto tcp ct original proto-dst 80 ip saddr {{ 192.168.0.0/16 }}" in text
    local_b = _lb(plan, "solo-local").nodes[1]
    assert f"ip daddr {local_b.public_ip} tcp dport 80 reject" in text
    proxied = _lb(plan, "ip-proxy").nodes[0]
    assert f"ip daddr {proxied.public_ip} tcp dport 7000 dnat" not in text  # the edge agent's proxy serves it
    assert f'iifname "eth0" ip daddr {{ {", ".join(n.ip for n in _lb(plan, "cross").nodes)} }} drop' in text


def test_in_tree_ruleset_unchanged_without_nlbs(plan: Plan) -> None:
    without = dataclasses.replace(plan, load_balancers=())
    assert "nat-postrouting" not in render_lb(without)


def test_a_zone_without_healthy_target_leaves_dns(plan: Plan) -> None:
    dns = nodes_in_dns(plan)
    assert [n.zone for n in dns[_lb(plan, "solo-local").name]] == ["a"]
    assert [n.zone for n in dns[_lb(plan, "ip-default").name]] == ["a", "b"]


def test_the_router_routes_private_addresses_to_the_lb(plan: Plan) -> None:
    requests = wiring.external(plan)
    assert plan.external is not None
    router = next(r for r in requests if isinstance(r, wiring.Configure) and r.netns == plan.router_netns)
    node = _lb(plan, "cross").nodes[0]
    assert wiring.Route(f"{node.ip}/32", via=plan.external.lb_transit_ip) in router.links
    lb = next(r for r in requests if isinstance(r, wiring.Configure) and r.netns == plan.external.lb_netns)
    assert wiring.Address("lo", f"{node.ip}/32") in lb.links


def test_bad_annotation_is_a_warning_and_no_load_balancer(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("aws-load-balancer-nlb-target-type: ip\n    service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing\nspec: {type: LoadBalancer, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}\n---\n# T23: ip targets, preserve",
                                "aws-load-balancer-nlb-target-type: pod\n    service.beta.kubernetes.io/aws-load-balancer-scheme: internet-facing\nspec: {type: LoadBalancer, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}\n---\n# T23: ip targets, preserve"))
    assert not any(lb.group == "shop/ip-default" for lb in plan.load_balancers)
    assert any(w.startswith("Service shop/ip-default metadata.annotations") and "nlb-target-type" in w for w in plan.warnings)
    assert next(s for s in plan.services if s.name == "ip-default").load_balancer_ips == ()
