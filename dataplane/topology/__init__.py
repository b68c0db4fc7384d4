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
from .validate import check_network, check_objects
from .vips import allocate_services
from .workloads import daemon_set_pods, expand

__all__ = ["Limits", "Overrides", "Plan", "load_plan", "plan_from_text", "read_topology"]


def read_topology(path: str | os.PathLike[str], limits: Limits = DEFAULT_LIMITS) -> str:
    """The text of the topology file at ``path``; a file that cannot be read, or
    is larger than ``limits.file_bytes``, is a ``TopologyError``."""
    file = os.fspath(path)
    try:
        with open(file, "rb") as stream:
            data = stream.read(limits.file_bytes + 1)  # never more: it may be a pipe or a device
    except OSError as exc:
        raise TopologyError([Problem(file, f"cannot read the file: {exc.strerror or exc}")]) from None
    if len(data) > limits.file_bytes:
        raise TopologyError([Problem(file, _too_large(limits))])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise TopologyError([Problem(file, "cannot read the file: it is not UTF-8 text")]) from None


def _too_large(limits: Limits) -> str:
    return (
        f"the file is larger than {limits.file_bytes:,} bytes, dpctl's limit for topology input "
        f"({limits.variable('file_bytes')})"
    )


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
    """The Plan of a topology given as text; ``filename`` is used in messages and as ``Plan.source``.

    ``limits`` bound what the text may make (see ``limits``); the defaults
    know nothing of the machine, the CLI passes its free memory in."""
    if len(text) > limits.file_bytes:
        raise TopologyError([Problem(filename, _too_large(limits))])
    problems: list[Problem] = []
    manifest = parse(text, filename, problems, limits)
    topology = manifest.topology if manifest.complete else None
    if topology is not None:
        too_many = limits.too_many_nodes(len(topology.nodes))
        if too_many is not None:  # placement costs pods x nodes: refuse before it
            raise TopologyError(_in_file_order([*problems, Problem(filename, too_many)]))
    if manifest.complete:
        if topology is not None:
            add_cluster_dns(manifest, topology)
        nodes = len(topology.nodes) if topology is not None else 0
        manifest.pods = expand(manifest.workloads, overrides or Overrides(), filename, problems, limits, nodes)
    layout = check_network(topology) if topology is not None else None
    if manifest.complete:
        if layout is not None:  # a DaemonSet's pods follow the nodes
            manifest.pods.extend(daemon_set_pods(manifest.workloads, layout.nodes, overrides or Overrides()))
        check_objects(manifest)
    if topology is None or layout is None:  # parse has said why: no Topology document, or a YAML error
        raise TopologyError(_in_file_order(problems))
    external = plan_external(topology)
    declared = {n.name for n in topology.nodes if n.name}
    placed = place(manifest.pods, layout.nodes, declared, previous)
    addresses = allocate(topology, layout, manifest.pods, placed, previous)
    services = allocate_services(manifest.services, topology, external, previous)
    if problems:
        raise TopologyError(_in_file_order(problems))
    return build_plan(manifest, topology, layout, placed, addresses, services, external)


def _in_file_order(problems: list[Problem]) -> list[Problem]:
    """Problems by document and line (file-wide ones first), each once."""
    return sorted(dict.fromkeys(problems), key=lambda p: (p.document or 0, p.line or 0))
