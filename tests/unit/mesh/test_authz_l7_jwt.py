"""RequestAuthentication at a waypoint, end to end through the plan: which
rules apply to a request, and AuthorizationPolicies on requestPrincipals and
``request.auth.*`` (``waypoint-l7.md`` §4.1)."""

from __future__ import annotations

import time

from dataplane.l7.routing import requestauthn
from dataplane.l7.routing.model import Request
from dataplane.mesh import authz_l7
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan, PolicyCondition
from tests.unit.l7.routing.jwtkit import jwk, jwks, mint, rsa_key

KEY = rsa_key()
ISSUER = "testing@secure.istio.io"
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
kind: RequestAuthentication
metadata: {name: jwt, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: httpbin}]
  jwtRules: [{issuer: ISSUER, jwks: 'JWKS'}]
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: sidecar-style, namespace: default}
spec:
  selector: {matchLabels: {app: httpbin}}
  jwtRules: [{issuer: ISSUER, jwks: 'JWKS'}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: httpbin}]
  action: ALLOW
  rules:
    - from: [{source: {requestPrincipals: ["ISSUER/*"]}}]
      when: [{key: "request.auth.claims[groups]", values: [group1]}]
    - to: [{operation: {paths: [/public]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: no-interns, namespace: default}
spec:
  targetRefs: [{kind: Service, group: "", name: httpbin}]
  action: DENY
  rules:
    - when: [{key: "request.auth.claims[org][role]", values: [intern]}]
    - from: [{source: {notRequestPrincipals: ["*"]}}]
      to: [{operation: {paths: [/admin]}}]
""".replace("ISSUER", ISSUER).replace("JWKS", jwks(jwk(KEY, "k1")))


def _plan() -> Plan:
    return plan_from_text(BASE, "t.yaml")


def _identity(plan: Plan, **claims: object) -> requestauthn.Identity | None:
    rules = authz_l7.jwt_rules(plan, plan.waypoints[0], ("default", "httpbin"))
    token = mint(KEY, "RS256", {"iss": ISSUER, "sub": "alice", "exp": int(time.time()) + 60, **claims}, "k1")
    request = Request("GET", "/", "httpbin:8000", "http", (("authorization", f"Bearer {token}"),))
    outcome = requestauthn.authenticate(rules, request, time.time())
    assert outcome.reply is None
    return outcome.identity


def _ask(plan: Plan, identity: requestauthn.Identity | None, path: str = "/headers") -> authz_l7.Verdict:
    request = authz_l7.HttpRequest("GET", path, "httpbin:8000", 8000, (), "192.168.1.9", None, identity)
    return authz_l7.evaluate(plan, plan.waypoints[0], ("default", "httpbin"), request)


def test_a_waypoint_applies_the_request_authentication_on_its_target_only() -> None:
    plan = _plan()
    [kept] = plan.request_authentications
    assert (kept.name, [t.name for t in kept.target_refs]) == ("jwt", ["httpbin"])
    assert [r.issuer for r in authz_l7.jwt_rules(plan, plan.waypoints[0], ("default", "httpbin"))] == [ISSUER]
    assert authz_l7.jwt_rules(plan, plan.waypoints[0], ("default", "reviews")) == ()
    assert any("RequestAuthentication default/sidecar-style: spec.selector: not enforced" in w for w in plan.warnings)
    assert Plan.from_json(plan.to_json()) == plan


def test_request_principals_and_claims_decide_an_allow() -> None:
    plan = _plan()
    assert _ask(plan, _identity(plan, groups=["group1", "group2"])) == authz_l7.Verdict(
        True, "", "default/require-jwt"
    )
    assert _ask(plan, _identity(plan, groups="group1")).allowed  # a string claim matches too
    assert _ask(plan, _identity(plan, groups=["group2"])) == authz_l7.Verdict(False, "none")
    assert not _ask(plan, _identity(plan)).allowed  # no such claim
    assert _ask(plan, None) == authz_l7.Verdict(False, "none")  # no token: no request principal
    assert _ask(plan, None, "/public").allowed


def test_a_deny_reads_nested_claims_and_absent_principals() -> None:
    plan = _plan()
    intern = _identity(plan, groups=["group1"], org={"role": "intern"})
    assert _ask(plan, intern) == authz_l7.Verdict(False, "ns[default]-policy[no-interns]-rule[0]", "default/no-interns")
    assert _ask(plan, _identity(plan, groups=["group1"], org={"role": "staff"})).allowed
    assert _ask(plan, None, "/admin").matched == "ns[default]-policy[no-interns]-rule[1]"


def test_auth_attributes_in_when() -> None:
    identity = requestauthn.Identity(f"{ISSUER}/alice", {"aud": ["a", "b"], "azp": "web", "n": 3})
    cases = {
        "request.auth.principal": (f"{ISSUER}/*", True),
        "request.auth.audiences": ("b", True),
        "request.auth.presenter": ("web", True),
        "request.auth.claims[n]": ("3", False),  # only strings (and lists of them) match
        "request.auth.claims[missing][x]": ("*", False),
    }
    for key, (value, expected) in cases.items():
        condition = PolicyCondition(key, (value,))
        request = authz_l7.HttpRequest("GET", "/", "h", 80, (), "192.168.1.9", None, identity)
        assert authz_l7._condition_matches(condition, request) is expected, key
