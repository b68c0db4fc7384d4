"""Programming the VPC's security: each node's security-group table and the router's network-ACL table.

Decided from the plan alone (``vpc.render``), each replaced in one ``nft -f``
transaction on ``up`` and every live change; a Topology without groups or
ACLs gets empty chains, so removing the last one lifts enforcement.
"""

from __future__ import annotations

from dataplane.kernel import nft
from dataplane.topology.plan import Plan
from dataplane.vpc.render import render_node, render_router
from dataplane.vpc.security import read


def apply_all(plan: Plan) -> None:
    security = read(plan.vpc_security)
    nft.apply(plan.router_netns, render_router(plan, security))
    for node in plan.nodes:
        nft.apply(node.netns, render_node(plan, node, security))
