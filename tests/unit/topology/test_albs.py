"""Where the ALBs of Ingress groups are placed, what they are called, and what the
file is told when the controller would build none."""

from __future__ import annotations

from pathlib import Path

from dataplane.topology import plan_from_text
from dataplane.topology.albs import alb_name
from dataplane.topology.plan import Accepted, Plan

ROOT = Path(__file__).resolve().parents[3]


def _plan(cni: str = "vpc", extra: str = "") -> Plan:
    text = (ROOT / "tests/integration/topologies/alb.yaml").read_text().replace("NAME", "edge").replace("CNI", cni)
    return plan_from_text(text + extra, "alb.yaml")


def test_one_node_per_zone_at_the_top_of_each_subnet_and_of_the_pool() -> None:
    plan = _plan()
    assert [lb.group for lb in plan.load_balancers] == ["shop/secure", "shop/shop"]
    secure, shop = plan.load_balancers
    assert [(n.zone, n.ip, n.public_ip) for n in secure.nodes] == [
        ("a", "192.168.90.254", "203.0.113.254"), ("b", "192.168.91.254", "203.0.113.253"),
    ]
    assert [n.ip for n in shop.nodes] == ["192.168.90.253", "192.168.91.253"]
    taken = {p.ip for p in plan.pods} | {n.ip for n in plan.nodes}
    assert not taken & {n.ip for lb in plan.load_balancers for n in lb.nodes}
    assert all(n.netns.startswith("dp-edge.elb_") and len(n.router_iface) <= 15 for lb in plan.load_balancers for n in lb.nodes)
    assert shop.ingresses == ("shop/shop",) and shop.scheme == "internet-facing"


def test_names_fit_elbv2_and_dns_names_look_like_aws() -> None:
    assert len(alb_name("a-very-long-group-name-that-goes-on-and-on")) <= 32
    assert alb_name("shop/web").startswith("k8s-shop-web-")
    internal = _plan(extra=_INTERNAL).load_balancers
    [inner] = [lb for lb in internal if lb.group == "inner"]
    assert inner.dns_name.startswith("internal-k8s-inner-") and all(n.public_ip is None for n in inner.nodes)


_INTERNAL = """---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: inner
  namespace: shop
  annotations: {alb.ingress.kubernetes.io/group.name: inner}
spec:
  ingressClassName: alb
  defaultBackend: {service: {name: web, port: {number: 80}}}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: nginx, namespace: shop}
spec:
  ingressClassName: nginx
  defaultBackend: {service: {name: web, port: {number: 80}}}
"""


def test_another_controllers_ingress_is_read_but_not_enforced() -> None:
    plan = _plan(extra=_INTERNAL)
    assert Accepted("Ingress", "shop/nginx", "not yet enforced") in plan.accepted_only
    assert not any(a.kind == "IngressClass" for a in plan.accepted_only)  # alb is the ALB controller's


def test_a_bad_annotation_is_a_warning_and_its_group_gets_no_alb() -> None:
    bad = _INTERNAL.replace("{alb.ingress.kubernetes.io/group.name: inner}",
                            "{alb.ingress.kubernetes.io/group.name: inner, alb.ingress.kubernetes.io/scheme: public}")
    plan = _plan(extra=bad)
    assert "inner" not in {lb.group for lb in plan.load_balancers}
    assert any(w.startswith('Ingress shop/inner: metadata.annotations["alb.ingress.kubernetes.io/scheme"]')
               and "builds no ALB" in w for w in plan.warnings), plan.warnings


def test_ip_targets_on_an_overlay_are_said_to_be_unreachable() -> None:
    plan = _plan("overlay")
    assert any("target-type ip" in w and "cni: vpc" in w for w in plan.warnings)
