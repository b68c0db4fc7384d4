"""The edge check's plan and judgement, from the ALB test topology (no root)."""

from __future__ import annotations

import json
from pathlib import Path

from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from dataplane.verify.checks.edge import judge
from dataplane.verify.edgeplan import EdgeTrial, Unchecked, nlb_trials, plan_edge
from dataplane.verify.gatewayplan import gateway_trials

ROOT = Path(__file__).resolve().parents[3]
CERT_A = "arn:aws:acm:us-east-1:111122223333:certificate/aaaa"
CERT_B = "arn:aws:acm:us-east-1:111122223333:certificate/bbbb"


def _plan() -> Plan:
    text = (ROOT / "tests/integration/topologies/alb.yaml").read_text().replace("NAME", "e").replace("CNI", "vpc")
    return plan_from_text(text, "alb.yaml")


def _trials() -> dict[str, EdgeTrial]:
    return {t.subject: t for t in plan_edge(_plan()) if isinstance(t, EdgeTrial)}


def test_every_rule_and_default_on_every_zone_node() -> None:
    trials = _trials()
    shop_a = {s: t for s, t in trials.items() if "k8s-shop-shop" in s and " zone a HTTPS:443 " in s}
    assert sorted(t.path for t in shop_a.values()) == ["/api", "/api/health", "/dpctl-edge-default", "/x"]
    health = next(t for t in shop_a.values() if t.path == "/api/health")
    assert health.pods == frozenset({"shop/web-0", "shop/web-1"}) and health.certificate == CERT_A
    default = next(t for t in shop_a.values() if t.path == "/dpctl-edge-default")
    assert (default.status, default.certificate) == (404, CERT_A)  # no SNI match: the first ARN
    b_host = next(t for t in shop_a.values() if t.host == "b.example.com")
    assert b_host.certificate == CERT_B and b_host.peers == frozenset({"192.168.90.253"})  # ip targets: the ALB node
    redirect = next(t for s, t in trials.items() if "k8s-shop-secure" in s and "HTTP:80" in s)
    assert (redirect.status, redirect.location) == (301, f"https://{redirect.host}{redirect.path}")
    instance = next(t for s, t in trials.items() if "k8s-shop-secure" in s and "HTTPS:443" in s and t.status is None)
    assert instance.peers == {n.ip for n in _plan().nodes}  # instance targets, externalTrafficPolicy Cluster


_SHADOWED = """---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: first
  namespace: shop
  annotations: {alb.ingress.kubernetes.io/group.name: g, alb.ingress.kubernetes.io/group.order: "1",
                alb.ingress.kubernetes.io/scheme: internet-facing}
spec:
  ingressClassName: alb
  rules: [{http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}]}}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: second
  namespace: shop
  annotations: {alb.ingress.kubernetes.io/group.name: g, alb.ingress.kubernetes.io/group.order: "2",
                alb.ingress.kubernetes.io/scheme: internet-facing}
spec:
  ingressClassName: alb
  rules: [{http: {paths: [{path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 80}}}}]}}]
"""


def test_a_rule_an_earlier_one_shadows_is_not_checkable() -> None:
    text = (ROOT / "tests/integration/topologies/alb.yaml").read_text().replace("NAME", "e").replace("CNI", "vpc")
    items = plan_edge(plan_from_text(text + _SHADOWED, "alb.yaml"))
    shadowed = [i for i in items if isinstance(i, Unchecked) and "shop/second" in i.subject]
    assert shadowed and all("goes to shop/first rule[0] path[0] first" in i.reason for i in shadowed)


def test_judge_names_every_difference() -> None:
    plan = _plan()
    trial = next(t for t in _trials().values() if t.path == "/api/health" and t.tls)
    report = {"namespace": "shop", "pod": "api-0", "client": "10.9.9.9:1", "headers": {
        "x-forwarded-for": "203.0.113.2", "x-forwarded-proto": "http", "x-forwarded-port": "443"}}
    off = judge(plan, trial, CERT_B, 200, {}, json.dumps(report).encode())
    assert any(o.startswith("certificate") for o in off) and any(o.startswith("answered by shop/api-0") for o in off)
    assert any("peer was 10.9.9.9:1" in o for o in off) and any(o.startswith("x-forwarded-proto") for o in off)
    assert "no X-Amzn-Trace-Id Root" in off
    good = dict(report, pod="web-0", client=f"{trial.address}:1")
    good["client"] = f"{next(iter(trial.peers))}:1"
    good["headers"] = {**report["headers"], "x-forwarded-proto": "https", "x-amzn-trace-id": "Root=1-a-b"}
    assert judge(plan, trial, CERT_A, 200, {}, json.dumps(good).encode()) == []


def test_names_resolve_to_the_alias_targets_public_addresses_less_a_shifted_zone() -> None:
    from dataplane.edge.zonalshift import ZonalShift
    from dataplane.route53.records import HostedZone, Record
    from dataplane.verify.edgeplan import dns_trials

    plan = _plan()
    shop = next(lb for lb in plan.load_balancers if lb.group == "shop/shop")
    zone = HostedZone("example.com", False, (
        Record("shop.example.com", "A", None, (), shop.dns_name, True),
        Record("static.example.com", "A", 60, ("198.51.100.9",)),
        Record("a-shop.example.com", "TXT", 300, ('"heritage=external-dns"',)),
    ))
    private = HostedZone("corp.internal", True, (Record("db.corp.internal", "A", 60, ("10.0.0.9",)),))
    trials = {t.name: t.expected for t in dns_trials(plan, (zone, private), (), 0.0)}
    assert trials == {"shop.example.com": {n.public_ip for n in shop.nodes}, "static.example.com": {"198.51.100.9"}}
    shifted = dns_trials(plan, (zone,), (ZonalShift(shop.name, "a", 0.0, 10.0),), 5.0)
    assert next(t.expected for t in shifted if t.name == "shop.example.com") == {
        n.public_ip for n in shop.nodes if n.zone == "b"
    }


def _nlb_trials() -> dict[str, EdgeTrial | Unchecked]:
    plan = _plan_nlb()
    names = {lb.name: lb.group.split("/")[1] for lb in plan.load_balancers if lb.kind == "nlb"}
    return {f"{names[t.subject.split()[1]]} {' '.join(t.subject.split()[2:])}": t for t in nlb_trials(plan)}


def test_nlb_peers_follow_the_reference_table() -> None:
    trials = _nlb_trials()
    plan = _plan_nlb()
    assert plan.external is not None
    default, preserve = trials["ip-default zone a TCP:80"], trials["ip-preserve zone a TCP:80"]
    assert isinstance(default, EdgeTrial) and isinstance(preserve, EdgeTrial)
    [lb] = [lb for lb in plan.load_balancers if lb.group == "shop/ip-default"]
    assert default.peers == {next(n.ip for n in lb.nodes if n.zone == "a")}  # T23: the NLB's private address
    assert preserve.peers == {plan.external.client_ip}  # T23: preserved
    assert default.pods == {"shop/web-a"}  # cross-zone off: zone a's node sends to zone a's pod only
    local = trials["solo-local zone a TCP:80"]
    assert isinstance(local, EdgeTrial) and local.peers == {plan.external.client_ip}  # T24 Local
    assert isinstance(trials["solo-local zone b TCP:80"], Unchecked)  # no local endpoint: node b refuses
    cluster = trials["solo-cluster zone b TCP:80"]
    assert isinstance(cluster, EdgeTrial) and cluster.peers == {n.ip for n in plan.nodes}  # T24 Cluster
    assert default.balancer == "nlb"


def _plan_nlb() -> Plan:
    text = (ROOT / "tests/integration/topologies/nlb.yaml").read_text().replace("NAME", "n").replace("CNI", "vpc")
    return plan_from_text(text, "nlb.yaml")


def test_judge_an_nlb_answer_by_peer_and_no_added_headers() -> None:
    plan = _plan_nlb()
    trial = _nlb_trials()["ip-preserve zone a TCP:80"]
    assert isinstance(trial, EdgeTrial) and plan.external is not None
    report = {"namespace": "shop", "pod": "web-a", "client": f"{plan.external.client_ip}:5", "headers": {}}
    assert judge(plan, trial, None, 200, {}, json.dumps(report).encode()) == []
    added = dict(report, headers={"x-forwarded-for": "1.2.3.4"}, client="10.9.9.9:5")
    off = judge(plan, trial, None, 200, {}, json.dumps(added).encode())
    assert any("peer was 10.9.9.9:5" in o for o in off) and any("x-forwarded-for added" in o for o in off)


def test_every_ingress_gateway_route_gets_a_request_it_takes() -> None:
    text = (ROOT / "tests/integration/topologies/gateway.yaml").read_text().replace("NAME", "g").replace("CNI", "vpc")
    plan = plan_from_text(text, "gateway.yaml")
    trials = {t.subject: t for t in gateway_trials(plan)}
    api = next(t for s, t in trials.items() if isinstance(t, EdgeTrial) and "http HTTP:80" in s and t.path == "/api")
    assert api.host == "a.example.com" and api.pods == {p.key for p in plan.pods if p.labels.get("app") == "api"}
    gateway_pod = next(p for p in plan.pods if p.owner == "Deployment/gw-istio")
    assert api.peers == {gateway_pod.ip} and api.balancer == "gateway"
    grpc = next(t for s, t in trials.items() if "GRPCRoute shop/calls rule 0" in s)
    assert isinstance(grpc, EdgeTrial) and grpc.path == "/grpc.health.v1.Health/Check" and grpc.method == "GET"
    assert any(isinstance(t, Unchecked) and "passthrough" in t.reason for t in trials.values())
    assert any(isinstance(t, EdgeTrial) and t.status == 404 for t in trials.values())  # a host no route serves
