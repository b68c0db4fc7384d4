"""Why a traced packet vanished in a VPC router or a NAT gateway, where no nftables rule drops it.

A route lookup that fails, or ends in a blackhole route, drops the packet
without any nftables rule seeing it, so the monitors can only say it never
left the router.  The plan knows the rest: the bridge it came in on names
the subnet, the subnet names its route table (``vpc.egress``), and the
table's routes say what happened to the destination.  A new connection
that vanishes in a NAT gateway found no source port for its destination:
conntrack refused the entry (``ErrorPortAllocation``).  Another VPC's
router (``vpc.network``) is read the same way, a reply included: a peered
VPC without a route back drops the answer there.
"""

from __future__ import annotations

from collections.abc import Sequence

from dataplane.topology.plan import Plan
from dataplane.trace.hops import Hop, Verdict
from dataplane.vpc.egress import read
from dataplane.vpc.network import read as read_network


def vanished(plan: Plan, hops: Sequence[Hop], verdict: Verdict) -> str | None:
    """Why a packet vanished in the router (the route table's part) or in a NAT gateway; None when unknown."""
    egress = read(plan.vpc_egress)
    if verdict.kind == "vanished" and plan.vpc_network:
        reason = _other_vpc(plan, hops, verdict)
        if reason is not None:
            return reason
    if verdict.kind not in ("vanished", "lost") or not egress.enforced:
        return None
    nat = next((n for n in egress.nat_gateways if n.netns == verdict.netns), None)
    if nat is not None:  # conntrack drops it after the last hook the monitor sees: "lost" or "vanished"
        return (f"NAT gateway {nat.name}: no source port left for this destination, "
                f"{nat.max_per_destination} in use (ErrorPortAllocation)")
    if verdict.kind != "vanished" or verdict.netns != plan.router_netns:
        return None
    hop = next((h for h in reversed(hops) if h.netns == plan.router_netns and h.direction == "request"), None)
    subnet = next((s for s in plan.subnets if hop is not None and s.bridge == hop.iif), None)
    if hop is None or subnet is None:
        return None
    return egress.unroutable(subnet.name, hop.after.dst, egress.route(subnet.name, hop.after.dst, plan.vpc_cidr))


def reply_lost(plan: Plan, hops: Sequence[Hop]) -> tuple[str, str] | None:
    """(namespace, why) when a delivered request's reply vanished in another VPC's router (no route back)."""
    hop = next((h for h in hops if h.direction == "reply" and h.outcome == "vanished"), None)
    if hop is None or not plan.vpc_network:
        return None
    reason = _other_vpc(plan, hops, Verdict("vanished", hop.netns, None, None))
    return None if reason is None else (hop.netns, reason)


def _other_vpc(plan: Plan, hops: Sequence[Hop], verdict: Verdict) -> str | None:
    """A packet that vanished in another VPC's router: its subnet's route table had no way on."""
    vpc = next((v for v in read_network(plan.vpc_network).vpcs.values()
                if not v.cluster and v.router_netns == verdict.netns), None)
    hop = next((h for h in reversed(hops) if h.netns == verdict.netns), None)
    subnet = next((s for s in vpc.subnets if s.bridge == hop.iif), None) if vpc and hop else None
    if vpc is None or hop is None or subnet is None:
        return None
    return vpc.unroutable(subnet.name, hop.after.dst)
