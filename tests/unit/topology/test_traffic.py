"""Waypoint Gateways become the pod, account and Service istiod would make;
routes and DestinationRules are kept as checked, in document order."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dataplane.errors import TopologyError
from dataplane.topology import plan_from_text
from dataplane.topology.plan import Accepted, Plan

WAYPOINT = """---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: waypoint
  namespace: default
  labels: {LABELS}
spec:
  gatewayClassName: istio-waypoint
  listeners:
    - {name: mesh, port: 15008, protocol: HBONE}
"""


def _waypoint(labels: str = "{}") -> str:
    return WAYPOINT.replace("{LABELS}", labels)


def test_a_waypoint_gateway_makes_its_pod_account_and_service(topology: Callable[..., str]) -> None:
    plan = plan_from_text(topology() + _waypoint(), "t.yaml")
    [waypoint] = plan.waypoints
    assert (waypoint.key, waypoint.traffic_for, waypoint.allowed_from) == ("default/waypoint", "service", "Same")
    pod = plan.pod("default", "waypoint-0")
    assert pod.service_account == "waypoint"
    assert pod.labels["gateway.networking.k8s.io/gateway-name"] == "waypoint"
    assert pod.labels["istio.io/dataplane-mode"] == "none"  # never captured by the ztunnel
    assert [(p.port, p.responder) for p in pod.containers[0].ports] == [(15008, "waypoint"), (15021, "http")]
    [service] = [s for s in plan.services if s.name == "waypoint"]
    assert service.cluster_ip is not None and [p.port for p in service.ports] == [15008]
    assert service.selector == {"gateway.networking.k8s.io/gateway-name": "waypoint"}


def test_waypoint_for_and_allowed_routes_are_read(topology: Callable[..., str]) -> None:
    text = topology() + _waypoint("{istio.io/waypoint-for: all}").replace(
        "protocol: HBONE}", "protocol: HBONE, allowedRoutes: {namespaces: {from: All}}}"
    )
    [waypoint] = plan_from_text(text, "t.yaml").waypoints
    assert (waypoint.traffic_for, waypoint.allowed_from) == ("all", "All")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("port: 15008, protocol: HBONE", "port: 80, protocol: HTTP"), "a waypoint needs a listener with protocol HBONE on port 15008"),
        (("name: waypoint\n", "name: none\n"), "'none' is reserved"),
        (("labels: {}", "labels: {istio.io/waypoint-for: pods}"), "must be one of service, workload, all, none; got 'pods'"),
        (("gatewayClassName: istio-waypoint", "gatewayClass: istio-waypoint"), "unknown field 'gatewayClass'; did you mean 'gatewayClassName'?"),
    ],
)
def test_bad_waypoints_say_what_to_fix(topology: Callable[..., str], change: tuple[str, str], message: str) -> None:
    with pytest.raises(TopologyError, match=message.replace("(", r"\(").replace("?", r"\?")):
        plan_from_text(topology() + _waypoint().replace(*change), "t.yaml")


def test_a_gateway_of_another_class_is_an_edge_gateway_not_yet_enforced(topology: Callable[..., str]) -> None:
    plan = plan_from_text(topology() + _waypoint().replace("istio-waypoint", "nginx"), "t.yaml")
    assert plan.waypoints == ()
    assert Accepted("Gateway", "default/waypoint", "not yet enforced") in plan.accepted_only


ROUTE = """---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: reviews, namespace: default}
spec:
  parentRefs: [{group: "", kind: Service, name: reviews, port: 9080}]
  rules:
    - matches: [{headers: [{name: end-user, value: jason}]}]
      backendRefs: [{name: reviews-v2, port: 9080}]
    - backendRefs: [{name: reviews-v1, port: 9080, weight: 90}, {name: reviews-v2, port: 9080, weight: 10}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
"""


def test_routes_and_destination_rules_are_kept_in_document_order(topology: Callable[..., str]) -> None:
    plan = plan_from_text(topology() + ROUTE, "t.yaml")
    assert [(t.kind, t.namespace, t.name, t.order) for t in plan.traffic] == [
        ("HTTPRoute", "default", "reviews", 0),
        ("DestinationRule", "default", "reviews", 1),
    ]
    assert plan.traffic[0].spec["rules"][1]["backendRefs"][0] == {"name": "reviews-v1", "port": 9080, "weight": 90}
    assert Plan.from_json(plan.to_json()) == plan  # what the agents read back


def test_a_misspelt_route_field_is_named(topology: Callable[..., str]) -> None:
    with pytest.raises(TopologyError, match=r"spec.rules\[0\].matches\[0\]: unknown field 'header'; did you mean 'headers'\?"):
        plan_from_text(topology() + ROUTE.replace("[{headers:", "[{header:"), "t.yaml")


def test_route_semantics_are_checked_by_the_l7_core_when_the_file_is_read(topology: Callable[..., str]) -> None:
    bad = ROUTE.replace("[{headers: [{name: end-user, value: jason}]}]", "[{path: {type: RegularExpression, value: '(?=x)'}}]")
    with pytest.raises(TopologyError, match=r"spec.rules\[0\].matches\[0\].path.value"):
        plan_from_text(topology() + bad, "t.yaml")
    warned = plan_from_text(topology() + ROUTE.replace("  parentRefs:", "  hostnames: [reviews.example]\n  parentRefs:"), "t.yaml")
    assert any(w.startswith("HTTPRoute default/reviews: spec.hostnames: ignored") for w in warned.warnings)
