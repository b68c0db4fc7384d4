from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import pytest

from dataplane.errors import TopologyError
from dataplane.topology import plan_from_text
from dataplane.topology.endpoints import service_port_endpoints
from dataplane.topology.overrides import Overrides

from .conftest import user_pods


def nodes_of(text: str) -> dict[str, str]:
    return {p.name: p.node for p in user_pods(plan_from_text(text, "t.yaml"))}


def test_replicas_spread_over_zones_then_nodes(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology(zones="ab", per_zone=2) + make.deployment("web", 4)
    assert nodes_of(text) == {"web-0": "node-a", "web-1": "node-b", "web-2": "node-a2", "web-3": "node-b2"}


def test_ties_go_to_the_emptier_zone_then_zone_name(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology(zones="abc") + make.deployment("one", 1) + make.deployment("two", 2)
    # one-0 takes zone a (all empty: name order); two's replicas prefer the emptier zones b and c
    assert nodes_of(text) == {"one-0": "node-a", "two-0": "node-b", "two-1": "node-c"}


def test_bare_pods_spread_by_total_load(topology: Callable[..., str]) -> None:
    pods = "".join(
        f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: p{i}}}\nspec:\n  containers: [{{name: c}}]\n"
        for i in range(4)
    )
    assert nodes_of(topology(zones="ab") + pods) == {"p0": "node-a", "p1": "node-b", "p2": "node-a", "p3": "node-b"}


def test_node_name_pins_and_counts_before_the_spread(topology: Callable[..., str], make: SimpleNamespace) -> None:
    pinned = (
        "---\napiVersion: v1\nkind: Pod\nmetadata: {name: pinned, labels: {app: web}}\nspec:\n"
        "  nodeName: node-a\n  containers: [{name: c}]\n"
    )
    text = topology(zones="ab") + make.deployment("web", 1) + pinned
    # the pinned pod is placed first although it comes later, so web-0 avoids the busier zone a
    assert nodes_of(text) == {"web-0": "node-b", "pinned": "node-a"}


def test_node_selector_filters_on_declared_and_built_in_labels(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    nodes = "    - {name: node-a, subnet: private-a}\n    - {name: node-b, subnet: private-b, labels: {disk: ssd}}\n"
    text = (
        topology(zones="ab", nodes=nodes)
        + make.deployment("db", 2, spec="      nodeSelector: {disk: ssd}\n")
        + make.deployment("web", 1, spec="      nodeSelector: {topology.kubernetes.io/zone: a}\n")
    )
    assert nodes_of(text) == {"db-0": "node-b", "db-1": "node-b", "web-0": "node-a"}


def test_node_labels_include_hostname_and_zone(topology: Callable[..., str]) -> None:
    nodes = "    - {name: node-a, subnet: private-a, labels: {role: edge}}\n"
    plan = plan_from_text(topology(zones="a", nodes=nodes), "t.yaml")
    assert plan.node("node-a").labels == {
        "role": "edge",
        "kubernetes.io/hostname": "node-a",
        "topology.kubernetes.io/zone": "a",
    }


def test_a_pod_that_fits_nowhere_is_reported_once_per_deployment(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    text = topology() + make.deployment("web", 3, spec="      nodeSelector: {disk: ssd}\n")
    with pytest.raises(TopologyError) as raised:
        plan_from_text(text, "t.yaml")
    assert [p.message for p in raised.value.problems] == ["nodeSelector disk=ssd matches no node"]


def test_a_cordoned_node_keeps_its_pods_and_gets_no_new_ones(topology: Callable[..., str], make: SimpleNamespace) -> None:
    before = plan_from_text(topology(zones="ab") + make.deployment("web", 2), "t.yaml")
    cordoned = Overrides(cordoned=frozenset({"node-a"}), replicas={"default/web": 4})
    after = plan_from_text(topology(zones="ab") + make.deployment("web", 2), "t.yaml", before, cordoned)
    assert {p.name: p.node for p in user_pods(after)} == {
        "web-0": "node-a", "web-1": "node-b", "web-2": "node-b", "web-3": "node-b"  # nothing evicted
    }
    assert [n.unschedulable for n in after.nodes] == [True, False]


def test_an_eks_zonal_shift_cordons_the_zone_and_empties_its_endpoints(
    topology: Callable[..., str], make: SimpleNamespace
) -> None:
    web = make.service("web", "  selector: {app: web}\n  ports: [{port: 80}]\n")
    text = topology(zones="ab") + make.deployment("web", 2) + web
    before = plan_from_text(text, "t.yaml")
    shifted = plan_from_text(text, "t.yaml", before, Overrides(shifted_zones=frozenset({"a"})))
    assert shifted.shifted_zones == ("a",) and [n.unschedulable for n in shifted.nodes] == [True, False]
    assert {p.name: p.node for p in user_pods(shifted)} == {"web-0": "node-a", "web-1": "node-b"}
    (port,) = service_port_endpoints(shifted, next(s for s in shifted.services if s.name == "web"))
    assert [e.pod for e in port.endpoints] == ["web-1"]  # the zone-a pod runs, but no Service reaches it
    (port,) = service_port_endpoints(before, next(s for s in before.services if s.name == "web"))
    assert sorted(e.pod for e in port.endpoints) == ["web-0", "web-1"]


def test_a_pod_with_every_node_cordoned_is_reported(topology: Callable[..., str], make: SimpleNamespace) -> None:
    text = topology(zones="ab") + make.deployment("web", 1)
    with pytest.raises(TopologyError, match="0/2 nodes are available: 2 node"):
        plan_from_text(text, "t.yaml", None, Overrides(cordoned=frozenset({"node-a", "node-b"})))
