"""The shipped topologies resolve to exactly the plans in plans/<name>.json.

A change to placement, addressing or naming shows up here as a diff a
reviewer can read.  Run with DPCTL_UPDATE_GOLDEN=1 to rewrite the files
after a deliberate change.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from dataplane.topology import load_plan
from dataplane.topology.plan import Plan

from .conftest import user_pods, user_services

HERE = Path(__file__).resolve().parent
SHIPPED = ["minimal", "retail-store", "retail-store-overlay", "retail-store-mesh"]


@pytest.mark.parametrize("name", SHIPPED)
def test_plan_matches_golden(name: str, at_root: Path) -> None:
    plan = load_plan(f"topologies/{name}.yaml")
    golden = HERE / "plans" / f"{name}.json"
    if os.environ.get("DPCTL_UPDATE_GOLDEN"):
        golden.write_text(plan.to_json() + "\n")
    assert plan.to_json() + "\n" == golden.read_text()


@pytest.mark.parametrize("name", SHIPPED)
def test_plan_round_trips_through_json(name: str, at_root: Path) -> None:
    plan = load_plan(f"topologies/{name}.yaml")
    assert Plan.from_json(plan.to_json()) == plan


def test_minimal_placement_and_addresses(at_root: Path) -> None:
    plan = load_plan("topologies/minimal.yaml")
    assert plan.source == "topologies/minimal.yaml"
    assert plan.prefix == "dp-minimal."
    assert plan.router_netns == "dp-minimal.vpc"
    assert [(s.name, s.gateway, s.bridge) for s in plan.subnets] == [
        ("private-a", "192.168.1.1", "br-private-a"),
        ("private-b", "192.168.2.1", "br-private-b"),
    ]
    assert [(n.name, n.zone, n.ip, n.prefixlen, n.gateway, n.netns) for n in plan.nodes] == [
        ("node-a", "a", "192.168.1.4", 24, "192.168.1.1", "dp-minimal.node-a"),
        ("node-b", "b", "192.168.2.4", 24, "192.168.2.1", "dp-minimal.node-b"),
    ]
    assert [(p.key, p.node, p.ip, p.netns) for p in plan.pods] == [
        ("default/client", "node-a", "192.168.1.5", "dp-minimal.default.client"),
        ("default/web-0", "node-b", "192.168.2.5", "dp-minimal.default.web-0"),
        ("kube-system/coredns-0", "node-a", "192.168.1.6", "dp-minimal.kube-system.coredns-0"),
        ("kube-system/coredns-1", "node-b", "192.168.2.6", "dp-minimal.kube-system.coredns-1"),
    ]
    [web] = user_services(plan)
    assert (web.key, web.cluster_ip, web.ports[0].target_port) == ("default/web", "10.96.62.203", "http")
    assert plan.dns_ip == "10.96.0.10"
    assert plan.warnings == ()


def test_retail_store_spreads_every_deployment_over_zones(at_root: Path) -> None:
    plan = load_plan("topologies/retail-store.yaml")
    assert [n.name for n in plan.namespaces] == [
        "default",
        "ui",
        "catalog",
        "carts",
        "orders",
        "checkout",
        "kube-system",
        "istio-system",
    ]
    owners: dict[str, list[str]] = {}
    for pod in plan.pods:
        assert pod.owner is not None
        owners.setdefault(pod.owner, []).append(pod.zone)
    assert {owner: len(zones) for owner, zones in owners.items()} == {
        "Deployment/ui": 3,
        "Deployment/catalog": 3,
        "Deployment/catalog-mysql": 1,
        "Deployment/carts": 2,
        "Deployment/carts-dynamodb": 1,
        "Deployment/orders": 2,
        "Deployment/orders-postgresql": 1,
        "Deployment/orders-rabbitmq": 1,
        "Deployment/checkout": 2,
        "Deployment/checkout-redis": 1,
        "Deployment/coredns": 2,
    }
    assert all(len(set(zones)) == len(zones) for zones in owners.values())
    assert sorted(len(plan.pods_on(n.name)) for n in plan.nodes) == [6, 6, 7]  # 17 pods and 2 of cluster DNS
    responders = {(p.key, port.port): port.responder for p in plan.pods for port in p.ports}
    assert responders["catalog/catalog-mysql-0", 3306] == "server-first"  # named tcp-mysql: MySQL greets first
    assert responders["carts/carts-dynamodb-0", 8000] == "http"
    assert responders["ui/ui-0", 8080] == "http"
    assert all(p.service_account == p.owner.split("/")[1] for p in plan.pods if p.owner)


def test_retail_store_ui_is_the_load_balancer_its_header_names(at_root: Path) -> None:
    plan = load_plan("topologies/retail-store.yaml")
    [ui] = [s for s in plan.services if s.type == "LoadBalancer"]
    assert (ui.key, ui.load_balancer_ips, ui.ports[0].target_port) == ("ui/ui", ("203.0.113.230",), "http")
    assert f"curl -s http://{ui.load_balancer_ips[0]}/" in Path("topologies/retail-store.yaml").read_text()
    assert len(user_pods(plan)) == 17


def test_overlay_variant_places_pods_the_same_way(at_root: Path) -> None:
    vpc = load_plan("topologies/retail-store.yaml")
    overlay = load_plan("topologies/retail-store-overlay.yaml")
    assert [(p.key, p.node) for p in overlay.pods] == [(p.key, p.node) for p in vpc.pods]
    assert [s.cluster_ip for s in overlay.services] == [s.cluster_ip for s in vpc.services]
    assert [(n.pod_cidr, n.vtep_ip) for n in overlay.nodes] == [
        ("10.244.0.0/24", "10.244.0.0"),
        ("10.244.1.0/24", "10.244.1.0"),
        ("10.244.2.0/24", "10.244.2.0"),
    ]
    assert overlay.pod("ui", "ui-0").ip == "10.244.0.2"


def test_the_two_retail_store_files_differ_only_in_the_topology_document(at_root: Path) -> None:
    """They are kept by hand; this catches one drifting from the other."""
    vpc = Path("topologies/retail-store.yaml").read_text().split("\n---\n", 1)[1]
    overlay = Path("topologies/retail-store-overlay.yaml").read_text().split("\n---\n", 1)[1]
    assert vpc == overlay


def test_retail_store_loads_fast(at_root: Path) -> None:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        load_plan("topologies/retail-store.yaml")
        best = min(best, time.perf_counter() - start)
    assert best < 0.1
