"""``dpctl set ready NAMESPACE/POD true|false`` and ``dpctl set terminating NAMESPACE/POD``:
the endpoint conditions an EndpointSlice carries, changed live."""

from __future__ import annotations

import dataclasses

import click

from dataplane.cli.changes import run_change
from dataplane.cli.context import topology_option
from dataplane.topology.overrides import Overrides
from dataplane.topology.plan import Plan
from dataplane.topology.targets import resolve_pod


@click.group("set")
def command() -> None:
    """Change a pod's readiness or mark it terminating."""


@command.command("ready")
@topology_option
@click.argument("pod", metavar="NAMESPACE/POD")
@click.argument("value", type=click.Choice(["true", "false"]))
def ready(topology: str | None, pod: str, value: str) -> None:
    """Mark a pod ready or not ready (its Ready condition)."""

    def edit(plan: Plan, overrides: Overrides) -> Overrides:
        key = resolve_pod(plan, pod).key
        return dataclasses.replace(overrides, ready={**overrides.ready, key: value == "true"})

    run_change(topology, "dpctl set ready", edit)


@command.command("terminating")
@topology_option
@click.argument("pod", metavar="NAMESPACE/POD")
def terminating(topology: str | None, pod: str) -> None:
    """Mark a pod terminating (deletionTimestamp set; it keeps serving)."""

    def edit(plan: Plan, overrides: Overrides) -> Overrides:
        key = resolve_pod(plan, pod).key
        return dataclasses.replace(overrides, terminating=overrides.terminating | {key})

    run_change(topology, "dpctl set terminating", edit)
