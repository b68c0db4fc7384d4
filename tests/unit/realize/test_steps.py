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
        "pod default/web",
        "pod kube-system/coredns-0",
        "pod kube-system/coredns-1",
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


def test_pod_requests_come_after_their_nodes(plan: Plan, recorded: Recorded) -> None:
    position = {name: i for i, (name, _) in enumerate(recorded)}
    for pod in plan.pods:
        node_steps = [f"node {pod.node}", *([f"overlay {pod.node}"] if plan.cni == "overlay" else [])]
        assert all(position[f"pod {pod.key}"] > position[step] for step in node_steps)


def test_a_pod_step_sends_its_wiring(plan: Plan, recorded: Recorded) -> None:
    """Live changes build a pod with ``fabric.build_pod``: the same requests as ``up``."""
    steps = dict(recorded)
    for pod in plan.pods:
        assert steps[f"pod {pod.key}"] == wiring.pod(plan, pod)
