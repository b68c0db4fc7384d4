"""Programming Services: kube-proxy's ruleset on every node, the cloud load
balancer's ruleset, and the conntrack clean-up kube-proxy does after a sync.

Each namespace's ruleset is replaced by one ``nft -f`` transaction that
deletes and recreates its table, so a Service is never without rules: the
kernel swaps the old table for the new one atomically.  What goes where is
decided in ``servicerules.py``.
"""

from __future__ import annotations

from dataplane.kernel import conntrack, nft
from dataplane.realize import servicerules
from dataplane.topology.plan import Plan


def apply_all(plan: Plan) -> None:
    """Program every node, then the load balancer in front of them."""
    for netns_name, ruleset in servicerules.rulesets(plan):
        nft.apply(netns_name, ruleset)


def flush_stale_udp(old: Plan, new: Plan) -> int:
    """Delete UDP conntrack entries that still point at endpoints which no
    longer serve their frontend (kube-proxy's clean-up); returns the count."""
    return sum(
        conntrack.delete_udp_flows(flow.netns, flow.address, flow.port, flow.endpoint)
        for flow in servicerules.stale_udp_flows(old, new)
    )
