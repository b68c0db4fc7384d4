"""The whole construction order of a plan and what holds for every request in it.

``fabric.steps`` is run with its ``apply`` replaced by a recorder (and the
kernel modules it would reach removed), so each step's requests are captured
exactly as they would be sent, without root.
"""

from __future__ import annotations

import pytest

from dataplane.realize import fabric, wiring
from dataplane.realize.wiring import Configure, CreateNamespace, Request, Veth
from dataplane.topology import naming
from dataplane.topology.plan import Plan
from tests.unit.realize.plans import small

Recorded = list[tuple[str, list[Request]]]


@pytest.fixture(params=["vpc", "overlay"])
def plan(request: pytest.FixtureRequest) -> Plan:
    return small(request.param)


@pytest.fixture
def recorded(plan: Plan, monkeypatch: pytest.MonkeyPatch) -> Recorded:
    """(step name, its requests) for every step of ``plan``, in order."""
    for kernel_module in ("netns", "nft", "NamespaceConfig"):
        monkeypatch.setattr(fabric, kernel_module, None)  # a step that bypassed apply would fail here
    steps: Recorded = []
    monkeypatch.setattr(fabric, "apply", lambda requests: steps[-1][1].extend(requests))
    for name, step in fabric.steps(plan):
        steps.append((name, []))
        step()
    return steps


def namespaces(request: Request) -> list[str]:
    """Every namespace a request acts in (a veth's peer end included)."""
    peers = (
        [link.peer_netns for link in request.links if isinstance(link, Veth)] if isinstance(request, Configure) else []
    )
    return [request.netns, *peers]


def test_step_names_and_order(plan: Plan, recorded: Recorded) -> None:
    overlay = ["overlay a1", "overlay b1"] if plan.cni == "overlay" else []
    fabric_map = ["fabric map (permanent ARP entries)"] if plan.cni == "vpc" else []
    assert [name for name, _ in recorded] == [
        "router",
        "node a1",
        "node b1",
        *overlay,
        *(f"pods on node {n.name} ({len(plan.pods_on(n.name))})" for n in plan.nodes if plan.pods_on(n.name)),
        *fabric_map,
        "external client and load balancer",
    ]


def test_every_request_acts_inside_the_emulation(plan: Plan, recorded: Recorded) -> None:
    """Never in the host namespace: only in namespaces of this emulation's prefix that the plan makes."""
    targeted = {ns for _, requests in recorded for request in requests for ns in namespaces(request)}
    assert all(ns.startswith(naming.prefix("t")) for ns in targeted)
    assert targeted == set(plan.all_netns())


def test_each_namespace_is_made_once_before_anything_acts_in_it(recorded: Recorded) -> None:
    made: list[str] = []
    for _, requests in recorded:
        for request in requests:
            if isinstance(request, CreateNamespace):
                assert request.netns not in made
                made.append(request.netns)
            else:
                assert set(namespaces(request)) <= set(made), request


def _pods_step(plan: Plan, node: str) -> str:
    return f"pods on node {node} ({len(plan.pods_on(node))})"


def test_pod_requests_come_after_their_nodes(plan: Plan, recorded: Recorded) -> None:
    position = {name: i for i, (name, _) in enumerate(recorded)}
    for pod in plan.pods:
        node_steps = [f"node {pod.node}", *([f"overlay {pod.node}"] if plan.cni == "overlay" else [])]
        assert all(position[_pods_step(plan, pod.node)] > position[step] for step in node_steps)


def test_a_nodes_pods_step_sends_what_building_each_pod_alone_sends(plan: Plan, recorded: Recorded) -> None:
    """Live changes build a pod with ``fabric.build_pod``: the same requests as ``up``, which sends a node's
    side of all its pods over one handle."""
    steps = dict(recorded)
    for node in {p.node for p in plan.pods}:
        batched = steps[_pods_step(plan, node)]
        alone = [r for pod in plan.pods_on(node) for r in wiring.pod(plan, pod)]
        links = lambda requests: sorted((r.netns, repr(link)) for r in requests  # noqa: E731
                                        if isinstance(r, Configure) for link in r.links)
        assert links(batched) == links(alone)
        assert sorted(r.netns for r in batched if isinstance(r, CreateNamespace)) == sorted(
            r.netns for r in alone if isinstance(r, CreateNamespace))
