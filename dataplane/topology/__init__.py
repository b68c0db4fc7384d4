"""Topology files → Plans.

The pipeline, one module per step:

1. ``yamlsource``  YAML text → documents, with the line of every field
2. ``parse``       each document on its own: kind, schema (``kinds``), names, addresses
3. ``cluster_dns`` the CoreDNS Deployment and kube-dns Service every cluster has
4. ``workloads``   bare Pods and Deployments → pods, with live changes (``overrides``)
5. ``validate``    across documents: duplicates, references, overlapping CIDRs
6. ``external``    the client and load balancer outside the VPC
7. ``placement``   a node for every pod
8. ``ipam``/``vips`` node and pod addresses; ClusterIPs, NodePorts, LoadBalancer VIPs
9. ``build_plan``  the immutable ``Plan``

Every step runs on whatever the earlier ones could read, and all problems are
raised together in one ``TopologyError``, so a file is fixed in one pass.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from ..errors import Problem, TopologyError
from .build_plan import build_plan
from .cluster_dns import add_cluster_dns
from .external import plan_external
from .ipam import allocate
from .limits import DEFAULT_LIMITS, Limits
from .overrides import Overrides
from .parse import parse
from .placement import place
from .plan import Plan
from .sources import Source, label, read_sources, too_large
from .validate import IMPLICIT_NAMESPACES, check_network, check_objects
from .vips import allocate_services
from .workloads import daemon_set_pods, expand

__all__ = ["Limits", "Overrides", "Plan", "Source", "load_plan", "plan_from_sources", "plan_from_text", "read_sources", "read_topology"]


def read_topology(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> str:
    """The text of the topology file at ``path``; a file that cannot be read, or
    is larger than ``limits.file_bytes``, is a ``TopologyError``."""
    file = os.fspath(path)
    if os.path.isdir(file):
        raise TopologyError([Problem(file, "is a directory: give a file (or use -f, which reads directories)")])
    [source] = read_sources([file], limits=limits)
    return source.text


def load_plan(
    path: str | os.PathLike[str],
    previous: Plan | None = None,
    overrides: Overrides | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Plan:
    """The Plan of the topology file at ``path`` (named in messages as given).

    With ``previous`` (the plan of the running emulation), pods, nodes and
    Services that still exist keep their node, addresses and ports.
    ``overrides`` are the live changes made since the file was applied.
    """
    return plan_from_text(read_topology(path, limits), os.fspath(path), previous, overrides, limits)


def plan_from_text(
    text: str,
    filename: str,
    previous: Plan | None = None,
    overrides: Overrides | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Plan:
    """The Plan of a topology given as text; ``filename`` is used in messages and as ``Plan.source``."""
    return plan_from_sources([Source(filename, text)], previous, overrides, limits)


def plan_from_sources(
    sources: Sequence[Source],
    previous: Plan | None = None,
    overrides: Overrides | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Plan:
    """The Plan of a topology read from ``sources`` (files, a directory's files, stdin), in order.

    ``limits`` bound what the input may make (see ``limits``); the defaults
    know nothing of the machine, the CLI passes its free memory in."""
    if sum(len(s.text) for s in sources) > limits.file_bytes:
        raise TopologyError([Problem(label(sources), too_large(limits))])
    order = {s.name: i for i, s in enumerate(sources)}
    problems: list[Problem] = []
    manifest = parse(sources, problems, limits)
    filename = manifest.file
    topology = manifest.topology if manifest.complete else None
    if topology is not None:
        too_many = limits.too_many_nodes(len(topology.nodes))
        if too_many is not None:  # placement costs pods x nodes: refuse before it
            raise TopologyError(_in_file_order([*problems, Problem(filename, too_many)], order))
    if manifest.complete:
        if topology is not None:
            add_cluster_dns(manifest, topology)
        nodes = len(topology.nodes) if topology is not None else 0
        manifest.pods = expand(
            manifest.workloads, overrides or Overrides(), filename, problems, limits, nodes, manifest.cron_jobs
        )
    layout = check_network(topology) if topology is not None else None
    if manifest.complete:
        if layout is not None:  # a DaemonSet's pods follow the nodes
            manifest.pods.extend(daemon_set_pods(manifest.workloads, layout.nodes, overrides or Overrides()))
        check_objects(manifest)
    if topology is None or layout is None:  # parse has said why: no Topology document, or a YAML error
        raise TopologyError(_in_file_order(problems, order))
    known = {*IMPLICIT_NAMESPACES, *(ns.name for ns in manifest.namespaces)}
    for namespace in sorted(set((overrides or Overrides()).labels) - known):
        problems.append(Problem(filename, f"live change 'mesh enroll|unenroll {namespace}': no namespace {namespace}"))
    external = plan_external(topology)
    declared = {n.name for n in topology.nodes if n.name}
    changes = overrides or Overrides()
    unschedulable = changes.cordoned | {n.name for n in layout.nodes if n.zone in changes.shifted_zones}
    placed = place(manifest.pods, layout.nodes, declared, previous, frozenset(unschedulable))
    addresses = allocate(topology, layout, manifest.pods, placed, previous)
    services = allocate_services(manifest.services, topology, external, previous, set(addresses.nodes.values()))
    if problems:
        raise TopologyError(_in_file_order(problems, order))
    plan = build_plan(manifest, topology, layout, placed, addresses, services, external, changes)
    if problems:  # the public addresses of the VPC's gateways are chosen last, beside the load balancers'
        raise TopologyError(_in_file_order(problems, order))
    return plan


def _in_file_order(problems: list[Problem], order: dict[str, int]) -> list[Problem]:
    """Problems by input, document and line (ones about all the input first), each once."""
    return sorted(dict.fromkeys(problems), key=lambda p: (order.get(p.file, -1), p.document or 0, p.line or 0))
