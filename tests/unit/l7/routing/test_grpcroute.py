"""GRPCRoute, pure: method matches become paths as Istio converts them, and the
routes share a table (and a Gateway listener) with HTTPRoutes."""

from __future__ import annotations

from typing import Any

import pytest

from dataplane.l7.routing import attach, grpcroute, listeners, table
from dataplane.l7.routing.attach import ServedGateway
from dataplane.l7.routing.model import Request

from .helpers import NS, REVIEWS, SERVICES, Feedback, http_route, spec

HEALTH = "grpc.health.v1.Health"


def _grpc(text: str, feedback: Feedback | None = None) -> Any:
    feedback = feedback if feedback is not None else Feedback()
    return grpcroute.translate(NS, "grpc", 1, spec(text), feedback.report, feedback.warn)


def _call(path: str, headers: tuple[tuple[str, str], ...] = ()) -> Request:
    return Request("POST", path, "reviews", "http", (("content-type", "application/grpc"), *headers))


ROUTES = """
parentRefs: [{group: "", kind: Service, name: reviews}]
rules:
  - matches: [{method: {service: grpc.health.v1.Health, method: Check}}]
    backendRefs: [{name: reviews-v1, port: 9080}]
  - matches: [{method: {service: grpc.health.v1.Health}}]
    backendRefs: [{name: reviews-v2, port: 9080}]
  - matches: [{method: {method: Watch}, headers: [{name: x-canary, value: "yes"}]}]
    backendRefs: [{name: reviews-v2, port: 9080}]
  - matches: [{method: {type: RegularExpression, service: "grpc\\\\.reflection\\\\..*"}}]
    backendRefs: [{name: reviews-v1, port: 9080}]
"""


@pytest.mark.parametrize(("path", "headers", "backend"), [
    (f"/{HEALTH}/Check", (), "reviews-v1"),  # Exact service and method
    (f"/{HEALTH}/Watch", (), "reviews-v2"),  # the service alone: a prefix
    ("/other.Svc/Watch", (("x-canary", "yes"),), "reviews-v2"),  # the method alone, with a header
    ("/grpc.reflection.v1.ServerReflection/Info", (), "reviews-v1"),  # RegularExpression on the service
])
def test_method_matches_route_calls(path: str, headers: tuple[tuple[str, str], ...], backend: str) -> None:
    routes = table.build(REVIEWS, 9080, _grpc(ROUTES), grpc=True)
    chosen = routes.select(_call(path, headers))
    assert chosen is not None and chosen.backends[0].service.startswith(f"{backend}.")


def test_a_call_no_rule_matches_is_not_routed() -> None:
    routes = table.build(REVIEWS, 9080, _grpc(ROUTES), grpc=True)
    assert routes.select(_call("/other.Svc/Watch")) is None  # no x-canary: no rule


def test_grpc_and_http_routes_share_one_table_by_precedence() -> None:
    http = http_route("""
parentRefs: [{group: "", kind: Service, name: reviews}]
rules: [{matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [{name: reviews-v2, port: 9080}]}]
""")
    routes = table.build(REVIEWS, 9080, (*http, *_grpc(ROUTES)), grpc=True)
    exact = routes.select(_call(f"/{HEALTH}/Check"))
    assert exact is not None and exact.origin.startswith("GRPCRoute default/grpc rule 0")
    fallback = routes.select(_call("/x.Y/Z"))
    assert fallback is not None and fallback.origin.startswith("HTTPRoute default/reviews")


@pytest.mark.parametrize(("match", "path"), [
    ({"method": {}}, "spec.rules[0].matches[0].method"),
    ({"method": {"service": "a/b"}}, "spec.rules[0].matches[0].method.service"),
    ({"method": {"type": "RegularExpression", "method": "(?<=x)"}}, "spec.rules[0].matches[0].method.method"),
])
def test_bad_method_matches_are_reported_by_field(match: dict[str, Any], path: str) -> None:
    feedback = Feedback()
    assert grpcroute.http_shape({"rules": [{"matches": [match]}]}, feedback.report) is None
    assert feedback.problem_paths == [path]


def test_a_grpcroute_attaches_to_http_listeners_not_tls_ones() -> None:
    parsed = listeners.parse("infra", {"listeners": [
        {"name": "http", "port": 80, "protocol": "HTTP"},
        {"name": "pass", "port": 443, "protocol": "TLS", "tls": {"mode": "Passthrough"}},
    ]}, Feedback().report, Feedback().warn)
    served = ServedGateway("infra", "edge", parsed)
    route = grpcroute.north_south("infra", "g", 0, {"parentRefs": [{"name": "edge"}], "rules": [{}]},
                                  Feedback().report, Feedback().warn)
    assert route is not None and route.kind == "GRPCRoute"
    [parent] = route.parents
    status = attach.attach(route, parent, served, {}, SERVICES)
    assert status.accepted.status and [b.listener for b in status.bindings] == ["http"]
