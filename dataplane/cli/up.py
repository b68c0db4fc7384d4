"""``dpctl up FILE``: validate a topology file and build it."""

from __future__ import annotations

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dataplane.build.up import up
from dataplane.cli.context import changing, input_limits, report_plan, require_root
from dataplane.topology import plan_from_text, read_topology
from dataplane.topology.plan import Plan


@click.command("up")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@click.option("-v", "--verbose", is_flag=True, help="List every document read but not acted on.")
def command(file: str, quiet: bool, verbose: bool) -> None:
    """Build the data plane described by FILE (rolled back if anything fails)."""
    limits = input_limits()
    text = read_topology(file, limits)
    plan = plan_from_text(text, file, limits=limits)  # validation needs no root: report bad input first
    require_root("dpctl up")
    report_plan(plan, verbose)
    with changing(plan.name):
        _build(plan, text, quiet)
    click.echo(
        f"{plan.name} is up: {len(plan.nodes)} nodes, {len(plan.pods)} pods "
        f"({plan.cni} CNI); try 'dpctl get pods -o wide'"
    )


def _build(plan: Plan, text: str, quiet: bool) -> None:
    if quiet:
        up(plan, text)
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

            up(plan, text, progress=report)
