"""Programming NetworkPolicies: each node's table, replaced in one ``nft -f`` transaction.

Decided from the plan alone (``netpol.resolve``, ``netpol.render``); every
node gets its table on each ``up`` and live change, an empty one (only the
established-flow accept) when no policy isolates a pod there, so removing
the last policy lifts enforcement as it would in a cluster.
"""

from __future__ import annotations

from dataplane.kernel import nft
from dataplane.netpol.render import render_node
from dataplane.netpol.resolve import resolve
from dataplane.topology.plan import Plan


def apply_all(plan: Plan) -> None:
    decisions = resolve(plan)
    for node in plan.nodes:
        nft.apply(node.netns, render_node(plan, node.name, decisions))
