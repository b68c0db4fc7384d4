"""``dpctl create job NAME --from=cronjob/CRONJOB``: run a CronJob now, as ``kubectl create job --from`` does.

dpctl keeps no clock, so a CronJob never fires by itself; this makes the Job
its schedule would make, live, from the CronJob's template.
"""

from __future__ import annotations

import dataclasses

import click

from dataplane.cli.changes import run_change
from dataplane.cli.context import topology_option
from dataplane.errors import InputError
from dataplane.topology.overrides import Overrides
from dataplane.topology.plan import Plan
from dataplane.topology.rules import dns_label


@click.group("create")
def command() -> None:
    """Create an object in the running emulation."""


@command.command("job")
@topology_option
@click.argument("name")
@click.option("--from", "source", required=True, metavar="cronjob/NAME", help="The CronJob whose Job to run now.")
@click.option("-n", "--namespace", default="default", show_default=True)
def job(topology: str | None, name: str, source: str, namespace: str) -> None:
    """Run CRONJOB's Job now, under NAME."""
    kind, _, cron = source.partition("/")
    if kind.lower() not in ("cronjob", "cronjobs", "cj") or not cron:
        raise InputError(f"--from {source!r}: expected cronjob/NAME")
    try:
        dns_label(name)
    except ValueError as exc:
        raise InputError(f"NAME: {exc}") from None

    def edit(plan: Plan, overrides: Overrides) -> Overrides:
        key, cron_key = f"{namespace}/{name}", f"{namespace}/{cron}"
        if cron_key not in {c.key for c in plan.cron_jobs}:
            raise InputError(f"no CronJob {cron_key} in {plan.name} (dpctl get cronjobs lists them)")
        taken = {p.owner for p in plan.pods if p.namespace == namespace}
        if key in overrides.jobs or f"Job/{name}" in taken:
            raise InputError(f"a Job {key} exists already")
        return dataclasses.replace(overrides, jobs={**overrides.jobs, key: cron_key})

    run_change(topology, "dpctl create job", edit)
