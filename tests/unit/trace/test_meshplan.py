"""The trace past the capture, from the plan: the source proxy's decision, the
waypoint's policy and route for a request, both HBONE hops with their
identities, the inbound verdict with the identity that arrives, the app socket."""

from __future__ import annotations

from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan
from dataplane.trace import meshreport
from dataplane.trace.meshmodel import HttpCall, MeshTrace
from dataplane.trace.meshplan import trace_mesh
from tests.unit.mesh.topologies import one_node_topology

TOPOLOGY = one_node_topology("meshtrace") + """apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio.io/dataplane-mode: ambient, istio.io/use-waypoint: waypoint}}
---
apiVersion: v1
kind: Namespace
metadata: {name: legacy, labels: {istio-injection: enabled}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: shop}
spec: {gatewayClassName: istio-waypoint, listeners: [{name: mesh, port: 15008, protocol: HBONE}]}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: curl, namespace: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: curl, namespace: shop, labels: {app: curl}}
spec: {serviceAccountName: curl, containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: v1, namespace: shop, labels: {app: reviews, version: v1}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 9080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: v2, namespace: shop, labels: {app: reviews, version: v2}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 9080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: shop}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: reviews-v1, namespace: shop}
spec: {selector: {app: reviews, version: v1}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: reviews-v2, namespace: shop}
spec: {selector: {app: reviews, version: v2}, ports: [{name: http, port: 9080}]}
---
apiVersion: v1
kind: Service
metadata: {name: direct, namespace: shop, labels: {istio.io/use-waypoint: none}}
spec: {selector: {app: reviews}, ports: [{name: http, port: 9080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: shop}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
    - matches: [{headers: [{name: end-user, value: jason}]}]
      backendRefs: [{name: reviews-v2, port: 9080}]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier: {set: [{name: x-env, value: prod}]}
    - backendRefs: [{name: reviews-v1, port: 9080, weight: 90}, {name: reviews-v2, port: 9080, weight: 10}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: reviews-get, namespace: shop}
spec:
  targetRefs: [{kind: Service, group: "", name: reviews}]
  action: ALLOW
  rules: [{to: [{operation: {methods: [GET]}}]}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: v2-curl-only, namespace: shop}
spec:
  selector: {matchLabels: {version: v2}}
  action: ALLOW
  rules: [{from: [{source: {principals: [cluster.local/ns/shop/sa/curl]}}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: legacy, labels: {app: legacy}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: outside, namespace: default}
spec: {containers: [{name: c}]}
"""
CURL = "spiffe://cluster.local/ns/shop/sa/curl"
WAYPOINT = "spiffe://cluster.local/ns/shop/sa/waypoint"


def _plan() -> Plan:
    return plan_from_text(TOPOLOGY, "meshtrace.yaml")


def _vip(plan: Plan, name: str) -> str:
    [service] = [s for s in plan.services if (s.namespace, s.name) == ("shop", name)]
    assert service.cluster_ip is not None
    return service.cluster_ip


def _trace(plan: Plan, source: str, dst: tuple[str, int], call: HttpCall = HttpCall()) -> MeshTrace:
    namespace, _, name = source.partition("/")
    found = trace_mesh(plan, plan.pod(namespace, name), dst, call)
    assert found is not None
    return found


def test_a_service_bound_to_a_waypoint_goes_there_with_the_vip_as_authority() -> None:
    plan = _plan()
    vip = _vip(plan, "reviews")
    trace = _trace(plan, "shop/curl", (vip, 9080))
    waypoint = plan.pod("shop", "waypoint-0")
    assert trace.proxy == "ztunnel" and trace.decision == "hbone" and trace.branches == ()
    assert "istio.io/use-waypoint on namespace shop" in trace.reason
    assert trace.tunnel is not None
    assert trace.tunnel.peer == (waypoint.ip, 15008) and trace.tunnel.authority == (vip, 9080)
    assert (trace.tunnel.source_identity, trace.tunnel.peer_identity) == (CURL, WAYPOINT)
    hop = trace.waypoint
    assert hop is not None and hop.waypoint == "shop/waypoint" and hop.chain == "http"
    assert hop.l7_allowed and hop.l7_policy == "shop/reviews-get" and hop.request.startswith("GET / (:authority reviews:9080")


def test_without_the_header_the_weighted_rule_lists_both_backends_and_the_waypoint_identity_arrives() -> None:
    plan = _plan()
    hop = _trace(plan, "shop/curl", (_vip(plan, "reviews"), 9080)).waypoint
    assert hop is not None and hop.route == "HTTPRoute shop/reviews rule 1 match 0"
    assert [(b.service.split(".")[0], b.weight, b.percent, b.endpoints) for b in hop.backends] == [
        ("reviews-v1", 90, 90.0, ("shop/v1",)), ("reviews-v2", 10, 10.0, ("shop/v2",)),
    ]
    waypoint = plan.pod("shop", "waypoint-0")
    by_pod = {b.arrival.pod: b.arrival for b in hop.branches}
    v1, v2 = by_pod["shop/v1"], by_pod["shop/v2"]
    assert v1.tunnel is not None and v1.tunnel.source_identity == WAYPOINT
    assert v1.tunnel.authority == (plan.pod("shop", "v1").ip, 9080)
    assert v1.identity == WAYPOINT and v1.allowed and v1.app_peer == waypoint.ip
    # v2 admits only curl's identity: through the waypoint the identity that arrives is the waypoint's.
    assert v2.allowed is False and "none allowed" in v2.reason


def test_a_header_match_picks_its_rule_and_its_filters() -> None:
    plan = _plan()
    call = HttpCall(headers=(("end-user", "jason"),))
    hop = _trace(plan, "shop/curl", (_vip(plan, "reviews"), 9080), call).waypoint
    assert hop is not None and hop.route == "HTTPRoute shop/reviews rule 0 match 0"
    assert hop.filters == ("request header set x-env: prod",)
    assert [b.arrival.pod for b in hop.branches] == ["shop/v2"]


def test_an_l7_denial_is_answered_by_the_waypoint() -> None:
    plan = _plan()
    hop = _trace(plan, "shop/curl", (_vip(plan, "reviews"), 9080), HttpCall(method="POST")).waypoint
    assert hop is not None and hop.l7_allowed is False and hop.route is None and hop.branches == ()
    assert hop.outcome.startswith("403 RBAC: access denied")


def test_a_pod_ip_bypasses_the_waypoint_and_carries_the_client_identity() -> None:
    plan = _plan()
    v2 = plan.pod("shop", "v2")
    trace = _trace(plan, "shop/curl", (v2.ip, 9080))
    assert trace.waypoint is None and trace.tunnel is None
    [branch] = trace.branches
    assert branch.arrival.tunnel is not None and branch.arrival.tunnel.peer == (v2.ip, 15008)
    assert branch.arrival.identity == CURL and branch.arrival.allowed
    assert branch.arrival.app_peer == plan.pod("shop", "curl").ip


def test_a_service_opted_out_of_waypoints_lists_every_endpoint_the_ztunnel_may_pick() -> None:
    plan = _plan()
    trace = _trace(plan, "shop/curl", (_vip(plan, "direct"), 9080))
    assert trace.waypoint is None
    assert sorted(b.arrival.pod for b in trace.branches) == ["shop/v1", "shop/v2"]
    assert all("1 of 2 ready endpoints" in b.share for b in trace.branches)


def test_a_sidecar_client_skips_the_waypoint_and_a_sidecar_app_sees_127_0_0_6() -> None:
    plan = _plan()
    trace = _trace(plan, "legacy/app", (_vip(plan, "reviews"), 9080))
    assert trace.proxy == "sidecar" and trace.waypoint is None
    assert any("a sidecar never uses waypoints" in note for note in trace.notes)
    back = _trace(plan, "shop/curl", (plan.pod("legacy", "app").ip, 8080))
    [branch] = back.branches
    assert back.decision == "passthrough" and branch.arrival.listener == 15006
    assert branch.arrival.identity is None and branch.arrival.app_peer == "127.0.0.6"


def test_an_unmeshed_source_has_no_mesh_trace() -> None:
    plan = _plan()
    assert trace_mesh(plan, plan.pod("default", "outside"), (_vip(plan, "reviews"), 9080), HttpCall()) is None


def test_the_report_names_the_capture_both_hops_and_the_verdicts() -> None:
    plan = _plan()
    text = "\n".join(meshreport.lines(_trace(plan, "shop/curl", (_vip(plan, "reviews"), 9080))))
    assert "captured by the ztunnel outbound listener 15001 of shop/curl" in text
    assert "HBONE #1" in text and "HBONE #2" in text and f"client {WAYPOINT}" in text
    assert "route: HTTPRoute shop/reviews rule 1 match 0" in text and "DENIED" in text
