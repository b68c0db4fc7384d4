"""DestinationRule -> policies: Istio's defaults, subset merging, lookup."""

from __future__ import annotations

import pytest

from dataplane.l7.routing.destinationrule import find_rule, policy_for, subset_labels
from dataplane.l7.routing.model import UNLIMITED, ConnectionPool, OutlierPolicy, TrafficPolicy

from .helpers import REVIEWS, V1, Feedback, destination_rule


def test_no_rule_means_istio_defaults() -> None:
    policy = policy_for([], REVIEWS)
    assert policy == TrafficPolicy()
    assert policy.load_balancer == "LEAST_REQUEST" and policy.outlier is None
    assert policy.pool.connect_timeout == 10.0 and policy.pool.max_connections == UNLIMITED


@pytest.mark.parametrize(
    ("simple", "algorithm"),
    [("UNSPECIFIED", "LEAST_REQUEST"), ("LEAST_CONN", "LEAST_REQUEST"), ("ROUND_ROBIN", "ROUND_ROBIN"),
     ("RANDOM", "RANDOM"), ("LEAST_REQUEST", "LEAST_REQUEST")],
)
def test_load_balancers(simple: str, algorithm: str) -> None:
    rule = destination_rule(f"host: reviews\ntrafficPolicy: {{loadBalancer: {{simple: {simple}}}}}")
    assert rule is not None and rule.policy.load_balancer == algorithm


def test_connection_pool() -> None:
    rule = destination_rule("""
host: reviews
trafficPolicy:
  connectionPool:
    tcp: {maxConnections: 1, connectTimeout: 250ms}
    http: {http1MaxPendingRequests: 1, http2MaxRequests: 10, maxRequestsPerConnection: 5, maxRetries: 0}
""")
    assert rule is not None
    assert rule.policy.pool == ConnectionPool(
        max_connections=1, connect_timeout=0.25, max_pending_requests=1, max_requests=10,
        max_requests_per_connection=5, max_retries=UNLIMITED,
    )


def test_outlier_detection_defaults_once_written() -> None:
    rule = destination_rule("host: reviews\ntrafficPolicy: {outlierDetection: {}}")
    assert rule is not None and rule.policy.outlier == OutlierPolicy()
    assert (OutlierPolicy().consecutive_5xx, OutlierPolicy().base_ejection_time) == (5, 30.0)
    tuned = destination_rule("""
host: reviews
trafficPolicy:
  outlierDetection: {consecutive5xxErrors: 0, consecutiveGatewayErrors: 2, interval: 1s, baseEjectionTime: 5m,
                     maxEjectionPercent: 100, minHealthPercent: 50}
""")
    assert tuned is not None
    assert tuned.policy.outlier == OutlierPolicy(0, 2, 1.0, 300.0, 100, 50)


def test_a_subset_policy_replaces_top_level_fields_whole() -> None:
    rule = destination_rule("""
host: reviews
trafficPolicy:
  loadBalancer: {simple: ROUND_ROBIN}
  connectionPool: {tcp: {maxConnections: 100}, http: {http1MaxPendingRequests: 10}}
subsets:
- name: v1
  labels: {version: v1, app: reviews}
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}}}
- name: v2
  labels: {version: v2}
""")
    assert rule is not None
    v1 = policy_for([rule], REVIEWS, "v1")
    assert v1.load_balancer == "ROUND_ROBIN"
    assert v1.pool.max_connections == 1 and v1.pool.max_pending_requests == UNLIMITED  # the whole pool replaced
    assert policy_for([rule], REVIEWS, "v2") == rule.policy
    assert subset_labels([rule], REVIEWS, "v1") == (("app", "reviews"), ("version", "v1"))
    assert subset_labels([rule], REVIEWS, "v3") is None


def test_an_exact_host_beats_a_wildcard_then_the_oldest() -> None:
    wildcard = destination_rule("host: '*.default.svc.cluster.local'", name="all", order=0)
    old = destination_rule("host: reviews", name="old", order=1)
    new = destination_rule("host: reviews.default.svc.cluster.local", name="new", order=2)
    assert wildcard and old and new
    assert find_rule([new, wildcard, old], REVIEWS) == old
    assert find_rule([new, wildcard, old], V1) == wildcard


POOL = "spec.trafficPolicy.connectionPool"
BAD = [
    ("trafficPolicy: {connectionPool: {tcp: {connectTimeout: '10'}}}", f"{POOL}.tcp.connectTimeout"),
    ("trafficPolicy: {connectionPool: {tcp: {connectTimeout: 0s}}}", f"{POOL}.tcp.connectTimeout"),
    ("trafficPolicy: {connectionPool: {http: {maxRetries: -1}}}", f"{POOL}.http.maxRetries"),
    ("trafficPolicy: {outlierDetection: {maxEjectionPercent: 101}}",
     "spec.trafficPolicy.outlierDetection.maxEjectionPercent"),
    ("subsets: [{name: v1}, {name: v1}]", "spec.subsets[1].name"),
]


@pytest.mark.parametrize(("text", "path"), BAD)
def test_problems(text: str, path: str) -> None:
    feedback = Feedback()
    assert destination_rule("host: reviews\n" + text, feedback=feedback) is None
    assert path in feedback.problem_paths, feedback.problems


WARNED = [
    ("trafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}", "spec.trafficPolicy.loadBalancer.simple"),
    ("trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x}}}",
     "spec.trafficPolicy.loadBalancer.consistentHash"),
    ("trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}", "spec.trafficPolicy.tls"),
    ("trafficPolicy: {portLevelSettings: [{port: {number: 80}}]}", "spec.trafficPolicy.portLevelSettings"),
    ("trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE}}}",
     "spec.trafficPolicy.connectionPool.http.h2UpgradePolicy"),
    ("trafficPolicy: {connectionPool: {tcp: {maxConnectionDuration: 1h}}}",
     "spec.trafficPolicy.connectionPool.tcp.maxConnectionDuration"),
    ("trafficPolicy: {outlierDetection: {splitExternalLocalOriginErrors: true}}",
     "spec.trafficPolicy.outlierDetection.splitExternalLocalOriginErrors"),
    ("subsets: [{name: v1, trafficPolicy: {tls: {mode: DISABLE}}}]", "spec.subsets[0].trafficPolicy.tls"),
]


@pytest.mark.parametrize(("text", "path"), WARNED)
def test_what_is_not_emulated_is_warned_about(text: str, path: str) -> None:
    feedback = Feedback()
    assert destination_rule("host: reviews\n" + text, feedback=feedback) is not None
    assert path in feedback.warning_paths, feedback.warnings


def test_passthrough_is_balanced_as_least_request() -> None:
    rule = destination_rule("host: reviews\ntrafficPolicy: {loadBalancer: {simple: PASSTHROUGH}}")
    assert rule is not None and rule.policy.load_balancer == "LEAST_REQUEST"
