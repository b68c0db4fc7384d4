"""Waypoint binding as istiod decides it: object over namespace, none, cross-namespace, traffic type, readiness."""

from __future__ import annotations

import pytest

from dataplane.mesh import waypoints as wp
from dataplane.topology import plan_from_text
from dataplane.topology.overrides import Overrides
from dataplane.topology.plan import Plan

BASE = """apiVersion: dpctl.dev/v1
kind: Topology
metadata: {name: wp}
spec:
  vpc: {cidr: 192.168.0.0/16, subnets: [{name: a, cidr: 192.168.1.0/24, zone: a}]}
  nodes: [{name: n1, subnet: a}]
---
apiVersion: v1
kind: Namespace
metadata: {name: app, labels: {istio.io/dataplane-mode: ambient, NSLABELS}}
---
apiVersion: v1
kind: Namespace
metadata: {name: wp, labels: {team: mesh}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: GWNS, labels: {FORLABEL}}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE, ALLOWED}]
---
apiVersion: v1
kind: Pod
metadata: {name: reviews-v1, namespace: app, labels: {app: reviews, PODLABELS}}
spec: {containers: [{name: c, ports: [{containerPort: 9080}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: app, labels: {SVCLABELS}}
spec: {selector: {app: reviews}, ports: [{port: 9080}]}
"""


def _plan(
    ns: str = "", svc: str = "", pod: str = "", gw_ns: str = "app", traffic_for: str = "", allowed: str = "",
    overrides: Overrides | None = None,
) -> Plan:
    text = (
        BASE.replace("NSLABELS", ns).replace("SVCLABELS", svc).replace("PODLABELS", pod).replace("GWNS", gw_ns)
        .replace("FORLABEL", f"istio.io/waypoint-for: {traffic_for}" if traffic_for else "")
        .replace(", ALLOWED", f", allowedRoutes: {{namespaces: {allowed}}}" if allowed else "")
    )
    return plan_from_text(text, "t.yaml", overrides=overrides)


def _service(plan: Plan) -> wp.Binding | None:
    [service] = [s for s in plan.services if s.name == "reviews"]
    return wp.service_binding(plan, service)


def _pod(plan: Plan) -> wp.Binding | None:
    return wp.workload_binding(plan, plan.pod("app", "reviews-v1"))


def test_nothing_asked_nothing_bound() -> None:
    assert _service(_plan()) is None and _pod(_plan()) is None


def test_a_namespace_label_binds_its_services_to_the_waypoint_pod() -> None:
    plan = _plan(ns="istio.io/use-waypoint: waypoint")
    binding = _service(plan)
    assert binding is not None and binding.status == wp.BOUND
    assert binding.pod is not None and binding.pod.key == "app/waypoint-0"
    assert _pod(plan) is None  # a service waypoint inherited from the namespace: not for pod-IP traffic


def test_the_object_label_beats_the_namespace_and_none_opts_out() -> None:
    assert _service(_plan(ns="istio.io/use-waypoint: waypoint", svc="istio.io/use-waypoint: none")) is None
    assert _service(_plan(svc="istio.io/use-waypoint: waypoint")).status == wp.BOUND  # type: ignore[union-attr]
    assert _service(_plan(svc="istio.io/use-waypoint: other")).status == wp.NOT_FOUND  # type: ignore[union-attr]


def test_traffic_types() -> None:
    explicit = _pod(_plan(pod="istio.io/use-waypoint: waypoint"))
    assert explicit is not None and explicit.status == wp.UNSUPPORTED_TRAFFIC_TYPE
    for traffic_for in ("workload", "all"):
        bound = _pod(_plan(ns="istio.io/use-waypoint: waypoint", traffic_for=traffic_for))
        assert bound is not None and bound.bound
    service = _service(_plan(svc="istio.io/use-waypoint: waypoint", traffic_for="workload"))
    assert service is not None and service.status == wp.UNSUPPORTED_TRAFFIC_TYPE and not service.bound


@pytest.mark.parametrize(
    ("allowed", "status"),
    [("", wp.ATTACHMENT_DENIED), ("{from: Same}", wp.ATTACHMENT_DENIED), ("{from: All}", wp.BOUND),
     ("{from: Selector, selector: {matchLabels: {istio.io/dataplane-mode: ambient}}}", wp.BOUND),
     ("{from: Selector, selector: {matchLabels: {team: other}}}", wp.ATTACHMENT_DENIED)],
)
def test_a_waypoint_in_another_namespace_must_admit_the_binding_namespace(allowed: str, status: str) -> None:
    labels = "istio.io/use-waypoint: waypoint, istio.io/use-waypoint-namespace: wp"
    binding = _service(_plan(svc=labels, gw_ns="wp", allowed=allowed))
    assert binding is not None and binding.status == status, binding


def test_a_waypoint_without_a_ready_pod_is_not_used() -> None:
    plan = _plan(ns="istio.io/use-waypoint: waypoint", overrides=Overrides(ready={"app/waypoint-0": False}))
    binding = _service(plan)
    assert binding is not None and binding.status == wp.NOT_READY and not binding.bound


def test_the_waypoint_itself_is_never_bound() -> None:
    plan = _plan(ns="istio.io/use-waypoint: waypoint", traffic_for="all")
    [own] = [s for s in plan.services if s.name == "waypoint"]
    assert wp.service_binding(plan, own) is None
    assert wp.workload_binding(plan, plan.pod("app", "waypoint-0")) is None
    assert wp.is_waypoint_pod(plan.pod("app", "waypoint-0"))
    assert not wp.is_waypoint_pod(plan.pod("app", "reviews-v1"))


def test_rows_list_what_each_waypoint_serves_and_what_it_refuses() -> None:
    [row] = wp.waypoint_rows(_plan(ns="istio.io/use-waypoint: waypoint", pod="istio.io/use-waypoint: waypoint"))
    assert (row.pod, row.serves) == ("app/waypoint-0", ("svc app/reviews",))
    assert row.refused == (
        "pod app/reviews-v1: UnsupportedTrafficType: waypoint app/waypoint is for service traffic, not workload traffic",
    )
