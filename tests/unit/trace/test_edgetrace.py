"""The edge part of ``dpctl trace external URL``, from the ALB test topology (no root)."""

from __future__ import annotations

from pathlib import Path

from dataplane.edge.zonalshift import ZonalShift
from dataplane.route53.records import HostedZone, Record
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from dataplane.trace import edgetrace

ROOT = Path(__file__).resolve().parents[3]


def _plan() -> Plan:
    text = (ROOT / "tests/integration/topologies/alb.yaml").read_text().replace("NAME", "t").replace("CNI", "vpc")
    return plan_from_text(text, "alb.yaml")


def test_urls() -> None:
    assert edgetrace.parse_url("https://A.example.com/x?y=1") == edgetrace.Url("https", "a.example.com", 443, "/x?y=1")
    assert edgetrace.parse_url("http://a.example.com:8080") == edgetrace.Url("http", "a.example.com", 8080, "/")
    assert edgetrace.parse_url("svc/shop/web") is None and edgetrace.parse_url("ftp://x/") is None


def test_a_request_meets_dns_the_node_the_certificate_the_rule_and_the_targets() -> None:
    plan = _plan()
    shop = next(lb for lb in plan.load_balancers if lb.group == "shop/shop")
    zone = HostedZone("example.com", False, (Record("b.example.com", "A", None, (), shop.dns_name, True),))
    answer, how = edgetrace.resolve(plan, (zone,), (ZonalShift(shop.name, "a", 0.0, 99.0),), 1.0, "b.example.com")
    assert answer == tuple(n.public_ip for n in shop.nodes if n.zone == "b") and "zone a shifted away" in how
    url = edgetrace.parse_url("https://b.example.com/x")
    assert url is not None
    trace = edgetrace.trace_edge(plan, url, answer, how)
    steps = "\n".join(trace.steps)
    assert "its node in zone b" in steps and "certificate arn:aws:acm:us-east-1:111122223333:certificate/bbbb" in steps
    assert "rule: shop/shop rule[1] path[0]" in steps and "shop/web-0" in steps and "shop/web-1" in steps


def test_names_the_client_cannot_resolve_say_why() -> None:
    zone = HostedZone("example.com", False, ())
    assert "NXDOMAIN" in edgetrace.resolve(_plan(), (zone,), (), 0.0, "x.example.com")[1]
    assert "REFUSED" in edgetrace.resolve(_plan(), (zone,), (), 0.0, "example.org")[1]
