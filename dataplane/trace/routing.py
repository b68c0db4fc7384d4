"""Why a traced packet vanished in the VPC router: the route table that had no route for it.

A route lookup that fails, or ends in a blackhole route, drops the packet
without any nftables rule seeing it, so the monitors can only say it never
left the router.  The plan knows the rest: the bridge it came in on names
the subnet, the subnet names its route table (``vpc.egress``), and the
table's routes say what happened to the destination.
"""

from __future__ import annotations

from collections.abc import Sequence

from dataplane.topology.plan import Plan
from dataplane.trace.hops import Hop, Verdict
from dataplane.vpc.egress import read


def vanished_in_router(plan: Plan, hops: Sequence[Hop], verdict: Verdict) -> str | None:
    """The route table's part in a packet that vanished in the router; None when it had none."""
    egress = read(plan.vpc_egress)
    if verdict.kind != "vanished" or verdict.netns != plan.router_netns or not egress.enforced:
        return None
    hop = next((h for h in reversed(hops) if h.netns == plan.router_netns and h.direction == "request"), None)
    subnet = next((s for s in plan.subnets if hop is not None and s.bridge == hop.iif), None)
    if hop is None or subnet is None:
        return None
    table = egress.subnet_tables.get(subnet.name)
    named = f"route table {table}" if table else "no route table (the local route only)"
    route = egress.route(subnet.name, hop.after.dst, plan.vpc_cidr)
    if route is None:
        return f"subnet {subnet.name}, {named}: no route to {hop.after.dst}"
    if route.target == "blackhole":
        return f"subnet {subnet.name}, {named}: {route.destination} is a blackhole route"
    return None
