"""``dpctl scale NAMESPACE/DEPLOYMENT N``."""

from __future__ import annotations

import dataclasses

import click

from dataplane.cli.changes import run_change
from dataplane.cli.context import topology_option
from dataplane.topology.overrides import Overrides
from dataplane.topology.parse_pods import INT32_MAX
from dataplane.topology.plan import Plan
from dataplane.topology.targets import parse_key


@click.command("scale")
@topology_option
@click.argument("deployment", metavar="NAMESPACE/NAME")
@click.argument("replicas", type=click.IntRange(min=0, max=INT32_MAX))
def command(topology: str | None, deployment: str, replicas: int) -> None:
    """Set a Deployment's, ReplicaSet's or StatefulSet's replica count; endpoints and rules follow at once."""
    namespace, name = parse_key(deployment)

    def edit(plan: Plan, overrides: Overrides) -> Overrides:
        # An unknown deployment is refused when the plan is recomputed.
        return dataclasses.replace(overrides, replicas={**overrides.replicas, f"{namespace}/{name}": replicas})

    run_change(topology, "dpctl scale", edit)
