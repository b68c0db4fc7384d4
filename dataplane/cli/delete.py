"""``dpctl delete pod NAMESPACE/POD``: a Deployment replaces it, a bare pod is gone."""

from __future__ import annotations

import dataclasses

import click

from dataplane.cli.changes import run_change
from dataplane.cli.context import topology_option
from dataplane.errors import StateError
from dataplane.topology.overrides import Overrides
from dataplane.topology.plan import Plan
from dataplane.topology.targets import resolve_pod


@click.command("delete")
@topology_option
@click.argument("kind", type=click.Choice(["pod", "pods", "po"]))
@click.argument("pod", metavar="NAMESPACE/POD")
def command(topology: str | None, kind: str, pod: str) -> None:
    """Delete a pod (its Deployment, if any, starts a replacement)."""

    def edit(plan: Plan, overrides: Overrides) -> Overrides:
        target = resolve_pod(plan, pod)
        key, owner = target.key, target.owner or ""
        if owner.startswith(("StatefulSet/", "DaemonSet/")):
            raise StateError(
                f"{key} belongs to {owner}, which would make it again under the same name: "
                "dpctl does not restart pods in place yet"
            )
        return dataclasses.replace(overrides, deleted=overrides.deleted | {key})

    run_change(topology, "dpctl delete", edit)
