"""Endpoint categorisation per node: usable endpoints, terminating fallback, locality, policies."""

from __future__ import annotations

from dataclasses import replace

from dataplane.kubeproxy.categorize import categorize, uses_cluster_endpoints, uses_local_endpoints
from dataplane.topology.endpoints import Endpoint
from dataplane.topology.plan import ServicePort

from .plans import service

PORT = ServicePort(80, "TCP", "http", node_port=30080)
CLUSTER_ONLY = ServicePort(80, "TCP", "http")


def ep(ip: str, node: str, *, ready: bool = True, serving: bool | None = None, terminating: bool = False) -> Endpoint:
    return Endpoint(
        "shop", f"pod-{ip}", ip, node, node[-1], 8080, ready, ready if serving is None else serving, terminating
    )


A_READY = ep("10.0.0.1", "node-a")
B_READY = ep("10.0.0.2", "node-b")
A_DRAINING = ep("10.0.0.3", "node-a", ready=False, serving=True, terminating=True)
A_DEAD = ep("10.0.0.4", "node-a", ready=False, serving=False, terminating=True)
B_UNREADY = ep("10.0.0.5", "node-b", ready=False)


def test_cluster_policy_uses_ready_endpoints_only() -> None:
    cats = categorize([A_READY, B_READY, A_DRAINING, B_UNREADY], service("s", "10.96.0.1"), CLUSTER_ONLY, "node-a")
    assert cats.cluster == (A_READY, B_READY)
    assert cats.local == ()
    assert cats.reachable == (A_READY, B_READY)
    assert cats.has_any


def test_falls_back_to_serving_terminating_endpoints() -> None:
    cats = categorize([A_DRAINING, A_DEAD, B_UNREADY], service("s", "10.96.0.1"), CLUSTER_ONLY, "node-b")
    assert cats.cluster == (A_DRAINING,)
    assert cats.has_any


def test_nothing_usable() -> None:
    cats = categorize([A_DEAD, B_UNREADY], service("s", "10.96.0.1"), CLUSTER_ONLY, "node-a")
    assert (cats.cluster, cats.local, cats.reachable, cats.has_any) == ((), (), (), False)


def test_external_local_keeps_cluster_list_for_short_circuit() -> None:
    svc = service("s", "10.96.0.1", external_traffic_policy="Local")
    cats = categorize([A_READY, B_READY], svc, PORT, "node-b")
    assert cats.cluster == (A_READY, B_READY)
    assert cats.local == (B_READY,)


def test_fallback_is_decided_per_list() -> None:
    """Ready endpoints elsewhere, only a terminating one here: the local list falls back on its own."""
    svc = service("s", "10.96.0.1", external_traffic_policy="Local")
    cats = categorize([A_DRAINING, B_READY], svc, PORT, "node-a")
    assert cats.cluster == (B_READY,)
    assert cats.local == (A_DRAINING,)
    assert cats.reachable == (A_DRAINING, B_READY)


def test_internal_local_without_external_access_skips_the_cluster_list() -> None:
    svc = service("s", "10.96.0.1", internal_traffic_policy="Local")
    cats = categorize([A_READY, B_READY], svc, CLUSTER_ONLY, "node-b")
    assert cats.cluster == ()
    assert cats.local == (B_READY,)
    assert cats.reachable == (B_READY,)
    cats = categorize([A_READY], svc, CLUSTER_ONLY, "node-b")
    assert (cats.local, cats.has_any) == ((), True)


def test_policies_in_use() -> None:
    cluster = service("s", "10.96.0.1")
    itp = replace(cluster, internal_traffic_policy="Local")
    etp = replace(cluster, external_traffic_policy="Local")
    assert (uses_cluster_endpoints(cluster, PORT), uses_local_endpoints(cluster, PORT)) == (True, False)
    assert (uses_cluster_endpoints(itp, CLUSTER_ONLY), uses_local_endpoints(itp, CLUSTER_ONLY)) == (False, True)
    assert (uses_cluster_endpoints(itp, PORT), uses_local_endpoints(itp, PORT)) == (True, True)
    assert (uses_cluster_endpoints(etp, PORT), uses_local_endpoints(etp, PORT)) == (True, True)
    # eTP=Local means nothing for a port no external traffic reaches.
    assert (uses_cluster_endpoints(etp, CLUSTER_ONLY), uses_local_endpoints(etp, CLUSTER_ONLY)) == (True, False)
