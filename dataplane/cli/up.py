"""``dpctl up FILE`` / ``dpctl up -f FILE|DIR|- ...``: validate the topology input and build it."""

from __future__ import annotations

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dataplane.cli.context import changing, input_limits, inputs_option, read_inputs, report_plan, require_root
from dataplane.errors import DpctlError
from dataplane.kernel import preflight
from dataplane.realize.up import up
from dataplane.topology import Source, plan_from_sources
from dataplane.topology.plan import Plan


@click.command("up")
@inputs_option("build")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("-v", "--verbose", is_flag=True, help="List every document read but not acted on.")
def command(file: str | None, inputs: tuple[str, ...], quiet: bool, verbose: bool) -> None:
    """Build the data plane described by FILE (and every -f input), rolled back if anything fails."""
    limits = input_limits()
    sources = read_inputs(file, inputs, limits)
    plan = plan_from_sources(sources, limits=limits)  # validation needs no root: report bad input first
    require_root("dpctl up")
    checks = preflight.run_checks()
    if preflight.required_failures(checks):  # the same words 'dpctl doctor' prints, before anything is made
        raise DpctlError(preflight.refusal(checks))
    report_plan(plan, verbose)
    with changing(plan.name):
        _build(plan, sources, quiet)
    click.echo(
        f"{plan.name} is up: {len(plan.nodes)} nodes, {len(plan.pods)} pods "
        f"({plan.cni} CNI); try 'dpctl get pods -o wide'"
    )


def _build(plan: Plan, sources: list[Source], quiet: bool) -> None:
    if quiet:
        up(plan, sources)
    else:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task(f"building {plan.name}", total=None)

            def report(label: str, done: int, total: int) -> None:
                bar.update(task, description=f"{plan.name}: {label}", completed=done, total=total)

            up(plan, sources, progress=report)
