"""ALB Gateways (Gateway API on the AWS Load Balancer Controller), pure: what a Gateway and its
HTTPRoutes become in the ALB model, and what the controller does not support."""

from __future__ import annotations

from pathlib import Path

from dataplane.edge import albmatch
from dataplane.edge.albmodel import Alb, FixedResponse, Forward, Redirect
from dataplane.topology import plan_from_text
from dataplane.topology.albs import all_albs
from dataplane.topology.plan import Plan

ROOT = Path(__file__).resolve().parents[3]
TOPOLOGY = (ROOT / "tests/integration/topologies/alb-gateway.yaml").read_text().replace("NAME", "g").replace("CNI", "vpc")


def _plan(extra: str = "") -> Plan:
    return plan_from_text(TOPOLOGY + extra, "alb-gateway.yaml")


def _alb(plan: Plan) -> Alb:
    [alb] = [a for a in all_albs(plan.traffic, _quiet, _quiet) if a.name == "gateway:shop/edge"]
    return alb


def _quiet(path: str, message: str) -> None:
    """Reported when the file was read."""


def test_a_gateway_of_an_alb_class_is_an_internet_facing_alb_with_the_configured_certificate() -> None:
    plan = _plan()
    [lb] = [lb for lb in plan.load_balancers if lb.group == "gateway:shop/edge"]
    assert lb.kind == "alb" and lb.scheme == "internet-facing" and len(lb.nodes) == 2
    alb = _alb(plan)
    assert [(li.protocol, li.port) for li in alb.listeners] == [("HTTP", 80), ("HTTPS", 443)]
    https = alb.listeners[1]
    assert https.certificates == ("arn:aws:acm:us-east-1:111122223333:certificate/app",) and not https.discover
    assert alb.hostnames == ("app.example.com",)
    assert not [a for a in plan.accepted_only if a.kind in ("Gateway", "GatewayClass")]


def test_rules_follow_gateway_api_precedence_with_conditions_and_weights() -> None:
    listener = _alb(_plan()).listeners[0]
    api, canary, rest = listener.rules
    assert api.paths == ("/api", "/api/*") and api.hosts == ("app.example.com",)
    assert isinstance(api.action, Forward) and api.action.target_group.target_type == "ip"  # TargetGroupConfiguration
    assert [(c.field, c.name, c.values) for c in canary.conditions] == [("http-header", "x-canary", ("yes",))]
    assert isinstance(rest.action, Forward)
    assert [(g.service, g.target_type, w) for g, w in rest.action.groups()] == [
        ("web", "instance", 80), ("canary", "instance", 20)]
    assert albmatch.select(listener, "app.example.com", "/api/x")[0] is api
    assert albmatch.select(listener, "app.example.com", "/apix")[0] is rest  # element-wise prefix
    assert albmatch.select(listener, "app.example.com", "/", headers=(("x-canary", "YES"),))[0] is canary
    assert isinstance(albmatch.select(listener, "other.example.com", "/")[1], FixedResponse)


def test_unsupported_fields_are_warned_and_regex_rules_left_out() -> None:
    extra = """---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: odd, namespace: shop}
spec:
  parentRefs: [{name: edge, sectionName: http}]
  hostnames: [odd.example.com]
  rules:
    - matches: [{path: {type: RegularExpression, value: "/v[0-9]+"}}]
      backendRefs: [{name: web, port: 80}]
    - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x, value: y}]}}]
      backendRefs: [{name: web, port: 80}]
    - matches: [{path: {type: Exact, value: /old}}]
      filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
"""
    plan = _plan(extra)
    said = [w for w in plan.warnings if "HTTPRoute shop/odd" in w]
    assert any("RegularExpression path match is not supported" in w for w in said)
    assert any("header modifiers are not supported on an ALB Gateway" in w for w in said)
    http = _alb(plan).listeners[0]
    odd = [r for r in http.rules if r.hosts == ("odd.example.com",)]
    assert len(odd) == 2 and isinstance(odd[0].action, Redirect) and odd[0].paths == ("/old",)
    assert (odd[0].action.protocol, odd[0].action.port, odd[0].action.status) == ("HTTPS", "443", 301)


def test_certificate_refs_are_not_supported_and_discovery_takes_over() -> None:
    text = TOPOLOGY.replace("  infrastructure:\n    parametersRef: {group: gateway.k8s.aws, kind: LoadBalancerConfiguration, name: public}\n", "")
    text = text.replace("    - {name: https, protocol: HTTPS, port: 443}",
                        "    - {name: https, protocol: HTTPS, port: 443, tls: {certificateRefs: [{name: c}]}}")
    plan = plan_from_text(text, "alb-gateway.yaml")
    assert any("certificateRefs: not supported by the AWS Load Balancer Controller" in w for w in plan.warnings)
    https = _alb(plan).listeners[1]
    assert https.certificates == () and https.discover == ("app.example.com",)
    [lb] = [lb for lb in plan.load_balancers if lb.group == "gateway:shop/edge"]
    assert lb.scheme == "internal"  # no LoadBalancerConfiguration: the controller's default


def test_a_gateway_of_another_class_is_not_enforced() -> None:
    plan = _plan("---\napiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\nmetadata: {name: x, namespace: shop}\n"
                 "spec: {gatewayClassName: nginx, listeners: [{name: h, port: 80, protocol: HTTP}]}\n")
    assert [(a.kind, a.name) for a in plan.accepted_only if a.kind == "Gateway"] == [("Gateway", "shop/x")]
