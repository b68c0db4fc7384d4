"""``dpctl cordon|uncordon NODE``: mark a node unschedulable, or schedulable again.

As ``kubectl cordon`` does: the node keeps its pods and they keep serving, but
pods created afterwards (``scale``, a Job) go to the other nodes.  Nothing is
evicted; ``get nodes`` shows ``SchedulingDisabled``.
"""

from __future__ import annotations

import dataclasses

import click

from dataplane.cli.changes import run_change
from dataplane.cli.context import topology_option
from dataplane.errors import InputError
from dataplane.topology.overrides import Overrides
from dataplane.topology.plan import Plan


def _known(plan: Plan, node: str) -> str:
    if node not in {n.name for n in plan.nodes}:
        raise InputError(f"NODE: no node {node!r}; the nodes are {', '.join(n.name for n in plan.nodes)}")
    return node


@click.command("cordon")
@topology_option
@click.argument("node")
def cordon(topology: str | None, node: str) -> None:
    """Mark NODE unschedulable: new pods go elsewhere, its pods stay."""

    def edit(plan: Plan, overrides: Overrides) -> Overrides:
        return dataclasses.replace(overrides, cordoned=overrides.cordoned | {_known(plan, node)})

    run_change(topology, "dpctl cordon", edit)


@click.command("uncordon")
@topology_option
@click.argument("node")
def uncordon(topology: str | None, node: str) -> None:
    """Mark NODE schedulable again."""

    def edit(plan: Plan, overrides: Overrides) -> Overrides:
        return dataclasses.replace(overrides, cordoned=overrides.cordoned - {_known(plan, node)})

    run_change(topology, "dpctl uncordon", edit)
