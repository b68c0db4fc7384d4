"""Which Service ruleset goes to which namespace, and which UDP flows a change
leaves stale: decided from plans alone (no root), sent by ``services.py``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from dataplane.kubeproxy.loadbalancer import render_lb
from dataplane.kubeproxy.render import detector_for, render_node
from dataplane.topology import endpoints
from dataplane.topology.plan import Plan


def rulesets(plan: Plan) -> Iterator[tuple[str, str]]:
    """(namespace, nft -f text): every node's kube-proxy table, then the load
    balancer's in front of them.  Made one at a time, as they are applied: a
    large plan's rulesets together would be large."""
    for node in plan.nodes:
        yield node.netns, render_node(plan, node.name, detect_local=detector_for(plan))
    if plan.external is not None:
        yield plan.external.lb_netns, render_lb(plan)


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


@dataclass(frozen=True)
class StaleUdpFlow:
    """UDP conntrack entries in ``netns`` to ``address:port`` answered by ``endpoint``."""

    netns: str
    address: str
    port: int
    endpoint: str


def stale_udp_flows(old: Plan, new: Plan) -> list[StaleUdpFlow]:
    """What kube-proxy's clean-up deletes after ``old`` becomes ``new``: on every
    node, the entries of each frontend towards an endpoint that no longer serves
    it, since UDP has no connection end to make them go away by themselves."""
    after = udp_frontends(new)
    return [
        StaleUdpFlow(node.netns, address, port, endpoint)
        for (address, port), old_ips in udp_frontends(old).items()
        for endpoint in sorted(old_ips - after.get((address, port), set()))
        for node in new.nodes
    ]
