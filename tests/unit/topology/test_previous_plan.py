"""With a previous plan, what still exists keeps its node, addresses and ports."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import SimpleNamespace

from dataplane.topology import plan_from_text
from dataplane.topology.plan import Plan


def plan(text: str, previous: Plan | None = None) -> Plan:
    return plan_from_text(text, "t.yaml", previous)


def test_nodes_keep_their_address_when_one_is_declared_before_them(topology: Callable[..., str]) -> None:
    one = "    - {name: node-b, subnet: private-a}\n"
    two = "    - {name: node-a, subnet: private-a}\n" + one
    before = plan(topology(zones="a", nodes=one))
    assert plan(topology(zones="a", nodes=two)).node("node-b").ip == "192.168.1.5"  # fresh: declaration order
    after = plan(topology(zones="a", nodes=two), before)
    # the cluster DNS pods keep .5 and .6, so the new node takes the next free address
    assert (after.node("node-b").ip, after.node("node-a").ip) == ("192.168.1.4", "192.168.1.7")


def test_pods_stay_put_when_a_zone_is_added_and_the_deployment_scales(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    before = plan(topology(zones="ab") + make.deployment("web", 2) + make.deployment("db", 1))
    after = plan(topology(zones="abc") + make.deployment("web", 4) + make.deployment("db", 1), before)
    for key in ("default/web-0", "default/web-1", "default/db-0"):
        old, new = before.pod(*key.split("/")), after.pod(*key.split("/"))
        assert (new.node, new.ip) == (old.node, old.ip)
    # the new replicas fill the new zone first, and take addresses nobody had
    assert after.pod("default", "web-2").node == "node-c"
    old_ips = {p.ip for p in before.pods}
    assert {after.pod("default", "web-2").ip, after.pod("default", "web-3").ip}.isdisjoint(old_ips)


def test_a_pod_that_no_longer_fits_its_node_moves(topology: Callable[..., str], make: SimpleNamespace) -> None:
    before = plan(topology(zones="ab") + make.deployment("web", 1))
    assert before.pod("default", "web-0").node == "node-a"
    pinned = make.deployment("web", 1, spec="      nodeSelector: {topology.kubernetes.io/zone: b}\n")
    moved = plan(topology(zones="ab") + pinned, before).pod("default", "web-0")
    assert (moved.node, moved.ip) == ("node-b", "192.168.2.6")  # coredns-0 keeps .5 on node-b


def test_services_keep_their_cluster_ip_and_node_ports(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology() + make.service("web", "  type: NodePort\n  ports: [{port: 80}]\n")
    fresh = plan(text)
    service, dns = fresh.services
    moved = dataclasses.replace(
        service,
        cluster_ip="10.96.0.200",
        ports=(dataclasses.replace(service.ports[0], node_port=31111),),
    )
    previous = dataclasses.replace(fresh, services=(moved, dns))
    kept, _ = plan(text, previous).services
    assert (kept.cluster_ip, kept.ports[0].node_port) == ("10.96.0.200", 31111)


def test_an_explicit_cluster_ip_wins_over_the_previous_one(topology: Callable[..., str], make: SimpleNamespace) -> None:
    before = plan(topology() + make.service("web"))
    explicit = make.service("web", "  clusterIP: 10.96.0.77\n  ports: [{port: 80}]\n")
    assert plan(topology() + explicit, before).services[0].cluster_ip == "10.96.0.77"


def test_overlay_blocks_follow_their_node_not_its_position(topology: Callable[..., str]) -> None:
    ab = "    - {name: node-a, subnet: private-a}\n    - {name: node-b, subnet: private-b}\n"
    cba = (
        "    - {name: node-c, subnet: private-a}\n    - {name: node-b, subnet: private-b}\n"
        "    - {name: node-a, subnet: private-a}\n"
    )
    before = plan(topology(zones="ab", cni="overlay", nodes=ab))
    after = plan(topology(zones="ab", cni="overlay", nodes=cba), before)
    assert {n.name: n.pod_cidr for n in after.nodes} == {
        "node-a": "10.244.0.0/24",
        "node-b": "10.244.1.0/24",
        "node-c": "10.244.2.0/24",
    }


def test_an_explicit_node_address_wins_over_a_pod_that_had_it(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    before = plan(topology(zones="a") + make.deployment("web", 1))
    assert before.pod("default", "web-0").ip == "192.168.1.5"
    nodes = "    - {name: node-a, subnet: private-a}\n    - {name: node-x, subnet: private-a, ip: 192.168.1.5}\n"
    after = plan(topology(zones="a", nodes=nodes) + make.deployment("web", 1), before)
    assert after.node("node-x").ip == "192.168.1.5"
    assert after.pod("default", "web-0").ip == "192.168.1.8"  # .6 and .7 stay with the cluster DNS pods
