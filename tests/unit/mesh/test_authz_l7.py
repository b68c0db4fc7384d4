"""A waypoint's per-request authorization: targetRefs attachment, DENY before ALLOW,
HTTP fields, header conditions, path templates, and Envoy's match details."""

from __future__ import annotations

from dataplane.mesh import authz_l7
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan

BASE = """apiVersion: dpctl.dev/v1
kind: Topology
metadata: {name: l7}
spec:
  vpc: {cidr: 192.168.0.0/16, subnets: [{name: a, cidr: 192.168.1.0/24, zone: a}]}
  nodes: [{name: n1, subnet: a}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: default}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-get, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  action: ALLOW
  rules: [{from: [{source: {principals: [cluster.local/ns/default/sa/curl]}}], to: [{operation: {methods: [GET]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: block, namespace: default}
spec:
  targetRefs: [{kind: Gateway, group: gateway.networking.k8s.io, name: waypoint}]
  action: DENY
  rules: [{when: [{key: "request.headers[x-block]", values: ["1"]}]}]
"""
CURL = "spiffe://cluster.local/ns/default/sa/curl"
OTHER = "spiffe://cluster.local/ns/default/sa/other"


def _plan() -> Plan:
    return plan_from_text(BASE, "t.yaml")


def _ask(plan: Plan, method: str = "GET", principal: str | None = CURL, service: str = "reviews",
         headers: tuple[tuple[str, str], ...] = ()) -> authz_l7.Verdict:
    request = authz_l7.HttpRequest(method, "/", "reviews:9080", 9080, headers, "192.168.1.9", principal)
    return authz_l7.evaluate(plan, plan.waypoints[0], ("default", service), request)


def test_case_23_only_get_from_curl_reaches_reviews() -> None:
    plan = _plan()
    assert _ask(plan).allowed
    assert _ask(plan, "DELETE") == authz_l7.Verdict(False, "none")
    assert not _ask(plan, principal=OTHER).allowed
    assert _ask(plan, "DELETE", service="ratings").allowed  # the Service policy does not cover ratings


def test_case_24_a_gateway_deny_wins_over_an_allow() -> None:
    verdict = _ask(_plan(), headers=(("x-block", "1"),))
    assert verdict == authz_l7.Verdict(False, "ns[default]-policy[block]-rule[0]", "default/block")


def test_ztunnel_ignores_waypoint_policies() -> None:
    from dataplane.mesh import authz

    plan = _plan()
    [pod] = [p for p in plan.pods if p.name == "waypoint-0"]
    assert authz.policies_for(plan, pod) == ()


def test_path_templates_and_forms() -> None:
    assert authz_l7.path_matches("/api/{*}/items", "/api/v1/items")
    assert not authz_l7.path_matches("/api/{*}/items", "/api/v1/x/items")
    assert authz_l7.path_matches("/api/{**}", "/api/v1/x/items")
    assert authz_l7.path_matches("/api/*", "/api/anything") and authz_l7.path_matches("*.css", "/a/b.css")
    assert not authz_l7.path_matches("/exact", "/exact/")


CUSTOM = """---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  action: CUSTOM
  provider: {name: PROVIDER}
  rules: [{to: [{operation: {paths: [/headers]}}]}]
"""
MESH_CONFIG = """  meshConfig:
    extensionProviders:
      - name: sample
        envoyExtAuthzHttp: {service: ext-authz.default.svc.cluster.local, port: 8000}
"""


def _custom_plan(provider: str = "sample") -> Plan:
    text = BASE.replace("  nodes: [{name: n1, subnet: a}]\n", "  nodes: [{name: n1, subnet: a}]\n" + MESH_CONFIG)
    return plan_from_text(text + CUSTOM.replace("PROVIDER", provider), "t.yaml")


def _custom(plan: Plan, path: str, service: str = "reviews") -> str | None:
    request = authz_l7.HttpRequest("GET", path, "reviews:9080", 9080, (), "192.168.1.9", CURL)
    policy = authz_l7.custom_policy(plan, plan.waypoints[0], ("default", service), request)
    return policy.provider if policy is not None else None


def test_a_custom_policys_rules_choose_which_requests_its_provider_is_asked_about() -> None:
    plan = _custom_plan()
    assert _custom(plan, "/headers") == "sample"
    assert _custom(plan, "/ip") is None
    assert _custom(plan, "/headers", service="ratings") is None
    assert plan.mesh_config["extensionProviders"][0]["name"] == "sample"


def test_custom_policies_are_left_to_the_waypoint_and_the_rbac_filter_skips_them() -> None:
    plan = _custom_plan()
    assert _ask(plan, "GET").allowed  # reviews-get still decides; CUSTOM is not an ALLOW
    assert not any("no extension provider" in w for w in plan.warnings)
    assert any(w.startswith("extension provider 'sample': no Service ext-authz.default.svc.cluster.local")
               for w in plan.warnings)


def test_a_custom_policy_naming_an_unknown_provider_warns_that_it_denies() -> None:
    plan = _custom_plan("missing")
    assert any("AuthorizationPolicy default/ext-authz: no extension provider 'missing'" in w for w in plan.warnings)
