"""A zone going dark and coming back (``dpctl zone fail|restore``).

A failed zone's nodes and load balancer nodes lose their link to the VPC
router: the router-side end of each one's veth goes down, so nothing reaches
them or leaves them -- pods, kube-proxy paths through those nodes, ALB nodes
-- while their namespaces, agents and connections' state stay, and come
back as they were on ``restore``.  What notices is what would on AWS: the
other zones' ALB nodes' health checks take the dark targets out after
interval x threshold, unlike a zonal shift, which moves traffic at once.
Which zones are dark is kept in the state directory (``failed-zones.json``).
"""

from __future__ import annotations

import json

from dataplane.atomicfile import write_atomic
from dataplane.kernel.links import NamespaceConfig
from dataplane.state.layout import failed_zones_path
from dataplane.state.store import StateDir
from dataplane.topology.plan import Plan


def router_links(plan: Plan, zone: str) -> list[str]:
    """The router-side interfaces of ``zone``'s nodes and load balancer nodes."""
    nodes = [n.router_iface for n in plan.nodes if n.zone == zone]
    balancers = [n.router_iface for lb in plan.load_balancers for n in lb.nodes if n.zone == zone and n.router_iface]
    return nodes + balancers


def failed(state: StateDir) -> list[str]:
    path = failed_zones_path(state.path)
    return list(json.loads(path.read_text())) if path.exists() else []


def set_dark(state: StateDir, plan: Plan, zone: str, dark: bool) -> list[str]:
    """Take ``zone`` dark (or bring it back); the interfaces changed."""
    links = router_links(plan, zone)
    with NamespaceConfig(plan.router_netns) as router:
        for link in links:
            (router.down if dark else router.up)(link)
    zones = [z for z in failed(state) if z != zone] + ([zone] if dark else [])
    write_atomic(failed_zones_path(state.path), json.dumps(sorted(zones)) + "\n")
    return links
