"""A node's whole kube-proxy ruleset, as one ``nft -f`` transaction.

``render_node`` is pure: the same Plan gives the same text, byte for byte,
so a node's rules can be diffed, golden-tested and re-applied at will
(applying twice leaves one table).  The text replaces only the node's
``ip kube-proxy`` table and touches nothing else in the namespace.
"""

from __future__ import annotations

from dataplane.topology.endpoints import all_service_endpoints
from dataplane.topology.plan import Plan

from .detector import DetectLocal, detector_for
from .serviceport import program_service_port
from .skeleton import skeleton

__all__ = ["DetectLocal", "detector_for", "render_node"]


def render_node(plan: Plan, node_name: str, *, detect_local: DetectLocal) -> str:
    """The ``nft -f`` text of node ``node_name``'s kube-proxy table.

    ``detect_local`` says how the node tells pod traffic apart (see
    ``detector_for``).  Services are programmed in ``ns/name`` order so the
    text does not depend on the order of the topology file.  Headless and
    ExternalName Services get nothing: they have no virtual IP.
    """
    node = plan.node(node_name)
    sk = skeleton(plan.service_cidr, node.ip)
    slices = all_service_endpoints(plan)
    for service in sorted(plan.services, key=lambda s: (s.namespace, s.name)):
        if service.cluster_ip is None:
            continue
        for port, endpoints in slices[service.key]:
            program_service_port(sk, service, port, endpoints, node, detect_local)
    return sk.table.text()
