"""What every command shares: root checks, choosing the emulation, output."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from dataplane.errors import DpctlError, StateError
from dataplane.kernel.machine import available_memory
from dataplane.realize.teardown import running_names
from dataplane.state.lock import change_lock
from dataplane.state.store import StateDir, emulation_name
from dataplane.topology.limits import Limits
from dataplane.topology.plan import Plan
from dataplane.topology.sources import Source, read_sources

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"]}

topology_option = click.option(
    "-t",
    "--topology",
    "topology",
    envvar="DPCTL_TOPOLOGY",
    metavar="NAME",
    help="Which running emulation (default: the only one running). Env: DPCTL_TOPOLOGY.",
)

output_option = click.option(
    "-o", "--output", type=click.Choice(["table", "wide", "json"]), default="table", show_default=True
)


class Seconds(click.ParamType):
    """A duration option: a finite number of seconds above 0 (``nan``, ``inf``,
    0 and negatives are refused), at most ``maximum``."""

    name = "seconds"

    def __init__(self, maximum: float = 86_400.0) -> None:
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not (math.isfinite(number) and 0 < number <= self.maximum):
            self.fail(f"{value!r}: expected seconds above 0 and at most {self.maximum:g}", param, ctx)
        return number


def require_root(action: str) -> None:
    if os.geteuid() != 0:
        raise DpctlError(f"{action} needs root (network namespaces, netlink); run it with sudo")


def chosen_name(topology: str | None) -> str:
    """The emulation ``-t``/``DPCTL_TOPOLOGY`` names (checked before any path is
    built from it), or the only one running; a clear error naming the choices."""
    if topology is not None:
        return emulation_name(topology, "-t/--topology (or DPCTL_TOPOLOGY)")
    names = running_names()
    if not names:
        raise StateError("no emulation is up; start one with 'dpctl up FILE'")
    if len(names) > 1:
        raise StateError(f"several emulations are up ({', '.join(names)}); choose one with -t NAME")
    return names[0]


def running_plan(topology: str | None) -> Plan:
    """The plan of the chosen emulation."""
    return StateDir(chosen_name(topology)).load_plan()


@contextlib.contextmanager
def changing(name: str) -> Iterator[StateDir]:
    """Hold emulation ``name``'s change lock for this command; a waiting
    command says once whom it waits for."""
    command = " ".join(["dpctl", *sys.argv[1:]])
    with change_lock(name, command, notify=lambda message: click.echo(f"dpctl: {message}", err=True)):
        yield StateDir(name)


def input_limits() -> Limits:
    """What topology input may make on this machine: the ``DPCTL_LIMIT_*`` caps and its free memory."""
    return Limits.from_environment(memory_bytes=available_memory())


def report_plan(plan: Plan, verbose: bool = False) -> None:
    """Warnings, and one line per treatment counting the documents read but not
    acted on (``-v``: each of them), on stderr before a build or change."""
    for warning in plan.warnings:
        click.echo(f"warning: {warning}", err=True)
    by_treatment: dict[str, Counter[str]] = {}
    for item in plan.accepted_only:
        by_treatment.setdefault(item.treatment, Counter())[item.kind] += 1
    for treatment, counts in sorted(by_treatment.items()):
        summary = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
        click.echo(f"{treatment}: {summary}{'' if verbose else ' (-v lists them)'}", err=True)
        if verbose:
            for item in plan.accepted_only:
                if item.treatment == treatment:
                    click.echo(f"  {item.kind} {item.name}".rstrip(), err=True)


def inputs_option(verb: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``FILE`` and ``-f FILE|DIR|-`` (repeatable), as ``kubectl apply -f`` takes them."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        function = click.option(
            "-f",
            "--filename",
            "inputs",
            multiple=True,
            metavar="FILE|DIR|-",
            help=f"Input to {verb} (repeatable): a file, a directory's *.yaml/*.yml/*.json files in name order, "
            "or - for standard input.",
        )(function)
        return click.argument("file", required=False, type=click.Path(dir_okay=False))(function)

    return decorate


def read_inputs(file: str | None, inputs: tuple[str, ...], limits: Limits) -> list[Source]:
    """The topology input a command was given, in order: FILE, then every ``-f``."""
    args = ([file] if file else []) + list(inputs)
    if not args:
        raise click.UsageError("give a topology FILE, or -f FILE|DIR|- (repeatable)")
    return read_sources(args, stdin=sys.stdin.buffer, limits=limits)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=False))


def print_table(columns: list[str], rows: list[list[Any]]) -> None:
    """A kubectl-like borderless table."""
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    # Never truncate cells (kubectl does not): long rows wrap in the terminal.
    Console(width=4096, soft_wrap=True).print(table)
