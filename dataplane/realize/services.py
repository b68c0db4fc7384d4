"""Programming Services: kube-proxy's ruleset on every node, the cloud load
balancer's ruleset, and the conntrack clean-up kube-proxy does after a sync.

Each namespace's ruleset is replaced by one ``nft -f`` transaction that
deletes and recreates its table, so a Service is never without rules: the
kernel swaps the old table for the new one atomically.
"""

from __future__ import annotations

from dataplane.kernel import conntrack, nft
from dataplane.kubeproxy.loadbalancer import render_lb
from dataplane.kubeproxy.render import detector_for, render_node
from dataplane.topology import endpoints
from dataplane.topology.plan import Plan


def apply_node(plan: Plan, node: str) -> None:
    nft.apply(plan.node(node).netns, render_node(plan, node, detect_local=detector_for(plan)))


def apply_all(plan: Plan) -> None:
    """Program every node, then the load balancer in front of them."""
    for node in plan.nodes:
        apply_node(plan, node.name)
    if plan.external is not None:
        nft.apply(plan.external.lb_netns, render_lb(plan))


def udp_frontends(plan: Plan) -> dict[tuple[str, int], set[str]]:
    """Every UDP frontend (address, port) of every Service -> its serving endpoint IPs."""
    frontends: dict[tuple[str, int], set[str]] = {}
    for service in plan.services:
        for port, eps in endpoints.service_port_endpoints(plan, service):
            if port.protocol != "UDP":
                continue
            serving = {e.ip for e in eps if e.serving}
            addresses = [a for a in (service.cluster_ip, *service.external_ips, *service.load_balancer_ips) if a]
            for address in addresses:
                frontends[(address, port.port)] = serving
            if port.node_port:
                for node in plan.nodes:
                    frontends[(node.ip, port.node_port)] = serving
    return frontends


def flush_stale_udp(old: Plan, new: Plan) -> int:
    """Delete UDP conntrack entries that still point at endpoints which no
    longer serve their frontend (kube-proxy's clean-up); returns the count."""
    before, after = udp_frontends(old), udp_frontends(new)
    deleted = 0
    for frontend, old_ips in before.items():
        gone = old_ips - after.get(frontend, set())
        for ip in sorted(gone):
            for node in new.nodes:
                deleted += conntrack.delete_udp_flows(node.netns, frontend[0], frontend[1], ip)
    return deleted
