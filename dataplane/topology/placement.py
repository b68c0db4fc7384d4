"""Which node each pod runs on: a small, predictable scheduler.

It does what matters for traffic: ``nodeName`` pins, ``nodeSelector`` filters,
and replicas of one owner spread over zones first and nodes second, as the
default Kubernetes topology spread does.  Every tie is broken by a fixed order
(zone name, node declaration order), so a file always gives the same layout
and ``dpctl get pods -o wide`` can be predicted by reading the file.

Pods that cannot move are placed first, so the spread of the others counts
them: pods pinned by ``nodeName``, and with a ``previous`` plan, pods that
still fit the node they ran on (a live change must not reshuffle them).
An unschedulable node (cordoned, or in a zone an EKS zonal shift moved away
from) keeps its pods but gets no new ones, as the scheduler skips it; a pod
pinned with ``nodeName`` bypasses the scheduler and lands there anyway.
"""

from __future__ import annotations

from collections import Counter

from .model import NodeSite, PodSpec
from .plan import Plan


class _Load:
    """Pods per node and per zone, in total and per owner."""

    def __init__(self) -> None:
        self.count: Counter[tuple[str, ...]] = Counter()

    def add(self, pod: PodSpec, node: NodeSite) -> None:
        owner = _owner(pod)
        self.count.update([("node", node.name), ("node", node.name, owner)])
        self.count.update([("zone", node.zone), ("zone", node.zone, owner)])

    def spread(self, pod: PodSpec, candidates: list[NodeSite]) -> NodeSite:
        owner = _owner(pod)
        zones = {node.zone for node in candidates}
        zone = min(zones, key=lambda z: (self.count["zone", z, owner], self.count["zone", z], z))
        in_zone = [node for node in candidates if node.zone == zone]
        # min() keeps the first of equal nodes: candidates are in declaration order
        return min(in_zone, key=lambda n: (self.count["node", n.name, owner], self.count["node", n.name]))


def _owner(pod: PodSpec) -> str:
    """Pods spread apart from the others of the same owner in the same namespace."""
    return f"{pod.namespace}/{pod.owner}"


def place(
    pods: list[PodSpec], nodes: list[NodeSite], declared: set[str], previous: Plan | None,
    unschedulable: frozenset[str] = frozenset(),
) -> dict[str, NodeSite]:
    """The node of each pod that can be placed, by pod key.

    ``declared`` holds every node name in the Topology, usable or not, so that
    a pod naming a node that failed its own checks is not reported twice.
    """
    load = _Load()
    placed: dict[str, NodeSite] = {}
    waiting: list[tuple[PodSpec, list[NodeSite]]] = []
    before = {p.key: p.node for p in previous.pods} if previous else {}
    for pod in pods:
        candidates = _candidates(pod, nodes, declared)
        if not candidates:
            continue
        kept = [n for n in candidates if n.name == before.get(pod.key)]
        if pod.node_name is None and not kept:
            waiting.append((pod, candidates))
            continue
        placed[pod.key] = (kept or candidates)[0]
        load.add(pod, placed[pod.key])
    for pod, candidates in waiting:
        schedulable = [n for n in candidates if n.name not in unschedulable]
        if not schedulable:
            pod.origin.report(
                pod.spec_path,
                f"pod {pod.key} cannot be scheduled: 0/{len(nodes)} nodes are available: "
                f"{len(candidates)} node(s) were unschedulable (cordoned or zonally shifted)",
            )
            continue
        placed[pod.key] = load.spread(pod, schedulable)
        load.add(pod, placed[pod.key])
    return placed


def _candidates(pod: PodSpec, nodes: list[NodeSite], declared: set[str]) -> list[NodeSite]:
    """The nodes a pod may run on (empty after reporting why, or if no node is usable)."""
    if pod.node_name is not None:
        if pod.node_name not in declared:
            pod.origin.report(
                f"{pod.spec_path}.nodeName",
                f"unknown node '{pod.node_name}' (declared: {', '.join(sorted(declared))})",
            )
        return [n for n in nodes if n.name == pod.node_name]
    matching = [n for n in nodes if all(n.labels.get(k) == v for k, v in pod.node_selector.items())]
    if nodes and not matching:
        wanted = ", ".join(f"{k}={v}" for k, v in sorted(pod.node_selector.items()))
        pod.origin.report(f"{pod.spec_path}.nodeSelector", f"nodeSelector {wanted} matches no node")
    return matching
